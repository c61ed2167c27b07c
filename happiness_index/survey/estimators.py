"""Estimates, tables of estimates, and confidence intervals.

This module holds the *results* side of the estimation engine:

* :class:`Estimate` — one statistic with its standard error, degrees of freedom,
  confidence interval, design effect and sample size;
* :class:`EstimateTable` — several statistics estimated jointly (several variables,
  the categories of a factor, or domains), with their covariance matrix, linear
  contrasts and smooth transformations (the delta method, as R's ``svycontrast``);
* interval methods for proportions that stay inside [0, 1] (``logit``, ``xlogit``,
  ``beta`` (Korn–Graubard), ``wilson``, ``asin``, ``likelihood``, ``wald``).

The design side (how a variance is computed from a sample design) lives in
:mod:`happiness_index.design`.

Conventions
-----------
* Proportions are in [0, 1]; indices in percent are the caller's choice of scale.
* ``ci_low``/``ci_high`` on an :class:`Estimate` are 95% intervals with a t quantile on
  ``df`` degrees of freedom (the design's, or the domain's), using the estimator's
  interval method. R's ``confint()`` uses Normal quantiles by default: pass
  ``df=math.inf`` to :meth:`Estimate.confint` to reproduce it.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
Korn, E. L. & Graubard, B. I. (1998). Confidence intervals for proportions with small
expected number of positive counts estimated from survey data. *Survey Methodology* 24, 193–201.
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
*JASA* 22, 209–212.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import special  # scipy.stats / scipy.optimize (≈1 s to import) only inside the rare paths that use them

from ..errors import DomainDfWarning, EstimationError

__all__ = [
    "Estimate",
    "EstimateTable",
    "CI_METHODS",
    "proportion_interval",
    "t_quantile",
    "wald_limits",
]

CI_METHODS = ("logit", "xlogit", "wald", "mean", "beta", "wilson", "asin", "likelihood")


def t_quantile(level: float, df: float) -> float:
    """Two-sided critical value: Student t on ``df`` degrees of freedom, Normal if infinite.

    Parameters
    ----------
    level : float
        Confidence level in (0, 1).
    df : float
        Degrees of freedom; ``math.inf`` gives the Normal quantile.

    Returns
    -------
    float
        ``q`` with ``P(|T| <= q) = level``; NaN when ``df <= 0``.
    """
    if not 0 < level < 1:
        raise EstimationError(f"level must be in (0, 1), got {level!r}; write 0.95 for a 95% interval")
    if df is None or (isinstance(df, float) and math.isinf(df)) or df == np.inf:
        return float(special.ndtri(0.5 + level / 2))  # = scipy.stats.norm.ppf
    if not df > 0:
        return float("nan")
    return _t_ppf(0.5 + level / 2, float(df))


def wald_limits(
    estimate: np.ndarray, se: np.ndarray, df: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wald intervals ``estimate ± q·se`` of many estimates at once, ``q`` the t quantile on each df.

    Parameters
    ----------
    estimate, se : numpy.ndarray, shape (k,)
        Point estimates and standard errors.
    df : numpy.ndarray, shape (k,)
        Degrees of freedom of each estimate (``inf``: Normal; ``<= 0`` or NaN: NaN limits).
    level : float, default 0.95
        Confidence level in (0, 1).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Lower and upper limits, shape (k,): the same numbers as :meth:`Estimate.confint`
        row by row (one quantile per distinct df, :func:`t_quantile`).

    Raises
    ------
    EstimationError
        ``level`` outside (0, 1).
    """
    distinct, where = np.unique(np.asarray(df, dtype=float), return_inverse=True)
    if len(distinct) == 0:
        t_quantile(level, math.inf)  # the level is checked even for an empty table
    q = np.array([t_quantile(level, float(v)) for v in distinct], dtype=float)[where.reshape(-1)]
    return estimate - q * se, estimate + q * se


@functools.lru_cache(maxsize=4096)
def _t_ppf(prob: float, df: float) -> float:
    """Cached Student t quantile: a table of 1,200 domain estimates shares a handful of df."""
    return float(special.stdtrit(df, prob))  # = scipy.stats.t.ppf(prob, df) for 0 < prob < 1, df > 0


# ---------------------------------------------------------------------------
# Proportion intervals
# ---------------------------------------------------------------------------


def _kg_boundary(p: float, n: float, df: float, level: float) -> tuple[float, float]:
    """Korn–Graubard (Clopper–Pearson with df-adjusted n) interval at p = 0 or p = 1.

    With p at a boundary the design variance is zero and no effective sample size
    exists; the interval is the exact binomial one for the domain's own count ``n``,
    with n replaced by n* = n (t_{n-1} / t_df)^2 (deff taken as 1).
    """
    from scipy import stats

    alpha = 1 - level
    if not (n > 1 and df > 0):
        return (float("nan"), float("nan"))
    nstar = n * (stats.t.ppf(alpha / 2, n - 1) / stats.t.ppf(alpha / 2, df)) ** 2
    if p <= 0:
        return (0.0, float(stats.beta.ppf(1 - alpha / 2, 1, nstar)))
    return (float(stats.beta.ppf(alpha / 2, nstar, 1)), 1.0)


