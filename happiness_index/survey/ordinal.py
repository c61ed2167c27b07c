"""Proportional-odds logistic regression for ordered answers on survey data (R's ``svyolr``).

The model is R's ``MASS::polr`` / ``survey::svyolr`` parametrisation::

    logit P(Y <= k | x) = zeta_k - x' beta,      k = 1, ..., K - 1,

with no intercept column (the cut-points ``zeta`` take its place), so a positive slope
moves answers towards the higher categories. The weighted log-likelihood
``sum_i w_i log P(Y = y_i | x_i)`` is maximised by Newton's method with analytic first and
second derivatives; standard errors come from the design:

* Taylor designs: the influence values ``U_i (-H)^-1`` (``U_i`` the weighted score of row
  ``i`` in ``(beta, zeta)``, ``H`` the Hessian of the weighted log-likelihood) go through the
  engine's ``influence_vcov`` (R's ``svyolr.survey.design2``);
* replicate designs: every replicate is refitted (batched Newton across replicate weight
  columns, started at the full-sample fit) and the fits go through ``replicate_vcov``.

References
----------
McCullagh, P. (1980). Regression models for ordinal data. *JRSS B* 42, 109–142.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, §6.3. Wiley.
Venables, W. N. & Ripley, B. D. (2002). *Modern Applied Statistics with S*, §7.3 (polr).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import special

from ..errors import ModelError
from .modelframe import ModelDesign, build_model_frame, design_header
from .regression import FitTable, weighted_grams

__all__ = ["SvyOLR", "ordered_levels", "svyolr"]


def ordered_levels(y: pd.Series, name: str) -> tuple[list, np.ndarray]:
    """Observed levels of an ordered response in order, and each row's level index (0-based).

    A pandas Categorical keeps its category order (unused categories dropped); numbers are
    sorted (1-5, 0-10 answers). Text without an order is refused: its order is not known.
    """
    if isinstance(y.dtype, pd.CategoricalDtype):
        cats = [c for c in y.cat.categories if (y == c).any()]
        codes = pd.Categorical(y, categories=cats).codes
        return cats, np.asarray(codes, dtype=np.int64)
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        cats = sorted(pd.unique(y))
        return cats, np.searchsorted(np.asarray(cats), y.to_numpy())
    raise ModelError(
        f"the response {name!r} of svyolr must be ordered: numbers (1-5, 0-10 answers) or an ordered pandas "
        f"Categorical; it holds {y.dtype} values. Use data[{name!r}].astype(pd.CategoricalDtype([...], ordered=True))"
    )


class _OLRModel:
    """Weighted log-likelihood of the proportional-odds model and its derivatives, batched over weights."""

    def __init__(self, X: np.ndarray, k: np.ndarray, K: int):
        self.X, self.k, self.K = X, k, K
        self.p, self.J = X.shape[1], K - 1
        self.up = np.where(k < self.J, k, -1)  # index of the upper cut-point (-1: +inf)
        self.lo = np.where(k > 0, k - 1, -1)  # index of the lower cut-point (-1: -inf)

    def pieces(self, Theta: np.ndarray):
        B, Z = Theta[:, : self.p], Theta[:, self.p :]
        eta = self.X @ B.T  # n x R
        Za = np.where(self.up[:, None] >= 0, Z.T[np.maximum(self.up, 0)], np.inf)
        Zb = np.where(self.lo[:, None] >= 0, Z.T[np.maximum(self.lo, 0)], -np.inf)
        Fa, Fb = special.expit(Za - eta), special.expit(Zb - eta)
        P = np.maximum(Fa - Fb, 1e-300)
        fa, fb = Fa * (1 - Fa), Fb * (1 - Fb)
        ga, gb = fa / P, fb / P
        ha, hb = fa * (1 - 2 * Fa) / P, fb * (1 - 2 * Fb) / P
        return P, ga, gb, ha, hb

    def loglik(self, Theta, W):
        P = self.pieces(Theta)[0]
        return (W * np.log(P)).sum(axis=0)

    def scores(self, theta: np.ndarray) -> np.ndarray:
        """Per-row (unweighted) scores, n x q, at one parameter vector."""
        _, ga, gb, _, _ = self.pieces(theta[None, :])
        ga, gb = ga[:, 0], gb[:, 0]
        S = np.zeros((len(self.k), self.p + self.J))
        S[:, : self.p] = -self.X * (ga - gb)[:, None]
        rows = np.arange(len(self.k))
        m = self.up >= 0
        S[rows[m], self.p + self.up[m]] += ga[m]
        m = self.lo >= 0
        S[rows[m], self.p + self.lo[m]] -= gb[m]
        return S

    def grad_hess(self, Theta, W):
        """Gradient (R, q) and Hessian (R, q, q) of the weighted log-likelihood per weight column."""

        p, J = self.p, self.J
        R = Theta.shape[0]
        _, ga, gb, ha, hb = self.pieces(Theta)
        d = ga - gb
        G = np.zeros((R, p + J))
        H = np.zeros((R, p + J, p + J))
        G[:, :p] = -(W * d).T @ self.X
        if p:
            H[:, :p, :p] = weighted_grams(self.X, W * ((ha - hb) - d**2))
        cu, cl = W * (ha - d * ga), W * (-hb + d * gb)
        for j in range(J):
            iu, il = self.up == j, self.lo == j
            G[:, p + j] = (W[iu] * ga[iu]).sum(0) - (W[il] * gb[il]).sum(0)
            bz = -(self.X[iu].T @ cu[iu]) - (self.X[il].T @ cl[il])  # p x R
            H[:, :p, p + j] = bz.T
            H[:, p + j, :p] = bz.T
            H[:, p + j, p + j] = (W[iu] * (ha[iu] - ga[iu] ** 2)).sum(0) + (W[il] * (-hb[il] - gb[il] ** 2)).sum(0)
            if j > 0:
                both = iu & (self.lo == j - 1)
                off = (W[both] * ga[both] * gb[both]).sum(0)
                H[:, p + j, p + j - 1] = off
                H[:, p + j - 1, p + j] = off
        return G, H

    def newton(self, Theta, W, maxit: int = 100, tol: float = 1e-10):
        """Newton's method with step halving, batched over weight columns; returns (Theta, converged)."""
        ll = self.loglik(Theta, W)
        for _ in range(maxit):
            G, H = self.grad_hess(Theta, W)
            try:
                step = -np.linalg.solve(H, G[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                raise ModelError(
                    "the Hessian of svyolr is singular: a category or a term is empty or collinear"
                ) from None
            t = np.ones(len(Theta))
            for _ in range(40):
                new = Theta + t[:, None] * step
                ll_new = self.loglik(new, W)
                ordered = np.all(np.diff(new[:, self.p :], axis=1) > 0, axis=1) if self.J > 1 else np.ones(len(t), bool)
                ok = ordered & np.isfinite(ll_new) & (ll_new >= ll - 1e-12 * np.abs(ll))
                if ok.all():
                    break
                t = np.where(ok, t, t / 2)
            Theta, ll = new, ll_new
            if np.all(np.abs(t[:, None] * step) <= tol * (1 + np.abs(Theta))):
                return Theta, True
        return Theta, False

    def start(self, w: np.ndarray) -> np.ndarray:
        share = np.bincount(self.k, weights=w, minlength=self.K) / w.sum()
        cum = np.clip(np.cumsum(share)[:-1], 1e-6, 1 - 1e-6)
        return np.concatenate([np.zeros(self.p), special.logit(cum)])


class SvyOLR(FitTable):
    """A design-based proportional-odds fit (result of :func:`svyolr`).

    Attributes
    ----------
    params : pandas.Series
        Slopes ``beta`` (model-matrix order, no intercept): ``logit P(Y <= k) = zeta_k - x'beta``.
    se : pandas.Series
        Standard errors of the slopes.
    thresholds, thresholds_se : pandas.Series
        Cut-points ``zeta_k`` named ``"a|b"`` (R's names) in level order, and their SEs.
    vcov : pandas.DataFrame
        Covariance of slopes then cut-points.
    levels : list
        Response levels in order (observed levels only).
    df_resid : float
        Design df of the fit minus the number of slopes (R's ``svyolr``).
    n, n_missing : int
    influence : numpy.ndarray (n_fit, q) or None; replicate_params : (R, q) or None
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    @property
    def se(self) -> pd.Series:
        """Standard errors of the slopes."""
        s = np.sqrt(np.diag(self.vcov.to_numpy()))[: len(self.params)]
        return pd.Series(s, index=self.params.index, name="se")

    @property
    def thresholds_se(self) -> pd.Series:
        s = np.sqrt(np.diag(self.vcov.to_numpy()))[len(self.params) :]
        return pd.Series(s, index=self.thresholds.index, name="se")

    def _all_params(self) -> pd.Series:
        return pd.concat([self.params, self.thresholds])

    @property
    def theta(self) -> np.ndarray:
        """Slopes then cut-points as one vector."""
        return self._all_params().to_numpy(dtype=float)

    @property
    def outcome_labels(self) -> list:
        """The response levels: :meth:`response_means` gives one probability per level."""
        return list(self.levels)

    def response_means(self, Theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """P(Y = level | x) for a stack of parameter vectors: (n, k, K) for ``Theta`` (k, q)."""
        Theta = np.atleast_2d(Theta)
        p = X.shape[1]
        eta = X @ Theta[:, :p].T  # n x k
        cum = special.expit(Theta[None, :, p:] - eta[:, :, None])  # n x k x (K-1)
        n, k = eta.shape
        full = np.concatenate([np.zeros((n, k, 1)), cum, np.ones((n, k, 1))], axis=2)
        return np.diff(full, axis=2)

    def response_jacobian(self, X: np.ndarray) -> np.ndarray:
        """d P(Y = level | x_i) / d (beta, zeta) at the fit: (n, K, p + K - 1)."""
        theta = self.theta
        p, J = X.shape[1], len(theta) - X.shape[1]
        eta = X @ theta[:p]
        cum = special.expit(theta[None, p:] - eta[:, None])  # n x J
        f = np.zeros((len(eta), J + 2))
        f[:, 1:-1] = cum * (1 - cum)
        jac = np.zeros((len(eta), J + 1, p + J))
        jac[:, :, :p] = -(f[:, 1:] - f[:, :-1])[:, :, None] * X[:, None, :]
        for k in range(J + 1):
            if k < J:
                jac[:, k, p + k] = f[:, k + 1]
            if k > 0:
                jac[:, k, p + k - 1] = -f[:, k]
        return jac

    def predicted_probabilities(self, at: dict | None = None, level: float = 0.95) -> pd.DataFrame:
        """Average predicted probability of each level, with design-based SEs (delta method).

        See :func:`happiness_index.survey.margins.average_predictions`.
        """
        from .margins import average_predictions

        return average_predictions(self, at=at, level=level)

    def marginal_effects(self, variables=None, level: float = 0.95) -> pd.DataFrame:
        """Average marginal effects on the probability of each level (one row per variable and level)."""
        from .margins import average_marginal_effects

        return average_marginal_effects(self, variables, level=level)

    def __str__(self) -> str:
        head = (
            f"Survey-weighted proportional-odds logistic regression: logit P(Y <= k) = zeta_k - eta\n"
            f"Formula: {self.frame.formula}\nLevels: {' < '.join(map(str, self.levels))}\n{self.header}"
        )
        miss = f" ({self.n_missing} left out for missing values)" if self.n_missing else ""
        return (
            f"{head}\n\nCoefficients and cut-points:\n{self._coef_block()}\n"
            f"(residual df {self.df_resid:g}; {self.n} respondents{miss}; SEs: {self.variance_method})"
        )

    __repr__ = __str__


def svyolr(
    formula: str, design, subset=None, *, maxit: int = 100, tol: float = 1e-10, data: pd.DataFrame | None = None
) -> SvyOLR:
    """Proportional-odds logistic regression of an ordered answer on survey data (R's ``svyolr``).

    Parameters
    ----------
    formula : str
        ``"answer ~ terms"``; the response is an ordered pandas Categorical (its order;
        unused categories dropped) or numbers (sorted: 1-5, 0-10 answers). ``C(x)`` terms
        use treatment coding; the intercept is absorbed by the cut-points.
    design : SurveyDesign or ReplicateDesign
    subset : boolean array or Series, optional
        Fit on a domain (other rows stay in the design).
    maxit, tol : int, float
        Newton iterations and the convergence tolerance on the parameter step.
    data : pandas.DataFrame, optional
        Model variables from this frame (the design's rows, same order and index) instead
        of ``design.data``.

    Returns
    -------
    SvyOLR

    Raises
    ------
    ModelError
        A response with fewer than 3 observed levels (use :func:`svyglm` with a binomial
        family), unordered text, a one-level term, collinear columns, no convergence.

    Notes
    -----
    The formula is evaluated as Python code by formulaic (as in :func:`svyglm`): never build
    it from untrusted text, such as column names read from a data file.

    ``logit P(Y <= k) = zeta_k - x'beta`` (R's polr/svyolr). Estimates are the exact
    weighted maximum-likelihood solution (R's default BFGS stops earlier: its estimates
    differ in the 5th-6th digit). ``df_resid`` = design df of the fit minus the number of
    slopes, as R.

    References
    ----------
    McCullagh (1980); Lumley (2010), §6.3; R ``survey::svyolr``.
    """
    mf = build_model_frame(formula, design, subset, drop_intercept=True, data=data)
    levels, k = ordered_levels(mf.response, mf.response_name)
    if len(levels) < 3:
        raise ModelError(
            f"the response {mf.response_name!r} has {len(levels)} observed level(s) {levels}; svyolr needs at least "
            "3. For a yes/no answer use svyglm(..., family='quasibinomial')"
        )
    md = ModelDesign(design, mf.rows, subset)
    model = _OLRModel(mf.X, k, len(levels))
    w = md.w / md.w.mean()
    theta, conv = model.newton(model.start(w)[None, :], w[:, None], maxit=maxit, tol=tol)
    if not conv:
        raise ModelError(f"svyolr did not converge in {maxit} Newton steps: look for a term that separates the levels")
    theta = theta[0]
    names = list(mf.columns) + [f"{a}|{b}" for a, b in itertools.pairwise(levels)]
    reps = influence = None
    if md.kind == "taylor":
        _, H = model.grad_hess(theta[None, :], md.w[:, None])
        influence = (model.scores(theta) * md.w[:, None]) @ np.linalg.inv(-H[0])
        V = md.influence_vcov(influence)
    else:
        Wr = md.replicate_weights / md.w.mean()
        reps, rconv = model.newton(np.tile(theta, (Wr.shape[1], 1)), Wr, maxit=maxit, tol=tol)
        if not rconv:
            raise ModelError("svyolr: some replicate refits did not converge; a replicate may lack a level")
        V = md.replicate_vcov(reps, theta)
    p = len(mf.columns)
    return SvyOLR(
        params=pd.Series(theta[:p], index=mf.columns, name="estimate"),
        thresholds=pd.Series(theta[p:], index=names[p:], name="estimate"),
        vcov=pd.DataFrame(V, index=names, columns=names),
        levels=levels,
        df_resid=md.df - p,
        design_df=md.df,
        n=int(mf.rows.sum()),
        n_missing=mf.n_missing,
        influence=influence,
        replicate_params=reps,
        frame=mf,
        model_design=md,
        variance_method="Taylor linearization" if md.kind == "taylor" else "replicate weights",
        header=design_header(design, mf.rows, md.df),
    )
