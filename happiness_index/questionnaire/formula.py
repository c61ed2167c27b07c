"""The safe formula language of index specifications and delta-method transforms.

An index specification writes its composite as a formula over component names, for
example ``"100 * ls * le / env"`` (the province's NEF form HI = LS x LE / ENV),
``"100 * (a * b * c)^(1/3)"`` (a geometric mean) or ``"min(ls, le)"``, and
:meth:`EstimateTable.transform` takes the same language to form a smooth function of
estimates whose standard error follows by the delta method (R's
``svycontrast(stat, quote(expr))``).

A formula is read by this module's own tokenizer and recursive-descent parser into a
small expression tree. Nothing is ever handed to Python's ``eval``, ``exec``,
``compile`` or ``ast``: the only things a formula can do are arithmetic on numbers and
on the values the caller supplies, and five mathematical functions. Anything else is
refused with :class:`~happiness_index.errors.FormulaError`, whose message shows the
formula with a caret under the offending part and says what is allowed.

Grammar
-------
In EBNF (``{ x }`` repeats zero or more times, ``[ x ]`` is optional)::

    formula   = expr , END ;
    expr      = term , { ( "+" | "-" ) , term } ;              (* left-associative *)
    term      = unary , { ( "*" | "/" ) , unary } ;            (* left-associative *)
    unary     = ( "+" | "-" ) , unary | power ;
    power     = primary , [ ( "^" | "**" ) , unary ] ;         (* right-associative *)
    primary   = number | name | call | "(" , expr , ")" ;
    call      = function , "(" , expr , { "," , expr } , ")" ;
    function  = "min" | "max" | "log" | "exp" | "sqrt" ;
    number    = ( digits , [ "." , [ digits ] ] | "." , digits ) ,
                [ ( "e" | "E" ) , [ "+" | "-" ] , digits ] ;
    name      = start , { continue | "." , ( letter | digit ) } | "`" , label , "`" ;
    start     = letter | "_" ;                (* letter: any Unicode letter *)
    continue  = letter | digit | "_" | combining mark ;
    label     = any characters except "`" and control characters, not blank ;

* The Unicode operators ``×`` (U+00D7), ``÷`` (U+00F7) and ``−`` (U+2212) mean
  ``*``, ``/`` and ``-``. White space between tokens is ignored.
* ``^`` and ``**`` are the same operator. A power binds tighter than a unary minus on
  its left, as in mathematics, and its exponent may carry a sign: ``-x^2`` is
  ``-(x^2)``, ``2^-1`` is ``0.5`` and ``2^3^2`` is ``2^(3^2) = 512``.
* A ``.`` may appear inside a bare name when a letter or digit follows it
  (``sch.wide``); it never means attribute access. Names starting with ``__`` and
  Python keywords (``lambda``, ``import``, ``if``, ...) are refused as bare names. Any
  other label, such as a commune ``Đồng Tâm`` or a domain ``stype=E``, is written in
  backticks: ```Đồng Tâm```. A function name used as a variable must be back-quoted
  too (```log```).
* Every name is normalised to Unicode NFC, so a label typed in decomposed (NFD) form
  refers to the same value as its composed form.
* Commas appear only between function arguments; implicit multiplication (``2x``,
  ``a b``, ``2(a + b)``) is not supported.

Evaluation and derivatives
--------------------------
:meth:`Formula.evaluate` works element-wise on numpy arrays (one value per replicate,
per domain, ...) with ordinary broadcasting. :meth:`Formula.value_and_gradient` also
returns the gradient with respect to chosen names by forward-mode automatic
differentiation on the parsed tree: every node carries its value ``u`` and its
gradient ``u'`` and combines them with the rules

=====================  ==========================================================
node                   gradient
=====================  ==========================================================
number                 0
name ``x_k``           unit vector e_k (0 if ``x_k`` is not in ``order``)
``u + v``, ``u - v``   ``u' + v'``, ``u' - v'``
``-u``                 ``-u'``
``u * v``              ``u' v + u v'``
``u / v``              ``(u' - (u/v) v') / v``
``u ^ v``              ``v u^(v-1) u' + u^v log(u) v'`` (second term only where
                       ``v' != 0``; it is 0 where ``u = 0 < v``)
``log(u)``             ``u' / u``
``exp(u)``             ``exp(u) u'``
``sqrt(u)``            ``u' / (2 sqrt(u))``
``min(u1, ..., uk)``   gradient of the argument that attains the minimum; on ties
                       the first such argument (same for ``max``)
=====================  ==========================================================

A zero gradient times an infinite factor is taken as zero (so ``sqrt(0)`` of a
constant has derivative 0). ``min`` and ``max`` are not differentiable at ties; the
convention above gives the derivative of the selected branch (a one-sided
derivative), so a delta-method standard error at an exact tie is that of the first
tied argument.

Domain errors -- division by zero, the logarithm of a non-positive number, the square
root of a negative number, a negative base with a non-integer exponent, zero to a
negative power, overflow, or a derivative that is infinite (``sqrt(x)`` at ``x = 0``)
-- raise :class:`~happiness_index.errors.FormulaError` naming the sub-expression and
the values, unless ``errors="nan"`` is passed, in which case the affected elements are
NaN (the value for value errors, the gradient for derivative errors). ``errors="nan"``
is meant for replicate evaluation, where one degenerate replicate must not stop the
whole computation.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley, section 2.6
(``svycontrast`` and the delta method).

Griewank, A. & Walther, A. (2008). *Evaluating Derivatives: Principles and Techniques
of Algorithmic Differentiation*, 2nd ed. SIAM, chapter 3 (forward mode).

Examples
--------
>>> f = Formula.parse("100 * ls * le / env")
>>> f.names
('ls', 'le', 'env')
>>> round(f.evaluate({"ls": 0.4071, "le": 0.416, "env": 0.318}), 2)
53.26
>>> value, grad = f.value_and_gradient({"ls": 0.5, "le": 0.5, "env": 0.25})
>>> value, grad.tolist()
(100.0, [200.0, 200.0, -400.0])
"""

