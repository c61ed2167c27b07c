"""Seeded simulations (slow): the commune model of small_area_index at the bundled design, and
the coverage of simultaneous rank sets.

Run: ``PYTHONPATH=$PWD python -m pytest -q -m slow tests/test_small_area_simulation.py -s``
(``-s`` prints the numbers quoted in methodology/small_area.md). The population is the
synthetic city of scripts/make_city_data.py with a fixed effect for every village
(scripts/make_commune_covariates.py: population_truth, draw_survey); each replicate draws a
new sample at the bundled design (5 villages x 40 households per commune), computes the
direct commune index and the Fay–Herriot estimates, and checks them against the truth.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def simulate_communes(replicates: int = 200, seed: int = 11, year: int = 2024, **kw) -> dict:
    import make_commune_covariates as mcc

    frame, ceff = mcc.synthetic_city()
    area, truth = mcc.population_truth(frame, ceff, year)
    spec = hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
    cov = hi.load_city_commune_covariates()
    rng = np.random.default_rng(seed)
    rows = []
    for rep in range(replicates):
        data = mcc.draw_survey(frame, ceff, area, year, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = hi.compute_index(data, spec, by="commune", diagnostics=False)
            sa = hi.small_area_index(res, cov, rank_draws=200, **kw)
        d = sa.details
        d = d.assign(rep=rep, truth=d["unit"].map(truth).to_numpy())
        rows.append(
            d[
                [
                    "rep",
                    "unit",
                    "truth",
                    "direct",
                    "direct_se",
                    "direct_ci_low",
                    "direct_ci_high",
                    "model",
                    "model_ci_low",
                    "model_ci_high",
                    "mse",
                    "published",
                ]
            ]
        )
    sim = pd.concat(rows, ignore_index=True)
    sim["cover_model"] = (sim["model_ci_low"] <= sim["truth"]) & (sim["truth"] <= sim["model_ci_high"])
    sim["cover_direct"] = (sim["direct_ci_low"] <= sim["truth"]) & (sim["truth"] <= sim["direct_ci_high"])
    g = sim.groupby("unit")
    per = pd.DataFrame(
        {
            "truth": g["truth"].first(),
            "coverage_model": g["cover_model"].mean(),
            "coverage_direct": g["cover_direct"].mean(),
            "bias_model": g.apply(lambda x: (x["model"] - x["truth"]).mean(), include_groups=False),
            "bias_direct": g.apply(lambda x: (x["direct"] - x["truth"]).mean(), include_groups=False),
            "emp_mse_model": g.apply(lambda x: ((x["model"] - x["truth"]) ** 2).mean(), include_groups=False),
            "emp_mse_direct": g.apply(lambda x: ((x["direct"] - x["truth"]) ** 2).mean(), include_groups=False),
            "mean_mse_est": g["mse"].mean(),
            "mean_direct_var": g.apply(lambda x: (x["direct_se"] ** 2).mean(), include_groups=False),
            "published_model": g["published"].apply(lambda s: (s == "model").mean()),
        }
    )
    return {"per_commune": per, "sim": sim}


@pytest.mark.slow
def test_commune_model_coverage_and_mse():
    out = simulate_communes(replicates=200)
    per = out["per_commune"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(per.round(3))
    avg = per["coverage_model"].mean()
    print(
        f"average model coverage {avg:.3f}; min {per['coverage_model'].min():.3f}; direct average "
        f"{per['coverage_direct'].mean():.3f}; mean estimated MSE / direct variance "
        f"{(per['mean_mse_est'] / per['mean_direct_var']).mean():.3f}; empirical MSE model / direct "
        f"{(per['emp_mse_model'] / per['emp_mse_direct']).mean():.3f}"
    )
    # the target of issue 14: 93-97% on average over the communes
    assert 0.93 <= avg <= 0.97
    # the model is more precise on average than the direct estimates it replaces
    assert (per["emp_mse_model"] / per["emp_mse_direct"]).mean() < 1
    # Known limit (methodology/small_area.md): the MSE averages over the random effects, so a
    # commune far from the regression line (large conditional bias) is covered less often.
    # Every commune below 85% must be such a commune: |bias| above half its RMSE.
    low = per[per["coverage_model"] < 0.85]
    assert (low["bias_model"].abs() > 0.5 * np.sqrt(low["mean_mse_est"])).all(), low


def simulate_rank_coverage(replicates: int = 300, seed: int = 5) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    theta = np.array([50, 53, 56, 59, 62, 65, 66, 69, 72, 75, 78, 81.0])  # one close pair (65, 66)
    se = np.array([1.0, 1.5, 1.2, 2.0, 1.0, 1.5, 1.0, 1.8, 1.0, 1.5, 1.2, 2.0])
    true_rank = 1 + (theta[None, :] > theta[:, None]).sum(axis=1)
    sim_ok = marg_ok = width = 0
    for _ in range(replicates):
        est = theta + rng.normal(0, se)
        r = hi.rank_intervals(est, se**2, draws=1000, seed=int(rng.integers(2**31)))
        sim_ok += bool(((r["rank_low_sim"] <= true_rank) & (true_rank <= r["rank_high_sim"])).all())
        marg_ok += ((r["rank_low"] <= true_rank) & (true_rank <= r["rank_high"])).mean()
        width += (r["rank_high_sim"] - r["rank_low_sim"] + 1).mean()
    return sim_ok / replicates, marg_ok / replicates, width / replicates


@pytest.mark.slow
def test_simultaneous_rank_sets_cover_all_ranks():
    sim_cov, marg_cov, width = simulate_rank_coverage()
    print(
        f"simultaneous rank sets cover all 12 ranks in {sim_cov:.3f}; marginal coverage {marg_cov:.3f}; "
        f"mean simultaneous set size {width:.2f} of 12 ranks"
    )
    assert sim_cov >= 0.95
    assert marg_cov >= 0.95
    assert width < 6  # informative: far from the trivial set 1..12
