"""Well-being as distributions: the weighted share of every answer category, with intervals.

The OECD *Guidelines on Measuring Subjective Well-being* (2013; 2025 update) and the UK
Office for National Statistics ask for the whole distribution of answers, not only the
share above a threshold. :func:`item_distributions` gives, for every item on an ordered
scale, city-wide and by commune:

* the weighted share of every answer category with its standard error and interval, all
  categories estimated jointly with their covariance (as R's ``svymean(~factor(x), design,
  na.rm = TRUE)``): the shares are ratios ``sum w 1[x = c] / sum w 1[answered]`` whose
  influence values go through the design's variance engine
  (:meth:`SurveyDesign.influence_vcov`, Taylor linearization with every stage, fpc,
  lonely-PSU rule and calibration) or its replicate weights
  (:meth:`ReplicateDesign.replicate_vcov`);
* the mean score (with SE and interval from the same covariance), the median and the
  90/10 ratio (for 0–10 and integer items, where a ratio of scores is meaningful and the
  10th percentile is positive; NaN for 1–5 Likert items, whose codes are labels of an
  ordinal scale);
* the shares in bands, for 0–10 items by default the ONS bands (0–4 low, 5–6 medium, 7–8
  high, 9–10 very high; anxiety-type items reversed), configurable in the spec's
  ``[distributions]`` table.

A chart of the distributions (stacked bars, one per item) is drawn by
:func:`happiness_index.report.charts_distributions.distribution_chart` from
:meth:`DistributionTable.to_frame`.

References
----------
OECD (2013). *OECD Guidelines on Measuring Subjective Well-being*. Paris: OECD Publishing.

Office for National Statistics (2018). *Personal well-being user guidance*. Newport: ONS.

Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley, §2.3.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DesignError, EstimationError, HappinessIndexWarning, SpecError
from ..questionnaire.distribution_spec import DistributionSpec
from ..questionnaire.spec import IndexSpec
from ..survey.design import ReplicateDesign, SurveyDesign
from ..survey.estimators import proportion_interval, t_quantile

__all__ = ["DistributionTable", "item_distributions"]

_MAX_CATEGORIES = 101


@dataclass
class DistributionTable:
    """Answer distributions of the ordered items (see :func:`item_distributions`).

    Attributes
    ----------
    summary : DataFrame
        ``group``, ``item``, ``mean``, ``median``, ``p90_p10`` (NaN where not meaningful),
        ``mean_se``, ``mean_ci_low``, ``mean_ci_high``, ``n`` (respondents who answered),
        ``df``.
    bands : DataFrame
        ``group``, ``item``, ``band``, ``label_en``, ``label_vi``, ``share``, ``se``,
        ``ci_low``, ``ci_high`` for the banded items (empty when none).
    level : float
        Confidence level of the intervals.
    ci_method : str
        Interval method of the shares (see ``proportion_interval``).
    """

    shares: pd.DataFrame
    summary: pd.DataFrame
    bands: pd.DataFrame
    level: float
    ci_method: str
    covariances: dict = field(repr=False, default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per group, item and answer category: ``group``, ``item``, ``label_en``,
        ``label_vi``, ``category``, ``share`` (a proportion in [0, 1]), ``ci_low``,
        ``ci_high``, then ``se``, ``df``, ``n``."""
        return self.shares.copy()

    def vcov(self, group: str, item: str) -> pd.DataFrame:
        """Covariance of the category shares of ``item`` in ``group`` (categories as labels)."""
        try:
            return self.covariances[(group, item)].copy()
        except KeyError:
            raise EstimationError(
                f"no distribution for group {group!r} and item {item!r}; groups are {sorted(set(self.shares['group']))}"
            ) from None


def _ordered_items(spec: IndexSpec, items) -> list:
    chosen = [it for it in spec.items if it.type in ("likert5", "scale0_10", "integer") and it.numeric]
    if items is not None:
        names = [items] if isinstance(items, str) else list(items)
        known = {it.name: it for it in chosen}
        bad = [nm for nm in names if nm not in known]
        if bad:
            raise SpecError(
                f"items {bad} are not ordered numeric items of spec {spec.name!r}; ordered items are {sorted(known)}"
            )
        chosen = [known[nm] for nm in names]
    out = []
    for it in chosen:
        if it.type == "integer":
            if it.minimum is None or it.maximum is None or it.maximum - it.minimum >= _MAX_CATEGORIES:
                continue  # a count or an age: not a scale with categories
            cats = tuple(float(c) for c in range(int(it.minimum), int(it.maximum) + 1))
        else:
            cats = tuple(sorted(float(c) for c in it.codes))
        out.append((it, cats))
    if not out:
        raise SpecError(
            f"spec {spec.name!r} has no item on an ordered numeric scale (likert5, scale0_10, "
            "integer with minimum and maximum)"
        )
    return out


