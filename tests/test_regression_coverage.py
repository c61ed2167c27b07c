"""Coverage of svyglm's design-based 95% intervals under stratified two-stage sampling (slow).

A finite population (40 strata x 12 villages x 60 households) with a village effect; the
target is the census logistic regression coefficient (the population solution of the
estimating equations). 400 stratified samples of 4 villages per stratum and 12 households
per village (equal probability within a stratum, fpc at both stages); each sample's t(df)
interval should cover the target about 95% of the time, and the mean SE should match the
empirical SD of the estimates.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.survey.regression import FAMILIES, irls


def _population(seed=3):
    rng = np.random.default_rng(seed)
    H, V, M = 40, 12, 60
    stratum = np.repeat(np.arange(H), V * M)
    village = np.repeat(np.arange(H * V), M)
    x = rng.normal(size=H * V * M) + 0.5 * rng.normal(size=H * V)[village]
    grp = rng.choice(["a", "b", "c"], size=H * V * M)
    eta = -0.4 + 0.6 * x + 0.5 * (grp == "b") + rng.normal(scale=0.5, size=H * V)[village]
    y = (rng.random(H * V * M) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"stratum": stratum, "village": village, "x": x, "grp": grp, "y": y}), (H, V, M)


@pytest.mark.slow
def test_logistic_interval_coverage():
    pop, (H, V, M) = _population()
    X = np.column_stack([np.ones(len(pop)), pop["x"], pop["grp"] == "b", pop["grp"] == "c"]).astype(float)
    target, _, _ = irls(X, pop["y"].to_numpy(), np.ones(len(pop)), FAMILIES["binomial"], epsilon=1e-12)
    rng = np.random.default_rng(11)
    v_per, m_per, reps = 4, 12, 400
    est, se, cover = [], [], []
    for _ in range(reps):
        vill = np.concatenate([h * V + rng.choice(V, v_per, replace=False) for h in range(H)])
        rows = np.concatenate([v * M + rng.choice(M, m_per, replace=False) for v in vill])
        s = pop.iloc[rows].reset_index(drop=True)
        s["N1"], s["N2"] = float(V), float(M)
        s["w"] = (V / v_per) * (M / m_per)
        des = hi.SurveyDesign(
            s.assign(row=np.arange(len(s))), weights="w", strata="stratum", psu=["village", "row"], fpc=["N1", "N2"]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", hi.HappinessIndexWarning)
            fit = hi.svyglm("y ~ x + C(grp)", des, family="quasibinomial")
        tab = fit.to_frame().set_index("term")
        est.append(fit.params["x"])
        se.append(fit.se["x"])
        cover.append(tab.loc["x", "ci_low"] <= target[1] <= tab.loc["x", "ci_high"])
    coverage = float(np.mean(cover))
    half = 3 * np.sqrt(0.95 * 0.05 / reps) + 0.01
    print(f"coverage {coverage:.3f}, mean SE / SD {float(np.mean(se) / np.std(est, ddof=1)):.3f}")
    assert abs(coverage - 0.95) <= half, coverage
    ratio = float(np.mean(se) / np.std(est, ddof=1))
    assert 0.85 < ratio < 1.15, ratio
