"""The declared space of method choices for the robustness analysis (``[robustness]``).

An index rests on choices a reviewer may question: when is an answer "satisfied" (4–5 or
3–5 on the 1–5 scale), how components are combined (the province's ratio LS × LE / ENV, a
mean, a geometric mean), how much each component weighs, which items enter. The
``[robustness]`` table of a spec declares the defensible alternatives, each with a label in
English and Vietnamese that a reviewer understands; :func:`happiness_index.robustness`
draws from this space together with the sampling replicates.

TOML layout (every table optional; an empty ``[robustness]`` declares no choice)::

    [[robustness.cutoffs]]            # one choice per group of items
    name = "cutoff_ls"
    items = ["ls_income", "ls_health"]
    values = [4, 3]                   # "satisfied" = value >= cut-off; the spec's own cut-off
    labels = { en = "...", vi = "..." }   # is the baseline and must be listed

    [robustness.formula]
    options = ["nef_ratio", "mean_of_shares", "geometric"]   # presets or formulas
    labels = { en = "...", vi = "..." }

    [robustness.weights]              # component weights, each drawn in its range and the
    ranges = { ls = [0.2, 0.5], le = [0.2, 0.5], env = [0.2, 0.5] }   # set normalised
    labels = { en = "...", vi = "..." }

    [robustness.drop_items]           # at most one of these items is left out of its component
    items = ["ls_income", "env_services"]
    labels = { en = "...", vi = "..." }

Component weights enter the weighted presets only (``mean_of_shares``, ``geometric``); the
ratio and explicit formulas ignore them.

This module does no I/O and imports nothing from :mod:`.spec` (which calls it): it sees
items and components through their public attributes. Problems raise
:class:`RobustnessSpecProblem` with the key path inside ``[robustness]``; the spec reader
turns it into a :class:`~happiness_index.errors.SpecError` naming the key and the line.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import FormulaError
from .formula import Formula

__all__ = [
    "FORMULA_PRESETS",
    "ChoiceLabels",
    "CutoffChoice",
    "DropItemsChoice",
    "FormulaChoice",
    "RobustnessSpec",
    "RobustnessSpecProblem",
    "WeightRanges",
    "parse_robustness",
]

#: Presets a formula choice may name (weights: see :class:`WeightRanges`).
FORMULA_PRESETS = ("nef_ratio", "mean_of_shares", "geometric")
_ORDERED = ("likert5", "scale0_10", "integer")


class RobustnessSpecProblem(Exception):
    """A problem in ``[robustness]``: ``path`` (keys below ``robustness``) and ``message``."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = tuple(path)
        self.message = message


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


@dataclass(frozen=True)
class ChoiceLabels:
    """A reviewer's label in English and Vietnamese."""

    en: str
    vi: str

    def to_dict(self) -> dict:
        return {"en": self.en, "vi": self.vi}


def _labels(d: Any, path: tuple) -> ChoiceLabels:
    if not isinstance(d, Mapping) or set(d) - {"en", "vi"}:
        raise RobustnessSpecProblem(path, 'labels must be a table { en = "...", vi = "..." }')
    out = {}
    for lang in ("en", "vi"):
        v = d.get(lang)
        if not isinstance(v, str) or not v.strip():
            raise RobustnessSpecProblem(
                path + (lang,),
                f"a label in {'English' if lang == 'en' else 'Vietnamese'} "
                f"({lang}) is required: a reviewer must understand every choice",
            )
        out[lang] = _nfc(v.strip())
    return ChoiceLabels(**out)


def _keys(d: Any, allowed: set, required: set, path: tuple) -> None:
    if not isinstance(d, Mapping):
        raise RobustnessSpecProblem(path, f"expected a table, got {type(d).__name__} {d!r}")
    for k in d:
        if k not in allowed:
            raise RobustnessSpecProblem(
                path + (k,), f"unknown key {k!r}; allowed keys here are {', '.join(sorted(allowed))}"
            )
    for k in sorted(required - set(d)):
        raise RobustnessSpecProblem(path + (k,), f"required key {k!r} is missing")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class CutoffChoice:
    """Alternative "satisfied" cut-offs for a group of ordered items.

    Attributes
    ----------
    name : str
        Identifier of the choice (a factor of the sensitivity analysis).
    items : tuple of str
        The items whose cut-off changes together.
    values : tuple of float
        The cut-offs (``value >= cut-off`` is satisfied); ``values[0]`` is the spec's own.
    labels : ChoiceLabels
    option_labels : tuple of ChoiceLabels
        One per value, e.g. "4–5" (the answers counted as satisfied).
    """

    name: str
    items: tuple
    values: tuple
    labels: ChoiceLabels
    option_labels: tuple

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "items": list(self.items),
            "values": [float(v) for v in self.values],
            "labels": self.labels.to_dict(),
        }


