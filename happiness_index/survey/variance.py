"""The variance engine: statistics as smooth functions of weighted totals.

Every estimate of the library is a function of weighted totals ``t = Σ_i w_i Y_i`` of a
few *basic columns* ``Y`` (n × k). This module turns such a specification into point
estimates, influence values and a design covariance, by Taylor linearization over the
sampling stages or by replicate weights, for one domain or many at once. It knows
nothing about data frames, column names or intervals: the designs
(:mod:`~happiness_index.survey.design`, :mod:`~happiness_index.survey.replicates`), the
estimators, quantiles, calibration and the index call it.

Public interface
----------------
:class:`Statistic`
    ``p`` ratio-type statistics ``θ_j = t[num_j] / t[den_j]`` (``den_j = -1``: a total)
    of the basic columns ``Y``; :meth:`Statistic.evaluate` maps totals to ``θ``.
:class:`StatisticEstimate`
    What the engine returns: ``theta`` (D × p), ``var`` (D × p), ``df`` (D,), a
    covariance on demand ``vcov()`` (D·p × D·p) and, for replicate designs, the
    replicate estimates and the replicate variance function.
:class:`Stage`, :class:`TaylorScheme`
    A design's stages (strata, clusters, fpc, earlier-stage fractions) and the Taylor
    linearization over them, with R's lonely-PSU rules and calibration adjusters.
    :meth:`TaylorScheme.estimate` estimates a :class:`Statistic` in domains;
    :meth:`TaylorScheme.covariance` gives the covariance of any weighted influence values.
:class:`ReplicateScheme`
    Replicate weights (PSU multipliers or explicit n × R weights) with ``scale``,
    ``rscales`` and ``mse``: :meth:`ReplicateScheme.estimate`, :meth:`ReplicateScheme.vcov`.
:func:`group_sum`, :func:`unique_codes`, :func:`factor_codes`
    The grouped sums every estimator is built from (one sparse product, no Python loop
    over respondents).
:func:`srs_variance`, :func:`srs_variance_of_moments`, :class:`WeightedMoments`
    The SRS variance behind every design effect; weighted moments accumulated in row
    blocks (diagnostics over a million respondents without n × k temporaries).

Domains
-------
A domain is an integer code per row (``0..D-1``; ``-1`` outside every domain). Rows
outside a domain keep their PSU and stratum and contribute zero (never dropped), so
the variance of a domain estimate is that of R ``survey``'s ``subset``/``svyby``.

Taylor linearization
--------------------
1. sum ``w·Y`` over (finest cluster, domain) pairs — one sparse product;
2. linearise at that level: ``z = (s_num - θ s_den) / t_den`` (the influence values of
   Lumley 2010, §2.3, aggregated);
3. sum ``z`` to the clusters of each stage, centre within strata, scale by
   ``f_h n_h / (n_h - 1)`` (``f_h = 1 - n_h/N_h`` with an fpc, 1 without) and, at later
   stages, by the product of earlier sampling fractions — R ``survey``'s ``svyrecvar``
   recursion written as grouped sums.

Replicates
----------
Totals for every replicate are one matrix product (PSU sums times the PSU multipliers,
or a sparse domain × row matrix times the replicate weights); the variance is
``scale · Σ_r rscale_r (θ_r - c)(θ_r - c)ᵀ`` with ``c`` the replicate mean (or the
full-sample estimate under ``mse``).

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
Särndal, C.-E., Swensson, B. & Wretman, J. (1992). *Model Assisted Survey Sampling*. Springer.
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer.
"""

from __future__ import annotations

import inspect
import os
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import (
    EstimationError,
    HappinessIndexWarning,
    LonelyPSUError,
    LonelyPSUWarning,
    describe_rows,
)

__all__ = [
    "LONELY_RULES",
    "ReplicateScheme",
    "Stage",
    "Statistic",
    "StatisticEstimate",
    "TaylorScheme",
    "factor_codes",
    "group_sum",
    "nfc_keys",
    "srs_variance",
    "srs_variance_of_moments",
    "WeightedMoments",
    "ROW_BLOCK",
    "unique_codes",
    "warn_dropped_domains",
    "WeightScaleWarning",
]

LONELY_RULES = ("fail", "remove", "adjust", "average", "certainty")
SELF_REP_TOL = 1e-7  # a stratum with f < this is sampled completely (self-representing)


# ---------------------------------------------------------------------------
# grouped sums
# ---------------------------------------------------------------------------


def factor_codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..k-1`` of ``values`` (order of first appearance) and the k distinct values.

    Parameters
    ----------
    values : array-like, shape (n,)

    Returns
    -------
    codes : numpy.ndarray of int64, shape (n,)
    uniques : numpy.ndarray, shape (k,)
    """
    codes, uniques = pd.factorize(pd.Series(values).reset_index(drop=True), sort=False)
    return codes.astype(np.int64), np.asarray(uniques)


def nfc_keys(s: pd.Series) -> pd.Series:
    """Text keys in Unicode NFC (so NFD and NFC spellings of a name are one domain).

    Only the distinct values are normalised (a hash pass over the rows, no Python call per
    row); the Series itself is returned, uncopied, when every value already is NFC or it
    holds no text. A categorical with non-NFC categories becomes an object Series (levels
    may merge).

    Parameters
    ----------
    s : pandas.Series

    Returns
    -------
    pandas.Series
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        if not any(isinstance(v, str) and unicodedata.normalize("NFC", v) != v for v in s.cat.categories):
            return s
        s = s.astype(object)
    elif not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
        return s
    changed = {
        v: unicodedata.normalize("NFC", v)
        for v in pd.unique(s.dropna())
        if isinstance(v, str) and unicodedata.normalize("NFC", v) != v
    }
    if not changed:
        return s
    return s.replace(changed)


