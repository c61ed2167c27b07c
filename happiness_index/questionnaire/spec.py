"""The index specification: what the questionnaire asks and how answers become an index.

An :class:`IndexSpec` is an immutable, fully explicit description of a happiness index:

* the **items** (survey columns) with their type, allowed codes, missing-value codes and the
  "satisfied" (sufficiency) cut-off;
* the **components** (e.g. life satisfaction, life-expectancy rating, living environment), each
  built from items by a declared rule;
* the **aggregation**: a named preset and/or an explicit formula in the safe formula language
  (:mod:`happiness_index.formula`), component weights, the output scale;
* the **reporting** metadata: level bands, yearly targets with their sources, the sample-design
  column names, publication thresholds, skip rules, labels in Vietnamese and English.

Specifications are stored as TOML files (``methodology/*.toml``) and validated when loaded:
any problem raises :class:`~happiness_index.errors.SpecError` naming the key and, when read
from a file, the line. A spec object does no I/O apart from :meth:`IndexSpec.from_toml`.

References
----------
Alkire, S. and Foster, J. (2011). Counting and multidimensional poverty measurement.
*Journal of Public Economics* 95(7-8), 476-487.

Ura, K., Alkire, S., Zangmo, T. and Wangdi, K. (2012). *A Short Guide to Gross National
Happiness Index*. Thimphu: The Centre for Bhutan Studies.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FormulaError, SpecError
from .distribution_spec import parse_distributions
from .formula import Formula
from .robustness_spec import RobustnessSpecProblem, parse_robustness

#: a spec is a short text; anything larger is a wrong path (a data file, a device)
_MAX_SPEC_BYTES = 4 * 2**20

__all__ = [
    "Labels",
    "Item",
    "Component",
    "Normalisation",
    "Level",
    "Target",
    "DesignColumns",
    "Publication",
    "AFSettings",
    "SkipRule",
    "IndexSpec",
    "PRESETS",
    "ITEM_TYPES",
    "COMPONENT_RULES",
    "bundled_spec_path",
]

#: Aggregation presets understood by :func:`happiness_index.compute_index`.
PRESETS = ("nef_ratio", "af_gnh", "mean_of_shares", "mean_score", "geometric", "custom")
#: Item (question) types.
ITEM_TYPES = ("likert5", "scale0_10", "yes_no", "categorical", "integer")
#: Rules that turn item indicators into a component.
COMPONENT_RULES = ("mean_of_item_shares", "all_satisfied", "at_least_k")
#: Item types whose codes are ordered, so that "satisfied" is a cut-off ``value >= cutoff``.
ORDERED_TYPES = ("likert5", "scale0_10", "integer")

_DEFAULT_CODES = {
    "likert5": (1, 2, 3, 4, 5),
    "scale0_10": tuple(range(11)),
    "yes_no": (0, 1),
}
_WEIGHT_TOL = 1e-9


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


# --------------------------------------------------------------------------------------
# problems found while building a spec (carry the key path; turned into SpecError)
# --------------------------------------------------------------------------------------
class _SpecProblem(Exception):
    def __init__(self, path: tuple, message: str, cls: type = SpecError):
        super().__init__(message)
        self.path = tuple(path)
        self.message = message
        self.cls = cls


def _key_text(path: tuple) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "<top level>"


def _locate(text: str, path: tuple) -> int | None:
    """Best-effort 1-based line of ``path`` (e.g. ``("items", 2, "satisfied")``) in TOML text."""
    pos = 0
    found_any = False
    i = 0
    while i < len(path):
        key = path[i]
        nxt = path[i + 1] if i + 1 < len(path) else None
        if isinstance(key, int):
            i += 1
            continue
        k = re.escape(str(key))
        if isinstance(nxt, int):
            pat = re.compile(rf"^\s*\[\[\s*(?:[\w.\"]+\.)?\"?{k}\"?\s*\]\]", re.M)
            matches = list(pat.finditer(text, pos))
            if len(matches) > nxt:
                pos = matches[nxt].start()
                found_any = True
            else:
                # an array written inline (key = [ ... ]): point at the key
                m = re.compile(rf"^\s*\"?{k}\"?\s*=", re.M).search(text, pos)
                if m is None:
                    break
                pos, found_any = m.start(), True
            i += 2
            continue
        pat = re.compile(rf"(^\s*\[\s*(?:[\w.\"]+\.)?\"?{k}\"?\s*\]|^\s*\"?{k}\"?\s*=|[{{,]\s*\"?{k}\"?\s*=)", re.M)
        m = pat.search(text, pos)
        if m is None:
            break
        pos, found_any = m.start(), True
        i += 1
    if not found_any:
        return None
    # skip leading newline matched by \s*
    while pos < len(text) and text[pos] == "\n":
        pos += 1
    return text.count("\n", 0, pos) + 1


# --------------------------------------------------------------------------------------
# small typed readers for dict content
# --------------------------------------------------------------------------------------
def _check_keys(d: Mapping, allowed: set, path: tuple, required: tuple = ()) -> None:
    if not isinstance(d, Mapping):
        raise _SpecProblem(path, f"expected a table, got {type(d).__name__} {d!r}")
    for k in d:
        if k not in allowed:
            raise _SpecProblem(
                path + (k,),
                f"unknown key {k!r}; allowed keys here are {', '.join(sorted(allowed))} (check the spelling)",
            )
    for k in required:
        if k not in d:
            raise _SpecProblem(path + (k,), f"required key {k!r} is missing")


def _str(v: Any, path: tuple, *, optional: bool = False) -> str | None:
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v.strip():
        raise _SpecProblem(path, f"expected a non-empty text value, got {v!r}")
    return _nfc(v.strip())


def _num(v: Any, path: tuple, *, optional: bool = False) -> float | None:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _SpecProblem(path, f"expected a number, got {v!r}")
    return float(v)


def _code(v: Any, path: tuple):
    """A code: an int when integral (4.0 -> 4), a float otherwise, or NFC text."""
    if isinstance(v, bool):
        raise _SpecProblem(path, f"expected a number or text code, got {v!r}")
    if isinstance(v, str):
        return _nfc(v.strip())
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            raise _SpecProblem(path, f"a code must be finite, got {v!r}")
        return int(v) if float(v).is_integer() else float(v)
    raise _SpecProblem(path, f"expected a number or text code, got {v!r}")


def _is_number_text(s: str) -> bool:
    try:
        return math.isfinite(float(s.strip()))
    except ValueError:
        return False


def _codes(v: Any, path: tuple) -> tuple:
    if not isinstance(v, (list, tuple)):
        raise _SpecProblem(path, f"expected a list of codes, got {v!r}")
    out = tuple(_code(x, path) for x in v)
    if len(set(out)) != len(out):
        dup = sorted({x for x in out if out.count(x) > 1}, key=str)
        raise _SpecProblem(path, f"codes listed twice: {dup}")
    return out


def _bool(v: Any, path: tuple) -> bool:
    if not isinstance(v, bool):
        raise _SpecProblem(path, f"expected true or false, got {v!r}")
    return v


# --------------------------------------------------------------------------------------
# the dataclasses
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Labels:
    """A label in Vietnamese (``vi``) and English (``en``), NFC-normalised."""

    vi: str = ""
    en: str = ""

    @classmethod
    def _from(cls, d: Any, path: tuple) -> Labels:
        if d is None:
            return cls()
        _check_keys(d, {"vi", "en"}, path)
        return cls(
            vi=_nfc(str(d.get("vi", "")).strip()),
            en=_nfc(str(d.get("en", "")).strip()),
        )

    def to_dict(self) -> dict:
        return {"vi": self.vi, "en": self.en}


@dataclass(frozen=True)
class Item:
    """One survey question (one column of the microdata).

    Parameters
    ----------
    name : str
        The column name in the survey file (NFC-normalised).
    labels : Labels
        Question wording or short label in Vietnamese and English.
    type : {"likert5", "scale0_10", "yes_no", "categorical", "integer"}
        ``likert5`` codes 1-5, ``scale0_10`` codes 0-10 and ``yes_no`` codes 0/1 by default;
        ``categorical`` needs explicit ``codes`` (numbers or text); ``integer`` accepts any
        integer within ``[minimum, maximum]`` (either bound may be omitted).
    codes : tuple
        Allowed valid codes (empty for ``integer``).
    missing_codes : tuple
        Codes that mean "missing" (e.g. 8 = don't know, 9 = refused); mapped to missing.
    satisfied : float, tuple or None
        Sufficiency cut-off. For ordered types (likert5, scale0_10, integer) a number: a
        respondent is satisfied when ``value >= satisfied``. For ``yes_no`` and
        ``categorical`` a tuple of the codes that count as satisfied. ``None``: the item is
        not an indicator (an auxiliary column such as age).
    weight : float or None
        Indicator weight (used by the ``af_gnh`` preset: the weights of the
        Alkire-Foster counting step).
    required : bool, default True
        The column must be present in the survey file.
    nullable : bool, default True
        Values may be missing (blank or a missing code).
    minimum, maximum : float or None
        Bounds of an ``integer`` item.
    """

    name: str
    labels: Labels = Labels()
    type: str = "likert5"
    codes: tuple = ()
    missing_codes: tuple = ()
    satisfied: Any = None
    weight: float | None = None
    required: bool = True
    nullable: bool = True
    minimum: float | None = None
    maximum: float | None = None

    _KEYS = frozenset(
        {
            "name",
            "labels",
            "type",
            "codes",
            "missing_codes",
            "satisfied",
            "weight",
            "required",
            "nullable",
            "minimum",
            "maximum",
        }
    )

    @property
    def ordered(self) -> bool:
        """True when the item's codes are ordered (satisfied is a ``>=`` cut-off)."""
        return self.type in ORDERED_TYPES

    @property
    def numeric(self) -> bool:
        """True when all codes are numbers (the column is validated as numeric)."""
        return all(not isinstance(c, str) for c in self.codes + self.missing_codes)

    def allows(self, value) -> bool:
        """Whether a single valid (non-missing) ``value`` is an allowed code of this item."""
        if self.type == "integer":
            if isinstance(value, str) or not float(value).is_integer():
                return False
            lo = -math.inf if self.minimum is None else self.minimum
            hi = math.inf if self.maximum is None else self.maximum
            return lo <= value <= hi
        return value in self.codes

    def describe_codes(self, lang: str = "en") -> str:
        """Short description of the allowed codes, used as the name of the validation check.

        ``"in range 1..5"`` for contiguous integer codes, ``"in codes {1, 2, 7}"`` otherwise,
        ``"integer in range 0..120"`` for integer items; ``lang="vi"`` gives the same in
        Vietnamese (``"trong khoảng 1..5"``) for Vietnamese messages.
        """
        words = {
            "en": ("integer in range", "in range", "in codes"),
            "vi": ("số nguyên trong khoảng", "trong khoảng", "thuộc các mã"),
        }[lang]
        if self.type == "integer":
            lo = "" if self.minimum is None else _fmt_num(self.minimum)
            hi = "" if self.maximum is None else _fmt_num(self.maximum)
            return f"{words[0]} {lo}..{hi}"
        c = self.codes
        if c and all(isinstance(x, int) for x in c):
            s = sorted(c)
            if s == list(range(s[0], s[-1] + 1)) and len(s) > 2:
                return f"{words[1]} {s[0]}..{s[-1]}"
        return f"{words[2]} {{" + ", ".join(_fmt_num(x) if not isinstance(x, str) else repr(x) for x in c) + "}"

    @classmethod
    def _from(cls, d: Any, path: tuple) -> Item:
        _check_keys(d, cls._KEYS, path, required=("name",))
        name = _str(d["name"], path + ("name",))
        typ = d.get("type", "likert5")
        if typ not in ITEM_TYPES:
            raise _SpecProblem(path + ("type",), f"unknown item type {typ!r}; use one of {', '.join(ITEM_TYPES)}")
        if "codes" in d:
            codes = _codes(d["codes"], path + ("codes",))
            if not codes and typ != "integer":
                raise _SpecProblem(
                    path + ("codes",),
                    f"item {name!r}: 'codes' is empty; list the valid answer codes "
                    f"(e.g. codes = [1, 2, 3, 4, 5])"
                    + (
                        ""
                        if typ == "categorical"
                        else f", or leave 'codes' out to use the {typ} default {list(_DEFAULT_CODES.get(typ, ()))}"
                    ),
                )
        else:
            if typ == "categorical":
                raise _SpecProblem(path + ("codes",), f"categorical item {name!r} needs 'codes'")
            codes = _DEFAULT_CODES.get(typ, ())
        if typ == "integer" and codes:
            raise _SpecProblem(
                path + ("codes",),
                f"integer item {name!r} takes 'minimum'/'maximum', not 'codes' "
                '(use type = "categorical" for a list of codes)',
            )
        if typ != "integer" and ("minimum" in d or "maximum" in d):
            raise _SpecProblem(
                path + ("minimum" if "minimum" in d else "maximum",),
                f"'minimum'/'maximum' apply to integer items only, item {name!r} is {typ}",
            )
        if typ != "categorical" and any(isinstance(c, str) for c in codes):
            raise _SpecProblem(path + ("codes",), f"{typ} item {name!r} needs numeric codes")
        missing = _codes(d.get("missing_codes", []), path + ("missing_codes",))
        both = set(codes) & set(missing)
        if both:
            raise _SpecProblem(
                path + ("missing_codes",),
                f"item {name!r}: codes {sorted(both, key=str)} are both valid and missing codes",
            )
        mn = _num(d.get("minimum"), path + ("minimum",), optional=True)
        mx = _num(d.get("maximum"), path + ("maximum",), optional=True)
        if mn is not None and mx is not None and mn > mx:
            raise _SpecProblem(path + ("minimum",), f"item {name!r}: minimum {mn} > maximum {mx}")
        item = cls(
            name=name,
            labels=Labels._from(d.get("labels"), path + ("labels",)),
            type=typ,
            codes=codes,
            missing_codes=missing,
            satisfied=None,
            weight=_num(d.get("weight"), path + ("weight",), optional=True),
            required=_bool(d.get("required", True), path + ("required",)),
            nullable=_bool(d.get("nullable", True), path + ("nullable",)),
            minimum=mn,
            maximum=mx,
        )
        if item.type == "integer" and missing:
            for m in missing:
                if not isinstance(m, str) and item.allows(m):
                    raise _SpecProblem(
                        path + ("missing_codes",),
                        f"item {name!r}: missing code {m} lies inside the valid range {item.describe_codes()}",
                    )
        sat = d.get("satisfied")
        if sat is not None:
            sp = path + ("satisfied",)
            if item.ordered:
                if isinstance(sat, (list, tuple)):
                    raise _SpecProblem(
                        sp, f"item {name!r} is {typ}: 'satisfied' is a single cut-off (value >= cut-off is satisfied)"
                    )
                if isinstance(sat, bool) or not isinstance(sat, (int, float)):
                    raise _SpecProblem(
                        sp,
                        f"the cut-off of item {name!r} must be a number ({typ} item: value >= "
                        f"cut-off is satisfied), got {type(sat).__name__} {sat!r}"
                        + (
                            f"; write it without quotes: satisfied = {sat.strip()}"
                            if isinstance(sat, str) and _is_number_text(sat)
                            else ""
                        ),
                    )
                cut = _code(sat, sp)
                if not item.allows(cut):
                    raise _SpecProblem(
                        sp,
                        f"cut-off {sat!r} of item {name!r} is outside the item's codes "
                        f"({item.describe_codes()}); use one of the valid codes",
                    )
                sat = cut
            else:
                vals = sat if isinstance(sat, (list, tuple)) else [sat]
                sat = _codes(vals, sp)
                bad = [v for v in sat if v not in item.codes]
                if bad or not sat:
                    raise _SpecProblem(
                        sp,
                        f"satisfied codes {bad or '[]'} of item {name!r} are not among its codes "
                        f"({item.describe_codes()})",
                    )
            object.__setattr__(item, "satisfied", sat)
        if item.weight is not None and item.weight < 0:
            raise _SpecProblem(path + ("weight",), f"item {name!r} has a negative weight {item.weight}")
        return item

    def to_dict(self) -> dict:
        d: dict = {"name": self.name, "labels": self.labels.to_dict(), "type": self.type}
        if self.codes or self.type not in ("integer",):
            d["codes"] = list(self.codes)
        if self.minimum is not None:
            d["minimum"] = self.minimum
        if self.maximum is not None:
            d["maximum"] = self.maximum
        d["missing_codes"] = list(self.missing_codes)
        if self.satisfied is not None:
            d["satisfied"] = list(self.satisfied) if isinstance(self.satisfied, tuple) else self.satisfied
        if self.weight is not None:
            d["weight"] = self.weight
        d["required"] = self.required
        d["nullable"] = self.nullable
        return d


@dataclass(frozen=True)
class Normalisation:
    """Min-max normalisation of a component before the aggregation (field case c15).

    The component value ``x`` (in the spec's scale) enters the formula as
    ``top * (x - min) / (max - min)``, clipped to ``[0, top]``, where ``top`` is 100 for
    ``scale = "percent"`` and 1 for ``"proportion"`` -- the "goalposts" of the UNDP Human
    Development Index. A component at or below ``min`` becomes 0, which a geometric mean
    cannot take: the spec's ``zero_rule`` decides (``"error"``: refused, naming the
    component; a positive floor: values below it are raised to it).

    Parameters
    ----------
    method : {"minmax"}
    min, max : float
        The goalposts, in the spec's scale; ``min < max``.

    References
    ----------
    UNDP (2023). *Human Development Report 2023/2024, Technical notes*, "Human Development
    Index": dimension index = (actual - minimum) / (maximum - minimum).
    """

    method: str
    min: float
    max: float

    _KEYS = frozenset({"method", "min", "max"})

    @classmethod
    def _from(cls, d: Any, path: tuple) -> Normalisation | None:
        if d is None:
            return None
        _check_keys(d, cls._KEYS, path, required=("method", "min", "max"))
        method = d["method"]
        if method != "minmax":
            raise _SpecProblem(path + ("method",), f'unknown normalisation {method!r}; use "minmax"')
        lo, hi = _num(d["min"], path + ("min",)), _num(d["max"], path + ("max",))
        if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
            raise _SpecProblem(
                path + ("max",), f"min-max normalisation needs finite min < max, got min = {lo!r}, max = {hi!r}"
            )
        return cls(method=method, min=float(lo), max=float(hi))

    def to_dict(self) -> dict:
        return {"method": self.method, "min": self.min, "max": self.max}

    def apply(self, x, top: float):
        """``top * (x - min) / (max - min)`` clipped to ``[0, top]`` (float or array)."""
        v = top * (np.asarray(x, dtype=float) - self.min) / (self.max - self.min)
        v = np.clip(v, 0.0, top)
        return float(v) if v.ndim == 0 else v


@dataclass(frozen=True)
class Component:
    """One component (criterion, domain) of the index, built from items.

    Parameters
    ----------
    name : str
        Identifier used in the formula (e.g. ``ls``).
    labels : Labels
    rule : {"mean_of_item_shares", "all_satisfied", "at_least_k"}
        ``mean_of_item_shares``: the component is the mean over its items of the share of
        respondents satisfied on each item; ``all_satisfied``: the share of respondents
        satisfied on every item; ``at_least_k``: the share satisfied on at least ``k`` items.
    k : int or None
        Required for ``at_least_k``; ``1 <= k <= len(items)``.
    weight : float or None
        Component weight in the aggregation (presets ``mean_of_shares``, ``mean_score``,
        ``geometric``; domain weight for ``af_gnh``).
    items : tuple of str
        Names of the items (columns) of this component.
    normalise : Normalisation or None
        Min-max normalisation of the component before the aggregation (TOML:
        ``normalise = { method = "minmax", min = 20, max = 80 }``); None: used as is.
    """

    name: str
    labels: Labels = Labels()
    rule: str = "mean_of_item_shares"
    k: int | None = None
    weight: float | None = None
    items: tuple = ()
    normalise: Normalisation | None = None

    _KEYS = frozenset({"name", "labels", "rule", "k", "weight", "items", "normalise"})

    @classmethod
    def _from(cls, d: Any, path: tuple) -> Component:
        _check_keys(d, cls._KEYS, path, required=("name", "items"))
        name = _str(d["name"], path + ("name",))
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise _SpecProblem(
                path + ("name",),
                f"component name {name!r} must be an identifier (letters, digits, _) to be used in the formula",
            )
        rule = d.get("rule", "mean_of_item_shares")
        if rule not in COMPONENT_RULES:
            raise _SpecProblem(path + ("rule",), f"unknown rule {rule!r}; use one of {', '.join(COMPONENT_RULES)}")
        items = d["items"]
        if not isinstance(items, (list, tuple)) or not items:
            raise _SpecProblem(path + ("items",), f"component {name!r} needs a non-empty list of items")
        items = tuple(_str(x, path + ("items",)) for x in items)
        if len(set(items)) != len(items):
            raise _SpecProblem(path + ("items",), f"component {name!r} lists an item twice")
        k = d.get("k")
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, int):
                raise _SpecProblem(path + ("k",), f"k must be an integer, got {k!r}")
            if rule != "at_least_k":
                raise _SpecProblem(
                    path + ("k",), f"k applies to rule 'at_least_k' only, component {name!r} has rule {rule!r}"
                )
            if not 1 <= k <= len(items):
                raise _SpecProblem(
                    path + ("k",), f"k = {k} but component {name!r} has {len(items)} items; need 1 <= k <= {len(items)}"
                )
        elif rule == "at_least_k":
            raise _SpecProblem(path + ("k",), f"rule 'at_least_k' of component {name!r} needs k")
        w = _num(d.get("weight"), path + ("weight",), optional=True)
        if w is not None and w < 0:
            raise _SpecProblem(path + ("weight",), f"component {name!r} has a negative weight {w}")
        return cls(
            name=name,
            labels=Labels._from(d.get("labels"), path + ("labels",)),
            rule=rule,
            k=k,
            weight=w,
            items=items,
            normalise=Normalisation._from(d.get("normalise"), path + ("normalise",)),
        )

    def to_dict(self) -> dict:
        d: dict = {"name": self.name, "labels": self.labels.to_dict(), "rule": self.rule}
        if self.k is not None:
            d["k"] = self.k
        if self.weight is not None:
            d["weight"] = self.weight
        d["items"] = list(self.items)
        if self.normalise is not None:
            d["normalise"] = self.normalise.to_dict()
        return d


