"""Design-based generalised linear models (R's ``svyglm``) and Wald tests (``regTermTest``).

:func:`svyglm` fits a generalised linear model by iteratively reweighted least squares with
the sampling weights as prior weights (R's ``glm.fit``: the same starting values and the same
convergence rule on the deviance), and estimates its covariance from the sample design:

* Taylor designs: the sandwich ``A^-1 V A^-1`` with ``A = sum_i w_i x_i x_i' mu'(eta_i)^2 /
  V(mu_i)`` and ``V`` the design covariance of the totals of the estimating functions
  ``u_i = w_i x_i (y_i - mu_i) mu'(eta_i) / V(mu_i)``, computed by the engine's
  ``influence_vcov`` (strata, PSUs, fpc, lonely-PSU rules, calibration, domains);
* replicate designs: the model is refitted with every replicate weight column (all
  replicates at once: batched IRLS in numpy, each refit started one Newton step from the
  full-sample fit and iterated to its own convergence, as separate ``glm`` calls) and the
  replicate coefficients go through ``replicate_vcov``.

Speed: IRLS passes run over row blocks of a few thousand rows (temporaries stay in cache,
BLAS single-threaded: OpenBLAS threads on such blocks cost several times the CPU they
save), Gram matrices as symmetric rank-k updates; replicate refits keep single-precision
Gram matrices (they only steer the Newton step; the score is exact) and reuse them once the
deviance has settled. Threads over the replicate columns were tried and dropped: on the
shared 2-core machine they cost CPU and wall time. See ``benchmarks/bench_regression.py``.

Results carry R's ``summary.svyglm`` numbers: ``df_resid = degf + 1 - p``, t statistics on
those df, and the dispersion (the design-weighted variance of the Pearson residuals).

References
----------
Binder, D. A. (1983). On the variances of asymptotically normal estimators from complex
surveys. *International Statistical Review* 51, 279–292.
Lumley, T. & Scott, A. (2017). Fitting regression models to survey data. *Statistical
Science* 32, 265–278.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, ch. 5. Wiley.
McCullagh, P. & Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed. Chapman & Hall.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats
from threadpoolctl import threadpool_limits

from ..errors import HappinessIndexWarning, ModelError
from .modelframe import ModelDesign, ModelFrame, build_model_frame, design_header

__all__ = [
    "FAMILIES",
    "Family",
    "FitTable",
    "SvyGLM",
    "WaldTest",
    "irls",
    "irls_batched",
    "svyglm",
    "wald_test",
    "weighted_grams",
]


# ---------------------------------------------------------------------------
# families
# ---------------------------------------------------------------------------

_EPS = 10 * np.finfo(float).eps


@dataclass(frozen=True)
class Family:
    """A GLM family with its canonical link (R's ``gaussian()``, ``binomial()``, ``poisson()``, quasi-)."""

    name: str
    link: str

    def linkinv(self, eta):
        if self.link == "identity":
            return eta
        if self.link == "logit":
            return special.expit(eta)
        return np.exp(np.clip(eta, -700, 700))

    def linkfun(self, mu):
        if self.link == "identity":
            return mu
        if self.link == "logit":
            return special.logit(mu)
        return np.log(mu)

    def mu_eta(self, eta):
        """d mu / d eta (R's ``mu.eta``, with its floor for the logit)."""
        if self.link == "identity":
            return np.ones_like(eta)
        if self.link == "logit":
            e = np.exp(-np.abs(eta))
            return np.maximum(e / (1 + e) ** 2, _EPS)
        return np.maximum(np.exp(np.clip(eta, -700, 700)), _EPS)

    def variance(self, mu):
        if self.link == "identity":
            return np.ones_like(mu)
        if self.link == "logit":
            return mu * (1 - mu)
        return mu

    def deviance(self, y, mu, w):
        """Total deviance (R's ``sum(dev.resids)``), columnwise for 2-D ``mu``/``w``."""
        if self.link == "identity":
            d = w * (y - mu) ** 2
        elif self.link == "logit":
            d = (
                2
                * w
                * (
                    special.xlogy(y, y)
                    - special.xlogy(y, mu)
                    + special.xlogy(1 - y, 1 - y)
                    - special.xlogy(1 - y, 1 - mu)
                )
            )
        else:
            d = 2 * w * (special.xlogy(y, y) - special.xlogy(y, mu) - (y - mu))
        return d.sum(axis=0)

    def saturated(self, y) -> np.ndarray:
        """Per-row constant of the deviance (the saturated log-likelihood part), canonical links."""
        if self.link == "logit":
            return special.xlogy(y, y) + special.xlogy(1 - y, 1 - y)
        if self.link == "log":
            return special.xlogy(y, y) - y
        return np.zeros_like(y, dtype=float)

    def deviance_eta(self, y, eta, W, const) -> np.ndarray:
        """Deviance per weight column from the linear predictor: one transcendental pass.

        Canonical links: ``dev = 2 (const - sum_i W_i (y_i eta_i - b(eta_i)))`` with ``b`` the
        cumulant (softplus for the logit, exp for the log); gaussian ``sum W (y - eta)^2``.
        """
        yc = y[:, None]
        if self.link == "identity":
            return np.einsum("ir,ir->r", W, (yc - eta) ** 2)
        b = np.logaddexp(0.0, eta) if self.link == "logit" else np.exp(np.clip(eta, -700, 700))
        return 2 * (const - np.einsum("ir,ir->r", W, yc * eta - b))

    def mean_weight(self, eta):
        """(mu, mu'(eta)^2 / V(mu)) for a canonical link (= mu'(eta), floored as R's mu.eta)."""
        if self.link == "identity":
            return eta, np.ones_like(eta)
        if self.link == "logit":
            mu = special.expit(eta)
            return mu, np.maximum(mu * (1 - mu), _EPS)
        mu = np.exp(np.clip(eta, -700, 700))
        return mu, np.maximum(mu, _EPS)

    def start(self, y, w):
        """R's ``family$initialize``: the starting fitted values."""
        if self.link == "identity":
            return y.astype(float)
        if self.link == "logit":
            return (w * y + 0.5) / (w + 1)
        return y + 0.1

    def check_response(self, y: np.ndarray, name: str) -> None:
        if self.link == "logit" and ((y < 0) | (y > 1)).any():
            bad = np.unique(y[(y < 0) | (y > 1)])[:5]
            raise ModelError(
                f"family {self.name!r} needs a response in [0, 1] (0/1 or a proportion); {name!r} has {list(bad)}. "
                f"Recode it, e.g. '{{{name} >= 4}} ~ ...' for 'satisfied'"
            )
        if self.link == "log" and (y < 0).any():
            raise ModelError(f"family {self.name!r} needs a non-negative response; {name!r} has negative values")


FAMILIES = {
    "gaussian": Family("gaussian", "identity"),
    "binomial": Family("binomial", "logit"),
    "quasibinomial": Family("quasibinomial", "logit"),
    "poisson": Family("poisson", "log"),
    "quasipoisson": Family("quasipoisson", "log"),
}


def _family(family) -> Family:
    if isinstance(family, Family):
        return family
    f = FAMILIES.get(str(family).lower())
    if f is None:
        raise ModelError(f"family={family!r} is not supported; use one of {sorted(FAMILIES)}")
    return f


# ---------------------------------------------------------------------------
# IRLS
# ---------------------------------------------------------------------------


def irls(X, y, w, family: Family, *, epsilon: float = 1e-8, maxit: int = 25, start=None):
    """Weighted IRLS as R's ``glm.fit`` (one weight vector).

    Parameters
    ----------
    X : ndarray (n, p); y : ndarray (n,); w : ndarray (n,) prior weights (>= 0)
    family : Family
    epsilon, maxit : float, int
        Convergence when ``|dev - dev_old| / (|dev| + 0.1) < epsilon`` (R's rule).
    start : ndarray (p,), optional
        Starting coefficients; default R's ``family$initialize`` fitted values.

    Returns
    -------
    (beta, converged, iterations)
    """
    beta, conv, it = irls_batched(
        X,
        y,
        w[:, None],
        family,
        epsilon=epsilon,
        maxit=maxit,
        start=None if start is None else np.asarray(start)[None, :],
    )
    return beta[0], bool(conv[0]), int(it)


def weighted_grams(X: np.ndarray, C: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """sum_i C[i, r] x_i x_i' for every column r: (R, p, p), in row blocks (bounded memory)."""
    n, p = X.shape
    R = C.shape[1]
    if R == 1:
        G = X.T @ (X * C)
        return ((G + G.T) / 2)[None]
    iu = np.triu_indices(p)
    out = np.zeros((R, len(iu[0])))
    for s in range(0, n, chunk):
        Xb = X[s : s + chunk]
        Q = Xb[:, iu[0]] * Xb[:, iu[1]]
        out += C[s : s + chunk].T @ Q
    G = np.zeros((R, p, p))
    G[:, iu[0], iu[1]] = out
    G[:, iu[1], iu[0]] = out
    return G


def _gram(X: np.ndarray, c: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """``X' diag(c) X`` (p, p) for ``c >= 0``, as rank-k updates of ``sqrt(c) X`` in row blocks."""
    p = X.shape[1]
    G = np.zeros((p, p))
    r = np.sqrt(c)
    for s in range(0, len(c), chunk):
        Xs = X[s : s + chunk] * r[s : s + chunk, None]
        G += Xs.T @ Xs
    return G


def _scaled_rows(X: np.ndarray, M: np.ndarray, s: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """``diag(s) X M`` (n, q), C-ordered (the engine's layout), in row blocks (single-threaded BLAS)."""
    out = np.empty((X.shape[0], M.shape[1]))
    for i in range(0, len(s), chunk):
        np.multiply(X[i : i + chunk] @ M, s[i : i + chunk, None], out=out[i : i + chunk])
    return out


def _solve_steps(G: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(G, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        raise ModelError(
            "the weighted least-squares step is singular (a term is constant or collinear among the rows with "
            "positive weight, or fitted values reached the boundary): drop or merge that term"
        ) from None


def _irls_pass(X, y, W, family: Family, B, act, eta0=None, chunk: int = 4096, gram: bool = True):
    """One pass over the rows, in blocks: the deviance at ``B`` and the IRLS normal equations there.

    Returns ``(dev (k,), G (k, p, p) or None, rhs (k, p))`` for the weight columns ``act``;
    the working quantities live only block by block (cache-friendly, no n x R temporaries).
    Canonical links: working weight ``C = W mu'(eta)``. ``rhs`` is the WLS right-hand side
    ``X'(C eta + W (y - mu))`` for one fit or from starting values ``eta0``, else the score
    ``X'W(y - mu)`` (the step is then an increment). ``gram=False`` skips the Gram matrices
    of a score-form pass (``G`` is then None). The deviance lacks its saturated constant.
    """
    n, p = X.shape
    k = len(act)
    every = k == W.shape[1]
    if k == 1 and every:  # one fit: row blocks small enough for the cache and single-threaded BLAS
        return _single_pass(X, y, W[:, 0], family, B[0], None if eta0 is None else eta0[:, 0])
    iu = np.triu_indices(p)
    score_form = eta0 is None
    gram = gram or not score_form
    dev, gsum, rhs = np.zeros(k), np.zeros((k, len(iu[0]))), np.zeros((k, p))
    for s in range(0, n, chunk):
        Xc, yc = X[s : s + chunk], y[s : s + chunk, None]
        Wc = W[s : s + chunk] if every else W[s : s + chunk, act]
        eta = (Xc @ B[act].T) if eta0 is None else eta0[s : s + chunk]
        mu, C, ll = _block_values(family, eta, yc)
        dev -= 2 * np.einsum("ir,ir->r", Wc, ll)
        C *= Wc
        if score_form:
            if gram:  # the Gram matrices only steer the step (the score is exact): single precision
                gsum += C.T.astype(np.float32) @ (Xc[:, iu[0]] * Xc[:, iu[1]]).astype(np.float32)
            np.subtract(yc, mu, out=mu)
            mu *= Wc
            rhs += mu.T @ Xc
        else:  # first step from R's starting fitted values: the WLS normal equations
            gsum += C.T @ (Xc[:, iu[0]] * Xc[:, iu[1]])
            rhs += (C * eta + Wc * (yc - mu)).T @ Xc
    if not gram:
        return dev, None, rhs
    G = np.zeros((k, p, p))
    G[:, iu[0], iu[1]] = gsum
    G[:, iu[1], iu[0]] = gsum
    return dev, G, rhs


def _block_values(family: Family, eta, yc):
    """(mu, mu'(eta) floored, y eta - b(eta)) of a block, fresh arrays (``eta`` is not modified).

    ``b`` is the cumulant of the canonical link (softplus for the logit, exp for the log;
    gaussian: the third value is ``-(y - eta)^2 / 2``), so the deviance is ``-2 sum W`` of it
    plus the saturated constant. The logit needs one exponential, computed in place.
    """
    if family.link == "logit":
        e = np.abs(eta)
        np.negative(e, out=e)
        np.exp(e, out=e)
        inv = e + 1.0
        np.reciprocal(inv, out=inv)
        v = e * inv
        mu = np.where(eta >= 0, inv, v)
        v *= inv
        np.maximum(v, _EPS, out=v)
        np.log1p(e, out=e)
        e += np.maximum(eta, 0.0)
        ll = yc * eta
        ll -= e
        return mu, v, ll
    if family.link == "log":
        mu, v = family.mean_weight(eta)
        return mu, v, yc * eta - mu
    return np.array(eta, dtype=float), np.ones_like(eta, dtype=float), -0.5 * (yc - eta) ** 2


def _max_abs_eta(X, W, B, chunk: int = 4096) -> np.ndarray:
    """Largest ``|x_i' b_r|`` over the rows with positive weight ``W[i, r]``, per column (R,)."""
    out = np.zeros(W.shape[1])
    for s in range(0, len(X), chunk):
        eta = np.abs(X[s : s + chunk] @ B.T)
        eta[W[s : s + chunk] <= 0] = 0.0
        np.maximum(out, eta.max(axis=0), out=out)
    return out


def _logit_parts(eta):
    """(mu, mu'(eta) floored, softplus(eta)) of the logit link from one exponential."""
    e = np.exp(-np.abs(eta))
    inv = 1.0 / (1.0 + e)
    mu = np.where(eta >= 0, inv, e * inv)
    return mu, np.maximum(e * inv * inv, _EPS), np.log1p(e) + np.maximum(eta, 0.0)


def _single_pass(X, y, w, family: Family, beta, eta0=None, chunk: int = 8192):
    """:func:`_irls_pass` for one weight vector: WLS normal equations, accumulated in row blocks.

    Blocks of ``chunk`` rows keep every temporary in cache and each BLAS call below the size
    at which OpenBLAS starts threads (at 1M rows about four times less CPU than whole
    columns). The Gram matrix is a symmetric rank-k update of ``sqrt(c) X``.
    """
    n, p = X.shape
    G, rhs, dev = np.zeros((p, p)), np.zeros(p), 0.0
    for s in range(0, n, chunk):
        Xc, yc, wc = X[s : s + chunk], y[s : s + chunk], w[s : s + chunk]
        eta = Xc @ beta if eta0 is None else eta0[s : s + chunk]
        if family.link == "logit":
            mu, v, b = _logit_parts(eta)
            dev -= 2 * (wc @ (yc * eta - b))
        else:
            mu, v = family.mean_weight(eta)
            dev += wc @ (yc - eta) ** 2 if family.link == "identity" else -2 * (wc @ (yc * eta - mu))
        c = wc * v
        Xs = Xc * np.sqrt(c)[:, None]
        G += Xs.T @ Xs
        rhs += (c * eta + wc * (yc - mu)) @ Xc
    return np.array([dev]), G[None], rhs[None]


def irls_batched(
    X,
    y,
    W,
    family: Family,
    *,
    epsilon: float = 1e-8,
    maxit: int = 25,
    start=None,
    scale=None,
    diagnostics: dict | None = None,
):
    """IRLS for many weight vectors at once (replicate weights): R's ``glm.fit`` per column.

    Parameters
    ----------
    X : ndarray (n, p); y : ndarray (n,)
    W : ndarray (n, R)
        One prior-weight column per fit.
    start : ndarray (R, p), optional
        Starting coefficients (e.g. the full-sample fit); default R's initial fitted values.
    scale : ndarray (R,), optional
        Column factors of the weights (the fits use ``W * scale``; ``W`` is not copied).
    diagnostics : dict, optional
        Filled with ``"max_abs_eta"`` (R,): the largest ``|eta|`` of a row with positive
        weight at the final coefficients (above ~23 a fitted probability is 0 or 1).

    Returns
    -------
    (beta (R, p), converged (R,) bool, iterations)
        Each column stops at its own convergence (R's rule ``|dev - dev_old| / (|dev| + 0.1)
        < epsilon``), as separate ``glm`` calls would; only the columns still iterating are
        updated.

    Notes
    -----
    The families here use canonical links, so the working weight is ``mu'(eta)`` and the
    deviance needs one transcendental function per row and column. Each iteration is one
    pass over the rows in blocks that returns the deviance at the current coefficients and
    the normal equations of the next step, for all weight columns at once. Once every
    column still iterating has a relative deviance change below 1e-6, the last Gram
    matrices are kept (a chord Newton step: the fixed point, set by the exact score, and the
    stopping rule are unchanged).
    """
    p = X.shape[1]
    R = W.shape[1]
    y = np.asarray(y, dtype=float)
    if scale is not None and start is None:
        W = W * scale  # R's starting values depend on the weights themselves
        scale = None
    scale = np.ones(R) if scale is None else np.asarray(scale, dtype=float)
    const = 2 * (family.saturated(y) @ W) if family.link != "identity" else np.zeros(R)
    act = np.arange(R)
    # the blocked pass (R > 1) returns the score X'W(y - mu) at the coefficients (the step is
    # an increment), except from R's starting fitted values; the single-fit pass the WLS rhs
    score_form = R > 1 and start is not None
    with threadpool_limits(limits=1, user_api="blas"):  # small blocks: threads cost more than they give
        if start is None:
            B = np.zeros((R, p))
            eta0 = family.linkfun(family.start(y[:, None], W))
            dev_old, G, rhs = _irls_pass(X, y, W, family, B, act, eta0=eta0)
        else:
            B = np.asarray(start, dtype=float).copy()
            dev_old, G, rhs = _irls_pass(X, y, W, family, B, act)
        dev_old = (dev_old + const) * scale
        conv = np.zeros(R, dtype=bool)
        gram = True
        for iterations in range(1, maxit + 1):  # noqa: B007 - returned after the loop
            B[act] = _solve_steps(G, rhs) + (B[act] if score_form else 0.0)
            score_form = R > 1
            dev, G_new, rhs = _irls_pass(X, y, W, family, B, act, gram=gram)
            G = G if G_new is None else G_new
            dev = (dev + const[act]) * scale[act]
            change = np.abs(dev - dev_old[act]) / (np.abs(dev) + 0.1)
            done = change < epsilon
            conv[act] = done
            dev_old[act] = dev
            # near the solution the last Gram matrices still steer the step (chord Newton)
            gram = bool((change[~done] > 1e-6).any())
            if conv.all():
                break
            act, G, rhs = act[~done], G[~done], rhs[~done]
        if diagnostics is not None:
            diagnostics["max_abs_eta"] = _max_abs_eta(X, W, B)
    return B, conv, iterations


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WaldTest:
    """A Wald test that some coefficients are all zero (R's ``regTermTest``, method "Wald").

    Attributes
    ----------
    terms : list of str
        The formula terms tested.
    columns : list of str
        Their model-matrix columns (``ndf`` of them).
    chisq : float
        ``b' V^-1 b`` with ``b`` those coefficients and ``V`` their covariance block.
    F, ndf, ddf, p : float
        ``F = chisq / ndf`` referred to F(ndf, ddf) with ``ddf`` the model's residual df;
        with ``ddf = inf`` the p-value is that of chi-squared(ndf) for ``chisq``.
    """

    terms: list
    columns: list
    chisq: float
    F: float
    ndf: int
    ddf: float
    p: float

    @property
    def statistic(self) -> float:
        """The F statistic (``chisq / ndf``)."""
        return self.F

    def __str__(self) -> str:
        test = (
            f"F = {self.F:.6g} on {self.ndf} and {self.ddf:g} df"
            if math.isfinite(self.ddf)
            else (f"Chisq = {self.chisq:.6g} on {self.ndf} df")
        )
        return f"Wald test for {', '.join(self.terms)}: {test}, p = {self.p:.4g}"


def wald_test(params: pd.Series, vcov: pd.DataFrame, columns: list, terms: list, ddf: float) -> WaldTest:
    """Wald test of ``params[columns] == 0`` with covariance ``vcov`` (see :class:`WaldTest`)."""
    b = params[columns].to_numpy(dtype=float)
    V = vcov.loc[columns, columns].to_numpy(dtype=float)
    try:
        chisq = float(b @ np.linalg.solve(V, b))
    except np.linalg.LinAlgError:
        raise ModelError(f"the covariance of {columns} is singular: the Wald test of {terms} is not defined") from None
    ndf = len(columns)
    F = chisq / ndf
    if math.isfinite(ddf):
        p = float(stats.f.sf(F, ndf, ddf)) if ddf > 0 else math.nan
    else:
        p = float(stats.chi2.sf(chisq, ndf))
    return WaldTest(list(terms), list(columns), chisq, F, ndf, float(ddf), p)


class FitTable:
    """Shared printing and tables of svyglm / svyolr fits (coefficients with t statistics)."""

    params: pd.Series
    vcov: pd.DataFrame
    df_resid: float
    frame: ModelFrame

    @property
    def se(self) -> pd.Series:
        """Standard errors: square roots of the diagonal of :attr:`vcov`."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.vcov.index, name="se")

    def to_frame(self, level: float = 0.95, df: float | None = None) -> pd.DataFrame:
        """Coefficients as a table: term, estimate, se, t, p, ci_low, ci_high.

        Parameters
        ----------
        level : float, default 0.95
        df : float, optional
            Degrees of freedom of t and of the interval; default :attr:`df_resid` (as R's
            ``summary.svyglm``). ``math.inf`` gives Normal quantiles, the default of R's
            ``confint.svyglm``.
        """
        df = self.df_resid if df is None else float(df)
        est = self._all_params()[self.vcov.index].to_numpy(dtype=float)
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        t = est / se
        if df > 0:
            p = 2 * stats.t.sf(np.abs(t), df)
            q = stats.t.ppf(0.5 + level / 2, df)
        else:
            p = np.full(len(t), np.nan)
            q = math.nan
        return pd.DataFrame(
            {
                "term": list(self.vcov.index),
                "estimate": est,
                "se": se,
                "t": t,
                "p": p,
                "ci_low": est - q * se,
                "ci_high": est + q * se,
            }
        )

    def _all_params(self) -> pd.Series:
        return self.params

    def wald_test(self, terms, df: float | None = None) -> WaldTest:
        """Wald test that every coefficient of one or more terms is zero (R's ``regTermTest``).

        Parameters
        ----------
        terms : str or list of str
            Formula terms as written by formulaic (``"C(stype)"``, ``"ell:C(stype)"``,
            ``"ell"``) or model-matrix column names.
        df : float, optional
            Denominator df; default :attr:`df_resid` (R). ``math.inf`` gives the
            chi-squared version (``chisq`` on ``ndf`` df).

        Returns
        -------
        WaldTest

        Raises
        ------
        ModelError
            A term that is not in the model.
        """
        terms = [terms] if isinstance(terms, str) else list(terms)
        cols: list = []
        for t in terms:
            key = t.replace(" ", "")
            found = [k for k in self.frame.terms if k.replace(" ", "") == key]
            if found:
                cols += [self.frame.columns[i] for i in self.frame.terms[found[0]]]
            elif t in self.vcov.index:
                cols.append(t)
            else:
                raise ModelError(f"term {t!r} is not in the model; its terms are {list(self.frame.terms)}")
        return wald_test(self._all_params(), self.vcov, cols, terms, self.df_resid if df is None else float(df))

    def _coef_block(self) -> str:
        tab = self.to_frame()
        w = max(12, max(len(t) for t in tab["term"]) + 2)
        lines = [f"{'':{w}}{'Estimate':>12}{'Std. Error':>12}{'t value':>9}{'Pr(>|t|)':>11}"]
        for r in tab.itertuples():
            lines.append(f"{r.term:{w}}{r.estimate:>12.5g}{r.se:>12.5g}{r.t:>9.3f}{r.p:>11.3g}")
        return "\n".join(lines)


class SvyGLM(FitTable):
    """A design-based generalised linear model fit (result of :func:`svyglm`).

    Attributes
    ----------
    params : pandas.Series
        Coefficients, one per model-matrix column, in model-matrix order (Intercept first).
    se : pandas.Series
        Design-based standard errors.
    vcov : pandas.DataFrame
        Design-based covariance (sandwich for Taylor designs, replicate variance otherwise).
    df_resid : float
        R's ``df.residual``: design df of the fit + 1 - number of coefficients.
    design_df : float
        Design degrees of freedom of the fit (PSUs with respondents in the fit minus strata).
    dispersion : float
        R's ``summary.svyglm`` dispersion (the design-weighted variance of the Pearson
        residuals; 1 is not imposed for binomial/poisson). Not used by the standard errors.
    n : int
        Respondents used in the fit.
    n_missing : int
        Respondents of the domain left out for a missing model variable.
    family : Family
    converged : bool; iterations : int
    influence : numpy.ndarray (n_fit, p) or None
        Weighted influence values of the coefficients (Taylor designs).
    replicate_params : numpy.ndarray (R, p) or None
        Coefficients refitted with each replicate weight column (replicate designs).
    frame : ModelFrame
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def predict(self, data: pd.DataFrame | None = None, type: str = "response") -> pd.Series:
        """Fitted means (``type="response"``) or linear predictors (``"link"``) on the fit rows or ``data``."""
        X = self.frame.X if data is None else self.frame.model_matrix(data)
        eta = X @ self.params.to_numpy()
        out = self.family.linkinv(eta) if type == "response" else eta
        idx = self.frame.response.index if data is None else data.index
        return pd.Series(out, index=idx, name=type)

    def marginal_effects(self, variables=None, level: float = 0.95) -> pd.DataFrame:
        """Average marginal effects on the mean response, with design-based delta-method SEs.

        See :func:`happiness_index.survey.margins.average_marginal_effects`.
        """
        from .margins import average_marginal_effects

        return average_marginal_effects(self, variables, level=level)

    def __str__(self) -> str:
        head = (
            f"Survey-weighted generalised linear model: family {self.family.name}, link {self.family.link}\n"
            f"Formula: {self.frame.formula}\n{self.header}"
        )
        miss = f" ({self.n_missing} left out for missing values)" if self.n_missing else ""
        tail = (
            f"(Dispersion parameter {self.dispersion:.6g}; residual df {self.df_resid:g}; "
            f"{self.n} respondents{miss}; SEs: {self.variance_method})"
        )
        return f"{head}\n\nCoefficients:\n{self._coef_block()}\n{tail}"

    __repr__ = __str__

    # the interface of average marginal effects (margins.py) --------------------
    @property
    def theta(self) -> np.ndarray:
        """All parameters as one vector (the coefficients)."""
        return self.params.to_numpy(dtype=float)

    @property
    def outcome_labels(self) -> list:
        """Labels of the mean outputs of :meth:`response_means` (one: the response)."""
        return [self.frame.response_name]

    def response_means(self, Theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Fitted means for a stack of parameter vectors: (n, k, 1) for ``Theta`` (k, p)."""
        return self.family.linkinv(X @ np.atleast_2d(Theta).T)[:, :, None]

    def response_jacobian(self, X: np.ndarray) -> np.ndarray:
        """d mean_i / d theta at the fit: (n, 1, p) = mu'(eta_i) x_i."""
        d = self.family.mu_eta(X @ self.theta)
        return (d[:, None] * X)[:, None, :]


def _numeric_response(mf: ModelFrame, family: Family) -> np.ndarray:
    y = mf.response
    if pd.api.types.is_bool_dtype(y.dtype):
        y = y.astype(float)
    if not pd.api.types.is_numeric_dtype(y.dtype):
        raise ModelError(
            f"the response {mf.response_name!r} is not numeric ({y.dtype}); for a yes/no answer write the event, "
            f"e.g. \"{{{mf.response_name} == 'Yes'}} ~ ...\", or use svyolr for ordered answers"
        )
    y = y.to_numpy(dtype=float)
    family.check_response(y, mf.response_name)
    return y


def _check_separation(mf: ModelFrame, y: np.ndarray, beta: np.ndarray, family: Family, eta=None) -> None:
    """Refuse (quasi-)complete separation in binomial models, naming the column at fault."""
    if family.link != "logit":
        return
    X = mf.X
    for j, col in enumerate(mf.columns):
        x = X[:, j]
        if col == "Intercept" or x.min() < 0 or x.max() > 1 or not np.isin(x, (0.0, 1.0)).all():
            continue
        n1, y1 = float(x.sum()), float(x @ y)  # respondents with x = 1 and their sum of y (y in [0, 1])
        for v, cnt, ysum in ((1.0, n1, y1), (0.0, len(y) - n1, float(y.sum()) - y1)):
            if 0 < cnt < len(y) and (ysum == 0 or ysum == cnt):
                raise ModelError(
                    f"perfect separation: every one of the {int(cnt)} respondents with {col} = {v:g} has response "
                    f"{0 if ysum == 0 else 1}, so the coefficient of {col!r} is infinite. Merge that category with a "
                    "neighbour, drop the term, or report the share directly"
                )
    mu = special.expit(X @ beta if eta is None else eta)
    extreme = (mu < 1e-10) | (mu > 1 - 1e-10)
    if extreme.any():
        big = mf.columns[int(np.argmax(np.abs(beta) * X.std(axis=0)))]
        raise ModelError(
            f"perfect or quasi-complete separation: {int(extreme.sum())} fitted probabilities are 0 or 1 and the "
            f"coefficients diverge (largest effect: {big!r}). Drop or merge the term that predicts the outcome exactly"
        )


def _warn_replicate_separation(X, y, W, family: Family, max_abs_eta, chunk: int = 8192) -> None:
    """Warn when replicate refits of a logit model separate (their coefficients are arbitrary).

    A refit separates when fitted probabilities of rows with positive weight are numerically
    0 or 1 (``|eta| > 23``), or when a 0/1 column splits the rows with positive weight so
    that one side has a single outcome value.
    """
    if family.link != "logit":
        return
    sep = np.asarray(max_abs_eta) > 23 if max_abs_eta is not None else np.zeros(W.shape[1], dtype=bool)
    binary = [j for j in range(X.shape[1]) if np.isin(X[:, j], (0.0, 1.0)).all() and not X[:, j].all()]
    if binary:
        # per replicate: rows with positive weight, their sum of y, and both per 0/1 column;
        # float32 products of row blocks (exact counts), accumulated in float64
        Bin = X[:, binary].astype(np.float32)
        yf = y.astype(np.float32)[:, None]
        M = np.hstack([np.ones_like(yf), yf, Bin, Bin * yf])
        tot = np.zeros((W.shape[1], M.shape[1]))
        for s in range(0, len(y), chunk):
            tot += (W[s : s + chunk] > 0).astype(np.float32).T @ M[s : s + chunk]
        b = len(binary)
        n_pos, y_pos = tot[:, :1], tot[:, 1:2]
        cnt1, ones1 = tot[:, 2 : 2 + b], tot[:, 2 + b :]
        cnt0, ones0 = n_pos - cnt1, y_pos - ones1
        for cnt, ones in ((cnt1, ones1), (cnt0, ones0)):
            sep |= ((cnt > 0) & (cnt < n_pos) & ((ones == 0) | (ones == cnt))).any(axis=1)
    if sep.any():
        warnings.warn(
            f"{int(sep.sum())} of {len(sep)} replicate refits show perfect separation (fitted probabilities 0 or 1): "
            "their coefficients diverge and the replicate variance of the terms involved is unreliable. Merge sparse "
            "categories or drop the term that predicts the outcome exactly in some replicates",
            HappinessIndexWarning,
            stacklevel=3,
        )


def _dispersion(md: ModelDesign, mf: ModelFrame, y, mu, family: Family, dom: np.ndarray) -> float:
    """R's ``summary.svyglm`` dispersion: svyvar of the Pearson residuals (replicate: R's sum).

    Taylor: ``r_i = (y_i - mu_i) / sqrt(V(mu_i)) * sqrt(mean_fit(w) / mean_design(w))``, the
    means over the rows R's design holds before and after ``na.omit`` (the domain's rows; all
    rows, zero weight outside the domain, for a calibrated design); dispersion
    ``= n/(n-1) sum w (r - rbar)^2 / sum w`` over the n rows of the fit. Replicate designs
    (survey 4.1.1's residuals.svrepglm): ``sum w r^2 / sum w`` with the residuals scaled by
    the square root of the number of rows of the design after ``na.omit``.
    """
    w = md.w
    pearson = (y - mu) / np.sqrt(family.variance(mu))
    if md.kind == "replicate":
        r = pearson * math.sqrt(int(dom.sum()) - mf.n_missing)
        return float((w * r**2).sum() / w.sum())
    w_all = md.design.weights.to_numpy(dtype=float)
    if getattr(md.design, "calibration_info", None):
        # R keeps the out-of-domain rows of a calibrated design (zero weight) and na.omit
        # drops the incomplete rows of the whole data
        n_rows, n_na = len(dom), mf.n_missing_all
    else:  # R's subset of an uncalibrated design drops the out-of-domain rows
        n_rows, n_na = int(dom.sum()), mf.n_missing
    mean_design = float((w_all * dom).sum()) / n_rows
    mean_fit = float(w.sum()) / (n_rows - n_na)
    r = pearson * math.sqrt(mean_fit / mean_design)
    n = len(r)
    rbar = (w * r).sum() / w.sum()
    return float(n / (n - 1) * (w * (r - rbar) ** 2).sum() / w.sum()) if n > 1 else math.nan


def svyglm(
    formula: str,
    design,
    family: str | Family = "gaussian",
    subset=None,
    *,
    epsilon: float = 1e-10,
    maxit: int = 25,
    data: pd.DataFrame | None = None,
) -> SvyGLM:
    """Fit a generalised linear model to survey data with design-based standard errors.

    Parameters
    ----------
    formula : str
        ``"response ~ terms"`` (formulaic syntax; ``C(x)`` categorical with treatment
        coding, ``a:b`` and ``a*b`` interactions, ``{x == 'Yes'}`` a computed response).
    design : SurveyDesign or ReplicateDesign
        The sample design (a ``subset`` design fits on its domain).
    family : {"gaussian", "binomial", "quasibinomial", "poisson", "quasipoisson"}
        Canonical links: identity, logit, log. binomial and quasibinomial (poisson and
        quasipoisson) give the same estimates and standard errors, as in R.
    subset : boolean array or Series, optional
        Fit on a domain; other rows keep their PSUs in the variance (R's ``subset=``).
    epsilon, maxit : float, int
        R's ``glm.control``: stop when ``|dev - dev_old| / (|dev| + 0.1) < epsilon``. The
        default 1e-10 is tighter than R's 1e-8, which can leave coefficients ~1e-7 (relative)
        short of the solution; ``epsilon=1e-8`` reproduces R's default iterations.
    data : pandas.DataFrame, optional
        Model variables from this frame (the design's rows, same order and index) instead
        of ``design.data``: derived variables on a design that cannot be rebuilt.

    Returns
    -------
    SvyGLM

    Raises
    ------
    ModelError
        Unknown column, non-numeric or out-of-range response, a term with one level,
        collinear columns, perfect separation (binomial), no convergence within ``maxit``.

    Warns
    -----
    MissingValuesWarning
        Rows with a missing model variable are left out (R's ``na.omit``) and kept in the
        design as out-of-domain rows.

    Notes
    -----
    The formula is evaluated as Python code by formulaic (``np.log(x)``, ``{x == 'Yes'}``, and
    equally any other call): never build it from untrusted text, such as column names read
    from a data file. Give derived variables short generated names (``data=``) instead, as
    :func:`happiness_index.drivers` does.

    Coefficients solve ``sum_i w_i x_i (y_i - mu_i) mu'(eta_i) / V(mu_i) = 0`` (IRLS with
    prior weights ``w_i / mean(w)`` as R, started at R's ``family$initialize``). Taylor
    covariance: ``A^-1 Var(sum_i u_i) A^-1`` evaluated at the final coefficients (R keeps
    the working weights of its last-but-one iteration, a difference that vanishes when
    IRLS is run to convergence). ``df_resid = design df + 1 - p``. t statistics and p-values
    use ``df_resid``; :meth:`SvyGLM.to_frame` intervals too (pass ``df=math.inf`` for R's
    Normal ``confint``). Replicate designs refit every replicate (batched IRLS started one Newton
    step from the full-sample estimate) and rows with missing values are dropped from each refit.

    References
    ----------
    Binder (1983); Lumley & Scott (2017); R ``survey::svyglm`` (Lumley, 2024).
    """
    fam = _family(family)
    mf = build_model_frame(formula, design, subset, data=data)
    y = _numeric_response(mf, fam)
    md = ModelDesign(design, mf.rows, subset)
    n_design = len(design.data)
    dom = np.asarray(design.in_domain, dtype=bool)
    if subset is not None:
        dom = dom & _as_mask(subset, n_design)
    # R's prior weights: w / mean(w) over the design's rows (zero outside the domain)
    w_mean_design = float((design.weights.to_numpy(dtype=float) * dom).sum()) / n_design
    X, w = mf.X, md.w
    beta, conv, it = irls(X, y, w / w_mean_design, fam, epsilon=epsilon, maxit=maxit)
    eta = X @ beta
    _check_separation(mf, y, beta, fam, eta)
    if not conv:
        raise ModelError(
            f"svyglm did not converge in maxit={maxit} iterations (family {fam.name}). Raise maxit=, check for a "
            "term with extreme values (rescale it), or for categories with very few respondents"
        )
    V, influence, reps = _glm_vcov(md, X, y, beta, fam, epsilon, maxit, eta=eta)
    mu = fam.linkinv(eta)
    names = mf.columns
    return SvyGLM(
        params=pd.Series(beta, index=names, name="estimate"),
        vcov=pd.DataFrame(V, index=names, columns=names),
        df_resid=md.df + 1 - len(names),
        design_df=md.df,
        dispersion=_dispersion(md, mf, y, mu, fam, dom),
        n=int(mf.rows.sum()),
        n_missing=mf.n_missing,
        family=fam,
        converged=bool(conv),
        iterations=int(it),
        influence=influence,
        replicate_params=reps,
        frame=mf,
        model_design=md,
        variance_method="Taylor linearization" if md.kind == "taylor" else "replicate weights",
        header=design_header(design, mf.rows, md.df),
    )


def _glm_vcov(md: ModelDesign, X, y, beta, fam: Family, epsilon: float, maxit: int, eta=None):
    """(vcov, influence values or None, replicate coefficients or None) of a converged fit.

    Taylor: the sandwich ``A^-1 Var(sum u_i) A^-1`` through ``influence_vcov``; replicate
    designs: batched refits with each column ``w_r / sum(w_r)`` (R's svyglm.svyrep.design),
    started at the full-sample fit, through ``replicate_vcov``.
    """
    w = md.w
    if eta is None:
        eta = X @ beta
    mu, me = fam.linkinv(eta), fam.mu_eta(eta)
    var = fam.variance(mu)
    A = _gram(X, w * me**2 / var)
    influence = _scaled_rows(X, np.linalg.inv(A), w * (y - mu) * me / var)  # u_i' A^-1
    if md.kind == "taylor":
        return md.influence_vcov(influence), influence, None
    W = md.replicate_weights
    diag: dict = {}
    # start each refit one Newton step from the full-sample fit, with the full-sample
    # information scaled to the replicate's total weight: beta + A^-1 X'(W_r r) sum(w)/sum(W_r)
    # (a start only: the refits iterate to their own fixed point, as separate glm calls)
    wsum = W.sum(axis=0)
    with threadpool_limits(limits=1, user_api="blas"):
        S = (X * ((y - mu) * me / var)[:, None]).T @ W
    start = beta + (np.linalg.solve(A, S) * (w.sum() / np.where(wsum > 0, wsum, 1.0))).T
    reps, rconv, _ = irls_batched(
        X, y, W, fam, epsilon=epsilon, maxit=maxit, start=start, scale=1.0 / wsum, diagnostics=diag
    )  # R: weights = w_r / sum(w_r)
    if not rconv.all():
        raise ModelError(
            f"{int((~rconv).sum())} replicate refits did not converge in maxit={maxit} iterations; raise maxit="
        )
    with threadpool_limits(limits=1, user_api="blas"):
        _warn_replicate_separation(X, y, W, fam, diag.get("max_abs_eta"))
    return md.replicate_vcov(reps, beta), None, reps


def _as_mask(subset, n: int) -> np.ndarray:
    m = subset.to_numpy() if isinstance(subset, pd.Series) else np.asarray(subset)
    return m.astype(bool).reshape(n)
