"""Year-on-year change of the index and its assessment against a target trajectory.

Two questions a statistics office answers every year:

1. *Did the index change since last year?*  :func:`compare` gives the change in
   **percentage points** (``change_pp``, new − old) and, separately, the **relative
   change in percent** (``change_rel_pct``, 100 · (new / old − 1)), each with a standard
   error, a confidence interval and a p-value. The two are never confused: a move from
   62.57 to 65.62 is +3.05 points and +4.87 %.
2. *Is the index on track for the plan?*  :class:`Trajectory` holds the plan's targets
   (year, value, source); :meth:`Trajectory.assess` says, year by year, whether the
   estimate reached its target, did not, or cannot be distinguished from it at the chosen
   level, how many points per year are still needed to reach the last target, and where a
   straight-line trend would land, with its uncertainty.

Independent samples or one design over both years
-------------------------------------------------
The variance of a difference is ``V(new) + V(old) − 2 Cov(new, old)``. Two surveys drawn
independently each year have ``Cov = 0`` and the default ``compare(new, old)`` is right.
When the years re-use the same PSUs (a panel of villages), the covariance is not zero
and usually positive: ignoring it overstates the SE of the change. Then estimate both
years in **one** design over the stacked data (PSU identity kept across years, the year
as a domain) and pass that joint table: ``compare(2024, 2023, joint=design.by("year").mean("y"))``.
The choice is explicit; :func:`compare` never guesses that two separately passed
estimates are correlated.

Published figures
-----------------
Provincial figures are published as bare numbers, without a standard error. They are
passed as plain numbers (or :class:`PublishedFigure`) and handled as such: a change or a
gap involving one has no SE, no interval and no p-value (NaN) unless the other side's SE
alone is reported as a lower bound (``se_lower_bound``). No uncertainty is invented.

References
----------
Kish, L. (1965). *Survey Sampling*, §12.4 (comparisons of overlapping samples). Wiley.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, §2.4 and §5.2. Wiley.
Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., §12.9. Wiley.
Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance
components. *Biometrics Bulletin* 2, 110–114.
"""

from __future__ import annotations

import math
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError, HappinessIndexError, HappinessIndexWarning, SpecError, describe_rows
from ..questionnaire.textformats import parse_json_or_toml
from ..survey.estimators import Estimate, EstimateTable
from .composite import BOUNDED_PRESETS

__all__ = [
    "Change",
    "ChangeTable",
    "compare",
    "previous_results",
    "PublishedFigure",
    "Target",
    "Trajectory",
    "Assessment",
    "TARGET_SETS",
    "STATUS_LABELS",
]

#: Bundled target sets: name -> file in ``happiness_index/data``.
TARGET_SETS = {
    "yen_bai_city_plan": "targets_yen_bai_city_plan.json",
    "yen_bai_province": "targets_yen_bai_province.json",
}

#: Status of a year against its target, in English and Vietnamese.
STATUS_LABELS = {
    "reached": {"en": "reached", "vi": "đạt mục tiêu"},
    "not reached": {"en": "not reached", "vi": "chưa đạt mục tiêu"},
    "not distinguishable": {"en": "not distinguishable from the target", "vi": "chưa phân biệt được với mục tiêu"},
    "no estimate": {"en": "no estimate", "vi": "chưa có số liệu"},
}

SAMPLES = ("independent", "joint")


def _nfc(s: Any) -> str:
    return unicodedata.normalize("NFC", str(s))


# ---------------------------------------------------------------------------------------
# inputs: estimates, index results, published figures
# ---------------------------------------------------------------------------------------
#: The numbers of a :class:`Change`, in the order tables and dicts list them.
CHANGE_NUMBERS = (
    "new", "old", "new_se", "old_se", "change_pp", "se", "ci_low", "ci_high", "df", "statistic", "p_value",
    "change_rel_pct", "se_rel_pct", "ci_rel_low", "ci_rel_high", "covariance", "samples",
)  # fmt: skip


@dataclass(frozen=True)
class PublishedFigure:
    """A published value of the index without sampling information.

    Attributes
    ----------
    value : float
        The published value (percent, 0–100, for an index).
    year : int, optional
    source : str
        Where it was published (document, date, address).
    se : float, optional
        Its standard error when the publisher gave one; ``None`` (the usual case) means
        unknown, and every test involving it is reported as not possible (NaN).
    components : dict, optional
        Published component values (e.g. ``{"ls": 55.5, "le": 78.72, "env": 69.82}``).
    label : str, optional
        E.g. ``"baseline"``.
    """

    value: float
    year: int | None = None
    source: str = ""
    se: float | None = None
    components: dict | None = None
    label: str = ""

    def __post_init__(self) -> None:
        """Refuse a value, SE, year or component that is not a usable number (EstimationError)."""
        what = "PublishedFigure"
        _real(self.value, "value", what, "give the published value as a number (e.g. 76.0 for 76.0%)")
        if self.se is not None:
            _checked_se(self.se, what, math.inf)
        if self.year is not None:
            object.__setattr__(self, "year", _figure_year(self.year, what))
        if self.components is not None:
            if not isinstance(self.components, Mapping):
                raise EstimationError(
                    f"{what}: components must be a mapping {{component: value}}, got {type(self.components).__name__}"
                )
            for k, v in self.components.items():
                _real(v, f"components[{k!r}]", what, "give each published component value as a number")
        for name in ("source", "label"):
            if not isinstance(getattr(self, name), str):
                raise EstimationError(f"{what}: {name} must be text, got {type(getattr(self, name)).__name__}")


@dataclass(frozen=True)
class _Point:
    value: float
    se: float  # NaN when unknown
    df: float
    n: int | None
    name: str
    published: bool
    interval: Any = None  # level -> (low, high) in the estimate's own CI method, scaled

    def ci(self, level: float) -> tuple[float, float]:
        if self.interval is not None:
            try:
                lo, hi = self.interval(level)
                return float(lo), float(hi)
            except HappinessIndexError:
                pass
        q = _tq(level, self.df) if math.isfinite(self.se) else float("nan")
        return self.value - q * self.se, self.value + q * self.se


#: Largest magnitude accepted for a value or SE on the ``"value"`` scale: squares and sums of
#: squares stay finite (an SE of 1e200 would overflow the variance of the change).
_MAX_MAGNITUDE = 1e50

#: (low, high) of a value on each scale, with the hint given when a value falls outside.
_RANGES = {
    "percent": (
        0.0,
        100.0,
        "an index in percent lies in 0-100 (pass scale='proportion' for 0-1, scale='value' for another quantity)",
    ),
    "proportion": (0.0, 1.0, "a proportion lies in 0-1 (an index in percent is passed with scale='percent')"),
    "value": (-_MAX_MAGNITUDE, _MAX_MAGNITUDE, f"a value's magnitude is at most {_MAX_MAGNITUDE:g}"),
}


