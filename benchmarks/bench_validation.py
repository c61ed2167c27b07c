"""Benchmark: validate 1M respondents x 30 items against a 17-commune sampling frame.

Run from the repository root::

    python benchmarks/bench_validation.py [--rows 1000000] [--items 30]

Prints the wall-clock seconds of ``validate_survey`` (after a small warm-up call that loads
pandera's backends) and, from a second traced run, its peak memory (tracemalloc: allocations
made during the call, including numpy/pandas buffers and the cleaned copy it returns), next
to the size of the data. Targets (issue 3): under 10 s and under 3x the size of the data.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd

from happiness_index import IndexSpec, validate_survey


def make(rows: int, n_items: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    names = [f"q{i:02d}" for i in range(n_items)]
    thirds = np.array_split(np.array(names), 3)
    spec = IndexSpec.from_dict(
        {
            "name": "bench",
            "preset": "nef_ratio",
            "design": {
                "id": "respondent_id",
                "weights": "weight",
                "strata": "commune",
                "psu": "village",
                "commune": "commune",
                "commune_name": "commune_name",
                "village": "village",
            },
            "components": [{"name": c, "items": list(t)} for c, t in zip(("ls", "le", "env"), thirds)],
            "items": [{"name": q, "type": "likert5", "missing_codes": [8, 9], "satisfied": 4} for q in names],
        }
    )
    communes = np.arange(1, 18)
    villages_per = 12
    frame = pd.DataFrame(
        {
            "commune": np.repeat(communes, villages_per),
            "commune_name": np.repeat([f"Xã {c:02d} – Yên Bái" for c in communes], villages_per),
            "village": (np.repeat(communes, villages_per) * 100 + np.tile(np.arange(villages_per), 17)),
            "households": rng.integers(80, 400, 17 * villages_per),
        }
    )
    pick = rng.integers(0, len(frame), rows)
    data = {
        "respondent_id": np.arange(1, rows + 1),
        "commune": frame["commune"].to_numpy()[pick],
        "commune_name": frame["commune_name"].to_numpy()[pick],
        "village": frame["village"].to_numpy()[pick],
        "weight": rng.uniform(20, 200, rows),
    }
    codes = np.array([1, 2, 3, 4, 5, 8, 9], dtype=np.int64)
    p = np.array([0.05, 0.1, 0.2, 0.35, 0.28, 0.01, 0.01])
    for q in names:
        data[q] = rng.choice(codes, size=rows, p=p)
    df = pd.DataFrame(data)
    df["commune_name"] = df["commune_name"].astype("string")
    return df, spec, frame


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=30)
    ap.add_argument(
        "--corrupt",
        type=float,
        default=0.0,
        help="share of item cells set to an invalid code (7), to time the error table",
    )
    a = ap.parse_args(argv)
    df, spec, frame = make(a.rows, a.items)
    if a.corrupt > 0:
        rng = np.random.default_rng(2)
        for q in [c for c in df.columns if c.startswith("q")]:
            hit = rng.random(len(df)) < a.corrupt
            df.loc[hit, q] = 7
    size = df.memory_usage(deep=True).sum()
    validate_survey(df.head(1000), spec, frame)  # warm-up: imports of pandera's backends
    t0 = time.perf_counter()
    rep = validate_survey(df, spec, frame)
    secs = time.perf_counter() - t0
    del rep
    # memory in a second, traced run (tracemalloc slows the run, so it is not timed)
    tracemalloc.start()
    rep = validate_survey(df, spec, frame)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"rows={a.rows} items={a.items} communes=17 ok={rep.ok} errors={len(rep.errors)}")
    print(f"data size: {size / 2**20:.1f} MiB")
    print(f"validate_survey: {secs:.2f} s, peak traced memory {peak / 2**20:.1f} MiB ({peak / size:.2f} x data)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
