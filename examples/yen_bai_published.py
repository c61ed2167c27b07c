"""Yên Bái province's published happiness index: reproduce it, and assess it against the plan.

Run from the repository root::

    python examples/yen_bai_published.py

The province publishes its index (Chỉ số hạnh phúc) with the three component shares:
life satisfaction (LS), the life-expectancy rating (LE) and the living environment (ENV),
combined NEF-style as ``HI = LS x LE / ENV`` (all in percent). The figures and their sources
are bundled in ``happiness_index/data/targets_yen_bai_province.json``.

What a reviewer should see:

1. the published component shares reproduce the published indices with the library's
   ``nef_ratio`` preset (to the published rounding);
2. the published series assessed against the provincial plan values: the status rests on
   the published value alone, because the province publishes no standard errors
   (no uncertainty is invented);
3. year-on-year changes in percentage points and, separately, in relative percent, and why
   the distinction matters for an aim such as "tăng 15% so với đầu nhiệm kỳ".
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

try:
    import happiness_index as hi
except ImportError:  # running from a checkout without installation
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import happiness_index as hi

if hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(encoding="utf-8")


def main() -> dict:
    traj = hi.Trajectory.load("yen_bai_province")
    print("Yên Bái province: published happiness index / Chỉ số hạnh phúc đã công bố")
    print("(published without standard errors: every figure below is a bare number)\n")

    # 1. reproduce --------------------------------------------------------------------
    print("1. Published components reproduce the published index: HI = LS x LE / ENV")
    print(f"   {'year':>4} {'LS':>6} {'LE':>6} {'ENV':>6} {'computed':>9} {'published':>10} {'rounds to it':>13}")
    reproduced = {}
    for year, p in traj.published.items():
        if not p.components:
            print(f"   {year:>4} {'':>6} {'':>6} {'':>6} {'':>9} {p.value:>10.2f}   (components not published)")
            continue
        c = p.components
        hi_value = hi.index_from_components({"ls": c["ls"], "le": c["le"], "env": c["env"]}, "nef_ratio")
        decimals = len(repr(p.value).split(".")[1]) if "." in repr(p.value) else 0
        ok = round(hi_value, decimals) == p.value
        reproduced[year] = (hi_value, ok)
        print(
            f"   {year:>4} {c['ls']:6.2f} {c['le']:6.2f} {c['env']:6.2f} {hi_value:9.3f} {p.value:10.2f} "
            f"{'yes' if ok else 'NO':>13}"
        )
    print(
        "   every published index with published components is LS x LE / ENV, rounded as published"
        if all(ok for _, ok in reproduced.values())
        else "   SOME published indices do not match their components"
    )
    print()

    # 2. against the plan -------------------------------------------------------------------
    a = traj.assess()
    print("2. Published series against the provincial plan values")
    for r in a.table.itertuples(index=False):
        tgt = "—" if math.isnan(r.target) else f"{r.target:.2f}"
        gap = "" if math.isnan(r.gap_pp) else f"gap {r.gap_pp:+.2f} points"
        status = f"{r.status} ({r.basis})" if r.status else ""
        print(f"   {r.year}: published {r.estimate:.2f}, plan {tgt:>5} {gap:<18} {status}")
    o = a.outlook
    if "observed_gain_pp_per_year" in o:
        print(f"   observed gain {o['observed_gain_pp_per_year']:+.2f} points per year since {o['observed_from']}")
    print()

    # 3. changes -------------------------------------------------------------------------
    print("3. Year-on-year changes: percentage points vs relative percent (no SE: published figures)")
    years = sorted(traj.published)
    changes = {}
    for old, new in zip(years[:-1], years[1:]):
        c = hi.compare(traj.published[new], traj.published[old], labels=(str(new), str(old)))
        changes[(new, old)] = c
        print(
            f"   {old}->{new}: {c.change_pp:+.2f} percentage points = {c.change_rel_pct:+.2f}% relative "
            f"(SE {'unknown' if math.isnan(c.se) else f'{c.se:.2f}'})"
        )
    base = traj.published[years[0]].value
    print(
        f"   an aim of '+15% over the {years[0]} baseline {base:g}' means {base + 15:.1f} if read as "
        f"percentage points but {base * 1.15:.1f} if read as relative percent: say which."
    )
    if traj.notes:
        print(f"\n   notes on the sources: {traj.notes}")
    return {"reproduced": reproduced, "assessment": a, "changes": changes}


if __name__ == "__main__":
    main()