@dataclass(frozen=True)
class Level:
    """A level band ``lower <= value < upper`` (the last band includes its upper bound)."""

    lower: float
    upper: float
    labels: Labels = Labels()

    @classmethod
    def _from(cls, d: Any, path: tuple) -> Level:
        _check_keys(d, {"lower", "upper", "labels"}, path, required=("lower", "upper"))
        lo = _num(d["lower"], path + ("lower",))
        hi = _num(d["upper"], path + ("upper",))
        if not lo < hi:
            raise _SpecProblem(path + ("upper",), f"band upper bound {hi} must exceed lower bound {lo}")
        return cls(lower=lo, upper=hi, labels=Labels._from(d.get("labels"), path + ("labels",)))

    def to_dict(self) -> dict:
        return {"lower": self.lower, "upper": self.upper, "labels": self.labels.to_dict()}


@dataclass(frozen=True)
class Target:
    """A yearly target of the index, in the spec's scale (percent), with its source."""

    year: int
    value: float
    source: str

    @classmethod
    def _from(cls, d: Any, path: tuple) -> Target:
        _check_keys(d, {"year", "value", "source"}, path, required=("year", "value", "source"))
        y = d["year"]
        if isinstance(y, bool) or not isinstance(y, int):
            raise _SpecProblem(path + ("year",), f"year must be an integer, got {y!r}")
        return cls(year=y, value=_num(d["value"], path + ("value",)), source=_str(d["source"], path + ("source",)))

    def to_dict(self) -> dict:
        return {"year": self.year, "value": self.value, "source": self.source}


