"""The whole annual job on the bundled SYNTHETIC two-year survey of Yên Bái city.

Run from the repository root::

    python examples/yen_bai_city_demo.py [--out DIR]

SYNTHETIC DATA: the 17 commune and ward names are real; the frame's household counts, the
villages, the respondents and their answers are invented by ``scripts/make_city_data.py``
(seeded; the answer model is documented there). Each year is an independent two-stage
sample drawn with the library's own ``hi.select``: 5 villages / residential groups per
commune by systematic PPS on households, then 40 households by simple random sampling.

What a reviewer should see:

1. validation of each year against the frame (no problems);
2. the city index with its 95% interval and the three components, for 2023 and 2024, with
   the design weights calibrated (raking) to the city's population margins -- exactly as
   ``happiness-index run --example`` does, so every number printed is the number in the
   report; the design-weight (uncalibrated) index is shown beside it, labelled, to show
   what calibration changes;
3. the change 2023 -> 2024 in percentage points and in relative percent, with SE, interval
   and p-value (independent samples: the years were drawn separately), and per commune;
4. the assessment against the city plan (2022: 72.7, 2023: 76.0, 2025: 84.6): status per
   year, the gain per year still needed, and a straight-line projection with its interval;
5. the report (in Vietnamese) written by the same code as ``happiness-index run --example``,
   and a check that its ``results.json`` holds the numbers printed. With ``--out DIR`` the
   report is kept in DIR; without it, it is written to a temporary folder that is removed
   at the end (nothing is left behind in /tmp).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

try:
    import happiness_index as hi
except ImportError:  # running from a checkout without installation
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import happiness_index as hi

from happiness_index.questionnaire.spec import bundled_spec_path
from happiness_index.reading.datasets import SYNTHETIC_NOTICE
from happiness_index.report.annual import run_annual, write_report

if hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(encoding="utf-8")


def _line(res) -> str:
    o = res.overall
    comps = ", ".join(f"{c.name.upper()} {c.estimate:.1f}" for c in res.components)
    return (
        f"index {o.estimate:.2f}, 95% CI {o.ci_low:.2f} to {o.ci_high:.2f} (SE {o.se:.2f}, df {o.df:g}); "
        f"{comps}; {res.level.labels.en}"
    )


def _check_report(out: Path, run) -> str:
    """Read back the report's results.json: it must hold the numbers printed above."""
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    pairs = [
        ("index 2024", saved["index"]["estimate"], run.result.overall.estimate),
        ("index 2023", saved["previous"]["estimate"], run.previous_result.overall.estimate),
        ("change", saved["change"]["change_pp"], run.change.change_pp),
    ]
    bad = [name for name, a, b in pairs if not math.isclose(a, b, rel_tol=1e-12)]
    if bad:
        raise RuntimeError(f"the report's results.json differs from the printed numbers: {', '.join(bad)}")
    return (
        f"results.json holds 2024 = {pairs[0][1]:.2f}, 2023 = {pairs[1][1]:.2f}, change "
        f"{pairs[2][1]:+.2f} points: the numbers printed above"
    )


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description="Yên Bái city demo on synthetic data")
    ap.add_argument("--out", help="report directory, kept (default: a temporary directory, removed at the end)")
    args = ap.parse_args(argv)

    print("*" * 78)
    print(SYNTHETIC_NOTICE["en"])
    print(SYNTHETIC_NOTICE["vi"])
    print("*" * 78)
    spec = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))
    frame = hi.load_city_frame()
    margins = hi.load_city_margins()
    traj = hi.Trajectory.load("yen_bai_city_plan")
    print(
        f"frame: {frame.commune.nunique()} communes and wards, {len(frame)} villages / residential groups, "
        f"{frame.households.sum():,} households\n"
    )

    # the annual job, as `happiness-index run --example`: validate, calibrate, estimate, compare, assess
    surveys = {year: hi.load_city_survey(year) for year in hi.reading.datasets.CITY_YEARS}
    run = run_annual(
        surveys[2024], spec, frame=frame, margins=margins, previous=surveys[2023], targets=traj, synthetic=True
    )
    results = {2023: run.previous_result, 2024: run.result}
    weighting = run.results["weighting"]
    print(
        f"Weights: design weights calibrated ({str(weighting['method']).split(':')[-1]}) to the city's population margins "
        f"({', '.join(map(str, margins))}), as `happiness-index run` does. Every number below is the "
        "one in the report."
    )
    design_only = {}
    for year, data in surveys.items():
        rep = hi.validate_survey(data, spec, frame=frame)
        # for comparison only: the same index with the design weights, before calibration
        design_only[year] = hi.compute_index(rep.raise_if_errors().data, spec, by="commune")
        print(
            f"{year}: {len(data):,} respondents, {data.village.nunique()} villages; validation: "
            f"{'no problems' if rep.ok else 'PROBLEMS'}"
        )
        print(f"      {_line(results[year])}")
    print(
        "      (design weights only, before calibration -- for comparison, not in the report: "
        + ", ".join(f"{y} {r.overall.estimate:.2f}" for y, r in design_only.items())
        + f"; change {design_only[2024].overall.estimate - design_only[2023].overall.estimate:+.2f})"
    )
    print()

    change = run.change
    print("Change 2023 -> 2024 (independent samples; calibrated weights):")
    print(f"  {change}")
    bg = change.by_group.to_frame().sort_values("change_pp")
    sig = bg[bg.p_value < 0.05]
    print(
        f"  per commune: changes from {bg.change_pp.min():+.1f} to {bg.change_pp.max():+.1f} points; "
        f"{len(sig)} of {len(bg)} significant at 5% ({', '.join(sig.commune)})"
    )
    print("  (17 commune tests at 5%: about one false positive is expected by chance)\n")

    assessment = run.assessment
    print(assessment)
    print()

    def write(out: Path) -> list:
        files = write_report(run.results, out, "vi")
        print(f"report (Vietnamese) with {len(files)} files written to {out}")
        print(f"  check: {_check_report(out, run)}")
        return files

    if args.out:
        out = Path(args.out)
        files = write(out)
    else:
        with tempfile.TemporaryDirectory(prefix="yen_bai_city_") as tmp:
            files = write(Path(tmp) / "report")
        out = None
        print("  (a temporary folder, now removed; pass --out DIR to keep the report)")
    return {
        "results": results,
        "design_weight_results": design_only,
        "change": change,
        "assessment": assessment,
        "run": run,
        "out": out,
        "files": [f.name for f in files],
    }


if __name__ == "__main__":
    main()
