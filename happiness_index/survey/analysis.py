"""The estimator front end shared by every design: analysis variables, domains, estimators.

:class:`DesignEstimators` gives :class:`~happiness_index.survey.design.SurveyDesign`,
:class:`~happiness_index.survey.replicates.ReplicateDesign` and :class:`DomainView`
the same verbs — ``mean``, ``total``, ``proportion``, ``ratio``, ``quantile``,
``effective_n``, ``by``, ``subset`` — on top of the variance engine
(:mod:`~happiness_index.survey.variance`): an estimator turns its columns into a
:class:`~happiness_index.survey.variance.Statistic`, the design's scheme (Taylor or
replicates) estimates it in every domain, and :meth:`DesignEstimators._run` builds the
:class:`~happiness_index.survey.estimators.Estimate` objects and intervals.

The public engine interface of a design, for estimators built elsewhere (the index,
regression models, small areas):

* :meth:`DesignEstimators.analysis_values` — analysis columns as one float array, with
  the missing-value rules of the estimators;
* :meth:`DesignEstimators.domain_codes` — domain code per row for ``by()``/``subset()``;
* :meth:`DesignEstimators.estimate_statistic` — a ``Statistic`` in domains, through the
  design's variance scheme;
* ``SurveyDesign.influence_vcov`` and ``ReplicateDesign.replicate_vcov``.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from ..errors import DesignError, EstimationError, HappinessIndexWarning, describe_rows
from .descriptive import svyvar
from .estimators import (
    EstimateTable,
    check_ci_method,
    profile_likelihood_logit_interval,
    proportion_interval,
    wald_limits,
    warn_no_df,
)
from .quantiles import estimate_quantiles
from .variance import (
    Statistic,
    StatisticEstimate,
    nfc_keys,
    srs_variance,
    warn_dropped_domains,
)

__all__ = [
    "DesignEstimators",
    "DomainView",
    "as_list",
    "check_bool",
    "check_column",
    "check_duplicate_columns",
    "check_key_types",
]


# ---------------------------------------------------------------------------
# input checks shared by the designs
# ---------------------------------------------------------------------------


def check_column(data: pd.DataFrame, col, what: str) -> None:
    """Raise :class:`DesignError` naming close matches when ``col`` is not a column of ``data``."""
    if col not in data.columns:
        close = difflib.get_close_matches(str(col), [str(c) for c in data.columns], n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise DesignError(f"{what} column {col!r} is not in the data.{hint} Columns: {list(data.columns)[:20]}")


def check_bool(value, name: str, err=DesignError) -> bool:
    """``value`` as a Python bool; refuse anything but True/False (numpy bools included)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise err(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def check_duplicate_columns(data: pd.DataFrame) -> None:
    """Raise :class:`DesignError` when ``data`` has duplicate column names."""
    dup = data.columns[data.columns.duplicated()]
    if len(dup):
        raise DesignError(
            f"the data has duplicate column names {sorted({str(c) for c in dup})}; a design needs one column "
            "per name. Rename them (e.g. data.columns = [...]) or drop the copies "
            "(data.loc[:, ~data.columns.duplicated()])"
        )


def check_key_types(values: pd.Series, col, err=DesignError) -> None:
    """Refuse a key column mixing numbers and text (1 and "1" would be two different groups)."""
    if values.dtype != object:
        return
    values = pd.Series(pd.unique(values.dropna()))
    kinds = {
        (
            "text"
            if isinstance(v, str)
            else "number"
            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            else type(v).__name__
        )
        for v in pd.unique(values.dropna())
    }
    if len(kinds) > 1:
        nums = [v for v in pd.unique(values.dropna()) if not isinstance(v, str)][:3]
        txt = [v for v in pd.unique(values.dropna()) if isinstance(v, str)][:3]
        raise err(
            f"column {col!r} mixes value types ({', '.join(sorted(kinds))}): e.g. {nums} and {txt}. "
            "1 and '1' would be different groups; convert the column to one type first, e.g. "
            f"data[{col!r}].astype(str)"
        )


def as_list(x) -> list:
    """``None`` -> ``[]``; a list or tuple -> a list; anything else -> ``[x]``."""
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


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


def _replicate_logit_se(res: StatisticEstimate) -> np.ndarray | None:
    """Replicate SE of ``logit(p)`` per domain and statistic (D × p), or None on a Taylor design.

    R's ``svyciprop(method="logit")`` takes the Wald interval of the intercept of
    ``svyglm(y ~ 1, family=quasibinomial)``; on a replicate design that intercept is
    re-fitted on every replicate, so its SE is the replicate SE of ``logit(p_r)``
    (centred as the design says: replicate mean, or the full estimate with ``mse``). A
    replicate share of exactly 0 or 1 has an infinite logit: the SE is then infinite
    (R's non-converged re-fit gives a logit SE of about 15 and an interval of [0, 1]), and
    a :class:`HappinessIndexWarning` suggests ``ci_method="beta"`` or ``"xlogit"``.
    """
    if res.replicates is None or res.replicate_variance is None:
        return None
    D, p = res.theta.shape
    full = res.theta.reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lfull = np.log(full / (1 - full))
        lreps = np.log(res.replicates / (1 - res.replicates))
    inner = (full > 0) & (full < 1)
    out = np.full(D * p, np.nan)
    ok = inner & np.isfinite(lreps).all(axis=0)
    if ok.any():
        out[ok] = np.sqrt(np.maximum(np.diag(res.replicate_variance(lreps[:, ok], lfull[ok])), 0.0))
    infinite = inner & ~ok
    if infinite.any():
        out[infinite] = np.inf
        warnings.warn(
            f"{int(infinite.sum())} proportion(s) are 0 or 1 in some replicate, so the replicate variance of "
            "their logit is unbounded and the logit interval is [0, 1] (as R's svyciprop gives). "
            "ci_method='beta' (Korn-Graubard) or 'xlogit' (delta method) give an informative interval",
            HappinessIndexWarning,
            stacklevel=5,
        )
    return out.reshape(D, p)


# ---------------------------------------------------------------------------
# the shared estimator front end
# ---------------------------------------------------------------------------


class DesignEstimators:
    """Estimator methods shared by SurveyDesign, ReplicateDesign and DomainView.

    Subclasses provide ``_data``, ``_n``, ``_w`` (weights), ``_domain`` (a boolean row
    mask or None for the full sample) and the engine hook ``_estimate_stat`` (the
    design's variance scheme, see :meth:`estimate_statistic`).
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

    def _domain_mask(self) -> np.ndarray:
        # w != 0, not w > 0: calibrated (linear, unbounded) weights may be negative and
        # still count, as in R (only zero weights put a row outside every domain)
        base = self._w != 0
        return base if self._domain is None else (self._domain & base)

    @property
    def in_domain(self) -> np.ndarray:
        """Rows in scope: in this design's domain (``subset()``) with a non-zero weight, shape (n,) bool."""
        return self._domain_mask()

    def var(self, x, na_rm: bool = False, level: float = 0.95):
        """Population variance of ``x`` (R's ``svyvar``); see :func:`happiness_index.survey.descriptive.svyvar`."""
        return svyvar(self, x, na_rm=na_rm, level=level)

    @property
    def variance_method(self) -> str:
        """``"taylor"`` or ``"replicate"``."""
        return self._variance_method

    def estimate_statistic(self, stat: Statistic, dom: np.ndarray, D: int) -> StatisticEstimate:
        """Estimate a :class:`~happiness_index.survey.variance.Statistic` in domains on this design.

        The engine entry point for estimators built outside this module (the index,
        quantiles, models): point estimates, variances, covariance and, for replicate
        designs, the replicate estimates, all from one pass over the rows.

        Parameters
        ----------
        stat : Statistic
            Basic columns ``Y`` (n × k, one row per data row) and the ratio-type statistics.
        dom : int array, shape (n,)
            Domain code of each row in ``0..D-1``; ``-1`` outside every domain (e.g. from
            :meth:`domain_codes`). Rows outside keep their PSUs in the variance.
        D : int
            Number of domains.

        Returns
        -------
        StatisticEstimate
            ``theta`` and ``var`` (D × p), ``df`` (D,), ``vcov()`` (D·p × D·p).

        Raises
        ------
        EstimationError
            An estimate undefined in a domain (zero denominator); overflowing totals.
        LonelyPSUError
            A stratum with one PSU under ``lonely_psu="fail"`` (Taylor designs).
        """
        return self._estimate_stat(stat, np.asarray(dom, dtype=np.int64), int(D))

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
        if (
            pd.api.types.is_datetime64_any_dtype(s.dtype)
            or pd.api.types.is_timedelta64_dtype(s.dtype)
            or isinstance(s.dtype, pd.PeriodDtype)
        ):
            raise EstimationError(
                f"column {col!r} holds dates/times ({s.dtype}); estimate a number derived from it instead, e.g. "
                f"the year (data[{col!r}].dt.year) or the days since a reference date"
            )
        if numeric:
            if s.dtype == bool or pd.api.types.is_bool_dtype(s):
                pass  # 0/1, used as stored
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

    def analysis_columns(self, cols: Sequence, na_rm: bool = False) -> tuple[list, np.ndarray]:
        """Analysis columns as a list of (n,) arrays in their own dtype, and the mask of complete rows.

        The engine's input without an n × k float64 copy: numpy integer and boolean columns
        are used as stored (they cannot hold NaN or inf), nullable integer/boolean columns
        without missing values as their numpy values; float columns are used as stored when
        finite, and only a column with missing values is copied (missing set to 0, its rows
        out of the domain). Rules and errors as :meth:`analysis_values`.
        """
        arrs = []
        bad_cols: dict[int, np.ndarray] = {}  # column -> non-finite mask (float columns only)
        for j, c in enumerate(cols):
            s = self._column(c)
            dt = s.dtype
            if isinstance(dt, np.dtype) and dt.kind in "biuf":
                a = s.to_numpy()
                if dt.kind == "f":
                    fin = np.isfinite(a)
                    if not fin.all():
                        bad_cols[j] = ~fin
                arrs.append(a)
                continue
            if (pd.api.types.is_integer_dtype(dt) or pd.api.types.is_bool_dtype(dt)) and not s.hasnans:
                arrs.append(s.to_numpy(dtype=dt.numpy_dtype))  # nullable without missing values
                continue
            a = s.to_numpy(dtype="float64", na_value=np.nan)
            fin = np.isfinite(a)
            if not fin.all():
                bad_cols[j] = ~fin
            arrs.append(a)
        ok = np.ones(self._n, dtype=bool)
        if not bad_cols:
            return arrs, ok
        inf_cols = [j for j in bad_cols if np.isinf(arrs[j][bad_cols[j]]).any()]
        if inf_cols:
            inf_rows = np.zeros(self._n, dtype=bool)
            for j in inf_cols:
                inf_rows |= np.isinf(arrs[j])
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
            arrs[j] = np.where(m, 0.0, arrs[j])
        return arrs, ok

    def analysis_values(
        self, cols: Sequence, na_rm: bool = False, append_ones: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Analysis columns as one (n × len(cols)) float array, and the mask of complete rows.

        Booleans count as 0/1; text, dates and complex numbers are refused. A missing
        value in the domain raises :class:`EstimationError` unless ``na_rm`` (then its
        row is out of the domain: ``ok`` False, value set to 0); infinite values raise.
        ``append_ones=True`` adds a last column of ones (the denominator of a mean).
        Estimators inside the library use :meth:`analysis_columns` (no n × k copy).
        """
        arrs, ok = self.analysis_columns(cols, na_rm)
        stat = Statistic(list(cols), None, [], [], "total", list(cols), columns=arrs + ([None] if append_ones else []))
        return stat.Y, ok

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
        cols = as_list(x)
        if len(cols) == 1 and self._is_categorical(cols[0]) and self._data[cols[0]].notna().any():
            self._check_not_broken_numeric(cols[0])
            # R's svymean(~factor): the share of every category, Wald intervals
            Y, names, ok = self._indicators(cols[0], na_rm)
            k = len(names)
            Y = np.column_stack([Y, np.ones(self._n)])
            stat = Statistic(names, Y, np.arange(k), np.full(k, k), "mean", cols)
            return self._run(stat, ok, deff=deff, level=level, single=False, keys_var=cols[0])
        arrs, ok = self.analysis_columns(cols, na_rm)
        k = len(cols)
        stat = Statistic(cols, None, np.arange(k), np.full(k, k), "mean", cols, columns=arrs + [None])
        return self._run(stat, ok, deff=deff, level=level, single=not isinstance(x, (list, tuple)))

    def total(self, x, na_rm: bool = False, deff: bool | str = False, level: float = 0.95):
        """Design-based total of numeric column(s); a categorical column gives one count per category.

        Parameters and returns as :meth:`mean`. A non-numeric (text, categorical)
        column is expanded into category indicators, as R's ``svytotal(~factor)``.
        """
        cols = as_list(x)
        if len(cols) == 1 and self._is_categorical(cols[0]):
            self._check_not_broken_numeric(cols[0])
            Y, names, ok = self._indicators(cols[0], na_rm)
            stat = Statistic(names, Y, np.arange(len(names)), np.full(len(names), -1), "total", cols)
            return self._run(stat, ok, deff=deff, level=level, single=False, keys_var=cols[0])
        arrs, ok = self.analysis_columns(cols, na_rm)
        k = len(cols)
        stat = Statistic(cols, None, np.arange(k), np.full(k, -1), "total", cols, columns=arrs)
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

        "logit" and "xlogit" are Wald intervals for ``logit(p)``, back-transformed. On a
        Taylor design both take the delta-method SE ``se(p) / (p (1 - p))``. On a replicate
        design "logit" takes the replicate SE of ``logit(p_r)`` (R's ``svyciprop(method=
        "logit")``, whose ``svyglm`` intercept is re-fitted on every replicate), while
        "xlogit" keeps the delta method (R's ``svycontrast`` of ``svymean``). A replicate in
        which the share is exactly 0 or 1 makes the replicate variance of the logit
        unbounded: the "logit" interval is then [0, 1], as R's, with a warning
        suggesting "beta" or "xlogit". ``se`` is the SE of ``p`` in every case.

        References
        ----------
        Lumley, T. (2010). *Complex Surveys*, Wiley, §2.4 and §5.2 (``svyciprop``).
        Korn, E. L. & Graubard, B. I. (1998). *Survey Methodology* 24, 193-201.
        """
        check_ci_method(ci_method)
        if isinstance(x, (list, tuple)):
            raise EstimationError("proportion() takes one column; call it once per column")
        if self._is_categorical(x):
            Y, names, ok = self._indicators(x, na_rm)
            Y = np.column_stack([Y, np.ones(self._n)])
            k = len(names)
            stat = Statistic(names, Y, np.arange(k), np.full(k, k), "proportion", [x])
            return self._run(stat, ok, deff=deff, level=level, single=False, ci_method=ci_method, df=df, keys_var=x)
        arrs, ok = self.analysis_columns([x], na_rm)
        vals = arrs[0][ok & self._domain_mask()]
        bad = (vals != 0) & (vals != 1)
        if bad.any():
            raise EstimationError(
                f"proportion({x!r}) needs a 0/1 column; it holds {sorted(set(vals[bad].tolist()))[:5]}. "
                f"Derive an indicator (e.g. data[{x!r}] >= 4) or pass a categorical column."
            )
        stat = Statistic([x], None, np.array([0]), np.array([1]), "proportion", [x], columns=[arrs[0], None])
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
        arrs, ok = self.analysis_columns([numerator, denominator], na_rm)
        stat = Statistic(
            [f"{numerator}/{denominator}"],
            None,
            np.array([0]),
            np.array([1]),
            "ratio",
            [numerator, denominator],
            columns=arrs,
        )
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
        dom, key_table, D = self.domain_codes(np.ones(self._n, dtype=bool))
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
        s = nfc_keys(self._column(col, numeric=False))  # NFD and NFC spellings: one level
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
    def by(self, columns, dropna: bool = False) -> DomainView:
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
        cols = as_list(columns)
        if not cols:
            raise EstimationError("by() needs at least one domain column, e.g. design.by('commune')")
        for c in cols:
            if c not in self._data.columns:
                raise EstimationError(
                    f"domain column {c!r} is not in the data; columns: {list(self._data.columns)[:20]}"
                )
        return DomainView(self, cols, check_bool(dropna, "dropna", EstimationError))

    def subset(self, mask) -> DesignEstimators:
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
                raise EstimationError(
                    f"the subset mask has shape {m.shape}; it must have one value per row ({self._n})"
                )
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
    def domain_codes(self, ok: np.ndarray, keep_zero: bool = False) -> tuple[np.ndarray, pd.DataFrame | None, int]:
        """Domain codes per row (-1 = out), the key table and the number of domains.

        For a ``by()`` view: one domain per distinct key (sorted, NFC text); otherwise one
        domain (code 0: the design's domain). ``ok`` (n,) bool excludes rows (e.g. missing
        values); rows with zero weight are out.

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
        codes, key_table, D = self._domain_keys()
        codes = np.where(base & (codes >= 0), codes, -1)
        return codes, key_table, D

    def _domain_keys(self) -> tuple[np.ndarray, pd.DataFrame, int]:
        """The ``by()`` keys of every row, before any mask: codes (-1: missing key dropped), key table, D."""
        key_df = pd.DataFrame({c: nfc_keys(self._data[c]) for c in self._by_cols})  # NFD and NFC: one domain
        idx = pd.MultiIndex.from_frame(key_df) if len(self._by_cols) > 1 else pd.Index(key_df.iloc[:, 0])
        codes, uniques = pd.factorize(idx, sort=True, use_na_sentinel=self._by_dropna)
        codes = codes.astype(np.int64)
        if isinstance(uniques, pd.MultiIndex):
            key_table = uniques.to_frame(index=False)
            key_table.columns = list(self._by_cols)  # factorize drops the level names
        else:
            key_table = pd.DataFrame({self._by_cols[0]: np.asarray(uniques)})
        for c in self._by_cols:  # on the distinct keys only (cheap): 1 and "1" mixed is refused
            check_key_types(key_table[c], c, EstimationError)
        return codes, key_table, len(key_table)

    def _run_domains(self, stat: Statistic, ok):
        """Domain codes of an estimation, with empty domains dropped (and reported).

        Returns ``(dom, key_table, D, dom_df, dom_rows, counts)``: the codes of the rows
        in the estimation, the key table (None without ``by()``), the number of domains,
        the codes ignoring missing analysis values (they fix the degrees of freedom), the
        codes with zero-weight rows (R's ``nrow(design)`` of a domain) and the respondents
        per domain.
        """
        # the by() keys are factorised once; the three codings differ only in their masks
        in_scope = self._domain_mask()
        dmask = getattr(self, "_domain", None)  # subset() mask (DomainView: its design's)
        if self._by_cols is None:
            raw, key_table, D = None, None, 1
            dom = np.where(in_scope & ok, 0, -1).astype(np.int64)
        else:
            raw, key_table, D = self._domain_keys()
            has_key = raw >= 0
            in_scope = in_scope & has_key
            dmask = None if dmask is None else dmask & has_key  # raw is already -1 without a key
            dom = np.where(in_scope & ok, raw, -1)
        coded = np.zeros(self._n, dtype=np.int64) if raw is None else raw
        # domain codes ignoring missing analysis values: they fix the degrees of freedom
        dom_df = np.where(in_scope, coded, -1) if not np.all(ok) else dom
        # R's nrow(design) of each domain: zero-weight rows included
        dom_rows = coded if dmask is None else np.where(dmask, coded, -1)
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
            warn_dropped_domains(key_table, present, self._by_cols, stat.var_columns)
            if present.all():
                return dom, key_table, D, dom_df, dom_rows, counts
            key_table = key_table[present].reset_index(drop=True)
            remap = np.full(D, -1)
            remap[present] = np.arange(present.sum())
            dom = np.where(dom >= 0, remap[np.maximum(dom, 0)], -1)
            dom_df = np.where(dom_df >= 0, remap[np.maximum(dom_df, 0)], -1)
            dom_rows = np.where(dom_rows >= 0, remap[np.maximum(dom_rows, 0)], -1)
            counts = counts[present]
            D = int(present.sum())
        return dom, key_table, D, dom_df, dom_rows, counts

    @staticmethod
    def _row_labels_keys(names: list, key_table: pd.DataFrame | None, keys_var) -> tuple[list, pd.DataFrame]:
        """Row labels and key columns of a table: domain-major, statistic-minor (row ``d·p + j``).

        A domain's label joins its key values once; with several statistics each row adds
        ``:name`` and a ``variable`` key column. Without ``by()`` the label is the
        statistic's name (``keys_var``: the categories of one factor, ``level`` column).
        """
        p = len(names)
        if key_table is None:
            rows = [
                {"variable": nm} if keys_var is None else {"variable": keys_var, "level": nm.split("=", 1)[1]}
                for nm in names
            ]
            return list(names), pd.DataFrame(rows)
        records = key_table.to_dict("records")
        domain_labels = [", ".join(str(v) for v in kd.values()) for kd in records]
        keys = pd.DataFrame(records)
        if p == 1:
            return domain_labels, keys
        labels = [f"{lab}:{nm}" for lab in domain_labels for nm in names]
        keys = keys.take(np.repeat(np.arange(len(records)), p)).reset_index(drop=True)
        keys["variable"] = list(names) * len(records)
        return labels, keys

    def _proportion_rows(self, stat, est, var, row_df, *, dom, dom_df, rows_all, dfs, method, level, logit_se):
        """Interval functions and limits of the proportions (and R's point estimates, in ``est``).

        Each row keeps its interval function (a closure) so that ``confint(level)`` of its
        :class:`Estimate` recomputes it; the limits at ``level`` use the row's df.
        """
        p, k = stat.p, len(est)
        intervals: list = [None] * k
        low, high = np.empty(k), np.empty(k)
        for i in range(k):
            d, j = divmod(i, p)
            fn, est[i] = self._prop_interval_fn(
                float(est[i]),
                float(var[i]),
                int(rows_all[d]),  # R's nrow(design) of the domain
                method,
                stat,
                dom,
                d,
                dom_df,
                float(dfs[d]),
                logit_se=None if logit_se is None else float(logit_se[d, j]),
            )
            intervals[i] = fn
            lo, hi = fn(level, float(row_df[i]))
            low[i], high[i] = float(lo), float(hi)
        return intervals, low, high

    def _run(self, stat: Statistic, ok, *, deff, level, single, ci_method=None, df=None, keys_var=None):
        dom, key_table, D, dom_df, dom_rows, counts = self._run_domains(stat, ok)
        res = self.estimate_statistic(stat, dom, D)
        theta, var_diag, dfs, vcov_fn = res.theta, res.var, res.df, res.vcov
        logit_se = _replicate_logit_se(res) if stat.kind == "proportion" and (ci_method or "logit") == "logit" else None
        if dom_df is not dom:
            # na_rm: R's df (the domain's, counting rows without the value); but where the rows
            # with the value have no df at all (one PSU), the interval is NaN, never zero-width
            dfs = np.where(np.asarray(self._domain_df(dom, D)) > 0, self._domain_df(dom_df, D), 0.0)
        dfs = np.asarray(dfs, dtype=float)
        deffs = self._deff(stat, dom, D, theta, var_diag, deff) if deff else None
        p = stat.p
        labels, keys = self._row_labels_keys(list(stat.names), key_table, keys_var)
        # the rows, domain-major: row d*p + j is statistic j in domain d
        est = np.array(theta, dtype=float).reshape(D * p)
        var = np.asarray(var_diag, dtype=float).reshape(D * p)
        se = np.full(D * p, np.nan)
        pos = var >= 0
        se[pos] = np.sqrt(var[pos])
        row_df = np.repeat(dfs, p) if df is None else np.full(D * p, float(df))
        intervals = None
        method = "wald"
        if stat.kind == "proportion":
            method = ci_method or "logit"
            rows_all = np.bincount(dom_rows[dom_rows >= 0], minlength=D)
            intervals, low, high = self._proportion_rows(
                stat,
                est,
                var,
                row_df,
                dom=dom,
                dom_df=dom_df,
                rows_all=rows_all,
                dfs=dfs,
                method=method,
                level=level,
                logit_se=logit_se,
            )
        else:
            low, high = wald_limits(est, se, row_df, level)
        # estimates whose domain has no design df: one warning for all
        warn_no_df([(labels[i], float(row_df[i])) for i in np.flatnonzero(~(row_df > 0))])
        table = EstimateTable.from_arrays(
            keys=keys,
            labels=labels,
            estimate=est,
            se=se,
            ci_low=low,
            ci_high=high,
            row_df=row_df,
            deff=None if deffs is None else np.asarray(deffs, dtype=float).reshape(D * p),
            n=np.repeat(counts.astype(np.int64), p),
            vcov=vcov_fn,
            df=(float(np.min(dfs)) if len(dfs) else float("nan")) if key_table is not None else float(dfs[0]),
            level=level,
            ci_method=method,
            statistic=stat.kind,
            variance_method=self._variance_method,
            intervals=intervals,
            replicates=res.replicates,
            replicate_variance=res.replicate_variance,
            function_method="delta",
        )
        if single and key_table is None and p == 1:
            return table[0]
        return table

    def _prop_interval_fn(self, p, var, n, method, stat, dom, d, dom_all, degf_d, logit_se=None):
        """Interval function of a proportion (and the point estimate R reports with it).

        ``n`` is the domain's row count (R's ``nrow(design)``) and ``degf_d`` its design
        df. The Korn–Graubard ("beta") interval always uses ``degf_d`` in its df
        adjustment, as R's ``svyciprop`` does whatever ``df`` is passed. ``logit_se``
        (replicate designs, method "logit"): the replicate SE of ``logit(p)``, used
        instead of the delta method's ``se / (p (1 - p))``; infinite (a replicate share
        of 0 or 1) gives the uninformative interval [0, 1].
        """
        se = math.sqrt(var) if var >= 0 else float("nan")
        lik = None
        if method == "likelihood":
            lik, p = self._likelihood_interval(stat, dom, d, p, var, dom_all)
        if logit_se is not None and 0 < p < 1 and se > 0:
            if math.isinf(logit_se):
                return (lambda level, df: (0.0, 1.0) if df > 0 else (float("nan"), float("nan"))), p
            se = logit_se * p * (1 - p)  # the SE that gives logit_se on the logit scale

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
        y = stat.column(stat.num[0])[sel]
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
            y = stat.column(stat.num[j])
            total = stat.kind == "total"
            if stat.kind == "ratio":
                # R's svyratio: the deff of the total of r = (y - R x) / X_hat
                x = stat.column(stat.den[j])
                t_den = np.bincount(dom[sel], weights=(w * x)[sel], minlength=D)
                y = np.zeros(self._n)
                y[sel] = (stat.column(stat.num[j])[sel] - theta[dom[sel], j] * x[sel]) / t_den[dom[sel]]
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
        return estimate_quantiles(
            self, x, p, rule=rule, ci_method=ci_method, na_rm=na_rm, level=level, df=df, interval_type=interval_type
        )


# ---------------------------------------------------------------------------
# domains
# ---------------------------------------------------------------------------


class DomainView(DesignEstimators):
    """Estimators evaluated in every domain defined by one or more columns.

    Created by ``design.by(columns)``; each estimator returns an :class:`EstimateTable`
    with one row per domain (and per variable or category), estimated on the full design
    (zero influence outside the domain) with each domain's own degrees of freedom, and
    a covariance matrix across domains (for contrasts such as year-on-year changes).
    """

    def var(self, x, na_rm: bool = False, level: float = 0.95):
        """Not available per domain: R's ``svyvar`` has no ``svyby`` form here."""
        raise EstimationError(
            "var() is not available per domain of by(); use design.subset(mask).var(x) for one domain"
        )

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
        return DesignEstimators._run(self, stat, ok, **kw)
