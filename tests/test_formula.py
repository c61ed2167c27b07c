"""Tests of the safe formula language (happiness_index.questionnaire.formula)."""

from __future__ import annotations

import builtins
import json
import math
import pickle
import unicodedata
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import happiness_index as hi
from happiness_index.errors import FormulaError, SpecError
from happiness_index.questionnaire.formula import Formula

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"  # copies of shared/reference (scripts/sync_reference.py)


# --------------------------------------------------------------------------- hand-checked values


def test_exported_at_top_level():
    assert hi.Formula is Formula
    assert issubclass(FormulaError, SpecError)


def test_nef_formula_value_and_gradient_hand_checked():
    f = Formula.parse("100 * ls * le / env")
    assert f.names == ("ls", "le", "env")
    ls, le, env = Fraction("0.5571"), Fraction("0.7891"), Fraction("0.6872")
    # exact rational arithmetic: value = 100 ls le / env, d/dls = 100 le / env,
    # d/dle = 100 ls / env, d/denv = -100 ls le / env^2
    value = 100 * ls * le / env
    grad = [100 * le / env, 100 * ls / env, -100 * ls * le / env**2]
    v, g = f.value_and_gradient({"ls": 0.5571, "le": 0.7891, "env": 0.6872})
    assert isinstance(v, float)
    assert v == pytest.approx(float(value), rel=1e-14)
    assert v == pytest.approx(63.97083963911525, rel=1e-14)  # 100 * 0.43960761 / 0.6872
    assert g.shape == (3,)
    np.testing.assert_allclose(g, [float(x) for x in grad], rtol=1e-14)
    np.testing.assert_allclose(g, [114.82828870779977, 81.06810244470314, -93.0891147251386], rtol=1e-12)
    assert f.evaluate({"ls": 0.5571, "le": 0.7891, "env": 0.6872}) == v


def test_province_value_in_percent():
    # Province's published HI = LS x LE / ENV with components in percent:
    # 40.71 * 41.6 / 31.8 = 1693.536 / 31.8 = 53.2558...
    f = Formula.parse("ls * le / env")
    value = f.evaluate({"ls": 40.71, "le": 41.6, "env": 31.8})
    assert value == pytest.approx(53.25584905660377, rel=1e-13)
    assert round(value, 2) == 53.26
    # the same with proportions and the factor 100
    g = Formula.parse("100 * ls * le / env")
    assert g.evaluate({"ls": 0.4071, "le": 0.416, "env": 0.318}) == pytest.approx(value, rel=1e-13)


def test_geometric_mean_hand_checked():
    f = Formula.parse("100 * (a * b * c)^(1/3)")
    v, g = f.value_and_gradient({"a": 0.8, "b": 0.5, "c": 0.2})
    # (0.8 * 0.5 * 0.2)^(1/3) = 0.08^(1/3) = 0.430886938...
    assert v == pytest.approx(100 * 0.08 ** (1 / 3), rel=1e-14)
    # d/da 100 (abc)^(1/3) = (100/3) (abc)^(1/3) / a
    np.testing.assert_allclose(g, [v / 3 / 0.8, v / 3 / 0.5, v / 3 / 0.2], rtol=1e-13)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2^3^2", 512.0),
        ("2**3**2", 512.0),
        ("(2^3)^2", 64.0),
        ("-2^2", -4.0),
        ("(-2)^2", 4.0),
        ("1-2-3", -4.0),
        ("8/2/2", 2.0),
        ("2*3+4", 10.0),
        ("2+3*4", 14.0),
        ("2^-1", 0.5),
        ("-2^-2", -0.25),
        ("2 * -3", -6.0),
        ("--3", 3.0),
        ("+3 - -3", 6.0),
        ("1e-3 * 1E3", 1.0),
        (".5 + 2.", 2.5),
        ("1.5e+2", 150.0),
        ("min(3, 1, 2)", 1.0),
        ("max(3, 1, 2)", 3.0),
        ("min(4)", 4.0),
        ("sqrt(16)", 4.0),
        ("log(exp(2))", 2.0),
        ("exp(0)", 1.0),
        ("2 × 3 ÷ 4 − 1", 0.5),
        ("-2^2^-1", -math.sqrt(2.0)),
        ("(-8)^3", -512.0),
    ],
)
def test_precedence_and_constants(text, expected):
    assert Formula.parse(text).evaluate({}) == pytest.approx(expected, rel=1e-15)


