"""Benchmark: speed at the floor (issue 10) — everyday numbers next to a plain numpy pass.

Run from the repository root::

    python benchmarks/bench_floor.py                         # n = 1M, float64 indicators, 5 repeats
    python benchmarks/bench_floor.py --dtype int8            # the same with int8 / bool / Int8 (nullable)
    python benchmarks/bench_floor.py --rows 100000 --no-process --no-r

Workload (issue 10): a seeded stratified two-stage survey, 40 strata x 10 PSUs, 1M
respondents, 30 0/1 indicator columns (float64 by default) in a pandas DataFrame.

Figures, each the median wall-clock seconds of ``--repeat`` runs after a warm-up, with the
median process CPU seconds (steadier on a shared machine) and the peak memory traced by
:mod:`tracemalloc` during one extra run (numpy/pandas buffers allocated by the call; the
frame itself is not counted):

design  ``SurveyDesign(data, weights="w", strata="stratum", psu="psu")``   target <= 0.15 s
T1      ``design.mean(30 columns)``                                       target <= 0.10 s, no copy
T2      ``design.by("stratum").mean(30 columns)``                          target <= 0.15 s
T2-400  ``design.by("psu").mean(30 columns)``: 400 domains, 12,000 estimates  target <= 2 x T1
        (T1's wall time in the same run; every PSU domain has 0 design df, so the one
        DomainDfWarning per call is silenced here)
T3      ``design.proportion("sat_00")`` (logit interval)                   target <= 0.03 s
floor   a plain numpy pass: ``np.bincount`` of w*y on (domain, PSU) cells and the stratified
        variance of the cell totals, for T1 and T2 (what any implementation must at least do)
process a fresh Python process: import, read a 1M-row Parquet survey (17 communes x 20
        villages, the 8 items of ``yen_bai_nef``), ``validate_survey``, ``compute_index(...,
        by="commune")``, write ``results.json``, exit                     target <= 3 s,
        peak RSS <= 2.5 x the data frame in memory. The peak is the child's own ``VmHWM``
        (``ru_maxrss`` would report the parent's peak, inherited across fork and exec). Also
        printed: the RSS right after the imports (Python, numpy, pandas 3 with pyarrow), the
        fixed cost (the peak of the same pipeline on 2% of the rows: every library the run
        loads, ~190 MB) and ``(peak - fixed) / data``, the memory the work adds per byte of data

R ``survey`` (when ``Rscript`` is on the PATH) runs the same tasks on data of the same shape
generated in R (same structure, not the same random numbers) and ``svy`` (when importable)
on the same frame; missing peers are reported as missing, never guessed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_STRATA, PSU_PER_STRATUM, N_ITEMS = 40, 10, 30
SAT = [f"sat_{i:02d}" for i in range(N_ITEMS)]
TARGETS = {"design": 0.15, "T1": 0.10, "T2": 0.15, "T3": 0.03, "process": 3.0}
# targets relative to another task measured earlier in the same run: (factor, task)
RELATIVE_TARGETS = {"T2-400": (2.0, "T1")}


def make_survey(n: int, dtype: str = "float64", seed: int = 20260101) -> pd.DataFrame:
    """40 strata x 10 PSUs, weights varying by PSU and respondent, 30 correlated 0/1 indicators."""
    rng = np.random.default_rng(seed)
    n_psu = N_STRATA * PSU_PER_STRATUM
    psu = np.sort(rng.integers(0, n_psu, n))
    psu[:n_psu] = np.arange(n_psu)
    psu.sort()
    stratum = psu // PSU_PER_STRATUM
    w = rng.uniform(50, 400, n_psu)[psu] * rng.uniform(0.8, 1.25, n)
    data = {
        "stratum": pd.Categorical.from_codes(stratum, [f"xã {h:02d}" for h in range(N_STRATA)]),
        "psu": psu.astype(np.int32),
        "w": w,
    }
    effect = rng.normal(0.0, 0.5, n_psu)[psu].astype(np.float32)
    for i in range(N_ITEMS):
        sat = effect + rng.normal(0.3, 1.0, n).astype(np.float32) + 0.02 * i > 0.9
        if dtype == "Int8":
            col = pd.array(sat.astype(np.int8), dtype="Int8")
        elif dtype == "bool":
            col = sat
        else:
            col = sat.astype(dtype)
        data[f"sat_{i:02d}"] = col
    return pd.DataFrame(data)


def measure(fn, repeat: int) -> dict:
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "peak_mb": peak / 2**20}


def numpy_floor(df: pd.DataFrame, by_stratum: bool):
    """The least any design-based T1/T2 must do: weighted cell sums and their stratified variance."""
    w = df["w"].to_numpy()
    psu = df["psu"].to_numpy()
    strat = df["stratum"].cat.codes.to_numpy().astype(np.int64)
    C = int(psu.max()) + 1
    D = N_STRATA if by_stratum else 1
    cell = psu.astype(np.int64) * D + (strat if by_stratum else 0)
    tw = np.bincount(cell, weights=w, minlength=C * D).reshape(C, D)
    out = []
    for c in SAT:
        ty = np.bincount(cell, weights=w * df[c].to_numpy(dtype=float), minlength=C * D).reshape(C, D)
        tot_w, tot_y = tw.sum(0), ty.sum(0)
        r = tot_y / tot_w
        z = (ty - r * tw) / tot_w  # (C, D) linearised PSU totals
        psu_stratum = np.arange(C) // PSU_PER_STRATUM
        zh = np.zeros((N_STRATA, D))
        np.add.at(zh, psu_stratum, z)
        dev = z - zh[psu_stratum] / PSU_PER_STRATUM
        out.append((r, (dev * dev).sum(0) * PSU_PER_STRATUM / (PSU_PER_STRATUM - 1)))
    return out


def ours(df: pd.DataFrame) -> dict:
    import happiness_index as hi

    d = hi.SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    return {
        "design": lambda: hi.SurveyDesign(df, weights="w", strata="stratum", psu="psu"),
        "T1": lambda: d.mean(SAT),
        "T2": lambda: d.by("stratum").mean(SAT),
        "T2-400": lambda: d.by("psu").mean(SAT),
        "T3": lambda: d.proportion("sat_00"),
        "floor T1": lambda: numpy_floor(df, False),
        "floor T2": lambda: numpy_floor(df, True),
    }


def svy_tasks(df: pd.DataFrame) -> dict | None:
    """svy (optional peer) on the same frame, when importable."""
    try:
        import polars as pl  # type: ignore
        import svy  # type: ignore
    except ImportError:
        return None
    pdf = pl.from_pandas(df.assign(stratum=df["stratum"].astype(str)))
    design = svy.Design(stratum="stratum", psu="psu", wgt="w")
    sample = svy.Sample(data=pdf, design=design)
    return {
        "T1": lambda: sample.estimation.mean(SAT),
        "T2": lambda: sample.estimation.mean(SAT, by="stratum"),
        "T3": lambda: sample.estimation.prop("sat_00"),
    }


R_SCRIPT = r"""
suppressPackageStartupMessages(library(survey))
args <- commandArgs(TRUE); n <- as.integer(args[1]); reps <- as.integer(args[2])
set.seed(1)
psu <- sort(sample.int(400, n, replace = TRUE)); psu[1:400] <- 1:400; psu <- sort(psu)
d <- data.frame(stratum = (psu - 1) %/% 10, psu = psu, w = runif(400, 50, 400)[psu] * runif(n, 0.8, 1.25))
eff <- rnorm(400, 0, 0.5)[psu]
for (i in 0:29) d[[sprintf("sat_%02d", i)]] <- as.numeric(eff + rnorm(n, 0.3) + 0.02 * i > 0.9)
f <- as.formula(paste("~", paste(sprintf("sat_%02d", 0:29), collapse = "+")))
tm <- function(expr) { e <- substitute(expr); x <- replicate(reps, system.time(eval(e, parent.frame()))[["elapsed"]]); median(x) }
des <- NULL
t_design <- tm(des <<- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = d))
des <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = d)
t1 <- tm(svymean(f, des))
t2 <- tm(svyby(f, ~stratum, des, svymean))
t3 <- tm(svyciprop(~I(sat_00 == 1), des, method = "logit"))
cat(sprintf('{"design": %f, "T1": %f, "T2": %f, "T3": %f}\n', t_design, t1, t2, t3))
"""


def r_tasks(n: int, repeat: int) -> dict | None:
    if not shutil.which("Rscript"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT, encoding="utf-8")
        try:
            out = subprocess.run(
                ["Rscript", str(script), str(n), str(max(1, min(repeat, 3)))],
                capture_output=True,
                text=True,
                timeout=1800,
                check=True,
            ).stdout
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"R survey: failed ({exc})")
            return None
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# the whole process
# ---------------------------------------------------------------------------

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import happiness_index as hi
import happiness_index.reading.datasets  # a submodule: the package imports it lazily
import pandas.io.parquet, pyarrow.parquet  # the reader's own imports, counted in the baseline
import_mb = int(dict(line.split(":", 1) for line in open("/proc/self/status"))["VmRSS"].split()[0]) / 1024
survey, out = sys.argv[1], sys.argv[2]
spec = hi.IndexSpec.from_toml(hi.reading.datasets.data_path("specs/yen_bai_nef.toml"))
data = hi.read_survey(survey)
report = hi.validate_survey(data, spec)
report.raise_if_errors()
res = hi.compute_index(data, spec, by="commune")
with open(out, "w", encoding="utf-8") as fh:
    json.dump(res.to_dict(), fh, ensure_ascii=False)
ru = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM is this process's own peak: ru_maxrss keeps the parent's peak across fork and exec
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"seconds_inside": time.perf_counter() - t0, "cpu_seconds": ru.ru_utime + ru.ru_stime,
                  "data_mb": data.memory_usage(deep=True).sum() / 2**20, "import_mb": import_mb,
                  "maxrss_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""


def process_run(rows: int, repeat: int) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_index import (
        make_survey as index_survey,  # the Yen Bai shaped survey (17 communes)
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "survey.parquet"
        index_survey(rows).to_parquet(path)
        out = Path(tmp) / "results.json"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        walls, cpus, info = [], [], {}
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), str(out)],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
                timeout=600,
                check=False,
            )  # not the caller's cwd first
            walls.append(time.perf_counter() - t0)
            if res.returncode != 0:
                raise SystemExit(f"the process run failed:\n{res.stderr[-2000:]}")
            info = json.loads(res.stdout.strip().splitlines()[-1])
            cpus.append(info["cpu_seconds"])
    info["wall"] = statistics.median(walls)
    info["cpu"] = statistics.median(cpus)
    info["rss_over_data"] = info["maxrss_mb"] / info["data_mb"]
    return info


def process_figures(rows: int, repeat: int) -> dict:
    """The whole process on ``rows`` respondents, and on 2% of them for the fixed cost.

    The fixed cost is the peak of the same pipeline on a small file: the interpreter and the
    libraries the run loads (pandas with pyarrow, the Parquet reader, pandera, scipy), about
    190 MB whatever the data. ``(peak - fixed) / (data - small data)`` is then the memory the
    work adds per byte of data.
    """
    p = process_run(rows, repeat)
    small = process_run(max(rows // 50, 1000), 1)
    added = (p["maxrss_mb"] - small["maxrss_mb"]) / (p["data_mb"] - small["data_mb"])
    return {
        "task": "process",
        "seconds": round(p["wall"], 3),
        "seconds_inside": round(p["seconds_inside"], 3),
        "cpu": round(p["cpu"], 3),
        "data_MB": round(p["data_mb"], 1),
        "peak_RSS_MB": round(p["maxrss_mb"], 1),
        "RSS/data": round(p["rss_over_data"], 2),
        "import_RSS_MB": round(p["import_mb"], 1),
        "fixed_RSS_MB": round(small["maxrss_mb"], 1),
        "(RSS-fixed)/data": round(added, 2),
        "target": "<= 3 s, <= 2.5x",
        "ok": "yes" if p["wall"] <= 3 and p["rss_over_data"] <= 2.5 else "NO",
        "ok_above_fixed": "yes" if p["wall"] <= 3 and added <= 2.5 else "NO",
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dtype", default="float64", choices=["float64", "int8", "bool", "Int8"])
    ap.add_argument("--no-process", action="store_true", help="skip the whole-process run")
    ap.add_argument("--no-r", action="store_true", help="skip R survey")
    args = ap.parse_args(argv)
    load = os.getloadavg()
    print(
        f"n = {args.rows:,}, indicators {args.dtype}, {args.repeat} repeats; python {sys.version.split()[0]}, "
        f"numpy {np.__version__}, pandas {pd.__version__}; {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    df = make_survey(args.rows, args.dtype)
    print(f"data frame: {df.memory_usage(deep=True).sum() / 2**20:.0f} MB")
    peers = {"svy": svy_tasks(df), "R survey": None if args.no_r else r_tasks(args.rows, args.repeat)}
    rows = []
    walls: dict = {}
    from happiness_index.errors import DomainDfWarning

    warnings.filterwarnings("ignore", category=DomainDfWarning)  # T2-400: one per call, by design
    for task, fn in ours(df).items():
        m = measure(fn, args.repeat)
        walls[task] = m["wall"]
        target = (
            round(RELATIVE_TARGETS[task][0] * walls[RELATIVE_TARGETS[task][1]], 4)
            if task in RELATIVE_TARGETS
            else TARGETS.get(task)
        )
        row = {
            "task": task,
            "seconds": round(m["wall"], 4),
            "cpu": round(m["cpu"], 4),
            "peak_MB": round(m["peak_mb"], 1),
            "target": target if target else "",
            "ok": ("yes" if m["wall"] <= target else "NO") if target else "",
        }
        for name, tasks in peers.items():
            if tasks is None:
                row[name] = "not installed" if name == "svy" else ("not run" if args.no_r else "not installed")
            elif task in tasks:
                val = tasks[task]
                row[name] = round(val, 4) if isinstance(val, float) else round(measure(val, args.repeat)["wall"], 4)
        rows.append(row)
        print(row, flush=True)
    if not args.no_process:
        print(process_figures(args.rows, max(1, min(args.repeat, 3))), flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
