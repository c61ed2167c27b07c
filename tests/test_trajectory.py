"""Tests of happiness_index.index.trajectory: compare() and Trajectory.assess()."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import happiness_index as hi
from happiness_index.errors import EstimationError, SpecError
from happiness_index.index.trajectory import Change, ChangeTable, PublishedFigure, Trajectory, compare
from happiness_index.survey.estimators import make_estimate

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"  # copies of shared/cases (scripts/sync_reference.py)
REFERENCE = ROOT / "tests" / "reference"  # copies of shared/reference


def est(value, se, df=math.inf, name="index"):
    return make_estimate(name, value, se * se, df, warn_df=False)


# ------------------------------------------------------------------ c21: shared PSUs
@pytest.fixture(scope="module")
def c21():
    case = json.loads((CASES / "c21_year_on_year.json").read_text())
    df = pd.read_csv(CASES / case["data_file"])
    d = hi.SurveyDesign(df, weights="weight", strata="stratum", psu="psu", nest=True)
    return case, df, d


def test_c21_joint_design_includes_covariance(c21):
    case, _, d = c21
    e = case["expected"]
    tol = case["tolerance"]["abs"]
    c = compare(2024, 2023, joint=d.by("year").mean("life_sat"))
    assert isinstance(c, Change)
    assert c.samples == "joint"
    assert c.change_pp == pytest.approx(e["diff_2024_minus_2023"], abs=tol)
    assert c.se == pytest.approx(e["diff_se"], abs=tol)
    assert c.covariance == pytest.approx(e["covariance"], abs=tol)
    assert c.df == e["df"]
    assert c.new_se == pytest.approx(e["se_by_year_2023_2024"][1], abs=tol)
    assert c.old_se == pytest.approx(e["se_by_year_2023_2024"][0], abs=tol)
    assert abs(c.se - e["WRONG_diff_se_as_independent"]) > 0.1
    q = stats.t.ppf(0.975, 4)
    assert c.ci_low == pytest.approx(e["diff_2024_minus_2023"] - q * e["diff_se"], abs=1e-6)
    assert c.p_value == pytest.approx(2 * stats.t.sf(e["diff_2024_minus_2023"] / e["diff_se"], 4), rel=1e-6)


def test_c21_independent_only_when_declared(c21):
    case, df, _ = c21
    e = case["expected"]
    # two separately estimated years: independent samples (the user's declaration)
    per_year = {
        y: hi.SurveyDesign(df[df.year == y], weights="weight", strata="stratum", psu="psu", nest=True).mean("life_sat")
        for y in (2023, 2024)
    }
    c = compare(per_year[2024], per_year[2023])
    assert c.samples == "independent"
    assert c.se == pytest.approx(e["WRONG_diff_se_as_independent"], abs=1e-6)
    assert "independent samples assumed" in c.note


def test_joint_refuses_contradictory_or_missing_choices(c21):
    _, _, d = c21
    t = d.by("year").mean("life_sat")
    with pytest.raises(EstimationError, match="contradicts joint"):
        compare(2024, 2023, joint=t, samples="independent")
    with pytest.raises(EstimationError, match="covariance"):
        compare(t["2024"], t["2023"], samples="joint")
    with pytest.raises(EstimationError, match="no key column holding both"):
        compare(2025, 2023, joint=t)
    with pytest.raises(EstimationError, match="joint= must be"):
        compare(2024, 2023, joint=[1, 2])


def test_joint_covariance_equals_explicit_covariance(c21):
    _, _, d = c21
    t = d.by("year").mean("life_sat")
    cov = float(t.vcov.loc["2023", "2024"])
    a = compare(t["2024"], t["2023"], samples="joint", covariance=cov)
    b = compare(2024, 2023, joint=t)
    assert a.se == pytest.approx(b.se, rel=1e-12)
    assert a.change_pp == pytest.approx(b.change_pp, rel=1e-12)


def test_joint_per_domain_matches_contrast(c21):
    _, _, d = c21
    t = d.by(["year", "stratum"]).mean("life_sat")
    ct = compare(2024, 2023, joint=t)
    assert isinstance(ct, ChangeTable) and len(ct) == 2
    for s in ("A", "B"):
        ref = t.contrast({f"2024, {s}": 1, f"2023, {s}": -1})
        assert ct[s].change_pp == pytest.approx(ref.estimate, rel=1e-12)
        assert ct[s].se == pytest.approx(ref.se, rel=1e-12)
    f = ct.to_frame()
    assert list(f["stratum"]) == ["A", "B"]


# ------------------------------------------------------------------ GSS reference (R)
def test_gss_difference_2006_2004_independent_matches_r():
    ref = json.loads((REFERENCE / "gss_happiness.json").read_text())
    case = next(c for c in ref["cases"] if c["id"] == "gss_diff_2006_2004_independent")
    e = case["expected"]
    gss = pd.read_csv(ROOT / "happiness_index" / "data" / "gss_happiness.csv.gz")
    gss["happy_any"] = gss["happy"].isin(["very happy", "pretty happy"]).astype(float)
    m = {y: hi.SurveyDesign(gss[gss.year == y].reset_index(drop=True)).mean("happy_any") for y in (2004, 2006)}
    assert m[2004].se == pytest.approx(e["se_2004"], rel=1e-7)
    c = compare(m[2006], m[2004], scale="proportion", df=math.inf)
    # reported in percentage points: R's proportion difference x 100
    assert c.change_pp == pytest.approx(100 * e["estimate"], rel=1e-9)
    assert c.se == pytest.approx(100 * e["se"], rel=1e-7)
    assert c.ci_low == pytest.approx(100 * e["ci_low"], rel=1e-7)
    assert c.ci_high == pytest.approx(100 * e["ci_high"], rel=1e-7)
    assert c.statistic == pytest.approx(e["z"], rel=1e-7)
    assert c.p_value == pytest.approx(e["p_value_two_sided"], rel=1e-6)


# ------------------------------------------------------------------ hand-worked numbers
def test_points_and_relative_change_hand_worked():
    c = compare(est(65.0, 1.2), est(60.0, 0.9))
    assert c.change_pp == pytest.approx(5.0)
    assert c.se == pytest.approx(1.5)  # sqrt(1.44 + 0.81)
    assert c.change_rel_pct == pytest.approx(100 * (65 / 60 - 1))
    # delta method: sqrt(1.44/60^2 + 65^2*0.81/60^4) * 100
    assert c.se_rel_pct == pytest.approx(100 * math.sqrt(1.44 / 3600 + 65**2 * 0.81 / 60**4))
    s_log = math.sqrt((1.2 / 65) ** 2 + (0.9 / 60) ** 2)
    q = stats.norm.ppf(0.975)
    assert c.ci_rel_low == pytest.approx(100 * (65 / 60 * math.exp(-q * s_log) - 1))
    assert c.ci_low == pytest.approx(5 - q * 1.5)
    text = str(c)
    assert "percentage points" in text and "relative change" in text


def test_satterthwaite_df_for_independent_designs():
    c = compare(est(65.0, 1.0, df=10), est(60.0, 1.0, df=30))
    assert c.df == pytest.approx(4 / (1 / 10 + 1 / 30))


def test_published_figures_have_no_invented_uncertainty():
    c = compare(65.62, 62.57)
    assert c.change_pp == pytest.approx(3.05)
    assert c.change_rel_pct == pytest.approx(100 * (65.62 / 62.57 - 1))
    assert math.isnan(c.se) and math.isnan(c.ci_low) and math.isnan(c.p_value)
    assert "SE unknown" in str(c)
    m = compare(est(66.0, 0.8), PublishedFigure(62.57, 2022, "release"))
    assert math.isnan(m.se) and m.se_lower_bound == pytest.approx(0.8)
    assert "lower bound" in m.note


def test_bad_inputs_raise_library_errors():
    with pytest.raises(EstimationError, match="must be an IndexResult"):
        compare("65", 60.0)
    with pytest.raises(EstimationError, match="scale"):
        compare(1.0, 2.0, scale="percentage")
    with pytest.raises(EstimationError, match="finite"):
        compare(float("nan"), 2.0)


@settings(max_examples=60, deadline=None)
@given(st.floats(1, 99), st.floats(1, 99), st.floats(0.01, 5), st.floats(0.01, 5), st.floats(-0.9, 0.9))
def test_change_invariants(a, b, sa, sb, rho):
    cov = rho * sa * sb
    x = compare(est(a, sa), est(b, sb), samples="joint", covariance=cov)
    y = compare(est(b, sb), est(a, sa), samples="joint", covariance=cov)
    assert x.change_pp == pytest.approx(-y.change_pp)
    assert x.se == pytest.approx(y.se)
    assert x.p_value == pytest.approx(y.p_value)
    assert x.ci_rel_low <= x.change_rel_pct <= x.ci_rel_high
    assert x.ci_rel_low > -100
    ind = compare(est(a, sa), est(b, sb))
    if cov > 0:
        assert x.se <= ind.se + 1e-12


# ------------------------------------------------------------------ Trajectory
def test_assess_statuses_and_outlook_hand_worked():
    traj = Trajectory({2023: 76.0, 2024: 76.0, 2025: 84.6}, name="plan")
    a = traj.assess({2023: est(74.0, 1.0), 2024: est(77.0, 1.0)})
    t = a.table.set_index("year")
    assert t.loc[2023, "gap_pp"] == pytest.approx(-2.0)
    assert t.loc[2023, "p_reached"] == pytest.approx(stats.norm.sf(-2.0))
    assert t.loc[2023, "status"] == "not reached"  # 95% interval [72.04, 75.96] below 76
    assert t.loc[2024, "status"] == "not distinguishable"  # interval covers 76
    assert t.loc[2025, "status"] == "no estimate"
    o = a.outlook
    assert o["gain_needed_pp_per_year"] == pytest.approx(7.6)
    assert o["gain_needed_se"] == pytest.approx(1.0)
    assert o["observed_gain_pp_per_year"] == pytest.approx(3.0)
    # straight line through (2023, 74), (2024, 77) -> 2025: 80; weights (-1, 2): var 1 + 4
    assert o["projection"] == pytest.approx(80.0)
    assert o["projection_se"] == pytest.approx(math.sqrt(5.0))
    assert o["projection_status"] == "not reached"  # 80 + 1.96 * 2.236 = 84.38 < 84.6
    b = traj.assess({2023: est(78.5, 1.0)})
    assert b.status(2023) == "reached"


def test_status_agrees_with_interval():
    traj = Trajectory({2023: 76.0})
    for v in np.linspace(72, 80, 33):
        a = traj.assess({2023: est(float(v), 1.0, df=30)})
        r = a.table.iloc[0]
        expected = "reached" if r.ci_low > 76 else "not reached" if r.ci_high < 76 else "not distinguishable"
        assert r.status == expected


def test_bundled_target_sets():
    city = Trajectory.load("yen_bai_city_plan")
    assert [(t.year, t.value) for t in city.targets] == [(2022, 72.7), (2023, 76.0), (2025, 84.6)]
    assert all(t.source for t in city.targets)
    prov = Trajectory("yen_bai_province")
    assert {y: p.value for y, p in prov.published.items()} == {2020: 53.3, 2021: 57.3, 2022: 62.57, 2023: 65.62}
    assert all(p.source for p in prov.published.values())
    a = prov.assess()
    t = a.table.set_index("year")
    assert t.loc[2023, "gap_pp"] == pytest.approx(2.32)  # "vượt 2,32 điểm phần trăm so với kế hoạch"
    assert t.loc[2023, "status"] == "reached"
    assert t.loc[2023, "basis"] == "published value, no SE: no test"
    assert np.isnan(t.loc[2023, "p_reached"])


def test_trajectory_from_spec_and_files(tmp_path):
    spec = hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
    assert [t.value for t in Trajectory.from_spec(spec).targets] == [72.7, 76.0, 84.6]
    p = tmp_path / "t.toml"
    p.write_text('name = "x"\n[[targets]]\nyear = 2030\nvalue = 90.0\nsource = "plan"\n', encoding="utf-8")
    assert Trajectory.load(p).targets[0].value == 90.0


def test_trajectory_rejects_bad_targets():
    with pytest.raises(SpecError, match="outside 0-100"):
        Trajectory({2023: 760})
    with pytest.raises(SpecError, match="not an integer year"):
        Trajectory({"next year": 70})
    with pytest.raises(SpecError, match="no target set"):
        Trajectory.load("no_such_set")
    with pytest.raises(SpecError, match="at least one"):
        Trajectory({})


def test_trajectory_refuses_proportions_as_targets(tmp_path):
    # breakit #6: 0.76 and 0.846 are proportions; as percent they would be "reached" by any index
    with pytest.raises(
        SpecError,
        match=r"targets are in percent \(0-100\): multiply by 100 "
        r"\(2023: 76, 2025: 84\.6\)",
    ):
        Trajectory({2023: 0.76, 2025: 0.846})
    p = tmp_path / "t.json"
    p.write_text('{"targets": [{"year": 2030, "value": 0.9}]}', encoding="utf-8")
    with pytest.raises(SpecError, match="multiply by 100"):
        Trajectory.load(p)
    # one small value among percent values is a genuine (if odd) target, not a unit slip
    assert [t.value for t in Trajectory({2023: 1.0, 2025: 84.6}).targets] == [1.0, 84.6]


# ------------------------------------------------------------------ methodology worked example
def test_methodology_worked_example_numbers():
    """Every number of the worked example in methodology/trajectory.md, recomputed."""
    text = (ROOT / "methodology" / "trajectory.md").read_text(encoding="utf-8")
    new, old = est(65.62, 0.80), est(62.57, 0.75)
    c = compare(new, old)
    j = compare(new, old, samples="joint", covariance=0.30)
    a = Trajectory({2023: 63.3, 2025: 68.3}).assess({2022: old, 2023: new})
    t = a.table.set_index("year")
    o = a.outlook
    en = {
        f"{c.change_pp:+.2f} percentage points",
        f"= **{c.se:.3f}**",
        f"{c.ci_low:+.2f} to {c.ci_high:+.2f} points",
        f"p = **{c.p_value:.4f}**",
        f"**{c.change_rel_pct:+.2f} %**",
        f"SE {c.se_rel_pct:.2f}",
        f"{c.ci_rel_low:+.2f} % to {c.ci_rel_high:+.2f} %",
        f"**{j.se:.3f}**",
        f"gap **{t.loc[2023, 'gap_pp']:+.2f}**",
        f"{t.loc[2023, 'ci_low']:.2f} to {t.loc[2023, 'ci_high']:.2f}",
        f"p_reached = {t.loc[2023, 'p_reached']:.4f}",
        f"**{o['gain_needed_pp_per_year']:+.2f} points a year** (SE {o['gain_needed_se']:.2f})",
        f"**{o['projection']:.2f}** (95% CI {o['projection_ci_low']:.2f} to {o['projection_ci_high']:.2f})",
    }
    for s in en:
        assert s in text, s
    assert t.loc[2023, "status"] == "reached" and "**reached**" in text
    assert o["projection_status"] == "not distinguishable"
    assert j.p_value < 1e-4
    vi = {
        f"{c.se:.3f}".replace(".", ","),
        f"{c.change_rel_pct:+.2f} %".replace(".", ","),
        f"**{o['gain_needed_pp_per_year']:+.2f} điểm mỗi năm**".replace(".", ","),
        f"**{o['projection']:.2f}**".replace(".", ","),
    }
    for s in vi:
        assert s in text, s


def test_joint_from_index_result_by_year():
    """compute_index on the stacked years with by='year' can be passed as joint=."""
    spec = hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
    both = hi.load_city_survey()
    r = hi.compute_index(both, spec, by="year")
    c = compare(2024, 2023, joint=r)
    t = r.by_group
    ref = t.contrast({"2024": 1, "2023": -1})
    assert c.samples == "joint"
    assert c.change_pp == pytest.approx(ref.estimate, rel=1e-12)
    assert c.se == pytest.approx(ref.se, rel=1e-12)
    sep = {y: hi.compute_index(hi.load_city_survey(y), spec) for y in (2023, 2024)}
    assert c.change_pp == pytest.approx(sep[2024].overall.estimate - sep[2023].overall.estimate, rel=1e-9)


def test_trajectory_messages_have_no_numpy_reprs():
    # breakit #29: values from numpy arrays are shown as plain numbers
    with pytest.raises(SpecError) as ei:
        Trajectory({np.float64(2023.5): 70.0})
    assert "np." not in str(ei.value) and "2023.5" in str(ei.value)
    with pytest.raises(SpecError) as ei:
        Trajectory({np.int64(2023): 70.0, np.int64(2024): "high"})
    assert "np." not in str(ei.value) and "target for 2024" in str(ei.value)


def test_compare_same_data_warns_independence_is_false():
    """compare(r, r) or two results with the same data hash: warn (new-user #12)."""
    import warnings

    spec = hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
    data = hi.load_city_survey(2023)
    r = hi.compute_index(data, spec)
    again = hi.compute_index(data.copy(), spec)
    assert again.provenance["data_hash"] == r.provenance["data_hash"]
    for a, b in ((r, r), (again, r), (r.to_dict(), again)):
        with pytest.warns(hi.HappinessIndexWarning, match="same data.*independent samples is false"):
            c = compare(a, b)
        assert c.change_pp == 0.0 and c.se > 0  # the SE is the meaningless part
    other = hi.compute_index(hi.load_city_survey(2024), spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error", hi.HappinessIndexWarning)
        compare(other, r)  # different data: no warning
        compare(r, r, covariance=r.overall.se**2)  # caller supplies the covariance: no warning
        compare(est(76.0, 1.5), est(76.0, 1.5))  # bare estimates carry no data hash