from __future__ import annotations

import difflib
import keyword
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..errors import FormulaError, describe_rows

__all__ = ["Formula"]

#: Functions of the language: name -> (minimum, maximum) number of arguments.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "min": (1, None),
    "max": (1, None),
    "log": (1, 1),
    "exp": (1, 1),
    "sqrt": (1, 1),
}

_ALLOWED = (
    "Allowed: numbers (2, 0.5, 1e-3); names made of letters, digits and '_' "
    "(a '.' inside a name is allowed, e.g. sch.wide), or any label in backticks "
    "(e.g. `Đồng Tâm`, `stype=E`); the operators + - * / and ^ or ** (also × ÷ −); "
    "parentheses; and the functions min(a, b, ...), max(a, b, ...), log(x), exp(x), sqrt(x)."
)

# Single-character operators and their canonical spelling.  '**' is handled apart.
_OPERATORS = {"+": "+", "-": "-", "\u2212": "-", "*": "*", "\u00d7": "*", "/": "/", "\u00f7": "/", "^": "^"}
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_MAX_NESTING = 50  # parentheses / unary signs / calls nested inside one another
_MAX_TREE_DEPTH = 200  # depth of the expression tree (long chains a + b + c + ...)
_ERRORS_MODES = ("raise", "nan")


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _is_name_start(c: str) -> bool:
    return c.isalpha() or c == "_"


def _is_name_continue(c: str) -> bool:
    return c.isalnum() or c == "_" or unicodedata.category(c).startswith("M")


def _is_bare_name(name: str) -> bool:
    """True when ``name`` can be written without backticks and reads back as itself."""
    if not name or not _is_name_start(name[0]) or name.startswith("__"):
        return False
    if keyword.iskeyword(name) or name in FUNCTIONS:
        return False
    for k, c in enumerate(name):
        if c == ".":
            if k + 1 >= len(name) or not name[k + 1].isalnum():
                return False
        elif not _is_name_continue(c):
            return False
    return True


# --------------------------------------------------------------------------- tokens


class _Token:
    __slots__ = ("kind", "value", "start", "end", "quoted")

    def __init__(self, kind, value, start, end, quoted=False):
        self.kind = kind  # "num" | "name" | "op" | "(" | ")" | "," | "end"
        self.value = value
        self.start = start
        self.end = end
        self.quoted = quoted

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the formula"
        if self.kind == "num":
            return f"the number {self.value:g}"
        if self.kind == "name":
            return f"the name {self.value!r}"
        return f"{self.value!r}" if self.kind == "op" else f"'{self.kind}'"


def _display_width(s: str) -> int:
    width = 0
    for c in s:
        if unicodedata.combining(c):
            continue
        width += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return width


