"""The batched replicate refits of svyglm equal exact, separate refits of every replicate.

svyglm on a replicate design refits all replicates at once (blocked IRLS started at the
full-sample estimate, single-precision Gram matrices that only steer the Newton step, Gram
matrices kept near convergence). R's svyglm refits each replicate with glm from its own
starting values. Both stop on the same deviance rule, so they must reach the same fixed
point: checked here against a plain loop of single-weight IRLS fits (R's starting values,
double-precision WLS steps) on small seeded designs.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.survey.regression import FAMILIES, irls, irls_batched


def _survey(n: int = 900, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, 6, n)
    psu = stratum * 5 + rng.integers(0, 5, n)
    X = rng.normal(size=(n, 3))
    region = rng.choice(["a", "b", "c"], n)
    eta = -0.2 + X @ np.array([0.6, -0.4, 0.2]) + (region == "b") * 0.4 + rng.normal(scale=0.3, size=30)[psu]
    d = pd.DataFrame(X, columns=["x1", "x2", "x3"])
    d["region"] = region
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    d["count"] = rng.poisson(np.exp(0.3 + 0.3 * X[:, 0]))
    d["score"] = eta + rng.normal(size=n)
    d["w"] = rng.uniform(20, 80, 30)[psu] * rng.uniform(0.8, 1.2, n)
    d["stratum"], d["psu"] = stratum, psu
    return d


def _exact_refits(fit, W: np.ndarray, family: str) -> np.ndarray:
    """One independent IRLS fit per replicate column (R's svyglm.svyrep.design), in a plain loop."""
    X, y = fit.frame.X, fit.frame.response.to_numpy(dtype=float)
    fam = FAMILIES[family]
    out = []
    for r in range(W.shape[1]):
        beta, conv, _ = irls(X, y, W[:, r] / W[:, r].sum(), fam, epsilon=1e-12, maxit=50)
        assert conv
        out.append(beta)
    return np.array(out)


@pytest.mark.parametrize(
    "method,family,formula",
    [
        ("bootstrap", "quasibinomial", "y ~ x1 + x2 + x3 + C(region)"),
        ("jkn", "quasibinomial", "y ~ x1 + x2 * C(region)"),
        ("bootstrap", "poisson", "count ~ x1 + x2"),
        ("bootstrap", "gaussian", "score ~ x1 + x3 + C(region)"),
    ],
)
def test_batched_replicate_refits_equal_separate_fits(method, family, formula):
    d = _survey()
    des = hi.SurveyDesign(d, weights="w", strata="stratum", psu="psu")
    rep = des.to_replicates(method, 40, seed=7) if method == "bootstrap" else des.to_replicates(method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        fit = hi.svyglm(formula, rep, family=family)
    W = np.asarray(rep.replicate_weights(), dtype=float)
    exact = _exact_refits(fit, W, family)
    np.testing.assert_allclose(fit.replicate_params, exact, rtol=0, atol=2e-8)
    # and hence the replicate covariance
    V = rep.replicate_vcov(exact, fit.params.to_numpy())
    np.testing.assert_allclose(fit.vcov.to_numpy(), V, rtol=1e-6, atol=1e-14)


def test_batched_irls_from_r_starting_values_equals_separate_fits():
    d = _survey(seed=5)
    des = hi.SurveyDesign(d, weights="w", strata="stratum", psu="psu").to_replicates("bootstrap", 25, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        fit = hi.svyglm("y ~ x1 + x2 + C(region)", des, family="binomial")
    W = np.asarray(des.replicate_weights(), dtype=float)
    X, y = fit.frame.X, fit.frame.response.to_numpy(dtype=float)
    B, conv, _ = irls_batched(X, y, W, FAMILIES["binomial"], epsilon=1e-12, maxit=50, scale=1.0 / W.sum(axis=0))
    assert conv.all()
    np.testing.assert_allclose(B, _exact_refits(fit, W, "binomial"), rtol=0, atol=2e-8)