def _real(v: Any, field_: str, what: str, fix: str) -> float:
    """``v`` as a finite float; a bool, text, None, NaN or infinity raises EstimationError."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise EstimationError(f"{what}: {field_} is {_shown(v)} ({type(v).__name__}), not a number; {fix}")
    x = float(v)
    if not math.isfinite(x):
        raise EstimationError(f"{what}: {field_} is {x}, not a finite number; {fix}")
    return x


def _checked_se(v: Any, what: str, high: float, limit: str = "the whole range of the scale") -> float:
    se = _real(v, "se", what, "give the standard error as a finite number >= 0")
    if se < 0:
        raise EstimationError(f"{what}: se is {se:g}, negative; a standard error is >= 0: check the file or value")
    if se > high:
        raise EstimationError(
            f"{what}: se is {se:g}, larger than {limit} ({high:g}); check the file or value "
            "(an SE is in the units of the estimate: points for an index in percent)"
        )
    return se


def _figure_year(y: Any, what: str) -> int:
    """An integer year in 1900-2200 (an int, or a float with an integer value); EstimationError otherwise."""
    ok = isinstance(y, (int, np.integer)) or (isinstance(y, (float, np.floating)) and float(y).is_integer())
    if isinstance(y, (bool, np.bool_)) or not ok:
        raise EstimationError(
            f"{what}: year is {_shown(y)} ({type(y).__name__}), not an integer year; give it as a whole number (2023)"
        )
    yi = int(y)
    if not 1900 <= yi <= 2200:
        raise EstimationError(f"{what}: year {yi} is outside 1900-2200; give the survey year (e.g. 2023)")
    return yi


def _checked_figure(
    estimate: Any, se: Any, df: Any, what: str, scale: str, name: str = "estimate", bounded: bool = False
) -> tuple[float, float, float]:
    """(estimate, se or NaN when unknown, df or inf when unknown) of a figure on ``scale``; refused when unusable.

    ``bounded``: the index is a share or a mean of shares (0-100 in percent, 0-1 as a proportion).
    Otherwise (a ratio such as ``HI = LS × LE / ENV``, which exceeds 100 whenever
    LS × LE > 100 × ENV) a percent or proportion index lies in 0 to 100 times that top.
    """
    lo, hi, hint = _RANGES.get(scale, _RANGES["value"])
    if scale in ("percent", "proportion") and not bounded:
        hi = 100 * hi  # LS × LE / ENV exceeds 100 (percent) when LS × LE > 100 × ENV, not a hundredfold
        hint = f"an index in {scale} is not negative, and a ratio index (LS × LE / ENV) stays below {hi:g}"
    est = _real(estimate, name, what, f"give the {name} as a finite number")
    if not lo <= est <= hi:
        raise EstimationError(f"{what}: {name} {est:g} is outside {lo:g}-{hi:g}: {hint}")
    if se is None:
        s = float("nan")
    elif scale in ("percent", "proportion") and bounded:
        s = _checked_se(se, what, hi - lo)
    else:
        s = _checked_se(se, what, _MAX_MAGNITUDE, "the largest magnitude accepted")
    if df is None:
        return est, s, math.inf
    if isinstance(df, (bool, np.bool_)) or not isinstance(df, (int, float, np.integer, np.floating)):
        raise EstimationError(f"{what}: df is {_shown(df)} ({type(df).__name__}), not a number; give the design df")
    d = float(df)
    if not d > 0:
        raise EstimationError(
            f"{what}: df is {d:g}; degrees of freedom are > 0 (inf for a Normal interval): check the file or value"
        )
    return est, s, d


def _point(x: Any, what: str, scale_factor: float, scale: str = "percent") -> _Point:
    """Reduce an index result, an estimate, a mapping or a number to a point with an SE."""
    overall = getattr(x, "overall", None)
    if overall is not None and not isinstance(x, Mapping):
        x = overall
    if isinstance(x, Estimate):

        def interval(level, _x=x, _f=scale_factor):
            lo, hi = _x.confint(level)
            return lo * _f, hi * _f

        return _Point(x.estimate * scale_factor, x.se * scale_factor, float(x.df), x.n, x.name, False, interval)
    if isinstance(x, PublishedFigure):
        v, se, _ = _checked_figure(x.value, x.se, None, f"{what} (PublishedFigure)", scale, "value")
        return _Point(
            v * scale_factor,
            se * scale_factor,
            math.inf,
            None,
            f"published {x.year}" if x.year else "published",
            x.se is None,
        )
    if isinstance(x, Mapping):
        if "overall" in x and isinstance(x["overall"], Mapping):
            x = x["overall"]
        if "estimate" not in x:
            raise EstimationError(f"{what}: a mapping needs an 'estimate' key (and 'se', 'df'); got keys {sorted(x)}")
        v, se, df = _checked_figure(x["estimate"], x.get("se"), x.get("df"), what, scale)
        interval = _stored_interval(x, scale_factor)
        return _Point(
            v * scale_factor, se * scale_factor, df, x.get("n"), str(x.get("name", what)), math.isnan(se), interval
        )
    if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_)):
        v, _, _ = _checked_figure(x, None, None, what, scale)
        return _Point(v * scale_factor, float("nan"), math.inf, None, "published", True)
    raise EstimationError(
        f"{what} must be an IndexResult, an Estimate, a PublishedFigure, a mapping with "
        f"'estimate'/'se' or a number (a published figure); got {type(x).__name__}"
    )


def _stored_interval(x: Mapping, scale_factor: float):
    """The interval a results file stores (``ci_low``, ``ci_high`` at ``level``: the estimate's own
    CI method, e.g. on the log scale), used at that level; None when absent. At another level
    the caller falls back to a t interval around the estimate."""
    lo, hi, lev = x.get("ci_low"), x.get("ci_high"), x.get("level")
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in (lo, hi, lev)):
        return None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lev < 1):
        return None

    def interval(level, _lo=float(lo), _hi=float(hi), _lev=float(lev)):
        if abs(level - _lev) > 1e-9:
            raise EstimationError(f"the stored interval is at level {_lev:g}, not {level:g}")
        return _lo * scale_factor, _hi * scale_factor

    return interval


def _unit(scale: str) -> str:
    return "units (difference of the values)" if scale == "value" else "percentage points"


def _scale_factor(scale: str | None, *objs) -> tuple[float, str]:
    if scale is None:
        stats_ = []
        for o in objs:
            o = getattr(o, "overall", o)
            if isinstance(o, Estimate):
                stats_.append(o.statistic)
            elif isinstance(o, EstimateTable) and len(o):
                stats_.append(o[0].statistic)
        props = [st == "proportion" for st in stats_]
        if any(props) and not all(props):
            raise EstimationError(
                "compare(): one side is a proportion (0-1) and the other is not (e.g. an "
                "index in percent): put both on one scale first (multiply the proportion "
                "by 100), or pass scale= explicitly"
            )
        scale = "proportion" if stats_ and props[0] else "percent"
    if scale in ("percent", "value"):
        return 1.0, scale
    if scale == "proportion":
        return 100.0, scale
    raise EstimationError(
        f"scale must be 'percent' (values 0-100), 'proportion' (values 0-1) or 'value' "
        f"(any other quantity: the change is in its units), got {scale!r}"
    )


def _welch_df(v1: float, df1: float, v2: float, df2: float) -> float:
    """Satterthwaite degrees of freedom of ``v1 + v2``."""
    terms = 0.0
    for v, d in ((v1, df1), (v2, df2)):
        if not math.isinf(d):
            if not d > 0:
                return float("nan")
            terms += v * v / d
    if terms == 0.0:
        return math.inf
    return (v1 + v2) * (v1 + v2) / terms


def _tq(level: float, df: float) -> float:
    if not 0 < level < 1:
        raise EstimationError(f"level must be in (0, 1), got {_shown(level)}; write 0.95 for 95%")
    if math.isinf(df):
        return float(stats.norm.ppf(0.5 + level / 2))
    if not df > 0:
        return float("nan")
    return float(stats.t.ppf(0.5 + level / 2, df))


def _cdf(t: float, df: float) -> float:
    return float(stats.norm.cdf(t)) if math.isinf(df) else float(stats.t.cdf(t, df))


# ---------------------------------------------------------------------------------------
# Change
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """The change of an index between two years.

    Attributes
    ----------
    name : str
    new, old : float
        The two values, in percent (0–100).
    new_se, old_se : float
        Their standard errors in points (NaN for a published figure without SE).
    change_pp : float
        ``new − old`` in **percentage points**.
    se, ci_low, ci_high : float
        SE and ``level`` interval of ``change_pp`` (NaN when an SE is unknown).
    df : float
        Degrees of freedom of the interval (design df for a joint design; Satterthwaite
        combination of the two designs' df for independent samples; ``inf``: Normal).
    statistic, p_value : float
        ``t = change_pp / se`` and the two-sided p-value of "no change".
    change_rel_pct : float
        ``100 · (new / old − 1)``: the **relative** change in percent of the old value.
    se_rel_pct : float
        Delta-method SE of ``change_rel_pct``.
    ci_rel_low, ci_rel_high : float
        Interval of the relative change, built on the log ratio and back-transformed
        (cannot go below −100 %).
    covariance : float
        ``Cov(new, old)`` used (0 for independent samples).
    samples : {"independent", "joint"}
        How the two years were treated.
    level : float
    se_lower_bound : float
        When one side is a published figure without SE: the SE from the other side alone,
        a lower bound of the true SE (NaN otherwise).
    note : str
    """

    name: str
    new: float
    old: float
    new_se: float
    old_se: float
    change_pp: float
    se: float
    ci_low: float
    ci_high: float
    df: float
    statistic: float
    p_value: float
    change_rel_pct: float
    se_rel_pct: float
    ci_rel_low: float
    ci_rel_high: float
    covariance: float
    samples: str
    level: float = 0.95
    se_lower_bound: float = float("nan")
    note: str = ""
    new_label: str = "new"
    old_label: str = "old"
    unit: str = "percentage points"
    by_group: ChangeTable | None = field(default=None, repr=False, compare=False)

    @property
    def significant(self) -> bool:
        """True when the two-sided p-value is below ``1 - level``."""
        return bool(self.p_value < 1 - self.level)

    def to_dict(self) -> dict:
        """Plain dict of every number (JSON-friendly; NaN kept as float NaN)."""
        keys = ["name", "unit", "new_label", "old_label", *CHANGE_NUMBERS, "level", "se_lower_bound", "note"]
        out = {k: getattr(self, k) for k in keys}
        if self.by_group is not None:
            out["by_group"] = self.by_group.to_frame().to_dict(orient="records")
        return out

    def __str__(self) -> str:
        pct = f"{100 * self.level:g}%"
        s = (
            f"{self.name}: {self.old_label} {self.old:.2f} -> {self.new_label} {self.new:.2f}; "
            f"change {self.change_pp:+.2f} {self.unit}"
        )
        if math.isfinite(self.se):
            s += (
                f" (SE {self.se:.2f}; {pct} CI {self.ci_low:+.2f} to {self.ci_high:+.2f}; "
                f"{'p < 0.0001' if self.p_value < 1e-4 else f'p = {self.p_value:.3g}'})"
            )
        else:
            s += " (SE unknown: a published figure has no SE)"
        s += f"; relative change {self.change_rel_pct:+.2f}% of the {self.old_label} value"
        if math.isfinite(self.ci_rel_low):
            s += f" ({pct} CI {self.ci_rel_low:+.2f}% to {self.ci_rel_high:+.2f}%)"
        s += f" [{self.samples} samples]" if self.samples == "independent" else " [one design over both years]"
        return s


def _relative_change(new: _Point, old: _Point, cov: float, q: float, se: float) -> tuple[float, float, float, float]:
    """(change_rel_pct, its delta-method SE, interval low, high); IEEE inf/NaN instead of an overflow."""
    if old.value == 0:
        return (float("nan"),) * 4
    with np.errstate(all="ignore"):  # a tiny old value or a huge SE gives inf, never an exception
        nv, ov, ns, os_ = (np.float64(x) for x in (new.value, old.value, new.se, old.se))
        ratio = nv / ov
        rel = 100.0 * (ratio - 1.0)
        g_new, g_old = 1.0 / ov, -nv / (ov * ov)
        v_rel = g_new * g_new * ns * ns + g_old * g_old * os_ * os_ + 2 * g_new * g_old * cov
        se_rel = 100.0 * np.sqrt(v_rel) if v_rel >= 0 else np.nan
        lo_r = hi_r = np.nan
        if ratio > 0 and nv > 0 and math.isfinite(se):
            v_log = (ns / nv) ** 2 + (os_ / ov) ** 2 - 2 * cov / (nv * ov)
            s_log = np.sqrt(max(v_log, 0.0))
            lo_r = 100.0 * (np.exp(np.log(ratio) - q * s_log) - 1.0)
            hi_r = 100.0 * (np.exp(np.log(ratio) + q * s_log) - 1.0)
    return float(rel), float(se_rel), float(lo_r), float(hi_r)


def _change(
    new: _Point,
    old: _Point,
    cov: float,
    df: float,
    level: float,
    samples: str,
    name: str,
    new_label: str,
    old_label: str,
    note: str = "",
) -> Change:
    d = new.value - old.value
    var = new.se**2 + old.se**2 - 2.0 * cov
    se = math.sqrt(var) if var >= 0 else float("nan")
    if var < 0 and math.isfinite(var):
        raise EstimationError(
            f"{name}: the variance of the change is negative ({var:.3g}); "
            "the covariance passed is larger than the variances allow"
        )
    lower = float("nan")
    if new.published != old.published:
        known = old if new.published else new
        lower = known.se
        note = (note + " " if note else "") + (
            "one side is a published figure without SE: the change has no SE, interval or "
            f"p-value; the other side's SE ({known.se:.3g} points) is a lower bound"
        )
    q = _tq(level, df) if math.isfinite(se) else float("nan")
    if math.isfinite(se) and se > 0:
        t = d / se
        p = 2.0 * (1.0 - _cdf(abs(t), df))
    elif math.isfinite(se):
        t, p = (math.copysign(math.inf, d) if d else float("nan")), (0.0 if d else float("nan"))
    else:
        t = p = float("nan")
    rel, se_rel, lo_r, hi_r = _relative_change(new, old, cov, q, se)
    return Change(
        name=name,
        new=new.value,
        old=old.value,
        new_se=new.se,
        old_se=old.se,
        change_pp=d,
        se=se,
        ci_low=d - q * se,
        ci_high=d + q * se,
        df=df,
        statistic=t,
        p_value=p,
        change_rel_pct=rel,
        se_rel_pct=se_rel,
        ci_rel_low=lo_r,
        ci_rel_high=hi_r,
        covariance=cov,
        samples=samples,
        level=level,
        se_lower_bound=lower,
        note=note,
        new_label=new_label,
        old_label=old_label,
    )


class ChangeTable:
    """Changes for several domains (communes), one :class:`Change` per row.

    Attributes
    ----------
    changes : list of Change
    keys : DataFrame
        The domain key columns, one row per change.
    unmatched : dict
        Domains present in only one of the two years: ``{"new_only": [...], "old_only": [...]}``.
    """

    def __init__(self, changes: Sequence[Change], keys: pd.DataFrame, unmatched: dict | None = None):
        self.changes = list(changes)
        self.keys = keys.reset_index(drop=True)
        self.unmatched = unmatched or {"new_only": [], "old_only": []}

    def __len__(self) -> int:
        return len(self.changes)

    def __iter__(self):
        return iter(self.changes)

    def __getitem__(self, key) -> Change:
        if isinstance(key, (int, np.integer)):
            return self.changes[int(key)]
        for c in self.changes:
            if c.name == _nfc(key):
                return c
        raise KeyError(f"{key!r} is not a domain of this table; domains are {[c.name for c in self.changes]}")

    def to_frame(self) -> pd.DataFrame:
        """One row per domain: keys, then the numbers of :class:`Change`."""
        cols = list(CHANGE_NUMBERS)
        body = pd.DataFrame([{k: getattr(c, k) for k in cols} for c in self.changes], columns=cols)
        return pd.concat([self.keys, body], axis=1)

    def __repr__(self) -> str:
        return f"ChangeTable({len(self)} domains)\n{self.to_frame().to_string()}"


def _table_of(x: Any) -> EstimateTable | None:
    if isinstance(x, EstimateTable):
        return x
    bg = x.get("by_group") if isinstance(x, Mapping) else getattr(x, "by_group", None)
    return bg if isinstance(bg, EstimateTable) else None


def _compare_tables(
    new_t: EstimateTable, old_t: EstimateTable, f: float, level: float, new_label: str, old_label: str
) -> ChangeTable:
    new_l = [_nfc(x) for x in new_t.labels]
    old_l = [_nfc(x) for x in old_t.labels]
    common = [lab for lab in new_l if lab in old_l]
    changes, rows = [], []
    for lab in common:
        a, b = new_t[new_l.index(lab)], old_t[old_l.index(lab)]
        pa, pb = _point(a, "new", f), _point(b, "old", f)
        df = _welch_df(pa.se**2, pa.df, pb.se**2, pb.df)
        changes.append(_change(pa, pb, 0.0, df, level, "independent", lab, new_label, old_label))
        rows.append(new_t.keys.iloc[new_l.index(lab)])
    keys = pd.DataFrame(rows).reset_index(drop=True) if rows else pd.DataFrame(columns=new_t.keys.columns)
    return ChangeTable(
        changes,
        keys,
        {"new_only": [x for x in new_l if x not in old_l], "old_only": [x for x in old_l if x not in new_l]},
    )


def _compare_joint(
    joint: Any, new_key: Any, old_key: Any, f: float, level: float, year_column: str | None
) -> Change | ChangeTable:
    table = _table_of(joint)
    if table is None:
        raise EstimationError(
            "joint= must be an EstimateTable from ONE design over the stacked years with the year as "
            "a domain (e.g. design.by('year').mean('y'), or an IndexResult computed with by='year'); "
            f"got {type(joint).__name__}"
        )
    keys = table.keys
    nk, ok = _nfc(new_key), _nfc(old_key)
    cand = [c for c in keys.columns if {nk, ok} <= set(keys[c].map(_nfc))]
    if year_column is not None:
        if year_column not in keys.columns:
            raise EstimationError(
                f"year_column {year_column!r} is not a key of the joint table (keys: {list(keys.columns)})"
            )
        cand = [year_column] if year_column in cand else []
    if not cand:
        raise EstimationError(
            f"the joint table has no key column holding both {new_key!r} and {old_key!r}; its keys are "
            f"{list(keys.columns)} with rows {table.labels[:10]}; estimate both years in one design "
            "with the year as a domain"
        )
    if len(cand) > 1:
        raise EstimationError(f"several key columns {cand} hold {new_key!r} and {old_key!r}; pass year_column=")
    ycol = cand[0]
    others = [c for c in keys.columns if c != ycol]
    yv = keys[ycol].map(_nfc).to_numpy()
    V = table.vcov_matrix()
    est = table.estimate
    groups = [()] if not others else list(dict.fromkeys(map(tuple, keys[others].map(_nfc).to_numpy())))
    changes, krows, missing = [], [], []
    for g in groups:
        sel = np.ones(len(keys), dtype=bool)
        for c, v in zip(others, g):
            sel &= keys[c].map(_nfc).to_numpy() == v
        i_new = np.flatnonzero(sel & (yv == nk))
        i_old = np.flatnonzero(sel & (yv == ok))
        if len(i_new) != 1 or len(i_old) != 1:
            missing.append(", ".join(g))
            continue
        i, j = int(i_new[0]), int(i_old[0])
        a, b = table[i], table[j]
        pa = _Point(est[i] * f, math.sqrt(V[i, i]) * f, table.df, a.n, a.name, False)
        pb = _Point(est[j] * f, math.sqrt(V[j, j]) * f, table.df, b.n, b.name, False)
        coef = np.zeros(len(est))
        coef[i], coef[j] = 1.0, -1.0
        if table._replicates is not None:
            # replicate designs: the variance of the difference straight from the replicates
            c_est = table.contrast(coef)
            cov = 0.5 * (pa.se**2 + pb.se**2 - (c_est.se * f) ** 2)
        else:
            cov = float(V[i, j]) * f * f
        name = ", ".join(g) if g else "index"
        changes.append(
            _change(
                pa,
                pb,
                cov,
                table.df,
                level,
                "joint",
                name,
                nk,
                ok,
                note="one design over both years: Cov(new, old) from the shared PSUs included",
            )
        )
        krows.append(dict(zip(others, g)))
    if not changes:
        raise EstimationError(f"no domain has exactly one row for {new_key!r} and one for {old_key!r}")
    if not others:
        return changes[0]
    return ChangeTable(changes, pd.DataFrame(krows), {"new_only": missing, "old_only": []})


def compare(
    new: Any,
    old: Any,
    *,
    joint: Any = None,
    samples: str | None = None,
    covariance: float | None = None,
    scale: str | None = None,
    level: float = 0.95,
    df: float | None = None,
    year_column: str | None = None,
    labels: tuple[str, str] | None = None,
    name: str | None = None,
) -> Change | ChangeTable:
    """Change of the index from ``old`` to ``new``: points and relative percent, SE, CI, p.

    Parameters
    ----------
    new, old : IndexResult, Estimate, EstimateTable, PublishedFigure, mapping, number or label
        The two years. Without ``joint``: results of two separately estimated years (an
        :class:`IndexResult` gives the city change and, when both have ``by_group``, the
        change per commune in ``.by_group``; two :class:`EstimateTable` give a
        :class:`ChangeTable` matched by row label), or published numbers. With ``joint``:
        the two year labels (e.g. ``2024, 2023``).
    joint : EstimateTable or IndexResult, optional
        Estimates of both years from ONE design over the stacked data, with the year as a
        domain key (``design.by("year").mean("y")``, ``design.by(["year", "commune"])...``,
        or an IndexResult whose ``by_group`` is keyed by year). The covariance of the two
        years from shared PSUs then enters the variance. With a second key (commune) the
        result is a :class:`ChangeTable` per commune.
    samples : {"independent", "joint"}, optional
        Declares how the years were sampled. Default: ``"joint"`` when ``joint`` is given,
        else ``"independent"`` (Cov = 0). ``"joint"`` without ``joint=`` needs
        ``covariance=``; ``"independent"`` with ``joint=`` is refused (contradictory).
    covariance : float, optional
        ``Cov(new, old)`` in the squared units of the inputs, when known from elsewhere.
    scale : {"percent", "proportion", "value"}, optional
        Units of the inputs. ``"proportion"`` (0–1) values are multiplied by 100 so that
        changes are in percentage points; ``"value"``: another quantity (a mean score),
        whose change is in its own units (``change_pp`` then holds that difference and
        ``unit`` says so). Default: ``"proportion"`` for estimates whose statistic is a
        proportion, else ``"percent"``.
    level : float, default 0.95
        Confidence level of the intervals.
    df : float, optional
        Degrees of freedom for the interval and test; default the joint design's df, or the
        Satterthwaite combination of the two designs' df (Normal when both are infinite).
        ``math.inf`` gives Normal quantiles (R's ``confint`` default).
    year_column : str, optional
        The key column of ``joint`` holding the year, when ambiguous.
    labels : (str, str), optional
        Names of the two years for printing; default the years or "new"/"old".
    name : str, optional

    Returns
    -------
    Change or ChangeTable
        ``change_pp`` (points) and ``change_rel_pct`` (relative %) with SEs, intervals and
        the two-sided p-value of no change.

    Warns
    -----
    HappinessIndexWarning
        ``new`` and ``old`` are the same object or carry the same ``provenance["data_hash"]``
        while treated as independent samples: the independence assumption is false.

    Raises
    ------
    EstimationError
        Unusable inputs; ``samples="joint"`` without ``joint`` or ``covariance``;
        ``samples="independent"`` together with ``joint``; a year missing from ``joint``;
        a covariance larger than the variances allow.

    Notes
    -----
    ``V(new − old) = V(new) + V(old) − 2 Cov(new, old)``. With a joint design the
    covariance is the off-diagonal element of the domain covariance matrix (linearization:
    the PSU totals of both years' influence values are paired within the same PSU; R's
    ``svyby(..., covmat=TRUE)`` then ``svycontrast``), so years observed in the same PSUs
    are handled correctly, and years in different PSUs get (almost) zero covariance.
    Relative change ``r = new/old − 1``: delta-method SE
    ``sqrt(V(new)/old² + new² V(old)/old⁴ − 2 new Cov/old³)``; its interval is
    ``exp(log(new/old) ± q · se_log) − 1`` with
    ``se_log² = V(new)/new² + V(old)/old² − 2 Cov/(new · old)``.

    Examples
    --------
    >>> hi.compare(result_2024, result_2023)                          # doctest: +SKIP
    >>> hi.compare(2024, 2023, joint=design.by("year").mean("life_sat"))  # doctest: +SKIP

    References
    ----------
    Kish, L. (1965). *Survey Sampling*. Wiley (change between independent samples).
    """
    if samples is not None and samples not in SAMPLES:
        raise EstimationError(f"samples must be one of {SAMPLES}, got {samples!r}")
    if joint is not None:
        if samples == "independent":
            raise EstimationError(
                "samples='independent' contradicts joint=: a joint table comes from one design over both "
                "years and its covariance must be used; pass two separately estimated results instead"
            )
        f, sc = _scale_factor(scale, _table_of(joint))
        out = _compare_joint(joint, new, old, f, level, year_column)
        out = _with_unit(out, _unit(sc))
        if df is not None:
            out = _redf(out, df, level)
        return out
    samples = samples or "independent"
    _check_same_method(new, old)
    if samples == "independent" and covariance is None:
        _warn_same_data(new, old)
    if samples == "joint" and covariance is None:
        raise EstimationError(
            "samples='joint' needs the covariance of the two years: estimate both years in one design "
            "over the stacked data and pass joint=design.by('year')..., or pass covariance="
        )
    f, sc = _scale_factor(scale, new, old)
    new_label, old_label = _labels(labels)
    _check_years(new, old)
    tn, to = isinstance(new, EstimateTable), isinstance(old, EstimateTable)
    if tn or to:
        if not (tn and to):
            raise EstimationError("compare two EstimateTables (per-domain) or two single results, not one of each")
        if covariance is not None:
            raise EstimationError("covariance= applies to a single pair; for domains use joint=")
        out = _compare_tables(new, old, f, level, new_label, old_label)
        if not len(out) and len(new) and len(old):
            raise EstimationError(
                f"the two tables have no domain in common (new: {describe_rows(new.labels[:5])}; old: "
                f"{describe_rows(old.labels[:5])}): were they estimated by the same column (by=)? After a "
                "boundary change, put the old year on the new units first (hi.recode_to_new_units)"
            )
        return _with_unit(out, _unit(sc))
    pn, po = _point(new, "new", f, sc), _point(old, "old", f, sc)
    if scale is None and sc == "percent":
        _refuse_proportion_on_percent(new, pn, old, po)
    cov = 0.0 if covariance is None else float(covariance) * f * f
    d = (
        df
        if df is not None
        else _welch_df(pn.se**2, pn.df, po.se**2, po.df)
        if not (pn.published or po.published)
        else math.inf
    )
    note = (
        "independent samples assumed (Cov = 0): right only when the two years were drawn separately"
        if samples == "independent" and covariance is None
        else "covariance supplied by the caller"
    )
    out = _change(pn, po, cov, d, level, samples, name or "index", new_label, old_label, note)
    tn_, to_ = _table_of(new), _table_of(old)
    if tn_ is not None and to_ is not None:
        out = _replace(out, by_group=_with_unit(_compare_tables(tn_, to_, f, level, new_label, old_label), _unit(sc)))
    return _with_unit(out, _unit(sc))


def _labels(labels: Any) -> tuple[str, str]:
    """The (new, old) labels of a change; anything but two texts raises EstimationError."""
    if labels is None:
        return "new", "old"
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence) or len(labels) != 2:
        raise EstimationError(
            f"labels must be two texts (new, old), e.g. labels=('2024', '2023'); got {_shown(labels)}"
        )
    return str(labels[0]), str(labels[1])


def _year_of(x: Any) -> int | None:
    """The year carried by a PublishedFigure or a mapping (``"year"``), else None."""
    if isinstance(x, PublishedFigure):
        return x.year
    if isinstance(x, Mapping) and x.get("year") is not None:
        return _figure_year(x["year"], "compare(): the year of a mapping")
    return None


def _check_years(new: Any, old: Any) -> None:
    """Refuse a change whose old year is not earlier than its new year (when both carry one)."""
    yn, yo = _year_of(new), _year_of(old)
    if yn is not None and yo is not None and not yo < yn:
        raise EstimationError(
            f"compare(new, old): the old figure's year {yo} is not earlier than the new figure's year {yn}; "
            "a change runs from an earlier year to a later one: pass compare(later, earlier), and check the "
            "year in each file"
        )


def _refuse_proportion_on_percent(new: Any, pn: _Point, old: Any, po: _Point) -> None:
    """Refuse a bare figure in 0-1 (a proportion) set against an index in percent."""
    for x, p, other in ((new, pn, po), (old, po, pn)):
        bare = not isinstance(getattr(x, "overall", x), Estimate)
        if bare and 0 < p.value <= 1 and other.value >= 5:
            raise EstimationError(
                f"compare(): {p.name} is {p.value:g}, a proportion (0-1), while the other side is "
                f"{other.value:g} percent: a change of {abs(other.value - p.value):.2f} points would be "
                f"nonsense. Give the figure in percent ({100 * p.value:g}), or pass scale= explicitly"
            )


_METHOD_KEYS = ("preset", "formula", "scale")


def _method_of(x) -> dict | None:
    """The index method (preset, formula, scale) of an IndexResult or its ``to_dict()``, else None."""
    spec = getattr(x, "spec", None)
    if spec is not None and all(hasattr(spec, k) for k in _METHOD_KEYS):
        return {"name": getattr(spec, "name", "?"), **{k: getattr(spec, k) for k in _METHOD_KEYS}}
    if isinstance(x, Mapping) and isinstance(x.get("spec"), Mapping) and all(k in x["spec"] for k in _METHOD_KEYS):
        return {"name": x["spec"].get("name", "?"), **{k: x["spec"][k] for k in _METHOD_KEYS}}
    return None


def _check_same_method(new, old) -> None:
    """Refuse a change between two results computed with different index methods."""
    mn, mo = _method_of(new), _method_of(old)
    if mn is None or mo is None:
        return
    diff = [k for k in _METHOD_KEYS if mn[k] != mo[k]]
    if diff:
        what = "; ".join(f"{k}: new {mn[k]!r}, old {mo[k]!r}" for k in diff)
        raise EstimationError(
            f"compare(): the two results were computed with different index methods (spec {mn['name']!r} vs "
            f"{mo['name']!r}; {what}), so their difference is not a change of the same index. Recompute "
            "both years with one spec (compute_index(old_data, spec_of_new)); to compare across the break "
            "in series on purpose, pass the two estimates explicitly: compare(new.overall, old.overall)"
        )


def previous_results(results: Any, *, year: int | None = None, source: str = "previous results") -> dict:
    """Check last year's results (the ``results.json`` of an annual run) before a change is computed.

    Parameters
    ----------
    results : mapping
        The parsed ``results.json`` written by ``happiness-index run`` (or ``run_annual(...).results``):
        it must hold ``year`` (an integer), ``index`` (``estimate``, ``se`` and usually ``df``,
        ``ci_low``, ``ci_high``, ``n``) and ``spec`` (``name``, ``preset``, ``formula``, ``scale``).
    year : int, optional
        This year: last year's ``year`` must be earlier.
    source : str
        Where the results come from (a file name), shown in messages.

    Returns
    -------
    dict
        The index of last year as a flat mapping accepted by :func:`compare` and
        :meth:`Trajectory.assess`: ``estimate``, ``se`` (points), ``df`` (``inf`` when absent),
        ``ci_low``, ``ci_high``, ``n``, ``year``, ``spec`` (so that :func:`compare` refuses a
        change between two index methods) and ``provenance``.

    Raises
    ------
    EstimationError
        Not a mapping; a block missing (``year``, ``index`` or ``spec``; without ``spec`` the
        method of last year cannot be checked against this year's); a number that is not
        finite, outside the spec's scale (0-100 for percent, 0-1 for a proportion), a negative
        or missing SE, df not > 0, an interval not around its estimate; a year that is not an
        integer in 1900-2200 or not earlier than ``year``.
    """
    if not isinstance(results, Mapping):
        raise EstimationError(
            f"{source}: last year's results must be the results.json of an annual run (a JSON object), "
            f"got {type(results).__name__}"
        )
    missing = [k for k in ("year", "index", "spec") if results.get(k) is None]
    if missing:
        raise EstimationError(
            f"{source}: no {', '.join(repr(k) for k in missing)} in last year's results; "
            + (
                "without 'spec' the index method of last year cannot be checked against this year's; "
                if "spec" in missing
                else ""
            )
            + "give the results.json written by 'happiness-index run' for last year, unchanged (or last year's "
            "survey file)"
        )
    idx, spec = results["index"], results["spec"]
    # the formula is written as null for presets without one (af_gnh): preset and scale are required
    for name, block, keys in (("index", idx, ("estimate", "se")), ("spec", spec, ("preset", "scale"))):
        if not isinstance(block, Mapping):
            raise EstimationError(
                f"{source}: '{name}' is {type(block).__name__}, not a table of {', '.join(keys)}; give the "
                "results.json written by 'happiness-index run' for last year, unchanged"
            )
        absent = [k for k in keys if block.get(k) is None]
        if absent:
            raise EstimationError(
                f"{source}: '{name}' has no {', '.join(repr(k) for k in absent)}; give the results.json written "
                "by 'happiness-index run' for last year, unchanged"
            )
    scale = spec["scale"] if spec["scale"] in ("percent", "proportion") else "value"
    bounded = spec["preset"] in BOUNDED_PRESETS
    what = f"{source}: index"
    est, se, df = _checked_figure(idx["estimate"], idx["se"], idx.get("df"), what, scale, bounded=bounded)
    out = {"estimate": est, "se": se, "df": df, "name": "index"}
    for k in ("ci_low", "ci_high"):
        if idx.get(k) is not None:
            out[k] = _checked_figure(idx[k], None, None, f"{what} ({k})", scale, bounded=bounded)[0]
    if not out.get("ci_low", est) <= est <= out.get("ci_high", est):
        raise EstimationError(
            f"{what}: the interval {out['ci_low']:g} - {out['ci_high']:g} does not contain the estimate {est:g}; "
            "check the file"
        )
    lev = idx.get("level")
    if isinstance(lev, (int, float)) and not isinstance(lev, bool) and 0 < lev < 1:
        out["level"] = float(lev)  # the level of ci_low / ci_high, which comparisons then reuse
    n = idx.get("n")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise EstimationError(f"{what}: n is {_shown(n)}, not a count of respondents (a whole number >= 1)")
        out["n"] = int(n)
    out["year"] = _figure_year(results["year"], f"{source}: year")
    if year is not None and not out["year"] < int(year):
        raise EstimationError(
            f"{source}: last year's results are for {out['year']}, not earlier than this year {int(year)}: a change "
            f"from {out['year']} to {int(year)} is not a change between years; give the results of an earlier "
            "year (--previous), or check the year of this year's survey (--year)"
        )
    out["spec"] = {k: spec.get(k) for k in ("name", "version", *_METHOD_KEYS)}
    prov = results.get("provenance")
    if isinstance(prov, Mapping):
        out["provenance"] = dict(prov)
    table = _previous_domains(results.get("communes"), source, scale, bounded, out.get("level", 0.95))
    if table is not None:
        out["by_group"] = table
    return out


def _previous_domains(rows: Any, source: str, scale: str, bounded: bool, level: float) -> EstimateTable | None:
    """Last year's commune rows of a results.json as an EstimateTable (for the change per commune).

    The unit is the first column of the rows (the spec's commune column, as ``run`` writes them);
    rows without an estimate (a commune without respondents) are left out. None without rows.
    """
    if not isinstance(rows, list) or not rows or not all(isinstance(r, Mapping) for r in rows):
        return None
    unit = next(iter(rows[0]))
    kept = [r for r in rows if r.get("estimate") is not None and r.get(unit) is not None]
    if not kept:
        return None
    vals = []
    for r in kept:
        what = f"{source}: commune {_shown(r[unit])}"
        est, se, df = _checked_figure(r["estimate"], r.get("se"), r.get("df"), what, scale, bounded=bounded)
        lo, hi = (
            _checked_figure(r[k], None, None, f"{what} ({k})", scale, bounded=bounded)[0]
            if r.get(k) is not None
            else float("nan")
            for k in ("ci_low", "ci_high")
        )
        vals.append((est, se, df, lo, hi))
    est, se, df, lo, hi = (np.array(v, dtype=float) for v in zip(*vals))
    labels = [_nfc(str(r[unit])) for r in kept]
    if len(set(labels)) != len(labels):
        raise EstimationError(f"{source}: a commune appears twice in 'communes'; give the results.json unchanged")
    return EstimateTable.from_arrays(
        keys=pd.DataFrame({unit: [r[unit] for r in kept]}),
        labels=labels,
        estimate=est,
        se=se,
        ci_low=lo,
        ci_high=hi,
        row_df=df,
        vcov=lambda: np.diag(se**2),
        df=float(np.nanmax(df)) if np.isfinite(df).any() else math.inf,
        level=level,
        statistic="index",
    )


def _data_hash(x) -> str | None:
    """The data hash in the provenance of an IndexResult (or of its ``to_dict()``/results dict)."""
    prov = getattr(x, "provenance", None)
    if prov is None and isinstance(x, Mapping):
        prov = x.get("provenance")
    if isinstance(prov, Mapping):
        h = prov.get("data_hash")
        return str(h) if h else None
    return None


def _warn_same_data(new, old) -> None:
    """Warn when two results treated as independent samples come from the same data."""
    hn, ho = _data_hash(new), _data_hash(old)
    same = (new is old and not isinstance(new, (int, float))) or (hn is not None and hn == ho)
    if same:
        warnings.warn(
            "compare(): both results come from the same data (identical data hash "
            f"{(hn or '')[:12]}); treating them as independent samples is false (Cov(new, old) = Var, "
            "the true change is 0 with SE 0), so the SE and p-value of this change are meaningless. "
            "Compare results estimated from two different surveys, or pass joint= / covariance=.",
            HappinessIndexWarning,
            stacklevel=3,
        )


def _with_unit(out, unit: str):
    if isinstance(out, ChangeTable):
        return ChangeTable([_replace(c, unit=unit) for c in out], out.keys, out.unmatched)
    return _replace(out, unit=unit)


def _replace(c: Change, **kw) -> Change:
    from dataclasses import replace

    return replace(c, **kw)


def _redf(out, df: float, level: float):
    def one(c: Change) -> Change:
        q = _tq(level, df)
        p = 2.0 * (1.0 - _cdf(abs(c.statistic), df)) if math.isfinite(c.statistic) else c.p_value
        return _replace(c, df=float(df), ci_low=c.change_pp - q * c.se, ci_high=c.change_pp + q * c.se, p_value=p)

    if isinstance(out, ChangeTable):
        return ChangeTable([one(c) for c in out], out.keys, out.unmatched)
    return one(out)


# ---------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A planned value of the index for a year (percent) and where it was set."""

    year: int
    value: float
    source: str = ""

    def to_dict(self) -> dict:
        return {"year": self.year, "value": self.value, "source": self.source}


def _shown(v: Any) -> str:
    """A value for a message, without numpy's ``np.float64(...)`` repr."""
    if isinstance(v, np.generic):
        v = v.item()
    return repr(v)


def _year(y: Any, where: str) -> int:
    try:
        yi = int(str(y).strip())
    except ValueError:
        raise SpecError(f"{where}: year {_shown(y)} is not an integer year") from None
    if not 1900 <= yi <= 2200:
        raise SpecError(f"{where}: year {yi} is outside 1900-2200")
    return yi


def _target_value(v: Any, where: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: target value {_shown(v)} is not a number") from None
    if not (0 <= x <= 100):
        raise SpecError(f"{where}: target value {x} is outside 0-100 (targets are in percent)")
    return x


def _bundled_path(name: str) -> Path:
    base = resources.files("happiness_index") / "data"
    return Path(str(base / TARGET_SETS[name]))


class Trajectory:
    """A plan's target trajectory for the index (percent, by year), with sources.

    Parameters
    ----------
    targets : mapping, sequence or str
        ``{year: value}``, ``{year: (value, source)}``, ``{year: {"value": v, "source": s}}``,
        a sequence of :class:`Target` (or of the spec's targets, which have ``year``,
        ``value``, ``source``), or the name of a bundled set / the path of a TOML or JSON
        file (see :meth:`load`).
    name : str, optional
    source : str, optional
        Default source for targets given without one.
    published : mapping, optional
        Published values ``{year: PublishedFigure or number}`` that :meth:`assess` uses
        when no results are passed.
    notes : str, optional

    Raises
    ------
    SpecError
        A year that is not an integer, a value outside 0–100, all values at most 1 (proportions
        given instead of percent: multiply by 100), two targets for one year, or an empty
        trajectory.

    Examples
    --------
    >>> traj = hi.Trajectory({2022: 72.7, 2023: 76.0, 2025: 84.6})
    >>> traj.assess({2023: result_2023, 2024: result_2024}).table      # doctest: +SKIP
    """

    def __init__(
        self, targets: Any, *, name: str = "", source: str = "", published: Mapping | None = None, notes: str = ""
    ):
        if isinstance(targets, (str, Path)):
            loaded = Trajectory.load(targets)
            targets, name = loaded.targets, name or loaded.name
            published = published if published is not None else loaded.published
            notes = notes or loaded.notes
        items: list[Target] = []
        if isinstance(targets, Mapping):
            for y, v in targets.items():
                where = f"target for {_shown(y)}"
                if isinstance(v, (tuple, list)):
                    val, src = v[0], (v[1] if len(v) > 1 else source)
                elif isinstance(v, Mapping):
                    val, src = v.get("value"), v.get("source", source)
                else:
                    val, src = v, source
                items.append(Target(_year(y, where), _target_value(val, where), _nfc(src or "")))
        else:
            for t in targets:
                if isinstance(t, Mapping):
                    y, val, src = t.get("year"), t.get("value"), t.get("source", source)
                else:
                    y, val, src = getattr(t, "year", None), getattr(t, "value", None), getattr(t, "source", source)
                items.append(Target(_year(y, "target"), _target_value(val, f"target for {y}"), _nfc(src or "")))
        if not items:
            raise SpecError("a trajectory needs at least one target (year and value)")
        if all(t.value <= 1 for t in items):
            shown = ", ".join(f"{t.year}: {t.value:g}" for t in sorted(items, key=lambda t: t.year))
            fixed = ", ".join(f"{t.year}: {100 * t.value:g}" for t in sorted(items, key=lambda t: t.year))
            raise SpecError(
                f"all targets are at most 1 ({shown}): they look like proportions, but targets "
                f"are in percent (0-100): multiply by 100 ({fixed})"
            )
        years = [t.year for t in items]
        dup = sorted({y for y in years if years.count(y) > 1})
        if dup:
            raise SpecError(f"two targets for year(s) {dup}; keep one value per year")
        self.targets: tuple[Target, ...] = tuple(sorted(items, key=lambda t: t.year))
        self.name = _nfc(name)
        self.notes = _nfc(notes)
        pub = {}
        for y, v in (published or {}).items():
            yi = _year(y, "published figure")
            pub[yi] = v if isinstance(v, PublishedFigure) else PublishedFigure(float(v), yi)
        self.published: dict[int, PublishedFigure] = dict(sorted(pub.items()))

    # ---------------------------------------------------------------- construction
    @classmethod
    def load(cls, name_or_path) -> Trajectory:
        """A bundled target set by name, or a TOML/JSON file.

        Parameters
        ----------
        name_or_path : str or path
            ``"yen_bai_city_plan"`` (the city's plan: 2022 72.7, 2023 76.0, 2025 84.6) or
            ``"yen_bai_province"`` (the province's published figures and plan values), or a
            file with ``targets = [{year, value, source}, ...]`` (TOML ``[[targets]]``
            tables or a JSON object) and optionally ``name``, ``notes`` and
            ``published = [{year, value, source, components}, ...]``.

        Raises
        ------
        SpecError
            Unknown name, unreadable file or invalid content.
        """
        key = str(name_or_path)
        if key in TARGET_SETS:
            path = _bundled_path(key)
        else:
            path = Path(key)
            if not path.is_file():
                raise SpecError(
                    f"no target set {key!r}: not a bundled set ({', '.join(TARGET_SETS)}) "
                    "and not an existing .toml/.json file"
                )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise SpecError(f"cannot read target set {path}: {e}") from None
        fmt = "json" if path.suffix.lower() == ".json" else "toml"
        d = parse_json_or_toml(text, fmt, what="target set", source=str(path), error=SpecError)
        if "targets" not in d:
            raise SpecError(f"target set {path} has no 'targets' list of {{year, value, source}}")
        pub = {}
        published = d.get("published", [])
        if not isinstance(published, list) or not all(isinstance(p, Mapping) for p in published):
            raise SpecError(f"target set {path}: 'published' must be a list of {{year, value, source}} tables")
        for p in published:
            y = _year(p.get("year"), f"{path}: published")
            try:
                pub[y] = PublishedFigure(
                    p.get("value"), y, _nfc(p.get("source", "")), p.get("se"), p.get("components"),
                    _nfc(p.get("label", "")),
                )  # fmt: skip
            except EstimationError as e:
                raise SpecError(f"target set {path}: published figure of {y}: {e}") from None
        return cls(d["targets"], name=d.get("name", path.stem), published=pub, notes=d.get("notes", ""))

    @classmethod
    def from_spec(cls, spec) -> Trajectory:
        """The targets declared in an :class:`~happiness_index.IndexSpec` (``[[targets]]``)."""
        if not getattr(spec, "targets", ()):
            raise SpecError(f"spec {getattr(spec, 'name', '?')!r} declares no [[targets]]")
        return cls(spec.targets, name=f"{spec.name} targets")

    def target_for(self, year: int) -> Target | None:
        """The target of ``year`` or ``None``."""
        for t in self.targets:
            if t.year == int(year):
                return t
        return None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "notes": self.notes,
            "targets": [t.to_dict() for t in self.targets],
            "published": [
                {"year": p.year, "value": p.value, "source": p.source, "label": p.label, "components": p.components}
                for p in self.published.values()
            ],
        }

    def __repr__(self) -> str:
        pts = ", ".join(f"{t.year}: {t.value:g}" for t in self.targets)
        return f"Trajectory({self.name or 'targets'}: {pts})"

    # ---------------------------------------------------------------- assessment
    def assess(self, results: Mapping | None = None, *, level: float = 0.95, scale: str | None = None) -> Assessment:
        """Assess estimates year by year against the targets.

        Parameters
        ----------
        results : mapping year -> IndexResult, Estimate, PublishedFigure, mapping or number
            The index of each year. Default: the trajectory's published figures.
        level : float, default 0.95
            Confidence level. "reached" when the whole ``level`` interval of the estimate
            is at or above the target, "not reached" when it is below, "not
            distinguishable" when it covers the target. The interval is the estimate's own
            (e.g. log-scale for the NEF ratio, logit for a share), so the status always
            agrees with the interval printed; for a Wald interval this is the pair of
            one-sided t tests at ``(1 - level) / 2`` each.
        scale : {"percent", "proportion"}, optional
            Units of the results (see :func:`compare`).

        Returns
        -------
        Assessment
            ``.table`` (one row per year: year, target, target_source, estimate, se, ci_low,
            ci_high, df, gap_pp, statistic, p_reached, status, basis) and ``.outlook``
            (gain per year still needed, projection).

        Raises
        ------
        EstimationError
            A result that cannot be read as an estimate.

        Notes
        -----
        ``gap_pp = estimate − target`` in percentage points. ``p_reached`` is the one-sided
        p-value of H0: index ≤ target against H1: index > target (small = evidence the
        target was reached), from ``t = gap / se`` on the estimate's df. A published
        figure without SE is compared as published: the status then rests on the point
        value alone (``basis = "published value, no SE: no test"``) and p is NaN.
        """
        if results is None:
            results = self.published
        if not isinstance(results, Mapping):
            raise EstimationError("results must be a mapping {year: result}")
        pts: dict[int, _Point] = {}
        for y, r in results.items():
            yi = _year(y, "results")
            f, sc = _scale_factor(scale, r)
            pts[yi] = _point(r, f"result for {yi}", f, sc)
        alpha = (1 - level) / 2
        rows = []
        for y in sorted(set(pts) | {t.year for t in self.targets}):
            t = self.target_for(y)
            p = pts.get(y)
            row = {
                "year": y,
                "target": t.value if t else np.nan,
                "target_source": t.source if t else "",
                "estimate": np.nan,
                "se": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "df": np.nan,
                "gap_pp": np.nan,
                "statistic": np.nan,
                "p_reached": np.nan,
                "status": "",
                "basis": "",
            }
            if p is not None:
                lo, hi = p.ci(level)
                row.update(estimate=p.value, se=p.se, ci_low=lo, ci_high=hi, df=p.df)
            if t is None:
                row["basis"] = "no target for this year"
            elif p is None:
                row.update(status="no estimate", basis="")
            else:
                gap = p.value - t.value
                row["gap_pp"] = gap
                if math.isfinite(p.se) and p.se > 0:
                    stat = gap / p.se
                    p_reached = 1.0 - _cdf(stat, p.df)
                    p_not = _cdf(stat, p.df)
                    row.update(statistic=stat, p_reached=p_reached)
                    lo, hi = row["ci_low"], row["ci_high"]
                    if p.interval is not None and math.isfinite(lo) and math.isfinite(hi):
                        # the estimate's own interval (e.g. log or logit scale) decides, so the
                        # status always agrees with the interval printed beside it
                        row["status"] = (
                            "reached" if lo >= t.value else "not reached" if hi < t.value else "not distinguishable"
                        )
                        row["basis"] = f"{100 * level:g}% interval of the estimate against the target"
                    else:
                        row["status"] = (
                            "reached"
                            if p_reached <= alpha
                            else "not reached"
                            if p_not <= alpha
                            else "not distinguishable"
                        )
                        row["basis"] = f"one-sided t tests at {alpha:g} each ({100 * level:g}% interval)"
                else:
                    row["status"] = "reached" if gap >= 0 else "not reached"
                    row["basis"] = "published value, no SE: no test"
            rows.append(row)
        table = pd.DataFrame(rows)
        return Assessment(table=table, outlook=self._outlook(pts, level), level=level, trajectory=self)

    def _outlook(self, pts: dict[int, _Point], level: float) -> dict:
        last = self.targets[-1]
        out: dict[str, Any] = {"last_target_year": last.year, "last_target": last.value}
        if not pts:
            out["note"] = "no estimates"
            return out
        years = sorted(pts)
        latest = years[-1]
        pl = pts[latest]
        out["latest_year"] = latest
        out["latest_estimate"] = pl.value
        q = _tq(level, pl.df) if math.isfinite(pl.se) else float("nan")
        if last.year > latest:
            k = last.year - latest
            need = (last.value - pl.value) / k
            se = pl.se / k
            out.update(
                years_left=k,
                gain_needed_pp_per_year=need,
                gain_needed_se=se,
                gain_needed_ci_low=need - q * se,
                gain_needed_ci_high=need + q * se,
            )
        else:
            out["years_left"] = 0
        if len(years) >= 2:
            first = pts[years[0]]
            span = latest - years[0]
            g = (pl.value - first.value) / span
            gse = math.sqrt(pl.se**2 + first.se**2) / span
            out.update(observed_gain_pp_per_year=g, observed_gain_se=gse, observed_from=years[0])
            if last.year > latest:
                out.update(self._projection(pts, last, level))
            else:
                out["projection_note"] = "the last target year already has an estimate: nothing to project"
        else:
            out["projection_note"] = "one year of estimates: no trend can be fitted"
        return out

    @staticmethod
    def _projection(pts: dict[int, _Point], last: Target, level: float) -> dict:
        years = np.array(sorted(pts), dtype=float)
        y = np.array([pts[int(t)].value for t in years])
        se = np.array([pts[int(t)].se for t in years])
        X = np.column_stack([np.ones_like(years), years - years.mean()])
        x0 = np.array([1.0, last.year - years.mean()])
        known = bool(np.all(np.isfinite(se)) and np.all(se > 0))
        w = 1.0 / se**2 if known else np.ones_like(y)
        XtW = X.T * w
        A = np.linalg.solve(XtW @ X, XtW)  # coefficients = A @ y
        a = x0 @ A  # projection = a @ y
        proj = float(a @ y)
        n = len(y)
        if known:
            var = float(np.sum(a**2 * se**2))
            df = math.inf if all(math.isinf(pts[int(t)].df) for t in years) else min(pts[int(t)].df for t in years)
            basis = (
                "straight line through the yearly estimates (weighted by 1/SE^2); uncertainty = sampling "
                "error of the estimates only, years independent; the straight line itself is an assumption"
            )
        elif n >= 3:
            resid = y - X @ (A @ y)
            s2 = float(resid @ resid) / (n - 2)
            var = s2 * float(x0 @ np.linalg.solve(X.T @ X, x0))
            df = float(n - 2)
            basis = (
                "straight line through published values without SE; uncertainty from their scatter "
                "around the line (regression prediction of the mean, df = years - 2)"
            )
        else:
            var, df = float("nan"), float("nan")
            basis = "two values without SE: a straight line through them has no measurable uncertainty"
        s = math.sqrt(var) if var >= 0 else float("nan")
        q = _tq(level, df) if math.isfinite(s) and (math.isinf(df) or df > 0) else float("nan")
        out = {
            "projection_year": last.year,
            "projection": proj,
            "projection_se": s,
            "projection_ci_low": proj - q * s,
            "projection_ci_high": proj + q * s,
            "projection_df": df,
            "projection_basis": basis,
        }
        if math.isfinite(s) and s > 0:
            z = (proj - last.value) / s
            pr = 1.0 - _cdf(z, df)
            pn = _cdf(z, df)
            alpha = (1 - level) / 2
            out["projection_status"] = (
                "reached" if pr <= alpha else "not reached" if pn <= alpha else "not distinguishable"
            )
        else:
            out["projection_status"] = "reached" if proj >= last.value else "not reached"
        return out


@dataclass
class Assessment:
    """The result of :meth:`Trajectory.assess`.

    Attributes
    ----------
    table : DataFrame
        One row per year (targets and estimates): ``year, target, target_source, estimate,
        se, ci_low, ci_high, df, gap_pp, statistic, p_reached, status, basis``.
    outlook : dict
        ``gain_needed_pp_per_year`` (with ``gain_needed_se`` and interval) from the latest
        estimate to the last target, ``observed_gain_pp_per_year`` so far, and the
        straight-line ``projection`` to the last target year with ``projection_se``,
        interval, ``projection_basis`` and ``projection_status``.
    level : float
    trajectory : Trajectory
    """

    table: pd.DataFrame
    outlook: dict
    level: float
    trajectory: Trajectory

    def status(self, year: int) -> str:
        r = self.table.loc[self.table["year"] == int(year), "status"]
        if r.empty:
            raise KeyError(f"year {year} is not in the assessment")
        return str(r.iloc[0])

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "trajectory": self.trajectory.to_dict(),
            "years": self.table.to_dict(orient="records"),
            "outlook": dict(self.outlook),
        }

    def __str__(self) -> str:
        lines = [f"Assessment against {self.trajectory.name or 'targets'} ({100 * self.level:g}% level)"]
        for r in self.table.itertuples(index=False):
            est = "—" if not np.isfinite(r.estimate) else f"{r.estimate:.2f}"
            if np.isfinite(r.se):
                est += f" [{r.ci_low:.2f}, {r.ci_high:.2f}]"
            tgt = "—" if not np.isfinite(r.target) else f"{r.target:.2f}"
            gap = "" if not np.isfinite(r.gap_pp) else f" gap {r.gap_pp:+.2f} pts"
            lines.append(f"  {r.year}: target {tgt}, estimate {est}{gap}  {r.status}")
        o = self.outlook
        if "gain_needed_pp_per_year" in o:
            lines.append(
                f"  needed: {o['gain_needed_pp_per_year']:+.2f} points per year from "
                f"{o['latest_year']} to reach {o['last_target']:g} in {o['last_target_year']}"
            )
        if "projection" in o:
            ci = (
                f" [{o['projection_ci_low']:.2f}, {o['projection_ci_high']:.2f}]"
                if np.isfinite(o["projection_se"])
                else " (no uncertainty measurable)"
            )
            lines.append(f"  straight-line projection for {o['projection_year']}: {o['projection']:.2f}{ci}")
        return "\n".join(lines)
