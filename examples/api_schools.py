"""Design-based estimation on the California school samples (real data from R's survey package).

Run from the repository root::

    python examples/api_schools.py

The Academic Performance Index (API) of California schools: the population of 6,194
schools (``apipop``) and probability samples from it, with the designs of R's ``?api``.
Because the population is known, the estimates can be held against the truth.

What a reviewer should see:

1. the mean API in 2000 from a stratified sample, a one-stage cluster sample and a
   two-stage cluster sample, each with its SE and 95% interval, against the population
   value (the cluster samples have larger SEs: the design effect of clustering);
2. the share of schools that met their school-wide growth target (a proportion with a
   logit interval) against the population share;
3. the change in the mean API from 1999 to 2000 measured on the SAME schools: the two
   years are correlated (covariance > 0), so it is estimated in one design
   (``hi.compare(..., joint=...)``); treating the years as independent samples would give
   an SE many times too large;
4. a domain estimate: the mean API by school type, on the full design.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import happiness_index as hi
except ImportError:  # running from a checkout without installation
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import happiness_index as hi

if hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(encoding="utf-8")


def designs() -> dict:
    strat = hi.load_api("apistrat")
    clus1 = hi.load_api("apiclus1")
    clus2 = hi.load_api("apiclus2")
    return {
        "stratified (apistrat: 200 schools in 3 school types)": hi.SurveyDesign(
            strat, weights="pw", strata="stype", fpc="fpc"
        ),
        "one-stage cluster (apiclus1: 15 districts)": hi.SurveyDesign(clus1, weights="pw", psu="dnum", fpc="fpc"),
        "two-stage cluster (apiclus2: 40 districts, <= 5 schools each)": hi.SurveyDesign(
            clus2, psu=["dnum", "snum"], fpc=["fpc1", "fpc2"]
        ),
    }


def main() -> dict:
    pop = hi.load_api("apipop")
    true_mean = pop["api00"].mean()
    true_share = (pop["sch.wide"] == "Yes").mean()
    print(
        f"Population: {len(pop):,} schools; mean API 2000 = {true_mean:.2f}; "
        f"met school-wide target: {100 * true_share:.1f}%\n"
    )
    out = {}
    print("1-2. Mean API 2000 and share meeting the school-wide target, by design")
    for label, d in designs().items():
        m = d.mean("api00")
        data = d.data.assign(met=(d.data["sch.wide"] == "Yes").astype(float))
        dd = hi.SurveyDesign(data, weights=d.weights_column, strata=d.strata_column, psu=d.psu_columns, fpc=d.fpc_spec)
        p = dd.proportion("met")
        out[label] = (m, p)
        cover = "covers" if m.ci_low <= true_mean <= m.ci_high else "misses"
        print(f"  {label}")
        print(
            f"    mean API {m.estimate:7.2f} (SE {m.se:5.2f}; 95% CI {m.ci_low:.1f} to {m.ci_high:.1f}, df {m.df:g}) "
            f"{cover} the population mean"
        )
        print(f"    met target {100 * p.estimate:5.1f}% (95% logit CI {100 * p.ci_low:.1f} to {100 * p.ci_high:.1f})")
    print()

    d = next(iter(designs().values()))
    both = d.mean(["api00", "api99"])
    joint = hi.compare("api00", "api99", joint=both, scale="value", labels=("2000", "1999"))
    naive = hi.compare(both["api00"], both["api99"], scale="value")
    print("3. Change 1999 -> 2000 on the same schools (stratified sample)")
    print(
        f"    one design over both years: {joint.change_pp:+.2f} API points, SE {joint.se:.2f} "
        f"(covariance {joint.covariance:.1f}), relative {joint.change_rel_pct:+.2f}%"
    )
    print(f"    if wrongly treated as independent samples: SE {naive.se:.2f} ({naive.se / joint.se:.0f} times larger)")
    print(f"    population change: {pop.api00.mean() - pop.api99.mean():+.2f}\n")

    by_type = d.by("stype").mean("api00")
    print("4. Mean API 2000 by school type (domains on the full stratified design)")
    truth = pop.groupby("stype")["api00"].mean()
    for e, t in zip(by_type, by_type.keys["stype"]):
        print(f"    {t}: {e.estimate:7.2f} (SE {e.se:5.2f}); population {truth[t]:.2f}")
    return {"by_design": out, "change": joint, "naive": naive, "by_type": by_type}


if __name__ == "__main__":
    main()
