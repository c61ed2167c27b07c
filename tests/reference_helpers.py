"""Shared loader for the R ``survey`` reference cases in ``tests/reference``.

The oracles live inside the repository (copies of the shared folder, refreshed by
``scripts/sync_reference.py``): ``tests/reference`` (R reference JSON, README with the
format), ``tests/cases`` (field edge cases) and the data files the cases name as
``shared/data/<file>`` -- bundled with the package as ``happiness_index/data/<file>.gz``
where it ships them (the API samples, GSS), else copied to ``tests/data/<file>``
(:func:`data_file` resolves either). No test reads outside the repository.

Each JSON case (schema: ``tests/reference/README.md``) describes a dataset, a design
block, derived variables, an optional row subset or domain filter, and R's results.
This module turns a case into Python objects without ever evaluating R code:

* :func:`load_family` reads one JSON family and returns its cases;
* :func:`load_data` reads the case's dataset (:func:`data_file`), applies the case's
  ``row_subset`` and adds its derived variables (an explicit table mapping each R
  expression to pandas code, :data:`DERIVED`);
* :func:`build_design` builds a :class:`~happiness_index.SurveyDesign` (Taylor) or
  :class:`~happiness_index.ReplicateDesign` (replicate weights read from
  ``tests/data/repweights``) from the ``design`` block;
* :func:`domain_mask` turns a ``variables.domain`` filter such as
  ``"race == 1 & agecat == '(59,Inf]'"`` into a boolean Series (a tiny parser of
  ``column == literal`` terms joined by ``&``; anything else fails loudly);
* :func:`close` is the comparison rule of the README
  (``abs(py - r) <= tol * abs(r)``, absolute ``1e-12`` when ``r == 0``).

Unknown derived definitions, row subsets or domain filters raise :class:`KeyError`
/ :class:`ValueError` naming the expression, so a held-out case that needs a new
mapping is visible at once instead of silently passing.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

import happiness_index as hi

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: R ``survey`` reference JSON files (byte-for-byte copies of ``shared/reference``)
REFERENCE = TESTS / "reference"
#: field edge cases (byte-for-byte copies of ``shared/cases``)
CASES = TESTS / "cases"
#: copies of the ``shared/data`` files the package does not bundle
DATA = TESTS / "data"
#: the package's bundled data (gzip copies of ``shared/data/<name>.csv``)
PACKAGE_DATA = ROOT / "happiness_index" / "data"

__all__ = [
    "DERIVED",
    "ROW_SUBSETS",
    "REFERENCE",
    "CASES",
    "DATA",
    "data_file",
    "load_family",
    "load_data",
    "build_design",
    "domain_mask",
    "close",
    "r_filter",
    "r_number",
    "case_params",
]


# ---------------------------------------------------------------------------
# JSON access
# ---------------------------------------------------------------------------


def data_file(name: str | Path) -> Path:
    """The in-repository copy of a shared data file.

    Parameters
    ----------
    name : str or Path
        A path relative to ``shared/data`` (``"apiclus1.csv"``, ``"repweights/nhanes_brr.csv"``),
        optionally written with its ``shared/data/`` prefix as the reference JSON does.

    Returns
    -------
    Path
        ``happiness_index/data/<name>.gz`` when the package bundles the file, else
        ``tests/data/<name>`` (pandas reads both).

    Raises
    ------
    FileNotFoundError
        Neither copy exists (run ``python scripts/sync_reference.py``).
    """
    rel = Path(name).as_posix()
    for prefix in ("shared/data/", "data/"):
        if rel.startswith(prefix):
            rel = rel[len(prefix) :]
            break
    for path in (PACKAGE_DATA / f"{rel}.gz", DATA / rel):
        if path.is_file():
            return path
    raise FileNotFoundError(f"no copy of shared/data/{rel} in the repository; run python scripts/sync_reference.py")


def load_family(name: str) -> list[dict]:
    """The cases of one reference family (``name`` without ``.json``)."""
    with open(REFERENCE / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)["cases"]


def case_params(family: str) -> list:
    """``pytest.param(case, id=case_id)`` for every case of a family."""
    import pytest

    return [pytest.param(c, id=c["id"]) for c in load_family(family)]


def r_number(v):
    """A JSON value as R meant it: ``null`` -> NaN, ``"Inf"``/``"-Inf"`` -> +-inf."""
    if v is None:
        return math.nan
    if isinstance(v, str):
        if v == "Inf":
            return math.inf
        if v == "-Inf":
            return -math.inf
        if v == "NaN":
            return math.nan
        raise ValueError(f"not a number: {v!r}")
    return float(v)


def close(py, r, tol: float, abs_zero: float = 1e-12) -> bool:
    """README rule: ``|py - r| <= tol |r|``; absolute ``abs_zero`` when ``r == 0``; NaN == NaN."""
    r = r_number(r)
    py = float(py)
    if math.isnan(r):
        return math.isnan(py)
    if math.isinf(r):
        return py == r
    if r == 0:
        return abs(py) <= abs_zero
    return abs(py - r) <= tol * abs(r)


# ---------------------------------------------------------------------------
# derived variables: R expression -> pandas
# ---------------------------------------------------------------------------


def _num(b: pd.Series) -> pd.Series:
    """Boolean -> 0/1 float, keeping missing values missing."""
    return b.astype("float64")


def _cut5(x: pd.Series) -> pd.Series:
    # cut(x, c(-Inf, 500, 600, 700, 800, Inf), right=FALSE): intervals closed on the left
    codes = pd.cut(x, [-np.inf, 500, 600, 700, 800, np.inf], right=False, labels=False)
    return codes.astype("float64") + 1.0


#: R expression (exactly as in the case's ``variables.derived[*].r``) -> function of the
#: data frame returning the new column. Derived variables may use earlier ones.
DERIVED: dict[str, callable] = {
    "I(api00 > 700)": lambda d: _num(d["api00"] > 700),
    "I(ell == 0)": lambda d: _num(d["ell"] == 0),
    "as.numeric(api00 >= 700)": lambda d: _num(d["api00"] >= 700),
    "as.numeric(meals < 50)": lambda d: _num(d["meals"] < 50),
    "as.numeric(sch.wide == 'Yes')": lambda d: _num(d["sch.wide"] == "Yes"),
    "as.numeric(comp.imp == 'Yes')": lambda d: _num(d["comp.imp"] == "Yes"),
    "as.numeric(cut(api00, c(-Inf, 500, 600, 700, 800, Inf), right = FALSE))": lambda d: _cut5(d["api00"]),
    "as.numeric(score5 >= 4)": lambda d: _num(d["score5"] >= 4),
    # R's round() is half-to-even, as numpy's; NaN stays NaN
    "round(avg.ed)": lambda d: pd.Series(np.round(d["avg.ed"].to_numpy(dtype=float)), index=d.index),
    "0.4*ind_schwide + 0.3*ind_compimp + 0.2*ind_api700 + 0.1*ind_meals50": lambda d: (
        0.4 * d["ind_schwide"] + 0.3 * d["ind_compimp"] + 0.2 * d["ind_api700"] + 0.1 * d["ind_meals50"]
    ),
    "(ind_schwide + ind_compimp + ind_api700 + ind_meals50) / 4": lambda d: (
        (d["ind_schwide"] + d["ind_compimp"] + d["ind_api700"] + d["ind_meals50"]) / 4
    ),
    # achievements are multiples of 1/4, so the comparison is exact in binary floating point
    "as.numeric(af_achieve < 0.66)": lambda d: _num(d["af_achieve"] < 0.66),
    "(1 - af_achieve) * af_notyet": lambda d: (1 - d["af_achieve"]) * d["af_notyet"],
    "as.numeric(happy %in% c('very happy','pretty happy'))": lambda d: _num(
        d["happy"].isin(["very happy", "pretty happy"])
    ),
    # yrbs: qn8yes = 2 - qn8 (see tests/data/DATASETS.md)
    "2 - qn8": lambda d: 2 - d["qn8"],
    "I(2 - qn8)": lambda d: 2 - d["qn8"],
    "as.numeric(qn8 == 1)": lambda d: _num(d["qn8"] == 1).where(d["qn8"].notna()),
}


def _normalise_r(expr: str) -> str:
    """Whitespace-insensitive key; double quotes read as single quotes."""
    return "".join(expr.split()).replace('"', "'")


_DERIVED_NORMALISED = {_normalise_r(k): v for k, v in DERIVED.items()}


def add_derived(data: pd.DataFrame, derived: list[dict] | None) -> pd.DataFrame:
    """A copy of ``data`` with the case's derived variables added (in order)."""
    if not derived:
        return data
    out = data.copy()
    for dv in derived:
        fn = _DERIVED_NORMALISED.get(_normalise_r(dv["r"]))
        if fn is None:
            raise KeyError(
                f"no pandas mapping for the derived variable {dv['name']!r} = {dv['r']!r} "
                f"({dv.get('definition')}); add it to tests/reference_helpers.DERIVED"
            )
        out[dv["name"]] = fn(out)
    return out


