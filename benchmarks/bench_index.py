"""Benchmark: the Yên Bái ``nef_ratio`` index for the city and 17 communes.

Run from the repository root::

    python benchmarks/bench_index.py                    # n = 100k and 1M, linearised + 200 bootstrap
    python benchmarks/bench_index.py --rows 100000      # one size
    python benchmarks/bench_index.py --no-bootstrap

For each size it times (best of ``--repeat`` runs, after one warm-up call):

* ``linearised``: ``compute_index(data, spec, by="commune")`` with Taylor linearisation
  (city + 17 communes, the 8 items of the spec, delta method), with and without the
  diagnostics (design effects, Cronbach's alpha, item analysis) and the data hash;
* ``bootstrap``: the same on a 200-replicate Rao-Wu bootstrap design, re-running items ->
  components -> index on every replicate (building the replicate design is timed apart).

Targets (issue 5, 2-core machine): linearised, city + 17 communes, n = 1M < 1 s; 200
bootstrap replicates < 1 s at n = 100k and < 5 s at n = 1M. The synthetic survey has
17 communes x 20 villages (PSUs) and 2% item non-response (codes 8/9).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import happiness_index as hi

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ["ls_income", "ls_health", "ls_family", "ls_social", "le_rating", "env_nature", "env_security", "env_services"]


def make_survey(rows: int, communes: int = 17, villages: int = 20, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vil = np.sort(rng.integers(0, communes * villages, rows))
    com = vil // villages
    df = pd.DataFrame(
        {
            "respondent_id": np.arange(rows),
            "commune": pd.Categorical.from_codes(com, [f"Xã {c:02d}" for c in range(communes)]).astype(str),
            "village": vil,
            "weight": rng.uniform(20, 80, communes)[com] * rng.uniform(0.8, 1.25, rows),
        }
    )
    eff = rng.normal(0, 0.3, communes * villages)[vil] + rng.normal(0, 0.5, rows)
    for it in ITEMS:
        lat = eff + rng.normal(0, 0.8, rows)
        code = np.clip(np.round(3.3 + lat), 1, 5).astype(np.int64)
        miss = rng.random(rows) < 0.02
        df[it] = np.where(miss, 9, code)
    return df


def best(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-bootstrap", action="store_true")
    args = ap.parse_args()
    spec = hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
    print(f"cpus: {os.cpu_count()}  numpy {np.__version__}  pandas {pd.__version__}")
    warnings.simplefilter("ignore")
    for n in args.rows:
        df = make_survey(n)
        des = hi.SurveyDesign(df, weights="weight", strata="commune", psu="village")
        t_lin, r = best(lambda: hi.compute_index(df, spec, design=des, by="commune", diagnostics=False), args.repeat)
        t_full, _ = best(lambda: hi.compute_index(df, spec, by="commune"), args.repeat)
        print(
            f"n={n:>9,}  linearised city+17 communes: {t_lin:6.3f} s (design given, no diagnostics); "
            f"{t_full:6.3f} s (design built from the spec, diagnostics and data hash)   "
            f"HI={r.overall.estimate:.2f} SE={r.overall.se:.3f}"
        )
        if args.no_bootstrap:
            continue
        t = time.perf_counter()
        rep = des.to_replicates("bootstrap", replicates=args.replicates, seed=1)
        t_build = time.perf_counter() - t
        t_boot, rb = best(lambda: hi.compute_index(df, spec, design=rep, by="commune", diagnostics=False), args.repeat)
        print(
            f"n={n:>9,}  {args.replicates} bootstrap replicates, index re-run per replicate, city+17 communes: "
            f"{t_boot:6.3f} s (+ {t_build:.3f} s to build the replicate design)   SE={rb.overall.se:.3f}"
        )


if __name__ == "__main__":
    main()