def _values(data: pd.DataFrame, item, cats) -> np.ndarray:
    """The item's answers as floats, missing codes and blanks as NaN; other values refused."""
    if item.name not in data.columns:
        raise EstimationError(f"item column {item.name!r} is not in the design's data")
    col = data[item.name]
    raw = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy(copy=True)
    codes = np.asarray([c for c in item.missing_codes if not isinstance(c, str)], dtype=float)
    missing = np.isnan(raw) | np.isin(raw, codes)
    bad = (col.notna().to_numpy() & np.isnan(raw)) | (~missing & ~np.isin(raw, np.asarray(cats)))
    if bad.any():
        rows = data.index[bad][:5].tolist()
        raise EstimationError(
            f"item {item.name!r} has values that are neither answer codes nor missing codes at "
            f"rows {rows}; run validate_survey and recode them"
        )
    return np.where(missing, np.nan, raw)


def _quantile(cats: np.ndarray, p: np.ndarray, q: float) -> float:
    """Smallest category whose cumulative share reaches ``q`` (R's svyquantile 'math' rule on a discrete scale)."""
    cum = np.cumsum(p)
    k = int(np.searchsorted(cum, q - 1e-12))
    return float(cats[min(k, len(cats) - 1)])


class _Engine:
    """Covariance of ratio estimates through the design's public variance hooks."""

    def __init__(self, design):
        self.design = design
        self.rep = isinstance(design, ReplicateDesign)
        self.w = design.weights.to_numpy(dtype=float)
        self.W = design.replicate_weights() if self.rep else None
        self._df: dict = {}
        self.last_reps: np.ndarray | None = None

    def shares_vcov(self, I: np.ndarray, mask: np.ndarray):
        """Shares ``sum w I_c / sum w`` over ``mask`` rows (``I``: n × m 0/1) and their covariance."""
        wm = np.where(mask, self.w, 0.0)
        N = wm.sum()
        if not N > 0:
            return None, None
        p = (wm @ I) / N
        if self.rep:
            Im = I * mask[:, None]
            tot = Im.T @ self.W  # (m, R)
            den = mask.astype(float) @ self.W  # (R,)
            with np.errstate(divide="ignore", invalid="ignore"):
                reps = (tot / den).T
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                V = self.design.replicate_vcov(reps, p)
            self.last_reps = reps
        else:
            self.last_reps = None
            Z = wm[:, None] * (I - p[None, :]) / N
            V = self.design.influence_vcov(Z, domain=mask)
        return p, V

    def logit_se(self, sel: np.ndarray, share: float) -> float | None:
        """Replicate SE of ``logit`` of the share ``sel @ p`` (None on a Taylor design).

        As R's ``svyciprop(method="logit")`` on a replicate design and the design's own
        ``proportion``: the replicate variance of the logit of the replicate shares; a
        replicate share of 0 or 1 makes it infinite (interval [0, 1]).
        """
        if self.last_reps is None or not 0 < share < 1:
            return None
        r = self.last_reps @ sel
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.log(r / (1 - r))
        if not np.isfinite(lr).all():
            return math.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = self.design.replicate_vcov(lr, math.log(share / (1 - share)))[0, 0]
        return math.sqrt(max(v, 0.0))

    def df(self, mask: np.ndarray) -> float:
        key = hash(np.packbits(mask).tobytes())
        if key not in self._df:
            self._df[key] = float(self.design.subset(mask).df)
        return self._df[key]


def _interval(share, se, df, level, method, n, logit_se=None):
    if method == "logit" and logit_se is not None:
        if math.isinf(logit_se):
            return (0.0, 1.0) if df > 0 else (float("nan"), float("nan"))
        se = logit_se * share * (1 - share)  # the SE that gives logit_se on the logit scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return proportion_interval(float(share), float(se), df, level=level, method=method, n=n)


