"""Share of Americans "very or pretty happy", 1994-2006: real GSS data, wave by wave.

Run from the repository root::

    python examples/gss_happiness_trend.py

Data: the General Social Survey extract of R's ``wooldridge`` package (17,137 respondents,
bundled as ``happiness_index/data/gss_happiness.csv.gz``). The extract has no strata,
PSUs or weights, so it is analysed as a simple random sample with equal weights, exactly as
the reference computations in R do (``svydesign(id=~1, probs=~1)``). That is a convenience
assumption, not the GSS's real design: real GSS standard errors are larger.

What a reviewer should see:

1. the share per wave with its SE and 95% interval, equal to R's ``svyby(~happy_any, ~year,
   gss_design, svymean)`` (checked against ``tests/reference/gss_happiness.json`` when
   that file is present);
2. the share by census region;
3. each wave against the previous one, in percentage points AND relative percent, with SE,
   interval and p-value: waves are independent samples, so ``hi.compare(new, old)`` with
   its default (independent samples) is right; estimated in one pooled design with the
   wave as a domain (``joint=``) the answer is the same because an SRS has no shared PSUs;
4. the same job through the command line, printed so that it runs as printed from the
   directory the example was run in (from the repository root)::

       happiness-index run --survey happiness_index/data/gss_happiness.csv.gz \\
           --spec gss_happiness --year 2006 --previous-year 2004 --out gss_report

   ``read_survey`` reads the compressed file directly (.csv.gz, .csv.bz2, .csv.xz, .csv.zip).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import happiness_index as hi
except ImportError:  # running from a checkout without installation
    sys.path.insert(0, str(ROOT))
    import happiness_index as hi

if hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(encoding="utf-8")

REFERENCE = ROOT / "tests" / "reference" / "gss_happiness.json"


def cli_command() -> str:
    """The ``happiness-index run`` command for the same job, valid in the current directory.

    The bundled file is named relative to the current directory when it lies below it (from
    the repository root: ``happiness_index/data/gss_happiness.csv.gz``), by its absolute path
    otherwise (an installed package, or the example run from another directory).
    """
    from happiness_index.reading.datasets import data_path

    data = Path(data_path("gss_happiness.csv.gz")).resolve()
    try:
        survey = data.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        survey = str(data)
    return (
        f"happiness-index run --survey {shlex.quote(survey)} --spec gss_happiness "
        "--year 2006 --previous-year 2004 --out gss_report"
    )


def main() -> dict:
    gss = hi.load_gss()
    gss["happy_any"] = gss["happy"].isin(["very happy", "pretty happy"]).astype(float)
    design = hi.SurveyDesign(gss)  # SRS with replacement, equal weights (R: id=~1, probs=~1)
    print(f"GSS happiness extract: {len(gss):,} respondents, waves {sorted(int(y) for y in gss.year.unique())}")
    print("design: simple random sample, equal weights (no design variables in the extract)\n")

    # 1. per wave -------------------------------------------------------------------
    by_year = design.by("year").mean("happy_any")
    print("1. Share 'very or pretty happy' by wave (percent; 95% CI with Normal quantiles, as R's confint)")
    print(f"   {'wave':>6} {'n':>6} {'share':>7} {'SE':>6} {'95% CI':>17}")
    shares = {}
    for e, yr in zip(by_year, by_year.keys["year"]):
        lo, hi_ = e.confint(0.95, df=math.inf)
        shares[int(yr)] = e
        print(f"   {yr:>6} {e.n:>6} {100 * e.estimate:7.2f} {100 * e.se:6.2f} {100 * lo:8.2f} – {100 * hi_:6.2f}")
    if REFERENCE.is_file():
        ref = json.loads(REFERENCE.read_text())
        rows = next(c for c in ref["cases"] if c["id"] == "gss_share_happy_by_year")["expected"]["rows"]
        worst = max(
            max(
                abs(shares[r["domain"]["year"]].estimate - r["estimate"]), abs(shares[r["domain"]["year"]].se - r["se"])
            )
            for r in rows
        )
        print(f"   largest difference from R survey 4.1.1 (estimate or SE): {worst:.1e}")
    print()

    # 2. by region -------------------------------------------------------------------
    by_region = design.by("region").mean("happy_any")
    print("2. By census region, all waves pooled (percent)")
    for e, reg in sorted(zip(by_region, by_region.keys["region"]), key=lambda t: -t[0].estimate):
        lo, hi_ = e.confint(0.95, df=math.inf)
        print(f"   {reg:<17} {100 * e.estimate:6.2f}  [{100 * lo:6.2f}, {100 * hi_:6.2f}]  n = {e.n}")
    print()

    # 3. each wave against the previous one ----------------------------------------------
    print("3. Each wave against the previous one (independent samples; each wave its own SRS design)")
    waves = sorted(shares)
    per_wave = {y: hi.SurveyDesign(gss[gss.year == y].reset_index(drop=True)).mean("happy_any") for y in waves}
    changes = {}
    for old, new in zip(waves[:-1], waves[1:]):
        c = hi.compare(per_wave[new], per_wave[old], scale="proportion", labels=(str(new), str(old)))
        changes[(new, old)] = c
        print(
            f"   {old}->{new}: {c.change_pp:+6.2f} percentage points (SE {c.se:.2f}, 95% CI "
            f"{c.ci_low:+.2f} to {c.ci_high:+.2f}, p = {c.p_value:.3f}); relative {c.change_rel_pct:+.2f}%"
        )
    pooled = hi.compare(2006, 2004, joint=by_year, scale="proportion")
    c = changes[(2006, 2004)]
    print(
        f"   2004->2006 in the pooled design (wave as a domain, joint=): {pooled.change_pp:+.3f} points, "
        f"SE {pooled.se:.4f} (covariance {pooled.covariance:.1e}); separate designs: SE {c.se:.4f}"
    )
    print(
        "   -> no wave-to-wave change is distinguishable from zero at the 5% level"
        if all(ch.p_value > 0.05 for ch in changes.values())
        else "   -> some wave-to-wave changes are significant at the 5% level"
    )
    print()
    command = cli_command()
    print(f"4. The same through the command line (run in {os.getcwd()}; writes ./gss_report):")
    print(f"   {command}")
    return {
        "by_year": shares,
        "by_region": by_region,
        "changes": changes,
        "pooled_2006_2004": pooled,
        "command": command,
    }


if __name__ == "__main__":
    main()
