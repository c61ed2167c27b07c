"""Sample size, allocation across strata, and selection of a probability sample.

Three verbs cover the design stage of a commune/ward survey:

* :func:`sample_size` -- how many completed interviews (and how many contacts) are
  needed for a target margin of error or coefficient of variation, for a proportion, a
  mean, or the composite index itself sized on last year's result.
* :func:`allocate` -- how a total sample is shared among strata (communes and wards):
  proportional, equal, Neyman, Bankier power allocation, cost-optimal; with take-all
  caps, a minimum per stratum and integer results that sum exactly to ``n``.
* :func:`select` -- draw the sample: simple random sampling without replacement,
  systematic sampling with a random start, PPS systematic sampling of primary sampling
  units (villages, residential groups) with certainty selections, and two-stage
  selection of a fixed number of households per selected PSU. The output carries the
  inclusion probabilities of each stage and the design weight.

Conventions: proportions are in [0, 1]; the composite index is in percent (0-100) and
its margin of error is then in percentage points. See ``methodology/sampling.md`` for
the formulas, the rounding rule and a worked example (English and Vietnamese).

References
----------
Bankier, M. D. (1988). Power allocations: determining sample sizes for subnational
    areas. *The American Statistician*, 42(3), 174-177.
Cochran, W. G. (1977). *Sampling Techniques* (3rd ed.). Wiley.
Kish, L. (1965). *Survey Sampling*. Wiley.
Särndal, C.-E., Swensson, B. & Wretman, J. (1992). *Model Assisted Survey Sampling*.
    Springer.
"""

from __future__ import annotations

import math
import operator
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import HappinessIndexWarning, LonelyPSUWarning, SamplingError, describe_rows

__all__ = ["SampleSize", "sample_size", "allocate", "select", "ALLOCATION_METHODS", "SELECTION_METHODS"]

ALLOCATION_METHODS = ("proportional", "equal", "neyman", "power", "optimal")
SELECTION_METHODS = ("srs", "systematic", "pps_systematic")

#: Columns added by :func:`select`; a frame that already has one of them is refused.
_SELECT_COLUMNS = ("pi1", "pi2", "pi", "design_weight", "fpc1", "fpc2", "certainty")