def _one(engine, item, cats, v, gmask, group, level, ci_method, bands):
    """Rows of the three frames for one item in one group."""
    ans = np.isfinite(v) & gmask
    n = int(ans.sum())
    if n == 0:
        return [], [], [], None
    c = np.asarray(cats)
    I = (v[:, None] == c[None, :]).astype(float)
    p, V = engine.shares_vcov(I, ans)
    if p is None:
        return [], [], [], None
    df = engine.df(ans)
    se = np.sqrt(np.clip(np.diag(V), 0.0, None))
    share_rows = []
    for k, cat in enumerate(c):
        lo, hi = _interval(p[k], se[k], df, level, ci_method, n, engine.logit_se(np.eye(len(c))[k], float(p[k])))
        share_rows.append(
            {
                "group": group,
                "item": item.name,
                "label_en": item.labels.en,
                "label_vi": item.labels.vi,
                "category": int(cat) if float(cat).is_integer() else cat,
                "share": float(p[k]),
                "ci_low": lo,
                "ci_high": hi,
                "se": float(se[k]),
                "df": df,
                "n": n,
            }
        )
    mean = float(c @ p)
    mse = float(math.sqrt(max(c @ V @ c, 0.0)))
    q = t_quantile(level, df) if df > 0 else float("nan")
    p10, p90 = _quantile(c, p, 0.10), _quantile(c, p, 0.90)
    ratio = p90 / p10 if item.type in ("scale0_10", "integer") and p10 > 0 else float("nan")
    summary = {
        "group": group,
        "item": item.name,
        "mean": mean,
        "median": _quantile(c, p, 0.5),
        "p90_p10": ratio,
        "mean_se": mse,
        "mean_ci_low": mean - q * mse,
        "mean_ci_high": mean + q * mse,
        "n": n,
        "df": df,
    }
    band_rows = []
    for b in bands:
        sel = ((c >= b.lower) & (c <= b.upper)).astype(float)
        s = float(sel @ p)
        bse = float(math.sqrt(max(sel @ V @ sel, 0.0)))
        lo, hi = _interval(s, bse, df, level, ci_method, n, engine.logit_se(sel, s))
        band_rows.append(
            {
                "group": group,
                "item": item.name,
                "band": f"{b.lower:g}–{b.upper:g}",
                "label_en": b.labels.en,
                "label_vi": b.labels.vi,
                "share": s,
                "se": bse,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    labels = [str(int(x)) if float(x).is_integer() else str(x) for x in c]
    return share_rows, [summary], band_rows, pd.DataFrame(V, index=labels, columns=labels)


def item_distributions(
    design: SurveyDesign | ReplicateDesign,
    spec: IndexSpec,
    by: str | None = None,
    *,
    items=None,
    level: float = 0.95,
    ci_method: str = "logit",
) -> DistributionTable:
    """Weighted answer distributions of the ordered items, city-wide and by domain, with intervals.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The sample design (full design; calibrated designs are fine). Its ``data`` holds
        the item columns (missing codes are read as missing).
    spec : IndexSpec
        The items (``likert5``, ``scale0_10`` and bounded ``integer`` items are shown) and
        the bands (``[distributions]``; default the ONS bands for 0–10 items).
    by : str, optional
        Domain column; ``"commune"`` means the spec's commune column. Every domain is
        estimated on the full design (zero influence outside it).
    items : str or list of str, optional
        Restrict to these items (default every ordered numeric item).
    level : float, default 0.95
    ci_method : str, default "logit"
        Interval of each share (``proportion_interval``): "logit" (R's ``svyciprop``
        default), "wald" (R's ``confint(svymean(~factor(x)))`` with t quantiles), "beta", ...

    Returns
    -------
    DistributionTable
        ``.to_frame()`` (one row per group, item and category), ``.summary``, ``.bands``,
        ``.vcov(group, item)``.

    Raises
    ------
    DesignError
        ``design`` is not a design.
    SpecError
        No ordered item, or ``items`` names other items.
    EstimationError
        A value that is neither an answer code nor a missing code, or an unknown ``by``.

    Notes
    -----
    Respondents who did not answer an item are out of that item's domain (R's
    ``na.rm = TRUE``); their PSUs stay in the variance. Shares within a group sum to 1 and
    their covariance is singular (the last category is one minus the others). Intervals use
    the domain's design degrees of freedom (PSUs with answering members minus their strata,
    R's ``degf`` of the subset). A category with no answers gets share 0 and the
    Korn-Graubard boundary interval (never ``[0, 0]``). The mean's interval is Wald with t
    quantiles.

    References
    ----------
    OECD (2013). *Guidelines on Measuring Subjective Well-being*, ch. 4.
    Office for National Statistics (2018). *Personal well-being user guidance*.
    """
    if not isinstance(design, (SurveyDesign, ReplicateDesign)):
        raise DesignError(f"design must be a SurveyDesign or ReplicateDesign, got {type(design).__name__}")
    if not isinstance(spec, IndexSpec):
        raise SpecError(f"spec must be an IndexSpec, got {type(spec).__name__}")
    data = design.data
    groups = [("city", np.ones(len(data), dtype=bool))]
    if by is not None:
        col = spec.design.commune if by == "commune" and "commune" not in data.columns else by
        if not isinstance(col, str) or col not in data.columns:
            raise EstimationError(f"by={by!r} is not a column of the design's data")
        key = data[col]
        for g in sorted(pd.unique(key.dropna()), key=str):
            groups.append((str(g), (key == g).to_numpy(dtype=bool)))
    dspec = spec.distributions if spec.distributions is not None else DistributionSpec()
    engine = _Engine(design)
    base = engine.w != 0
    shares, summary, bands, covs, empty = [], [], [], {}, []
    for item, cats in _ordered_items(spec, items):
        v = _values(data, item, cats)
        for name, gmask in groups:
            s, m, b, V = _one(engine, item, cats, v, gmask & base, name, level, ci_method, dspec.bands_for(item))
            if not s:
                empty.append(f"{item.name} in {name}")
            shares += s
            summary += m
            bands += b
            if V is not None:
                covs[(name, item.name)] = V
    if empty:
        more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
        warnings.warn(
            f"item_distributions: no respondent (with a positive weight) answered {'; '.join(empty[:5])}"
            f"{more}; these items and groups have no rows in the table",
            HappinessIndexWarning,
            stacklevel=2,
        )
    return DistributionTable(
        pd.DataFrame(shares),
        pd.DataFrame(summary),
        pd.DataFrame(
            bands, columns=["group", "item", "band", "label_en", "label_vi", "share", "se", "ci_low", "ci_high"]
        ),
        level,
        ci_method,
        covs,
    )