@dataclass(frozen=True)
class DesignColumns:
    """Names of the sample-design columns in the survey file (``None`` = not used).

    ``commune`` is the reporting domain (commune/ward code), ``commune_name`` its name
    (checked against the frame when present in the data), ``village`` the village code.

    Four optional labels (text, not column names) name the domains and the whole population
    in reports: ``commune_label_vi`` / ``commune_label_en`` (e.g. "Vùng" / "Region"; default
    "Xã / phường" / "Commune / ward") and ``population_label_vi`` / ``population_label_en``
    (e.g. "thành phố" / "city"; default "toàn bộ" / "overall").
    """

    id: str | None = None
    weights: str | None = None
    strata: str | None = None
    psu: str | None = None
    fpc: str | None = None
    commune: str | None = None
    commune_name: str | None = None
    village: str | None = None
    commune_label_vi: str | None = None
    commune_label_en: str | None = None
    population_label_vi: str | None = None
    population_label_en: str | None = None

    _KEYS = (
        "id",
        "weights",
        "strata",
        "psu",
        "fpc",
        "commune",
        "commune_name",
        "village",
        "commune_label_vi",
        "commune_label_en",
        "population_label_vi",
        "population_label_en",
    )

    @classmethod
    def _from(cls, d: Any, path: tuple) -> DesignColumns:
        if d is None:
            return cls()
        _check_keys(d, set(cls._KEYS), path)
        return cls(**{k: _str(d.get(k), path + (k,), optional=True) for k in cls._KEYS})

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self._KEYS if getattr(self, k) is not None}


