"""Benchmark: ``hi.robustness`` — 1,000 joint draws on the bundled survey (issue 12: < 10 s).

Run from the repository root::

    python benchmarks/bench_robustness.py                 # 1,000 draws, Sobol on, 3 repeats
    python benchmarks/bench_robustness.py --draws 5000 --repeat 1

Times (wall clock and process CPU, best of ``--repeat`` after one warm-up) on the bundled
2024 survey (3,400 respondents, 17 communes, 85 villages) with the bundled spec's
``[robustness]`` table (3 cut-off groups, 3 formulas, 3 weight ranges, 7 droppable items):

* ``total``: the whole call — baseline ``compute_index``, a Rao-Wu bootstrap with ``draws``
  replicates, the replicate totals (one sparse x dense product), ``3 x draws`` draws
  (sampling, methods, both) and the Sobol analysis (``1024 x (F + 2)`` model evaluations,
  F = 9 factors, 18 outputs, 100 bootstrap resamples each);
* ``no_sobol``: the same with ``sobol=False``;
* ``draws_only``: the joint draws on a prebuilt replicate design (``design=rep``) without Sobol.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import happiness_index as hi

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm-up
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    survey = hi.load_city_survey(2024)
    spec = hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
    design = hi.SurveyDesign(survey, weights="weight", strata="commune", psu="village", nest=True)
    rep = design.to_replicates("bootstrap", replicates=a.draws, seed=1)
    cases = {
        "total": lambda: hi.robustness(survey, spec, design=design, draws=a.draws, seed=1, progress=False),
        "no_sobol": lambda: hi.robustness(
            survey, spec, design=design, draws=a.draws, seed=1, sobol=False, progress=False
        ),
        "draws_only": lambda: hi.robustness(
            survey, spec, design=rep, draws=a.draws, seed=1, sobol=False, progress=False
        ),
    }
    print(f"hi.robustness on the bundled survey: n = {len(survey)}, draws = {a.draws} per scenario")
    for name, fn in cases.items():
        wall, cpu = timed(fn, a.repeat)
        print(f"  {name:<11} wall {wall:6.2f} s   cpu {cpu:6.2f} s")


if __name__ == "__main__":
    main()