def proportion_interval(
    p: float,
    se: float,
    df: float,
    level: float = 0.95,
    method: str = "logit",
    n: float | None = None,
    likelihood: Callable[[float, float], tuple[float, float]] | None = None,
) -> tuple[float, float]:
    """Confidence interval for a proportion estimated from a complex sample.

    Parameters
    ----------
    p : float
        Estimated proportion in [0, 1].
    se : float
        Its design-based standard error.
    df : float
        Degrees of freedom for the t quantile (``math.inf``: Normal).
    level : float, default 0.95
        Confidence level.
    method : str, default "logit"
        * ``"logit"`` / ``"xlogit"``: Wald interval on the logit scale, back-transformed
          (R ``svyciprop`` methods "logit" and "xlogit" give the same numbers).
        * ``"wald"`` / ``"mean"``: ``p ± t·se`` (can leave [0, 1]; not clipped, as R).
        * ``"beta"``: Korn & Graubard (1998): Clopper–Pearson with the effective sample
          size ``p(1-p)/se²`` multiplied by ``(t_{n-1}/t_df)²`` (``n`` the domain's rows).
          A design's ``proportion(..., ci_method="beta")`` always puts the design (domain)
          df here, as R's ``svyciprop`` does even when another ``df`` is given.
        * ``"wilson"``: Wilson score interval with the effective sample size.
        * ``"asin"``: Wald interval for ``asin(sqrt(p))``, back-transformed.
        * ``"likelihood"``: Rao–Scott scaled profile likelihood (needs ``likelihood``).
    n : float, optional
        Number of respondents behind the estimate (the domain's count); needed by
        ``"beta"`` and at the boundary.
    likelihood : callable, optional
        ``likelihood(level, df) -> (low, high)``, supplied by the design for the
        ``"likelihood"`` method.

    Returns
    -------
    (float, float)
        Lower and upper limits.

    Notes
    -----
    At ``p = 0`` or ``p = 1`` the design-based SE is 0 and the effective sample size is
    undefined. Every method then returns the Korn–Graubard interval computed with the
    domain's respondent count ``n`` (design effect taken as 1): a one-sided, informative
    interval such as ``[0, 0.2988]`` for 0 of 18 with 4 df, never a zero-width ``[0, 0]``.
    R's ``svyciprop`` degenerates there; we deliberately differ. When ``df <= 0`` the
    interval is NaN (a :class:`~happiness_index.errors.DomainDfWarning` is issued by the
    caller).
    """
    method = check_ci_method(method)
    if not (np.isfinite(p) and np.isfinite(se)):
        return (float("nan"), float("nan"))
    if df is not None and not (df > 0):
        return (float("nan"), float("nan"))
    if p <= 0.0 or p >= 1.0 or se <= 0.0:
        if n is None:
            return (float("nan"), float("nan"))
        return _kg_boundary(min(max(p, 0.0), 1.0), n, df, level)
    q = t_quantile(level, df)
    if method in ("logit", "xlogit"):
        eta = math.log(p / (1 - p))
        s = se / (p * (1 - p))
        return (float(special.expit(eta - q * s)), float(special.expit(eta + q * s)))
    if method in ("wald", "mean"):
        return (p - q * se, p + q * se)
    if method == "asin":
        a = math.asin(math.sqrt(p))
        s = se / (2 * math.sqrt(p * (1 - p)))
        return (math.sin(a - q * s) ** 2, math.sin(a + q * s) ** 2)
    if method == "beta":
        if n is None:
            raise EstimationError("the 'beta' (Korn-Graubard) interval needs the number of respondents n")
        from scipy import stats

        alpha = 1 - level
        neff = p * (1 - p) / se**2
        if df is None or math.isinf(df):
            ratio = stats.t.ppf(alpha / 2, n - 1) / stats.norm.ppf(alpha / 2)
        else:
            ratio = stats.t.ppf(alpha / 2, n - 1) / stats.t.ppf(alpha / 2, df)
        neff = neff * ratio**2
        lo = stats.beta.ppf(alpha / 2, neff * p, neff * (1 - p) + 1)
        hi = stats.beta.ppf(1 - alpha / 2, neff * p + 1, neff * (1 - p))
        return (float(lo), float(hi))
    if method == "wilson":
        neff = p * (1 - p) / se**2
        z2 = q * q
        centre = (p + z2 / (2 * neff)) / (1 + z2 / neff)
        half = q * math.sqrt(p * (1 - p) / neff + z2 / (4 * neff * neff)) / (1 + z2 / neff)
        return (centre - half, centre + half)
    if method == "likelihood":
        if likelihood is None:
            raise EstimationError("the 'likelihood' interval is only available from a design's proportion()")
        return likelihood(level, df)
    raise AssertionError(method)  # pragma: no cover


