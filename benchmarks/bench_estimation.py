"""Benchmark: design-based estimation at n = 10k, 100k and 1M respondents (issue 2, "Speed and memory").

Run from the repository root::

    python benchmarks/bench_estimation.py                      # n = 10k, 100k, 1M; 3 repeats
    python benchmarks/bench_estimation.py --sizes 10000 100000 --repeat 5

The data: a seeded stratified two-stage survey, 40 strata x 10 PSUs (villages), respondents
spread evenly over the PSUs, 30 Likert items coded 1-5 that share a PSU effect (so the
design effects are realistic), a weight per respondent, and the 30 "satisfied" indicators
``sat_XX = item_XX >= 4`` (0/1, int8) prepared once, outside the timings.

Tasks, each on ``design = SurveyDesign(data, weights="w", strata="stratum", psu="psu")``:

T1  the 30 satisfied shares with SEs: ``design.mean(sat_cols)`` (one call, covariance
    available);
T2  the same in each of the 40 strata as domains: ``design.by("stratum").mean(sat_cols)``;
T3  one proportion with its logit interval: ``design.proportion("sat_00")``;
T4  SEs of the 30 shares from 200 bootstrap replicates:
    ``design.to_replicates("bootstrap", 200, seed=1).mean(sat_cols)`` (building the
    replicate multipliers is inside the timing).

For each task and n the script prints the median wall-clock seconds over ``--repeat`` runs
(after one untimed warm-up), the median process CPU seconds (robust to other load on a
shared machine) and the peak memory of one extra run traced with
:mod:`tracemalloc` (numpy and pandas buffers allocated during the call; the data frame
itself is not counted). Building the design is timed too ("setup").

When the optional peers are importable (``samplics``: T1-T3, one call per item as its
estimator takes one ``y``; ``svy``: T1-T4), the same tasks are run with them on the same
data in the same process and the ratio peer/ours is printed; peers that are missing are
reported as such, never guessed. To keep the project environment's pins, install them in a
separate virtual environment and run this script from it with ``PYTHONPATH=.``.

On a shared 2-core machine, multithreaded OpenBLAS can turn a 3 ms SVD into a 0.6 s one
when the other core is busy; ``OPENBLAS_NUM_THREADS=1`` gives stable numbers (see
``benchmarks/README.md``).

Targets (issue 2) at n = 1M on a 2-core machine: T1 <= 0.1 s, T2 <= 0.3 s, T3 <= 0.03 s,
T4 <= 1 s, peak memory < 1 GB.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import happiness_index as hi  # noqa: E402

N_STRATA = 40
PSU_PER_STRATUM = 10
N_ITEMS = 30
TARGETS = {"T1": 0.1, "T2": 0.3, "T3": 0.03, "T4": 1.0}


def make_survey(n: int, seed: int = 20260101) -> pd.DataFrame:
    """Seeded stratified two-stage survey: 40 strata x 10 PSUs, 30 Likert items (1-5) and their indicators."""
    rng = np.random.default_rng(seed)
    n_psu = N_STRATA * PSU_PER_STRATUM
    psu = np.sort(rng.integers(0, n_psu, n))  # respondents spread over the PSUs
    psu[:n_psu] = np.arange(n_psu)  # every PSU sampled
    psu.sort()
    stratum = psu // PSU_PER_STRATUM
    # stage-1 and stage-2 selection probabilities -> weights (vary by stratum and PSU)
    w_psu = rng.uniform(50, 400, n_psu)
    w = w_psu[psu] * rng.uniform(0.8, 1.25, n)
    data = {
        "stratum": pd.Categorical.from_codes(stratum, [f"xã {h:02d}" for h in range(N_STRATA)]),
        "psu": psu.astype(np.int32),
        "w": w,
    }
    effect = rng.normal(0.0, 0.5, n_psu)[psu]
    cuts = np.array([-1.6, -0.8, 0.0, 0.9])
    for i in range(N_ITEMS):
        latent = effect + rng.normal(0.3, 1.0, n).astype(np.float32) + 0.02 * i
        item = (np.searchsorted(cuts, latent) + 1).astype(np.int8)  # 1..5
        data[f"item_{i:02d}"] = item
    df = pd.DataFrame(data)
    for i in range(N_ITEMS):
        df[f"sat_{i:02d}"] = (df[f"item_{i:02d}"] >= 4).astype(np.int8)
    return df


SAT = [f"sat_{i:02d}" for i in range(N_ITEMS)]


def ours(df: pd.DataFrame) -> dict:
    design_holder = {}

    def setup():
        design_holder["d"] = hi.SurveyDesign(df, weights="w", strata="stratum", psu="psu")
        return design_holder["d"]

    setup()
    d = design_holder["d"]
    return {
        "setup": setup,
        "T1": lambda: d.mean(SAT),
        "T2": lambda: d.by("stratum").mean(SAT),
        "T3": lambda: d.proportion("sat_00"),
        "T4": lambda: d.to_replicates("bootstrap", 200, seed=1).mean(SAT),
    }


# ---------------------------------------------------------------------------
# optional peers (run only when installed)
# ---------------------------------------------------------------------------


def samplics_tasks(df: pd.DataFrame) -> dict | None:
    """samplics (archived, numpy/pandas): one TaylorEstimator call per item (its API takes one y)."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from samplics import PopParam, TaylorEstimator  # type: ignore
    except Exception:
        return None
    y = df[SAT].to_numpy(dtype=float)
    w = df["w"].to_numpy()
    strat = df["stratum"].cat.codes.to_numpy()
    psu = df["psu"].to_numpy()

    def t1():
        for j in range(N_ITEMS):
            TaylorEstimator(PopParam.mean).estimate(y=y[:, j], samp_weight=w, stratum=strat, psu=psu)

    def t2():
        for j in range(N_ITEMS):
            TaylorEstimator(PopParam.mean).estimate(y=y[:, j], samp_weight=w, stratum=strat, psu=psu, domain=strat)

    def t3():
        TaylorEstimator(PopParam.prop).estimate(y=y[:, 0], samp_weight=w, stratum=strat, psu=psu)

    return {"T1": t1, "T2": t2, "T3": t3}