@dataclass(frozen=True)
class FormulaChoice:
    """Alternative aggregations of the components; ``options[0]`` is the spec's own.

    Each option is a preset name (:data:`FORMULA_PRESETS`) or a formula over the component
    names in the safe formula language.
    """

    options: tuple
    labels: ChoiceLabels
    option_labels: tuple
    name: str = "formula"

    def to_dict(self) -> dict:
        return {"options": list(self.options), "labels": self.labels.to_dict()}


@dataclass(frozen=True)
class WeightRanges:
    """Ranges of the component weights (each drawn uniformly, then the set normalised)."""

    ranges: tuple  # ((component, low, high), ...)
    labels: ChoiceLabels

    def to_dict(self) -> dict:
        return {"ranges": {c: [lo, hi] for c, lo, hi in self.ranges}, "labels": self.labels.to_dict()}


@dataclass(frozen=True)
class DropItemsChoice:
    """Items that may be left out (one at a time, or none: the baseline)."""

    items: tuple
    labels: ChoiceLabels
    option_labels: tuple  # one per option: none, then each item
    name: str = "drop_item"

    def to_dict(self) -> dict:
        return {"items": list(self.items), "labels": self.labels.to_dict()}


@dataclass(frozen=True)
class RobustnessSpec:
    """The declared space of method choices (see the module docstring).

    Attributes
    ----------
    cutoffs : tuple of CutoffChoice
    formula : FormulaChoice or None
    weights : WeightRanges or None
    drop_items : DropItemsChoice or None
    """

    cutoffs: tuple = ()
    formula: FormulaChoice | None = None
    weights: WeightRanges | None = None
    drop_items: DropItemsChoice | None = None

    @property
    def empty(self) -> bool:
        """True when no method choice is declared (only sampling varies)."""
        return not self.cutoffs and self.formula is None and self.weights is None and self.drop_items is None

    def to_dict(self) -> dict:
        d: dict = {}
        if self.cutoffs:
            d["cutoffs"] = [c.to_dict() for c in self.cutoffs]
        if self.formula is not None:
            d["formula"] = self.formula.to_dict()
        if self.weights is not None:
            d["weights"] = self.weights.to_dict()
        if self.drop_items is not None:
            d["drop_items"] = self.drop_items.to_dict()
        return d


# --------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------
def _parse_cutoff(d: Any, path: tuple, items: Mapping, seen: set) -> CutoffChoice:
    _keys(d, {"name", "items", "values", "labels"}, {"name", "items", "values", "labels"}, path)
    name = d["name"]
    if not isinstance(name, str) or not name.isidentifier():
        raise RobustnessSpecProblem(path + ("name",), f"name must be an identifier (letters, digits, _), got {name!r}")
    if name in seen:
        raise RobustnessSpecProblem(path + ("name",), f"two choices are named {name!r}; give each its own name")
    names = d["items"]
    if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
        raise RobustnessSpecProblem(path + ("items",), "items must be a non-empty list of item names")
    names = tuple(_nfc(x) for x in names)
    for nm in names:
        it = items.get(nm)
        if it is None:
            raise RobustnessSpecProblem(path + ("items",), f"unknown item {nm!r}; items are {', '.join(items)}")
        if it.type not in _ORDERED or it.satisfied is None:
            raise RobustnessSpecProblem(
                path + ("items",),
                f"item {nm!r} is {it.type}"
                f"{'' if it.satisfied is not None else ' without a cut-off'}: alternative "
                "cut-offs apply to ordered items with a 'satisfied' cut-off",
            )
    base = {float(items[nm].satisfied) for nm in names}
    if len(base) > 1:
        raise RobustnessSpecProblem(
            path + ("items",),
            f"the items of {name!r} have different cut-offs in the "
            f"spec ({sorted(base)}); put items with the same cut-off in one group",
        )
    vals = d["values"]
    if (
        not isinstance(vals, list)
        or not vals
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in vals)
    ):
        raise RobustnessSpecProblem(path + ("values",), "values must be a non-empty list of numeric cut-offs")
    vals = [float(v) for v in vals]
    if len(set(vals)) != len(vals):
        raise RobustnessSpecProblem(path + ("values",), f"cut-offs listed twice: {vals}")
    b = base.pop()
    if b not in vals:
        raise RobustnessSpecProblem(
            path + ("values",),
            f"the spec's own cut-off {_fmt(b)} (the baseline) must be among the values {[_fmt(v) for v in vals]}",
        )
    vals.remove(b)
    vals.insert(0, b)
    for nm in names:
        bad = [v for v in vals if not items[nm].allows(int(v) if v.is_integer() else v)]
        if bad:
            raise RobustnessSpecProblem(
                path + ("values",),
                f"cut-off(s) {[_fmt(v) for v in bad]} are not codes of item {nm!r} ({items[nm].describe_codes()})",
            )
    first = items[names[0]]
    top = max(float(c) for c in first.codes) if first.codes else first.maximum
    opts = []
    for v in vals:
        rng = f"{_fmt(v)}–{_fmt(top)}" if top is not None else f"≥ {_fmt(v)}"
        base_en, base_vi = (" (baseline)", " (gốc)") if v == vals[0] else ("", "")
        opts.append(ChoiceLabels(en=f"satisfied = {rng}{base_en}", vi=f"hài lòng = {rng}{base_vi}"))
    return CutoffChoice(name, names, tuple(vals), _labels(d["labels"], path + ("labels",)), tuple(opts))