def test_right_associative_power_tree_and_unary_minus():
    assert str(Formula.parse("2^3^2")) == "2^3^2"
    assert Formula.parse("2^3^2") == Formula.parse("2^(3^2)")
    assert Formula.parse("2^3^2") != Formula.parse("(2^3)^2")
    assert Formula.parse("-x^2") == Formula.parse("-(x^2)")
    assert Formula.parse("-x^2").evaluate({"x": 3}) == -9.0
    assert Formula.parse("(-x)^2").evaluate({"x": 3}) == 9.0


def test_functions_and_gradients_hand_checked():
    v, g = Formula.parse("log(x) + exp(y) + sqrt(z)").value_and_gradient({"x": 2.0, "y": 1.0, "z": 9.0})
    assert v == pytest.approx(math.log(2) + math.e + 3)
    np.testing.assert_allclose(g, [0.5, math.e, 1 / 6], rtol=1e-15)
    # power with a variable exponent: d/dy x^y = x^y log x
    v, g = Formula.parse("x^y").value_and_gradient({"x": 2.0, "y": 3.0})
    assert v == 8.0
    np.testing.assert_allclose(g, [3 * 4.0, 8 * math.log(2)], rtol=1e-15)


def test_power_at_zero_base():
    f = Formula.parse("x^2")
    v, g = f.value_and_gradient({"x": 0.0})
    assert v == 0.0 and g.tolist() == [0.0]
    # derivative in the exponent at base 0 (exponent > 0) is 0, not NaN
    v, g = Formula.parse("x^y").value_and_gradient({"x": 0.0, "y": 2.0})
    assert v == 0.0 and g.tolist() == [0.0, 0.0]
    # negative base with an integer exponent is fine when the exponent is constant
    v, g = Formula.parse("x^3").value_and_gradient({"x": -2.0})
    assert v == -8.0 and g.tolist() == [12.0]
    # ... but not differentiable in the exponent
    with pytest.raises(FormulaError, match="positive base"):
        Formula.parse("x^y").value_and_gradient({"x": -2.0, "y": 3.0})
    assert Formula.parse("x^y").evaluate({"x": -2.0, "y": 3.0}) == -8.0


def test_min_max_gradient_selects_argument_and_first_on_ties():
    f = Formula.parse("min(a, b, c)")
    v, g = f.value_and_gradient({"a": 0.7, "b": 0.3, "c": 0.5})
    assert v == 0.3 and g.tolist() == [0.0, 1.0, 0.0]
    v, g = f.value_and_gradient({"a": 0.3, "b": 0.3, "c": 0.3})
    assert g.tolist() == [1.0, 0.0, 0.0]
    v, g = Formula.parse("max(a, 2 * b)").value_and_gradient({"a": 0.6, "b": 0.4})
    assert v == 0.8 and g.tolist() == [0.0, 2.0]
    v, g = Formula.parse("max(a, 2 * b)").value_and_gradient({"a": 0.8, "b": 0.4})
    assert g.tolist() == [1.0, 0.0]  # tie: first argument
    # vectorised selection
    v, g = f.value_and_gradient({"a": np.array([1.0, 5.0, 2.0]), "b": np.array([2.0, 1.0, 2.0]), "c": 3.0})
    np.testing.assert_array_equal(v, [1.0, 1.0, 2.0])
    np.testing.assert_array_equal(g, [[1, 0, 0], [0, 1, 0], [1, 0, 0]])


def test_order_argument():
    f = Formula.parse("100 * ls * le / env")
    values = {"ls": 0.5, "le": 0.4, "env": 0.25}
    _, g = f.value_and_gradient(values, order=["env", "extra", "ls"])
    np.testing.assert_allclose(g, [-320.0, 0.0, 160.0])  # le held constant, extra unused
    _, g = f.value_and_gradient(values, order=[])
    assert g.shape == (0,)
    with pytest.raises(FormulaError, match="more than once"):
        f.value_and_gradient(values, order=["ls", "ls"])


def test_constant_formula_has_empty_gradient():
    v, g = Formula.parse("2 + 3").value_and_gradient({})
    assert v == 5.0 and g.shape == (0,)