def svy_tasks(df: pd.DataFrame) -> dict | None:
    """svy (Rust core, polars): the same four tasks through its Sample.estimation API (svy 0.35)."""
    try:
        import polars as pl  # type: ignore
        import svy  # type: ignore
    except Exception:
        return None
    try:
        data = pl.from_pandas(df.assign(stratum=df["stratum"].astype(str))[["stratum", "psu", "w", *SAT]])
        sample = svy.Sample(data=data, design=svy.Design(stratum="stratum", psu="psu", wgt="w"))
    except Exception as exc:  # the peer's API moved: say so rather than guess
        print(f"  svy importable but setup failed ({type(exc).__name__}: {exc}); skipped")
        return None

    def t4():
        rep = sample.weighting.create_bs_wgts(200, rstate=1)
        rep.estimation.mean(y=SAT, method="replication")

    return {
        "T1": lambda: sample.estimation.mean(y=SAT),
        "T2": lambda: sample.estimation.mean(y=SAT, by="stratum"),
        "T3": lambda: sample.estimation.prop(y="sat_00", ci_method="logit"),
        "T4": t4,
    }


# ---------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------


def time_it(fn, repeat: int) -> tuple[float, float]:
    """Median wall-clock seconds and median process CPU seconds over ``repeat`` runs.

    CPU time (user + system, all threads of this process) is reported too because a shared
    machine under load stretches wall-clock time with waiting that is not ours.
    """
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def peak_mb(fn) -> float:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def run(sizes, repeat: int, peers: bool = True) -> list[dict]:
    rows = []
    print(
        f"load average {__import__('os').getloadavg()[0]:.1f}; python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"machine {platform.machine()}, {__import__('os').cpu_count()} cores"
    )
    for n in sizes:
        t0 = time.perf_counter()
        df = make_survey(n)
        gen = time.perf_counter() - t0
        data_mb = df.memory_usage(deep=True).sum() / 2**20
        print(f"\nn = {n:,}  (data {data_mb:.0f} MB, generated in {gen:.1f} s)")
        tasks = ours(df)
        peer_sets = {}
        if peers:
            for name, maker in (("samplics", samplics_tasks), ("svy", svy_tasks)):
                t = maker(df)
                if t is None:
                    print(f"  {name}: not installed (pip install {name}); no ratio")
                else:
                    peer_sets[name] = t
        for task in ("setup", "T1", "T2", "T3", "T4"):
            fn = tasks[task]
            sec, cpu = time_it(fn, repeat)
            mb = peak_mb(fn)
            target = TARGETS.get(task)
            flag = (
                "" if target is None or n < 1_000_000 else ("  ok" if sec <= target and mb < 1024 else "  OVER TARGET")
            )
            line = f"  {task:5s} {sec:9.4f} s  (cpu {cpu:7.4f} s)   peak {mb:8.1f} MB{flag}"
            row = {"n": n, "task": task, "seconds": sec, "cpu_seconds": cpu, "peak_mb": mb}
            for pname, ptasks in peer_sets.items():
                if task in ptasks:
                    psec = time_it(ptasks[task], max(1, repeat // 2))[0]
                    line += f"   {pname} {psec:.3f} s (x{psec / sec:.1f})"
                    row[f"{pname}_seconds"] = psec
            print(line, flush=True)
            rows.append(row)
        del df, tasks
        gc.collect()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats per task (median reported)")
    ap.add_argument("--no-peers", action="store_true", help="skip samplics/svy even when installed")
    args = ap.parse_args(argv)
    run(args.sizes, args.repeat, peers=not args.no_peers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