def group_sum(codes: np.ndarray, n_groups: int, X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum the rows of ``X`` by integer group codes.

    Parameters
    ----------
    codes : int array, shape (m,)
        Group of each row, in ``0..n_groups-1``.
    n_groups : int
    X : array, shape (m,) or (m, q)
    weights : array, shape (m,), optional
        With weights, the weighted sums ``Σ w_i X_i`` without materialising ``w·X``.

    Returns
    -------
    numpy.ndarray, shape (n_groups,) or (n_groups, q)
    """
    m = codes.shape[0]
    # CSC with one entry per column: built without sorting (CSR/COO would sort m entries)
    data = np.ones(m) if weights is None else np.asarray(weights, dtype=float)
    ind = sparse.csc_matrix((data, codes, np.arange(m + 1)), shape=(n_groups, m))
    out = ind @ X
    return np.asarray(out)


def unique_codes(key: np.ndarray, size: int, return_inverse: bool = False):
    """``np.unique(key)`` (and the inverse) for integer keys in ``[0, size)``.

    A presence bitmap when ``size`` is at most a few times ``len(key)`` (O(n), no sort or
    hash: the common case of (PSU, domain) pairs), ``np.unique`` otherwise.

    Returns
    -------
    numpy.ndarray (the sorted distinct keys), and their inverse when ``return_inverse``.
    """
    if size <= 4 * len(key) + 1024:
        present = np.zeros(size, dtype=bool)
        present[key] = True
        ukey = np.flatnonzero(present)
        if not return_inverse:
            return ukey
        remap = np.empty(size, dtype=np.int64)
        remap[ukey] = np.arange(len(ukey))
        return ukey, remap[key]
    return np.unique(key, return_inverse=return_inverse)


def warn_dropped_domains(key_table: pd.DataFrame, present: np.ndarray, by_cols, var_columns) -> None:
    """Warn that a domain table leaves out domains with no respondent in scope (naming them).

    Parameters
    ----------
    key_table : DataFrame
        One row per domain (its key values).
    present : bool array, shape (len(key_table),)
        Domains with at least one respondent in scope.
    by_cols, var_columns : list
        The domain columns and analysis variables, for the message.
    """
    if present.all():
        return
    gone = key_table[~present]
    names = [", ".join(str(v) for v in r) for r in gone.itertuples(index=False)]
    shown = "; ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    warnings.warn(
        f"by({list(by_cols)}): {len(names)} domain(s) left out of the table ({shown}): none of their "
        f"respondents has a non-zero weight and non-missing {list(var_columns)} (all weights zero, or every "
        "value missing under na_rm=True). They stay in the design; their estimates are undefined.",
        HappinessIndexWarning,
        stacklevel=4,
    )


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------


BLOCK_ROWS = 8192  # rows per block when basic columns are summed without an n x k buffer


class Statistic:
    """``p`` ratio-type statistics of weighted totals: ``θ_j = t[num_j] / t[den_j]``.

    Parameters
    ----------
    names : list of str, length p
    Y : array, shape (n, k), or None
        Basic columns, one row per row of the design's data, NaN-free (rows outside the
        domain may hold any finite value). None when ``columns`` is given.
    num, den : int arrays, shape (p,)
        Column of ``Y`` of each statistic's numerator and denominator; ``den_j = -1``
        makes ``θ_j`` a total.
    kind : {"mean", "total", "proportion", "ratio"}
        What the statistics are (for labels, intervals and design effects).
    var_columns : list of str
        The analysis variables, for messages.
    columns : sequence of (n,) arrays or None, optional
        The basic columns one by one instead of ``Y``: any real numeric dtype (float,
        int8, bool, ...), NaN-free; ``None`` stands for a column of ones. The engine then
        sums them in blocks of rows, so no n × k float64 copy of the analysis columns is
        made; :attr:`Y` materialises it only when asked for (replicate weights given as
        an n × R matrix, calibrated designs).

    Notes
    -----
    The influence value of ``θ_j`` for respondent i is ``w_i (y_num - θ_j y_den) / t_den``
    (``w_i y_num`` for a total): Lumley (2010), §2.3.
    """

    def __init__(self, names, Y, num, den, kind: str, var_columns, *, columns=None):
        if Y is None and columns is None:
            raise ValueError("Statistic needs Y or columns")
        self.names = list(names)
        self._Y = None if Y is None else np.asarray(Y)
        self.columns = None if columns is None else list(columns)
        self.num = np.asarray(num, dtype=np.int64)
        self.den = np.asarray(den, dtype=np.int64)
        self.kind = kind
        self.var_columns = list(var_columns)

    @property
    def p(self) -> int:
        """Number of statistics."""
        return len(self.names)

    @property
    def k(self) -> int:
        """Number of basic columns."""
        return self._Y.shape[1] if self._Y is not None else len(self.columns)

    @property
    def n(self) -> int:
        """Number of rows."""
        if self._Y is not None:
            return self._Y.shape[0]
        return next(len(c) for c in self.columns if c is not None)

    @property
    def Y(self) -> np.ndarray:
        """The basic columns as one (n × k) float64 array (materialised from ``columns`` on first use)."""
        if self._Y is None:
            self._Y = self._block(0, self.n, None)
        return self._Y

    def column(self, j: int) -> np.ndarray:
        """Basic column ``j`` as an (n,) float64 array, without materialising the others."""
        if self._Y is not None:
            return self._Y[:, j]
        c = self.columns[j]
        return np.ones(self.n) if c is None else np.asarray(c, dtype=np.float64)

    def _block(self, start: int, stop: int, rows: np.ndarray | None, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start:stop`` (of ``rows`` when given) of every column as a float64 block."""
        m = stop - start
        buf = np.empty((m, self.k)) if out is None else out[:m]
        sel = slice(start, stop) if rows is None else rows[start:stop]
        for j, c in enumerate(self.columns):
            if c is None:
                buf[:, j] = 1.0
            else:
                buf[:, j] = c[sel]
        return buf

    def weighted_sums(
        self, codes: np.ndarray, n_groups: int, weights: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """``Σ w_i Y_i`` by group: (n_groups × k).

        ``codes`` and ``weights`` are given for the rows ``rows`` (all rows when None), in
        that order. With ``columns``, one sparse (groups × rows) matrix of the weights is
        built and applied to each column as stored (no n × k copy): row-compressed when
        the rows of a group mostly follow each other (files sorted by cluster: the product
        then reads each column sequentially), column-compressed otherwise.
        """
        if self._Y is not None:
            Ysel = self._Y if rows is None else self._Y[rows]
            return group_sum(codes, n_groups, Ysel, weights)
        m = len(codes)
        weights = np.asarray(weights, dtype=float)
        if sum(c is not None for c in self.columns) <= 2:  # a proportion or a ratio: plain bincounts
            with np.errstate(over="ignore", invalid="ignore"):  # overflow: check_totals_finite says so
                return np.column_stack(
                    [
                        np.bincount(
                            codes,
                            weights=weights if c is None else weights * (c if rows is None else c[rows]),
                            minlength=n_groups,
                        )
                        for c in self.columns
                    ]
                )
        ind = sparse.csc_matrix((weights, codes, np.arange(m + 1)), shape=(n_groups, m))
        if m > 1 and 2 * np.count_nonzero(codes[1:] == codes[:-1]) > m:
            ind = ind.tocsr()
        out = np.empty((n_groups, self.k))
        for j, c in enumerate(self.columns):
            if c is None:
                out[:, j] = np.bincount(codes, weights=weights, minlength=n_groups)
            else:
                out[:, j] = ind @ (c if rows is None else c[rows])
        return out

    def evaluate(self, t: np.ndarray) -> np.ndarray:
        """``θ`` from totals ``t`` of shape (..., k): an array of shape (..., p)."""
        num = t[..., self.num]
        if np.all(self.den < 0):
            return num
        den = np.where(self.den >= 0, t[..., np.maximum(self.den, 0)], 1.0)  # totals (den -1): divide by 1
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / den


@dataclass
class StatisticEstimate:
    """The engine's answer for a :class:`Statistic` in D domains.

    Attributes
    ----------
    theta : array, shape (D, p)
        Point estimates.
    var : array, shape (D, p)
        Variances.
    df : array, shape (D,)
        Degrees of freedom of each domain.
    vcov : callable () -> array (D·p, D·p)
        The full covariance (row/column ``d·p + j``), computed on request.
    replicates : array (R, D·p) or None
        Replicate estimates (replicate designs).
    replicate_variance : callable (reps (R, q), estimate (q,)) -> (q, q), or None
        The replicate variance formula of the design.
    """

    theta: np.ndarray
    var: np.ndarray
    df: np.ndarray
    vcov: Callable[[], np.ndarray]
    replicates: np.ndarray | None = None
    replicate_variance: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


def check_totals_finite(t: np.ndarray, stat: Statistic) -> None:
    """Weighted totals that overflow (inf/NaN from finite inputs): say so, not "zero denominator"."""
    if np.isfinite(t).all():
        return
    raise EstimationError(
        f"the weighted totals of {stat.var_columns} overflow (exceed the float range, about 1.8e308): the weights "
        "times the values are too large. Rescale the weights (e.g. divide by their mean) or the variable "
        "(e.g. in thousands) and scale the result back"
    )


def check_variance_finite(var: np.ndarray, stat: Statistic) -> None:
    """A variance that overflows to inf with finite estimates: refuse instead of an infinite SE."""
    if np.isinf(np.asarray(var)).any():
        raise EstimationError(
            f"the variance of the estimate of {stat.var_columns} overflows (squared weighted totals exceed the float "
            "range, about 1.8e308). Rescale the weights (e.g. divide by their mean) or the variable (e.g. in "
            "thousands) and scale the result back"
        )


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WeightScaleWarning(HappinessIndexWarning):
    """The weights sum to no more than the respondents: a quantity that needs expansion weights is NaN.

    Issued by ``deff=True`` (SRS without replacement, finite population correction
    ``1 - n/N̂`` with ``N̂ = Σw``) when ``Σw <= n``, as R's ``svymean`` warns "Sample size
    greater than population size: are weights correctly scaled?".
    """


def srs_variance(
    y: np.ndarray,
    w: np.ndarray,
    dom: np.ndarray,
    D: int,
    *,
    total: bool = False,
    replace: bool = False,
    warn: bool = True,
) -> np.ndarray:
    """Variance of the weighted mean (or total) of ``y`` under simple random sampling, per domain.

    The denominator of a design effect, as R's ``svymean``/``svytotal`` with ``deff``:
    ``s² = Σ w (y - ȳ)² / Σ w · n/(n-1)`` over the domain's respondents (non-zero weight),
    ``V_srs = s²/n`` for a mean and ``s² (Σw)²/n`` for a total, times ``(N - n)/N`` with
    ``N = Σw`` unless ``replace`` (SRS with replacement). A domain of one respondent gives NaN.
    Without replacement, a domain whose weights sum to no more than its respondents
    (``Σw <= n``: weights normalised to mean 1, or not expansion weights) has no
    meaningful fpc: its variance is NaN and a :class:`WeightScaleWarning` says so (R's
    ``svymean(deff=TRUE)`` gives NA with a warning; its ``svytotal`` silently returns a
    negative or infinite design effect, which is never returned here).

    Parameters
    ----------
    y, w : (n,) arrays
        Values and weights.
    dom : (n,) int array
        Domain code of each row in ``0..D-1``; -1 for rows outside every domain.
    D : int
        Number of domains.
    total, replace : bool
        Variance of the total (else the mean); SRS with replacement (else without).
    warn : bool, default True
        Issue the :class:`WeightScaleWarning` (else only the NaN).

    Returns
    -------
    (D,) array
    """
    sel = (dom >= 0) & (w != 0)
    ds, ws, ys = dom[sel], w[sel], y[sel]
    nobs = np.bincount(ds, minlength=D).astype(float)
    wsum = np.bincount(ds, weights=ws, minlength=D)
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = np.bincount(ds, weights=ws * ys, minlength=D) / wsum
        m2 = np.bincount(ds, weights=ws * (ys - ybar[ds]) ** 2, minlength=D)
    return srs_variance_of_moments(nobs, wsum, m2, total=total, replace=replace, warn=warn)


def srs_variance_of_moments(
    n: np.ndarray | float,
    sum_w: np.ndarray | float,
    m2: np.ndarray,
    *,
    total: bool = False,
    replace: bool = False,
    warn: bool = False,
) -> np.ndarray:
    """:func:`srs_variance` from weighted moments (e.g. accumulated in row blocks by :class:`WeightedMoments`).

    Parameters
    ----------
    n : float or (D,) array
        Respondents with a non-zero weight.
    sum_w : float or (D,) array
        Their sum of weights ``N̂ = Σ w``.
    m2 : (D,) or (k,) array
        ``Σ w (y - ȳ)²`` (one value per domain, or per variable of one domain).
    total, replace : bool
        As in :func:`srs_variance`.
    warn : bool, default False
        Issue the :class:`WeightScaleWarning` where ``sum_w <= n`` (the NaN is returned
        either way); off by default for diagnostics the caller did not ask for.

    Returns
    -------
    array, the shape of ``m2``; NaN without replacement where ``sum_w <= n``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.asarray(m2, dtype=float) / sum_w * n / (n - 1)
        v = s2 * sum_w**2 / n if total else s2 / n
        if not replace:
            n_a = np.broadcast_to(np.asarray(n, dtype=float), np.shape(v))
            sw_a = np.broadcast_to(np.asarray(sum_w, dtype=float), np.shape(v))
            bad = (sw_a <= n_a) & (n_a > 0)
            v = np.where(bad, np.nan, v * (sw_a - n_a) / sw_a)
            if warn and bad.any():
                _warn_weight_scale(sw_a[bad], n_a[bad], int(bad.sum()), v.size)
    return v


def _warn_weight_scale(sum_w: np.ndarray, n: np.ndarray, k: int, of: int) -> None:
    """The :class:`WeightScaleWarning` of :func:`srs_variance_of_moments`."""
    where = "" if of == 1 else f" (the first of {k} of {of} domains/estimates where this happens)"
    warnings.warn(
        f"design effect (deff=True, vs SRS without replacement): the weights sum to {float(sum_w[0]):.6g} for {int(n[0])} respondents{where}, no more "
        "than the respondents, so they are not expansion weights (they may be normalised to mean 1) and the "
        "finite population correction 1 - n/sum(w) of the SRS-without-replacement variance is meaningless; "
        "the design effect is NaN (R: 'Sample size greater than population size: are weights correctly "
        "scaled?'). Scale the weights to the population size, or pass deff='replace' (SRS with replacement, "
        "which does not depend on the scale of the weights).",
        WeightScaleWarning,
        stacklevel=_caller_stacklevel(),
    )


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside the package (the user's line), whatever the depth."""
    frame, level = inspect.currentframe().f_back, 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


class WeightedMoments:
    """Weighted mean and co-moment matrix of k variables, accumulated one block of rows at a time.

    Keeps ``n`` (rows added with a positive weight), ``sum_w``, ``mean`` (k,) and
    ``m2`` (k × k) ``= Σ w (x - x̄)(x - x̄)ᵀ``; blocks are merged with the pairwise update of
    Chan, Golub & LeVeque, so a statistic over a million respondents needs memory for one
    block only and keeps the accuracy of a two-pass computation.

    Parameters
    ----------
    k : int
        Number of variables.

    References
    ----------
    Chan, T. F., Golub, G. H. & LeVeque, R. J. (1979). Updating formulae and a pairwise
    algorithm for computing sample variances. Stanford CS report STAN-CS-79-773.
    """

    def __init__(self, k: int):
        self.n = 0
        self.sum_w = 0.0
        self.mean = np.zeros(k)
        self.m2 = np.zeros((k, k))

    def add(self, X: np.ndarray, w: np.ndarray) -> None:
        """Add a block of rows.

        Parameters
        ----------
        X : (b, k) array
            Values; rows of weight 0 may hold anything finite (they do not count).
        w : (b,) array
            Non-negative weights.
        """
        sw = float(w.sum())
        if not sw > 0:
            return
        mb = (w @ X) / sw
        Dm = X - mb
        m2b = (Dm * w[:, None]).T @ Dm
        delta = mb - self.mean
        total = self.sum_w + sw
        self.m2 += m2b + np.outer(delta, delta) * (self.sum_w * sw / total)
        self.mean += delta * (sw / total)
        self.sum_w = total
        self.n += int(np.count_nonzero(w))

    def covariance(self) -> np.ndarray:
        """The weighted covariance ``m2 / sum_w`` (k × k; NaN without weight)."""
        if not self.sum_w > 0:
            return np.full(self.m2.shape, np.nan)
        return self.m2 / self.sum_w


ROW_BLOCK = 1 << 16  # rows per block of the diagnostics passes (k columns of 8 bytes: ~0.5 MB per column)


def _undefined_error() -> EstimationError:
    return EstimationError(
        "the estimate is undefined in a domain (zero weighted denominator: the domain has no weight, or the "
        "ratio's denominator totals 0)"
    )


# ---------------------------------------------------------------------------
# Taylor linearization
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One sampling stage, in integer-coded form.

    ``stratum``/``cluster`` are per-row codes; clusters are globally unique and nested
    in their stratum. ``npsu[h]`` is the number of sampled clusters in stratum h,
    ``f[h]`` the variance factor (1 - n/N, or 1 with replacement), ``mult[h]`` the product
    of the sampling fractions of earlier stages (1 at stage 1), ``frac[h]`` the sampling
    fraction n_h / N_h (1 where no fpc: complete or unknown).
    """

    stratum: np.ndarray
    cluster: np.ndarray
    n_strata: int
    n_clusters: int
    cluster_stratum: np.ndarray
    npsu: np.ndarray
    f: np.ndarray
    mult: np.ndarray
    frac: np.ndarray
    stratum_labels: np.ndarray
    cluster_labels: np.ndarray

    def domain_df(self, dom: np.ndarray, D: int) -> np.ndarray:
        """Degrees of freedom of each domain: its clusters minus their strata (R's ``degf`` of a subset)."""
        sel = dom >= 0
        if D == 1 and sel.all():  # every row in the one domain: every cluster and stratum counts
            return np.array([float(self.n_clusters - len(np.unique(self.cluster_stratum)))])
        pairs = unique_codes(self.cluster[sel] * D + dom[sel], self.n_clusters * D)
        cl = pairs // D
        dd = pairs % D
        n_cl = np.bincount(dd, minlength=D)
        spairs = np.unique(self.cluster_stratum[cl] * D + dd)
        n_st = np.bincount(spairs % D, minlength=D)
        return (n_cl - n_st).astype(float)


@dataclass(frozen=True)
class TaylorScheme:
    """Taylor linearization over a design's stages.

    Parameters
    ----------
    stages : tuple of Stage
        Stage 1 first. Later stages enter only with an fpc (with-replacement PSUs make
        them vanish).
    fine : int array, shape (n,)
        Code of the finest cluster used by the variance (stage 1 without fpc, the last
        stage with one).
    n_fine : int
        Number of finest clusters.
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}
        R's ``survey.lonely.psu``.
    adjust_domain_lonely : bool
        R's ``survey.adjust.domain.lonely``.
    adjusters : tuple of callables
        Influence adjusters of calibration, applied in order to row-level influence values
        (n × q) before the stage sums (calibration-aware variance: residuals on the
        auxiliaries, Deville & Särndal 1992).
    """

    stages: tuple
    fine: np.ndarray
    n_fine: int
    lonely_psu: str = "fail"
    adjust_domain_lonely: bool = False
    adjusters: tuple = field(default=())

    def domain_df(self, dom: np.ndarray, D: int) -> np.ndarray:
        """Degrees of freedom per domain (stage-1 clusters with members minus their strata)."""
        return self.stages[0].domain_df(dom, D)

    def estimate(self, stat: Statistic, w: np.ndarray, dom: np.ndarray, D: int) -> StatisticEstimate:
        """Estimate ``stat`` in D domains with its Taylor variance.

        Parameters
        ----------
        stat : Statistic
        w : float array, shape (n,)
            Analysis weights.
        dom : int array, shape (n,)
            Domain of each row (``-1``: outside every domain).
        D : int

        Returns
        -------
        StatisticEstimate

        Raises
        ------
        EstimationError
            Totals or variances that overflow; an estimate undefined in a domain (zero
            denominator).
        LonelyPSUError
            A lonely PSU under ``lonely_psu="fail"``.
        """
        n = len(w)
        sel = dom >= 0
        idx = np.flatnonzero(sel)
        # all rows in: no fancy-index copy of Y; the weights enter through the group-sum
        # indicator, so w·Y (n × k) is only built for calibrated designs (influence rows)
        allrows = len(idx) == n
        wsel = w if allrows else w[idx]
        dsel = dom if allrows else dom[idx]
        # (finest cluster, domain) pair sums: the one pass over the rows; totals from them
        if allrows and D == 1:  # every finest cluster occurs (codes 0..n_fine-1 come from the data)
            ukey, inv = np.arange(self.n_fine), self.fine
        else:
            key = (self.fine if allrows else self.fine[idx]) * D + dsel
            ukey, inv = unique_codes(key, self.n_fine * D, return_inverse=True)
        S = stat.weighted_sums(inv, len(ukey), wsel, None if allrows else idx)  # (G, k)
        pd_ = ukey % D
        pf = ukey // D
        t = group_sum(pd_, D, S)  # (D, k)
        check_totals_finite(t, stat)
        theta = stat.evaluate(t)  # (D, p)
        if not np.all(np.isfinite(theta)):
            bad = np.flatnonzero(~np.isfinite(theta).all(axis=1))
            raise EstimationError(
                f"the estimate is undefined in {len(bad)} domain(s) (zero weighted denominator: the "
                "domain has no weight, or the ratio's denominator totals 0)"
            )
        dfs = self.domain_df(dom, D)
        if self.adjusters:
            Z = self._influence_rows(stat, theta, t, stat.Y if allrows else stat.Y[idx], wsel, dsel, idx, n, D)
            for adj in self.adjusters:
                Z = adj(Z)
            fine_vals, level = Z, "rows"
        else:
            # linearise at the (finest cluster, domain) pairs
            Zp = np.empty((len(ukey), stat.p))
            for j in range(stat.p):
                if stat.den[j] >= 0:
                    Zp[:, j] = (S[:, stat.num[j]] - theta[pd_, j] * S[:, stat.den[j]]) / t[pd_, stat.den[j]]
                else:
                    Zp[:, j] = S[:, stat.num[j]]
            fine_vals, level = (pf, pd_, Zp), "pairs"
        with np.errstate(over="ignore", invalid="ignore"):
            var_diag = self.variance(fine_vals, level, dom, D, stat.p, full=False)
        check_variance_finite(var_diag, stat)

        def vcov():
            with np.errstate(over="ignore", invalid="ignore"):
                return self.variance(fine_vals, level, dom, D, stat.p, full=True)

        return StatisticEstimate(theta=theta, var=var_diag, df=dfs, vcov=vcov)

    @staticmethod
    def _influence_rows(stat, theta, t, Ysel, wsel, dsel, idx, n, D):
        """Row-level linearised values (n × D·p), zero outside each domain."""
        Z = np.zeros((n, D * stat.p))
        WY = Ysel * wsel[:, None]
        for j in range(stat.p):
            s_num = WY[:, stat.num[j]]
            if stat.den[j] >= 0:
                z = (s_num - theta[dsel, j] * WY[:, stat.den[j]]) / t[dsel, stat.den[j]]
            else:
                z = s_num
            Z[idx, dsel * stat.p + j] = z
        return Z

    def covariance(self, Z: np.ndarray, dom: np.ndarray) -> np.ndarray:
        """Covariance (q × q) of the column sums of row-level weighted influence values ``Z`` (n × q).

        ``dom`` marks the domain's rows with 0 (``-1`` outside); the calibration adjusters
        are applied first.
        """
        for adj in self.adjusters:
            Z = adj(Z)
        with np.errstate(over="ignore", invalid="ignore"):
            return self.variance(Z, "rows", dom, 1, Z.shape[1], full=True)

    def variance(self, fine_vals, level: str, dom: np.ndarray, D: int, p: int, full: bool) -> np.ndarray:
        """Linearised variance from influence values at the finest level.

        ``level="rows"``: ``fine_vals`` is an (n × D·p) array of row influence values.
        ``level="pairs"``: ``fine_vals = (finest cluster, domain, Z (G × p))`` of the
        (cluster, domain) pairs that occur. Returns (D, p) variances, or the full
        (D·p × D·p) covariance when ``full``.
        """
        q = D * p
        total = np.zeros((q, q)) if full else np.zeros(q)
        for s, st in enumerate(self.stages):
            if s > 0 and np.all(st.f < SELF_REP_TOL):
                continue
            flags = self.stage_flags(st, s, dom, D)
            if level == "rows":
                T = group_sum(st.cluster, st.n_clusters, fine_vals)  # (C, q)
                total = total + stage_variance(st, T, D, p, full, flags)
                continue
            pf, pdm, Zp = fine_vals
            # map finest cluster -> stage cluster
            fine_to_stage = np.empty(self.n_fine, dtype=np.int64)
            fine_to_stage[self.fine] = st.cluster
            cs = fine_to_stage[pf]
            if not full:
                # variances only: work on the (cluster, domain) pairs that occur, never on a
                # dense clusters x domains array (SRS designs with many domains stay small)
                total = total + stage_variance_pairs(st, cs, pdm, Zp, D, p, flags)
                continue
            T = np.zeros((st.n_clusters, q))
            # scatter (cluster, domain) sums into dense columns
            cols = pdm[:, None] * p + np.arange(p)[None, :]
            np.add.at(T, (np.repeat(cs, p), cols.ravel()), Zp.ravel())
            total = total + stage_variance(st, T, D, p, full, flags)
        if full:
            return total
        return total.reshape(D, p)

    def stage_flags(self, st: Stage, s: int, dom: np.ndarray, D: int):
        """Per (stratum, domain) rules of one stage: lonely PSUs, centring, scale.

        Returns ``(centre (H, D) bool, na (H, D) bool, scale (H,), ratio (D,))``: whether the
        PSU totals are centred at the stratum mean, whether the block is left out
        ("average"), the variance factor ``f_h n_h/(n_h-1)`` times earlier-stage fractions,
        and the "average" rescaling ``nstrat/nokstrat`` per domain (R's ``onestage``).
        Raises :class:`LonelyPSUError` under ``lonely_psu="fail"``.
        """
        H = st.n_strata
        sel = dom >= 0
        # nsub[h, d] = clusters in h with members of domain d (from the data rows)
        if D == 1 and sel.all():
            pairs = np.arange(st.n_clusters)
        else:
            pairs = unique_codes(st.cluster[sel] * D + dom[sel], st.n_clusters * D)
        pc, pdd = pairs // D, pairs % D
        nsub = np.zeros((H, D))
        np.add.at(nsub, (st.cluster_stratum[pc], pdd), 1)
        present = nsub > 0  # stratum has domain rows
        npsu = st.npsu
        f = st.f
        selfrep = f < SELF_REP_TOL
        lonely = (npsu == 1) & ~selfrep
        rule = self.lonely_psu
        if lonely.any() and rule == "fail":
            _raise_lonely(st, s, lonely[:, None] & present)
        # centring and NA (average) flags per (h, d)
        centre = np.ones((H, D), dtype=bool)
        na = np.zeros((H, D), dtype=bool)
        if rule == "adjust":
            centre[lonely, :] = False
        if rule == "average" and s == 0:
            na[lonely, :] = True
        dom_lonely = (nsub == 1) & (npsu[:, None] > 1) & self.adjust_domain_lonely
        if dom_lonely.any():
            hs, _ = np.nonzero(dom_lonely & ~selfrep[:, None])
            if len(hs):
                warnings.warn(
                    f"{len(hs)} stratum-domain combination(s) have only one PSU with domain members "
                    f"(e.g. stratum {st.stratum_labels[hs[0]]}); lonely_psu={rule!r} applied",
                    LonelyPSUWarning,
                    stacklevel=7,
                )
            if rule == "adjust":
                centre &= ~dom_lonely
            if rule == "average" and s == 0:
                na |= dom_lonely
        scale = np.where(npsu > 1, f * npsu / np.maximum(npsu - 1, 1), f) * st.mult
        scale = np.where(selfrep, 0.0, scale)
        if rule in ("remove", "certainty"):
            scale = np.where(lonely, 0.0, scale)
        nstrat = present.sum(axis=0).astype(float)
        nok = (present & ~na).sum(axis=0).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(nok > 0, nstrat / nok, np.nan) if (rule == "average" and s == 0) else np.ones(D)
        if rule == "average" and s == 0 and ((nstrat > 0) & (nok == 0)).any():
            warnings.warn(
                f"lonely_psu='average': in {int(((nstrat > 0) & (nok == 0)).sum())} domain(s) every stratum has a "
                "single PSU, so there is no other stratum to average over and the standard error is undefined "
                "(NaN, as R). Use lonely_psu='adjust' or 'certainty', or collapse strata.",
                LonelyPSUWarning,
                stacklevel=7,
            )
        return centre, na, scale, ratio


def _raise_lonely(st: Stage, s: int, bad: np.ndarray) -> None:
    """LonelyPSUError naming the strata (stage 1) or units (later stages) with one PSU."""
    bad_h = np.flatnonzero(bad.any(axis=1))
    if not len(bad_h):
        return
    labs = [str(st.stratum_labels[h]) for h in bad_h]
    if s == 0:
        where = f"stratum {labs[0]} has" if len(labs) == 1 else f"strata {describe_rows(labs)} have"
        what = "only one PSU"
    else:
        where = f"unit ({labs[0]}) has" if len(labs) == 1 else f"units ({'), ('.join(labs[:10])}) have"
        what = f"only one sampled unit at stage {s + 1}"
    raise LonelyPSUError(
        f"{where} {what} (lonely PSU), so the variance cannot be estimated. "
        "Choose a rule: SurveyDesign(..., lonely_psu='remove' or 'certainty' (no contribution), "
        "'adjust' (centre at the grand mean), 'average' (average of the other strata)), "
        "or collapse the stratum with a similar one. Point estimates do not depend on the rule: "
        "design.update(lonely_psu='certainty') gives them (its SE treats the stratum as certain)."
    )


def stage_variance(st: Stage, T: np.ndarray, D: int, p: int, full: bool, flags) -> np.ndarray:
    """One stage's variance from dense cluster totals ``T`` (C × D·p): the diagonal or the full matrix."""
    centre, na, scale, ratio = flags
    H = st.n_strata
    npsu = st.npsu
    col_dom = np.repeat(np.arange(D), p)  # column = d*p + j
    sums = group_sum(st.cluster_stratum, H, T)  # (H, q)
    mu = sums / npsu[:, None]
    mu = np.where(centre[:, col_dom], mu, 0.0)
    Tc = T - mu[st.cluster_stratum]
    rowscale = scale[st.cluster_stratum]
    nacol = na[st.cluster_stratum][:, col_dom]  # (C, q)
    Tc = np.where(nacol, 0.0, Tc)
    rcol = ratio[col_dom]
    if full:
        Ts = Tc * np.sqrt(rowscale)[:, None]
        V = Ts.T @ Ts
        return V * np.sqrt(np.outer(rcol, rcol))
    v = np.einsum("cq,cq,c->q", Tc, Tc, rowscale)
    return v * rcol


def stage_variance_pairs(
    st: Stage, cs: np.ndarray, pdm: np.ndarray, Zp: np.ndarray, D: int, p: int, flags
) -> np.ndarray:
    """One stage's variances (D·p,) from (cluster, domain) pair sums, without dense arrays.

    For stratum h and domain d with mean ``mu = S_hd / n_h`` over all ``n_h`` PSUs (those
    without domain members count as zeros), ``sum_c (T_c - mu)^2`` equals the sum over the
    PSUs that have members plus ``(n_h - k_hd) mu^2`` for the ``n_h - k_hd`` empty ones.
    """
    centre, na, scale, ratio = flags
    H = st.n_strata
    key = cs * D + pdm
    ukey, inv = unique_codes(key, st.n_clusters * D, return_inverse=True)
    Tk = group_sum(inv, len(ukey), Zp)  # (K, p) stage-cluster x domain totals
    hk = st.cluster_stratum[ukey // D]
    hd = hk * D + ukey % D  # (stratum, domain) block of each total
    S = group_sum(hd, H * D, Tk)  # (H*D, p)
    npsu_hd = np.repeat(st.npsu, D)
    mu = S / npsu_hd[:, None]
    mu = np.where(centre.ravel()[:, None], mu, 0.0)
    dev = Tk - mu[hd]
    ss = group_sum(hd, H * D, dev * dev)
    k_hd = np.bincount(hd, minlength=H * D)
    ss = ss + (npsu_hd - k_hd)[:, None] * mu * mu
    ss = np.where(na.ravel()[:, None], 0.0, ss)
    v = np.einsum("hdp,h->dp", ss.reshape(H, D, p), scale) * ratio[:, None]
    return v.reshape(-1)


# ---------------------------------------------------------------------------
# replicate weights
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicateScheme:
    """Replicate weights and the replicate variance formula.

    Parameters
    ----------
    scale : float
        Overall multiplier of the variance.
    rscales : float array, shape (R,)
        Per-replicate multipliers.
    mse : bool
        Centre at the full-sample estimate (True) or at the replicates' mean (False).
    A, cluster : arrays, optional
        PSU-level multipliers (C × R) and each row's PSU code (n,): replicate weight of
        row i in replicate r is ``w_i A[cluster_i, r]`` (never materialised).
    W : array (n × R), optional
        Explicit replicate analysis weights (when ``A`` is None).
    """

    scale: float
    rscales: np.ndarray
    mse: bool
    A: np.ndarray | None = None
    cluster: np.ndarray | None = None
    W: np.ndarray | None = None

    def totals(
        self, stat: Statistic, w: np.ndarray, idx: np.ndarray, dom_idx: np.ndarray, D: int, n: int
    ) -> np.ndarray:
        """Totals of the basic columns of ``stat`` (rows ``idx``) per replicate and domain: (R, D, k)."""
        k = stat.k
        rows = None if len(idx) == n else idx
        if self.A is not None:
            # aggregate w*Y to (cluster, domain) sums first (one pass over the rows), then
            # multiply the small (D*k × C) matrix by the PSU multipliers (C × R): no
            # n*k-entry sparse matrix, no n × R weights
            C = self.A.shape[0]
            key = self.cluster[idx] * D + dom_idx
            wi = w[idx]
            if C * D <= 4 * len(idx) + 1024:
                S = stat.weighted_sums(key, C * D, wi, rows)  # (C*D, k), row c*D + d
                M = S.reshape(C, D * k).T  # (D*k, C), row d*k + j
            else:
                ukey, inv = np.unique(key, return_inverse=True)
                S = stat.weighted_sums(inv, len(ukey), wi, rows)  # (G, k)
                g_rows = ((ukey % D)[:, None] * k + np.arange(k)[None, :]).ravel()
                g_cols = np.repeat(ukey // D, k)
                M = sparse.csr_matrix((S.ravel(), (g_rows, g_cols)), shape=(D * k, C))
            out = M @ self.A  # (D*k, R)
        else:
            Y = stat.Y if rows is None else stat.Y[idx]
            r_idx = (dom_idx[:, None] * k + np.arange(k)[None, :]).ravel()
            cols = np.repeat(idx, k)
            M = sparse.csr_matrix((Y.ravel(), (r_idx, cols)), shape=(D * k, n))
            out = M @ self.W
        out = np.asarray(out)
        return out.T.reshape(-1, D, k)

    def vcov(self, reps: np.ndarray, full_est: np.ndarray) -> np.ndarray:
        """``scale · Σ_r rscales_r (θ_r - c)(θ_r - c)ᵀ`` for replicate estimates ``reps`` (R × q).

        ``c`` is the replicates' mean (over replicates with a positive rscale), or
        ``full_est`` (q,) when ``mse``. Replicates with undefined (non-finite) estimates are
        discarded column by column, with a warning (R's ``svrVar`` on each domain).
        """
        ok = np.isfinite(reps).all(axis=1)
        if not ok.all():
            warnings.warn(
                f"{int((~ok).sum())} replicates gave undefined estimates (a replicate with zero weight in the domain "
                "or a zero denominator) and were discarded from the variance",
                HappinessIndexWarning,
                stacklevel=4,
            )
        if ok.all():
            r, rs = reps, self.rscales
            c = full_est if self.mse else r[rs > 0].mean(axis=0) if (rs > 0).any() else r.mean(axis=0)
            dev = (r - c) * np.sqrt(rs)[:, None]
            return self.scale * (dev.T @ dev)
        # column j uses its finite replicates, centred on their mean; a covariance uses the
        # replicates finite in both columns; a column with none gets NaN
        fin = np.isfinite(reps)
        r0 = np.where(fin, reps, 0.0)
        rs = self.rscales[:, None]
        if self.mse:
            c = np.asarray(full_est, dtype=float)
        else:
            usep = fin & (rs > 0)
            use = np.where(usep.any(axis=0), usep, fin)
            with np.errstate(invalid="ignore", divide="ignore"):
                c = (r0 * use).sum(axis=0) / use.sum(axis=0)
        dev = np.where(fin, (r0 - c) * np.sqrt(rs), 0.0)
        V = self.scale * (dev.T @ dev)
        none = ~fin.any(axis=0)
        V[none, :] = np.nan
        V[:, none] = np.nan
        return V

    def estimate(self, stat: Statistic, w: np.ndarray, dom: np.ndarray, D: int, df: float) -> StatisticEstimate:
        """Estimate ``stat`` in D domains with its replicate variance (every domain gets ``df``).

        Raises
        ------
        EstimationError
            Totals or variances that overflow; an estimate undefined in a domain.
        """
        n = len(w)
        idx = np.flatnonzero(dom >= 0)
        allrows = len(idx) == n
        t = stat.weighted_sums(dom[idx], D, w[idx], None if allrows else idx)
        check_totals_finite(t, stat)
        theta = stat.evaluate(t)
        if not np.all(np.isfinite(theta)):
            raise _undefined_error()
        T = self.totals(stat, w, idx, dom[idx], D, n)  # (R, D, k)
        reps = stat.evaluate(T.reshape(-1, stat.k)).reshape(T.shape[0], D * stat.p)
        with np.errstate(over="ignore", invalid="ignore"):
            V = self.vcov(reps, theta.reshape(-1))
        var_diag = np.diag(V).reshape(D, stat.p)
        check_variance_finite(var_diag, stat)
        return StatisticEstimate(
            theta=theta,
            var=var_diag,
            df=np.full(D, df),
            vcov=lambda: V,
            replicates=reps,
            replicate_variance=self.vcov,
        )
