"""Sample designs and the library's one variance engine.

:class:`SurveyDesign` describes a probability sample: weights, strata, clusters at
one or more stages and finite population corrections. :class:`ReplicateDesign`
describes the same sample through replicate weights (JK1, JKn, BRR, Fay, bootstrap,
or published weights). Both expose the same estimators — ``mean``, ``total``,
``proportion``, ``ratio``, ``quantile`` — and domain estimation through ``by()`` and
``subset()``.

The one variance engine
-----------------------
Every estimate here is a smooth function of weighted totals. Means, proportions and
ratios are ``t_num / t_den``; totals are ``t_num``. An estimator hands the engine its
*basic columns* ``Y`` (n × k) and which columns form numerators and denominators; the
engine

1. sums ``w·Y`` over (finest cluster, domain) pairs — one sparse product, never a
   Python loop over respondents;
2. linearises at that level: ``z = (s_num - θ s_den) / t_den`` (the influence values of
   Lumley 2010, §2.3, aggregated);
3. Taylor: sums ``z`` to the clusters of each stage, centres within strata, scales
   by ``f_h n_h / (n_h - 1)`` (``f_h = 1 - n_h/N_h`` with an fpc, 1 without) and, at
   later stages, by the product of earlier sampling fractions — R ``survey``'s
   ``svyrecvar`` recursion written as grouped sums;
4. replicates: recomputes ``t`` for every replicate as one matrix product and applies
   ``scale · Σ_r rscale_r (θ_r - θ̄)²``.

Domains (``by``, ``subset``, ``na_rm=True``) are always estimated on the full design:
rows outside the domain keep their PSU and stratum and contribute zero, never dropped.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
Särndal, C.-E., Swensson, B. & Wretman, J. (1992). *Model Assisted Survey Sampling*. Springer.
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer.
Woodruff, R. S. (1952). Confidence intervals for medians and other position measures. *JASA* 47.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, special

from ..errors import (
    DesignError,
    EstimationError,
    HappinessIndexWarning,
    LonelyPSUError,
    LonelyPSUWarning,
    describe_rows,
)
from .estimators import (
    EstimateTable,
    check_ci_method,
    make_estimate,
    profile_likelihood_logit_interval,
    proportion_interval,
)

__all__ = ["SurveyDesign", "ReplicateDesign", "DomainView"]

LONELY_RULES = ("fail", "remove", "adjust", "average", "certainty")
_SELF_REP_TOL = 1e-7


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Factorise values into integer codes 0..k-1 (order of first appearance)."""
    codes, uniques = pd.factorize(pd.Series(values).reset_index(drop=True), sort=False)
    return codes.astype(np.int64), np.asarray(uniques)