# --------------------------------------------------------------------------- R reference values


def _nonlinear_cases():
    path = REFERENCE / "nonlinear_composite.json"
    cases = json.loads(path.read_text(encoding="utf-8"))["cases"]
    return [c for c in cases if c.get("estimator") == "nonlinear_function_of_means"]


@pytest.mark.parametrize("case", _nonlinear_cases(), ids=lambda c: c["id"])
def test_delta_method_matches_r_svycontrast(case):
    """svycontrast(svymean(~p1+p2+p3, design), quote(expr)): estimate and SE = sqrt(g'Vg)."""
    expr = case["options"]["expression"]
    exp = case["expected"]
    names = exp["component_names"]
    f = Formula.parse(expr, allowed_names=names)
    value, grad = f.value_and_gradient(dict(zip(names, exp["component_means"])), order=names)
    vcov = np.asarray(exp["component_vcov"])
    se = math.sqrt(grad @ vcov @ grad)
    assert value == pytest.approx(exp["estimate"], rel=1e-9)
    assert se == pytest.approx(exp["se"], rel=1e-7)


# --------------------------------------------------------------------------- vectorisation


def test_vectorised_replicates_match_scalar_evaluation():
    rng = np.random.default_rng(20240601)
    reps = {k: rng.uniform(0.2, 0.9, size=50) for k in ("ls", "le", "env")}
    before = {k: v.copy() for k, v in reps.items()}
    f = Formula.parse("100 * ls * le / env + min(ls, le)^2")
    v, g = f.value_and_gradient(reps)
    assert v.shape == (50,) and g.shape == (50, 3)
    for r in (0, 17, 49):
        vr, gr = f.value_and_gradient({k: float(x[r]) for k, x in reps.items()})
        assert v[r] == pytest.approx(vr, rel=1e-15)
        np.testing.assert_allclose(g[r], gr, rtol=1e-15)
    np.testing.assert_array_equal(f.evaluate(reps), v)
    for k in reps:  # inputs untouched
        np.testing.assert_array_equal(reps[k], before[k])


def test_broadcasting_shapes():
    f = Formula.parse("a * b + c")
    a = np.arange(3.0).reshape(3, 1)
    b = np.arange(4.0).reshape(1, 4)
    v, g = f.value_and_gradient({"a": a, "b": b, "c": 1.0})
    assert v.shape == (3, 4) and g.shape == (3, 4, 3)
    np.testing.assert_array_equal(v, a * b + 1)
    np.testing.assert_array_equal(g[..., 0], np.broadcast_to(b, (3, 4)))
    np.testing.assert_array_equal(g[..., 1], np.broadcast_to(a, (3, 4)))
    np.testing.assert_array_equal(g[..., 2], np.ones((3, 4)))
    # a constant part still gets the full shape
    assert Formula.parse("2 + 0 * x").evaluate({"x": np.zeros(5)}).shape == (5,)
    # pandas-like sequences are accepted
    assert Formula.parse("x + 1").evaluate({"x": [1, 2]}).tolist() == [2.0, 3.0]


def test_non_broadcastable_shapes_rejected():
    with pytest.raises(FormulaError, match=r"do not broadcast.*a: \(3,\), b: \(2,\)"):
        Formula.parse("a + b").evaluate({"a": np.ones(3), "b": np.ones(2)})


# --------------------------------------------------------------------------- names


def test_unicode_operators_equal_ascii():
    assert Formula.parse("a × b ÷ c − d") == Formula.parse("a*b/c-d")
    assert str(Formula.parse("a × b ÷ c − d")) == "a * b / c - d"
    assert Formula.parse("a ** 2") == Formula.parse("a^2")


def test_backtick_names_nfc_and_nfd_resolve_to_the_same_name():
    nfc = "`Đồng Tâm` * `stype=E` + sch.wide"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    f, g = Formula.parse(nfc), Formula.parse(nfd)
    assert f.names == g.names == ("Đồng Tâm", "stype=E", "sch.wide")
    assert all(unicodedata.is_normalized("NFC", n) for n in g.names)
    assert f == g and hash(f) == hash(g)
    assert g.text == nfd  # the original text is kept as given
    values = {unicodedata.normalize("NFD", "Đồng Tâm"): 2.0, "stype=E": 3.0, "sch.wide": 1.0}
    assert f.evaluate(values) == 7.0