#: Default publication thresholds applied when a spec's ``[publication]`` block omits them
#: (see ``methodology/index.md``, "Publication rule"): the half-width of the interval at most
#: 10 index points (0.10 on the proportion scale) and at least 5 design degrees of freedom.
DEFAULT_MAX_CI_HALFWIDTH_POINTS = 10.0
DEFAULT_MIN_DF = 5


@dataclass(frozen=True)
class Publication:
    """Thresholds for publishing a commune estimate.

    ``min_n``: at least this many respondents; ``max_cv``: coefficient of variation
    (SE / estimate, a proportion) at most this; ``max_ci_halfwidth``: half the width of the
    confidence interval at most this, in the index's own units (percentage points on the
    percent scale); ``min_df``: at least this many design degrees of freedom. ``None``
    means "not set": :meth:`effective` then applies the documented defaults
    (:data:`DEFAULT_MAX_CI_HALFWIDTH_POINTS`, :data:`DEFAULT_MIN_DF`); ``max_ci_halfwidth =
    inf`` or ``min_df = 0`` switches a check off.
    """

    min_n: int | None = None
    max_cv: float | None = None
    max_ci_halfwidth: float | None = None
    min_df: int | None = None

    @classmethod
    def _from(cls, d: Any, path: tuple) -> Publication:
        if d is None:
            return cls()
        _check_keys(d, {"min_n", "max_cv", "max_ci_halfwidth", "min_df"}, path)
        n = d.get("min_n")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise _SpecProblem(path + ("min_n",), f"min_n must be a positive integer, got {n!r}")
        cv = _num(d.get("max_cv"), path + ("max_cv",), optional=True)
        if cv is not None and not cv > 0:
            raise _SpecProblem(path + ("max_cv",), f"max_cv must be positive, got {cv}")
        hw = _num(d.get("max_ci_halfwidth"), path + ("max_ci_halfwidth",), optional=True)
        if hw is not None and not hw > 0:
            raise _SpecProblem(
                path + ("max_ci_halfwidth",),
                f"max_ci_halfwidth must be positive (index points; inf switches it off), got {hw}",
            )
        mdf = d.get("min_df")
        if mdf is not None and (isinstance(mdf, bool) or not isinstance(mdf, int) or mdf < 0):
            raise _SpecProblem(
                path + ("min_df",), f"min_df must be a whole number >= 0 (0 switches it off), got {mdf!r}"
            )
        return cls(min_n=n, max_cv=cv, max_ci_halfwidth=hw, min_df=mdf)

    def effective(self, scale: str = "percent") -> dict:
        """The thresholds in force: the spec's values, the defaults for the unset CI half-width
        (10 points; 0.10 on the proportion scale) and df (5); ``None`` = not checked."""
        hw = self.max_ci_halfwidth
        if hw is None:
            hw = DEFAULT_MAX_CI_HALFWIDTH_POINTS / (100.0 if scale == "proportion" else 1.0)
        mdf = DEFAULT_MIN_DF if self.min_df is None else self.min_df
        return {
            "min_n": self.min_n,
            "max_cv": self.max_cv,
            "max_ci_halfwidth": hw if math.isfinite(hw) else None,
            "min_df": mdf or None,
        }

    def to_dict(self) -> dict:
        return {
            k: v
            for k, v in (
                ("min_n", self.min_n),
                ("max_cv", self.max_cv),
                ("max_ci_halfwidth", self.max_ci_halfwidth),
                ("min_df", self.min_df),
            )
            if v is not None
        }