def _fmm_spline_eval(x: np.ndarray, y: np.ndarray, xout: np.ndarray) -> np.ndarray:
    """Cubic interpolating spline with Forsythe–Malcolm–Moler end conditions, evaluated at xout.

    The end conditions make the third derivative at each end match that of the cubic
    through the four nearest points (R's ``spline(method="fmm")``, the default).
    ``x`` must be strictly increasing.
    """
    n = len(x)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if n < 2:
        return np.full(len(xout), y[0] if n else np.nan)
    b = np.zeros(n)
    c = np.zeros(n)
    d = np.zeros(n)
    if n < 3:
        t = (y[1] - y[0]) / (x[1] - x[0])
        b[:] = t
    else:
        nm1 = n - 1
        d[0] = x[1] - x[0]
        c[1] = (y[1] - y[0]) / d[0]
        for i in range(1, nm1):  # n is a handful of profile points
            d[i] = x[i + 1] - x[i]
            b[i] = 2.0 * (d[i - 1] + d[i])
            c[i + 1] = (y[i + 1] - y[i]) / d[i]
            c[i] = c[i + 1] - c[i]
        b[0] = -d[0]
        b[nm1] = -d[n - 2]
        c[0] = c[nm1] = 0.0
        if n > 3:
            c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
            c[nm1] = c[n - 2] / (x[nm1] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])
            c[0] = c[0] * d[0] * d[0] / (x[3] - x[0])
            c[nm1] = -c[nm1] * d[n - 2] * d[n - 2] / (x[nm1] - x[n - 4])
        for i in range(1, n):
            t = d[i - 1] / b[i - 1]
            b[i] = b[i] - t * d[i - 1]
            c[i] = c[i] - t * c[i - 1]
        c[nm1] = c[nm1] / b[nm1]
        for i in range(n - 2, -1, -1):
            c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
        b[nm1] = (y[nm1] - y[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2.0 * c[nm1])
        for i in range(nm1):
            b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
            d[i] = (c[i + 1] - c[i]) / d[i]
            c[i] = 3.0 * c[i]
        c[nm1] = 3.0 * c[nm1]
        d[nm1] = d[n - 2]
    idx = np.clip(np.searchsorted(x, xout, side="right") - 1, 0, n - 1)
    dx = xout - x[idx]
    return y[idx] + dx * (b[idx] + dx * (c[idx] + dx * d[idx]))


def profile_likelihood_logit_interval(
    beta_hat: float,
    std_err: float,
    lam: float,
    deviance_increase: Callable[[float], float],
    dispersion: float,
    n: int,
    level: float,
    df: float,
) -> tuple[float, float]:
    """Rao–Scott scaled profile-likelihood interval for a logit-scale intercept, as R computes it.

    Reproduces ``confint(svyglm(y ~ 1, family=quasibinomial), method="likelihood")``
    (survey 4.1.1): the signed root deviance ``z(b) = ±sqrt(deviance_increase(b)/dispersion)``
    is evaluated on R's grid ``b = beta_hat ± k·(zmax/5)·std_err`` (k = 1..9, stopping once
    ``|z| >= zmax``), interpolated by an FMM cubic spline at ``3m`` equally spaced points
    and inverted linearly at ``z = ±q·sqrt(lam)`` (``q`` the t or Normal quantile,
    ``lam`` the design effect of the intercept). Falls back to the exact roots of
    ``z(b)^2 = q^2·lam`` when the grid does not bracket a limit.

    Returns
    -------
    (low, high) on the probability scale (expit of the logit limits).
    """
    from scipy import optimize, stats

    a = (1 - level) / 2
    if df is None or math.isinf(df):
        qa = stats.norm.ppf(a)
    elif df > 0:
        qa = stats.t.ppf(a, df)
    else:
        return (float("nan"), float("nan"))
    alpha = stats.norm.cdf(qa * math.sqrt(lam)) / 2
    if n - 1 <= 0 or not (alpha > 0):
        return (float("nan"), float("nan"))
    # upper F(1, n-1) quantile through the beta distribution (scipy's f.isf overflows
    # to inf for the tiny tail probabilities a large design effect produces)
    xb = float(special.betainccinv(0.5, (n - 1) / 2, alpha))
    zmax = math.sqrt((n - 1) * xb / (1 - xb)) if xb < 1 else float("inf")
    delta = zmax / 5
    bs, zs = [beta_hat], [0.0]
    for sgn in (-1.0, 1.0):
        step, z = 0, 0.0
        while True:
            step += 1
            if not (step < 10 and abs(z) < zmax):
                break
            b = beta_hat + sgn * step * delta * std_err
            zz = deviance_increase(b) / dispersion
            zz = max(zz, 0.0)
            z = sgn * math.sqrt(zz)
            bs.append(b)
            zs.append(z)
    order = np.argsort(zs, kind="stable")
    bx = np.asarray(bs)[order]
    zy = np.asarray(zs)[order]
    cut = abs(float(stats.norm.ppf(2 * alpha)))
    try:
        xs = np.linspace(bx[0], bx[-1], 3 * len(bx))
        ys = _fmm_spline_eval(bx, zy, xs)
        o = np.argsort(ys, kind="stable")
        lo_b = float(np.interp(-cut, ys[o], xs[o], left=np.nan, right=np.nan))
        hi_b = float(np.interp(cut, ys[o], xs[o], left=np.nan, right=np.nan))
    except (ValueError, FloatingPointError):  # pragma: no cover - defensive
        lo_b = hi_b = float("nan")
    if not (np.isfinite(lo_b) and np.isfinite(hi_b)):
        g = lambda b: deviance_increase(b) / dispersion - cut * cut  # noqa: E731
        span = max(abs(beta_hat), 1.0) * 50 + 50 * std_err
        lo_b = optimize.brentq(g, beta_hat - span, beta_hat) if g(beta_hat - span) > 0 else -np.inf
        hi_b = optimize.brentq(g, beta_hat, beta_hat + span) if g(beta_hat + span) > 0 else np.inf
    return (float(special.expit(lo_b)), float(special.expit(hi_b)))


def check_df(df) -> float:
    """A user-given degrees of freedom as a float (NaN/inf/<= 0 allowed, non-numbers refused)."""
    if isinstance(df, (bool, np.bool_)) or not isinstance(df, (int, float, np.integer, np.floating)):
        raise EstimationError(f"df must be a number (degrees of freedom; math.inf for Normal quantiles), got {df!r}")
    return float(df)


def check_ci_method(method: str) -> str:
    if method not in CI_METHODS:
        raise EstimationError(
            f"unknown ci_method {method!r}; use one of {', '.join(CI_METHODS)} (logit is the default for proportions)"
        )
    return method


# ---------------------------------------------------------------------------
# Estimate
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """One design-based estimate.

    Attributes
    ----------
    name : str
        What was estimated (e.g. ``"api00"``, ``"mean(api00)"``, ``"stype=E"``).
    estimate : float
        The point estimate, in the units of the statistic (proportions in [0, 1]).
    se : float
        Design-based standard error (square root of ``variance``).
    df : float
        Degrees of freedom used for the interval (design df, domain df or replicate df).
    ci_low, ci_high : float
        The ``level`` interval (95% by default) with a t quantile on ``df`` and the
        estimator's interval method ``ci_method``.
    level : float
        Confidence level of ``ci_low``/``ci_high``.
    ci_method : str
        ``"wald"`` for means, totals and ratios; the proportion method otherwise.
    deff : float or None
        Design effect, when requested (``deff=True`` or ``"replace"``).
    n : int
        Number of respondents contributing (in the domain, with non-missing values).
    statistic : str
        ``"mean"``, ``"total"``, ``"proportion"``, ``"ratio"``, ``"quantile"``,
        ``"contrast"``, ``"function"``, ...
    """

    name: str
    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    level: float = 0.95
    ci_method: str = "wald"
    deff: float | None = None
    n: int | None = None
    statistic: str = ""
    variance_method: str = "taylor"
    _interval: Callable | None = field(default=None, repr=False, compare=False)

    @property
    def variance(self) -> float:
        """The variance, ``se**2``."""
        return self.se**2

    @property
    def cv(self) -> float:
        """Coefficient of variation ``se / |estimate|`` (NaN when the estimate is 0)."""
        return self.se / abs(self.estimate) if self.estimate != 0 else float("nan")

    def confint(self, level: float = 0.95, df: float | None = None) -> tuple[float, float]:
        """Confidence interval at another level or with other degrees of freedom.

        Parameters
        ----------
        level : float, default 0.95
            Confidence level in (0, 1).
        df : float, optional
            Degrees of freedom; default the estimate's own ``df``. ``math.inf`` gives
            Normal quantiles (R's ``confint()`` default for ``svymean``/``svytotal``).

        Returns
        -------
        (float, float)
            NaN limits (with a :class:`DomainDfWarning`) when ``df`` is zero, negative
            or NaN.

        Raises
        ------
        EstimationError
            ``df`` or ``level`` that is not a number.

        References
        ----------
        Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley (``confint`` of ``svymean``).
        """
        user_df = df is not None
        df = self.df if df is None else check_df(df)
        if user_df and not (df > 0):
            warnings.warn(
                f"{self.name}: confint with df={df!r}: a t interval needs df > 0, so the interval is NaN. "
                "Pass df=math.inf for Normal quantiles or a positive df.",
                DomainDfWarning,
                stacklevel=2,
            )
        if self._interval is not None:
            return self._interval(level, df)
        q = t_quantile(level, df)
        return (self.estimate - q * self.se, self.estimate + q * self.se)

    def to_dict(self) -> dict:
        """The estimate as a plain dict (JSON-friendly)."""
        return {
            "name": self.name,
            "statistic": self.statistic,
            "estimate": self.estimate,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "level": self.level,
            "ci_method": self.ci_method,
            "df": self.df,
            "deff": self.deff,
            "n": self.n,
            "variance_method": self.variance_method,
        }

    def __float__(self) -> float:
        return float(self.estimate)

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.estimate:.6g} (SE {self.se:.4g}; "
            f"{100 * self.level:g}% CI {self.ci_low:.6g} to {self.ci_high:.6g}, df {self.df:g})"
        )


