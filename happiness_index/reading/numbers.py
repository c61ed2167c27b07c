"""Numbers written as text: the decimal mark and the thousands separator of a file.

A survey exported by Excel in the Vietnamese locale separates fields with ``;``, writes
``19,25`` for nineteen and a quarter and ``1.925`` for one thousand nine hundred and
twenty-five. Read with the English convention, ``1.925`` becomes 1.925 -- a silently wrong
weight. This module classifies the text of each column by the number shapes it holds and
decides, for the locale the caller declared (``decimal``, ``thousands``), whether every
number-looking value reads unambiguously; otherwise the reader refuses the file with the
column and example values, and the fix.

The shapes (a leading sign allowed; ``G`` = groups of exactly three digits after a first
group of one to three digits that does not start with 0):

==============  ==============  ===========================================================
shape           example         reads as
==============  ==============  ===========================================================
integer         ``1925``        1925 under every locale
dot groups      ``1.925``       1.925 with ``decimal="."``; 1925 with ``thousands="."``
dot decimal     ``19.25``       19.25 with ``decimal="."``; never valid with ``thousands="."``
comma groups    ``1,925``       1.925 with ``decimal=","``; 1925 with ``thousands=","``
comma decimal   ``19,25``       19.25 with ``decimal=","``
dot-comma       ``1.925,5``     1925.5 with ``thousands="."``, ``decimal=","``
comma-dot       ``1,925.5``     1925.5 with ``thousands=","``, ``decimal="."``
==============  ==============  ===========================================================
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["NUMBER_SHAPES", "EXCEL_ERRORS", "MISSING_TOKENS", "number_shapes", "valid_shapes", "locale_problem"]

#: Excel's error values: a formula that failed. They are kept as text when a file is read (never
#: turned into blanks) so that validation can name them.
EXCEL_ERRORS = (
    "#N/A",
    "#DIV/0!",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#NULL!",
    "#GETTING_DATA",
    "#SPILL!",
    "#CALC!",
    "#FIELD!",
    "#BLOCKED!",
    "#CONNECT!",
    "#BUSY!",
    "#UNKNOWN!",
)
#: Text that pandas reads as missing by default, less the Excel error values (which are kept).
MISSING_TOKENS = (
    "",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
_NOT_TEXT = frozenset(MISSING_TOKENS) | frozenset(EXCEL_ERRORS) | {"#N/A N/A", "#NA"}

_G = r"[+-]?[1-9]\d{0,2}"
#: Regular expressions of the number shapes, in the order they are tested.
NUMBER_SHAPES = {
    "integer": re.compile(r"[+-]?\d+"),
    "dot groups": re.compile(_G + r"(?:\.\d{3})+"),
    "comma groups": re.compile(_G + r"(?:,\d{3})+"),
    "dot-comma": re.compile(_G + r"(?:\.\d{3})+,\d+"),
    "comma-dot": re.compile(_G + r"(?:,\d{3})+\.\d+"),
    "dot decimal": re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?"),
    "comma decimal": re.compile(r"[+-]?\d*,\d+"),
}

_ANY_NUMBER = re.compile("|".join(f"(?:{rx.pattern})" for rx in NUMBER_SHAPES.values()))


def number_shapes(values: pd.Series) -> dict:
    """The number shapes found in a column of text.

    Parameters
    ----------
    values : Series
        Text cells (missing cells are ignored; surrounding spaces are trimmed).

    Returns
    -------
    dict
        ``{"shapes": {shape: [up to 3 example values]}, "other": int}``: the shapes of
        :data:`NUMBER_SHAPES` met, with examples in order of appearance, and the number of
        distinct non-blank values that are not numbers of any shape (text). Missing-value
        tokens (``NA``, ``null`` ...) and Excel error values are neither.
    """
    s = values.dropna().astype(str).str.strip()
    u = pd.Series(pd.unique(s), dtype=object)
    u = u[~u.isin(_NOT_TEXT)].reset_index(drop=True)
    number = u.str.fullmatch(_ANY_NUMBER).fillna(False).to_numpy(dtype=bool)
    other = int((~number).sum())
    shapes: dict = {}
    if other:  # a text column: the shapes do not matter
        return {"shapes": shapes, "other": other}
    left = np.ones(len(u), dtype=bool)
    for name, rx in NUMBER_SHAPES.items():  # the first shape that matches, in order
        hit = left & u.str.fullmatch(rx).fillna(False).to_numpy(dtype=bool)
        if hit.any():
            shapes[name] = u[hit].head(3).tolist()
            left &= ~hit
    return {"shapes": shapes, "other": other}


def valid_shapes(decimal: str, thousands: str | None) -> set:
    """The shapes that read as exactly one number under a locale."""
    ok = {"integer"}
    if decimal == ".":
        ok |= {"dot decimal"} | ({"dot groups"} if thousands != "." else set())
        if thousands == ",":
            ok |= {"comma groups", "comma-dot"}
    else:
        ok |= {"comma decimal"} | ({"comma groups"} if thousands != "," else set())
        if thousands == ".":
            ok |= {"dot groups", "dot-comma"}
    if thousands == ".":
        ok.discard("dot decimal")
    return ok


def locale_problem(column: str, found: dict, decimal: str, thousands: str | None, explicit: bool) -> str | None:
    """Why a column cannot be read as numbers under the locale, or None when it can.

    Parameters
    ----------
    column : str
        The column name, for the message.
    found : dict
        :func:`number_shapes` of the column's text.
    decimal, thousands : str
        The locale used (``thousands`` None: no thousands separator).
    explicit : bool
        Whether the caller declared the locale. Without a declaration, ``1.925`` (dot groups)
        is ambiguous and refused unless another value of the column shows that ``.`` is the
        decimal mark (``19.25``), and decimal commas are refused too.

    Returns
    -------
    str or None
        The message (naming the column, example values and the fix), or None.
    """
    shapes = found["shapes"]
    if found["other"] or set(shapes) <= {"integer"}:
        return None  # a text column, or plain integers: nothing to decide
    ok = valid_shapes(decimal, thousands)
    bad = [s for s in shapes if s not in ok]
    if not explicit and not bad and "dot groups" in shapes and "dot decimal" not in shapes:
        ex = ", ".join(repr(v) for v in shapes["dot groups"])
        first = shapes["dot groups"][0]
        as_thou = first.replace(".", "")
        return (
            f"column {column!r}: values such as {ex} could be {as_thou} (a '.' thousands separator, "
            f"as Excel writes numbers in the Vietnamese locale) or {first} (a decimal point); the "
            "file does not say which. Declare the number format: read_survey(path, decimal=',', "
            "thousands='.') (on the command line: --decimal , --thousands .) for the Vietnamese "
            "Excel format, or read_survey(path, decimal='.') (--decimal .) when '.' is the decimal "
            "point"
        )
    if not bad:
        return None
    ex = "; ".join(f"{s} {', '.join(repr(v) for v in shapes[s])}" for s in bad)
    locale = f"decimal={decimal!r}, thousands={thousands!r}"
    hint = _hint(bad, shapes)
    how = "was declared" if explicit else "is the default (none was declared)"
    return (
        f"column {column!r} holds numbers that do not read under the number format used "
        f"({locale}, which {how}): {ex}. {hint}"
    )


def _hint(bad: list, shapes: dict) -> str:
    if "dot-comma" in bad or ("comma decimal" in shapes and "dot groups" in shapes):
        return (
            "They look like the Vietnamese Excel format: pass decimal=',', thousands='.' (on the command "
            "line: --decimal , --thousands .)"
        )
    if "comma-dot" in bad:
        return (
            "They look like the English format with thousands: pass decimal='.', thousands=',' (on the "
            "command line: --decimal . --thousands ,)"
        )
    if "comma decimal" in bad or "comma groups" in bad:
        return (
            "They look like decimal commas: pass decimal=',' (and thousands='.' if '.' separates "
            "thousands; on the command line: --decimal , --thousands .)"
        )
    if "dot decimal" in bad:
        return (
            "A '.' followed by other than three digits cannot be a thousands separator: check the "
            "values, or pass decimal='.' if '.' is the decimal point"
        )
    return "They look like '.' thousands separators: pass thousands='.' (with decimal=',')"


def parse_number_text(text: pd.Series, number_format: tuple | None = None) -> tuple:
    """Numbers written as text, read under a number format.

    Parameters
    ----------
    text : Series of str
        Trimmed text, missing for blanks.
    number_format : (decimal, thousands) or None
        The format the file was read with (``read_survey`` records it in ``df.attrs``).
        None: unknown (a frame not read by ``read_survey``, or text cells of an Excel, SPSS
        or Parquet file); then a value that reads two ways (``1.925``, ``1,925``) is
        ambiguous and not converted.

    Returns
    -------
    values : ndarray of float
        NaN for missing, text that is not a number, and ambiguous text.
    ambiguous : ndarray of bool
        Text left unconverted because it reads two ways (only with ``number_format=None``).
    """
    u = pd.Series(pd.unique(text.dropna()), dtype=object)
    norm = u.copy()
    amb_u = np.zeros(len(u), dtype=bool)
    if len(u):
        shape = pd.Series(None, index=u.index, dtype=object)
        for name, rx in NUMBER_SHAPES.items():
            hit = shape.isna() & u.str.fullmatch(rx).fillna(False)
            shape[hit] = name
        if number_format is None:
            amb_u = shape.isin(["dot groups", "comma groups"]).to_numpy(dtype=bool)
            norm[amb_u] = None
        else:
            decimal, thousands = number_format
            ok = shape.isin(valid_shapes(decimal, thousands)) | shape.isna()  # text: to_numeric decides
            norm[~ok] = None
            num = ok & shape.notna()
            if thousands is not None:
                norm[num] = norm[num].str.replace(thousands, "", regex=False)
            if decimal == ",":
                norm[num] = norm[num].str.replace(",", ".", regex=False)
    mapped = pd.Series(norm.to_numpy(), index=u.to_numpy()) if len(u) else pd.Series(dtype=object)
    as_num = pd.to_numeric(mapped, errors="coerce")
    values = np.array(text.map(as_num).to_numpy(dtype="float64", na_value=np.nan), copy=True)
    amb_of = pd.Series(amb_u, index=u.to_numpy()) if len(u) else pd.Series(dtype=bool)
    ambiguous = np.array(text.map(amb_of).astype(object).fillna(False).to_numpy(dtype=bool), copy=True)
    return values, ambiguous
