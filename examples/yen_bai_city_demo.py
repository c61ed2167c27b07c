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
2. the city index with its 95% interval and the three components, for 2023 and 2024;
3. the change 2023 -> 2024 in percentage points and in relative percent, with SE, interval
   and p-value (independent samples: the years were drawn separately), and per commune;
4. the assessment against the city plan (2022: 72.7, 2023: 76.0, 2025: 84.6): status per
   year, the gain per year still needed, and a straight-line projection with its interval;
5. the report written by the same code as ``happiness-index run --example``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

try:
    import happiness_index as hi
except ImportError:  # running from a checkout without installation
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import happiness_index as hi

from happiness_index.datasets import SYNTHETIC_NOTICE
from happiness_index.report import run_annual, write_report
from happiness_index.spec import bundled_spec_path

if hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(encoding="utf-8")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description="Yên Bái city demo on synthetic data")
    ap.add_argument("--out", help="report directory (default: a temporary directory)")
    args = ap.parse_args(argv)

    print("*" * 78)
    print(SYNTHETIC_NOTICE["en"])
    print(SYNTHETIC_NOTICE["vi"])
    print("*" * 78)
    spec = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))
    frame = hi.load_city_frame()
    print(f"frame: {frame.commune.nunique()} communes and wards, {len(frame)} villages / residential groups, "
          f"{frame.households.sum():,} households\n")

    results = {}
    for year in hi.datasets.CITY_YEARS:
        data = hi.load_city_survey(year)
        rep = hi.validate_survey(data, spec, frame=frame)
        res = hi.compute_index(rep.raise_if_errors().data, spec, by="commune")
        results[year] = res
        o = res.overall
        comps = ", ".join(f"{c.name.upper()} {c.estimate:.1f}" for c in res.components)
        print(f"{year}: {len(data):,} respondents, {data.village.nunique()} villages; validation: "
              f"{'no problems' if rep.ok else 'PROBLEMS'}")
        print(f"      index {o.estimate:.2f}, 95% CI {o.ci_low:.2f} to {o.ci_high:.2f} (SE {o.se:.2f}, df {o.df:g}); "
              f"{comps}; {res.level.labels.en}")
    print()

    change = hi.compare(results[2024], results[2023], labels=("2024", "2023"))
    print("Change 2023 -> 2024 (independent samples):")
    print(f"  {change}")
    bg = change.by_group.to_frame().sort_values("change_pp")
    sig = bg[bg.p_value < 0.05]
    print(f"  per commune: changes from {bg.change_pp.min():+.1f} to {bg.change_pp.max():+.1f} points; "
          f"{len(sig)} of {len(bg)} significant at 5% ({', '.join(sig.commune)})")
    print("  (17 commune tests at 5%: about one false positive is expected by chance)\n")

    traj = hi.Trajectory.load("yen_bai_city_plan")
    assessment = traj.assess({2023: results[2023], 2024: results[2024]})
    print(assessment)
    print()

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="yen_bai_city_")) / "report"
    run = run_annual(hi.load_city_survey(2024), spec, frame=frame, margins=hi.load_city_margins(),
                     previous=hi.load_city_survey(2023), targets=traj, synthetic=True)
    files = write_report(run.results, out, "vi")
    print(f"report (Vietnamese) with {len(files)} files written to {out}")
    return {"results": results, "change": change, "assessment": assessment, "run": run, "out": out}


if __name__ == "__main__":
    main()