def _syntax_error(text: str, start: int, end: int, problem: str, hint: str | None = None) -> FormulaError:
    """A FormulaError showing ``text`` with a caret line under ``text[start:end]``."""
    shown = "".join(" " if (c.isspace() or unicodedata.category(c) == "Cc") else c for c in text)
    start = max(0, min(start, len(text)))
    end = max(start + 1, min(end, len(text) + 1))
    pad = " " * _display_width(shown[:start])
    carets = "^" * max(1, _display_width(shown[start:end]))
    lines = [
        f"Invalid formula (at character {start + 1}): {problem}.",
        f"    {shown}",
        f"    {pad}{carets}",
    ]
    if hint:
        lines.append(hint)
    lines.append(_ALLOWED)
    return FormulaError("\n".join(lines))


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "*" and text.startswith("**", i):
            tokens.append(_Token("op", "^", i, i + 2))
            i += 2
            continue
        if c in _OPERATORS:
            tokens.append(_Token("op", _OPERATORS[c], i, i + 1))
            i += 1
            continue
        if c in "(),":
            tokens.append(_Token(c, c, i, i + 1))
            i += 1
            continue
        if ("0" <= c <= "9") or (c == "." and i + 1 < n and "0" <= text[i + 1] <= "9"):
            m = _NUMBER.match(text, i)
            j = m.end()
            if j < n and (_is_name_continue(text[j]) or text[j] in ".`"):
                k = j + 1
                while k < n and (_is_name_continue(text[k]) or text[k] == "."):
                    k += 1
                raise _syntax_error(
                    text,
                    i,
                    k,
                    f"{text[i:k]!r} is neither a number nor a name",
                    "A number must be followed by an operator: write 2 * x, not 2x "
                    "(names cannot start with a digit; use backticks for such labels).",
                )
            value = float(m.group())
            if not np.isfinite(value):
                raise _syntax_error(text, i, j, f"the number {m.group()} is too large for a float")
            tokens.append(_Token("num", value, i, j))
            i = j
            continue
        if c == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise _syntax_error(
                    text,
                    i,
                    n,
                    "a backtick-quoted name is not closed",
                    "Close the label with a second backtick: `Đồng Tâm`.",
                )
            label = text[i + 1 : j]
            if not label.strip():
                raise _syntax_error(text, i, j + 1, "a backtick-quoted name is empty")
            if any(unicodedata.category(ch) == "Cc" for ch in label):
                raise _syntax_error(text, i, j + 1, "a backtick-quoted name contains a control character")
            tokens.append(_Token("name", _nfc(label), i, j + 1, quoted=True))
            i = j + 1
            continue
        if _is_name_start(c):
            j = i + 1
            while j < n:
                d = text[j]
                if _is_name_continue(d):
                    j += 1
                elif d == "." and j + 1 < n and text[j + 1].isalnum():
                    j += 1
                elif d == ".":
                    raise _syntax_error(
                        text,
                        j,
                        j + 2,
                        "a '.' inside a name must be followed by a letter or digit",
                        "Attribute access (x.attr, x.__class__) is not part of the formula language; "
                        "a name like sch.wide is one name. Put other labels in backticks.",
                    )
                else:
                    break
            word = _nfc(text[i:j])
            if word.startswith("__"):
                raise _syntax_error(
                    text,
                    i,
                    j,
                    f"names beginning with '__' are not allowed ({word!r})",
                    "Write such a label in backticks if it really is a variable.",
                )
            if keyword.iskeyword(word):
                raise _syntax_error(
                    text,
                    i,
                    j,
                    f"{word!r} is a reserved word, not part of the formula language",
                    f"If it is a variable label, write it in backticks: `{word}`.",
                )
            tokens.append(_Token("name", word, i, j))
            i = j
            continue
        # Anything else is refused, with a hint for the usual suspects.
        if c in "'\"":
            problem = "strings are not part of the formula language"
            hint = "To refer to a label with spaces or symbols, put it in backticks: `Đồng Tâm`."
        elif c in "[]{}":
            problem = f"brackets {c!r} are not allowed"
            hint = "Use parentheses ( ) for grouping."
        elif c == ".":
            problem = "a '.' may only appear inside a number or a name"
            hint = "Attribute access is not part of the formula language."
        else:
            problem = f"unexpected character {c!r} (U+{ord(c):04X})"
            hint = None
        raise _syntax_error(text, i, i + 1, problem, hint)
    tokens.append(_Token("end", None, n, n))
    return tokens


# --------------------------------------------------------------------------- tree