def test_bare_vietnamese_names_in_nfd_text():
    nfd = unicodedata.normalize("NFD", "hạnh_phúc / môi_trường")
    f = Formula.parse(nfd)
    assert f.names == ("hạnh_phúc", "môi_trường")
    assert f.evaluate({"hạnh_phúc": 3.0, "môi_trường": 4.0}) == 0.75


def test_names_in_order_of_first_appearance():
    assert Formula.parse("b * a + min(c, b) / a").names == ("b", "a", "c")


def test_function_name_as_variable_needs_backticks():
    f = Formula.parse("`log` + log(x)")
    assert f.names == ("log", "x")
    assert str(f) == "`log` + log(x)"
    assert f.evaluate({"log": 1.0, "x": 1.0}) == 1.0


def test_allowed_names():
    f = Formula.parse("100 * ls * le / env", allowed_names=["ls", "le", "env", "other"])
    assert f.names == ("ls", "le", "env")
    with pytest.raises(FormulaError) as info:
        Formula.parse("100 * ls * lf / envv", allowed_names=["ls", "le", "env"])
    msg = str(info.value)
    assert "unknown names 'lf', 'envv'" in msg
    assert "allowed names are 'ls', 'le', 'env'" in msg
    assert "'envv' -> 'env'?" in msg
    assert "100 * ls * lf / envv\n" in msg and "\n               ^^\n" in msg
    # NFD allowed names match NFC formula names
    Formula.parse("`Đồng Tâm`", allowed_names=[unicodedata.normalize("NFD", "Đồng Tâm")])
    with pytest.raises(FormulaError, match="allowed names are \\(none\\)"):
        Formula.parse("x", allowed_names=[])


# --------------------------------------------------------------------------- rejection


def _caret_column(message: str, formula: str) -> int:
    lines = message.splitlines()
    k = lines.index("    " + formula)
    return lines[k + 1].index("^") - 4


@pytest.mark.parametrize(
    "text, fragment, column",
    [
        ("", "empty", 0),
        ("   ", "empty", 0),
        ("(a + b", "'(' is never closed", 0),
        ("min(a, b", "never closed", 3),
        ("a + b)", "unmatched ')'", 5),
        ("a, b", "',' is only allowed between function arguments", 1),
        ("(a, b)", "',' is only allowed between function arguments", 2),
        ("a +", "operand is missing", 2),
        ("a *", "operand is missing", 2),
        ("a ^", "operand is missing", 2),
        ("-", "operand is missing", 0),
        ("a * / b", "operator '/' where a number", 4),
        ("a // b", "operator '/'", 3),
        ("()", "')' where a number", 1),
        ("min()", "needs an argument", 4),
        ("min(a,)", "')' where a number", 6),
        ("log(a, b)", "exactly 1 argument, got 2", 0),
        ("sqrt()", "needs an argument", 5),
        ("foo(a)", "unknown function 'foo'", 0),
        ("Log(a)", "unknown function 'Log'", 0),
        ("log + 1", "'log' is a function and must be called", 0),
        ("a b", "operator is missing before the name 'b'", 2),
        ("2 (a)", "operator is missing before '('", 2),
        ("2x", "'2x' is neither a number nor a name", 0),
        ("1e", "neither a number nor a name", 0),
        ("1.2.3", "neither a number nor a name", 0),
        ("1e999", "too large", 0),
        ("`a", "not closed", 0),
        ("``", "empty", 0),
        ("`a`(x)", "operator is missing before '('", 3),
        ("a % b", "unexpected character '%'", 2),
        ("a == b", "unexpected character '='", 2),
        ("a[0]", "brackets", 1),
        ("{a}", "brackets", 0),
        ("a;b", "unexpected character ';'", 1),
        ("a.", "must be followed by a letter or digit", 1),
        (".a", "'.' may only appear", 0),
        ("x if y else z", "'if' is a reserved word", 2),
        ("a and b", "'and' is a reserved word", 2),
        ("True", "reserved word", 0),
    ],
)
def test_rejections_have_caret_and_allowed_list(text, fragment, column):
    with pytest.raises(FormulaError) as info:
        Formula.parse(text)
    msg = str(info.value)
    assert fragment in msg
    assert "Allowed: numbers" in msg and "min(a, b, ...)" in msg and "`Đồng Tâm`" in msg
    assert _caret_column(msg, text) == column


