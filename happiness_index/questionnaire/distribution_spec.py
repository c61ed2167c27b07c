"""Answer bands for reporting well-being as distributions (``[distributions]`` of a spec).

The UK Office for National Statistics reports its 0–10 personal well-being questions in
bands: life satisfaction, worthwhile and happiness as low (0–4), medium (5–6), high (7–8)
and very high (9–10); anxiety, where a high score is bad, as very low (0–1), low (2–3),
medium (4–5) and high (6–10). These are the defaults; a spec may declare its own::

    [distributions]
    band_items = ["life_sat", "anxiety"]    # default: every scale0_10 item
    reversed_items = ["anxiety"]            # items where a high score is bad

    [[distributions.bands]]                  # inclusive code ranges, ascending
    lower = 0
    upper = 4
    labels = { en = "Low", vi = "Thấp" }

    [[distributions.reversed_bands]]         # bands of the reversed items
    ...

Problems raise :class:`~.robustness_spec.RobustnessSpecProblem` (key path below
``distributions``), which the spec reader turns into a ``SpecError`` with the line.

References
----------
Office for National Statistics (2018). *Personal well-being user guidance*. Newport: ONS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .robustness_spec import ChoiceLabels, RobustnessSpecProblem

__all__ = ["ONS_ANXIETY_BANDS", "ONS_BANDS", "Band", "DistributionSpec", "parse_distributions"]


@dataclass(frozen=True)
class Band:
    """Answers ``lower <= value <= upper`` (inclusive), with a label in English and Vietnamese."""

    lower: float
    upper: float
    labels: ChoiceLabels

    def to_dict(self) -> dict:
        return {"lower": self.lower, "upper": self.upper, "labels": self.labels.to_dict()}


ONS_BANDS = (
    Band(0, 4, ChoiceLabels("Low (0–4)", "Thấp (0–4)")),
    Band(5, 6, ChoiceLabels("Medium (5–6)", "Trung bình (5–6)")),
    Band(7, 8, ChoiceLabels("High (7–8)", "Cao (7–8)")),
    Band(9, 10, ChoiceLabels("Very high (9–10)", "Rất cao (9–10)")),
)
ONS_ANXIETY_BANDS = (
    Band(0, 1, ChoiceLabels("Very low (0–1)", "Rất thấp (0–1)")),
    Band(2, 3, ChoiceLabels("Low (2–3)", "Thấp (2–3)")),
    Band(4, 5, ChoiceLabels("Medium (4–5)", "Trung bình (4–5)")),
    Band(6, 10, ChoiceLabels("High (6–10)", "Cao (6–10)")),
)


@dataclass(frozen=True)
class DistributionSpec:
    """Which items are banded and how (defaults: the ONS bands for every 0–10 item)."""

    bands: tuple = ONS_BANDS
    reversed_bands: tuple = ONS_ANXIETY_BANDS
    band_items: tuple | None = None  # None: every scale0_10 item
    reversed_items: tuple = ()

    def bands_for(self, item) -> tuple:
        """The bands of an item (an ``Item``), or ``()`` when it is not banded."""
        chosen = self.band_items if self.band_items is not None else (() if item.type != "scale0_10" else (item.name,))
        if item.name not in chosen:
            return ()
        return self.reversed_bands if item.name in self.reversed_items else self.bands

    def to_dict(self) -> dict:
        d: dict = {
            "bands": [b.to_dict() for b in self.bands],
            "reversed_bands": [b.to_dict() for b in self.reversed_bands],
        }
        if self.band_items is not None:
            d["band_items"] = list(self.band_items)
        if self.reversed_items:
            d["reversed_items"] = list(self.reversed_items)
        return d


def _bands(raw: Any, path: tuple) -> tuple:
    if not isinstance(raw, list) or not raw:
        raise RobustnessSpecProblem(path, "bands must be a non-empty array of { lower, upper, labels } tables")
    out = []
    for i, b in enumerate(raw):
        p = path + (i,)
        if not isinstance(b, Mapping) or set(b) != {"lower", "upper", "labels"}:
            raise RobustnessSpecProblem(p, "a band needs exactly lower, upper and labels = { en, vi }")
        lo, hi = b["lower"], b["upper"]
        if (
            any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in (lo, hi))
            or lo > hi
        ):
            raise RobustnessSpecProblem(p, f"lower and upper must be numbers with lower <= upper, got {lo!r}, {hi!r}")
        lab = b["labels"]
        if not isinstance(lab, Mapping) or not all(
            isinstance(lab.get(k), str) and lab[k].strip() for k in ("en", "vi")
        ):
            raise RobustnessSpecProblem(p + ("labels",), "labels need en and vi texts")
        if out and lo <= out[-1].upper:
            raise RobustnessSpecProblem(
                p + ("lower",),
                f"band starts at {lo}, inside the previous band "
                f"(up to {out[-1].upper}); list bands in ascending order without overlap",
            )
        out.append(Band(float(lo), float(hi), ChoiceLabels(lab["en"].strip(), lab["vi"].strip())))
    return tuple(out)


def parse_distributions(d: Any, *, items: Sequence) -> DistributionSpec | None:
    """Validate a ``[distributions]`` table; ``None`` (absent) returns ``None``.

    Raises
    ------
    RobustnessSpecProblem
        Unknown keys or items, overlapping bands, a banded item that is not ordered, or an
        answer code of a banded item that no band covers.
    """
    if d is None:
        return None
    if not isinstance(d, Mapping):
        raise RobustnessSpecProblem((), "[distributions] must be a table")
    allowed = {"bands", "reversed_bands", "band_items", "reversed_items"}
    for k in d:
        if k not in allowed:
            raise RobustnessSpecProblem((k,), f"unknown key {k!r}; allowed keys are {', '.join(sorted(allowed))}")
    by_name = {it.name: it for it in items}
    lists = {}
    for key in ("band_items", "reversed_items"):
        v = d.get(key)
        if v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise RobustnessSpecProblem((key,), f"{key} must be a list of item names")
        for nm in v:
            it = by_name.get(nm)
            if it is None or it.type not in ("likert5", "scale0_10", "integer"):
                raise RobustnessSpecProblem((key,), f"{nm!r} is not an ordered item of the spec")
        lists[key] = tuple(v)
    spec = DistributionSpec(
        bands=_bands(d["bands"], ("bands",)) if "bands" in d else ONS_BANDS,
        reversed_bands=_bands(d["reversed_bands"], ("reversed_bands",)) if "reversed_bands" in d else ONS_ANXIETY_BANDS,
        band_items=lists.get("band_items"),
        reversed_items=lists.get("reversed_items", ()),
    )
    for it in items:
        bands = spec.bands_for(it)
        for c in it.codes:
            if bands and not any(b.lower <= float(c) <= b.upper for b in bands):
                raise RobustnessSpecProblem(
                    ("bands",), f"answer {c} of item {it.name!r} falls in no band; make the bands cover every code"
                )
    return spec
