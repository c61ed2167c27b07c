"""Start-up time of the ``happiness-index`` command (issue 9: ``--help`` without pandas/matplotlib).

Run from the repository root::

    python benchmarks/bench_cli_startup.py            # 7 repeats
    python benchmarks/bench_cli_startup.py --repeat 15

Prints, for ``happiness-index --help`` and ``happiness-index run --help``, the median and best
wall-clock seconds of a fresh interpreter (``python -c 'from happiness_index.report.cli import
main; main([...])'``), next to a bare ``python -c pass``, and the heavy modules the command
imported (there should be none). Target: ``--help`` under 0.7 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "numpy", "matplotlib", "pandera", "scipy", "openpyxl")


def timed(code: str, repeat: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    n = ap.parse_args().repeat
    cases = {
        "python -c pass": "pass",
        "happiness-index --help": "from happiness_index.report.cli import main; main(['--help'])",
        "happiness-index run --help": "from happiness_index.report.cli import main; main(['run', '--help'])",
    }
    for name, code in cases.items():
        t = timed(code, n)
        print(f"{name:30s} median {statistics.median(t):.3f} s   best {min(t):.3f} s   ({n} runs)")
    probe = (
        "import sys; from happiness_index.report.cli import main; main(['--help']); "
        f"print([m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    print("heavy modules imported by --help:", r.stderr.strip())


if __name__ == "__main__":
    main()