class _Node:
    __slots__ = ("kind", "op", "value", "args", "start", "end", "depth")

    def __init__(self, kind, start, end, op=None, value=None, args=()):
        self.kind = kind  # "num" | "var" | "neg" | "bin" | "call"
        self.op = op  # operator ("+", "-", "*", "/", "^") or function name
        self.value = value  # float for "num", name for "var"
        self.args = tuple(args)
        self.start = start
        self.end = end
        self.depth = 1 + max((a.depth for a in self.args), default=0)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.nesting = 0
        self.names: dict[str, tuple[int, int]] = {}  # first occurrence span of each name

    # helpers ---------------------------------------------------------------
    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def error(self, tok: _Token, problem: str, hint: str | None = None) -> FormulaError:
        return _syntax_error(self.text, tok.start, tok.end, problem, hint)

    def node(self, *args, **kwargs) -> _Node:
        node = _Node(*args, **kwargs)
        if node.depth > _MAX_TREE_DEPTH:
            raise _syntax_error(
                self.text,
                node.start,
                node.end,
                f"the formula is too deep (more than {_MAX_TREE_DEPTH} nested operations)",
                "Split it into smaller formulas.",
            )
        return node

    def enter(self, tok: _Token) -> None:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise self.error(tok, f"the formula nests more than {_MAX_NESTING} levels deep")

    def after_operand(self, tok: _Token, context: str) -> FormulaError:
        """Error for a token that cannot follow a complete operand."""
        if tok.kind in ("num", "name", "("):
            return self.error(
                tok,
                f"an operator is missing before {tok.describe()}",
                "Implicit multiplication is not supported: write a * b, 2 * (a + b).",
            )
        if tok.kind == ")":
            return self.error(tok, "unmatched ')'", "Remove it or add the matching '('.")
        if tok.kind == ",":
            return self.error(
                tok,
                f"',' is only allowed between function arguments{context}",
                "Write one expression, e.g. min(a, b) rather than a, b.",
            )
        return self.error(tok, f"unexpected {tok.describe()}")  # pragma: no cover - defensive

    # grammar ---------------------------------------------------------------
    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise _syntax_error(
                self.text,
                0,
                max(1, len(self.text)),
                "the formula is empty",
                "Write an expression such as 100 * ls * le / env.",
            )
        tree = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.after_operand(tok, "")
        return tree

    def expr(self) -> _Node:
        left = self.term()
        while self.peek().kind == "op" and self.peek().value in "+-":
            op = self.advance().value
            right = self.term()
            left = self.node("bin", left.start, right.end, op=op, args=(left, right))
        return left

    def term(self) -> _Node:
        left = self.unary()
        while self.peek().kind == "op" and self.peek().value in "*/":
            op = self.advance().value
            right = self.unary()
            left = self.node("bin", left.start, right.end, op=op, args=(left, right))
        return left

    def unary(self) -> _Node:
        tok = self.peek()
        if tok.kind == "op" and tok.value in "+-":
            self.advance()
            self.enter(tok)
            operand = self.unary()
            self.nesting -= 1
            if tok.value == "+":
                return operand
            return self.node("neg", tok.start, operand.end, args=(operand,))
        return self.power()

    def power(self) -> _Node:
        base = self.primary()
        if self.peek().kind == "op" and self.peek().value == "^":
            tok = self.advance()
            self.enter(tok)
            exponent = self.unary()
            self.nesting -= 1
            return self.node("bin", base.start, exponent.end, op="^", args=(base, exponent))
        return base

    def primary(self) -> _Node:
        tok = self.advance()
        if tok.kind == "num":
            return self.node("num", tok.start, tok.end, value=tok.value)
        if tok.kind == "name":
            follows = self.peek()
            if not tok.quoted and tok.value in FUNCTIONS:
                if follows.kind != "(":
                    raise self.error(
                        tok,
                        f"{tok.value!r} is a function and must be called, as {tok.value}(...)",
                        f"If it is a variable label, write it in backticks: `{tok.value}`.",
                    )
                return self.call(tok)
            if follows.kind == "(":
                if tok.quoted:
                    raise self.after_operand(follows, "")
                raise self.error(
                    tok, f"unknown function {tok.value!r}", "The only functions are " + ", ".join(FUNCTIONS) + "."
                )
            self.names.setdefault(tok.value, (tok.start, tok.end))
            return self.node("var", tok.start, tok.end, value=tok.value)
        if tok.kind == "(":
            self.enter(tok)
            inner = self.expr()
            close = self.peek()
            if close.kind == "end":
                raise self.error(tok, "this '(' is never closed", "Add the matching ')'.")
            if close.kind != ")":
                raise self.after_operand(close, " (this one is inside parentheses)")
            self.advance()
            self.nesting -= 1
            # The node now stands for the whole parenthesised text (used in messages).
            inner.start, inner.end = tok.start, close.end
            return inner
        # Not an operand at all.
        if tok.kind == "end":
            previous = self.tokens[self.pos - 2] if self.pos >= 2 else tok
            raise self.error(
                previous,
                f"the formula ends after {previous.describe()}; an operand is missing",
                "A formula cannot end with an operator or a comma.",
            )
        if tok.kind == ")":
            raise self.error(
                tok,
                "')' where a number, name or '(' is expected",
                "Empty parentheses () and a ')' right after an operator or a comma are not allowed.",
            )
        if tok.kind == ",":
            raise self.error(tok, "',' where a number, name or '(' is expected")
        raise self.error(
            tok,
            f"operator {tok.value!r} where a number, name or '(' is expected",
            "Two binary operators in a row are not allowed (a unary '-' or '+' is).",
        )

    def call(self, name_tok: _Token) -> _Node:
        open_tok = self.advance()
        self.enter(open_tok)
        fn = name_tok.value
        lo, hi = FUNCTIONS[fn]
        args: list[_Node] = []
        if self.peek().kind == ")":
            raise self.error(self.peek(), f"{fn}() needs an argument")
        while True:
            args.append(self.expr())
            tok = self.peek()
            if tok.kind == ",":
                self.advance()
                continue
            if tok.kind == ")":
                close = self.advance()
                break
            if tok.kind == "end":
                raise self.error(open_tok, f"the '(' of {fn}( is never closed", "Add the matching ')'.")
            raise self.after_operand(tok, "")
        self.nesting -= 1
        if len(args) < lo or (hi is not None and len(args) > hi):
            expected = f"exactly {lo} argument" if hi == lo else f"at least {lo} argument"
            raise _syntax_error(
                self.text,
                name_tok.start,
                close.end,
                f"{fn}() takes {expected}{'s' if lo != 1 else ''}, got {len(args)}",
            )
        return self.node("call", name_tok.start, close.end, op=fn, args=args)