def _formula_label(opt: str, comps: Sequence) -> ChoiceLabels:
    up = [c.name.upper() for c in comps]
    if opt == "nef_ratio" and len(up) == 3:
        txt = f"{up[0]} × {up[1]} / {up[2]}"
        return ChoiceLabels(en=f"ratio {txt}", vi=f"tỷ số {txt}")
    if opt == "mean_of_shares":
        return ChoiceLabels(en="(weighted) mean of the components", vi="trung bình (có trọng số) của các thành phần")
    if opt == "geometric":
        return ChoiceLabels(
            en="(weighted) geometric mean of the components", vi="trung bình nhân (có trọng số) của các thành phần"
        )
    return ChoiceLabels(en=f"formula {opt}", vi=f"công thức {opt}")


def _parse_formula(d: Any, path: tuple, comps: Sequence, baseline: str) -> FormulaChoice:
    _keys(d, {"options", "labels"}, {"options", "labels"}, path)
    opts = d["options"]
    if not isinstance(opts, list) or not opts or not all(isinstance(o, str) and o.strip() for o in opts):
        raise RobustnessSpecProblem(
            path + ("options",),
            "options must be a non-empty list of presets "
            f"({', '.join(FORMULA_PRESETS)}) or formulas over the component names",
        )
    names = [c.name for c in comps]
    out = []
    for o in (baseline, *[_nfc(o.strip()) for o in opts]):
        if o in out:
            continue
        if o == "nef_ratio" and len(names) != 3:
            raise RobustnessSpecProblem(
                path + ("options",), f"'nef_ratio' needs exactly 3 components, the spec has {len(names)}"
            )
        if o not in FORMULA_PRESETS:
            try:
                Formula.parse(o, allowed_names=names)
            except FormulaError as e:
                raise RobustnessSpecProblem(
                    path + ("options",),
                    f"option {o!r} is neither a preset "
                    f"({', '.join(FORMULA_PRESETS)}) nor a formula over the components "
                    f"{', '.join(names)}: {e}",
                ) from None
        out.append(o)
    return FormulaChoice(
        tuple(out), _labels(d["labels"], path + ("labels",)), tuple(_formula_label(o, comps) for o in out)
    )


def _parse_weights(d: Any, path: tuple, comps: Sequence) -> WeightRanges:
    _keys(d, {"ranges", "labels"}, {"ranges", "labels"}, path)
    rng = d["ranges"]
    names = [c.name for c in comps]
    if not isinstance(rng, Mapping) or not rng:
        raise RobustnessSpecProblem(path + ("ranges",), "ranges must be a table { component = [low, high], ... }")
    out = []
    for c in names:
        if c not in rng:
            raise RobustnessSpecProblem(
                path + ("ranges",),
                f"no range for component {c!r}: give a range for every "
                f"component ({', '.join(names)}); [w, w] keeps a weight fixed",
            )
    for c, r in rng.items():
        if c not in names:
            raise RobustnessSpecProblem(
                path + ("ranges", c), f"unknown component {c!r}; components are {', '.join(names)}"
            )
        if (
            not isinstance(r, list)
            or len(r) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in r)
            or not 0 <= r[0] <= r[1]
            or r[1] == 0
        ):
            raise RobustnessSpecProblem(
                path + ("ranges", c),
                f"the range of {c!r} must be [low, high] with 0 <= low <= high and high > 0, got {r!r}",
            )
        out.append((c, float(r[0]), float(r[1])))
    out.sort(key=lambda x: names.index(x[0]))
    return WeightRanges(tuple(out), _labels(d["labels"], path + ("labels",)))