# ---------------------------------------------------------------------------
# R row filters: a tiny safe parser (no eval)
# ---------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>%in%|==|!=|<=|>=|&&|\|\||[<>&|!(),])"
    r"|(?P<name>[A-Za-z_.][A-Za-z0-9_.]*))"
)


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read the R filter {expr!r} at {expr[pos:]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return out


def r_filter(data: pd.DataFrame, expr: str) -> pd.Series:
    """Evaluate an R row filter such as ``!(SDMVSTRA == 89 & SDMVPSU == 2)`` on ``data``.

    Grammar: comparisons ``column OP literal`` (OP in ``== != < <= > >=``),
    ``column %in% c(literal, ...)``, combined with ``!``, ``&``/``&&``, ``|``/``||`` and
    parentheses. Literals are numbers or quoted strings. Anything else raises
    :class:`ValueError` (no R code is evaluated).
    """
    toks = _tokens(expr)
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else (None, None)

    def take(value=None):
        nonlocal pos
        tok = peek()
        if value is not None and tok[1] != value:
            raise ValueError(f"expected {value!r} in R filter {expr!r}, got {tok[1]!r}")
        pos += 1
        return tok

    def literal():
        kind, v = take()
        if kind == "num":
            return float(v)
        if kind == "str":
            return v[1:-1]
        if kind == "name" and v in ("TRUE", "FALSE"):
            return v == "TRUE"
        raise ValueError(f"expected a literal in R filter {expr!r}, got {v!r}")

    def column(name):
        if name not in data.columns:
            raise ValueError(f"R filter {expr!r} names unknown column {name!r}")
        return data[name]

    def atom():
        kind, v = peek()
        if v == "!":
            take()
            return ~atom()
        if v == "(":
            take("(")
            out = disj()
            take(")")
            return out
        if kind != "name":
            raise ValueError(f"unexpected {v!r} in R filter {expr!r}")
        take()
        col = column(v)
        op = take()[1]
        if op == "%in%":
            take("c")
            take("(")
            vals = [literal()]
            while peek()[1] == ",":
                take(",")
                vals.append(literal())
            take(")")
            return col.isin(vals) & col.notna()
        lit = literal()
        left = col.astype("object") if isinstance(lit, str) else col
        res = {
            "==": lambda: left == lit,
            "!=": lambda: left != lit,
            "<": lambda: left < lit,
            "<=": lambda: left <= lit,
            ">": lambda: left > lit,
            ">=": lambda: left >= lit,
        }.get(op)
        if res is None:
            raise ValueError(f"unknown operator {op!r} in R filter {expr!r}")
        return res().fillna(False).astype(bool) & col.notna()

    def conj():
        out = atom()
        while peek()[1] in ("&", "&&"):
            take()
            out = out & atom()
        return out

    def disj():
        out = conj()
        while peek()[1] in ("|", "||"):
            take()
            out = out | conj()
        return out

    result = disj()
    if pos != len(toks):
        raise ValueError(f"trailing text in R filter {expr!r}: {toks[pos:]}")
    return result.astype(bool)


# ---------------------------------------------------------------------------
# row subsets (``design.row_subset``)
# ---------------------------------------------------------------------------

#: Start of the ``row_subset`` text -> row filter, used when the r_call has no
#: ``subset(<dataset>, ...)`` to read (the R subset() call is in the case's r_call).
ROW_SUBSETS: dict[str, callable] = {
    # apistrat_lonely <- subset(apistrat, stype != 'H' | snum == 280)
    "apistrat rows with stype != 'H', plus the single H school with snum == 280": lambda d: (
        (d["stype"] != "H") | (d["snum"] == 280)
    ),
    # nhanes_lonely <- subset(nhanes, !(SDMVSTRA == 89 & SDMVPSU == 2))
    "nhanes rows except those with SDMVSTRA == 89 and SDMVPSU == 2": lambda d: (
        ~((d["SDMVSTRA"] == 89) & (d["SDMVPSU"] == 2))
    ),
}


def _subset_call(r_call: str, dataset: str) -> str | None:
    """The filter of ``subset(<dataset>, FILTER)`` in an R call (balanced parentheses)."""
    m = re.search(r"subset\(\s*" + re.escape(dataset) + r"\s*,", r_call or "")
    if not m:
        return None
    depth, i = 1, m.end()
    start = i
    while i < len(r_call) and depth:
        if r_call[i] == "(":
            depth += 1
        elif r_call[i] == ")":
            depth -= 1
        i += 1
    return r_call[start : i - 1].strip() if depth == 0 else None


def _row_subset(data: pd.DataFrame, text: str | None, r_call: str = "", dataset: str = "") -> pd.DataFrame:
    if not text:
        return data
    expr = _subset_call(r_call, dataset)
    if expr is not None:
        return data[r_filter(data, expr).to_numpy()].reset_index(drop=True)
    for prefix, fn in ROW_SUBSETS.items():
        if text.startswith(prefix):
            return data[fn(data).to_numpy()].reset_index(drop=True)
    raise KeyError(f"no mapping for row_subset {text!r}; add it to tests/reference_helpers.ROW_SUBSETS")


@cache
def _read_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(data_file(f"{name}.csv"), encoding="utf-8")


def load_data(case: dict) -> pd.DataFrame:
    """The case's data: the CSV, its row subset and its derived variables (a fresh copy)."""
    design = case["design"]
    data = _read_csv(case["dataset"]).copy()
    data = _row_subset(data, design.get("row_subset"), case.get("r_call", ""), case["dataset"])
    return add_derived(data, (case.get("variables") or {}).get("derived"))


# ---------------------------------------------------------------------------
# domain filters (``variables.domain``)
# ---------------------------------------------------------------------------


def domain_mask(data: pd.DataFrame, expr: str) -> pd.Series:
    """Boolean Series for a domain filter such as ``race == 1 & agecat == '(59,Inf]'``.

    A trailing parenthetical comment without comparisons (``"... (Hispanic, age 60+)"``)
    is ignored; the rest is read by :func:`r_filter` (unknown syntax raises).
    """
    text = expr.strip()
    m = re.search(r"\s+\(([^()']*)\)\s*$", text)
    if m and not re.search(r"==|!=|<|>|%in%", m.group(1)):
        text = text[: m.start()]
    return r_filter(data, text)


# ---------------------------------------------------------------------------
# designs
# ---------------------------------------------------------------------------


def _lonely_rule(text: str | None) -> str:
    if not text:
        return "fail"
    rule = text.split()[0]
    if rule not in ("fail", "remove", "adjust", "average", "certainty"):
        raise ValueError(f"unknown lonely PSU rule in {text!r}")
    return rule


def _fpc_entry(v, data):
    """One fpc entry: a column name, or a constant (``5``, ``"5"``, ``"rep(5, 6)"``)."""
    if isinstance(v, (int, float)):
        return float(v)
    if data is not None and v in data.columns:
        return v
    m = re.fullmatch(r"\s*(?:rep\(\s*)?([0-9.eE+]+)\s*(?:,\s*[0-9]+\s*\))?\s*", str(v))
    if m:
        return float(m.group(1))
    if data is None:
        return v
    raise KeyError(f"fpc entry {v!r} is neither a column nor a constant")


def taylor_kwargs(design: dict, data: pd.DataFrame | None = None) -> dict:
    """Keyword arguments of :class:`SurveyDesign` for a Taylor design block."""
    ids = design.get("ids") or ["1"]
    if ids == ["1"]:
        psu = None
    elif len(ids) == 1:
        psu = ids[0]
    else:
        psu = list(ids)
    fpc = design.get("fpc")
    if fpc is not None and not isinstance(fpc, list):
        fpc = [fpc]
    if fpc is not None:
        fpc = [_fpc_entry(v, data) for v in fpc]
        if len(fpc) == 1:
            fpc = fpc[0]
    return dict(
        weights=design.get("weights"),
        strata=design.get("strata"),
        psu=psu,
        fpc=fpc,
        nest=bool(design.get("nest", False)),
        lonely_psu=_lonely_rule(design.get("lonely_psu")),
        adjust_domain_lonely=bool(design.get("adjust_domain_lonely", False)),
    )


_REP_METHOD = {"jk1": "jk1", "jkn": "jkn", "brr": "brr", "fay": "fay", "bootstrap": "bootstrap", "other": "other"}


@cache
def _read_repweights(path: str) -> np.ndarray:
    rw = pd.read_csv(data_file(path))
    cols = [c for c in rw.columns if c.startswith("rep_")]
    order = np.argsort(rw["row"].to_numpy())
    return rw[cols].to_numpy(dtype=float)[order]


def build_design(case: dict, data: pd.DataFrame | None = None):
    """The :class:`SurveyDesign` or :class:`ReplicateDesign` a case describes.

    Parameters
    ----------
    case : dict
        A reference case.
    data : DataFrame, optional
        The case's data (default :func:`load_data`).

    Returns
    -------
    (design, data)
    """
    if data is None:
        data = load_data(case)
    design = case["design"]
    kind = design["kind"]
    if kind == "taylor_linearization":
        kw = taylor_kwargs(design, data)
        if kw["weights"] is None and re.search(r"\bprobs?\s*=\s*~\s*1\b", design.get("r_design", "")):
            # prob=~1: every weight is 1 even when an fpc is given (R does not derive them)
            data = data.copy()
            data["_weight_one"] = 1.0
            kw["weights"] = "_weight_one"
        return hi.SurveyDesign(data, **kw), data
    if kind == "replicate_weights":
        path = design["repweights_file"]
        W = _read_repweights(path)
        if W.shape[0] != len(data):
            raise ValueError(f"{path} has {W.shape[0]} rows, the data {len(data)}")
        wcol = design.get("full_sample_weights")
        if wcol not in data.columns:
            if re.match(r"^\s*(1\b|rep\(\s*1\s*,|none|all 1|null)", str(wcol), re.IGNORECASE) or wcol is None:
                data = data.copy()
                data["_one"] = 1.0
                wcol = "_one"
            else:
                raise KeyError(f"full_sample_weights {wcol!r} is not a column")
        method = _REP_METHOD[design["replicate_type"].lower()]
        rscales = design.get("rscales")
        if rscales is not None and not isinstance(rscales, list):
            rscales = [float(rscales)] * W.shape[1]
        m = re.search(r"fay\.rho\s*=\s*([0-9.]+)", design.get("r_design", ""))
        rho = float(m.group(1)) if m else None
        rep = hi.ReplicateDesign(
            data,
            weights=wcol,
            replicate_weights=W,
            method=method,
            rho=rho,
            scale=float(design["scale"]),
            rscales=rscales,
            mse=bool(design.get("mse", False) or (case.get("options") or {}).get("mse", False)),
        )
        return rep, data
    raise ValueError(f"unknown design kind {kind!r}")
