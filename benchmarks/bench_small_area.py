"""Benchmark: Fay–Herriot fits (issue 14: "a fit with 10,000 areas in under a second").

Run from the repository root::

    python benchmarks/bench_small_area.py                   # m = 1k, 10k, 100k areas; 3 covariates
    python benchmarks/bench_small_area.py --areas 10000 --repeat 5

Times (best of ``--repeat``, after a warm-up) ``hi.fay_herriot(...)`` plus ``to_frame()`` for
REML, ML and FH on seeded data (y = x'beta + u + e, D_i ~ U(0.5, 2)), and the rank intervals
of 17 communes with 10,000 bootstrap draws. Wall-clock and process CPU seconds are printed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import happiness_index as hi


def make_areas(m: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 3))
    D = rng.uniform(0.5, 2.0, m)
    y = x @ np.array([1.0, 2.0, 3.0]) + rng.normal(0, 1, m) + rng.normal(0, np.sqrt(D))
    df = pd.DataFrame(x, columns=["x1", "x2", "x3"])
    df["y"], df["D"] = y, D
    return df


def best(fn, repeat: int) -> tuple[float, float]:
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--areas", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    for m in args.areas:
        df = make_areas(m)
        for method in ("REML", "ML", "FH"):

            def fit(df=df, method=method):
                return hi.fay_herriot(df, "y", "D", ["x1", "x2", "x3"], method=method).to_frame()

            w, c = best(fit, args.repeat)
            print(f"m = {m:>7,}  {method:<4}  {w * 1000:8.1f} ms wall  {c * 1000:8.1f} ms CPU")
    rng = np.random.default_rng(2)
    est, V = rng.normal(75, 4, 17), np.diag(rng.uniform(5, 20, 17))
    w, c = best(lambda: hi.rank_intervals(est, V, draws=10_000), args.repeat)
    print(f"rank_intervals, 17 units, 10,000 draws: {w * 1000:.1f} ms wall, {c * 1000:.1f} ms CPU")


if __name__ == "__main__":
    main()