def test_caret_alignment_after_wide_and_combining_text():
    text = unicodedata.normalize("NFD", "`Đồng Tâm` + @")
    with pytest.raises(FormulaError) as info:
        Formula.parse(text)
    msg = str(info.value)
    # the message shows the NFC text and the caret sits under '@'
    shown = unicodedata.normalize("NFC", text)
    assert _caret_column(msg, shown) == shown.index("@")


def test_non_string_formula_rejected():
    with pytest.raises(FormulaError, match="must be a string"):
        Formula.parse(3.5)
    with pytest.raises(FormulaError, match="must be a string"):
        Formula.parse(b"a + b")


def test_nesting_and_length_limits():
    Formula.parse("(" * 40 + "a" + ")" * 40)
    with pytest.raises(FormulaError, match="nests more than 50 levels"):
        Formula.parse("(" * 60 + "a" + ")" * 60)
    with pytest.raises(FormulaError, match="nests more than"):
        Formula.parse("-" * 500 + "a")
    f = Formula.parse(" + ".join(f"x{k}" for k in range(150)))
    assert len(f.names) == 150
    assert f.evaluate({f"x{k}": 1.0 for k in range(150)}) == 150.0
    with pytest.raises(FormulaError, match="too deep"):
        Formula.parse(" + ".join(["a"] * 1000))


# --------------------------------------------------------------------------- security


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "__import__",
        "a.__class__",
        "a.__class__.__mro__",
        "().__class__",
        '"x"',
        "'x'",
        "lambda: 0",
        "lambda x: x",
        "exec('1')",
        "eval('1')",
        "open('/etc/passwd')",
        "getattr(a, 'b')",
        "[x for x in y]",
        "x @ y",
        "import os",
        "a if b else c",
        "f'{x}'",
        "globals()",
    ],
)
def test_security_rejections(text):
    with pytest.raises(FormulaError) as info:
        Formula.parse(text)
    assert "Allowed:" in str(info.value)


