"""Design a 17-commune household survey for the city's happiness index.

Run from the repository root::

    python examples/design_city_sample.py

Targets: a margin of error of +/-5 points on the index in EACH of the 17 communes and
wards, and +/-2 points city-wide, at 95% confidence.

Assumptions (state them in the survey plan; change them here):

* The index is about 76% (the 2023 value). Its sampling variance is approximated by
  that of a proportion p = 0.76, i.e. as the share of respondents counted as happy.
  Once a full year has been computed, size on the index itself
  (``sample_size(previous=result.overall)``, step 5).
* Design effect 1.5 for the two-stage design (areas, then 40 households per area):
  deff = 1 + (m - 1) * rho with m = 40 and an intra-area correlation rho of about 0.013.
* Response rate 0.85: contacts = completed interviews / 0.85.
* Household counts per commune/ward below are ILLUSTRATIVE round numbers, not official
  statistics: replace them with the current household listing.

The script prints every number quoted in ``methodology/sampling.md``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

try:
    import happiness_index as hi
except ImportError:  # running from a checkout without installation
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import happiness_index as hi

if hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(encoding="utf-8")

# ---------------------------------------------------------------------------- inputs
P = 0.76  # anticipated index as a proportion
DEFF = 1.5  # design effect of the two-stage design
RESPONSE_RATE = 0.85  # expected share of contacted households that complete the interview
LEVEL = 0.95
MOE_COMMUNE = 0.05  # +/-5 points in each commune/ward
MOE_CITY = 0.02  # +/-2 points city-wide
HH_PER_AREA = 40  # households taken in each selected area (the province's rule)
BUDGET = 6000  # completed interviews the office can afford (illustrative)

# ILLUSTRATIVE household counts (not official figures).
FRAME = pd.DataFrame(
    [
        ("Đồng Tâm", "phường / ward", 3850),
        ("Hồng Hà", "phường / ward", 2420),
        ("Minh Tân", "phường / ward", 2760),
        ("Nam Cường", "phường / ward", 1530),
        ("Nguyễn Phúc", "phường / ward", 2050),
        ("Nguyễn Thái Học", "phường / ward", 3180),
        ("Yên Ninh", "phường / ward", 3340),
        ("Yên Thịnh", "phường / ward", 2610),
        ("Hợp Minh", "phường / ward", 1460),
        ("Âu Lâu", "xã / commune", 1720),
        ("Giới Phiên", "xã / commune", 1190),
        ("Minh Bảo", "xã / commune", 1240),
        ("Phúc Lộc", "xã / commune", 980),
        ("Tân Thịnh", "xã / commune", 1870),
        ("Tuy Lộc", "xã / commune", 1310),
        ("Văn Phú", "xã / commune", 1050),
        ("Văn Tiến", "xã / commune", 720),
    ],
    columns=["commune", "type", "households"],
)


def city_moe(alloc: pd.DataFrame) -> float:
    """Expected city-wide margin of error of a stratified estimate of a proportion.

    V = sum_h W_h^2 (1 - f_h) deff p (1 - p) / n_h with W_h = N_h / N (Cochran 1977, ch. 5).
    """
    W = alloc["N"] / alloc["N"].sum()
    v = (W**2 * (1 - alloc["fraction"]) * DEFF * P * (1 - P) / alloc["n"]).sum()
    z = float(hi.sample_size(moe=0.5, level=LEVEL).z)
    return z * math.sqrt(v)


def pts(x: float) -> str:
    return f"±{100 * x:.2f}"


def main() -> None:
    N = int(FRAME["households"].sum())
    print("Designing the city happiness survey / Thiết kế mẫu điều tra chỉ số hạnh phúc")
    print(f"  17 communes and wards, {N:,} households (illustrative counts)")
    print(f"  assumptions: p = {P}, deff = {DEFF}, response rate = {RESPONSE_RATE}, level = {LEVEL}")
    print()

    # 1. city-wide requirement ------------------------------------------------------
    city = hi.sample_size(moe=MOE_CITY, p=P, level=LEVEL, deff=DEFF, response_rate=RESPONSE_RATE, population=N)
    print("Step 1. City-wide target ±2 points / Mục tiêu toàn thành phố ±2 điểm")
    print(f"  n0 (SRS) = {city.n_srs:.1f}; x deff = {city.n_with_deff:.1f}; with fpc = {city.n_with_fpc:.1f}")
    print(f"  -> {city.n_respondents:,} completed interviews, {city.n_to_contact:,} households to contact")
    print()

    # 2. per-commune requirement ------------------------------------------------------
    req = {
        r.commune: hi.sample_size(
            moe=MOE_COMMUNE, p=P, level=LEVEL, deff=DEFF, response_rate=RESPONSE_RATE, population=r.households
        )
        for r in FRAME.itertuples()
    }
    need = pd.Series({k: v.n_respondents for k, v in req.items()}, name="need")
    first = next(iter(req.values()))
    print("Step 2. Target ±5 points in each commune / Mục tiêu ±5 điểm ở mỗi xã, phường")
    print(f"  without fpc: n0 = {first.n_srs:.1f}, x deff = {first.n_with_deff:.1f} interviews per commune")
    print(f"  with fpc the need falls from {need.max()} ({need.idxmax()}) to {need.min()} ({need.idxmin()});")
    print(
        f"  sum over the 17 communes: {need.sum():,} interviews "
        f"({sum(v.n_to_contact for v in req.values()):,} contacts)"
    )
    print("  -> the commune targets, not the city target, drive the sample size")
    print()

    # 3. textbook allocations of the same total -----------------------------------------
    total = int(need.sum())
    print(f"Step 3. Standard allocations of n = {total:,} / So sánh các cách phân bổ")
    print(f"  {'method':<22}{'communes within ±5':>20}{'worst commune':>16}{'city-wide':>12}")
    for label, kw in [
        ("proportional", dict(method="proportional")),
        ("power, q = 0.5", dict(method="power", power=0.5)),
        ("equal", dict(method="equal")),
        ("proportional + needs", dict(method="proportional", min_per_stratum=need.to_dict())),
    ]:
        a = hi.allocate(FRAME, total, stratum="commune", size="households", p=P, level=LEVEL, deff=DEFF, **kw)
        ok = int((a["moe"] <= MOE_COMMUNE + 1e-12).sum())
        print(f"  {label:<22}{ok:>17} / 17{pts(a['moe'].max()):>16}{pts(city_moe(a)):>12}")
    print()

    # 4. recommended allocation -------------------------------------------------------
    alloc = hi.allocate(
        FRAME,
        BUDGET,
        stratum="commune",
        size="households",
        method="proportional",
        min_per_stratum=need.to_dict(),
        p=P,
        level=LEVEL,
        deff=DEFF,
    )
    alloc["type"] = FRAME["type"].to_numpy()
    alloc["need"] = need.reindex(alloc["stratum"]).to_numpy()
    alloc["contacts"] = np.ceil(alloc["n"] / RESPONSE_RATE - 1e-9).astype(int)
    alloc["areas"] = np.ceil(alloc["contacts"] / HH_PER_AREA).astype(int)
    print(f"Step 4. Recommended allocation / Phân bổ mẫu đề xuất: budget {BUDGET:,} interviews,")
    print("  proportional to households with each commune's ±5-point need as its minimum")
    print(f"  (min_per_stratum = need; largest-remainder rounding; {HH_PER_AREA} households per area)")
    print()
    header = (
        f"  {'commune / xã, phường':<21}{'type':<15}{'households':>11}{'need':>6}{'n':>6}"
        f"{'contacts':>9}{'areas':>6}{'fraction':>9}{'MoE':>8}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in alloc.itertuples():
        print(
            f"  {r.stratum:<21}{r.type:<15}{r.N:>11,}{r.need:>6}{r.n:>6}{r.contacts:>9}{r.areas:>6}"
            f"{r.fraction:>9.3f}{pts(r.moe):>8}"
        )
    print("  " + "-" * (len(header) - 2))
    print(
        f"  {'total':<36}{alloc['N'].sum():>11,}{alloc['need'].sum():>6}{alloc['n'].sum():>6}"
        f"{alloc['contacts'].sum():>9}{alloc['areas'].sum():>6}"
    )
    extra = int(alloc["areas"].sum()) * HH_PER_AREA
    print(
        f"  {alloc['areas'].sum()} areas x {HH_PER_AREA} = {extra:,} households contacted "
        f"(whole areas add {extra - int(alloc['contacts'].sum())} to the {alloc['contacts'].sum():,} contacts needed)"
    )
    print(
        f"  city-wide margin of error: {pts(city_moe(alloc))} points (target ±2); "
        f"worst commune {pts(alloc['moe'].max())} (target ±5)"
    )
    print("  MoE = 1.96 * sqrt(deff (1 - f) p (1 - p) / n), in index points")
    print()

    # 5. next year: size on the index itself ------------------------------------------
    # ILLUSTRATIVE previous result, shaped like IndexResult.overall (percent scale).
    prev = SimpleNamespace(estimate=76.0, se=0.62, n=6000, deff=1.55)
    nxt = hi.sample_size(moe=2.0, previous=prev, response_rate=RESPONSE_RATE, population=N)
    print("Step 5. Next year, sized on the index / Năm sau: tính cỡ mẫu theo chính chỉ số")
    print(f"  previous index {prev.estimate:.1f}%, SE {prev.se:.2f} points, n = {prev.n:,}, deff {prev.deff}")
    print(f"  unit SD S = SE * sqrt(n) = {nxt.sd:.2f} points; moe = 2 points (same units as the index)")
    print(
        f"  -> {nxt.n_respondents:,} interviews city-wide ({nxt.n_to_contact:,} contacts); "
        f"SRS-equivalent {nxt.n_srs:.0f}"
    )
    print()

    # 6. select the sample from a synthetic frame -------------------------------------
    rng = np.random.default_rng(2024)
    areas = []
    for r in FRAME.itertuples():
        k = max(int(round(r.households / 80)), 4)  # villages / residential groups of ~80 households
        sizes = rng.multinomial(r.households - 45 * k, np.ones(k) / k) + 45
        areas += [(r.commune, f"{r.commune} #{i + 1:02d}", int(s)) for i, s in enumerate(sizes)]
    area_frame = pd.DataFrame(areas, columns=["commune", "area", "households"])
    hh = area_frame.loc[area_frame.index.repeat(area_frame["households"]), ["area"]].reset_index(drop=True)
    hh["household_id"] = np.arange(len(hh))
    n_areas = dict(zip(alloc["stratum"], alloc["areas"]))
    sample = hi.select(
        area_frame,
        n_areas,
        "pps_systematic",
        seed=20240601,
        stratum="commune",
        size="households",
        psu="area",
        units=hh,
        households_per_psu=HH_PER_AREA,
    )
    check = sample.groupby("commune", sort=False).agg(
        areas=("area", "nunique"), households=("household_id", "size"), weight_sum=("design_weight", "sum")
    )
    print("Step 6. Two-stage selection from a synthetic frame / Chọn mẫu hai giai đoạn (khung mô phỏng)")
    print(f"  {len(area_frame)} areas of 45+ households; PPS systematic, then {HH_PER_AREA} households by SRS")
    print(
        f"  selected {check['areas'].sum()} areas, {check['households'].sum():,} households; "
        f"certainty areas: {int(sample.drop_duplicates('area')['certainty'].sum())}"
    )
    print(
        f"  sum of design weights {check['weight_sum'].sum():,.0f} = households in frame {len(hh):,} "
        "(self-weighting within commune: size = listed households)"
    )
    print(
        f"  weights range from {sample['design_weight'].min():.2f} ({sample.loc[sample['design_weight'].idxmin(), 'commune']}) "
        f"to {sample['design_weight'].max():.2f} ({sample.loc[sample['design_weight'].idxmax(), 'commune']})"
    )

    print()
    commune_precision_with_model()


def commune_precision_with_model(target: float = 10.0) -> None:
    """Step 7: villages per commune for a +/-10-point index interval, from last year's survey.

    Uses the bundled SYNTHETIC 2024 survey (5 villages x 40 households per commune) as
    "last year": its commune SEs for the direct estimate, and the Fay-Herriot fit of
    ``hi.small_area_index`` with the SYNTHETIC commune covariates for the area model.
    """
    spec = hi.IndexSpec.from_toml(Path(__file__).resolve().parents[1] / "methodology" / "yen_bai_nef.toml")
    clean = hi.validate_survey(hi.load_city_survey(2024), spec, frame=hi.load_city_frame()).data
    res = hi.compute_index(clean, spec, by="commune", diagnostics=False)
    sa = hi.small_area_index(res, hi.load_city_commune_covariates())
    bg = res.by_group.to_frame().set_index("commune")
    inputs = hi.model_plan_inputs(sa.fit)
    plan = hi.commune_precision_plan(bg["se"], bg["n"], target, cluster_size=HH_PER_AREA, **inputs)
    floor = hi.commune_precision_plan(bg["se"], bg["n"], target, cluster_size=HH_PER_AREA, min_villages=5, **inputs)
    print(f"Step 7. Commune index within ±{target:g} points / Chỉ số từng xã, phường trong ±{target:g} điểm")
    print("  last year: the bundled SYNTHETIC 2024 survey (5 villages x 40 households per commune)")
    print(
        f"  area model: Fay-Herriot on SYNTHETIC covariates, sigma2_u = {inputs['sigma2_u']:.2f}, "
        f"c = {inputs['extra_coef']:.2f}"
    )
    print(
        f"  {'commune / xã, phường':<21}{'SE 2024':>8}{'direct: villages':>18}{'households':>11}"
        f"{'with model: villages':>22}{'households':>11}"
    )
    for r in plan.itertuples():
        print(
            f"  {r.unit:<21}{r.se_previous:>8.2f}{r.villages_direct:>18.0f}{r.households_direct:>11,.0f}"
            f"{r.villages_model:>22.0f}{r.households_model:>11,.0f}"
        )
    print(
        f"  total: direct estimation alone {plan['households_direct'].sum():,.0f} households; "
        f"with the area model {plan['households_model'].sum():,.0f} (completed interviews)"
    )
    print("  caveat: the model MSE is an average over communes; a commune far from the regression is")
    print("  covered less often (methodology/small_area.md). With at least 5 villages per commune:")
    print(
        f"  direct alone {floor['households_direct'].sum():,.0f} households; with the area model "
        f"{floor['households_model'].sum():,.0f}"
    )


if __name__ == "__main__":
    main()