@dataclass(frozen=True)
class AFSettings:
    """Alkire-Foster settings: a respondent is happy when her weighted share of sufficient
    indicators is at least ``threshold`` (a proportion, default 0.66 as in the GNH index)."""

    threshold: float = 0.66

    @classmethod
    def _from(cls, d: Any, path: tuple) -> AFSettings:
        if d is None:
            return cls()
        _check_keys(d, {"threshold"}, path)
        t = _num(d.get("threshold", 0.66), path + ("threshold",))
        if not 0 < t <= 1:
            raise _SpecProblem(path + ("threshold",), f"threshold is a proportion in (0, 1], got {t}")
        return cls(threshold=t)

    def to_dict(self) -> dict:
        return {"threshold": self.threshold}


@dataclass(frozen=True)
class SkipRule:
    """``item`` must be missing unless ``filter`` takes one of ``values``.

    Example: "years in current job" is asked only when "employed" is 1.
    """

    item: str
    filter: str
    values: tuple
    labels: Labels = Labels()

    @classmethod
    def _from(cls, d: Any, path: tuple) -> SkipRule:
        _check_keys(d, {"item", "filter", "values", "labels"}, path, required=("item", "filter", "values"))
        vals = d["values"]
        if not isinstance(vals, (list, tuple)):
            vals = [vals]
        vals = _codes(vals, path + ("values",))
        if not vals:
            raise _SpecProblem(path + ("values",), "a skip rule needs at least one filter value")
        return cls(
            item=_str(d["item"], path + ("item",)),
            filter=_str(d["filter"], path + ("filter",)),
            values=vals,
            labels=Labels._from(d.get("labels"), path + ("labels",)),
        )

    def to_dict(self) -> dict:
        return {"item": self.item, "filter": self.filter, "values": list(self.values), "labels": self.labels.to_dict()}


def _fmt_num(x) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


# --------------------------------------------------------------------------------------
# IndexSpec
# --------------------------------------------------------------------------------------
_TOP_KEYS = (
    "name",
    "version",
    "labels",
    "description",
    "preset",
    "formula",
    "scale",
    "component_weight_total",
    "item_weight_total",
    "zero_rule",
    "design",
    "publication",
    "af",
    "components",
    "items",
    "levels",
    "targets",
    "skip_rules",
    "robustness",
    "distributions",
)