def _parse_drop(d: Any, path: tuple, items: Mapping, comps: Sequence) -> DropItemsChoice:
    _keys(d, {"items", "labels"}, {"items", "labels"}, path)
    names = d["items"]
    if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
        raise RobustnessSpecProblem(path + ("items",), "items must be a non-empty list of item names")
    names = tuple(dict.fromkeys(_nfc(x) for x in names))
    for nm in names:
        owners = [c for c in comps if nm in c.items]
        if not owners:
            raise RobustnessSpecProblem(
                path + ("items",),
                f"item {nm!r} belongs to no component, so dropping it changes nothing; list items of the components",
            )
        for c in owners:
            if len(c.items) < 2:
                raise RobustnessSpecProblem(
                    path + ("items",), f"item {nm!r} is the only item of component {c.name!r}; it cannot be dropped"
                )
    opts = [ChoiceLabels(en="no item dropped (baseline)", vi="không bỏ câu hỏi nào (gốc)")]
    for nm in names:
        lab = items[nm].labels
        opts.append(ChoiceLabels(en=f"without “{lab.en or nm}”", vi=f"bỏ “{lab.vi or nm}”"))
    return DropItemsChoice(names, _labels(d["labels"], path + ("labels",)), tuple(opts))


def parse_robustness(
    d: Any, *, items: Sequence, components: Sequence, preset: str, formula: str | None
) -> RobustnessSpec | None:
    """Validate a ``[robustness]`` table (the parsed TOML) against the spec's items and components.

    Parameters
    ----------
    d : mapping or None
        The table; ``None`` (absent) returns ``None``.
    items, components : sequence
        The spec's :class:`~happiness_index.spec.Item` and ``Component`` objects.
    preset, formula : str
        The spec's aggregation: the baseline option of a formula choice is the spec's
        preset when it is one of :data:`FORMULA_PRESETS`, else its formula.

    Returns
    -------
    RobustnessSpec or None

    Raises
    ------
    RobustnessSpecProblem
        With the key path below ``robustness`` and a message naming the fix.
    """
    if d is None:
        return None
    _keys(d, {"cutoffs", "formula", "weights", "drop_items"}, set(), ())
    by_name = {it.name: it for it in items}
    used = {nm for c in components for nm in c.items}
    cut = d.get("cutoffs", [])
    if not isinstance(cut, list):
        raise RobustnessSpecProblem(("cutoffs",), "cutoffs must be an array of [[robustness.cutoffs]] tables")
    cutoffs, seen, covered = [], {"formula", "drop_item", "sampling"}, {}
    for i, c in enumerate(cut):
        ch = _parse_cutoff(c, ("cutoffs", i), by_name, seen)
        seen.add(ch.name)
        for nm in ch.items:
            if nm in covered:
                raise RobustnessSpecProblem(
                    ("cutoffs", i, "items"),
                    f"item {nm!r} is already in cut-off group {covered[nm]!r}; an item belongs to one group",
                )
            if nm not in used:
                raise RobustnessSpecProblem(("cutoffs", i, "items"), f"item {nm!r} belongs to no component")
            covered[nm] = ch.name
        cutoffs.append(ch)
    baseline = preset if preset in FORMULA_PRESETS else (formula or "")
    form = None
    if "formula" in d:
        if preset not in FORMULA_PRESETS and preset != "custom":
            raise RobustnessSpecProblem(
                ("formula",),
                f"the spec's preset {preset!r} is not an aggregation of "
                "components; formula choices need nef_ratio, mean_of_shares, geometric "
                "or custom",
            )
        form = _parse_formula(d["formula"], ("formula",), components, baseline)
    weights = _parse_weights(d["weights"], ("weights",), components) if "weights" in d else None
    drop = _parse_drop(d["drop_items"], ("drop_items",), by_name, components) if "drop_items" in d else None
    return RobustnessSpec(tuple(cutoffs), form, weights, drop)
