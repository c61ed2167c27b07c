"""Replicate-weight designs: :class:`ReplicateDesign`, and replicate weights built from a Taylor design.

:class:`ReplicateDesign` analyses a sample through replicate weights (published, or
built here by :func:`build_replicates`: JK1, JKn, BRR (Fay) and bootstrap); its variance
is the engine's :class:`~happiness_index.survey.variance.ReplicateScheme`.

All replicate schemes here are kept as PSU-level *multipliers* ``A`` (C PSUs × R
replicates): the replicate weight of respondent i in replicate r is ``w_i · A[psu(i), r]``.
Respondent-level replicate weights (n × R) are never materialised; replicate totals
are a sparse (domain × PSU) matrix times ``A``.

Schemes (Wolter 2007; Lumley 2010, ch. 2.8; R ``survey``'s ``as.svrepdesign``)
--------------------------------------------------------------------------------
* **JK1** (unstratified): replicate r deletes PSU r and multiplies the others by
  ``n/(n-1)``; ``scale = f (n-1)/n`` with ``f = 1 - n/N`` under an fpc, else 1.
* **JKn** (stratified): one replicate per PSU; deleting PSU j of stratum h multiplies the
  other PSUs of h by ``n_h/(n_h-1)``; ``rscales_r = f_h (n_h-1)/n_h``; ``scale = 1``.
  Strata sampled completely (f_h = 0) give no replicates.
* **BRR** (2 PSUs per stratum): half-samples from the columns of a Sylvester Hadamard
  matrix; the chosen PSU gets ``2 - rho``, the other ``rho`` (Fay's method when
  ``rho > 0``); ``scale = 1/(R (1-rho)^2)``.
* **Bootstrap** (Rao & Wu 1988 rescaling): in every stratum ``n_h - 1`` PSUs are drawn
  with replacement; PSU multiplier = ``count · n_h/(n_h-1)``; ``scale = 1/(R-1)``.

References
----------
Rao, J. N. K. & Wu, C. F. J. (1988). Resampling inference with complex survey data. *JASA* 83, 231–241.
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer.
Fay, R. E. (1989). Theory and application of replicate weighting for variance calculations.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from ..errors import DesignError, EstimationError, LonelyPSUError, describe_bytes, describe_rows
from .analysis import (
    DesignEstimators,
    check_bool,
    check_column,
    check_duplicate_columns,
)
from .variance import ReplicateScheme, Statistic, StatisticEstimate

__all__ = [
    "MAX_REPLICATE_BYTES",
    "ReplicateDesign",
    "build_replicates",
    "check_replicate_size",
    "hadamard",
    "memory_limit",
]

#: Largest n x R replicate-weight matrix (bytes) a bootstrap may build: the estimators materialise
#: it (float64), so 10**9 replicates of 3,400 respondents (25 TiB) are refused up front. None:
#: :func:`memory_limit` (half the machine's memory, at least 2 GiB); set a number to override.
MAX_REPLICATE_BYTES: int | None = None


def memory_limit() -> int:
    """Bytes one array of the library may take before it refuses the request: half the
    machine's physical memory, at least 2 GiB (the floor where the size is unknown)."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        physical = 0
    return max(2 * 1024**3, physical // 2)


def check_replicate_size(n: int, replicates: int, name: str = "replicates", fix: str = "") -> None:
    """Refuse, before any allocation, a replicate-weight matrix that would not fit in memory.

    Parameters
    ----------
    n : int
        Respondents (rows of the n x R replicate weights).
    replicates : int
        Replicates R.
    name : str
        The argument that set R, for the message.
    fix : str, optional
        What to do instead (default: use fewer replicates).

    Raises
    ------
    DesignError
        ``8 n R`` bytes exceed :data:`MAX_REPLICATE_BYTES` (default :func:`memory_limit`).
    """
    need, cap = 8 * int(n) * int(replicates), memory_limit() if MAX_REPLICATE_BYTES is None else MAX_REPLICATE_BYTES
    if need > cap:
        limit = cap // (8 * max(int(n), 1))
        raise DesignError(
            f"{name}={int(replicates):,} would need about {describe_bytes(need)} for the replicate weights of "
            f"{int(n):,} respondents (limit {describe_bytes(cap)}, i.e. at most {limit:,} replicates). "
            + (fix or "Use fewer replicates: 200 to 1,000 bootstrap replicates are ample for standard errors")
        )


def hadamard(order: int) -> np.ndarray:
    """Sylvester Hadamard matrix of the smallest power-of-two order >= ``order``.

    Parameters
    ----------
    order : int
        Minimum order (>= 1).

    Returns
    -------
    numpy.ndarray
        Square matrix of +1/-1 with orthogonal columns (H'H = m I).
    """
    m = 1
    H = np.array([[1]])
    while m < order:
        H = np.block([[H, H], [H, -H]])
        m *= 2
    return H


def _stage1(design):
    st = design._stages[0]
    return st, st.cluster, st.cluster_stratum, st.npsu, st.f


def _lonely_check(design, st, npsu, f):
    lonely = (npsu == 1) & (f >= 1e-7)
    if lonely.any() and design.lonely_psu == "fail":
        labs = [str(st.stratum_labels[h]) for h in np.flatnonzero(lonely)]
        raise LonelyPSUError(
            f"strata {describe_rows(labs)} have only one PSU, so replicate weights cannot be built. "
            "Choose lonely_psu='remove', 'certainty', 'average' or 'adjust' in SurveyDesign, or collapse strata."
        )
    return lonely


def _check_int(value, name: str, minimum: int) -> int:
    """An integer argument (int, numpy integer or an integral float), at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise DesignError(f"{name} must be a whole number, got {value!r} ({type(value).__name__})")
    if isinstance(value, (float, np.floating)) and not (np.isfinite(value) and float(value).is_integer()):
        raise DesignError(f"{name} must be a whole number, got {value!r}")
    v = int(value)
    if v < minimum:
        raise DesignError(f"{name} must be at least {minimum}, got {v}")
    return v


def build_replicates(
    design, method: str = "auto", replicates: int | None = None, seed: int | None = None, rho: float | None = None
):
    """Replicate design from a :class:`~happiness_index.design.SurveyDesign`.

    See :meth:`SurveyDesign.to_replicates` for the parameters. ``method="auto"`` is
    JK1 for an unstratified design and JKn for a stratified one (R's
    ``as.svrepdesign`` default). Raises :class:`DesignError` when the scheme does not
    fit the design, or for a bad ``method``, ``replicates`` or ``seed``.
    """
    if not isinstance(method, str):
        raise DesignError(f"method must be a string ('auto', 'jk1', 'jkn', 'brr', 'fay', 'bootstrap'), got {method!r}")
    if seed is not None and not isinstance(seed, np.random.SeedSequence):
        seed = _check_int(seed, "seed", 0)
    if replicates is not None:
        replicates = _check_int(replicates, "replicates", 2)
    if rho is not None and (
        isinstance(rho, (bool, np.bool_)) or not isinstance(rho, (int, float, np.integer, np.floating))
    ):
        raise DesignError(f"Fay's rho must be a number in [0, 1), got {rho!r}")

    if design._domain is not None:
        raise DesignError("build replicate weights from the full design, then take subsets of the replicate design")
    if design._adjusters:
        raise DesignError(
            "this design is calibrated; build replicates from the uncalibrated design and calibrate the "
            "replicate design (each replicate is then recalibrated)"
        )
    method = method.lower()
    st, cluster, cl_stratum, npsu, f = _stage1(design)
    C, H = st.n_clusters, st.n_strata
    has_strata = design.strata_column is not None and H > 1
    if method == "auto":
        method = "jkn" if has_strata else "jk1"
    if method == "jk1":
        if has_strata:
            raise DesignError("JK1 is for unstratified designs; use method='jkn' for a stratified design")
        n = C
        if n < 2:
            raise DesignError("JK1 needs at least 2 PSUs")
        A = np.full((C, C), n / (n - 1))
        np.fill_diagonal(A, 0.0)
        scale = float(f[0]) * (n - 1) / n
        return ReplicateDesign._from_multipliers(design, A, cluster, "jk1", scale, np.ones(C))
    if method == "jkn":
        return _jkn(design, st, cluster, cl_stratum, npsu, f)
    if method in ("brr", "fay"):
        return _brr(design, method, rho, st, cluster, cl_stratum, npsu)
    if method == "bootstrap":
        return _bootstrap(design, replicates, seed, st, cluster, cl_stratum, npsu, f)
    raise DesignError(
        f"method={method!r} is not a replicate scheme; use 'auto', 'jk1', 'jkn', 'brr', 'fay' or 'bootstrap'"
    )


def _jkn(design, st, cluster, cl_stratum, npsu, f):
    """JKn: one replicate per PSU of every stratum sampled with more than one PSU."""
    C, H = st.n_clusters, st.n_strata
    lonely = _lonely_check(design, st, npsu, f)
    keep_cl = np.ones(C, dtype=bool)
    cl_h = cl_stratum
    selfrep = f[cl_h] < 1e-7
    keep_cl &= ~selfrep
    rule = design.lonely_psu
    adjust_cols = []
    if lonely.any():
        keep_cl &= ~lonely[cl_h]
        if rule == "adjust":
            adjust_cols = list(np.flatnonzero(lonely))
    reps = np.flatnonzero(keep_cl)  # one replicate per kept PSU
    R = len(reps) + len(adjust_cols)
    if R == 0:
        raise DesignError("every stratum was sampled completely or has a single PSU: there is nothing to replicate")
    if adjust_cols and H < 2:
        raise DesignError(
            "the design has a single stratum with a single PSU: JKn replicates cannot be built "
            "(lonely_psu='adjust' needs other strata to centre on); sample at least 2 PSUs"
        )
    A = np.ones((C, R))
    h_of_rep = cl_h[reps]
    nh = npsu[h_of_rep]
    same = cl_h[:, None] == h_of_rep[None, :]
    A[:, : len(reps)] = np.where(same, nh / (nh - 1), 1.0)
    A[reps, np.arange(len(reps))] = 0.0
    rscales = np.empty(R)
    rscales[: len(reps)] = f[h_of_rep] * (nh - 1) / nh
    for j, h in enumerate(adjust_cols):
        col = len(reps) + j
        A[:, col] = np.where(cl_h == h, 0.0, H / (H - 1))
        rscales[col] = (H - 1) / H
    scale = 1.0
    if rule == "average" and lonely.any():
        scale = C / R
    return ReplicateDesign._from_multipliers(design, A, cluster, "jkn", scale, rscales)


def _brr(design, method, rho, st, cluster, cl_stratum, npsu):
    """BRR (Fay): half-samples from a Hadamard matrix; exactly 2 PSUs per stratum."""
    C, H = st.n_clusters, st.n_strata
    rho = 0.0 if rho is None else float(rho)
    if method == "fay" and rho == 0.0:
        raise DesignError("method='fay' needs rho in (0, 1), e.g. rho=0.3")
    if not 0 <= rho < 1:
        raise DesignError(f"Fay's rho must be in [0, 1), got {rho}")
    if not np.all(npsu == 2):
        bad = [str(st.stratum_labels[h]) for h in np.flatnonzero(npsu != 2)]
        raise DesignError(
            f"BRR needs exactly 2 PSUs in every stratum; strata {describe_rows(bad)} have "
            f"{sorted(set(npsu[npsu != 2].astype(int).tolist()))} PSUs. Use jkn or bootstrap."
        )
    Hm = hadamard(H + 1)
    R = Hm.shape[0]
    signs = Hm[:, 1 : H + 1]  # (R, H): skip the all-ones column
    # first and second PSU in each stratum (order of appearance)
    order = np.argsort(cl_stratum, kind="stable")
    is_first = np.zeros(C, dtype=bool)
    hs = cl_stratum[order]
    is_first[order[np.r_[True, hs[1:] != hs[:-1]]]] = True
    sgn = signs[:, cl_stratum].T  # (C, R)
    chosen = np.where(is_first[:, None], sgn > 0, sgn < 0)
    A = np.where(chosen, 2.0 - rho, rho)
    scale = 1.0 / (R * (1 - rho) ** 2)
    return ReplicateDesign._from_multipliers(
        design, A, cluster, "fay" if rho > 0 else "brr", scale, np.ones(R), rho=rho
    )


def _bootstrap(design, replicates, seed, st, cluster, cl_stratum, npsu, f):
    """Rao-Wu rescaling bootstrap: n_h - 1 PSUs drawn with replacement in every stratum."""
    C, H = st.n_clusters, st.n_strata
    R = 200 if replicates is None else replicates
    check_replicate_size(max(design.n, C), R)
    _lonely_check(design, st, npsu, f)
    rng = np.random.default_rng(seed)
    A = np.zeros((C, R))
    for h in range(H):  # loop over strata (few), never over respondents or replicates
        members = np.flatnonzero(cl_stratum == h)
        nh = len(members)
        if nh < 2:
            A[members, :] = 1.0  # lonely stratum under a non-fail rule: no contribution
            continue
        counts = rng.multinomial(nh - 1, np.full(nh, 1.0 / nh), size=R)  # (R, nh)
        A[members, :] = counts.T * (nh / (nh - 1))
    return ReplicateDesign._from_multipliers(design, A, cluster, "bootstrap", 1.0 / (R - 1), np.ones(R))


# ---------------------------------------------------------------------------
# ReplicateDesign
# ---------------------------------------------------------------------------


class ReplicateDesign(DesignEstimators):
    """A sample analysed with replicate weights.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent; never modified.
    weights : str
        Column with the full-sample analysis weight.
    replicate_weights : list of str, DataFrame or array (n × R)
        The replicate *analysis* weights (full weights, not multipliers), one column per
        replicate, as published with many surveys. A DataFrame is aligned with ``data``
        by its index (same labels, any order); an array must be in the data's row order.
    method : {"jk1", "jkn", "brr", "fay", "bootstrap", "other"}
        Sets the default ``scale``: JK1 ``(R-1)/R``, BRR ``1/R``, Fay ``1/(R(1-rho)^2)``,
        bootstrap ``1/(R-1)``, JKn and other 1.
    rho : float, optional
        Fay's coefficient (method "fay" or "brr").
    scale : float, optional
        Overall multiplier of the variance; overrides the method's default.
    rscales : sequence of float, optional
        Per-replicate multipliers (JKn: ``(n_h-1)/n_h`` for the stratum the replicate
        deletes from); default all 1. Used exactly as given.
    mse : bool, default False
        False: centre the replicates at their mean (R's default); True: at the full-sample
        estimate.

    Notes
    -----
    ``V = scale · Σ_r rscales_r (θ_r - c)²``. ``df`` is the rank of the replicate weight
    matrix minus 1 (R's ``degf`` for replicate designs). Replicate estimates are one
    sparse-times-dense matrix product over all replicates.

    Raises
    ------
    DesignError
        Unknown or duplicate columns, text, non-finite or negative weights, all weights
        zero, a replicate matrix of the wrong shape or with no columns, a replicate that
        is zero for every respondent, a DataFrame whose index does not match the data's,
        ``scale`` not a positive finite number, ``rscales`` of the wrong length or with
        negative/non-finite values, ``rho`` not a number in [0, 1), an unknown ``method``,
        ``mse`` not True/False.

    References
    ----------
    Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer.
    Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley (replicate weights).
    """

    _variance_method = "replicate"

    def __init__(
        self,
        data: pd.DataFrame,
        weights: str,
        replicate_weights,
        method: str = "other",
        rho: float | None = None,
        scale: float | None = None,
        rscales=None,
        mse: bool = False,
    ):
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if len(data) == 0:
            raise DesignError("data has no rows")
        check_duplicate_columns(data)
        self._data = data
        self._n = len(data)
        if isinstance(weights, (pd.Series, pd.DataFrame, np.ndarray, list, tuple)):
            raise DesignError(
                f"weights= takes a column name, not a {type(weights).__name__}; add the values to the data "
                "(data = data.assign(w=values)) and pass weights='w'"
            )
        check_column(data, weights, "weights")
        if not (pd.api.types.is_numeric_dtype(data[weights]) and not pd.api.types.is_complex_dtype(data[weights])):
            raise DesignError(
                f"weights column {weights!r} must be numeric, it is {data[weights].dtype}; convert it with "
                f"pd.to_numeric(data[{weights!r}])"
            )
        w = data[weights].to_numpy(dtype="float64", na_value=np.nan)
        if not np.isfinite(w).all() or (w < 0).any():
            bad = ~np.isfinite(w) | (w < 0)
            raise DesignError(
                f"weights column {weights!r} has missing, infinite or negative values at rows {describe_rows(data.index[bad])}"
            )
        if not (w != 0).any():
            raise DesignError(f"all weights in {weights!r} are zero: no respondent is in the sample")
        if isinstance(replicate_weights, (list, tuple)) and all(isinstance(c, str) for c in replicate_weights):
            for c in replicate_weights:
                check_column(data, c, "replicate weight")
            bad_cols = [
                c
                for c in replicate_weights
                if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_complex_dtype(data[c])
            ]
            if bad_cols:
                raise DesignError(
                    f"replicate weight columns {bad_cols} are not numeric (dtype {data[bad_cols[0]].dtype}); "
                    "convert them with pd.to_numeric"
                )
            names = pd.Index(list(replicate_weights))
            twice = sorted({str(c) for c in names[names.duplicated()]})
            if twice:
                raise DesignError(
                    f"replicate weight columns {twice} are listed more than once: each replicate counts once in "
                    "the variance; list every replicate column once"
                )
            W = data[list(replicate_weights)].to_numpy(dtype="float64", na_value=np.nan)
            self.replicate_columns = list(replicate_weights)
        elif isinstance(replicate_weights, pd.DataFrame):
            rw = replicate_weights
            if rw.columns.has_duplicates:
                raise DesignError(
                    f"the replicate weights DataFrame has columns {sorted({str(c) for c in rw.columns[rw.columns.duplicated()]})} "
                    "more than once: each replicate counts once in the variance"
                )
            if not rw.index.equals(data.index):
                if rw.index.has_duplicates or data.index.has_duplicates or set(rw.index) != set(data.index):
                    extra = rw.index.difference(data.index)[:5].tolist() if not rw.index.has_duplicates else []
                    raise DesignError(
                        "the replicate weights DataFrame's row labels do not match the data's "
                        f"({'duplicate labels' if rw.index.has_duplicates or data.index.has_duplicates else f'e.g. labels {extra} not in the data'}); "
                        "give both the same index (or pass a numpy array in the data's row order)"
                    )
                rw = rw.reindex(data.index)  # same labels, another order: align by label
            bad_cols = [
                c
                for c in rw.columns
                if not pd.api.types.is_numeric_dtype(rw[c]) or pd.api.types.is_complex_dtype(rw[c])
            ]
            if bad_cols:
                raise DesignError(
                    f"replicate weight columns {bad_cols[:5]} are not numeric; convert them with pd.to_numeric"
                )
            W = rw.to_numpy(dtype="float64", na_value=np.nan)
            self.replicate_columns = [str(c) for c in rw.columns]
        else:
            arr = np.asarray(replicate_weights)
            if arr.dtype.kind not in "biuf":
                raise DesignError(
                    f"replicate_weights must be numbers (an n × R numeric array or a list of column names); got dtype {arr.dtype}"
                )
            W = arr.astype(float)
            self.replicate_columns = None
        if W.ndim != 2 or W.shape[0] != self._n:
            raise DesignError(f"replicate_weights must be n × R with n = {self._n} rows; got shape {W.shape}")
        if W.shape[1] == 0:
            raise DesignError("replicate_weights has no columns: a replicate design needs at least one replicate")
        if not np.isfinite(W).all() or (W < 0).any():
            bad = (~np.isfinite(W) | (W < 0)).any(axis=1)
            raise DesignError(
                f"replicate weights have missing, infinite or negative values at rows {describe_rows(data.index[bad])}"
            )
        zero = np.flatnonzero(~(W != 0).any(axis=0))
        if len(zero):
            names = (
                [self.replicate_columns[j] for j in zero[:10]] if self.replicate_columns else (zero[:10] + 1).tolist()
            )
            raise DesignError(
                f"replicate weight column(s) {names} are zero for every respondent: such a replicate has no estimate. "
                "Check the replicate weights file (drop the column or fix it)"
            )
        R = W.shape[1]
        self.weights_column = weights
        self._w = w
        self._setup(method, rho, scale, rscales, mse, R)
        self._W = W  # explicit (n × R)
        self._A = None
        self._cluster = None

    def _setup(self, method, rho, scale, rscales, mse, R):
        allowed = ("jk1", "jkn", "brr", "fay", "bootstrap", "other")
        if not isinstance(method, str) or method.lower() not in allowed:
            raise DesignError(f"method={method!r} is not a replicate type; use one of {allowed}")
        method = method.lower()
        if rho is not None:
            if isinstance(rho, bool) or not isinstance(rho, (int, float, np.integer, np.floating)):
                raise DesignError(f"Fay's rho must be a number in [0, 1), got {rho!r}")
            if not 0 <= rho < 1:
                raise DesignError(f"Fay's rho must be in [0, 1), got {rho}")
            rho = float(rho)
        if scale is not None:
            if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
                raise DesignError(f"scale must be a positive number, got {scale!r}")
            if not (math.isfinite(scale) and scale > 0):
                raise DesignError(f"scale must be a positive finite number, got {scale!r}")
        mse = check_bool(mse, "mse")
        if scale is None:
            if method == "jk1":
                scale = (R - 1) / R
            elif method in ("brr", "fay"):
                scale = 1.0 / (R * (1 - (rho or 0.0)) ** 2)
            elif method == "bootstrap":
                if R < 2:
                    raise DesignError(f"bootstrap replicate weights need at least 2 replicates, got {R}")
                scale = 1.0 / (R - 1)
            else:
                scale = 1.0
        if rscales is None:
            rscales = np.ones(R)
        rs = np.asarray(rscales)
        if rs.dtype.kind not in "biuf":
            raise DesignError(f"rscales must be numbers, one per replicate; got dtype {rs.dtype}")
        rscales = rs.astype(float)
        if rscales.shape == (R,) and (not np.isfinite(rscales).all() or (rscales < 0).any()):
            bad = np.flatnonzero(~np.isfinite(rscales) | (rscales < 0))
            raise DesignError(
                f"rscales must be finite and >= 0; replicates {(bad[:10] + 1).tolist()} have {rscales[bad[:10]].tolist()}"
            )
        if rscales.shape != (R,):
            raise DesignError(f"rscales needs one value per replicate ({R}), got {rscales.shape}")
        self.method = method
        self.rho = rho
        self.scale = float(scale)
        self.rscales = rscales
        self.mse = bool(mse)
        self.n_replicates = R
        self._domain = None
        self._adjusters = ()
        self._df_cache = None

    @classmethod
    def _from_multipliers(cls, design, A: np.ndarray, cluster: np.ndarray, method, scale, rscales, rho=None, mse=False):
        """Internal: replicate design with PSU-level multipliers A (C × R)."""
        self = object.__new__(cls)
        self._data = design._data
        self._n = design._n
        self.weights_column = design.weights_column
        self.replicate_columns = None
        self._w = design._w.copy()
        self._setup(method, rho, scale, rscales, mse, A.shape[1])
        self._W = None
        self._A = A
        self._cluster = cluster
        return self

    # ------------------------------------------------------------ properties
    def replicate_weights(self) -> np.ndarray:
        """The replicate analysis weights as an (n × R) array (materialised on request)."""
        if self._W is not None:
            return self._W
        return self._w[:, None] * self._A[self._cluster]

    @property
    def df(self) -> float:
        """Rank of the replicate weight matrix minus 1 (R's ``degf``).

        A calibrated (re-weighted) replicate design keeps at most the df of the design it
        came from: recalibrating every replicate makes the weights differ within PSUs and
        inflates the numerical rank (85 PSUs in 17 strata gave 136), while the
        information is still that of the original PSUs. R's ``calibrate`` keeps the stored
        ``degf`` of the replicate design (``regcalibrate`` recomputes it, which can only
        lower it); here ``df = min(df of the source design, rank - 1)``.
        """
        if self._df_cache is None:
            if self._A is not None and self._domain is not None:
                # a subset: R's degf() of the subset design, the rank of the replicate
                # weights of the domain's rows (an uncalibrated subset drops the other rows)
                M = self._A[np.unique(self._cluster[self._domain & (self._w != 0)])]
            elif self._A is not None:
                M = self._A
            else:
                M = np.unique(self._W, axis=0) if self._n > 5000 else self._W
            # R uses qr(..., tol=1e-5); use a relative tolerance of the same order (one SVD)
            s = np.linalg.svd(M, compute_uv=False) if M.size else np.zeros(0)
            self._df_cache = float((s > 1e-5 * s[0]).sum() - 1) if len(s) else 0.0
            cap = getattr(self, "_df_cap", None)
            if cap is not None:
                self._df_cache = min(self._df_cache, cap)
        return self._df_cache

    def _with_domain(self, mask):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._domain = mask
        new._df_cache = None  # a subset's df is the rank of its own rows' replicate weights
        return new

    def _with_weights(self, w: np.ndarray, W: np.ndarray) -> ReplicateDesign:
        """Internal: a copy with new full-sample and replicate weights (explicit)."""
        cap = self.df  # the source design's df: calibration cannot add information
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._w = np.asarray(w, dtype=float)
        new._W = np.asarray(W, dtype=float)
        new._A = None
        new._cluster = None
        new._df_cap = cap
        new._df_cache = None
        new._reweighted = True
        return new

    def __repr__(self) -> str:
        return f"ReplicateDesign(n={self._n}, method={self.method!r}, replicates={self.n_replicates}, scale={self.scale:.6g}, mse={self.mse})"

    # ------------------------------------------------------------ the engine
    def _scheme(self) -> ReplicateScheme:
        """The variance engine's view of this design's replicate weights."""
        return ReplicateScheme(self.scale, self.rscales, self.mse, A=self._A, cluster=self._cluster, W=self._W)

    def replicate_vcov(self, replicate_estimates, estimate) -> np.ndarray:
        """Replicate covariance of a statistic from its replicate estimates.

        The public hook of the variance engine for statistics re-estimated with each column
        of :attr:`replicate_weights` (regression coefficients, robustness draws):
        ``scale * sum_r rscales_r (theta_r - c)(theta_r - c)^T`` with ``c`` the replicates'
        mean, or the full-sample estimate when the design has ``mse=True`` (R's ``svrVar``).

        Parameters
        ----------
        replicate_estimates : array-like, shape (R,) or (R, p)
            The statistic under each replicate weight column, in column order.
        estimate : array-like, shape () or (p,)
            The full-sample estimate.

        Returns
        -------
        numpy.ndarray, shape (p, p)
            The covariance matrix. A replicate with undefined (non-finite) estimates is
            discarded column by column, with a warning.

        Raises
        ------
        EstimationError
            The number of replicate estimates differs from the design's replicates.
        """
        reps = np.asarray(replicate_estimates, dtype=float)
        reps = reps[:, None] if reps.ndim == 1 else reps
        if reps.shape[0] != len(self.rscales):
            raise EstimationError(f"need one estimate per replicate ({len(self.rscales)} rows); got shape {reps.shape}")
        full = np.atleast_1d(np.asarray(estimate, dtype=float))
        with np.errstate(over="ignore", invalid="ignore"):
            return self._scheme().vcov(reps, full)

    def _domain_df(self, dom, D):
        return np.full(D, self.df)

    def _estimate_stat(self, stat: Statistic, dom: np.ndarray, D: int) -> StatisticEstimate:
        return self._scheme().estimate(stat, self._w, dom, D, self.df)
