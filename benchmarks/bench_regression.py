"""Speed of design-based logistic regression (issue 11, "Speed").

Targets: a logistic model with 10 terms on 1M respondents in a stratified two-stage design
in under 1 s (Taylor linearization), and 200 bootstrap replicates in under 5 s.

    python benchmarks/bench_regression.py                       # n = 1M, Taylor + 200 bootstrap
    python benchmarks/bench_regression.py --n 100000 --repeat 3
    python benchmarks/bench_regression.py --boot-n 200000       # bootstrap on a smaller sample

Data (seeded): 50 strata x 20 PSUs x households; 6 numeric covariates, one 5-level
categorical (4 dummies): 10 terms plus the intercept; a binary outcome from a logistic model
with a PSU effect; weights varying by PSU and respondent. Design:
``SurveyDesign(data, weights="w", strata="stratum", psu=["psu", "hh"], fpc=["N1", "N2"])``.
Timed: ``hi.svyglm(formula, design, family="quasibinomial")`` (model frame, IRLS, sandwich
through the engine) and, for replicates, the same call on ``design.to_replicates("bootstrap",
200, seed=1)`` (building the replicate weights is timed separately).
Reported: median wall-clock and CPU seconds over ``--repeat`` runs after a warm-up.

Measured 2026-12-07 on the shared 2-core development machine (load average 5-8 from other
jobs, so wall-clock times are inflated; CPU seconds are steadier):

| run | wall | CPU |
|---|---|---|
| Taylor, n = 1,000,000, 11 coefficients, 5 IRLS passes | 2.9 s | 1.7 s |
| 200 bootstrap refits, n = 100,000 (batched IRLS) | 10.1 s | 5.5 s |

The 1 s target at 1M is not met on this loaded machine (about 1 s of the CPU time is the
five IRLS passes R's starting values and stopping rule need, 0.3 s the design variance).
Exact replicate refits cost O(n R) transcendental functions per iteration: 200 refits at
n = 1M take about ten times the 100k figure, not 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd

import happiness_index as hi

FORMULA = "y ~ x1 + x2 + x3 + x4 + x5 + x6 + C(region)"


def make_data(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    H, P = 50, 20
    stratum = rng.integers(0, H, n)
    psu = stratum * P + rng.integers(0, P, n)
    hh = psu * 10_000 + rng.integers(0, max(n // (H * P * 3), 1), n)
    X = rng.normal(size=(n, 6))
    region = rng.choice(["a", "b", "c", "d", "e"], n)
    u = rng.normal(scale=0.3, size=H * P)[psu]
    eta = -0.3 + X @ np.array([0.5, -0.3, 0.2, 0.1, 0.0, 0.4]) + (region == "b") * 0.3 + u
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int8)
    w = rng.uniform(50, 150, H * P)[psu] * rng.uniform(0.8, 1.2, n)
    d = pd.DataFrame(X, columns=[f"x{i}" for i in range(1, 7)])
    d["region"], d["y"], d["w"] = region, y, w
    d["stratum"], d["psu"], d["hh"] = stratum, psu, hh
    d["N1"] = 200.0
    d["N2"] = d.groupby("psu")["hh"].transform("nunique") * 5.0
    return d


def timed(fn, repeat: int):
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--boot-n", type=int, default=None, help="sample size of the bootstrap run (default --n)")
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    warnings.simplefilter("ignore", hi.HappinessIndexWarning)

    data = make_data(a.n)
    des = hi.SurveyDesign(data, weights="w", strata="stratum", psu=["psu", "hh"], fpc=["N1", "N2"])
    wall, cpu, fit = timed(lambda: hi.svyglm(FORMULA, des, family="quasibinomial"), a.repeat)
    print(f"Taylor   n={a.n:>9,}  p={len(fit.params)}  wall {wall:6.2f} s  cpu {cpu:6.2f} s  (target < 1 s)")

    nb = a.boot_n or a.n
    bdata = data if nb == a.n else make_data(nb, seed=2)
    bdes = des if nb == a.n else hi.SurveyDesign(bdata, weights="w", strata="stratum", psu=["psu", "hh"], fpc=["N1", "N2"])
    t0 = time.perf_counter()
    rep = bdes.to_replicates("bootstrap", a.replicates, seed=1)
    rep.replicate_weights()
    build = time.perf_counter() - t0
    wall, cpu, rfit = timed(lambda: hi.svyglm(FORMULA, rep, family="quasibinomial"), max(1, a.repeat - 2))
    print(f"Bootstrap n={nb:>9,}  R={a.replicates}  wall {wall:6.2f} s  cpu {cpu:6.2f} s  (target < 5 s; "
          f"building the replicates {build:.2f} s)")
    tay = hi.svyglm(FORMULA, bdes, family="quasibinomial")
    print("SE ratio bootstrap / Taylor:", np.round((rfit.se / tay.se).to_numpy(), 3))


if __name__ == "__main__":
    main()