def test_never_calls_python_eval(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec/compile must not be used")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    f = Formula.parse("100 * (a * b * c)^(1/3) + max(a, `Đồng Tâm`) - log(b) * sqrt(c) / exp(a)")
    f.value_and_gradient({"a": 0.5, "b": 0.6, "c": 0.7, "Đồng Tâm": 0.1})


def test_dotted_name_is_one_name_not_attribute_access():
    f = Formula.parse("sch.wide * comp.imp + x.1")
    assert f.names == ("sch.wide", "comp.imp", "x.1")
    assert f.evaluate({"sch.wide": 2, "comp.imp": 3, "x.1": 1}) == 7.0
    # "x.real" is the name "x.real", looked up in the values; it never reads an attribute of x
    with pytest.raises(FormulaError, match="No value for 'x.real'"):
        Formula.parse("x.real").evaluate({"x": 2.0})
    assert Formula.parse("x.real").evaluate({"x.real": 3.0}) == 3.0


# --------------------------------------------------------------------------- domain errors


def test_division_by_zero_names_subexpression_and_values():
    f = Formula.parse("100 * ls * le / env")
    with pytest.raises(FormulaError) as info:
        f.evaluate({"ls": 0.5, "le": 0.4, "env": 0.0})
    msg = str(info.value)
    assert "division by zero in '100 * ls * le / env'" in msg
    assert "env = 0" in msg and "ls = 0.5" in msg
    assert 'errors="nan"' in msg


def test_domain_errors_on_arrays_report_positions():
    f = Formula.parse("log(x - 1) + y")
    x = np.array([2.0, 0.5, 3.0, 1.0])
    with pytest.raises(FormulaError) as info:
        f.evaluate({"x": x, "y": 0.0})
    msg = str(info.value)
    assert "logarithm of a non-positive number in 'log(x - 1)'" in msg
    assert "at 2 of 4 elements (positions 1, 3)" in msg
    assert "x - 1 = -0.5" in msg
    v = f.evaluate({"x": x, "y": 0.0}, errors="nan")
    np.testing.assert_allclose(v, [0.0, np.nan, math.log(2), np.nan])
    v, g = f.value_and_gradient({"x": x, "y": 0.0}, errors="nan")
    np.testing.assert_allclose(g, [[1.0, 1.0], [np.nan, np.nan], [0.5, 1.0], [np.nan, np.nan]])


@pytest.mark.parametrize(
    "text, values, fragment",
    [
        ("a / (b - c)", {"a": 1.0, "b": 2.0, "c": 2.0}, "division by zero in 'a / (b - c)'"),
        ("sqrt(a - 1)", {"a": 0.0}, "square root of a negative number in 'sqrt(a - 1)'"),
        ("log(a)", {"a": 0.0}, "logarithm of a non-positive number"),
        ("(a - 1)^(1/3)", {"a": 0.0}, "negative number raised to a non-integer power in '(a - 1)^(1/3)'"),
        ("a^(-1)", {"a": 0.0}, "zero raised to a negative power"),
        ("exp(a)", {"a": 1000.0}, "overflows"),
        ("a * a", {"a": 1e200}, "overflows"),
        ("a / b", {"a": 1.0, "b": np.nan}, "'b' in formula 'a / b' is not finite"),
        ("a / b", {"a": np.inf, "b": 1.0}, "'a' in formula 'a / b' is not finite"),
    ],
)
def test_domain_errors_raise_or_give_nan(text, values, fragment):
    f = Formula.parse(text)
    with pytest.raises(FormulaError) as info:
        f.evaluate(values)
    assert fragment in str(info.value)
    assert math.isnan(f.evaluate(values, errors="nan"))
    v, g = f.value_and_gradient(values, errors="nan")
    assert math.isnan(v) and np.isnan(g).all()


def test_infinite_derivative():
    f = Formula.parse("sqrt(x)")
    assert f.evaluate({"x": 0.0}) == 0.0
    with pytest.raises(FormulaError, match="derivative is not finite"):
        f.value_and_gradient({"x": 0.0})
    v, g = f.value_and_gradient({"x": np.array([0.0, 4.0])}, errors="nan")
    np.testing.assert_array_equal(v, [0.0, 2.0])
    np.testing.assert_array_equal(g, [[np.nan], [0.25]])
    # sqrt of a constant 0 is fine: 0 * inf is taken as 0
    assert Formula.parse("sqrt(0 * x) + x").value_and_gradient({"x": 1.0})[1].tolist() == [1.0]


def test_missing_and_bad_values():
    f = Formula.parse("a + b")
    with pytest.raises(FormulaError, match="No value for 'b' in formula 'a \\+ b'. Values were given for: 'a'"):
        f.evaluate({"a": 1.0})
    with pytest.raises(FormulaError, match="not numeric"):
        f.evaluate({"a": 1.0, "b": "x"})
    with pytest.raises(FormulaError, match="must be a mapping"):
        f.evaluate([1.0, 2.0])
    with pytest.raises(FormulaError, match="errors must be 'raise' or 'nan'"):
        f.evaluate({"a": 1.0, "b": 2.0}, errors="ignore")


# --------------------------------------------------------------------------- identity


def test_str_repr_eq_hash_pickle():
    f = Formula.parse("100*ls*le/env")
    assert f.text == "100*ls*le/env"
    assert str(f) == "100 * ls * le / env"
    assert repr(f) == "Formula('100 * ls * le / env')"
    assert f == Formula.parse("100 * ls*le / (env)")
    assert f != Formula.parse("100 * ls * (le / env)")
    assert f != "100 * ls * le / env"
    assert len({f, Formula.parse("100 × ls × le ÷ env")}) == 1
    assert pickle.loads(pickle.dumps(f)) == f
    with pytest.raises(AttributeError):
        f.text = "x"
    assert Formula.parse(f) == f


# --------------------------------------------------------------------------- hypothesis

POSITIVE = st.floats(min_value=0.05, max_value=5.0, allow_nan=False, allow_infinity=False)

SMOOTH_FORMULAS = [
    "100 * ls * le / env",
    "100 * (ls * le * env)^(1/3)",
    "ls^le + log(env)",
    "sqrt(ls * le) / (1 + env^2)",
    "exp(-ls) * le - env / ls",
    "-ls^2 + le ** -1.5 * env",
    "log(ls + le + env) * 3 - 2 / (ls * env)",
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SMOOTH_FORMULAS), POSITIVE, POSITIVE, POSITIVE)
def test_gradient_matches_central_differences(text, ls, le, env):
    f = Formula.parse(text)
    x = np.array([ls, le, env])
    names = ("ls", "le", "env")
    value, grad = f.value_and_gradient(dict(zip(names, x)), order=names)
    assert value == pytest.approx(f.evaluate(dict(zip(names, x))), rel=1e-15)
    # all partials at once, vectorised: rows are x +- h e_k
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    plus = x + np.diag(h)
    minus = x - np.diag(h)
    fp = f.evaluate({n: plus[:, k] for k, n in enumerate(names)})
    fm = f.evaluate({n: minus[:, k] for k, n in enumerate(names)})
    numeric = (fp - fm) / (2 * h)
    scale = np.maximum(1.0, np.abs(grad))
    np.testing.assert_allclose(grad / scale, numeric / scale, atol=2e-5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(POSITIVE, POSITIVE, POSITIVE), min_size=1, max_size=20))