@dataclass(frozen=True)
class IndexSpec:
    """An immutable, validated specification of a survey-based index.

    Build it with :meth:`from_toml` or :meth:`from_dict`; the constructor itself does not
    validate (use it only with already validated parts).

    Attributes
    ----------
    name, version : str
        Identifier and version of the method (e.g. ``"yen_bai_nef"``, ``"2023.1"``).
    labels : Labels
        Title in Vietnamese and English.
    description : str
    preset : {"nef_ratio", "af_gnh", "mean_of_shares", "mean_score", "geometric", "custom"}
        How components are aggregated. ``nef_ratio``: ``c1 * c2 / c3`` over the three
        declared components, in declared order (Yen Bai's three-criteria method);
        ``af_gnh``: Alkire-Foster counting over item sufficiency with ``af.threshold``;
        ``mean_of_shares``/``mean_score``: weighted mean of the components;
        ``geometric``: weighted geometric mean (see ``zero_rule``); ``custom``: ``formula``.
    formula : str or None
        The aggregation in the safe formula language over component names. Required for
        ``custom``; for ``nef_ratio``, ``mean_of_shares`` and ``mean_score`` the implied
        formula is filled in when absent (see :meth:`implied_formula`); ``None`` for
        ``af_gnh`` unless given.
    scale : {"percent", "proportion"}
        Scale of components and index: percent (0-100) or proportion (0-1).
    components : tuple of Component
    items : tuple of Item
    levels : tuple of Level
        Contiguous, non-overlapping bands in ascending order.
    targets : tuple of Target
    design : DesignColumns
    publication : Publication
    skip_rules : tuple of SkipRule
    af : AFSettings
    zero_rule : str or float
        For ``geometric``: ``"error"`` (a zero component is an error) or a positive floor
        that replaces values below it.
    component_weight_total, item_weight_total : float or None
        Declared sums of the component / item weights (checked to 1e-9 when declared).
    robustness : RobustnessSpec or None
        The ``[robustness]`` table: method choices for :func:`happiness_index.robustness`.
    distributions : DistributionSpec or None
        The ``[distributions]`` table: answer bands for :func:`happiness_index.item_distributions`.

    Notes
    -----
    Equality compares every field; :meth:`content_hash` is a SHA-256 of a canonical JSON of
    :meth:`to_dict`, independent of key order, comments and formatting of the TOML file.
    """

    name: str
    version: str
    labels: Labels
    description: str
    preset: str
    formula: str | None
    scale: str
    components: tuple
    items: tuple
    levels: tuple = ()
    targets: tuple = ()
    design: DesignColumns = DesignColumns()
    publication: Publication = Publication()
    skip_rules: tuple = ()
    af: AFSettings = AFSettings()
    zero_rule: Any = "error"
    component_weight_total: float | None = None
    item_weight_total: float | None = None
    robustness: Any = None  # RobustnessSpec (questionnaire/robustness_spec.py) or None
    distributions: Any = None  # DistributionSpec (questionnaire/distribution_spec.py) or None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_toml(cls, path) -> IndexSpec:
        """Read and validate a spec from a TOML file.

        Parameters
        ----------
        path : str or path-like
            The TOML file (UTF-8).

        Returns
        -------
        IndexSpec

        Raises
        ------
        SpecError
            The file is not valid TOML, or the spec is invalid; the message names the key
            and the line of the file where it could be located (attributes ``key``, ``line``).
            Also when ``path`` is ``None`` or not a path, does not exist, is a directory
            or cannot be opened (the message names the path).
        FormulaError
            The formula is not in the formula language or names an unknown component.
        """
        if path is None or not isinstance(path, (str, os.PathLike)) or str(path) == "":
            raise SpecError(
                f"IndexSpec.from_toml needs the path of a TOML spec file (str or "
                f"Path), got {type(path).__name__} {path!r}; for a bundled spec "
                "use IndexSpec.from_toml(bundled_spec_path('yen_bai_nef'))"
            )
        path = Path(path)
        if path.is_dir():
            raise SpecError(f"spec path is a directory, not a TOML file: {path}")
        if not path.exists():
            raise SpecError(f"spec file not found: {path}")
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # checked before open: a pipe blocks
                raise SpecError(
                    f"spec path is not a regular file (a device, pipe or socket): "
                    f"{path}; give the path of a TOML spec file"
                )
            with path.open("rb") as fh:
                raw = fh.read(_MAX_SPEC_BYTES + 1)
        except OSError as e:
            raise SpecError(f"cannot open spec file {path}: {e.strerror or e}") from None
        if len(raw) > _MAX_SPEC_BYTES:
            raise SpecError(
                f"spec file {path} is larger than {_MAX_SPEC_BYTES // 2**20} MiB; a spec "
                "is a short TOML text: check that the path names the spec, not a data file"
            )
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            err = SpecError(f"{path}: line {line} is not valid UTF-8; save the spec as UTF-8")
            err.key, err.line = None, line
            raise err from None
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> IndexSpec:
        """Read and validate a spec from TOML text (see :meth:`from_toml`)."""
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            err = SpecError(f"{source}: not valid TOML: {e}")
            err.key, err.line = None, getattr(e, "lineno", None)
            raise err from None
        except RecursionError:
            err = SpecError(
                f"{source}: not valid TOML for a spec: arrays or tables nested too deep "
                "for the parser; a spec nests a few levels at most"
            )
            err.key, err.line = None, None
            raise err from None
        try:
            return cls._build(d)
        except _SpecProblem as p:
            line = _locate(text, p.path)
            where = f" (line {line} of {source})" if line else f" (in {source})"
            err = p.cls(f"{_key_text(p.path)}: {p.message}{where}")
            err.key, err.line = _key_text(p.path), line
            raise err from None

    @classmethod
    def from_dict(cls, d: Mapping) -> IndexSpec:
        """Validate a spec given as nested dicts/lists (the parsed TOML structure).

        Raises
        ------
        SpecError, FormulaError
            As :meth:`from_toml`; the message names the key (``line`` is ``None``).
        """
        try:
            return cls._build(d)
        except _SpecProblem as p:
            err = p.cls(f"{_key_text(p.path)}: {p.message}")
            err.key, err.line = _key_text(p.path), None
            raise err from None

    @classmethod
    def _build(cls, d: Mapping) -> IndexSpec:
        _check_keys(d, set(_TOP_KEYS), (), required=("name", "preset", "components", "items"))
        name, version, preset, scale, desc = _parse_header(d)
        items, seen = _parse_items(d)
        comps = _parse_components(d, items, seen, preset)
        cwt, iwt = _check_weight_totals(d, preset, comps, items)
        formula = _parse_formula(d, preset, comps, cls._implied(preset, comps))
        return cls(
            name=name,
            version=version,
            labels=Labels._from(d.get("labels"), ("labels",)),
            description=_nfc(desc.strip()),
            preset=preset,
            formula=formula,
            scale=scale,
            components=comps,
            items=items,
            levels=_parse_levels(d),
            targets=_parse_targets(d),
            design=DesignColumns._from(d.get("design"), ("design",)),
            publication=Publication._from(d.get("publication"), ("publication",)),
            skip_rules=_parse_skip_rules(d, items, seen),
            af=AFSettings._from(d.get("af"), ("af",)),
            zero_rule=_parse_zero_rule(d),
            component_weight_total=cwt,
            item_weight_total=iwt,
            **_robustness_parts(d, items, comps, preset, formula),
        )

    @staticmethod
    def _implied(preset: str, comps: tuple) -> str | None:
        names = [c.name for c in comps]
        if preset == "nef_ratio" and len(names) == 3:
            return f"{names[0]} * {names[1]} / {names[2]}"
        if preset in ("mean_of_shares", "mean_score"):
            ws = [c.weight for c in comps]
            if all(w is None for w in ws):
                return "(" + " + ".join(names) + f") / {len(names)}"
            tot = math.fsum(ws)
            return "(" + " + ".join(f"{w!r} * {n}" for w, n in zip(ws, names)) + f") / {tot!r}"
        if preset == "geometric":
            ws = [c.weight for c in comps]
            if all(w is None for w in ws):
                return "(" + " * ".join(names) + f")^(1 / {len(names)})"
            tot = math.fsum(ws)
            return " * ".join(f"{n}^({w!r} / {tot!r})" for w, n in zip(ws, names))
        return None

    def implied_formula(self) -> str | None:
        """The formula implied by the preset (``None`` for ``af_gnh`` and ``custom``).

        ``nef_ratio``: ``c1 * c2 / c3``; ``mean_of_shares``/``mean_score``: the (weighted)
        arithmetic mean ``(w1 * c1 + ...) / sum(w)``; ``geometric``: the (weighted) geometric
        mean ``c1^(w1/W) * ...``.
        """
        return self._implied(self.preset, self.components)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """The spec as plain dicts/lists (the TOML structure); ``from_dict`` inverts it."""
        d: dict = {
            "name": self.name,
            "version": self.version,
            "labels": self.labels.to_dict(),
            "description": self.description,
            "preset": self.preset,
        }
        if self.formula is not None:
            d["formula"] = self.formula
        d["scale"] = self.scale
        if self.component_weight_total is not None:
            d["component_weight_total"] = self.component_weight_total
        if self.item_weight_total is not None:
            d["item_weight_total"] = self.item_weight_total
        d["zero_rule"] = self.zero_rule
        d["design"] = self.design.to_dict()
        d["publication"] = self.publication.to_dict()
        d["af"] = self.af.to_dict()
        d["components"] = [c.to_dict() for c in self.components]
        d["items"] = [i.to_dict() for i in self.items]
        d["levels"] = [x.to_dict() for x in self.levels]
        d["targets"] = [x.to_dict() for x in self.targets]
        d["skip_rules"] = [x.to_dict() for x in self.skip_rules]
        if self.robustness is not None:
            d["robustness"] = self.robustness.to_dict()
        if self.distributions is not None:
            d["distributions"] = self.distributions.to_dict()
        return d

    def to_toml(self) -> str:
        """The spec as TOML text; ``IndexSpec.from_text(spec.to_toml()) == spec``."""
        return _dump_toml(self.to_dict())

    def content_hash(self) -> str:
        """SHA-256 (hex) of a canonical JSON of the spec's content, for provenance.

        Independent of key order, comments and formatting of the source file; stable across
        runs, machines and Python versions (sorted keys, UTF-8, shortest float repr).
        """
        canon = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()

    # ------------------------------------------------------------------ look-ups
    def item(self, name: str) -> Item:
        """The item named ``name`` (SpecError if unknown)."""
        for it in self.items:
            if it.name == _nfc(name):
                return it
        raise SpecError(f"spec {self.name!r} has no item {name!r}; items are {', '.join(i.name for i in self.items)}")

    def component(self, name: str) -> Component:
        """The component named ``name`` (SpecError if unknown)."""
        for c in self.components:
            if c.name == name:
                return c
        raise SpecError(
            f"spec {self.name!r} has no component {name!r}; components are {', '.join(c.name for c in self.components)}"
        )

    def level_for(self, value: float) -> Level:
        """The level band containing ``value`` (in the spec's scale).

        Bands are ``[lower, upper)``; the last band also contains its upper bound.

        Raises
        ------
        SpecError
            The spec declares no levels, or ``value`` is NaN or outside every band.
        """
        if not self.levels:
            raise SpecError(f"spec {self.name!r} declares no [[levels]]")
        v = float(value)
        if math.isnan(v):
            raise SpecError("cannot assign a level to a missing (NaN) value")
        for i, lv in enumerate(self.levels):
            last = i == len(self.levels) - 1
            if lv.lower <= v < lv.upper or (last and v == lv.upper):
                return lv
        raise SpecError(
            f"value {v} is outside the level bands "
            f"[{self.levels[0].lower}, {self.levels[-1].upper}] of spec {self.name!r}"
        )

    def target_for(self, year: int) -> Target | None:
        """The target declared for ``year``, or ``None``."""
        for t in self.targets:
            if t.year == int(year):
                return t
        return None

    # ------------------------------------------------------------------ indicators
    def satisfied_indicators(self, clean_df: pd.DataFrame) -> pd.DataFrame:
        """One float column per indicator item: 1.0 satisfied, 0.0 not, NaN missing.

        Parameters
        ----------
        clean_df : DataFrame
            Survey microdata, ideally ``validate_survey(...).data`` (missing codes already
            missing). Missing codes still present are treated as missing here too.

        Returns
        -------
        DataFrame
            Same index as ``clean_df``; one ``float64`` column per item that has a
            ``satisfied`` cut-off, in declared order (auxiliary items are left out).

        Raises
        ------
        SpecError
            An indicator column is absent from ``clean_df``.
        """
        names = [it.name for it in self.items if it.satisfied is not None]
        # one (k, n) block filled row by row and handed to pandas without a copy (a dict of
        # columns would be consolidated into a second n x k block while the frame is built)
        block = np.empty((len(names), len(clean_df)))
        for row, name in enumerate(names):
            satisfied, answered = self.item_indicator(clean_df, name)
            np.copyto(block[row], satisfied)
            block[row][~answered] = np.nan
        return pd.DataFrame(block.T, index=clean_df.index, columns=names, copy=False)

    def item_indicator(self, clean_df: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
        """One indicator item as two Boolean masks: satisfied (and answered), and answered.

        The memory-light form of one column of :meth:`satisfied_indicators` (1 byte a
        respondent per mask instead of 8 for a float column).

        Parameters
        ----------
        clean_df : DataFrame
            Survey microdata (missing codes, still present, are treated as missing).
        name : str
            An item with a ``satisfied`` cut-off.

        Returns
        -------
        (satisfied, answered) : two (n,) bool arrays
            ``satisfied`` is False wherever ``answered`` is False.

        Raises
        ------
        SpecError
            The item is unknown or has no ``satisfied`` cut-off, or its column is absent.
        """
        it = self.item(name)
        if it.satisfied is None:
            raise SpecError(f"item {name!r} of spec {self.name!r} has no 'satisfied' cut-off: it is not an indicator")
        cols = {_nfc(str(c)): c for c in clean_df.columns}
        if it.name not in cols:
            raise SpecError(
                f"column {it.name!r} (an indicator of spec {self.name!r}) is not in the data; run validate_survey first"
            )
        s = clean_df[cols[it.name]]
        if it.numeric:
            v = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
            answered = ~np.isnan(v)
            if it.missing_codes:
                answered &= ~np.isin(v, np.asarray(it.missing_codes, dtype=float))
            satisfied = v >= float(it.satisfied) if it.ordered else np.isin(v, np.asarray(it.satisfied, dtype=float))
        else:
            t = s.astype("string").str.strip().str.normalize("NFC")
            answered = ~(t.isna() | t.isin([str(m) for m in it.missing_codes])).to_numpy(dtype=bool)
            satisfied = t.isin([str(c) for c in it.satisfied]).fillna(False).to_numpy(dtype=bool)
        return satisfied & answered, answered


def _robustness_parts(d: Mapping, items: tuple, comps: tuple, preset: str, formula: str | None) -> dict:
    """The ``[robustness]`` and ``[distributions]`` tables, parsed by their own modules."""
    parsers = {
        "robustness": lambda x: parse_robustness(x, items=items, components=comps, preset=preset, formula=formula),
        "distributions": lambda x: parse_distributions(x, items=items),
    }
    out = {}
    for key, parse in parsers.items():
        try:
            out[key] = parse(d.get(key))
        except RobustnessSpecProblem as p:
            # "robustness.cutoffs" as one key: _locate then finds [[robustness.cutoffs]] headers
            path = (f"{key}.{p.path[0]}",) + p.path[1:] if len(p.path) > 1 else (key,) + p.path
            raise _SpecProblem(path, p.message) from None
    return out


# --------------------------------------------------------------------------------------
# the steps of IndexSpec._build (each reads one part of the TOML structure)
# --------------------------------------------------------------------------------------
def _parse_header(d: Mapping) -> tuple:
    """name, version, preset, scale and description."""
    name = _str(d["name"], ("name",))
    version = d.get("version", "1")
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        version = str(version)
    version = _str(version, ("version",))
    preset = d["preset"]
    if preset not in PRESETS:
        raise _SpecProblem(("preset",), f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    scale = d.get("scale", "percent")
    if scale not in ("percent", "proportion"):
        raise _SpecProblem(("scale",), f"scale must be 'percent' or 'proportion', got {scale!r}")
    desc = d.get("description", "")
    if not isinstance(desc, str):
        raise _SpecProblem(("description",), "description must be text")
    return name, version, preset, scale, desc


def _parse_items(d: Mapping) -> tuple:
    """The items and their positions by name."""
    raw_items = d["items"]
    if not isinstance(raw_items, list) or not raw_items:
        raise _SpecProblem(("items",), "need a non-empty array of [[items]]")
    items = tuple(Item._from(it, ("items", i)) for i, it in enumerate(raw_items))
    seen: dict = {}
    for i, it in enumerate(items):
        if it.name in seen:
            raise _SpecProblem(("items", i, "name"), f"duplicate item name {it.name!r} (also items[{seen[it.name]}])")
        seen[it.name] = i
    return items, seen


def _parse_components(d: Mapping, items: tuple, seen: dict, preset: str) -> tuple:
    raw_comp = d["components"]
    if not isinstance(raw_comp, list) or not raw_comp:
        raise _SpecProblem(("components",), "need a non-empty array of [[components]]")
    comps = tuple(Component._from(c, ("components", i)) for i, c in enumerate(raw_comp))
    cseen: dict = {}
    for i, c in enumerate(comps):
        if c.name in cseen:
            raise _SpecProblem(("components", i, "name"), f"duplicate component name {c.name!r}")
        cseen[c.name] = i
        for nm in c.items:
            if nm not in seen:
                raise _SpecProblem(
                    ("components", i, "items"),
                    f"component {c.name!r} names unknown item {nm!r}; declare it in an [[items]] table",
                )
            if items[seen[nm]].satisfied is None:
                raise _SpecProblem(
                    ("items", seen[nm], "satisfied"),
                    f"item {nm!r} belongs to component {c.name!r} but has no 'satisfied' cut-off",
                )
        if c.normalise is not None and preset == "af_gnh":
            raise _SpecProblem(
                ("components", i, "normalise"),
                "preset 'af_gnh' aggregates indicators by counting; its components cannot be normalised",
            )
    return comps


def _check_weight_totals(d: Mapping, preset: str, comps: tuple, items: tuple) -> tuple:
    """The declared weight totals, after checking the weights against them."""
    cwt = _num(d.get("component_weight_total"), ("component_weight_total",), optional=True)
    iwt = _num(d.get("item_weight_total"), ("item_weight_total",), optional=True)
    cw = [c.weight for c in comps]
    if cwt is not None or preset in ("mean_of_shares", "mean_score", "geometric") and any(w is not None for w in cw):
        if any(w is None for w in cw):
            i = cw.index(None)
            raise _SpecProblem(("components", i, "weight"), f"component {comps[i].name!r} has no weight but others do")
        total = 1.0 if cwt is None else cwt
        s = math.fsum(cw)
        if abs(s - total) > _WEIGHT_TOL:
            raise _SpecProblem(
                ("component_weight_total",) if cwt is not None else ("components", 0, "weight"),
                f"component weights sum to {s!r}, not the declared total {total!r}",
            )
    ind = [it for it in items if it.satisfied is not None]
    if preset == "af_gnh" or iwt is not None:
        missing_w = [i for i, it in enumerate(items) if it.satisfied is not None and it.weight is None]
        if missing_w:
            raise _SpecProblem(
                ("items", missing_w[0], "weight"),
                f"indicator {items[missing_w[0]].name!r} needs a weight "
                f"(preset {preset!r} / declared item_weight_total)",
            )
        total = 1.0 if iwt is None else iwt
        s = math.fsum(it.weight for it in ind)
        if abs(s - total) > _WEIGHT_TOL:
            raise _SpecProblem(
                ("item_weight_total",) if iwt is not None else ("items", 0, "weight"),
                f"indicator weights sum to {s!r}, not the declared total {total!r}",
            )
    return cwt, iwt


def _parse_formula(d: Mapping, preset: str, comps: tuple, implied: str | None) -> str | None:
    formula = d.get("formula")
    if formula is not None:
        formula = _str(formula, ("formula",))
    if formula is None:
        formula = implied
        if preset == "custom":
            raise _SpecProblem(("formula",), "preset 'custom' needs a 'formula'")
    if preset == "nef_ratio" and len(comps) != 3:
        raise _SpecProblem(
            ("components",), f"preset 'nef_ratio' needs exactly 3 components (c1 * c2 / c3), got {len(comps)}"
        )
    if formula is not None:
        _check_formula(formula, tuple(c.name for c in comps))
    return formula


def _parse_levels(d: Mapping) -> tuple:
    raw_levels = d.get("levels", [])
    if not isinstance(raw_levels, list):
        raise _SpecProblem(("levels",), "levels must be an array of [[levels]] tables")
    levels = tuple(Level._from(x, ("levels", i)) for i, x in enumerate(raw_levels))
    for i in range(1, len(levels)):
        a, b = levels[i - 1], levels[i]
        if b.lower < a.upper:
            raise _SpecProblem(
                ("levels", i, "lower"),
                f"band [{b.lower}, {b.upper}) overlaps the previous band "
                f"[{a.lower}, {a.upper}); bands must be in ascending order, "
                "each starting where the previous ends",
            )
        if b.lower > a.upper:
            raise _SpecProblem(
                ("levels", i, "lower"),
                f"gap between bands: previous ends at {a.upper}, this starts at {b.lower}; make them contiguous",
            )
    return levels


def _parse_targets(d: Mapping) -> tuple:
    raw_t = d.get("targets", [])
    if not isinstance(raw_t, list):
        raise _SpecProblem(("targets",), "targets must be an array of [[targets]] tables")
    targets = tuple(Target._from(x, ("targets", i)) for i, x in enumerate(raw_t))
    years = [t.year for t in targets]
    for i, y in enumerate(years):
        if years.index(y) != i:
            raise _SpecProblem(("targets", i, "year"), f"two targets for year {y}")
    return targets


def _parse_skip_rules(d: Mapping, items: tuple, seen: dict) -> tuple:
    raw_sr = d.get("skip_rules", [])
    if not isinstance(raw_sr, list):
        raise _SpecProblem(("skip_rules",), "skip_rules must be an array of [[skip_rules]] tables")
    skips = tuple(SkipRule._from(x, ("skip_rules", i)) for i, x in enumerate(raw_sr))
    for i, r in enumerate(skips):
        for key, nm in (("item", r.item), ("filter", r.filter)):
            if nm not in seen:
                raise _SpecProblem(("skip_rules", i, key), f"skip rule names unknown item {nm!r}")
        if r.item == r.filter:
            raise _SpecProblem(
                ("skip_rules", i, "filter"), f"skip rule of item {r.item!r} names the item itself as its filter"
            )
        f_item = items[seen[r.filter]]
        bad = [v for v in r.values if not f_item.allows(v)]
        if bad:
            raise _SpecProblem(
                ("skip_rules", i, "values"),
                f"filter values {bad} are not codes of item {r.filter!r} ({f_item.describe_codes()})",
            )
    return skips


def _parse_zero_rule(d: Mapping):
    zr = d.get("zero_rule", "error")
    if zr != "error":
        if isinstance(zr, bool) or not isinstance(zr, (int, float)) or not zr > 0:
            raise _SpecProblem(("zero_rule",), f'zero_rule is "error" or a positive floor, got {zr!r}')
        zr = float(zr)
    return zr


def _check_formula(text: str, names: tuple) -> None:
    """The formula parses, names only components, and depends on at least one of them."""
    try:
        f = Formula.parse(text, allowed_names=names)
    except FormulaError as e:
        raise _SpecProblem(("formula",), f"{e} (components are {', '.join(names)})", FormulaError) from None
    except SpecError as e:  # pragma: no cover - Formula raises FormulaError
        raise _SpecProblem(("formula",), str(e), FormulaError) from None
    if not f.dependent_names():
        used = (
            f" (it names {', '.join(f.names)}, but its value does not change with "
            f"{'it' if len(f.names) == 1 else 'them'})"
            if f.names
            else ""
        )
        raise _SpecProblem(
            ("formula",),
            f"the formula {text!r} is a constant{used}: the index would be "
            "the same number for every survey, with standard error 0. Write "
            f"the index as a function of the components ({', '.join(names)})",
        )


def bundled_spec_path(name: str) -> Path:
    """Path of a spec shipped with the package (``"yen_bai_nef"``, ``"gnh_alkire_foster"``).

    Raises
    ------
    SpecError
        No bundled spec of that name.
    """
    base = resources.files("happiness_index") / "data" / "specs"
    stem = name[:-5] if name.endswith(".toml") else name
    p = Path(str(base / f"{stem}.toml"))
    if not p.is_file():
        have = sorted(x.name[:-5] for x in Path(str(base)).glob("*.toml"))
        raise SpecError(f"no bundled spec {name!r}; bundled specs: {', '.join(have) or 'none'}")
    return p


# --------------------------------------------------------------------------------------
# a small TOML writer for the spec structure (tomllib only reads)
# --------------------------------------------------------------------------------------
def _toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_str(k)


def _dump_toml(d: dict) -> str:
    lines: list = []
    tables, arrays = [], []
    for k, v in d.items():
        if isinstance(v, dict) and k != "labels":
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        elif isinstance(v, list) and not v and k in ("components", "items", "levels", "targets", "skip_rules"):
            continue
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in tables:
        if not v:
            continue
        lines += ["", f"[{_toml_key(k)}]"]
        lines += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in v.items()]
    for k, arr in arrays:
        for el in arr:
            lines += ["", f"[[{_toml_key(k)}]]"]
            lines += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in el.items()]
    return "\n".join(lines) + "\n"