# --------------------------------------------------------------------------- printing

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _precedence(node: _Node) -> int:
    if node.kind == "neg":
        return 3
    if node.kind == "bin":
        return 4 if node.op == "^" else _PRECEDENCE[node.op]
    return 5


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _render(node: _Node) -> str:
    """Canonical text of a tree; parsing it gives back the same tree."""
    if node.kind == "num":
        return _format_number(node.value)
    if node.kind == "var":
        return node.value if _is_bare_name(node.value) else f"`{node.value}`"
    if node.kind == "call":
        return f"{node.op}({', '.join(_render(a) for a in node.args)})"
    if node.kind == "neg":
        (a,) = node.args
        inner = _render(a)
        return "-" + (f"({inner})" if _precedence(a) <= 3 else inner)
    left, right = node.args
    ltext, rtext = _render(left), _render(right)
    if node.op == "^":
        if _precedence(left) <= 4:
            ltext = f"({ltext})"
        if _precedence(right) < 3:
            rtext = f"({rtext})"
        return f"{ltext}^{rtext}"
    p = _precedence(node)
    if _precedence(left) < p:
        ltext = f"({ltext})"
    if _precedence(right) <= p:
        rtext = f"({rtext})"
    return f"{ltext} {node.op} {rtext}"


# --------------------------------------------------------------------------- evaluation


def _scale(grad, factor):
    """``grad * factor`` over the last axis, with 0 * inf taken as 0."""
    factor = np.asarray(factor)[..., None]
    return np.where(grad == 0, 0.0, grad * factor)


def _fmt(x) -> str:
    return f"{float(x):.6g}"