def test_vectorised_gradient_equals_elementwise(rows):
    f = Formula.parse("100 * (ls * le * env)^(1/3) + max(ls, le) / env")
    arr = np.array(rows)
    values = {"ls": arr[:, 0], "le": arr[:, 1], "env": arr[:, 2]}
    v, g = f.value_and_gradient(values)
    assert v.shape == (len(rows),) and g.shape == (len(rows), 3)
    for r, (ls, le, env) in enumerate(rows):
        vr, gr = f.value_and_gradient({"ls": ls, "le": le, "env": env})
        assert v[r] == vr
        np.testing.assert_array_equal(g[r], gr)


# Random expressions: text (fully parenthesised) paired with an independent Python evaluator.
_VARS = {"a": 1.5, "b": -0.25, "c": 3.0}


def _leaf():
    numbers = st.integers(0, 9).map(lambda k: (str(k), lambda env, k=k: float(k)))
    names = st.sampled_from(sorted(_VARS)).map(lambda n: (n, lambda env, n=n: env[n]))
    return numbers | names


def _combine(children):
    def binary(op, fn):
        return st.tuples(children, children).map(
            lambda lr: (f"({lr[0][0]} {op} {lr[1][0]})", lambda env, l=lr[0][1], r=lr[1][1]: fn(l(env), r(env)))
        )

    def div(x, y):
        if y == 0:
            raise ZeroDivisionError
        return x / y

    neg = children.map(lambda c: (f"(-{c[0]})", lambda env, f=c[1]: -f(env)))
    minimum = st.lists(children, min_size=1, max_size=3).map(
        lambda cs: ("min(" + ", ".join(c[0] for c in cs) + ")", lambda env, cs=cs: min(c[1](env) for c in cs))
    )
    maximum = st.lists(children, min_size=1, max_size=3).map(
        lambda cs: ("max(" + ", ".join(c[0] for c in cs) + ")", lambda env, cs=cs: max(c[1](env) for c in cs))
    )
    square = children.map(lambda c: (f"({c[0]})^2", lambda env, f=c[1]: f(env) ** 2))
    return (
        binary("+", lambda x, y: x + y)
        | binary("-", lambda x, y: x - y)
        | binary("*", lambda x, y: x * y)
        | binary("/", div)
        | neg
        | minimum
        | maximum
        | square
    )


EXPRESSIONS = st.recursive(_leaf(), _combine, max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(EXPRESSIONS)
def test_random_expressions_against_python_and_canonical_round_trip(expr):
    text, reference = expr
    f = Formula.parse(text)
    try:
        expected = reference(_VARS)
    except ZeroDivisionError:
        with pytest.raises(FormulaError, match="division by zero"):
            f.evaluate(_VARS)
        assert math.isnan(f.evaluate(_VARS, errors="nan"))
        return
    assume(math.isfinite(expected) and abs(expected) < 1e100)
    assert f.evaluate(_VARS) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # the canonical text parses back to the same formula and the same value
    again = Formula.parse(str(f))
    assert again == f and str(again) == str(f)
    assert again.evaluate(_VARS) == f.evaluate(_VARS)
