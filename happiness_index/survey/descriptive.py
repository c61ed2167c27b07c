"""Tests of association in two-way tables (R's ``svychisq``) and population variances (``svyvar``).

Both go through the variance engine's public hooks: ``design.influence_vcov`` (Taylor
linearization) or ``design.replicate_weights`` / ``design.replicate_vcov`` (replicate designs).

References
----------
Rao, J. N. K. & Scott, A. J. (1981). The analysis of categorical data from complex sample
surveys: chi-squared tests for goodness of fit and independence in two-way tables. *JASA*
76, 221–230.
Rao, J. N. K. & Scott, A. J. (1984). On chi-squared tests for multiway contingency tables
with cell proportions estimated from survey data. *Annals of Statistics* 12, 46–60.
Koch, G. G., Freeman, D. H. & Freeman, J. L. (1975). Strategies in the multivariate analysis
of data from complex surveys. *International Statistical Review* 43, 59–78.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, §6.1. Wiley.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError, describe_rows
from .estimators import EstimateTable, make_estimate

__all__ = ["ChisqTest", "svychisq", "svyvar"]

_STATISTICS = ("F", "Chisq", "Wald", "adjWald")


@dataclass(frozen=True)
class ChisqTest:
    """Result of :func:`svychisq`.

    Attributes
    ----------
    statistic : float
        "F": Pearson X² / trace(Delta) (Rao–Scott second order); "Chisq": the Pearson X²
        itself (its p-value uses X² / mean eigenvalue of Delta, :attr:`adjusted_statistic`);
        "Wald"/"adjWald": the Wald statistic divided by ``ndf`` (adjusted as R).
    ndf, ddf : float
        Degrees of freedom of the reference F distribution (``ddf = inf`` for "Chisq",
        whose ``ndf`` is the chi-squared df).
    p : float
    pearson_X2 : float
        Pearson's X² of the weighted table scaled to the number of rows of the design.
    adjusted_statistic : float
        First-order Rao–Scott statistic ``X² / mean(diag(Delta))``.
    table : pandas.DataFrame
        The weighted counts (estimated population totals) of the table.
    statistic_name, method : str
    """

    statistic: float
    ndf: float
    ddf: float
    p: float
    pearson_X2: float
    adjusted_statistic: float
    table: pd.DataFrame
    statistic_name: str
    method: str

    def __str__(self) -> str:
        df = f"ndf = {self.ndf:.4g}, ddf = {self.ddf:.4g}" if math.isfinite(self.ddf) else f"df = {self.ndf:g}"
        return f"{self.method}: {self.statistic_name} = {self.statistic:.6g}, {df}, p = {self.p:.4g}"


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [c for c in s.cat.categories if c in present]
    return sorted(pd.unique(s.dropna()))


def _indicators(s: pd.Series, levels: list) -> np.ndarray:
    vals = s.to_numpy(dtype=object)
    return np.column_stack([vals == lv for lv in levels]).astype(float)


class _Engine:
    """Covariance of weighted means or totals of columns of Y over a domain (Taylor or replicates)."""

    def __init__(self, design, ok: np.ndarray):
        self.design, self.ok = design, ok
        self.w = design.weights.to_numpy(dtype=float) * ok
        self.replicate = hasattr(design, "replicate_weights")

    def totals(self, Y):
        t = self.w @ Y
        if self.replicate:
            W = np.asarray(self.design.replicate_weights(), dtype=float) * self.ok[:, None]
            return t, self.design.replicate_vcov(W.T @ Y, t)
        return t, self.design.influence_vcov(self.w[:, None] * Y, domain=self.ok)

    def means(self, Y):
        sw = self.w.sum()
        m = self.w @ Y / sw
        if self.replicate:
            W = np.asarray(self.design.replicate_weights(), dtype=float) * self.ok[:, None]
            return m, self.design.replicate_vcov((W.T @ Y) / W.sum(axis=0)[:, None], m)
        return m, self.design.influence_vcov(self.w[:, None] * (Y - m) / sw, domain=self.ok)


def _check_columns(design, cols):
    for c in cols:
        if c not in design.data.columns:
            raise EstimationError(f"column {c!r} is not in the data; columns: {list(design.data.columns)[:20]}")


def _wald(eng, A, B, nr, nc, nu, statistic):
    mm = (A[:, :, None] * B[:, None, :]).transpose(0, 2, 1).reshape(len(A), nr * nc)  # rows vary fastest
    Y = np.column_stack([mm, A, B, np.ones(len(A))])
    t, V = eng.totals(Y)
    cells, R, C, N = t[: nr * nc], t[nr * nc : nr * nc + nr], t[nr * nc + nr : -1], t[-1]
    ri = np.tile(np.arange(nr), nc)
    ci = np.repeat(np.arange(nc), nr)
    J = np.zeros((nr * nc, len(t)))
    J[:, : nr * nc] = np.eye(nr * nc)
    J[np.arange(nr * nc), nr * nc + ri] = -C[ci] / N
    J[np.arange(nr * nc), nr * nc + nr + ci] = -R[ri] / N
    J[:, -1] = R[ri] * C[ci] / N**2
    dev = cells - R[ri] * C[ci] / N
    Vd = J @ V @ J.T
    use = (ri > 0) & (ci > 0)
    wald = float(dev[use] @ np.linalg.solve(Vd[np.ix_(use, use)], dev[use]))
    ndf = (nr - 1) * (nc - 1)
    if statistic == "Wald":
        return wald / ndf, ndf, nu
    ddf = nu - ndf + 1
    return wald * ddf / (ndf * nu), ndf, ddf


def _rao_scott(eng, A, B, nr, nc, N):
    mm = (A[:, :, None] * B[:, None, :]).transpose(0, 2, 1).reshape(len(A), nr * nc)
    p, V = eng.means(mm)
    ri = np.tile(np.arange(nr), nc)
    ci = np.repeat(np.arange(nc), nr)
    X1 = np.column_stack(
        [np.ones(nr * nc)]
        + [(ri == r).astype(float) for r in range(1, nr)]
        + [(ci == c).astype(float) for c in range(1, nc)]
    )
    Xint = np.column_stack([((ri == r) & (ci == c)).astype(float) for c in range(1, nc) for r in range(1, nr)])
    coef, *_ = np.linalg.lstsq(X1, Xint, rcond=None)
    Cm = Xint - X1 @ coef
    inv = np.where(p == 0, 0.0, 1.0 / np.where(p == 0, 1.0, p))
    denom = Cm.T @ (Cm * (inv / N)[:, None])
    numr = (Cm * inv[:, None]).T @ V @ (Cm * inv[:, None])
    return np.linalg.solve(denom, numr)


def svychisq(design, a: str, b: str, statistic: str = "F") -> ChisqTest:
    """Design-based test of independence in the two-way table of ``a`` by ``b`` (R's ``svychisq``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
    a, b : str
        Categorical columns (levels in category order, else sorted; only levels present in
        the domain, where R counts the levels of all rows of the design: they differ only
        for a level found outside the domain alone). Rows missing either are left out of
        the table (R's ``na.rm=TRUE``) and stay in the design.
    statistic : {"F", "Chisq", "Wald", "adjWald"}
        "F" (default): Rao–Scott second-order corrected Pearson X², referred to
        F(d0, d0·nu) with ``d0 = tr(Delta)^2 / tr(Delta^2)``; "Chisq": first-order
        correction X² / mean(eigenvalues of Delta) on (r-1)(c-1) df; "Wald": Koch's Wald
        test of the (r-1)(c-1) deviations of cell totals from independence, F(ndf, nu);
        "adjWald": the same with R's ``(nu - ndf + 1)/(ndf nu)`` adjustment.

    Returns
    -------
    ChisqTest

    Raises
    ------
    EstimationError
        Unknown column, fewer than two levels in either variable, unknown statistic.

    Notes
    -----
    ``nu`` is the design df (PSUs minus strata of the design; the rank of the replicate
    weights minus 1 for replicate designs), as R. ``Delta`` is the design-effect matrix of
    the cell proportions for the interaction contrasts (Rao & Scott 1984).

    References
    ----------
    Rao & Scott (1981, 1984); Koch, Freeman & Freeman (1975); R ``survey::svychisq``.
    """
    from scipy import stats  # imported here: scipy.stats costs about 1 s at start-up

    if statistic not in _STATISTICS:
        raise EstimationError(f"statistic={statistic!r}; use one of {_STATISTICS}")
    _check_columns(design, [a, b])
    data = design.data
    ok = np.asarray(design.in_domain, dtype=bool) & data[a].notna().to_numpy() & data[b].notna().to_numpy()
    la, lb = _levels(data.loc[ok, a]), _levels(data.loc[ok, b])
    for name, lv in ((a, la), (b, lb)):
        if len(lv) < 2:
            raise EstimationError(
                f"column {name!r} has {len(lv)} level(s) {lv} in the domain: a test of association needs at least 2"
            )
    eng = _Engine(design, ok)
    A, B = _indicators(data[a], la) * ok[:, None], _indicators(data[b], lb) * ok[:, None]
    nr, nc, N = len(la), len(lb), len(data)
    nu = float(design.df)
    T = (eng.w[:, None] * A).T @ B
    O = T * N / T.sum()
    E = np.outer(O.sum(1), O.sum(0)) / N
    X2 = float(((O - E) ** 2 / E).sum())
    table = pd.DataFrame(T, index=pd.Index(la, name=a), columns=pd.Index(lb, name=b))
    if statistic in ("Wald", "adjWald"):
        F, ndf, ddf = _wald(eng, A, B, nr, nc, nu, statistic)
        return ChisqTest(
            F,
            ndf,
            ddf,
            float(stats.f.sf(F, ndf, ddf)),
            X2,
            math.nan,
            table,
            "F",
            "Design-based Wald test of association",
        )
    D = _rao_scott(eng, A, B, nr, nc, N)
    tr, tr2 = float(np.trace(D)), float(np.trace(D @ D))
    adjusted = X2 / (tr / D.shape[0])
    method = "Pearson's X^2: Rao & Scott adjustment"
    if statistic == "F":
        d0 = tr**2 / tr2
        F = X2 / tr
        return ChisqTest(F, d0, d0 * nu, float(stats.f.sf(F, d0, d0 * nu)), X2, adjusted, table, "F", method)
    k = D.shape[0]
    return ChisqTest(
        X2, float(k), math.inf, float(stats.chi2.sf(adjusted, k)), X2, adjusted, table, "X-squared", method
    )


def svyvar(design, x, na_rm: bool = False, level: float = 0.95):
    """Population variance (and covariances) of numeric columns (R's ``svyvar``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
    x : str or list of str
        Numeric column(s).
    na_rm : bool, default False
        Leave rows with a missing value out (as a domain); otherwise missing values raise.
    level : float, default 0.95
        Level of the interval (t on the design df).

    Returns
    -------
    Estimate (one column) or EstimateTable (entries ``"a,b"`` of the covariance matrix, row-major)

    Raises
    ------
    EstimationError
        Unknown or non-numeric column, missing values without ``na_rm``.

    Notes
    -----
    Taylor designs (R's ``svyvar.survey.design``): the estimate is the weighted mean of
    ``(x_i - xbar)(x_i - xbar)' n/(n-1)``, ``n`` the respondents with non-zero weight in the
    domain, and its SE is that of this mean with ``xbar`` held fixed, as R. Replicate designs
    (``svyvar.svyrep.design``): ``xbar`` is recomputed for every replicate and ``n`` counts
    the rows used.
    """
    cols = [x] if isinstance(x, str) else list(x)
    _check_columns(design, cols)
    data = design.data
    dom = np.asarray(design.in_domain, dtype=bool)
    Y = np.column_stack(
        [
            pd.to_numeric(data[c], errors="raise").to_numpy(dtype=float, na_value=np.nan)
            if pd.api.types.is_numeric_dtype(data[c].dtype)
            else _not_numeric(c)
            for c in cols
        ]
    )
    miss = ~np.isfinite(Y).all(axis=1) & dom
    if miss.any() and not na_rm:
        raise EstimationError(f"missing values in {cols} at rows {describe_rows(data.index[miss])}; pass na_rm=True")
    ok = dom & ~miss
    Y = np.where(ok[:, None], Y, 0.0)
    p = len(cols)
    replicate = hasattr(design, "replicate_weights")
    n = int(ok.sum()) if replicate else int(dom.sum())
    w = design.weights.to_numpy(dtype=float) * ok
    xbar = w @ Y / w.sum()
    D = Y - xbar
    prod = (D[:, :, None] * D[:, None, :]).reshape(len(Y), p * p) * n / (n - 1)
    est = w @ prod / w.sum()
    if replicate:
        W = np.asarray(design.replicate_weights(), dtype=float) * ok[:, None]
        S = W.sum(0)[:, None]
        xb = (W.T @ Y) / S  # R x p
        YY = (Y[:, :, None] * Y[:, None, :]).reshape(len(Y), p * p)
        # sum_i W_ir (y_i - xb_r)(y_i - xb_r)' / S_r = mean_r(y y') - xb_r xb_r'
        reps = ((W.T @ YY) / S - (xb[:, :, None] * xb[:, None, :]).reshape(-1, p * p)) * n / (n - 1)
        V = design.replicate_vcov(reps, est)
    else:
        V = design.influence_vcov(w[:, None] * (prod - est) / w.sum(), domain=ok)
    df = float(design.df)
    labels = [f"{a},{b}" for a in cols for b in cols]
    ests = [
        make_estimate(
            lab,
            est[i],
            V[i, i],
            df,
            level=level,
            n=int(ok.sum()),
            statistic="variance",
            variance_method="replicate" if replicate else "taylor",
        )
        for i, lab in enumerate(labels)
    ]
    if p == 1:
        return ests[0]
    keys = pd.DataFrame({"row": [a for a in cols for _ in cols], "column": [b for _ in cols for b in cols]})
    return EstimateTable(ests, keys, labels, V, df, level=level)


def _not_numeric(c):
    raise EstimationError(f"column {c!r} is not numeric; svyvar needs numbers")