class _Evaluator:
    def __init__(self, formula: Formula, values, order, errors: str, gradient: bool):
        if errors not in _ERRORS_MODES:
            raise FormulaError(f"errors must be 'raise' or 'nan', got {errors!r}.")
        self.formula = formula
        self.text = formula._nfc_text
        self.errors = errors
        self.gradient = gradient
        if not isinstance(values, Mapping):
            raise FormulaError(
                f"values for formula {formula.text!r} must be a mapping from name to number or array "
                f"(a dict or pandas Series), got {type(values).__name__}."
            )
        given: dict[str, object] = {}
        for key, value in values.items():
            if isinstance(key, str):
                given[_nfc(key)] = value
        missing = [n for n in formula.names if n not in given]
        if missing:
            raise FormulaError(
                f"No value for {describe_rows(missing)} in formula {formula.text!r}. "
                f"Values were given for: {describe_rows(list(given)) or 'nothing'}."
            )
        self.values: dict[str, np.ndarray] = {}
        for name in formula.names:
            try:
                arr = np.asarray(given[name], dtype=float)
            except (TypeError, ValueError):
                raise FormulaError(
                    f"The value of {name!r} in formula {formula.text!r} is not numeric: {given[name]!r}."
                ) from None
            self.values[name] = arr
        try:
            self.shape = np.broadcast_shapes(*(a.shape for a in self.values.values()))
        except ValueError:
            shapes = ", ".join(f"{k}: {v.shape}" for k, v in self.values.items())
            raise FormulaError(
                f"The values of formula {formula.text!r} have shapes that do not broadcast together ({shapes}). "
                "Give scalars or arrays of one common shape (e.g. one value per replicate)."
            ) from None
        if errors == "raise":
            for name, arr in self.values.items():
                bad = ~np.isfinite(arr)
                if bad.any():
                    where = "" if arr.ndim == 0 else f" at positions {describe_rows(self._positions(bad, arr.shape))}"
                    raise FormulaError(
                        f"The value of {name!r} in formula {formula.text!r} is not finite"
                        f" ({_fmt(arr[np.nonzero(bad)][0] if arr.ndim else arr)}){where}. "
                        'Remove the missing values or pass errors="nan" to propagate NaN.'
                    )
        if order is None:
            order = formula.names
        elif isinstance(order, str):
            order = (order,)
        self.order = tuple(_nfc(str(o)) for o in order)
        if len(set(self.order)) != len(self.order):
            dup = sorted({o for o in self.order if self.order.count(o) > 1})
            raise FormulaError(f"order lists {describe_rows(dup)} more than once; give each name once.")
        self.index = {name: k for k, name in enumerate(self.order)}
        self.n = len(self.order)

    # messages ----------------------------------------------------------------
    @staticmethod
    def _positions(mask, shape):
        idx = np.argwhere(np.broadcast_to(mask, shape))
        if len(shape) == 1:
            return [int(i[0]) for i in idx]
        return [tuple(int(j) for j in i) for i in idx]

    def fail(self, node: _Node, what: str, mask, operands) -> None:
        """Raise (errors='raise') a FormulaError about ``mask`` elements of ``node``."""
        mask = np.broadcast_to(mask, self.shape)
        sub = self.text[node.start : node.end]
        first = tuple(np.argwhere(mask)[0]) if self.shape else ()
        shown = ", ".join(f"{label} = {_fmt(np.broadcast_to(v, self.shape)[first])}" for label, v in operands)
        inputs = ", ".join(f"{name} = {_fmt(np.broadcast_to(v, self.shape)[first])}" for name, v in self.values.items())
        if self.shape:
            k = int(mask.sum())
            where = (
                f" at {k} of {mask.size} elements (positions "
                f"{describe_rows(self._positions(mask, self.shape))}); at the first one"
            )
        else:
            where = ""
        msg = f"Formula {self.formula.text!r}: {what} in {sub!r}{where}: {shown}"
        if inputs:
            msg += f" (with {inputs})"
        msg += '. Pass errors="nan" to get NaN for such elements instead (e.g. for replicate estimates).'
        raise FormulaError(msg)

    def domain(self, node, v, g, bad, what, operands, value_too=True):
        """Apply a domain mask: raise, or set the affected elements to NaN."""
        if not np.any(bad):
            return v, g
        if self.errors == "raise":
            self.fail(node, what, bad, operands)
        if value_too:
            v = np.where(bad, np.nan, v)
        if g is not None:
            g = np.where(np.asarray(bad)[..., None], np.nan, g)
        return v, g

    # the walk ----------------------------------------------------------------
    def run(self):
        with np.errstate(all="ignore"):
            v, g = self.eval(self.formula._tree)
        if self.shape == ():
            value = float(v)
            grad = None if g is None else np.array(np.broadcast_to(g, (self.n,)), dtype=float)
        else:
            value = np.array(np.broadcast_to(v, self.shape), dtype=float)
            grad = None if g is None else np.array(np.broadcast_to(g, self.shape + (self.n,)), dtype=float)
        return value, grad

    def eval(self, node: _Node):
        grad = self.gradient
        kind = node.kind
        if kind == "num":
            return np.float64(node.value), (np.zeros(self.n) if grad else None)
        if kind == "var":
            v = self.values[node.value]
            g = None
            if grad:
                g = np.zeros(self.n)
                if node.value in self.index:
                    g[self.index[node.value]] = 1.0
            return v, g
        if kind == "neg":
            a, ga = self.eval(node.args[0])
            return -a, (None if ga is None else -ga)
        if kind == "call":
            return self.call(node)
        left, right = node.args
        a, ga = self.eval(left)
        b, gb = self.eval(right)
        op = node.op
        lt, rt = self.text[left.start : left.end], self.text[right.start : right.end]
        if op == "+":
            return self.check(node, a + b, None if not grad else ga + gb)
        if op == "-":
            return self.check(node, a - b, None if not grad else ga - gb)
        if op == "*":
            g = None
            if grad:
                g = ga * np.asarray(b)[..., None] + gb * np.asarray(a)[..., None]
            return self.check(node, a * b, g)
        if op == "/":
            v = a / b
            g = None
            if grad:
                g = (ga - gb * np.asarray(v)[..., None]) / np.asarray(b)[..., None]
            v, g = self.domain(node, v, g, b == 0, "division by zero", [(lt, a), (rt, b)])
            return self.check(node, v, g)
        # power
        v = np.power(a, b)
        g = None
        if grad:
            g = _scale(ga, b * np.power(a, b - 1))
            log_factor = np.where(a > 0, v * np.log(np.where(a > 0, a, 1.0)), np.where(a == 0, 0.0, np.nan))
            g = g + _scale(gb, log_factor)
        v, g = self.domain(
            node,
            v,
            g,
            (a < 0) & (b != np.floor(b)),
            "a negative number raised to a non-integer power",
            [("base", a), ("exponent", b)],
        )
        v, g = self.domain(
            node,
            v,
            g,
            (a == 0) & (b < 0),
            "zero raised to a negative power (division by zero)",
            [("base", a), ("exponent", b)],
        )
        if grad:
            bad = (a < 0) & np.any(gb != 0, axis=-1)
            v, g = self.domain(
                node,
                v,
                g,
                bad,
                "the derivative with respect to the exponent needs a positive base",
                [("base", a), ("exponent", b)],
                value_too=False,
            )
        return self.check(node, v, g)

    def call(self, node: _Node):
        fn = node.op
        grad = self.gradient
        results = [self.eval(arg) for arg in node.args]
        if fn in ("min", "max"):
            if len(results) == 1:
                return results[0]
            stack = np.stack(np.broadcast_arrays(*[r[0] for r in results]))
            pick = (np.argmin if fn == "min" else np.argmax)(stack, axis=0)  # first on ties
            v = np.take_along_axis(stack, pick[None], axis=0)[0]
            g = None
            if grad:
                shape = stack.shape[1:] + (self.n,)
                gstack = np.stack([np.broadcast_to(r[1], shape) for r in results])
                index = np.broadcast_to(pick[None, ..., None], (1,) + shape)
                g = np.take_along_axis(gstack, index, axis=0)[0]
            return v, g
        ((a, ga),) = results
        arg_text = self.text[node.args[0].start : node.args[0].end]
        if fn == "log":
            v = np.log(a)
            g = _scale(ga, 1.0 / a) if grad else None
            v, g = self.domain(node, v, g, a <= 0, "the logarithm of a non-positive number", [(arg_text, a)])
            return self.check(node, v, g)
        if fn == "sqrt":
            v = np.sqrt(a)
            g = _scale(ga, 0.5 / v) if grad else None
            v, g = self.domain(node, v, g, a < 0, "the square root of a negative number", [(arg_text, a)])
            return self.check(node, v, g)
        # exp
        v = np.exp(a)
        g = _scale(ga, v) if grad else None
        return self.check(node, v, g)

    def check(self, node: _Node, v, g):
        """Catch overflow (infinite value) and infinite derivatives."""
        bad_v = ~np.isfinite(v)
        if self.errors == "raise":
            if np.any(bad_v):
                self.fail(node, "the result overflows (is not a finite number)", bad_v, [("result", v)])
            if g is not None:
                bad_g = ~np.all(np.isfinite(g), axis=-1)
                if np.any(bad_g):
                    self.fail(
                        node,
                        "the derivative is not finite (the function is not differentiable there)",
                        bad_g,
                        [("value", v)],
                    )
            return v, g
        # errors="nan": turn +-inf into NaN, leave NaN as it is
        if np.any(np.isinf(v)):
            v = np.where(bad_v, np.nan, v)
        if g is not None and (np.any(bad_v) or not np.all(np.isfinite(g))):
            keep = np.all(np.isfinite(g), axis=-1) & ~bad_v
            g = np.where(keep[..., None], g, np.nan)
        return v, g