def _group_sum(codes: np.ndarray, n_groups: int, X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum the rows of X (m × q) by integer group codes (m,) into (n_groups × q).

    With ``weights`` (m,), the weighted sums ``Σ w_i X_i`` without materialising ``w·X``.
    """
    m = codes.shape[0]
    # CSC with one entry per column: built without sorting (CSR/COO would sort m entries)
    data = np.ones(m) if weights is None else np.asarray(weights, dtype=float)
    ind = sparse.csc_matrix((data, codes, np.arange(m + 1)), shape=(n_groups, m))
    out = ind @ X
    return np.asarray(out)


def _unique_codes(key: np.ndarray, size: int, return_inverse: bool = False):
    """``np.unique(key)`` (and the inverse) for integer keys in ``[0, size)``.

    A presence bitmap when ``size`` is at most a few times ``len(key)`` (O(n), no sort or
    hash: the common case of (PSU, domain) pairs), ``np.unique`` otherwise.
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


def _check_column(data: pd.DataFrame, col, what: str) -> None:
    if col not in data.columns:
        close = difflib.get_close_matches(str(col), [str(c) for c in data.columns], n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise DesignError(f"{what} column {col!r} is not in the data.{hint} Columns: {list(data.columns)[:20]}")


def _check_bool(value, name: str, err=DesignError) -> bool:
    """``value`` as a Python bool; refuse anything but True/False (numpy bools included)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise err(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def _check_duplicate_columns(data: pd.DataFrame) -> None:
    dup = data.columns[data.columns.duplicated()]
    if len(dup):
        raise DesignError(
            f"the data has duplicate column names {sorted({str(c) for c in dup})}; a design needs one column "
            "per name. Rename them (e.g. data.columns = [...]) or drop the copies "
            "(data.loc[:, ~data.columns.duplicated()])"
        )


def _check_key_types(values: pd.Series, col, err=DesignError) -> None:
    """Refuse a key column mixing numbers and text (1 and "1" would be two different groups)."""
    if values.dtype != object:
        return
    values = pd.Series(pd.unique(values.dropna()))
    kinds = {("text" if isinstance(v, str) else "number" if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else type(v).__name__)
             for v in pd.unique(values.dropna())}
    if len(kinds) > 1:
        nums = [v for v in pd.unique(values.dropna()) if not isinstance(v, str)][:3]
        txt = [v for v in pd.unique(values.dropna()) if isinstance(v, str)][:3]
        raise err(
            f"column {col!r} mixes value types ({', '.join(sorted(kinds))}): e.g. {nums} and {txt}. "
            "1 and '1' would be different groups; convert the column to one type first, e.g. "
            f"data[{col!r}].astype(str)"
        )


def _warn_dropped_domains(key_table: pd.DataFrame, present: np.ndarray, by_cols, var_columns) -> None:
    """Warn that ``by()`` leaves out domains with no respondent in scope (naming them)."""
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


def _check_totals_finite(t: np.ndarray, stat: "_Stat") -> None:
    """Weighted totals that overflow (inf/NaN from finite inputs): say so, not "zero denominator"."""
    if np.isfinite(t).all():
        return
    raise EstimationError(
        f"the weighted totals of {stat.var_columns} overflow (exceed the float range, about 1.8e308): the weights "
        "times the values are too large. Rescale the weights (e.g. divide by their mean) or the variable "
        "(e.g. in thousands) and scale the result back"
    )


def _check_variance_finite(var: np.ndarray, stat: "_Stat") -> None:
    """A variance that overflows to inf/NaN with finite estimates: refuse instead of an infinite SE."""
    if np.isinf(np.asarray(var)).any():
        raise EstimationError(
            f"the variance of the estimate of {stat.var_columns} overflows (squared weighted totals exceed the float "
            "range, about 1.8e308). Rescale the weights (e.g. divide by their mean) or the variable (e.g. in "
            "thousands) and scale the result back"
        )


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


@dataclass(frozen=True)
class _Stage:
    """One sampling stage, in the engine's integer-coded form.

    ``stratum``/``cluster`` are per-row codes; clusters are globally unique and nested
    in their stratum. ``npsu[h]`` is the number of sampled clusters in stratum h,
    ``f[h]`` the variance factor (1 - n/N, or 1 with replacement), ``mult[h]`` the product
    of the sampling fractions of earlier stages (1 at stage 1).
    """

    stratum: np.ndarray
    cluster: np.ndarray
    n_strata: int
    n_clusters: int
    cluster_stratum: np.ndarray
    npsu: np.ndarray
    f: np.ndarray
    mult: np.ndarray
    frac: np.ndarray  # sampling fraction n_h / N_h (1 where no fpc: complete/unknown)
    stratum_labels: np.ndarray
    cluster_labels: np.ndarray


# ---------------------------------------------------------------------------
# statistic specification (ratio-type functions of totals)
# ---------------------------------------------------------------------------


@dataclass
class _Stat:
    """p statistics theta_j = t[num_j] / t[den_j] (den_j = -1: a total)."""

    names: list[str]
    Y: np.ndarray  # (n, k) basic columns, NaN-free (rows out of domain may hold anything finite)
    num: np.ndarray  # (p,)
    den: np.ndarray  # (p,)
    kind: str  # "mean", "total", "proportion", "ratio"
    var_columns: list[str]

    @property
    def p(self) -> int:
        return len(self.names)


def _thetas(t: np.ndarray, stat: _Stat) -> np.ndarray:
    """theta from totals t (..., k) -> (..., p)."""
    num = t[..., stat.num]
    if np.all(stat.den < 0):
        return num
    den = np.where(stat.den >= 0, t[..., np.maximum(stat.den, 0)], 1.0)  # totals (den -1): divide by 1
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def _irls_intercept_logit(y: np.ndarray, w: np.ndarray, tol: float = 1e-8, maxit: int = 25) -> float:
    """expit of the intercept of a weighted logistic regression fitted by IRLS as R's glm.fit.

    Same start (``mustart = (w y + 0.5)/(w + 1)``) and stopping rule
    (``|dev - dev_old| / (|dev| + 0.1) < 1e-8``), so the result equals R's
    ``expit(coef(svyglm(y ~ 1, family=quasibinomial)))`` to rounding.
    """
    good = w > 0
    y, w = y[good], w[good]
    if len(y) == 0:
        return float("nan")

    def deviance(mu):
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
            t2 = np.where(y < 1, (1 - y) * np.log(np.where(y < 1, 1 - y, 1.0) / (1 - mu)), 0.0)
        return float(2.0 * np.sum(w * (t1 + t2)))

    mu = (w * y + 0.5) / (w + 1.0)
    eta = np.log(mu / (1 - mu))
    dev_old = deviance(mu)
    beta = float("nan")
    for _ in range(maxit):
        v = mu * (1 - mu)
        z = eta + (y - mu) / v
        ww = w * v
        beta = float(np.sum(ww * z) / np.sum(ww))
        mu_s = float(special.expit(beta))
        if not 0 < mu_s < 1:
            return mu_s
        mu = np.full_like(y, mu_s)
        eta = np.full_like(y, beta)
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            break
        dev_old = dev
    return float(special.expit(beta))


# ---------------------------------------------------------------------------
# the shared estimator front end
# ---------------------------------------------------------------------------


def srs_variance(y: np.ndarray, w: np.ndarray, dom: np.ndarray, D: int, *, total: bool = False, replace: bool = False) -> np.ndarray:
    """Variance of the weighted mean (or total) of ``y`` under simple random sampling, per domain.

    The denominator of a design effect, as R's ``svymean``/``svytotal`` with ``deff``:
    ``s² = Σ w (y - ȳ)² / Σ w · n/(n-1)`` over the domain's respondents (non-zero weight),
    ``V_srs = s²/n`` for a mean and ``s² (Σw)²/n`` for a total, times ``(N - n)/N`` with
    ``N = Σw`` unless ``replace`` (SRS with replacement). A domain of one respondent gives NaN.

    Parameters
    ----------
    y, w : (n,) arrays
        Values and weights.
    dom : (n,) int array
        Domain code of each row in ``0..D-1``; -1 for rows outside every domain.
    D : int
        Number of domains.

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
        s2 = np.bincount(ds, weights=ws * (ys - ybar[ds]) ** 2, minlength=D) / wsum * nobs / (nobs - 1)
        v = s2 * wsum**2 / nobs if total else s2 / nobs
        if not replace:
            v = v * (wsum - nobs) / wsum
    return v


class _EstimatorMixin:
    """Estimator methods shared by SurveyDesign, ReplicateDesign and DomainView.

    Subclasses provide ``_data``, ``_n``, ``_w`` (weights), ``_domain`` (a boolean row
    mask or None for the full sample) and the engine hook ``_estimate_stat``.
    """

    _by_cols: list | None = None
    _by_dropna: bool = False

    @property
    def data(self) -> pd.DataFrame:
        """The data the design was built on (not a copy: do not modify it)."""
        return self._data

    @property
    def weights(self) -> pd.Series:
        """The full-sample analysis weights (after any calibration), aligned with the data rows."""
        return pd.Series(self._w, index=self._data.index, name="weight")

    @property
    def n(self) -> int:
        """Number of respondents in the domain (all rows for a full design)."""
        return int(self._domain_mask().sum())

    @property
    def domain_mask(self) -> np.ndarray:
        """Rows in this design's domain (non-zero weight, inside any subset), a bool array (n,)."""
        return self._domain_mask().copy()

    def var(self, x, na_rm: bool = False, level: float = 0.95):
        """Population variance of ``x`` (R's ``svyvar``); see :func:`happiness_index.survey.descriptive.svyvar`."""
        from .descriptive import svyvar

        return svyvar(self, x, na_rm=na_rm, level=level)

    def _domain_mask(self) -> np.ndarray:
        # w != 0, not w > 0: calibrated (linear, unbounded) weights may be negative and
        # still count, as in R (only zero weights put a row outside every domain)
        base = self._w != 0
        return base if self._domain is None else (self._domain & base)

    # ------------------------------------------------------------ data access
    def _column(self, col, numeric: bool = True) -> pd.Series:
        data = self._data
        if col not in data.columns:
            close = difflib.get_close_matches(str(col), [str(c) for c in data.columns], n=3)
            hint = f" Did you mean {close}?" if close else ""
            raise EstimationError(f"column {col!r} is not in the data.{hint}")
        s = data[col]
        if pd.api.types.is_complex_dtype(s.dtype):
            raise EstimationError(
                f"column {col!r} holds complex numbers ({s.dtype}); survey estimators need real values: "
                f"take the real part (data[{col!r}].to_numpy().real) or the modulus first"
            )
        if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype) or isinstance(
            s.dtype, pd.PeriodDtype
        ):
            raise EstimationError(
                f"column {col!r} holds dates/times ({s.dtype}); estimate a number derived from it instead, e.g. "
                f"the year (data[{col!r}].dt.year) or the days since a reference date"
            )
        if numeric:
            if s.dtype == bool or pd.api.types.is_bool_dtype(s):
                s = s.astype("float64")
            elif not pd.api.types.is_numeric_dtype(s):
                conv = pd.to_numeric(s, errors="coerce")
                bad = s.notna() & conv.isna()
                if bad.any():
                    vals = pd.unique(s[bad])[:5]
                    raise EstimationError(
                        f"column {col!r} is not numeric: values {list(vals)} in rows "
                        f"{describe_rows(s.index[bad])}. Recode it (e.g. with validate_survey's cleaned data) "
                        "or use proportion() for a categorical column."
                    )
                raise EstimationError(
                    f"column {col!r} holds numbers stored as {s.dtype}; convert it explicitly with "
                    f"pd.to_numeric(data[{col!r}]) before estimating."
                )
        return s

    def _values(self, cols: Sequence, na_rm: bool, append_ones: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(n × len(cols)) float array and the mask of complete rows.

        ``append_ones=True`` adds a last column of ones (the denominator of a mean) to the
        same buffer. Built column by column into one preallocated array: integer and
        boolean columns cannot hold NaN or inf and skip the checks, so at n = 1M and 30
        columns there is one n × k float buffer, not five (speed and memory).
        """
        k = len(cols)
        arrs = []
        bad_cols: dict[int, np.ndarray] = {}  # column -> non-finite mask (float columns only)
        for j, c in enumerate(cols):
            s = self._column(c)
            if pd.api.types.is_integer_dtype(s.dtype) and (isinstance(s.dtype, np.dtype) or not s.hasnans):
                arrs.append(s.to_numpy())  # numpy integers cannot hold NaN: no scan
                continue
            a = s.to_numpy(dtype="float64", na_value=np.nan)
            arrs.append(a)
            fin = np.isfinite(a)
            if not fin.all():
                bad_cols[j] = ~fin
        Y = np.empty((self._n, k + int(append_ones)), dtype="float64")
        # fill in blocks of rows so the strided column writes stay in cache (~2x faster
        # than whole-column writes at n = 1M, k = 30); the loop is over blocks, not rows
        step = 16384
        for start in range(0, self._n, step):
            stop = start + step
            for j, a in enumerate(arrs):
                Y[start:stop, j] = a[start:stop]
            if append_ones:
                Y[start:stop, k] = 1.0
        ok = np.ones(self._n, dtype=bool)
        if not bad_cols:
            return Y, ok
        inf_cols = [j for j in bad_cols if np.isinf(Y[bad_cols[j], j]).any()]
        if inf_cols:
            inf_rows = np.zeros(self._n, dtype=bool)
            for j in inf_cols:
                inf_rows |= np.isinf(Y[:, j])
            raise EstimationError(
                f"infinite values in {[cols[j] for j in inf_cols]} at rows "
                f"{describe_rows(self._data.index[inf_rows])}; fix or remove them."
            )
        for m in bad_cols.values():
            ok &= ~m
        dom = self._domain_mask()
        missing_in_domain = (~ok) & dom
        if missing_in_domain.any() and not na_rm:
            parts = []
            for j, c in enumerate(cols):
                if j not in bad_cols:
                    continue
                m = bad_cols[j] & dom
                if m.any():
                    parts.append(f"{c!r}: {int(m.sum())} missing (rows {describe_rows(self._data.index[m], 5)})")
            raise EstimationError(
                "missing values in the analysis variable " + "; ".join(parts) + ". Pass na_rm=True to treat "
                "them as out of the domain (their PSUs stay in the variance), or impute them first."
            )
        for j, m in bad_cols.items():
            Y[m, j] = 0.0
        return Y, ok

    # ------------------------------------------------------------ public API
    def mean(self, x, na_rm: bool = False, deff: bool | str = False, level: float = 0.95):
        """Design-based mean of one or more numeric columns.

        Parameters
        ----------
        x : str or list of str
            Column name(s). Booleans count as 0/1. A single categorical (text) column
            gives the share of every category, as R's ``svymean(~factor)`` (Wald
            intervals; :meth:`proportion` gives intervals that stay inside [0, 1]).
        na_rm : bool, default False
            False: a missing value raises :class:`EstimationError` naming the column and
            the count. True: rows with a missing value in any of ``x`` are out of the domain
            (kept in the design, contributing zero), as R's ``na.rm=TRUE``. The degrees of
            freedom stay those of the design (or domain) before removing missing values,
            as R's ``confint(..., df=degf(design))`` and ``svyciprop``.
        deff : bool or "replace", default False
            Also compute the design effect against SRS without replacement (True) or
            with replacement ("replace").
        level : float, default 0.95
            Level of the reported interval.

        Returns
        -------
        Estimate or EstimateTable
            An :class:`Estimate` for one column (one domain); an :class:`EstimateTable`
            for several columns or under ``by()``, with the covariance matrix.

        Raises
        ------
        EstimationError
            Unknown or non-numeric column, missing values without ``na_rm``, empty domain.
            A text column in which at least half the non-missing values are numbers is
            taken as a broken numeric column (e.g. "n/a" entries): the error names the
            rows and values and suggests ``pd.to_numeric``; date/time and complex columns
            are refused. Totals or variances that overflow the float range.
        LonelyPSUError
            A stratum with one PSU under ``lonely_psu="fail"``.
        """
        cols = _as_list(x)
        if len(cols) == 1 and self._is_categorical(cols[0]) and self._data[cols[0]].notna().any():
            self._check_not_broken_numeric(cols[0])
            # R's svymean(~factor): the share of every category, Wald intervals
            Y, names, ok = self._indicators(cols[0], na_rm)
            k = len(names)
            Y = np.column_stack([Y, np.ones(self._n)])
            stat = _Stat(names, Y, np.arange(k), np.full(k, k), "mean", cols)
            return self._run(stat, ok, deff=deff, level=level, single=False, keys_var=cols[0])
        Y, ok = self._values(cols, na_rm, append_ones=True)
        k = len(cols)
        stat = _Stat(cols, Y, np.arange(k), np.full(k, k), "mean", cols)
        return self._run(stat, ok, deff=deff, level=level, single=not isinstance(x, (list, tuple)))

    def total(self, x, na_rm: bool = False, deff: bool | str = False, level: float = 0.95):
        """Design-based total of numeric column(s); a categorical column gives one count per category.

        Parameters and returns as :meth:`mean`. A non-numeric (text, categorical)
        column is expanded into category indicators, as R's ``svytotal(~factor)``.
        """
        cols = _as_list(x)
        if len(cols) == 1 and self._is_categorical(cols[0]):
            self._check_not_broken_numeric(cols[0])
            Y, names, ok = self._indicators(cols[0], na_rm)
            stat = _Stat(names, Y, np.arange(len(names)), np.full(len(names), -1), "total", cols)
            return self._run(stat, ok, deff=deff, level=level, single=False, keys_var=cols[0])
        Y, ok = self._values(cols, na_rm)
        k = len(cols)
        stat = _Stat(cols, Y, np.arange(k), np.full(k, -1), "total", cols)
        return self._run(stat, ok, deff=deff, level=level, single=not isinstance(x, (list, tuple)))

    def proportion(
        self,
        x,
        ci_method: str = "logit",
        na_rm: bool = False,
        deff: bool | str = False,
        level: float = 0.95,
        df: float | None = None,
    ):
        """Share of 1s in a 0/1 column, or the share of every category of a categorical column.

        Parameters
        ----------
        x : str
            A 0/1 (or boolean) column, or a categorical/text column.
        ci_method : str, default "logit"
            Interval method: "logit" | "xlogit" | "beta" (Korn–Graubard) | "wilson" |
            "asin" | "likelihood" | "wald" ("mean"). See
            :func:`~happiness_index.estimators.proportion_interval`.
        na_rm, deff, level
            As in :meth:`mean`.
        df : float, optional
            Degrees of freedom of the interval; default the design's (domain's) df,
            as R's ``svyciprop``. ``math.inf`` gives Normal quantiles.

        Returns
        -------
        Estimate or EstimateTable
            A 0/1 column gives an Estimate of the share of 1 (a table under ``by``);
            a categorical column gives a table with one row per category ``x=level``.

        Raises
        ------
        EstimationError
            A numeric column with values other than 0 and 1; see also :meth:`mean`.

        Notes
        -----
        A share of exactly 0 or 1 gets the Korn–Graubard interval with the domain's
        respondent count (never a zero-width interval); see ``proportion_interval``.
        """
        check_ci_method(ci_method)
        if isinstance(x, (list, tuple)):
            raise EstimationError("proportion() takes one column; call it once per column")
        if self._is_categorical(x):
            Y, names, ok = self._indicators(x, na_rm)
            Y = np.column_stack([Y, np.ones(self._n)])
            k = len(names)
            stat = _Stat(names, Y, np.arange(k), np.full(k, k), "proportion", [x])
            return self._run(stat, ok, deff=deff, level=level, single=False, ci_method=ci_method, df=df, keys_var=x)
        Y, ok = self._values([x], na_rm, append_ones=True)
        vals = Y[ok & self._domain_mask(), 0]
        bad = (vals != 0.0) & (vals != 1.0)
        if bad.any():
            raise EstimationError(
                f"proportion({x!r}) needs a 0/1 column; it holds {sorted(set(vals[bad].tolist()))[:5]}. "
                f"Derive an indicator (e.g. data[{x!r}] >= 4) or pass a categorical column."
            )
        stat = _Stat([x], Y, np.array([0]), np.array([1]), "proportion", [x])
        return self._run(stat, ok, deff=deff, level=level, single=True, ci_method=ci_method, df=df)

    def ratio(self, numerator, denominator, na_rm: bool = False, deff: bool | str = False, level: float = 0.95):
        """Ratio of two totals, ``t_num / t_den`` (R's ``svyratio``).

        Parameters
        ----------
        numerator, denominator : str
            Numeric columns.
        na_rm, deff, level
            As in :meth:`mean`; rows missing either column are out of the domain. The
            design effect is R's: that of the total of ``(num - R den) / den_total``.

        Returns
        -------
        Estimate (EstimateTable under ``by``)
        """
        Y, ok = self._values([numerator, denominator], na_rm)
        stat = _Stat([f"{numerator}/{denominator}"], Y, np.array([0]), np.array([1]), "ratio", [numerator, denominator])
        return self._run(stat, ok, deff=deff, level=level, single=True)

    def effective_n(self):
        """Kish's effective sample size ``(sum w)^2 / sum w^2`` of the respondents in scope.

        Returns
        -------
        float
            For a design or a ``subset()`` domain.
        pandas.Series
            Under ``by()``: one value per domain (index: the domain keys).

        Notes
        -----
        This is the sample size an unweighted simple random sample would need to match
        the precision lost to unequal weights alone (Kish 1965, §11.7); ``n / n_eff =
        1 + cv(w)^2`` is Kish's design effect due to weighting. It ignores clustering and
        stratification: the full design effect of an estimate is ``Estimate.deff``
        (``deff=True``).

        References
        ----------
        Kish, L. (1965). *Survey Sampling*. Wiley.
        """
        dom, key_table, D = self._domain_codes(np.ones(self._n, dtype=bool))
        sel = dom >= 0
        w = self._w[sel]
        s1 = np.bincount(dom[sel], weights=w, minlength=D)
        s2 = np.bincount(dom[sel], weights=w * w, minlength=D)
        with np.errstate(divide="ignore", invalid="ignore"):
            neff = np.where(s2 > 0, s1 * s1 / s2, np.nan)
        if key_table is None:
            return float(neff[0])
        present = np.bincount(dom[sel], minlength=D) > 0
        keys = key_table[present].reset_index(drop=True)
        idx = pd.MultiIndex.from_frame(keys) if keys.shape[1] > 1 else pd.Index(keys.iloc[:, 0])
        return pd.Series(neff[present], index=idx, name="effective_n")

    # ------------------------------------------------------------ categorical helpers
    def _check_not_broken_numeric(self, col) -> None:
        """Refuse a text column that is mostly numbers with a few non-numbers ("n/a", "5,5").

        Rule: among the non-missing values of an object/string column, if at least half
        parse as numbers (``pd.to_numeric``), the column is a numeric variable with
        unparsed entries, not a categorical one, and category shares would be wrong.
        Pandas ``category`` columns are always taken as categorical.
        """
        s = self._column(col, numeric=False)
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            return
        nn = s[s.notna()]
        if len(nn) == 0:
            return
        conv = pd.to_numeric(nn, errors="coerce")
        ok = conv.notna()
        if ok.mean() >= 0.5 and not ok.all():
            bad = nn[~ok]
            raise EstimationError(
                f"column {col!r} is stored as text but {int(ok.sum())} of its {len(nn)} values are numbers; the "
                f"others cannot be read as numbers: values {[str(v) for v in pd.unique(bad)[:5]]} in rows "
                f"{describe_rows(bad.index)}. Convert it with pd.to_numeric(data[{col!r}], errors='coerce') "
                "(the text becomes missing; then na_rm=True) or recode those entries. For category shares of a "
                "genuinely categorical column use proportion() or a pandas 'category' column."
            )
        if ok.all():
            raise EstimationError(
                f"column {col!r} holds numbers stored as text ({s.dtype}); convert it explicitly with "
                f"pd.to_numeric(data[{col!r}]) before estimating (or make it a 'category' column for shares)"
            )

    def _is_categorical(self, col) -> bool:
        s = self._column(col, numeric=False)
        return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))

    def _indicators(self, col, na_rm: bool):
        s = self._column(col, numeric=False)
        if isinstance(s.dtype, pd.CategoricalDtype) and any(
            isinstance(v, str) and __import__("unicodedata").normalize("NFC", v) != v for v in s.cat.categories
        ):
            s = s.astype(object)
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):  # NFD and NFC spellings: one level
            s = s.map(lambda v: __import__("unicodedata").normalize("NFC", v) if isinstance(v, str) else v)
        miss = s.isna().to_numpy()
        dom = self._domain_mask()
        if (miss & dom).any() and not na_rm:
            raise EstimationError(
                f"missing values in {col!r}: {int((miss & dom).sum())} rows "
                f"({describe_rows(self._data.index[miss & dom], 5)}). Pass na_rm=True or recode them."
            )
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels = list(s.cat.categories)
        else:
            levels = sorted(pd.unique(s.dropna()), key=lambda v: str(v))
        if not levels:
            raise EstimationError(
                f"column {col!r} has no non-missing values, so it has no categories to estimate; check the data"
            )
        vals = s.to_numpy()
        Y = np.column_stack([(vals == lv) & ~miss for lv in levels]).astype(float)
        names = [f"{col}={lv}" for lv in levels]
        return Y, names, ~miss

    # ------------------------------------------------------------ domains
    def by(self, columns, dropna: bool = False) -> "DomainView":
        """Domain estimation for every level of one or more columns.

        Parameters
        ----------
        columns : str or list of str
            Domain variables (e.g. ``"commune"`` or ``["commune", "sex"]``).
        dropna : bool, default False
            False: rows with a missing key form their own domain (shown as NaN).
            True: they are left out of the output but stay in the design.

        Returns
        -------
        DomainView
            Has the same estimators; each returns an :class:`EstimateTable` with one
            row per domain (and variable), estimated on the full design with the
            domain's own degrees of freedom.
        """
        cols = _as_list(columns)
        if not cols:
            raise EstimationError("by() needs at least one domain column, e.g. design.by('commune')")
        for c in cols:
            if c not in self._data.columns:
                raise EstimationError(f"domain column {c!r} is not in the data; columns: {list(self._data.columns)[:20]}")
        return DomainView(self, cols, _check_bool(dropna, "dropna", EstimationError))

    def subset(self, mask) -> "_EstimatorMixin":
        """A domain of this design: estimation restricted to ``mask`` on the full design.

        Parameters
        ----------
        mask : boolean Series aligned with the data rows (or boolean array of length n)

        Returns
        -------
        The same kind of design; rows outside the mask contribute zero but keep their
        PSUs and strata in the variance (R's ``subset.survey.design``), so SEs are
        right and ``df`` counts only PSUs with domain members.

        Raises
        ------
        EstimationError
            A mask of the wrong length or with missing values, or an empty domain.
        """
        if isinstance(mask, pd.Series):
            if not mask.index.equals(self._data.index):
                idx = self._data.index
                if mask.index.has_duplicates or idx.has_duplicates:
                    raise EstimationError(
                        "the subset mask cannot be aligned with the data rows (duplicate row labels); pass a "
                        "boolean array in row order, or give the data and the mask the same index"
                    )
                missing = idx.difference(mask.index)
                if len(missing):
                    raise EstimationError(
                        f"the subset mask's index does not align with the data's row labels: {len(missing)} data "
                        f"rows ({describe_rows(missing)}) have no entry in the mask. Build the mask from the same "
                        "DataFrame (e.g. data['commune'] == 'Nghĩa Lộ'), or pass mask.to_numpy() if it is already "
                        "in row order"
                    )
                mask = mask.reindex(idx)
            if mask.isna().any():
                raise EstimationError(
                    f"the subset mask has missing values at rows {describe_rows(self._data.index[mask.isna()])}; "
                    "fill them with True/False first"
                )
            m = mask.to_numpy()
        else:
            m = np.asarray(mask)
            if m.shape != (self._n,):
                raise EstimationError(f"the subset mask has shape {m.shape}; it must have one value per row ({self._n})")
        if m.dtype != bool:
            valid = pd.Series(m).isin([True, False]).to_numpy()  # also 0/1
            if not valid.all():
                raise EstimationError(
                    f"the subset mask must be True/False (or 0/1); it holds {list(pd.unique(m[~valid]))[:5]}. "
                    "Build it with a comparison, e.g. data['commune'] == 'Nghĩa Lộ'"
                )
            m = m.astype(bool)
        # the domain keeps its zero-weight rows (R's nrow() of a subset counts them; every
        # estimator drops them through _domain_mask)
        prev = getattr(self, "_domain", None)
        new = m if prev is None else (m & prev)
        if not (new & self._domain_mask()).any():
            raise EstimationError("the subset is empty: no respondent satisfies the mask")
        return self._with_domain(new)

    # ------------------------------------------------------------ run
    def _domain_codes(self, ok: np.ndarray, keep_zero: bool = False):
        """Domain codes per row (-1 = out) and the key table, for by() or the single domain.

        ``keep_zero=True`` keeps zero-weight rows in their domain: R's ``nrow(design)`` of a
        domain (Korn–Graubard df adjustment) counts them.
        """
        if keep_zero:
            dmask = getattr(self, "_domain", None)  # subset() mask (DomainView: its design's)
            base = (np.ones(self._n, dtype=bool) if dmask is None else dmask) & ok
        else:
            base = self._domain_mask() & ok
        if self._by_cols is None:
            codes = np.where(base, 0, -1).astype(np.int64)
            return codes, None, 1
        keys = self._data[self._by_cols]
        key_df = keys.copy()
        for c in self._by_cols:
            if isinstance(key_df[c].dtype, pd.CategoricalDtype) and any(
                isinstance(v, str) and __import__("unicodedata").normalize("NFC", v) != v for v in key_df[c].cat.categories
            ):
                key_df[c] = key_df[c].astype(object)  # NFD categories: normalise (may merge levels)
            if key_df[c].dtype == object or pd.api.types.is_string_dtype(key_df[c].dtype):  # also pandas "str"
                key_df[c] = key_df[c].map(lambda v: v if not isinstance(v, str) else __import__("unicodedata").normalize("NFC", v))
        idx = pd.MultiIndex.from_frame(key_df) if len(self._by_cols) > 1 else pd.Index(key_df.iloc[:, 0])
        codes, uniques = pd.factorize(idx, sort=True, use_na_sentinel=self._by_dropna)
        codes = codes.astype(np.int64)
        if isinstance(uniques, pd.MultiIndex):
            key_table = uniques.to_frame(index=False)
            key_table.columns = list(self._by_cols)  # factorize drops the level names
        else:
            key_table = pd.DataFrame({self._by_cols[0]: np.asarray(uniques)})
        for c in self._by_cols:  # on the distinct keys only (cheap): 1 and "1" mixed is refused
            _check_key_types(key_table[c], c, EstimationError)
        D = len(key_table)
        codes = np.where(base & (codes >= 0), codes, -1)
        return codes, key_table, D

    def _run(self, stat: _Stat, ok, *, deff, level, single, ci_method=None, df=None, keys_var=None):
        dom, key_table, D = self._domain_codes(ok)
        # domain codes ignoring missing analysis values: they fix the degrees of freedom
        dom_df = self._domain_codes(np.ones(self._n, dtype=bool))[0] if not np.all(ok) else dom
        # R's nrow(design) of each domain: zero-weight rows included
        dom_rows = self._domain_codes(np.ones(self._n, dtype=bool), keep_zero=True)[0]
        counts = np.bincount(dom[dom >= 0], minlength=D)
        if key_table is None and counts[0] == 0:
            raise EstimationError(
                "the domain is empty: no respondent with non-missing "
                f"{stat.var_columns} is in it; check the subset or the missing values"
            )
        if key_table is not None:
            present = counts > 0
            if not present.any():
                raise EstimationError(
                    f"every domain of by({self._by_cols}) is empty: no respondent with a positive weight, a "
                    f"{'non-missing ' if self._by_dropna else ''}domain key and non-missing {stat.var_columns}; "
                    "check the missing values (na_rm=True, dropna=False) or the domain columns"
                )
            _warn_dropped_domains(key_table, present, self._by_cols, stat.var_columns)
            key_table = key_table[present].reset_index(drop=True)
            remap = np.full(D, -1)
            remap[present] = np.arange(present.sum())
            dom = np.where(dom >= 0, remap[np.maximum(dom, 0)], -1)
            dom_df = np.where(dom_df >= 0, remap[np.maximum(dom_df, 0)], -1)
            dom_rows = np.where(dom_rows >= 0, remap[np.maximum(dom_rows, 0)], -1)
            counts = counts[present]
            D = int(present.sum())
        res = self._estimate_stat(stat, dom, D)
        theta, var_diag, dfs, vcov_fn = res["theta"], res["var"], res["df"], res["vcov"]
        if dom_df is not dom:
            dfs = self._domain_df(dom_df, D)
        rows_all = np.bincount(dom_rows[dom_rows >= 0], minlength=D)
        # design effects
        deffs = None
        if deff:
            deffs = self._deff(stat, dom, D, theta, var_diag, deff)
        p = stat.p
        estimates, labels, key_rows = [], [], []
        key_records = key_table.to_dict("records") if key_table is not None else None  # once, not per row
        for d in range(D):
            for j in range(p):
                nm = stat.names[j]
                if key_table is not None:
                    kd = key_records[d]
                    dom_label = ", ".join(str(v) for v in kd.values())
                    label = dom_label if p == 1 else f"{dom_label}:{nm}"
                    row = dict(kd)
                    if p > 1:
                        row["variable"] = nm
                else:
                    label = nm
                    row = {"variable": nm} if keys_var is None else {"variable": keys_var, "level": nm.split("=", 1)[1]}
                est_val = float(theta[d, j])
                v = float(var_diag[d, j])
                dfd = float(dfs[d]) if df is None else float(df)
                interval = None
                method = "wald"
                if stat.kind == "proportion":
                    method = ci_method or "logit"
                    n_rows = int(rows_all[d])  # R's nrow(design) of the domain
                    interval, est_val = self._prop_interval_fn(
                        est_val, v, n_rows, method, stat, dom, d, dom_df, float(dfs[d])
                    )
                estimates.append(
                    make_estimate(
                        label,
                        est_val,
                        v,
                        dfd,
                        level=level,
                        ci_method=method,
                        n=int(counts[d]),
                        deff=None if deffs is None else float(deffs[d, j]),
                        statistic=stat.kind,
                        variance_method=self._variance_method,
                        interval=interval,
                    )
                )
                labels.append(label)
                key_rows.append(row)
        if single and key_table is None and p == 1:
            return estimates[0]
        table_df = float(np.min(dfs)) if len(dfs) else float("nan")
        return EstimateTable(
            estimates,
            pd.DataFrame(key_rows),
            labels,
            vcov_fn,
            df=table_df if key_table is not None else float(dfs[0]),
            level=level,
            variance_method=self._variance_method,
            replicates=res.get("replicates"),
            replicate_variance=res.get("replicate_variance"),
            function_method="delta",
        )

    def _prop_interval_fn(self, p, var, n, method, stat, dom, d, dom_all, degf_d):
        """Interval function of a proportion (and the point estimate R reports with it).

        ``n`` is the domain's row count (R's ``nrow(design)``) and ``degf_d`` its design
        df. The Korn–Graubard ("beta") interval always uses ``degf_d`` in its df
        adjustment, as R's ``svyciprop`` does whatever ``df`` is passed.
        """
        se = math.sqrt(var) if var >= 0 else float("nan")
        lik = None
        if method == "likelihood":
            lik, p = self._likelihood_interval(stat, dom, d, p, var, dom_all)

        def interval(level, df, _p=p, _se=se, _n=n, _m=method, _lik=lik, _g=degf_d):
            if _m == "beta" and 0 < _p < 1:
                df = _g
            return proportion_interval(_p, _se, df, level, _m, n=_n, likelihood=_lik)

        return interval, p

    def _likelihood_interval(self, stat, dom, d, p, var, dom_all):
        """Rao–Scott scaled profile-likelihood interval (R: ``svyciprop(method="likelihood")``).

        R fits the intercept-only quasibinomial ``svyglm`` with weights normalised to
        mean 1 over the domain's rows, ``w~ = w / mean(w)``, and inverts the profile
        deviance: the interval is ``{q : D(q) / phi <= t^2 * lambda}`` with

        * ``D(q) = 2 sum w~ [y log(p/q) + (1-y) log((1-p)/(1-q))]`` the binomial deviance
          difference,
        * ``phi`` the quasibinomial dispersion of ``summary.svyglm``: the design-weighted
          variance (with ``n/(n-1)``) of the Pearson residuals ``(y - p)/sqrt(p(1-p))``,
          which is exactly ``n/(n-1)`` (n = respondents in the domain),
        * ``lambda`` the design effect of the intercept: its design variance
          ``var(p)/(p(1-p))^2`` over its model variance ``1/(sum w~ p(1-p))``,
        * ``t`` the two-sided t quantile on the interval's df (Normal if infinite).

        R locates the limits on an FMM spline through a few profile points; the same grid
        and spline are used here (:func:`~happiness_index.estimators.profile_likelihood_logit_interval`),
        so the limits agree with R's to rounding rather than to the spline's ~1e-3. The point estimate is R's, the expit of the
        IRLS-fitted intercept (it agrees with the weighted mean to about 1e-8).

        With missing values and ``na_rm=True``, R 4.1.1's ``residuals.svyglm`` drops the
        missing rows twice when it aligns the Pearson residuals with the weights, so its
        dispersion (and hence the interval) departs from the formula above; we keep
        the documented formula (``phi = n/(n-1)``) in that case.

        Returns ``(interval(level, df) -> (low, high), estimate)``.
        """
        sel = dom == d
        w = self._w[sel]
        y = stat.Y[sel, stat.num[0]]
        all_rows = dom_all == d
        c = float(self._w[all_rows].mean()) if all_rows.any() else float(w.mean())
        wn = w / c
        p_fit = _irls_intercept_logit(y, wn)
        if not (0 < p < 1) or not var > 0:
            return None, p
        Wn = float(wn.sum())
        lam = (var / (p * (1 - p)) ** 2) * (Wn * p * (1 - p))
        # svyglm's Pearson residuals are (y - p)/sqrt(p(1-p)) (no weight factor), so their
        # design-weighted variance with the n/(n-1) factor is exactly n/(n-1)
        n = int((w != 0).sum())
        disp = n / (n - 1) if n > 1 else float("nan")

        beta_hat = math.log(p_fit / (1 - p_fit))
        std_err = math.sqrt(var) / (p * (1 - p))

        def dev_increase(b, _p=p_fit):
            q = float(special.expit(b))
            if not 0 < q < 1:
                return float("inf")
            return 2.0 * Wn * (p * math.log(_p / q) + (1 - p) * math.log((1 - _p) / (1 - q)))

        def interval(level, df, _lam=lam, _disp=disp, _n=n):
            if not np.isfinite(_disp):
                return (float("nan"), float("nan"))
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # NaN limits, not warnings
                return profile_likelihood_logit_interval(beta_hat, std_err, _lam, dev_increase, _disp, _n, level, df)

        return interval, p_fit

    # ------------------------------------------------------------ design effects
    def _deff(self, stat, dom, D, theta, var_diag, kind):
        """Design effect: design variance over the SRS variance of the same estimator (R's svymean deff)."""
        w = self._w
        sel = dom >= 0
        out = np.full((D, stat.p), np.nan)
        for j in range(stat.p):  # loop over the (few) statistics; each pass is grouped sums over rows
            y = stat.Y[:, stat.num[j]]
            total = stat.kind == "total"
            if stat.kind == "ratio":
                # R's svyratio: the deff of the total of r = (y - R x) / X_hat
                x = stat.Y[:, stat.den[j]]
                t_den = np.bincount(dom[sel], weights=(w * x)[sel], minlength=D)
                y = np.zeros(self._n)
                y[sel] = (stat.Y[sel, stat.num[j]] - theta[dom[sel], j] * x[sel]) / t_den[dom[sel]]
                total = True
            elif stat.kind not in ("mean", "proportion", "total"):
                return None
            vsrs = srs_variance(y, w, dom, D, total=total, replace=kind == "replace")
            with np.errstate(divide="ignore", invalid="ignore"):
                out[:, j] = var_diag[:, j] / vsrs
        return out

    # ------------------------------------------------------------ quantiles
    def quantile(
        self,
        x,
        p=0.5,
        rule: str = "math",
        ci_method: str = "woodruff",
        na_rm: bool = False,
        level: float = 0.95,
        df: float | None = None,
        interval_type: str = "mean",
    ):
        """Quantiles with Woodruff (or score) intervals, as R's ``svyquantile``.

        Parameters
        ----------
        x : str
            Numeric column.
        p : float or list of float
            Probabilities in [0, 1].
        rule : {"math", "school", "hf7"}, default "math"
            ``"math"`` (R default): the smallest value whose weighted CDF is >= p;
            ``"school"``: the average of the two values around p when the CDF hits p exactly;
            ``"hf7"``: weighted analogue of Hyndman & Fan type 7 (linear interpolation).
        ci_method : {"woodruff", "score"}, default "woodruff"
            Woodruff (1952): an interval for the CDF at the quantile (with ``interval_type``),
            mapped back through the inverse CDF. "score": inversion of the test of
            ``F(q) = p`` (Francisco & Fuller 1991).
        interval_type : {"mean", "beta", "xlogit", "asin", "quantile"}, default "mean"
            The proportion interval used on the CDF scale (R's ``interval.type``);
            "quantile" (replicate designs only) takes the SE from the replicate quantiles.
            As in R survey 4.1.1, replicate designs use "mean" for "beta"/"xlogit"/"asin".
        na_rm, level, df
            As in :meth:`proportion`.

        Returns
        -------
        Estimate or EstimateTable
            ``se`` is the interval width divided by twice the t quantile (R's convention).
            The default ``df`` is the design's (domain's) df after removing missing
            values, as ``svyquantile``. See :mod:`happiness_index.quantiles`.

        Raises
        ------
        EstimationError
            Unknown rule or interval type, ``p`` outside [0, 1], "score" on a replicate
            design, "quantile" on a Taylor design, missing values without ``na_rm``.
        """
        from .quantiles import estimate_quantiles

        return estimate_quantiles(self, x, p, rule=rule, ci_method=ci_method, na_rm=na_rm, level=level, df=df, interval_type=interval_type)


# ---------------------------------------------------------------------------
# SurveyDesign
# ---------------------------------------------------------------------------


class SurveyDesign(_EstimatorMixin):
    """A probability sample design analysed by Taylor linearization.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent. Never modified.
    weights : str, optional
        Name of the column of sampling weights (inverse inclusion probabilities). A
        Series or array is refused (:class:`DesignError`): add it to the data and pass
        its name, so the weights can never be misaligned with the rows. When None,
        weights are derived from ``fpc`` (``1 / Π_s n_s/N_s``) or, without fpc, all
        equal to 1. Zero weights are allowed: such rows are outside every domain but
        keep their PSU in the design (R's behaviour for subsets). Calibrated designs
        may carry negative weights (unbounded linear calibration); only zero weights
        put a row out of scope, as in R.
    strata : str, optional
        Stratum column (stage 1).
    psu : str or list of str, optional
        Cluster column(s), stage 1 first. None: every respondent is its own PSU.
        Later-stage units are always nested in their earlier-stage unit.
    fpc : str, number or list, optional
        One entry per stage: a column (or a constant) holding either the population
        count (number of PSUs in the stratum at stage 1; of units in the PSU at later
        stages) or the sampling fraction. Values all >= 1 are read as counts, all <= 1
        as fractions (N = n / f); a mix is an error. Without fpc, sampling is treated as
        with replacement at stage 1 and later stages add nothing; with an fpc for fewer
        stages than ``psu``, the later stages are taken as complete.
    nest : bool, default False
        True: PSU codes are unique only within a stratum (R's ``nest=TRUE``).
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}, default "fail"
        What to do with a stratum that has a single PSU (R's ``survey.lonely.psu``):
        "fail" raises :class:`LonelyPSUError` at variance time; "remove" and "certainty"
        give it no variance contribution; "adjust" centres it at zero (the grand mean of the
        influence values) instead of the stratum mean; "average" replaces it by the average
        of the other strata's contributions.
    adjust_domain_lonely : bool, default False
        R's ``survey.adjust.domain.lonely``: also apply ``lonely_psu`` when a stratum has
        several PSUs but only one contains members of the domain.

    Raises
    ------
    DesignError
        Unknown or duplicate columns; ``weights``/``strata``/``psu`` given as values
        instead of column names; missing, non-finite or negative weights; missing strata
        or PSU codes; a key column mixing numbers and text (1 and "1"); a PSU code in two
        strata without ``nest=True``; ``nest``/``adjust_domain_lonely`` not True/False;
        an fpc that varies within a stratum, mixes counts and fractions, or is smaller
        than the sampled count; an infinite fpc without ``weights``.

    Notes
    -----
    ``df`` is the number of PSUs minus the number of strata (R's ``degf``). Intervals use
    t quantiles on ``df``; domains use their own df (PSUs with domain members minus their
    strata).

    Examples
    --------
    >>> import happiness_index as hi
    >>> d = hi.SurveyDesign(df, weights="pw", strata="stype", fpc="fpc")   # doctest: +SKIP
    >>> d.mean("api00").se                                                  # doctest: +SKIP
    9.402772

    References
    ----------
    Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
    Särndal, C.-E., Swensson, B. & Wretman, J. (1992). *Model Assisted Survey Sampling*.
    Springer (multistage variance; Taylor linearisation).
    """

    _variance_method = "taylor"

    def __init__(
        self,
        data: pd.DataFrame,
        weights: str | None = None,
        strata: str | None = None,
        psu=None,
        fpc=None,
        nest: bool = False,
        lonely_psu: str = "fail",
        adjust_domain_lonely: bool = False,
    ):
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if len(data) == 0:
            raise DesignError("data has no rows")
        if not isinstance(lonely_psu, str) or lonely_psu not in LONELY_RULES:
            raise DesignError(f"lonely_psu={lonely_psu!r} is not a rule; use one of {LONELY_RULES}")
        _check_duplicate_columns(data)
        for what, arg in (("weights", weights), ("strata", strata)):
            if isinstance(arg, (pd.Series, pd.DataFrame, np.ndarray, list, tuple)):
                raise DesignError(
                    f"{what}= takes a column name, not a {type(arg).__name__}; add the values to the data "
                    f"(data = data.assign({what}_col=values)) and pass {what}='{what}_col'"
                )
        for arg in _as_list(psu):
            if isinstance(arg, (pd.Series, pd.DataFrame, np.ndarray, list, tuple)):
                raise DesignError(
                    f"psu= takes column names, not a {type(arg).__name__}; add the cluster codes to the data "
                    "and pass the column name"
                )
        nest = _check_bool(nest, "nest")
        adjust_domain_lonely = _check_bool(adjust_domain_lonely, "adjust_domain_lonely")
        self._data = data
        self._n = len(data)
        self.weights_column = weights
        self.strata_column = strata
        self.psu_columns = _as_list(psu)
        self.fpc_spec = fpc
        self.nest = bool(nest)
        self.lonely_psu = lonely_psu
        self.adjust_domain_lonely = bool(adjust_domain_lonely)
        self._domain = None
        self._adjusters: tuple = ()
        self._reweighted = False
        self._build()

    # ------------------------------------------------------------ construction
    def _build(self) -> None:
        data, n = self._data, self._n
        for c in [self.weights_column, self.strata_column, *self.psu_columns]:
            if c is not None:
                _check_column(data, c, "design")
        # strata
        if self.strata_column is not None:
            s = data[self.strata_column]
            if s.isna().any():
                raise DesignError(
                    f"strata column {self.strata_column!r} has missing values at rows "
                    f"{describe_rows(data.index[s.isna()])}; every respondent needs a stratum"
                )
            s = s.map(lambda v: __import__("unicodedata").normalize("NFC", v) if isinstance(v, str) else v)
            strat_codes, strat_labels = _codes(s)
            _check_key_types(pd.Series(strat_labels, dtype=object), self.strata_column)
        else:
            strat_codes, strat_labels = np.zeros(n, dtype=np.int64), np.array(["(all)"], dtype=object)
        # clusters per stage
        cluster_arrays = []
        for c in self.psu_columns:
            v = data[c]
            if v.isna().any():
                raise DesignError(
                    f"PSU column {c!r} has missing values at rows {describe_rows(data.index[v.isna()])}; "
                    "every respondent needs a cluster code"
                )
            cluster_arrays.append(v.to_numpy())
        if not cluster_arrays:
            cluster_arrays = [np.arange(n)]
            self._ultimate_rows = True
        else:
            self._ultimate_rows = False
        # stage-1 nesting check
        c1_codes, c1_labels = _codes(cluster_arrays[0])
        if self.strata_column is not None and not self.nest:
            per = pd.DataFrame({"c": c1_codes, "s": strat_codes}).drop_duplicates()
            multi = per.groupby("c")["s"].nunique()
            bad = multi[multi > 1].index.to_numpy()
            if len(bad):
                labs = [c1_labels[b] for b in bad]
                raise DesignError(
                    f"PSU codes {describe_rows(labs)} of column {self.psu_columns[0]!r} appear in more than one "
                    f"stratum of {self.strata_column!r}: clusters are not nested in strata. If the codes are "
                    "only unique within a stratum (1, 2, 3 in every stratum), pass nest=True."
                )
        # build nested cluster codes per stage (stage s unit = (stratum, c1, ..., cs))
        stage_codes = []
        prev = strat_codes
        for c, arr in zip(self.psu_columns or ["row"], cluster_arrays):
            a_codes, a_labels = _codes(arr)
            if arr.dtype == object:
                _check_key_types(pd.Series(a_labels, dtype=object), c)
            combo = prev.astype(np.int64) * (a_codes.max() + 1) + a_codes
            codes, _ = _codes(combo)
            stage_codes.append(codes)
            prev = codes
        self._stage_labels = [np.asarray(arr) for arr in cluster_arrays]
        # fpc
        fpc_list = _as_list(self.fpc_spec) if not isinstance(self.fpc_spec, (int, float)) else [self.fpc_spec]
        if len(fpc_list) > len(stage_codes):
            raise DesignError(
                f"fpc has {len(fpc_list)} stages but psu has {len(stage_codes)}; give one fpc per sampling stage"
            )
        fpc_vals = []
        for i, spec in enumerate(fpc_list):
            if isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
                vals = np.full(n, float(spec))
                name = f"fpc (constant {spec})"
            else:
                _check_column(data, spec, "fpc")
                col = data[spec]
                if not pd.api.types.is_numeric_dtype(col):
                    raise DesignError(f"fpc column {spec!r} must be numeric (population counts or sampling fractions)")
                vals = col.to_numpy(dtype="float64", na_value=np.nan)
                name = repr(spec)
                if np.isnan(vals).any():
                    raise DesignError(f"fpc column {spec!r} has missing values at rows {describe_rows(data.index[np.isnan(vals)])}")
            if np.isneginf(vals).any() or (vals <= 0).any():
                raise DesignError(f"fpc {name} has zero or negative values at rows {describe_rows(data.index[vals <= 0])}")
            fpc_vals.append((vals, name))
        if fpc_vals:
            allv = np.concatenate([v for v, _ in fpc_vals])
            is_count = bool((allv > 1).any())
            if is_count and (allv < 1).any():
                raise DesignError(
                    "fpc mixes population counts (> 1) and sampling fractions (< 1); give all stages the same kind"
                )
        else:
            is_count = True
        self.fpc_kind = None if not fpc_vals else ("population count" if is_count else "sampling fraction")
        # stages
        stages: list[_Stage] = []
        mult_row = np.ones(n)
        probs = np.ones(n)
        stratum_row = strat_codes
        stratum_lab = strat_labels
        for s, ccodes in enumerate(stage_codes):
            H = int(stratum_row.max()) + 1
            C = int(ccodes.max()) + 1
            first = np.unique(ccodes, return_index=True)[1]
            cl_stratum = np.empty(C, dtype=np.int64)
            cl_stratum[ccodes[first]] = stratum_row[first]
            npsu = np.bincount(cl_stratum, minlength=H).astype(float)
            if s < len(fpc_vals):
                vals, name = fpc_vals[s]
                # constant within stratum?
                df_ = pd.DataFrame({"h": stratum_row, "v": vals})
                nun = df_.groupby("h")["v"].nunique()
                if (nun > 1).any():
                    bad_h = nun[nun > 1].index[:5]
                    what = "stratum" if s == 0 else f"stage-{s} unit"
                    labs = [stratum_lab[h] if s == 0 else h for h in bad_h]
                    raise DesignError(
                        f"fpc {name} varies within a {what} ({describe_rows(labs)}); the population size must be "
                        "the same for every respondent of a stratum"
                    )
                h_val = np.zeros(H)
                h_val[stratum_row] = vals
                if is_count:
                    Npop = h_val
                else:
                    Npop = npsu / h_val
                too_small = Npop < npsu - 1e-9
                if too_small.any():
                    bad_h = np.flatnonzero(too_small)[:5]
                    labs = [str(stratum_lab[h]) if s == 0 else str(h) for h in bad_h]
                    raise DesignError(
                        f"fpc {name} is smaller than the number of sampled units at stage {s + 1} in "
                        f"{'strata' if s == 0 else 'units'} {labs} (population {Npop[bad_h].tolist()} < sampled "
                        f"{npsu[bad_h].tolist()}): the fpc must be the population count N_h >= n_h, or a fraction"
                    )
                with np.errstate(invalid="ignore", divide="ignore"):
                    f = np.where(np.isinf(Npop), 1.0, (Npop - npsu) / Npop)
                    frac = npsu / Npop
            elif fpc_vals:
                f = np.zeros(H)  # complete sampling at stages without fpc
                frac = np.ones(H)
            else:
                f = np.ones(H)
                frac = np.ones(H)
            mult_h = np.zeros(H)
            mult_h[stratum_row] = mult_row
            stages.append(
                _Stage(
                    stratum=stratum_row,
                    cluster=ccodes,
                    n_strata=H,
                    n_clusters=C,
                    cluster_stratum=cl_stratum,
                    npsu=npsu,
                    f=f,
                    mult=mult_h,
                    frac=frac,
                    stratum_labels=np.asarray(stratum_lab, dtype=object),
                    cluster_labels=np.arange(C),
                )
            )
            probs = probs * frac[stratum_row]
            mult_row = mult_row * frac[stratum_row]
            stratum_row = ccodes
            # later stages are "stratified" by the units of this stage: label them by their codes
            first_rows = np.unique(ccodes, return_index=True)[1]
            cols_so_far = self.psu_columns[: s + 1] if self.psu_columns else ["row"]
            arrays_so_far = cluster_arrays[: s + 1]
            stratum_lab = np.array(
                [
                    ", ".join(f"{c}={a[i]}" for c, a in zip(cols_so_far, arrays_so_far))
                    for i in first_rows
                ],
                dtype=object,
            )
            if not fpc_vals:
                break  # with replacement: later stages never enter the variance
        self._stages = stages
        self._all_stage_codes = stage_codes
        # weights
        if self.weights_column is not None:
            wcol = data[self.weights_column]
            if not pd.api.types.is_numeric_dtype(wcol):
                raise DesignError(f"weights column {self.weights_column!r} must be numeric, it is {wcol.dtype}")
            w = wcol.to_numpy(dtype="float64", na_value=np.nan)
            bad = ~np.isfinite(w)
            if bad.any():
                raise DesignError(
                    f"weights column {self.weights_column!r} has missing or infinite values at rows "
                    f"{describe_rows(data.index[bad])}; every respondent needs a finite weight"
                )
            if (w < 0).any():
                raise DesignError(
                    f"weights column {self.weights_column!r} has negative values at rows "
                    f"{describe_rows(data.index[w < 0])}; weights are inverse inclusion probabilities and must be > 0"
                )
            if not (w > 0).any():
                raise DesignError(f"all weights in {self.weights_column!r} are zero")
        elif fpc_vals:
            if not (probs > 0).all():
                raise DesignError(
                    "weights cannot be derived from an infinite fpc (an infinite population gives a zero "
                    "inclusion probability); pass weights= explicitly"
                )
            w = 1.0 / probs
        else:
            w = np.ones(n)
        self._w = w
        self._fine = stage_codes[-1] if fpc_vals else stage_codes[0]
        self._n_fine = int(self._fine.max()) + 1

    # ------------------------------------------------------------ properties
    @property
    def df(self) -> float:
        """Design degrees of freedom: PSUs minus strata (of the domain, for a subset design).

        PSUs whose respondents all have weight zero are not counted, as R's ``degf``
        (``weights != 0``), so the design's df equals the df of its estimates.
        """
        st = self._stages[0]
        m = self._domain_mask()
        if self._domain is None and m.all():
            return float(st.n_clusters - st.n_strata)
        cl = np.unique(st.cluster[m])
        return float(len(cl) - len(np.unique(st.cluster_stratum[cl])))

    def _with_domain(self, mask: np.ndarray) -> "SurveyDesign":
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._domain = mask
        return new

    _UPDATE_NAMES = ("data", "weights", "strata", "psu", "fpc", "nest", "lonely_psu", "adjust_domain_lonely")

    def update(self, **kw) -> "SurveyDesign":
        """A new design with some attributes replaced (``weights``, ``lonely_psu``, ...).

        The design is immutable: calibration and changes of rule return new objects.

        Parameters
        ----------
        **kw
            Any of ``data``, ``weights``, ``strata``, ``psu``, ``fpc``, ``nest``,
            ``lonely_psu``, ``adjust_domain_lonely`` (the constructor's arguments).

        Returns
        -------
        SurveyDesign
            Changing only ``lonely_psu``/``adjust_domain_lonely`` copies this design and
            keeps its weights, calibration adjusters and domain (the rules act at
            variance time only). Other changes rebuild the design from the data.

        Raises
        ------
        DesignError
            An unknown name; a change other than the lonely-PSU rules on a calibrated
            (or otherwise re-weighted) design, whose calibration would be silently lost:
            re-run the calibration on the new design instead.
        """
        unknown = [k for k in kw if k not in self._UPDATE_NAMES]
        if unknown:
            raise DesignError(f"update() does not know {unknown}; it accepts {list(self._UPDATE_NAMES)}")
        if kw and set(kw) <= {"lonely_psu", "adjust_domain_lonely"}:
            new = object.__new__(type(self))
            new.__dict__.update(self.__dict__)
            if "lonely_psu" in kw:
                if not isinstance(kw["lonely_psu"], str) or kw["lonely_psu"] not in LONELY_RULES:
                    raise DesignError(f"lonely_psu={kw['lonely_psu']!r} is not a rule; use one of {LONELY_RULES}")
                new.lonely_psu = kw["lonely_psu"]
            if "adjust_domain_lonely" in kw:
                new.adjust_domain_lonely = _check_bool(kw["adjust_domain_lonely"], "adjust_domain_lonely")
            return new
        if getattr(self, "_reweighted", False) or self._adjusters:
            raise DesignError(
                f"update({', '.join(kw)}) on a calibrated (re-weighted) design would rebuild it from the data and "
                "lose the calibrated weights. Update the original design, then re-run the calibration on the new "
                "design (only lonely_psu and adjust_domain_lonely can be changed in place)"
            )
        args = dict(
            weights=self.weights_column,
            strata=self.strata_column,
            psu=self.psu_columns or None,
            fpc=self.fpc_spec,
            nest=self.nest,
            lonely_psu=self.lonely_psu,
            adjust_domain_lonely=self.adjust_domain_lonely,
        )
        data = kw.pop("data", self._data)
        args.update(kw)
        return SurveyDesign(data, **args)

    def _with_weights(self, w: np.ndarray, adjuster=None) -> "SurveyDesign":
        """Internal: a copy with new analysis weights and, optionally, one more influence adjuster."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._w = np.asarray(w, dtype=float)
        new._reweighted = True
        if adjuster is not None:
            new._adjusters = self._adjusters + (adjuster,)
        return new

    def __repr__(self) -> str:
        st = self._stages[0]
        return (
            f"SurveyDesign(n={self._n}, strata={st.n_strata if self.strata_column else 'none'}, "
            f"PSUs={st.n_clusters}, stages={len(self._all_stage_codes)}, df={self.df:g}, "
            f"fpc={self.fpc_kind or 'none (with replacement)'}, lonely_psu={self.lonely_psu!r})"
        )

    # ------------------------------------------------------------ the engine
    def _domain_df(self, dom: np.ndarray, D: int) -> np.ndarray:
        st = self._stages[0]
        sel = dom >= 0
        pairs = _unique_codes(st.cluster[sel] * D + dom[sel], st.n_clusters * D)
        cl = pairs // D
        dd = pairs % D
        n_cl = np.bincount(dd, minlength=D)
        spairs = np.unique(st.cluster_stratum[cl] * D + dd)
        n_st = np.bincount(spairs % D, minlength=D)
        return (n_cl - n_st).astype(float)

    def _estimate_stat(self, stat: _Stat, dom: np.ndarray, D: int) -> dict:
        w = self._w
        sel = dom >= 0
        idx = np.flatnonzero(sel)
        # all rows in: no fancy-index copy of Y; the weights enter through the group-sum
        # indicator, so w·Y (n × k) is only built for calibrated designs (influence_rows)
        allrows = len(idx) == self._n
        Ysel = stat.Y if allrows else stat.Y[idx]
        wsel = w if allrows else w[idx]
        # (finest cluster, domain) pair sums: the one pass over the rows; totals from them
        key = self._fine[idx] * D + dom[idx]
        ukey, inv = _unique_codes(key, self._n_fine * D, return_inverse=True)
        S = _group_sum(inv, len(ukey), Ysel, wsel)  # (G, k)
        pd_ = ukey % D
        pf = ukey // D
        t = _group_sum(pd_, D, S)  # (D, k)
        _check_totals_finite(t, stat)
        theta = _thetas(t, stat)  # (D, p)
        if not np.all(np.isfinite(theta)):
            bad = np.flatnonzero(~np.isfinite(theta).all(axis=1))
            raise EstimationError(
                f"the estimate is undefined in {len(bad)} domain(s) (zero weighted denominator: the "
                "domain has no weight, or the ratio's denominator totals 0)"
            )
        dfs = self._domain_df(dom, D)

        def influence_rows():
            """Row-level linearised values (n × D·p), zero outside each domain."""
            Z = np.zeros((self._n, D * stat.p))
            WY = Ysel * wsel[:, None]
            for j in range(stat.p):
                s_num = WY[:, stat.num[j]]
                if stat.den[j] >= 0:
                    s_den = WY[:, stat.den[j]]
                    z = (s_num - theta[dom[idx], j] * s_den) / t[dom[idx], stat.den[j]]
                else:
                    z = s_num
                Z[idx, dom[idx] * stat.p + j] = z
            return Z

        if self._adjusters:
            Z = influence_rows()
            for adj in self._adjusters:
                Z = adj(Z)
            fine_vals = Z
            levels = ("rows", None)
        else:
            # linearise at the (finest cluster, domain) pairs
            G = len(ukey)
            Zp = np.empty((G, stat.p))
            for j in range(stat.p):
                if stat.den[j] >= 0:
                    Zp[:, j] = (S[:, stat.num[j]] - theta[pd_, j] * S[:, stat.den[j]]) / t[pd_, stat.den[j]]
                else:
                    Zp[:, j] = S[:, stat.num[j]]
            fine_vals = (pf, pd_, Zp)
            levels = ("pairs", None)

        def variance(full: bool):
            return self._taylor(fine_vals, levels[0], dom, D, stat.p, full)

        with np.errstate(over="ignore", invalid="ignore"):
            var_diag = variance(False)
        _check_variance_finite(var_diag, stat)

        def vcov():
            return variance(True)

        return {"theta": theta, "var": var_diag, "df": dfs, "vcov": vcov}

    def influence_vcov(self, influence, domain=None) -> np.ndarray:
        """Design covariance of a linearised statistic from its weighted influence values.

        The public hook of the variance engine for statistics the design's own estimators
        do not cover (regression coefficients, model-based composites): Taylor linearization
        over the design's stages, with the strata, fpc, lonely-PSU rule and any calibration
        adjustment of this design, as R's ``svyrecvar``.

        Parameters
        ----------
        influence : array-like, shape (n,) or (n, p)
            Weighted influence values, one row per row of ``design.data`` (already multiplied
            by the analysis weight), so that the linearised statistic is their column sum.
            Rows outside ``domain`` must be 0.
        domain : array-like of bool, shape (n,), optional
            Rows in the domain; PSUs with no domain rows still count (domain estimation on
            the full design). Default: this design's own domain (all rows with non-zero weight).

        Returns
        -------
        numpy.ndarray, shape (p, p)
            The covariance matrix.

        Raises
        ------
        EstimationError
            ``influence`` has the wrong number of rows or holds non-finite values.
        LonelyPSUError
            A stratum has one PSU under ``lonely_psu="fail"``.

        References
        ----------
        Lumley, T. (2010). *Complex Surveys*, Wiley, §2.2 and appendix C (svyrecvar).
        """
        Z = np.asarray(influence, dtype=float)
        Z = Z[:, None] if Z.ndim == 1 else Z
        if Z.ndim != 2 or Z.shape[0] != self._n:
            raise EstimationError(
                f"influence values need one row per row of the design's data ({self._n}); got shape {Z.shape}"
            )
        if not np.isfinite(Z).all():
            raise EstimationError("influence values hold NaN or infinite entries: drop or fix those rows first")
        mask = self._domain_mask() if domain is None else (np.asarray(domain, dtype=bool) & (self._w != 0))
        dom = np.where(mask, 0, -1)
        for adj in self._adjusters:
            Z = adj(Z)
        with np.errstate(over="ignore", invalid="ignore"):
            return self._taylor(Z, "rows", dom, 1, Z.shape[1], True)

    def _taylor(self, fine_vals, level: str, dom: np.ndarray, D: int, p: int, full: bool):
        """Linearised variance from fine-level influence values.

        Returns (D, p) variances, or the full (D·p × D·p) covariance when ``full``.
        """
        q = D * p
        total = np.zeros((q, q)) if full else np.zeros(q)
        for s, st in enumerate(self._stages):
            if s > 0 and np.all(st.f < _SELF_REP_TOL):
                continue
            flags = self._stage_flags(st, s, dom, D)
            if level == "rows":
                Z = fine_vals  # (n, q)
                T = _group_sum(st.cluster, st.n_clusters, Z)  # (C, q)
                total = total + self._stage_var(st, T, D, p, full, flags)
                continue
            pf, pdm, Zp = fine_vals
            # map finest cluster -> stage cluster
            fine_to_stage = np.empty(self._n_fine, dtype=np.int64)
            fine_to_stage[self._fine] = st.cluster
            cs = fine_to_stage[pf]
            if not full:
                # variances only: work on the (cluster, domain) pairs that occur, never on a
                # dense clusters x domains array (SRS designs with many domains stay small)
                total = total + self._stage_var_pairs(st, cs, pdm, Zp, D, p, flags)
                continue
            T = np.zeros((st.n_clusters, q))
            # scatter (cluster, domain) sums into dense columns
            cols = pdm[:, None] * p + np.arange(p)[None, :]
            np.add.at(T, (np.repeat(cs, p), cols.ravel()), Zp.ravel())
            total = total + self._stage_var(st, T, D, p, full, flags)
        if full:
            return total
        return total.reshape(D, p)

    def _stage_flags(self, st: _Stage, s: int, dom: np.ndarray, D: int):
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
        pairs = _unique_codes(st.cluster[sel] * D + dom[sel], st.n_clusters * D)
        pc, pdd = pairs // D, pairs % D
        nsub = np.zeros((H, D))
        np.add.at(nsub, (st.cluster_stratum[pc], pdd), 1)
        present = nsub > 0  # stratum has domain rows
        npsu = st.npsu
        f = st.f
        selfrep = f < _SELF_REP_TOL
        lonely = (npsu == 1) & ~selfrep
        rule = self.lonely_psu
        if lonely.any() and rule == "fail":
            bad = lonely[:, None] & present
            bad_h = np.flatnonzero(bad.any(axis=1))
            if len(bad_h):
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
        # centring and NA (average) flags per (h, d)
        centre = np.ones((H, D), dtype=bool)
        na = np.zeros((H, D), dtype=bool)
        if rule == "adjust":
            centre[lonely, :] = False
        if rule == "average" and s == 0:
            na[lonely, :] = True
        dom_lonely = (nsub == 1) & (npsu[:, None] > 1) & self.adjust_domain_lonely
        if dom_lonely.any():
            hs, ds = np.nonzero(dom_lonely & ~selfrep[:, None])
            if len(hs):
                warnings.warn(
                    f"{len(hs)} stratum-domain combination(s) have only one PSU with domain members "
                    f"(e.g. stratum {st.stratum_labels[hs[0]]}); lonely_psu={rule!r} applied",
                    LonelyPSUWarning,
                    stacklevel=6,
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
        return centre, na, scale, ratio

    def _stage_var(self, st: _Stage, T: np.ndarray, D: int, p: int, full: bool, flags):
        """One stage's variance from dense cluster totals T (C × D·p): diagonal or full matrix."""
        centre, na, scale, ratio = flags
        H = st.n_strata
        npsu = st.npsu
        col_dom = np.repeat(np.arange(D), p)  # column = d*p + j
        sums = _group_sum(st.cluster_stratum, H, T)  # (H, q)
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

    def _stage_var_pairs(self, st: _Stage, cs: np.ndarray, pdm: np.ndarray, Zp: np.ndarray, D: int, p: int, flags):
        """One stage's variances (D·p,) from (cluster, domain) pair sums, without dense arrays.

        For stratum h and domain d with mean ``mu = S_hd / n_h`` over all ``n_h`` PSUs (those
        without domain members count as zeros), ``sum_c (T_c - mu)^2`` equals the sum over the
        PSUs that have members plus ``(n_h - k_hd) mu^2`` for the ``n_h - k_hd`` empty ones.
        """
        centre, na, scale, ratio = flags
        H = st.n_strata
        key = cs * D + pdm
        ukey, inv = _unique_codes(key, st.n_clusters * D, return_inverse=True)
        Tk = _group_sum(inv, len(ukey), Zp)  # (K, p) stage-cluster x domain totals
        hk = st.cluster_stratum[ukey // D]
        hd = hk * D + ukey % D  # (stratum, domain) block of each total
        S = _group_sum(hd, H * D, Tk)  # (H*D, p)
        npsu_hd = np.repeat(st.npsu, D)
        mu = S / npsu_hd[:, None]
        mu = np.where(centre.ravel()[:, None], mu, 0.0)
        dev = Tk - mu[hd]
        ss = _group_sum(hd, H * D, dev * dev)
        k_hd = np.bincount(hd, minlength=H * D)
        ss = ss + (npsu_hd - k_hd)[:, None] * mu * mu
        ss = np.where(na.ravel()[:, None], 0.0, ss)
        v = np.einsum("hdp,h->dp", ss.reshape(H, D, p), scale) * ratio[:, None]
        return v.reshape(-1)

    # ------------------------------------------------------------ replicates
    def to_replicates(
        self,
        method: str = "auto",
        replicates: int | None = None,
        seed: int | None = None,
        rho: float | None = None,
    ) -> "ReplicateDesign":
        """Replicate-weight version of this design.

        Parameters
        ----------
        method : {"auto", "jk1", "jkn", "brr", "fay", "bootstrap"}, default "auto"
            "auto": JK1 for an unstratified design, JKn for a stratified one (R's
            ``as.svrepdesign`` default). JK1 (unstratified delete-one-PSU jackknife), JKn (stratified jackknife with
            per-stratum factors ``(n_h - 1)/n_h``), BRR (balanced half-samples from a
            Hadamard matrix; needs exactly 2 PSUs per stratum; ``rho`` gives Fay's method),
            bootstrap (Rao & Wu 1988 rescaling: ``n_h - 1`` PSUs drawn with replacement per
            stratum).
        replicates : int, optional
            Number of bootstrap replicates (default 200, at least 2). Ignored by jackknife and BRR.
        seed : int, optional
            Non-negative integer seed for the bootstrap.
        rho : float, optional
            Fay's coefficient in [0, 1) for "brr"/"fay" (R's ``fay.rho``).

        Returns
        -------
        ReplicateDesign
            Multipliers are kept at the PSU level (C × R); respondent-level replicate
            weights are never materialised.

        Raises
        ------
        DesignError
            JK1 on a stratified design, BRR with other than 2 PSUs per stratum, an unknown
            method, a ``seed`` or ``replicates`` that is not a whole number (``"a"``,
            2.5), or a lonely PSU under ``lonely_psu="fail"``.

        References
        ----------
        Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer, ch. 3-5.
        Rao, J. N. K. & Wu, C. F. J. (1988). Resampling inference with complex survey data.
        *JASA* 83, 231-241.
        """
        from .replicates import build_replicates

        return build_replicates(self, method=method, replicates=replicates, seed=seed, rho=rho)


# ---------------------------------------------------------------------------
# ReplicateDesign
# ---------------------------------------------------------------------------


class ReplicateDesign(_EstimatorMixin):
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
        _check_duplicate_columns(data)
        self._data = data
        self._n = len(data)
        if isinstance(weights, (pd.Series, pd.DataFrame, np.ndarray, list, tuple)):
            raise DesignError(
                f"weights= takes a column name, not a {type(weights).__name__}; add the values to the data "
                "(data = data.assign(w=values)) and pass weights='w'"
            )
        _check_column(data, weights, "weights")
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
                _check_column(data, c, "replicate weight")
            bad_cols = [c for c in replicate_weights if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_complex_dtype(data[c])]
            if bad_cols:
                raise DesignError(
                    f"replicate weight columns {bad_cols} are not numeric (dtype {data[bad_cols[0]].dtype}); "
                    "convert them with pd.to_numeric"
                )
            W = data[list(replicate_weights)].to_numpy(dtype="float64", na_value=np.nan)
            self.replicate_columns = list(replicate_weights)
        elif isinstance(replicate_weights, pd.DataFrame):
            rw = replicate_weights
            if not rw.index.equals(data.index):
                if rw.index.has_duplicates or data.index.has_duplicates or set(rw.index) != set(data.index):
                    extra = rw.index.difference(data.index)[:5].tolist() if not rw.index.has_duplicates else []
                    raise DesignError(
                        "the replicate weights DataFrame's row labels do not match the data's "
                        f"({'duplicate labels' if rw.index.has_duplicates or data.index.has_duplicates else f'e.g. labels {extra} not in the data'}); "
                        "give both the same index (or pass a numpy array in the data's row order)"
                    )
                rw = rw.reindex(data.index)  # same labels, another order: align by label
            bad_cols = [c for c in rw.columns if not pd.api.types.is_numeric_dtype(rw[c]) or pd.api.types.is_complex_dtype(rw[c])]
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
            names = [self.replicate_columns[j] for j in zero[:10]] if self.replicate_columns else (zero[:10] + 1).tolist()
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
        mse = _check_bool(mse, "mse")
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
    def _from_multipliers(cls, design: SurveyDesign, A: np.ndarray, cluster: np.ndarray, method, scale, rscales, rho=None, mse=False):
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

    def _with_weights(self, w: np.ndarray, W: np.ndarray) -> "ReplicateDesign":
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
    def _replicate_totals(self, WYfactor: np.ndarray, idx: np.ndarray, dom_idx: np.ndarray, D: int) -> np.ndarray:
        """Totals of Y per replicate and domain: (R, D, k). WYfactor = Y[idx] (unweighted)."""
        k = WYfactor.shape[1]
        m = len(idx)
        if self._A is not None:
            # aggregate w*Y to (cluster, domain) sums first (one sparse product over the rows),
            # then multiply the small (D*k × C) matrix by the PSU multipliers (C × R): no
            # n*k-entry sparse matrix, no n × R weights
            C = self._A.shape[0]
            key = self._cluster[idx] * D + dom_idx
            wi = self._w[idx]
            if C * D <= 4 * m + 1024:
                S = _group_sum(key, C * D, WYfactor, wi)  # (C*D, k), row c*D + d
                M = S.reshape(C, D * k).T  # (D*k, C), row d*k + j
            else:
                ukey, inv = np.unique(key, return_inverse=True)
                S = _group_sum(inv, len(ukey), WYfactor, wi)  # (G, k)
                g_rows = ((ukey % D)[:, None] * k + np.arange(k)[None, :]).ravel()
                g_cols = np.repeat(ukey // D, k)
                M = sparse.csr_matrix((S.ravel(), (g_rows, g_cols)), shape=(D * k, C))
            out = M @ self._A  # (D*k, R)
        else:
            rows = (dom_idx[:, None] * k + np.arange(k)[None, :]).ravel()
            vals = WYfactor.ravel()
            cols = np.repeat(idx, k)
            M = sparse.csr_matrix((vals, (rows, cols)), shape=(D * k, self._n))
            out = M @ self._W
        out = np.asarray(out)
        return out.T.reshape(-1, D, k)

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
            raise EstimationError(
                f"need one estimate per replicate ({len(self.rscales)} rows); got shape {reps.shape}"
            )
        full = np.atleast_1d(np.asarray(estimate, dtype=float))
        with np.errstate(over="ignore", invalid="ignore"):
            return self._rep_variance(reps, full)

    def _rep_variance(self, reps: np.ndarray, full_est: np.ndarray) -> np.ndarray:
        """scale * sum_r rscales_r (theta_r - c)(theta_r - c)^T for reps (R × q)."""
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
        # discard undefined replicates column by column (R's svrVar on each domain of
        # svyby): column j uses its finite replicates, centred on their mean; a covariance
        # uses the replicates finite in both columns; a column with none gets NaN
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

    def _domain_df(self, dom, D):
        return np.full(D, self.df)

    def _estimate_stat(self, stat: _Stat, dom: np.ndarray, D: int) -> dict:
        w = self._w
        sel = dom >= 0
        idx = np.flatnonzero(sel)
        Ysel = stat.Y if len(idx) == self._n else stat.Y[idx]
        t = _group_sum(dom[idx], D, Ysel, w[idx])
        _check_totals_finite(t, stat)
        theta = _thetas(t, stat)
        if not np.all(np.isfinite(theta)):
            raise EstimationError(
                "the estimate is undefined in a domain (zero weighted denominator: the domain has no weight, or the "
                "ratio's denominator totals 0)"
            )
        T = self._replicate_totals(Ysel, idx, dom[idx], D)  # (R, D, k)
        reps = _thetas(T.reshape(-1, stat.Y.shape[1]), stat).reshape(T.shape[0], D * stat.p)
        full = theta.reshape(-1)
        # variance of each column, discarding NaN replicates column-wise
        with np.errstate(over="ignore", invalid="ignore"):
            V = self._rep_variance(reps, full)
        var_diag = np.diag(V).reshape(D, stat.p)
        _check_variance_finite(var_diag, stat)
        full_cov = V

        return {
            "theta": theta,
            "var": var_diag,
            "df": self._domain_df(dom, D),
            "vcov": lambda: full_cov,
            "replicates": reps,
            "replicate_variance": self._rep_variance,
        }


# ---------------------------------------------------------------------------
# domains
# ---------------------------------------------------------------------------


class DomainView(_EstimatorMixin):
    """Estimators evaluated in every domain defined by one or more columns.

    Created by ``design.by(columns)``; each estimator returns an :class:`EstimateTable`
    with one row per domain (and per variable or category), estimated on the full design
    (zero influence outside the domain) with each domain's own degrees of freedom, and
    a covariance matrix across domains (for contrasts such as year-on-year changes).
    """

    def __init__(self, design, columns: list, dropna: bool):
        self._design = design
        self._by_cols = list(columns)
        self._by_dropna = bool(dropna)

    def __getattr__(self, name):
        # delegate engine internals to the underlying design
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._design, name)

    @property
    def _data(self):
        return self._design._data

    @property
    def _n(self):
        return self._design._n

    @property
    def _w(self):
        return self._design._w

    def _domain_mask(self):
        return self._design._domain_mask()

    def _estimate_stat(self, stat, dom, D):
        return self._design._estimate_stat(stat, dom, D)

    @property
    def _variance_method(self):
        return self._design._variance_method

    def _run(self, stat, ok, **kw):
        kw["single"] = False
        return _EstimatorMixin._run(self, stat, ok, **kw)