_SNAP = 1e-9  # exact allocations within this distance of an integer are treated as that integer


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------
def _nfc(value: Any) -> Any:
    """NFC-normalise strings; leave other labels (ints, ...) alone."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    return value


def _z(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)):
        raise SamplingError(f"level must be a number in (0, 1), got {level!r}")
    level = float(level)
    if not (0.0 < level < 1.0):
        raise SamplingError(
            f"level must be in (0, 1) (a confidence level such as 0.95), got {level!r}; "
            "a level given in percent (95) must be divided by 100"
        )
    return float(stats.norm.ppf(0.5 + level / 2.0))


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SamplingError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise SamplingError(f"{name} must be finite, got {value!r}")
    return value


def _count(name: str, value: Any, minimum: int = 0) -> int:
    """An integer count (accepts numpy ints, integral floats and objects with __index__)."""
    if isinstance(value, bool):
        raise SamplingError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, str):
        raise SamplingError(f"{name} must be a whole number, not text {value!r}; give it as a number")
    try:
        out = operator.index(value)
    except TypeError:
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
            out = int(value)
        else:
            raise SamplingError(
                f"{name} must be a whole number, got {value!r}; round it first (sample sizes are counts of units)"
            ) from None
    if out < minimum:
        raise SamplingError(f"{name} must be at least {minimum}, got {out}")
    return int(out)


def _require_numbers(col: pd.Series, what: str, fix: str, row_names, prefix: str = "for") -> None:
    """Refuse text (or Booleans) where counts are needed: "100" is never read silently.

    ``what`` names the quantity in the message (``"size column 'N'"``), ``fix`` says how
    to convert, ``row_names`` labels the rows (stratum labels or row index).
    """
    if pd.api.types.is_bool_dtype(col.dtype):
        raise SamplingError(f"{what} must hold numbers (counts of units), got True/False values")
    if pd.api.types.is_numeric_dtype(col.dtype):
        return
    vals = col.to_numpy(dtype=object)
    is_num = np.fromiter(
        (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in vals),
        dtype=bool,
        count=len(vals),
    )
    bad = ~pd.isna(vals) & ~is_num
    if bad.any():
        names = np.asarray(row_names, dtype=object)[bad]
        raise SamplingError(
            f"{what} must hold numbers (counts of units), not text: {describe_rows(list(vals[bad]))} "
            f"{prefix} {describe_rows(list(names))}; {fix}"
        )


# --------------------------------------------------------------------------------------
# sample size
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleSize:
    """The result of :func:`sample_size`: every step from the SRS size to the contacts.

    The object behaves as the final integer (the number of units to contact):
    ``int(s)``, ``operator.index(s)`` and ``s.n`` all give :attr:`n_to_contact`, so it
    can be passed directly as ``n`` to :func:`allocate`.

    Attributes
    ----------
    n_srs : float
        Unrounded size under simple random sampling with replacement (Cochran's n0).
    n_with_deff : float
        ``n_srs`` times the design effect(s).
    n_with_fpc : float
        ``n_with_deff`` after the finite population correction
        ``n / (1 + (n - 1) / N)``; equal to ``n_with_deff`` when ``population`` is None.
        This is the number of completed interviews needed (unrounded).
    n_respondents : int
        ``ceil(n_with_fpc)``: completed interviews to obtain.
    n_to_contact : int
        ``ceil(n_with_fpc / response_rate)``: units to select and contact.
    basis : str
        ``"proportion"``, ``"mean"`` or ``"previous"`` (sized on a previous estimate).
    moe, cv, p, level, z, deff, response_rate, population, estimate, sd :
        The inputs (``z`` is the Normal quantile for ``level``; ``sd`` is the unit
        standard deviation used, for ``"previous"`` it is ``se * sqrt(n)``).
    """

    n_srs: float
    n_with_deff: float
    n_with_fpc: float
    n_respondents: int
    n_to_contact: int
    basis: str
    moe: float | None
    cv: float | None
    p: float | None
    level: float
    z: float
    deff: float
    response_rate: float
    population: int | None
    estimate: float | None = None
    sd: float | None = None

    @property
    def n(self) -> int:
        """The final number of units to contact (:attr:`n_to_contact`)."""
        return self.n_to_contact

    def __int__(self) -> int:
        return self.n_to_contact

    def __index__(self) -> int:
        return self.n_to_contact

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return (
            f"SampleSize(n_to_contact={self.n_to_contact}, n_respondents={self.n_respondents}, "
            f"n_srs={self.n_srs:.2f}, deff={self.deff:g}, response_rate={self.response_rate:g})"
        )


#: the smallest moe/cv accepted: 1e-6 already asks for ~1e12 interviews; smaller ones overflow
_MIN_PRECISION = 1e-6


def _check_reachable(name: str, value: float) -> None:
    if value < _MIN_PRECISION:
        raise SamplingError(
            f"{name}={value!r} is too small to reach with any sample (it needs more "
            f"interviews than there are people); give at least {_MIN_PRECISION:g}"
        )


def _checked_seed(seed):
    if not (
        seed is None
        or isinstance(seed, np.random.Generator)
        or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0)
    ):
        raise SamplingError(
            f"seed must be a non-negative whole number, a numpy Generator or None, got {seed!r} ({type(seed).__name__})"
        )
    return seed


def sample_size(
    moe: float | None = None,
    p: float = 0.5,
    level: float = 0.95,
    deff: float = 1.0,
    response_rate: float = 1.0,
    population: int | None = None,
    *,
    cv: float | None = None,
    estimate: float | None = None,
    sd: float | None = None,
    previous: Any = None,
) -> SampleSize:
    """Sample size for a target margin of error or coefficient of variation.

    Three bases, chosen by the arguments given:

    * **proportion** (default): the share ``p`` of a 0/1 variable.
      ``n0 = z^2 p (1 - p) / moe^2`` with ``moe`` a proportion in (0, 1) (0.05 means
      +/-5 percentage points); or, with ``cv``, ``n0 = (1 - p) / (p cv^2)``.
    * **mean**: give ``sd`` (the unit standard deviation, in the units of the
      variable). ``n0 = z^2 sd^2 / moe^2`` with ``moe`` in the units of the variable; or,
      with ``cv`` and ``estimate`` (the anticipated mean),
      ``n0 = sd^2 / (cv^2 estimate^2)``.
    * **previous**: size next year's survey on the composite index itself. ``previous``
      is any object with attributes ``estimate``, ``se`` and ``n`` (and optionally
      ``deff``), such as ``IndexResult.overall``. The unit variance is
      ``S^2 = se^2 * n``; it already contains the previous design effect, so
      ``n = z^2 S^2 / moe^2`` with ``moe`` in the SAME units as ``previous.estimate``:
      for an index in percent, ``moe=2`` means +/-2 percentage points. With ``cv``,
      ``n0 = S^2 / (cv^2 estimate^2)``.

    Then, in this order: ``n1 = n0 * deff``; ``n2 = n1 / (1 + (n1 - 1) / N)`` when
    ``population`` N is given; ``n_to_contact = ceil(n2 / response_rate)``.

    Parameters
    ----------
    moe : float, optional
        Target half-width of the confidence interval at ``level``. For a proportion, in
        (0, 1) (a proportion, not percent). For a mean or ``previous``, in the units of
        the variable / estimate (percentage points for an index in percent). Exactly one
        of ``moe`` and ``cv`` must be given.
    p : float, default 0.5
        Anticipated proportion in [0, 1]; 0.5 is the conservative choice. Ignored for
        the mean and previous bases. With ``p`` 0 or 1 and ``moe``, ``n0 = 0`` and at
        least one unit is still required.
    level : float, default 0.95
        Confidence level in (0, 1); ``z`` is the Normal quantile ``Phi^{-1}(1/2 + level/2)``.
        Not used with ``cv``.
    deff : float, default 1.0
        Anticipated design effect (> 0), e.g. ``1 + (m - 1) * icc`` for clusters of size
        m (Kish 1965, ch. 5). With ``previous`` the previous design effect is already in
        ``S^2``: leave ``deff=1`` for the same design, or give the ratio of the new to
        the old design effect.
    response_rate : float, default 1.0
        Expected response rate in (0, 1]; the contacts are the completed interviews
        divided by it.
    population : int, optional
        Population size N (>= 1) for the finite population correction. None: no fpc.
    cv : float, optional
        Target coefficient of variation of the estimate (> 0), e.g. 0.05 for 5%.
    estimate : float, optional
        Anticipated mean for the mean basis with ``cv``.
    sd : float, optional
        Unit standard deviation (> 0) for the mean basis.
    previous : object, optional
        A previous estimate with ``.estimate``, ``.se`` and ``.n`` (``.deff`` optional);
        duck-typed so it accepts the library's ``Estimate``.

    Returns
    -------
    SampleSize
        Frozen dataclass with ``n_srs``, ``n_with_deff``, ``n_with_fpc``,
        ``n_respondents``, ``n_to_contact`` and the inputs; ``int(result)`` and
        ``result.n`` give ``n_to_contact``.

    Raises
    ------
    SamplingError
        When ``moe`` and ``cv`` are both or neither given; ``moe`` outside (0, 1) for a
        proportion or not positive otherwise; ``p`` outside [0, 1] (or 0 with ``cv``);
        ``level`` outside (0, 1); ``deff <= 0``; ``response_rate`` outside (0, 1];
        ``population < 1``; a ``previous`` object without ``estimate``/``se``/``n`` or
        with a non-positive ``se`` or ``n``; or when the contacts needed exceed the
        population.

    Notes
    -----
    The finite population correction is applied to the design-effect-inflated size,
    as in Kish (1965, ch. 2), and the response rate last, assuming non-response is
    unrelated to the variable (missing at random within the design).

    When ``previous.deff`` is available, ``n_srs`` reports the SRS-equivalent size
    ``n_with_deff / previous.deff`` so the split between the unit variance and the
    design effect stays visible; ``n_with_deff`` is computed directly from ``S^2``.

    References
    ----------
    Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 4 (sample size
    for proportions, absolute and relative error). Kish, L. (1965). *Survey Sampling*,
    ch. 2 and 5 (design effect).

    Examples
    --------
    >>> from happiness_index import sample_size
    >>> sample_size(moe=0.05, p=0.5).n          # 384.15 -> 385
    385
    >>> s = sample_size(moe=0.05, p=0.5, population=1000)
    >>> s.n_respondents
    278
    """
    if (moe is None) == (cv is None):
        raise SamplingError(
            "give exactly one of moe= (target margin of error) and cv= (target coefficient "
            f"of variation); got moe={moe!r}, cv={cv!r}"
        )
    deff = _number("deff", deff)
    if deff <= 0:
        raise SamplingError(f"deff must be > 0 (1 for simple random sampling), got {deff!r}")
    response_rate = _number("response_rate", response_rate)
    if not (0.0 < response_rate <= 1.0):
        raise SamplingError(f"response_rate must be in (0, 1] (a proportion, 0.85 for 85%), got {response_rate!r}")
    if population is not None:
        population = _count("population", population, minimum=1)
    z = _z(level)
    if moe is not None:
        moe = _number("moe", moe)
        if moe <= 0:
            raise SamplingError(f"moe must be > 0, got {moe!r}")
        _check_reachable("moe", moe)
    if cv is not None:
        cv = _number("cv", cv)
        if cv <= 0:
            raise SamplingError(f"cv must be > 0 (0.05 for 5%), got {cv!r}")
        _check_reachable("cv", cv)

    prev_deff = None
    p_out: float | None = None
    if previous is not None:
        basis = "previous"
        missing = [a for a in ("estimate", "se", "n") if not hasattr(previous, a)]
        if missing:
            raise SamplingError(
                f"previous= must have attributes estimate, se and n (an Estimate such as "
                f"IndexResult.overall); {type(previous).__name__} lacks {', '.join(missing)}"
            )
        est = _number("previous.estimate", previous.estimate)
        se = _number("previous.se", previous.se)
        n_prev = _number("previous.n", previous.n)
        if se <= 0 or n_prev <= 0:
            raise SamplingError(
                f"previous.se and previous.n must be > 0 to give a unit variance, got se={se!r}, n={n_prev!r}"
            )
        pd_ = getattr(previous, "deff", None)
        if pd_ is not None:
            try:
                pd_ = float(pd_)
            except (TypeError, ValueError):
                pd_ = None
            if pd_ is not None and math.isfinite(pd_) and pd_ > 0:
                prev_deff = pd_
        s2 = se * se * n_prev
        sd_out = math.sqrt(s2)
        estimate = est
        if moe is not None:
            if abs(est) > 1.5 and moe < 0.1:
                warnings.warn(
                    f"previous.estimate is {est:g} (percent scale?) but moe={moe:g}: moe is in the "
                    "units of the estimate, so moe=2 means +/-2 points; moe=0.02 means +/-0.02 points",
                    HappinessIndexWarning,
                    stacklevel=2,
                )
            n0 = z * z * s2 / (moe * moe)
        else:
            if est == 0:
                raise SamplingError("cv= needs previous.estimate != 0 (a CV is relative to the estimate)")
            n0 = s2 / (cv * cv * est * est)
    elif sd is not None:
        basis = "mean"
        sd_out = _number("sd", sd)
        if sd_out <= 0:
            raise SamplingError(f"sd must be > 0, got {sd!r}")
        if moe is not None:
            n0 = z * z * sd_out * sd_out / (moe * moe)
        else:
            if estimate is None:
                raise SamplingError("cv= with sd= needs estimate= (the anticipated mean)")
            estimate = _number("estimate", estimate)
            if estimate == 0:
                raise SamplingError("estimate must be != 0 with cv= (a CV is relative to the mean)")
            n0 = sd_out * sd_out / (cv * cv * estimate * estimate)
    else:
        basis = "proportion"
        p_out = _number("p", p)
        if not (0.0 <= p_out <= 1.0):
            raise SamplingError(
                f"p must be a proportion in [0, 1], got {p!r}; a percentage (76) must be divided by 100"
            )
        sd_out = math.sqrt(p_out * (1 - p_out))
        if moe is not None:
            if moe >= 1:
                raise SamplingError(
                    f"moe for a proportion must be in (0, 1) (0.05 for +/-5 points), got {moe!r}; "
                    "for a mean or an index in percent pass sd= or previous="
                )
            n0 = z * z * p_out * (1 - p_out) / (moe * moe)
        else:
            if p_out == 0:
                raise SamplingError("cv= needs p > 0: the CV of an estimated proportion 0 is undefined")
            n0 = (1 - p_out) / (p_out * cv * cv)
        if estimate is not None:
            raise SamplingError("estimate= is only used with sd= (mean) and cv=; for a proportion give p=")

    n_deff = n0 * deff
    # with a previous design effect, report the SRS-equivalent size separately
    n_srs = n0 / prev_deff if prev_deff is not None else n0
    n_fpc = n_deff if population is None else n_deff / (1.0 + (n_deff - 1.0) / population)
    n_fpc = max(n_fpc, 0.0)
    n_resp = max(1, math.ceil(n_fpc - _SNAP))
    n_contact = max(1, math.ceil(n_fpc / response_rate - _SNAP))
    if population is not None and n_contact > population:
        raise SamplingError(
            f"{n_contact} contacts are needed ({n_resp} interviews at response rate "
            f"{response_rate:g}) but the population has only {population} units: survey everyone "
            "(a census) or relax moe/cv"
        )
    return SampleSize(
        n_srs=float(n_srs),
        n_with_deff=float(n_deff),
        n_with_fpc=float(n_fpc),
        n_respondents=int(n_resp),
        n_to_contact=int(n_contact),
        basis=basis,
        moe=moe,
        cv=cv,
        p=p_out,
        level=float(level),
        z=z,
        deff=deff,
        response_rate=response_rate,
        population=population,
        estimate=None if estimate is None else float(estimate),
        sd=float(sd_out),
    )


# --------------------------------------------------------------------------------------
# allocation
# --------------------------------------------------------------------------------------
def _stratum_labels(series: pd.Series, column: str) -> pd.Series:
    if series.isna().any():
        rows = series.index[series.isna().to_numpy()]
        raise SamplingError(
            f"column {column!r} has missing stratum labels in rows {describe_rows(rows)}; "
            "every frame row must belong to a stratum"
        )
    return series.map(_nfc)


def _by_stratum(
    values: Any,
    name: str,
    strata: pd.Index,
    frame: pd.DataFrame | None,
    stratum_col: str | None,
    frame_labels: pd.Series | None,
) -> np.ndarray:
    """Resolve a per-stratum quantity (sd, cost) to an array aligned with ``strata``."""
    if isinstance(values, str):
        if frame is None or values not in frame.columns:
            raise SamplingError(f"{name}={values!r} is not a column of the frame")
        col = frame[values]
        if not pd.api.types.is_numeric_dtype(col):
            raise SamplingError(f"{name} column {values!r} must be numeric, got dtype {col.dtype}")
        grouped = col.groupby(frame_labels.to_numpy(), sort=False)
        nunique = grouped.nunique(dropna=False)
        if (nunique > 1).any():
            bad = nunique.index[(nunique > 1).to_numpy()]
            raise SamplingError(
                f"{name} column {values!r} varies within strata {describe_rows(bad)}; give one "
                "value per stratum (a stratum-level frame, or a mapping stratum -> value)"
            )
        mapping = grouped.first()
    elif isinstance(values, pd.DataFrame) or (hasattr(values, "to_frame") and not isinstance(values, pd.Series)):
        table = values if isinstance(values, pd.DataFrame) else values.to_frame()
        if not isinstance(table, pd.DataFrame) or not {"se", "n"} <= set(table.columns):
            raise SamplingError(
                f"{name}= given as a table must have columns 'se' and 'n' (a by-stratum "
                "EstimateTable); the unit SD is taken as se * sqrt(n)"
            )
        stat_cols = {"estimate", "se", "ci_low", "ci_high", "df", "deff", "n"}
        if stratum_col is not None and stratum_col in table.columns:
            key = stratum_col
        elif "stratum" in table.columns:
            key = "stratum"
        else:
            keys = [c for c in table.columns if c not in stat_cols]
            if len(keys) != 1:
                raise SamplingError(
                    f"cannot tell which column of the {name}= table holds the strata: candidates "
                    f"{keys}; name it {stratum_col!r}"
                )
            key = keys[0]
        se = pd.to_numeric(table["se"], errors="coerce").to_numpy(float)
        nn = pd.to_numeric(table["n"], errors="coerce").to_numpy(float)
        mapping = pd.Series(se * np.sqrt(nn), index=table[key].map(_nfc).to_numpy())
    elif isinstance(values, (Mapping, pd.Series)):
        items = values.items()
        mapping = pd.Series({_nfc(k): v for k, v in items}, dtype=object)
    else:
        raise SamplingError(
            f"{name}= must be a column name, a mapping stratum -> value, or a by-stratum "
            f"estimate table; got {type(values).__name__}"
        )
    if mapping.index.duplicated().any():
        raise SamplingError(
            f"{name}= names strata more than once: {describe_rows(mapping.index[mapping.index.duplicated()])}"
        )
    extra = [k for k in mapping.index if k not in strata]
    if extra:
        raise SamplingError(
            f"{name}= gives values for strata not in the frame: {describe_rows(extra)}; check the "
            "spelling (names are compared after Unicode NFC normalisation)"
        )
    missing = [k for k in strata if k not in mapping.index]
    if missing:
        raise SamplingError(f"{name}= has no value for strata {describe_rows(missing)}")
    out = pd.to_numeric(mapping.reindex(strata), errors="coerce").to_numpy(float)
    bad = ~np.isfinite(out) | (out < 0)
    if bad.any():
        raise SamplingError(
            f"{name}= must be finite and >= 0 for every stratum; bad values for {describe_rows(list(strata[bad]))}"
        )
    return out


def _box_allocation(n: int, w: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Solve n_h = clip(lam * w_h, L_h, U_h) with sum n_h = n (exact, no rounding).

    For upper bounds only this is exactly the iterative take-all re-allocation of
    Cochran (1977, ch. 5): strata whose share exceeds N_h are capped and the rest
    re-allocated among the others until none exceeds. The final step is computed the
    same way (remaining n shared in proportion to w among the free strata).
    """
    pos = w > 0
    # g(lam) = sum clip(lam w, L, U) is piecewise linear and non-decreasing: its slope
    # gains w_h at lam = L_h / w_h and loses it at U_h / w_h. Evaluate g at every
    # breakpoint with cumulative sums (O(H log H)), then interpolate inside the segment.
    x = np.concatenate([lower[pos] / w[pos], upper[pos] / w[pos]])
    delta = np.concatenate([w[pos], -w[pos]])
    order = np.argsort(x, kind="stable")
    x, delta = x[order], delta[order]
    slope_before = np.concatenate([[0.0], np.cumsum(delta)[:-1]])
    dx = np.diff(np.concatenate([[0.0], x]))
    g0 = lower.sum()
    g = g0 + np.cumsum(slope_before * dx)
    bps = np.concatenate([[0.0], x])
    g = np.concatenate([[g0], g])
    g = np.maximum.accumulate(g)  # guard against float drift in the cumulative sums
    k = int(np.searchsorted(g, n, side="left"))  # first breakpoint with g >= n
    if k >= len(bps):  # cannot reach n (handled by the caller's feasibility check)
        k = len(bps) - 1
    if g[k] == n or k == 0 or g[k] == g[k - 1]:
        lam = bps[k]
    else:
        lam = bps[k - 1] + (n - g[k - 1]) * (bps[k] - bps[k - 1]) / (g[k] - g[k - 1])
    raw = lam * w
    at_low = raw <= lower + 1e-12 * np.maximum(1.0, lower)
    at_up = raw >= upper - 1e-12 * np.maximum(1.0, upper)
    free = pos & ~at_low & ~at_up
    out = np.where(at_up, upper, lower).astype(float)
    if free.any():
        rest = n - out[~free].sum()
        out[free] = rest * w[free] / w[free].sum()
    return out


def _largest_remainder(x: np.ndarray, total: int, upper: np.ndarray) -> np.ndarray:
    """Round ``x`` to integers summing to ``total`` by largest remainders, never above ``upper``.

    Values within 1e-9 of an integer are snapped to it first; ties between equal
    remainders (compared to 9 decimals) go to the earlier stratum.
    """
    snapped = np.where(np.abs(x - np.round(x)) < _SNAP, np.round(x), x)
    base = np.floor(snapped)
    rem = np.round(snapped - base, 9)
    short = int(total - base.sum())
    eligible = base + 1 <= upper
    rem = np.where(eligible, rem, -np.inf)
    if short > 0:
        order = np.argsort(-rem, kind="stable")[:short]
        base[order] += 1
    elif short < 0:  # cannot happen with exact inputs; guard against float drift
        order = np.argsort(rem, kind="stable")[:-short]
        base[order] -= 1
    return base.astype(np.int64)


def allocate(
    frame: pd.DataFrame | Mapping | pd.Series,
    n: int,
    stratum: str = "stratum",
    size: str | None = None,
    method: str = "proportional",
    sd: Any = None,
    cost: Any = None,
    power: float = 0.5,
    min_per_stratum: int | Mapping | str = 0,
    p: float = 0.5,
    level: float = 0.95,
    *,
    deff: float = 1.0,
) -> pd.DataFrame:
    """Allocate a total sample of ``n`` units among strata.

    Parameters
    ----------
    frame : DataFrame, mapping or Series
        Either one row per stratum with the stratum label in ``stratum`` and its size
        N_h in ``size``; or, with ``size=None``, one row per population unit (household,
        village), in which case N_h is the number of rows of each stratum. A mapping or
        Series ``{stratum: N_h}`` is also accepted. Never modified.
    n : int
        Total sample size (>= 1), e.g. a :class:`SampleSize` (its ``n_to_contact``).
    stratum : str, default "stratum"
        Column holding the stratum label (commune/ward). Labels are NFC-normalised.
    size : str, optional
        Column with the stratum size N_h (a count of units: integral, > 0).
    method : {"proportional", "equal", "neyman", "power", "optimal"}
        The share of stratum h is proportional to

        * ``proportional``: N_h (Cochran 1977, ch. 5);
        * ``equal``: 1;
        * ``neyman``: N_h S_h (Cochran 1977, ch. 5);
        * ``power``: S_h X_h^q with X_h = N_h and q = ``power`` (Bankier 1988);
          without ``sd`` S_h = 1, so the share is N_h^q: q = 1 is proportional,
          q = 0 equal;
        * ``optimal``: N_h S_h / sqrt(c_h) with c_h the cost per unit in ``cost``
          (Cochran 1977, ch. 5); without ``sd``, S_h = 1.
    sd : str, mapping or table, optional
        Unit standard deviations S_h: a column name (constant within a stratum), a
        mapping ``{stratum: S_h}``, or last year's by-stratum results -- an object with
        ``to_frame()`` (an EstimateTable) or a DataFrame with columns ``se`` and ``n``
        and a stratum column, from which ``S_h = se_h * sqrt(n_h)`` (this includes the
        previous design effect). Required for ``neyman``. For ``power`` in Bankier's
        exact form give the unit coefficient of variation S_h / mean_h.
    cost : str or mapping, optional
        Cost per interviewed unit c_h (> 0), required for ``optimal``.
    power : float, default 0.5
        Bankier's exponent q in [0, 1] for ``method="power"``.
    min_per_stratum : int, mapping or str, default 0
        Minimum n_h: one int for every stratum, or per stratum as a mapping
        ``{stratum: minimum}`` or a column name (e.g. the sizes each commune needs for
        its own margin of error, from :func:`sample_size`). A stratum smaller than its
        minimum is taken completely.
    p : float, default 0.5
        Anticipated proportion used only for the ``moe`` column.
    level : float, default 0.95
        Confidence level for the ``moe`` column.
    deff : float, default 1.0
        Anticipated design effect within a stratum, used only for the ``moe`` column.

    Returns
    -------
    DataFrame
        One row per stratum, in order of first appearance in ``frame``, with columns
        ``stratum``, ``N`` (N_h), ``n`` (int64, summing exactly to ``n``), ``n_exact``
        (before rounding), ``fraction`` (n_h / N_h) and ``moe``: the expected margin of
        error of a proportion ``p`` in the stratum,
        ``z * sqrt(deff * (1 - f_h) * p (1 - p) / n_h)`` (0 for a stratum taken
        completely, ``inf`` for n_h = 0). ``attrs`` records the method, n, power, level,
        p, deff, min_per_stratum, the stratum and size column names and the rounding rule.

    Raises
    ------
    SamplingError
        Unknown ``method``; missing ``stratum``/``size`` column; missing, negative, zero
        or non-integral sizes; sizes given as text (``"100"``) or True/False -- the
        message names the strata; convert with ``pd.to_numeric`` first (as
        :func:`select`, which refuses text sizes and allocations); duplicated strata in a stratum-level frame; ``n`` not a
        positive integer, larger than the population, or smaller than the sum of the
        minimums; ``sd`` missing for ``neyman`` or ``cost`` for ``optimal``; values of
        ``sd``/``cost`` missing, negative, or for unknown strata; ``power`` outside
        [0, 1]; or no allocation reaching ``n`` (e.g. every S_h = 0).

    Notes
    -----
    *Bounds.* Each n_h is kept within ``[min(min_per_stratum, N_h), N_h]``. The exact
    allocation is ``n_h = clip(lam * a_h, L_h, N_h)`` with ``lam`` chosen so that the
    n_h sum to n; it is found exactly from the breakpoints of this piecewise-linear
    function. With no minimum it equals the familiar iteration: a stratum whose share
    exceeds N_h is taken completely and the remainder re-allocated among the others
    until none exceeds (Cochran 1977, ch. 5). For Neyman allocation it is the optimum
    under box constraints.

    *Rounding.* Largest remainders (Hamilton's method): every n_h is first rounded
    down, then the units still missing go one each to the strata with the largest
    fractional parts, never above N_h. Ties (remainders equal to 9 decimals) are broken
    by stratum order in the output. Values within 1e-9 of an integer count as that
    integer. The result sums exactly to ``n``; ceiling rounding, which overshoots, is
    never used.

    References
    ----------
    Bankier, M. D. (1988). Power allocations. *The American Statistician* 42, 174-177.
    Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 5.
    Kish, L. (1965). *Survey Sampling*, ch. 3.

    Examples
    --------
    >>> import pandas as pd
    >>> from happiness_index import allocate
    >>> fr = pd.DataFrame({"stratum": ["A", "B"], "N": [300, 100]})
    >>> allocate(fr, 40, size="N")["n"].tolist()
    [30, 10]
    """
    if method not in ALLOCATION_METHODS:
        raise SamplingError(f"unknown allocation method {method!r}; use one of {', '.join(ALLOCATION_METHODS)}")
    n = _count("n", n, minimum=1)
    if not isinstance(min_per_stratum, (str, Mapping, pd.Series)):
        min_per_stratum = _count("min_per_stratum", min_per_stratum, minimum=0)
    z = _z(level)
    p = _number("p", p)
    if not 0 <= p <= 1:
        raise SamplingError(f"p must be a proportion in [0, 1], got {p!r}")
    deff = _number("deff", deff)
    if deff <= 0:
        raise SamplingError(f"deff must be > 0, got {deff!r}")

    frame, stratum, size, labels, strata, N, unit_frame = _allocation_frame(frame, stratum, size)
    lower = _allocation_minimums(n, N, min_per_stratum, strata, frame, stratum, labels)
    w = _allocation_shares(method, N, sd, cost, power, strata, unit_frame, stratum, labels)
    reach = np.where(w > 0, N, lower).sum()
    if reach < n:
        zero = list(strata[w <= 0])
        raise SamplingError(
            f"method={method!r} cannot place n={n}: strata {describe_rows(zero)} get a zero share "
            "(S_h = 0) and the others hold only "
            f"{int(np.where(w > 0, N, 0).sum())} units; set min_per_stratum or check sd"
        )
    return _allocation_table(n, w, lower, N, strata, z, p, deff, method, power, level, min_per_stratum, stratum, size)


def _allocation_frame(frame, stratum, size):
    """The frame as (frame, stratum column, size column, labels, strata, N_h, unit frame), checked."""
    from_mapping = isinstance(frame, (Mapping, pd.Series))
    if from_mapping:
        items = list(frame.items())
        frame = pd.DataFrame({"stratum": [k for k, _ in items], "N": [v for _, v in items]})
        stratum, size = "stratum", "N"
    if not isinstance(frame, pd.DataFrame):
        raise SamplingError(f"frame must be a DataFrame or a mapping stratum -> N_h, got {type(frame).__name__}")
    if stratum not in frame.columns:
        raise SamplingError(f"stratum column {stratum!r} is not in the frame (columns: {list(frame.columns)})")
    labels = _stratum_labels(frame[stratum], stratum)

    if size is None:
        counts = labels.value_counts(sort=False)
        strata = pd.Index(pd.unique(labels.to_numpy()))
        N = counts.reindex(strata).to_numpy(float)
        unit_frame = frame
        if labels.empty:
            raise SamplingError("the frame has no rows")
    else:
        if size not in frame.columns:
            raise SamplingError(f"size column {size!r} is not in the frame (columns: {list(frame.columns)})")
        dup = labels[labels.duplicated()]
        if len(dup):
            raise SamplingError(
                f"strata {describe_rows(pd.unique(dup.to_numpy()))} appear more than once in a frame "
                f"with size={size!r}; give one row per stratum (aggregate first), or pass size=None "
                "for a frame with one row per unit"
            )
        _require_numbers(
            frame[size],
            "the stratum sizes N_h" if from_mapping else f"size column {size!r}",
            "give them as numbers, e.g. {'A': 100}"
            if from_mapping
            else f"convert the column first: frame[{size!r}] = pd.to_numeric(frame[{size!r}])",
            labels.tolist(),
        )
        sizes = pd.to_numeric(frame[size], errors="coerce")
        bad = sizes.isna() | ~np.isfinite(sizes.to_numpy(float, na_value=np.nan)) | (sizes <= 0)
        if bad.any():
            raise SamplingError(
                f"size column {size!r} must be a positive count for every stratum; bad values for "
                f"{describe_rows(labels[bad.to_numpy()].tolist())} ({describe_rows(frame[size][bad.to_numpy()].tolist())}); "
                "drop strata with no units"
            )
        frac = sizes.to_numpy(float) % 1
        if (frac != 0).any():
            raise SamplingError(
                f"size column {size!r} must hold whole counts of units; non-integral values for "
                f"{describe_rows(labels[frac != 0].tolist())}"
            )
        strata = pd.Index(labels.to_numpy())
        N = sizes.to_numpy(float)
        unit_frame = frame

    return frame, stratum, size, labels, strata, N, unit_frame


def _allocation_minimums(n, N, min_per_stratum, strata, frame, stratum, labels) -> np.ndarray:
    """Per-stratum lower bounds (capped at N_h), checked against n and the population."""
    total = int(N.sum())
    if n > total:
        raise SamplingError(f"n={n} exceeds the population size {total} (sum of N_h over {len(N)} strata)")
    if isinstance(min_per_stratum, int):
        lower = np.minimum(float(min_per_stratum), N)
        how = f"{min_per_stratum} per stratum over {len(N)} strata"
    else:
        mins = _by_stratum(min_per_stratum, "min_per_stratum", strata, frame, stratum, labels)
        if (mins % 1 != 0).any():
            raise SamplingError(
                f"min_per_stratum must be whole numbers; non-integral for {describe_rows(list(strata[mins % 1 != 0]))}"
            )
        lower = np.minimum(mins, N)
        how = f"per-stratum minimums over {len(N)} strata"
    if lower.sum() > n:
        raise SamplingError(
            f"n={n} is below the sum of the minimums ({int(lower.sum())} = {how}, capped at N_h); "
            "raise n or lower min_per_stratum"
        )

    return lower


def _allocation_shares(method, N, sd, cost, power, strata, unit_frame, stratum, labels) -> np.ndarray:
    """Relative shares of the allocation method (proportional, equal, Neyman, power, optimal)."""
    S = None
    if sd is not None:
        S = _by_stratum(sd, "sd", strata, unit_frame, stratum, labels)
    elif method == "neyman":
        raise SamplingError(
            "method='neyman' needs sd= (a column, a mapping stratum -> S_h, or last year's "
            "by-stratum results); without it use method='proportional'"
        )
    if method == "power":
        q = _number("power", power)
        if not 0 <= q <= 1:
            raise SamplingError(f"power must be in [0, 1] (Bankier's exponent q), got {power!r}")
        w = (S if S is not None else 1.0) * N**q
    elif method == "proportional":
        w = N.copy()
    elif method == "equal":
        w = np.ones_like(N)
    elif method == "neyman":
        w = N * S
    else:  # optimal
        if cost is None:
            raise SamplingError("method='optimal' needs cost= (a column or a mapping stratum -> cost per unit)")
        c = _by_stratum(cost, "cost", strata, unit_frame, stratum, labels)
        if (c <= 0).any():
            raise SamplingError(f"cost must be > 0 for every stratum; zero for {describe_rows(list(strata[c <= 0]))}")
        w = N * (S if S is not None else 1.0) / np.sqrt(c)
    w = np.asarray(w, float)

    return w


def _allocation_table(n, w, lower, N, strata, z, p, deff, method, power, level, min_per_stratum, stratum, size):
    """Integer n_h by largest remainder within [lower, N_h], with each stratum's margin of error."""
    exact = _box_allocation(n, w, lower, N)
    n_h = _largest_remainder(exact, n, N)
    f = n_h / N
    with np.errstate(divide="ignore", invalid="ignore"):
        moe = z * np.sqrt(deff * (1 - f) * p * (1 - p) / n_h)
    moe = np.where(n_h == 0, np.inf, np.where(n_h >= N, 0.0, moe))
    out = pd.DataFrame(
        {
            "stratum": list(strata),
            "N": N.astype(np.int64),
            "n": n_h,
            "n_exact": exact,
            "fraction": f,
            "moe": moe,
        }
    )
    out.attrs.update(
        {
            "method": method,
            "n": n,
            "power": power if method == "power" else None,
            "level": float(level),
            "p": p,
            "deff": deff,
            "min_per_stratum": min_per_stratum
            if isinstance(min_per_stratum, (int, str))
            else dict(zip(strata, lower.astype(int).tolist())),
            "stratum_column": stratum,
            "size_column": size,
            "rounding": "largest remainder, capped at N_h, ties to the earlier stratum",
        }
    )
    return out


# --------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------
def _allocation_map(allocation: Any, strata: pd.Index | None) -> dict:
    """Turn an allocation (DataFrame, mapping, int) into {stratum: n_h}."""
    if isinstance(allocation, pd.DataFrame):
        if "n" not in allocation.columns:
            raise SamplingError("an allocation DataFrame needs a column 'n' (the output of allocate())")
        key = "stratum" if "stratum" in allocation.columns else allocation.attrs.get("stratum_column")
        if key is None or key not in allocation.columns:
            raise SamplingError("an allocation DataFrame needs a 'stratum' column (the output of allocate())")
        pairs = list(zip(allocation[key], allocation["n"]))
    elif isinstance(allocation, (Mapping, pd.Series)):
        pairs = list(allocation.items())
    else:
        if strata is not None:
            raise SamplingError(
                "an integer allocation is for an unstratified frame; with stratum= give a mapping "
                "stratum -> n_h or the DataFrame returned by allocate()"
            )
        return {None: _count("allocation", allocation, minimum=1)}
    if strata is None:
        raise SamplingError("a per-stratum allocation needs stratum= (the frame's stratum column)")
    out: dict = {}
    for k, v in pairs:
        k = _nfc(k)
        if k in out:
            raise SamplingError(f"the allocation names stratum {k!r} more than once")
        out[k] = _count(f"allocation for stratum {k!r}", v, minimum=0)
    unknown = [k for k in out if k not in strata]
    if unknown:
        raise SamplingError(
            f"the allocation names strata not in the frame: {describe_rows(unknown)}; check the "
            "spelling (compared after Unicode NFC normalisation)"
        )
    missing = [k for k in strata if k not in out]
    if missing:
        raise SamplingError(
            f"the allocation has no sample size for strata {describe_rows(missing)}; give 0 to "
            "leave a stratum out on purpose"
        )
    return out


def _systematic_positions(
    sizes: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PPS systematic selection of ``n`` units with sizes ``sizes`` (in frame order).

    Returns (selected positions, inclusion probabilities of all units, certainty flags).
    Units with size >= interval are certainty selections, removed iteratively and the
    interval recomputed on the rest.
    """
    m = len(sizes)
    pi = np.zeros(m)
    cert = np.zeros(m, dtype=bool)
    if n == 0:
        return np.array([], dtype=np.int64), pi, cert
    n_rest = n
    while n_rest > 0:
        rest_total = sizes[~cert].sum()
        interval = rest_total / n_rest
        new = ~cert & (sizes >= interval * (1 - 1e-12))
        if not new.any():
            break
        cert |= new
        n_rest = n - int(cert.sum())
    pi[cert] = 1.0
    chosen = [np.flatnonzero(cert)]
    if n_rest > 0:
        idx = np.flatnonzero(~cert)
        s = sizes[idx]
        total = s.sum()
        interval = total / n_rest
        pi[idx] = s / interval
        cum = np.cumsum(s)
        start = rng.uniform(0.0, interval)
        points = start + interval * np.arange(n_rest)
        hit = np.searchsorted(cum, points, side="right")
        hit = np.minimum(hit, len(idx) - 1)  # guard the last point against float drift
        chosen.append(idx[hit])
    sel = np.sort(np.concatenate(chosen))
    return sel, pi, cert


def select(
    frame: pd.DataFrame,
    allocation: Any,
    method: str = "srs",
    seed: int | np.random.Generator | None = None,
    *,
    stratum: str | None = None,
    size: str | None = None,
    psu: str | None = None,
    households_per_psu: int | None = None,
    units: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Select a probability sample from a frame, stratum by stratum.

    Parameters
    ----------
    frame : DataFrame
        The sampling frame, one row per first-stage unit: households for a
        single-stage sample, PSUs (villages, residential groups) for ``pps_systematic``
        or a two-stage sample. Row order matters for ``systematic`` and
        ``pps_systematic`` (sort by geography first for implicit stratification).
        Never modified.
    allocation : DataFrame, mapping or int
        Sample size per stratum: the DataFrame returned by :func:`allocate` (columns
        ``stratum`` and ``n``), a mapping ``{stratum: n_h}`` (0 leaves a stratum out), or
        an int for an unstratified frame (``stratum=None``). For PPS and two-stage
        designs n_h counts PSUs.
    method : {"srs", "systematic", "pps_systematic"}
        ``srs``: simple random sampling without replacement within strata.
        ``systematic``: equal-probability systematic sampling with a random start and a
        fractional interval N_h / n_h. ``pps_systematic``: systematic sampling with
        probability proportional to ``size``, with certainty selections.
    seed : int or numpy.random.Generator, optional
        Seed for :func:`numpy.random.default_rng`; the same seed gives the same sample.
    stratum : str, optional
        Stratum column of ``frame``; None for an unstratified frame. Defaults to the
        ``stratum_column`` recorded by :func:`allocate` when ``allocation`` is its output.
    size : str, optional
        Measure of size (e.g. household count) for ``pps_systematic``; must be > 0.
    psu : str, optional
        PSU identifier column (in ``frame`` and in ``units``); required for two stages.
    households_per_psu : int, optional
        Second stage: the fixed number m of units drawn by SRS in each selected PSU (the
        province takes 40 households per area). A PSU listing fewer than m units is
        taken completely, with a warning.
    units : DataFrame, optional
        Second-stage frame, one row per unit, with the ``psu`` column.

    Returns
    -------
    DataFrame
        The selected rows (original index kept; units for a two-stage design), with
        the stratum label NFC-normalised and added columns: ``pi1`` (first-stage
        inclusion probability), ``pi2`` (second stage; 1 for a single stage), ``pi``
        (= pi1 * pi2), ``design_weight`` (= 1 / pi), ``fpc1`` (population count of
        first-stage units in the stratum), ``fpc2`` (listed units in the PSU; two-stage
        only) and ``certainty`` (PPS only: selected with probability 1). For SRS at
        both stages, ``SurveyDesign(sample, weights="design_weight", strata=<stratum>,
        psu=[<psu>, <unit id>], fpc=["fpc1", "fpc2"])`` declares the without-replacement
        design (its fpc-derived weights equal ``design_weight``). For a PPS first stage
        ``fpc1`` is only a count of PSUs; declare ``SurveyDesign(sample,
        weights="design_weight", strata=<stratum>, psu=<psu>)``, the with-replacement
        approximation, slightly conservative when many PSUs are taken. ``attrs``
        records the method, seed, allocation and per-stratum sums of inclusion
        probabilities.

    Raises
    ------
    SamplingError
        Unknown ``method``; missing columns; allocation naming unknown strata or
        omitting strata; n_h larger than the stratum's units (or PSUs with positive
        size); ``size`` missing, zero, negative or text for ``pps_systematic``; an
        allocation given as text; duplicated PSU ids; ``units`` referring to PSUs not
        in ``frame``; a selected PSU with no units; output columns already present in
        the frame; or inconsistent arguments.

    Warns
    -----
    LonelyPSUWarning
        When a stratum ends up with exactly one selected PSU (a lonely PSU at
        analysis time: its variance cannot be estimated).

    Notes
    -----
    SRS draws one uniform key per unit and takes the n_h smallest within the stratum:
    every subset of size n_h is equally likely, pi = n_h / N_h.

    Systematic: interval k = N_h / n_h (fractional), start u ~ U[0, k); units at
    cumulative positions covering u, u + k, ..., u + (n_h - 1) k; pi = n_h / N_h.

    PPS systematic (Cochran 1977, ch. 9A; Särndal et al. 1992, ch. 3): with sizes M_i,
    a unit with M_i >= I = sum(M) / n_h is selected with certainty (pi = 1), removed,
    and I recomputed on the rest with n_h reduced, until no unit exceeds; the others
    get pi_i = n' M_i / sum(M') and are drawn systematically along the cumulated sizes.
    The sum of the pi over a stratum equals n_h (checked).

    Two stages: pi2 = m_i / L_i with L_i the units listed in PSU i and
    m_i = min(m, L_i); with PPS by a size equal to L_i the sample is self-weighting.

    References
    ----------
    Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 8 and 9A.
    Särndal, C.-E., Swensson, B. & Wretman, J. (1992). *Model Assisted Survey
    Sampling*, ch. 3-4.
    """
    stratum, two_stage, m = _check_selection(frame, allocation, method, stratum, size, psu, households_per_psu, units)
    out, strata, codes, keys, n_vec, N_units, sz = _selection_strata(frame, allocation, stratum, size, psu)
    rng = np.random.default_rng(_checked_seed(seed))
    pi1, selected, certainty, pi_sums = _first_stage(method, codes, keys, n_vec, N_units, sz, rng)
    _warn_lonely_selection(keys, n_vec, strata)
    out["pi1"] = pi1
    out["fpc1"] = N_units[codes]
    if method == "pps_systematic":
        out["certainty"] = certainty
    first = out.loc[selected]
    if not two_stage:
        result = first.copy()
        result["pi2"] = 1.0
    else:
        result = _second_stage(first, out, units, psu, m, stratum, method, rng)
    result["pi"] = result["pi1"] * result["pi2"]
    result["design_weight"] = 1.0 / result["pi"]
    result.attrs.update(
        {
            "method": method,
            "seed": seed if not isinstance(seed, np.random.Generator) else "Generator",
            "stratum_column": stratum,
            "psu_column": psu,
            "size_column": size,
            "households_per_psu": households_per_psu,
            "allocation": dict(zip(keys, n_vec.tolist())),
            "pi1_sums": dict(zip(keys, pi_sums.tolist())),
            "population_first_stage": dict(zip(keys, N_units.tolist())),
        }
    )
    return result


def _check_selection(frame, allocation, method, stratum, size, psu, households_per_psu, units):
    """Check select()'s arguments; return (stratum column, two-stage?, units per PSU)."""
    if method not in SELECTION_METHODS:
        raise SamplingError(f"unknown selection method {method!r}; use one of {', '.join(SELECTION_METHODS)}")
    if not isinstance(frame, pd.DataFrame):
        raise SamplingError(f"frame must be a DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise SamplingError("the frame has no rows")
    if stratum is None and isinstance(allocation, pd.DataFrame):
        stratum = allocation.attrs.get("stratum_column")
        if stratum is not None and stratum not in frame.columns and "stratum" in frame.columns:
            stratum = "stratum"
    clash = [c for c in _SELECT_COLUMNS if c in frame.columns]
    if clash:
        raise SamplingError(f"the frame already has column(s) {clash} that select() adds; rename them first")
    two_stage = units is not None or households_per_psu is not None
    if two_stage:
        if units is None or households_per_psu is None:
            raise SamplingError("a two-stage selection needs both units= (the unit frame) and households_per_psu=")
        if psu is None:
            raise SamplingError("a two-stage selection needs psu= (the PSU id column in frame and units)")
        if not isinstance(units, pd.DataFrame):
            raise SamplingError(f"units must be a DataFrame, got {type(units).__name__}")
        m = _count("households_per_psu", households_per_psu, minimum=1)
        clash = [c for c in _SELECT_COLUMNS if c in units.columns]
        if clash:
            raise SamplingError(f"units already has column(s) {clash} that select() adds; rename them first")
    else:
        m = None
    if method == "pps_systematic" and size is None:
        raise SamplingError("method='pps_systematic' needs size= (the measure of size column, e.g. households)")
    if method != "pps_systematic" and size is not None:
        raise SamplingError(f"size= is only used by method='pps_systematic', not {method!r}")

    for name, col in (("stratum", stratum), ("size", size), ("psu", psu)):
        if col is not None and col not in frame.columns:
            raise SamplingError(f"{name} column {col!r} is not in the frame (columns: {list(frame.columns)})")
    return stratum, two_stage, m


def _selection_strata(frame, allocation, stratum, size, psu):
    """Copy of the frame with NFC strata, stratum codes, n_h and N_h per stratum, PSU sizes (checked)."""
    sz = None
    out = frame.copy()
    if stratum is not None:
        labels = _stratum_labels(out[stratum], stratum)
        out[stratum] = labels
        strata = pd.Index(pd.unique(labels.to_numpy()))
        codes = pd.Categorical(labels, categories=strata).codes
    else:
        strata = None
        codes = np.zeros(len(out), dtype=np.int64)
    alloc = _allocation_map(allocation, strata)
    keys = list(alloc) if strata is None else list(strata)
    n_vec = np.array([alloc[k] for k in keys], dtype=np.int64)
    N_units = np.bincount(codes, minlength=len(keys))

    if psu is not None:
        dup = out[psu].duplicated()
        if dup.any():
            raise SamplingError(
                f"PSU ids in column {psu!r} must be unique in the frame; repeated: "
                f"{describe_rows(pd.unique(out.loc[dup.to_numpy(), psu]).tolist())} (combine stratum and PSU "
                "into one id if codes repeat across strata)"
            )

    if size is not None:
        _require_numbers(
            out[size],
            f"size column {size!r}",
            f"convert the column first: frame[{size!r}] = pd.to_numeric(frame[{size!r}])",
            out.index.tolist(),
            prefix="in rows",
        )
        sz = pd.to_numeric(out[size], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(sz) | (sz <= 0)
        if bad.any():
            raise SamplingError(
                f"size column {size!r} must be > 0 for every PSU; missing, zero or negative in rows "
                f"{describe_rows(out.index[bad].tolist())}; drop empty PSUs from the frame"
            )

    over = n_vec > N_units
    if over.any():
        bad = [f"{keys[i]!r} (n_h={n_vec[i]}, N_h={N_units[i]})" for i in np.flatnonzero(over)]
        raise SamplingError(
            f"sample size larger than the number of frame units in strata {', '.join(bad)}; "
            "cap the allocation at N_h (allocate() does)"
        )
    return out, strata, codes, keys, n_vec, N_units, sz


def _first_stage(method, codes, keys, n_vec, N_units, sz, rng):
    """First-stage selection (SRS by random ranks, or (PPS) systematic per stratum) and its checks."""
    n_rows = len(codes)
    pi1 = np.zeros(n_rows)
    selected = np.zeros(n_rows, dtype=bool)
    certainty = np.zeros(n_rows, dtype=bool)
    if method == "srs":
        key = rng.random(n_rows)
        rank = pd.Series(key).groupby(codes).rank(method="first").to_numpy()
        n_row = n_vec[codes]
        selected = rank <= n_row
        pi1 = n_row / N_units[codes]
    else:
        # rows of each stratum in frame order (one stable sort instead of a scan per stratum)
        by_stratum = np.split(np.argsort(codes, kind="stable"), np.cumsum(N_units)[:-1])
        for h, rows in enumerate(by_stratum):
            sizes = sz[rows] if method == "pps_systematic" else np.ones(len(rows))
            sel, pi_h, cert_h = _systematic_positions(sizes, int(n_vec[h]), rng)
            pi1[rows] = pi_h
            selected[rows[sel]] = True
            certainty[rows] = cert_h
    # check: inclusion probabilities sum to n_h and the sample has n_h units per stratum
    pi_sums = np.bincount(codes, weights=pi1, minlength=len(keys))
    got = np.bincount(codes[selected], minlength=len(keys))
    if not np.allclose(pi_sums, n_vec, rtol=1e-9, atol=1e-9) or not np.array_equal(got, n_vec):
        raise SamplingError(  # pragma: no cover - internal invariant
            f"internal check failed: inclusion probabilities sum to {pi_sums.tolist()} and "
            f"{got.tolist()} units were drawn for n_h = {n_vec.tolist()}"
        )
    return pi1, selected, certainty, pi_sums


def _warn_lonely_selection(keys, n_vec, strata) -> None:
    """Warn about strata with a single selected PSU (a lonely PSU at analysis time)."""
    lonely = [keys[i] for i in np.flatnonzero(n_vec == 1)]
    if lonely:
        label = f"stratum {describe_rows(lonely)}" if strata is not None else "the unstratified frame"
        warnings.warn(
            f"{label} has a single selected PSU: "
            "its variance cannot be estimated (a lonely PSU at analysis time); allocate at least 2 "
            "PSUs per stratum or plan to collapse strata",
            LonelyPSUWarning,
            stacklevel=3,
        )


def _second_stage(first, out, units, psu, m, stratum, method, rng):
    """Second stage: ``m`` units by SRS in every selected PSU (all of a PSU listing fewer), with pi2 and fpc2."""
    if psu not in units.columns:
        raise SamplingError(f"psu column {psu!r} is not in units (columns: {list(units.columns)})")
    u_psu = units[psu]
    unknown = ~u_psu.isin(out[psu])
    if unknown.any():
        raise SamplingError(
            f"units has rows whose {psu!r} is not a PSU of the frame: "
            f"{describe_rows(pd.unique(u_psu[unknown.to_numpy()]).tolist())}; fix the ids or drop those units"
        )
    listed = u_psu.value_counts()
    sel_ids = first[psu]
    L = listed.reindex(sel_ids.to_numpy()).fillna(0).to_numpy(np.int64)
    empty = L == 0
    if empty.any():
        raise SamplingError(
            f"selected PSUs {describe_rows(sel_ids[empty].tolist())} have no units in units=; "
            "list their households or drop them from the frame"
        )
    if (L < m).any():
        short = sel_ids[L < m].tolist()
        warnings.warn(
            f"selected PSUs {describe_rows(short)} list fewer than {m} units and are taken completely",
            HappinessIndexWarning,
            stacklevel=3,
        )
    m_i = np.minimum(m, L)
    carry = [c for c in ([stratum] if stratum is not None else []) if c not in units.columns]
    carry += ["pi1", "fpc1"] + (["certainty"] if method == "pps_systematic" else [])
    # position of each unit's PSU among the selected PSUs (-1: PSU not selected)
    where = pd.Index(sel_ids.to_numpy()).get_indexer(u_psu.to_numpy())
    in_sel = where >= 0
    pos = where[in_sel]
    key = rng.random(len(pos))
    rank = pd.Series(key).groupby(pos).rank(method="first").to_numpy()
    take = rank <= m_i[pos]
    result = units.loc[in_sel].loc[take].copy()
    pos = pos[take]
    for c in carry:
        result[c] = first[c].to_numpy()[pos]
    result["pi2"] = m_i[pos] / L[pos]
    result["fpc2"] = L[pos]
    return result