# --------------------------------------------------------------------------- public


class Formula:
    """A parsed formula of the safe formula language (see the module docstring).

    Construct with :meth:`Formula.parse`. A ``Formula`` is immutable; two formulas are
    equal (and hash equal) when their normalised text, ``str(formula)``, is equal, so
    ``"a*b"``, ``"a × b"`` and ``"(a) * (b)"`` are the same formula.

    Attributes
    ----------
    text : str
        The text as given by the caller.
    names : tuple of str
        The variable names the formula uses, NFC-normalised, in order of first
        appearance.

    See Also
    --------
    happiness_index.errors.FormulaError : raised for anything outside the language.
    """

    __slots__ = ("text", "names", "_tree", "_nfc_text", "_canonical")

    def __init__(self, text: str, allowed_names: Iterable[str] | None = None):
        if isinstance(text, Formula):
            text = text.text
        if not isinstance(text, str):
            raise FormulaError(f"A formula must be a string such as '100 * ls * le / env', got {type(text).__name__}.")
        nfc_text = _nfc(text)
        parser = _Parser(nfc_text)
        tree = parser.parse()
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "_nfc_text", nfc_text)
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "names", tuple(parser.names))
        object.__setattr__(self, "_canonical", _render(tree))
        if allowed_names is not None:
            if isinstance(allowed_names, str):
                allowed_names = [allowed_names]
            allowed = [_nfc(str(a)) for a in allowed_names]
            allowed_set = set(allowed)
            unknown = [n for n in self.names if n not in allowed_set]
            if unknown:
                start, end = parser.names[unknown[0]]
                suggestions = []
                for name in unknown:
                    close = difflib.get_close_matches(name, allowed, n=1)
                    if close:
                        suggestions.append(f"{name!r} -> {close[0]!r}?")
                hint = "Did you mean " + ", ".join(suggestions) if suggestions else None
                raise _syntax_error(
                    nfc_text,
                    start,
                    end,
                    f"unknown name{'s' if len(unknown) > 1 else ''} {describe_rows(unknown)}; "
                    f"the allowed names are {describe_rows(allowed, limit=30) or '(none)'}",
                    hint,
                )

    @classmethod
    def parse(cls, text: str, allowed_names: Iterable[str] | None = None) -> Formula:
        """Parse ``text`` into a :class:`Formula`.

        Parameters
        ----------
        text : str
            A formula in the safe formula language, e.g. ``"100 * ls * le / env"``.
            Names are normalised to Unicode NFC.
        allowed_names : iterable of str, optional
            If given, every name in the formula must be one of these (compared after
            NFC normalisation), e.g. the component names of an index specification or
            the row labels of an estimate table.

        Returns
        -------
        Formula

        Raises
        ------
        FormulaError
            If ``text`` is not a string, is empty, or is not in the language (unknown
            function, attribute access, strings, unbalanced parentheses, a comma outside
            a function call, a trailing operator, ...), or uses a name not in
            ``allowed_names``. The message shows the formula with a caret under the
            offending part and lists what is allowed.
        """
        return cls(text, allowed_names)

    def __setattr__(self, name, value):
        raise AttributeError("Formula objects are immutable")

    def __reduce__(self):
        return (Formula, (self.text,))

    def evaluate(self, values: Mapping[str, float | np.ndarray], *, errors: str = "raise") -> float | np.ndarray:
        """Evaluate the formula element-wise.

        Parameters
        ----------
        values : mapping of str to float or array_like
            A value for each name in :attr:`names` (other keys are ignored; keys are
            NFC-normalised). Arrays broadcast against each other, e.g. one value per
            replicate of shape ``(R,)``.
        errors : {"raise", "nan"}, default "raise"
            What to do with mathematical domain errors (division by zero, log of a
            non-positive number, square root of a negative number, negative base with a
            non-integer exponent, overflow) and with non-finite inputs: raise, or
            return NaN for the affected elements.

        Returns
        -------
        float or numpy.ndarray
            A Python float when every value is a scalar, otherwise an array of the
            broadcast shape.

        Raises
        ------
        FormulaError
            A name has no value or a non-numeric value, shapes do not broadcast, or
            (with ``errors="raise"``) a domain error or non-finite input occurs; the
            message names the sub-expression, the positions and the values.
        """
        value, _ = _Evaluator(self, values, (), errors, gradient=False).run()
        return value

    def value_and_gradient(
        self,
        values: Mapping[str, float | np.ndarray],
        order: Sequence[str] | None = None,
        *,
        errors: str = "raise",
    ) -> tuple[float | np.ndarray, np.ndarray]:
        """Value and gradient by forward-mode automatic differentiation.

        Parameters
        ----------
        values : mapping of str to float or array_like
            As in :meth:`evaluate`.
        order : sequence of str, optional
            The names to differentiate with respect to, in the order of the gradient's
            last axis; default :attr:`names`. A name that the formula does not use gets
            a zero column; a used name not listed is held constant.
        errors : {"raise", "nan"}, default "raise"
            As in :meth:`evaluate`; in addition an infinite derivative (e.g.
            ``sqrt(x)`` at ``x = 0``) raises, or gives a NaN gradient for that element.

        Returns
        -------
        value : float or numpy.ndarray
            As :meth:`evaluate`, shape ``S`` (the broadcast shape of the values).
        gradient : numpy.ndarray
            Shape ``S + (len(order),)``: the partial derivatives of the formula.

        Raises
        ------
        FormulaError
            As in :meth:`evaluate`, or when ``order`` lists a name twice.

        Notes
        -----
        The delta-method variance of ``f(theta_hat)`` is ``g' V g`` with ``g`` this
        gradient at the estimates and ``V`` their covariance (Lumley 2010, 2.6).
        """
        return _Evaluator(self, values, order, errors, gradient=True).run()

    def dependent_names(self) -> tuple:
        """The names the formula's value actually depends on.

        A name can appear in the text without any effect (``ls * 0 + 42``, ``ls - ls``).
        The partial derivatives are evaluated at 16 fixed, pseudo-random points in each of
        three boxes, every name in (0.5, 1.5), then (1.5, 10), then (-1.5, -0.5); a name whose
        partial derivative is zero (or undefined) at every point is not a dependence. An
        empty tuple means the formula is a constant.

        Returns
        -------
        tuple of str
            Subset of :attr:`names`, in the same order.

        Notes
        -----
        A non-zero polynomial or analytic expression vanishes on a set of measure zero, so
        sixteen random points miss a genuine dependence only by design of the formula
        (e.g. ``max(ls, 20)``, constant on all three boxes).
        """
        if not self.names:
            return ()
        rng = np.random.default_rng(20240521)
        found = np.zeros(len(self.names), dtype=bool)
        for lo, hi in ((0.5, 1.5), (1.5, 10.0), (-1.5, -0.5)):
            pts = rng.uniform(lo, hi, size=(16, len(self.names)))
            env = {nm: pts[:, j] for j, nm in enumerate(self.names)}
            with np.errstate(all="ignore"):
                try:
                    _, g = self.value_and_gradient(env, errors="nan")
                except FormulaError:
                    continue
            g = np.asarray(g, dtype=float).reshape(16, len(self.names))
            found |= (np.isfinite(g) & (g != 0)).any(axis=0)
            if found.all():
                break
        return tuple(nm for nm, f in zip(self.names, found) if f)

    def __str__(self) -> str:
        return self._canonical

    def __repr__(self) -> str:
        return f"Formula({self._canonical!r})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Formula):
            return NotImplemented
        return self._canonical == other._canonical

    def __hash__(self) -> int:
        return hash(("Formula", self._canonical))
