"""Monte Carlo coverage of 95% intervals under stratified two-stage sampling (slow).

Runs a smaller version of ``benchmarks/coverage_simulation.py`` (see its docstring for the
population and the design) and checks that the empirical coverage of the nominal 95%
intervals for a mean (t, design df) and a proportion (logit) lies in a binomial tolerance
band around 95%, and that the estimated variances are unbiased on average.

Run with ``python -m pytest -m slow tests/test_coverage_simulation.py``.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _load():
    spec = importlib.util.spec_from_file_location("coverage_simulation", ROOT / "benchmarks" / "coverage_simulation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


sim = _load()

REPS = 400


def band(reps: int, nominal: float = 0.95, z: float = 3.0, slack: float = 0.01) -> tuple[float, float]:
    """nominal ± z binomial SEs, widened by ``slack`` for the t/logit approximation at 60 df."""
    se = math.sqrt(nominal * (1 - nominal) / reps)
    return nominal - z * se - slack, nominal + z * se + slack


def test_sampling_scheme_is_stratified_two_stage_srswor():
    pop = sim.make_population(2026)
    s = sim.draw_sample(pop, np.random.default_rng(3))
    assert s["stratum"].nunique() == sim.N_STRATA
    per = s.groupby("stratum")["village"].nunique()
    assert (per == sim.PSU_SAMPLED).all()
    assert (s.groupby("village").size() == sim.HH_SAMPLED).all()
    assert not s["hh"].duplicated().any()  # without replacement
    # households belong to their village, and the weights add up to about the population size
    assert (pop.village[s["hh"].to_numpy()] == s["village"].to_numpy()).all()
    assert s["w"].sum() == pytest.approx(len(pop.y), rel=0.25)


@pytest.mark.parametrize("fpc", [False, True])
def test_coverage_of_nominal_95_intervals(fpc):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = sim.simulate(REPS, seed=11, fpc=fpc)
    lo, hi_ = band(REPS)
    for name in ("mean", "proportion"):
        r = res[name]
        assert lo <= r["coverage"] <= hi_, (name, fpc, r)
        # the design variance is unbiased for the Monte Carlo variance (SE of the ratio ~ sqrt(2/R))
        assert 0.8 <= r["var_ratio"] <= 1.25, (name, fpc, r)
        # the weighted (ratio) estimators are nearly unbiased: |bias| < 0.25 SE, i.e. 5 Monte
        # Carlo SEs of the average estimate (SE / sqrt(400) = 0.05 SE); SE ~ width / (2 * 2.0)
        assert abs(r["bias"]) < 0.25 * r["width"] / 4.0, (name, fpc, r)