def warn_no_df(no_df: list) -> None:
    """One :class:`DomainDfWarning` for every estimate whose domain has no design degrees of freedom.

    Parameters
    ----------
    no_df : list of (str, float)
        ``(label, df)`` of each such estimate (``df <= 0``: all the domain's respondents are in one
        PSU, or one PSU per stratum). Nothing is issued when the list is empty; one estimate gets
        the per-estimate message, several one message that counts them (never thousands of lines
        for ``by()`` over many small domains).
    """
    if not no_df:
        return
    what = "or one PSU per stratum); the interval is NaN. Merge the domain with a neighbour or pass df=."
    if len(no_df) == 1:
        label, df = no_df[0]
        msg = f"{label}: the domain has {df:g} design degrees of freedom (all its respondents are in one PSU {what}"
    else:
        shown = ", ".join(repr(lab) for lab, _ in no_df[:3])
        msg = (
            f"{len(no_df)} estimates have no design degrees of freedom (e.g. {shown}): their domains have all "
            "their respondents in one PSU (or one PSU per stratum), so their intervals are NaN. Merge such "
            "domains with neighbours or pass df=."
        )
    warnings.warn(msg, DomainDfWarning, stacklevel=4)


def make_estimate(
    name: str,
    estimate: float,
    variance: float,
    df: float,
    *,
    level: float = 0.95,
    ci_method: str = "wald",
    n: int | None = None,
    deff: float | None = None,
    statistic: str = "",
    variance_method: str = "taylor",
    interval: Callable | None = None,
    warn_df: bool = True,
) -> Estimate:
    """Build an :class:`Estimate`, computing its interval (internal helper)."""
    se = float(math.sqrt(variance)) if variance >= 0 else float("nan")
    if warn_df and not (df > 0):
        warnings.warn(
            f"{name}: the domain has {df:g} design degrees of freedom (all its respondents are in one PSU "
            "or one PSU per stratum); the interval is NaN. Merge the domain with a neighbour or pass df=.",
            DomainDfWarning,
            stacklevel=3,
        )
    est = Estimate(
        name=name,
        estimate=float(estimate),
        se=se,
        df=float(df),
        ci_low=float("nan"),
        ci_high=float("nan"),
        level=level,
        ci_method=ci_method,
        deff=None if deff is None else float(deff),
        n=None if n is None else int(n),
        statistic=statistic,
        variance_method=variance_method,
        _interval=interval,
    )
    lo, hi = est.confint(level)
    return replace(est, ci_low=float(lo), ci_high=float(hi))


# ---------------------------------------------------------------------------
# EstimateTable
# ---------------------------------------------------------------------------


class EstimateTable:
    """Several estimates made jointly, with their covariance matrix.

    Rows are labelled: by variable name (``design.mean(["a", "b"])``), by category
    (``design.proportion("stype")`` gives ``stype=E``, ``stype=H``, ...), or by domain
    (``design.by("commune").mean("x")`` has key columns ``commune`` and, for several
    variables, ``variable``).

    Parameters
    ----------
    estimates : sequence of Estimate
        One per row.
    keys : pandas.DataFrame
        Key columns, one row per estimate (domain levels, variable names, categories).
    labels : sequence of str
        Unique row labels, used by :meth:`contrast` and :meth:`transform`.
    vcov : numpy.ndarray or callable
        The covariance matrix of the rows (k × k), or a callable computing it on demand
        (covariances across many domains are only computed when asked for).
    df : float
        Degrees of freedom for intervals of contrasts and transformations.

    Notes
    -----
    Tables from the design estimators are made by :meth:`from_arrays`: the rows are kept
    as numpy columns and an :class:`Estimate` is created only for the rows asked for
    (``table[i]``, ``table["label"]``, iteration, :attr:`estimates`), with the same field
    values the constructor's objects would have. Label look-ups go through a dict.

    Identities that hold by construction (and are tested): ``se`` equals the square
    root of the diagonal of :attr:`vcov`; a contrast of a row with itself has zero
    variance; :meth:`transform` with a linear formula equals :meth:`contrast`.
    """

    def __init__(
        self,
        estimates: Sequence[Estimate],
        keys: pd.DataFrame,
        labels: Sequence[str],
        vcov: np.ndarray | Callable[[], np.ndarray],
        df: float,
        level: float = 0.95,
        variance_method: str = "taylor",
        replicates: np.ndarray | None = None,
        replicate_variance: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        function_method: str | None = None,
    ):
        self._objects: list = list(estimates)
        self._complete = True  # every row's Estimate exists (False: built on request, see from_arrays)
        self._rows: dict | None = None  # the row columns as arrays (tables from from_arrays)
        self._init_table(
            keys, labels, vcov, df, level, variance_method, replicates, replicate_variance, function_method
        )

    def _init_table(
        self, keys, labels, vcov, df, level, variance_method, replicates, replicate_variance, function_method
    ):
        """The attributes shared by both constructors (keys, unique labels, covariance, df, methods)."""
        self.keys = keys.reset_index(drop=True)
        self.labels = [str(x) for x in labels]
        self._index = {lab: i for i, lab in enumerate(self.labels)}
        if len(self._index) != len(self.labels):
            counts: dict = {}
            for lab in self.labels:
                counts[lab] = counts.get(lab, 0) + 1
            dup = [lab for lab, c in counts.items() if c > 1]
            raise EstimationError(f"duplicate row labels in an estimate table: {sorted(dup)}")
        self._vcov = vcov
        self.df = float(df)
        self.level = level
        self.variance_method = variance_method
        # replicate estimates (R x k) and the replicate variance function, when the
        # table came from a replicate design: smooth functions are then re-evaluated
        # replicate by replicate instead of linearised.
        self._replicates = replicates
        self._replicate_variance = replicate_variance
        if function_method not in (None, "delta", "replicates"):
            raise EstimationError(f"function_method must be 'delta' or 'replicates', got {function_method!r}")
        # default of transform()/contrast(): design estimators give "delta" (R's
        # svycontrast on svymean of a replicate design); tables built with replicates
        # and no choice (e.g. compute_index's re-run components) re-evaluate per replicate
        self.function_method = function_method or ("replicates" if replicates is not None else "delta")

    @classmethod
    def from_arrays(
        cls,
        *,
        keys: pd.DataFrame,
        labels: Sequence[str],
        estimate: np.ndarray,
        se: np.ndarray,
        ci_low: np.ndarray,
        ci_high: np.ndarray,
        row_df: np.ndarray,
        vcov: np.ndarray | Callable[[], np.ndarray],
        df: float,
        level: float = 0.95,
        deff: np.ndarray | None = None,
        n: np.ndarray | None = None,
        ci_method: str = "wald",
        statistic: str = "",
        variance_method: str = "taylor",
        intervals: Sequence[Callable | None] | None = None,
        replicates: np.ndarray | None = None,
        replicate_variance: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        function_method: str | None = None,
    ) -> EstimateTable:
        """A table stored as columns; its :class:`Estimate` rows are built only when asked for.

        The same table as the constructor gives with one :class:`Estimate` per row named by
        its label (``Estimate(name=labels[i], estimate=estimate[i], ...)``), without building
        those objects: :attr:`estimate`, :attr:`se` and :meth:`to_frame` read the arrays, and
        ``table[i]``, ``table[label]``, iteration and :attr:`estimates` create (and keep) the
        rows they return. ``by()`` over hundreds of domains and dozens of variables makes
        tables of ten thousand rows this way in a few milliseconds.

        Parameters
        ----------
        keys : pandas.DataFrame
            Key columns, k rows.
        labels : sequence of str
            k unique row labels (also the names of the row estimates).
        estimate, se, ci_low, ci_high, row_df : numpy.ndarray, shape (k,)
            Point estimates, standard errors, the ``level`` interval and the degrees of
            freedom of every row.
        vcov : numpy.ndarray (k × k) or callable
            Covariance matrix of the rows, or a callable computing it on demand.
        df : float
            Degrees of freedom of contrasts and transformations.
        level : float, default 0.95
            Confidence level of ``ci_low``/``ci_high``.
        deff : numpy.ndarray, shape (k,), optional
            Design effects (None: not computed; the rows' ``deff`` is then None).
        n : numpy.ndarray of int, shape (k,), optional
            Respondents behind each row.
        ci_method, statistic, variance_method : str
            The same for every row (see :class:`Estimate`).
        intervals : sequence of callable or None, optional
            Per row, the interval function ``(level, df) -> (low, high)`` kept by the row's
            :class:`Estimate` for :meth:`Estimate.confint` (proportion methods); None: Wald.
        replicates, replicate_variance, function_method
            As for the constructor.

        Returns
        -------
        EstimateTable

        Raises
        ------
        EstimationError
            Duplicate labels, or columns whose length is not the number of labels.
        """
        self = cls.__new__(cls)
        self._init_table(
            keys, labels, vcov, df, level, variance_method, replicates, replicate_variance, function_method
        )
        k = len(self.labels)
        rows = {
            "estimate": estimate,
            "se": se,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "df": row_df,
            "deff": deff,
            "n": n,
        }
        rows = {name: None if a is None else np.asarray(a) for name, a in rows.items()}
        wrong = {name: a.shape for name, a in rows.items() if a is not None and a.shape != (k,)}
        if intervals is not None and len(intervals) != k:
            wrong["intervals"] = (len(intervals),)
        if wrong or len(self.keys) != k:
            raise EstimationError(
                f"an estimate table of {k} labels needs {k} values per column and {k} key rows; got shapes {wrong} "
                f"and {len(self.keys)} key rows"
            )
        self._rows = rows
        self._row_info = (level, ci_method, statistic, variance_method, None if intervals is None else list(intervals))
        self._objects = [None] * k
        self._complete = False
        return self

    def _build_row(self, i: int) -> Estimate:
        """The :class:`Estimate` of row ``i`` from the column arrays (array-backed tables)."""
        r = self._rows
        level, ci_method, statistic, variance_method, intervals = self._row_info
        return Estimate(
            name=self.labels[i],
            estimate=float(r["estimate"][i]),
            se=float(r["se"][i]),
            df=float(r["df"][i]),
            ci_low=float(r["ci_low"][i]),
            ci_high=float(r["ci_high"][i]),
            level=level,
            ci_method=ci_method,
            deff=None if r["deff"] is None else float(r["deff"][i]),
            n=None if r["n"] is None else int(r["n"][i]),
            statistic=statistic,
            variance_method=variance_method,
            _interval=None if intervals is None else intervals[i],
        )

    def _row(self, i: int) -> Estimate:
        """Row ``i`` (0 <= i < k) as an :class:`Estimate`, built once and kept."""
        est = self._objects[i]
        if est is None:
            est = self._objects[i] = self._build_row(i)
        return est

    @property
    def estimates(self) -> list[Estimate]:
        """The rows as :class:`Estimate` objects, in row order (list)."""
        if not self._complete:
            for i in range(len(self._objects)):
                self._row(i)
            self._complete = True
        return self._objects

    def _resolve_method(self, method: str | None) -> str:
        m = self.function_method if method is None else method
        if m not in ("delta", "replicates"):
            raise EstimationError(f"method must be 'delta' or 'replicates', got {method!r}")
        if m == "replicates" and self._replicates is None:
            raise EstimationError(
                "method='replicates' needs a table from a replicate design (it re-evaluates the function on every "
                "replicate); this table has no replicate estimates: use method='delta'"
            )
        return m

    # -- access ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._objects)

    def __iter__(self):
        return iter(self.estimates)

    def __getitem__(self, key) -> Estimate:
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if self._complete:
                return self._objects[i]
            return self._row(range(len(self._objects))[i])  # negative positions, IndexError as a list
        key = str(key)
        i = self._index.get(key)
        if i is not None:
            return self._row(i)
        raise KeyError(f"{key!r} is not a row of this table; rows are {self.labels}")

    @property
    def estimate(self) -> np.ndarray:
        """Point estimates as an array, in row order."""
        if self._rows is not None:
            return self._rows["estimate"].copy()
        return np.array([e.estimate for e in self.estimates])

    @property
    def se(self) -> np.ndarray:
        """Standard errors as an array, in row order."""
        if self._rows is not None:
            return self._rows["se"].copy()
        return np.array([e.se for e in self.estimates])

    def vcov_matrix(self) -> np.ndarray:
        """The covariance matrix as a numpy array (k × k)."""
        if callable(self._vcov):
            self._vcov = np.asarray(self._vcov(), dtype=float)
        return self._vcov

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the rows, labelled (DataFrame, k × k)."""
        return pd.DataFrame(self.vcov_matrix(), index=self.labels, columns=self.labels)

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate: key columns, then estimate, se, ci_low, ci_high, df, deff, n."""
        if self._rows is not None:
            r, k = self._rows, len(self)
            body = pd.DataFrame(
                {
                    "estimate": r["estimate"].copy(),
                    "se": r["se"].copy(),
                    "ci_low": r["ci_low"].copy(),
                    "ci_high": r["ci_high"].copy(),
                    "df": r["df"].copy(),
                    "deff": np.full(k, np.nan) if r["deff"] is None else r["deff"].copy(),
                    "n": [None] * k if r["n"] is None else r["n"].copy(),
                }
            )
            return pd.concat([self.keys, body], axis=1)
        body = pd.DataFrame(
            {
                "estimate": [e.estimate for e in self.estimates],
                "se": [e.se for e in self.estimates],
                "ci_low": [e.ci_low for e in self.estimates],
                "ci_high": [e.ci_high for e in self.estimates],
                "df": [e.df for e in self.estimates],
                "deff": [np.nan if e.deff is None else e.deff for e in self.estimates],
                "n": [e.n for e in self.estimates],
            }
        )
        return pd.concat([self.keys, body], axis=1)

    def __repr__(self) -> str:
        return f"EstimateTable({len(self)} rows)\n{self.to_frame().to_string()}"

    # -- composition ------------------------------------------------------------
    def _coefficients(self, weights: Mapping[str, float] | Sequence[float]) -> np.ndarray:
        if isinstance(weights, Mapping):
            if not weights:
                raise EstimationError(f"contrast needs at least one coefficient, e.g. {{{self.labels[0]!r}: 1}}")
            unknown = [k for k in weights if str(k) not in self._index]
            if unknown:
                raise EstimationError(f"contrast names unknown rows {unknown}; rows are {self.labels}")
            a = np.zeros(len(self))
            for k, v in weights.items():
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                    raise EstimationError(f"contrast coefficient for {k!r} must be a number, got {v!r}")
                a[self._index[str(k)]] = float(v)
        else:
            try:
                a = np.asarray(weights, dtype=float)
            except (TypeError, ValueError):
                raise EstimationError(f"contrast coefficients must be numbers, got {weights!r}") from None
            if a.shape != (len(self),):
                raise EstimationError(f"contrast needs {len(self)} coefficients, got {a.shape}")
        if not np.isfinite(a).all():
            bad = [self.labels[i] for i in np.flatnonzero(~np.isfinite(a))]
            raise EstimationError(
                f"contrast coefficients must be finite numbers; rows {bad} have {a[~np.isfinite(a)].tolist()}"
            )
        return a

    def contrast(
        self,
        weights: Mapping[str, float] | Sequence[float],
        constant: float = 0.0,
        name: str | None = None,
        level: float | None = None,
        method: str | None = None,
    ) -> Estimate:
        """A linear combination ``constant + sum_j a_j theta_j`` with its SE.

        Parameters
        ----------
        weights : mapping label -> coefficient, or sequence of coefficients
            Rows not named get coefficient 0. ``{"2024": 1, "2023": -1}`` is a difference.
        constant : float, default 0
            Added to the combination.
        name : str, optional
            Label of the result.
        level : float, optional
            Confidence level; default the table's.
        method : {"delta", "replicates"}, optional
            How a replicate table gets the variance: ``"delta"`` uses ``a' V a`` with the
            table's (replicate) covariance, ``"replicates"`` applies the replicate
            variance formula to the combination evaluated on every replicate. For a
            linear contrast both agree (up to replicates discarded as undefined).
            Default: the table's ``function_method``.

        Returns
        -------
        Estimate
            Variance ``a' V a`` with the full covariance matrix (R's ``svycontrast``),
            interval with the table's df.

        Raises
        ------
        EstimationError
            A name that is not a row of the table, no coefficients, a coefficient that is
            not a finite number, an unknown ``method``.

        References
        ----------
        Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley (``svycontrast``).
        """
        a = self._coefficients(weights)
        if (
            isinstance(constant, (bool, np.bool_))
            or not isinstance(constant, (int, float, np.integer, np.floating))
            or not math.isfinite(constant)
        ):
            raise EstimationError(f"constant must be a finite number, got {constant!r}")
        value = constant + float(a @ self.estimate)
        if self._resolve_method(method) == "replicates":
            var = float(self._replicate_variance((self._replicates @ a)[:, None], np.array([value - constant]))[0, 0])
        else:
            var = float(a @ self.vcov_matrix() @ a)
        if name is None:
            name = " ".join(f"{'+' if c >= 0 else '-'} {abs(c):g}*{lab}" for c, lab in zip(a, self.labels) if c != 0)
            name = name.lstrip("+ ")
        return make_estimate(
            name,
            value,
            max(var, 0.0),
            self.df,
            level=level or self.level,
            statistic="contrast",
            variance_method=self.variance_method,
        )

    def transform(
        self,
        expr: str,
        name: str | None = None,
        level: float | None = None,
        ci_scale: str = "identity",
        method: str | None = None,
    ) -> Estimate:
        """A smooth function of the rows, with a delta-method (or replicate) SE.

        Parameters
        ----------
        expr : str
            A formula in the library's safe formula language over the row labels
            (back-quote labels that are not plain names, e.g. ```stype=E```), for
            example ``"100 * ls * le / env"`` or ``"(a * b * c)^(1/3)"``.
        name : str, optional
            Label of the result; default the formula text.
        level : float, optional
            Confidence level; default the table's.
        ci_scale : {"identity", "log"}, default "identity"
            ``"log"`` builds the interval on the log scale (for a positive index) and
            back-transforms it, so it cannot cross 0.
        method : {"delta", "replicates"}, optional
            ``"delta"``: variance ``g' V g`` with ``g`` the gradient at the estimates and
            ``V`` the table's covariance (for a replicate table, the replicate
            covariance) — R's ``svycontrast(svymean(..., design), quote(expr))``, the
            default for tables from the design estimators. ``"replicates"``: the formula
            is evaluated on every replicate and the replicate variance formula applied,
            as R does when the statistic carries its replicates
            (``return.replicates=TRUE``); only for replicate tables. Default: the
            table's ``function_method`` ("delta" for estimator tables; tables built
            with replicates by :func:`compute_index` re-evaluate).

        Returns
        -------
        Estimate
            The function value with the variance chosen by ``method``.

        Raises
        ------
        FormulaError
            If the formula is not in the formula language or names unknown rows.

        References
        ----------
        Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer, ch. 6
        (Taylor series / delta method).
        Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley (``svycontrast``).
        """
        from ..questionnaire.formula import Formula  # local: formula is a leaf module

        f = Formula.parse(expr, allowed_names=self.labels)
        values = dict(zip(self.labels, self.estimate))
        value, grad_small = f.value_and_gradient(values, order=list(f.names))
        grad = np.zeros(len(self))
        for nm, g in zip(f.names, np.atleast_1d(grad_small)):
            grad[self._index[nm]] = g
        if self._resolve_method(method) == "replicates":
            cols = {lab: self._replicates[:, i] for i, lab in enumerate(self.labels)}
            rep_vals = np.asarray(f.evaluate(cols, errors="nan"), dtype=float)
            var = float(self._replicate_variance(rep_vals[:, None], np.array([float(value)]))[0, 0])
        else:
            var = float(grad @ self.vcov_matrix() @ grad)
        value = float(value)
        interval = None
        if ci_scale == "log":
            if not value > 0:
                raise EstimationError(f"ci_scale='log' needs a positive value; {expr} = {value}")
            se = math.sqrt(max(var, 0.0))

            def interval(lvl, df, _v=value, _s=se):
                q = t_quantile(lvl, df)
                return (_v * math.exp(-q * _s / _v), _v * math.exp(q * _s / _v))

        elif ci_scale != "identity":
            raise EstimationError(f"ci_scale must be 'identity' or 'log', got {ci_scale!r}")
        return make_estimate(
            name or str(f),
            value,
            max(var, 0.0),
            self.df,
            level=level or self.level,
            statistic="function",
            variance_method=self.variance_method,
            interval=interval,
            ci_method="wald" if ci_scale == "identity" else "log",
        )

    def gradient_of(self, expr: str) -> pd.Series:
        """Partial derivatives of ``expr`` with respect to each row, at the estimates."""
        from ..questionnaire.formula import Formula

        f = Formula.parse(expr, allowed_names=self.labels)
        _, g = f.value_and_gradient(dict(zip(self.labels, self.estimate)), order=list(f.names))
        out = pd.Series(0.0, index=self.labels)
        out[list(f.names)] = np.atleast_1d(g)
        return out
