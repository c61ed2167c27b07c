"""Edge cases from survey practice (``tests/cases``, copies of ``shared/cases``) for the estimation engine.

c01 fpc as a count and as a fraction; c02 domains vs deleting rows; c04 lonely PSU
default; c06 PSU codes reused across strata; c07 stratified jackknife; c10 proportions
at 0 or 1 in a domain; c21 year-on-year change with shared PSUs. Expected numbers come
from each case's JSON (R survey 4.1.1, R call in the file).
"""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import DesignError, LonelyPSUError

from reference_helpers import CASES


def _case(cid: str):
    js = next(CASES.glob(f"{cid}_*.json"))
    spec = json.loads(js.read_text(encoding="utf-8"))
    data = pd.read_csv(CASES / spec["data_file"], encoding="utf-8")
    return spec, data


def _abs(spec):
    return float(spec["tolerance"]["abs"])


# --------------------------------------------------------------------------- c01


def test_c01_fpc_as_population_count_and_as_fraction():
    spec, data = _case("c01")
    e, tol = spec["expected"], _abs(spec)
    d_N = hi.SurveyDesign(data, weights="weight", fpc="pop_size")
    d_f = hi.SurveyDesign(data, weights="weight", fpc="samp_frac")
    d_wr = hi.SurveyDesign(data, weights="weight")
    assert d_N.fpc_kind == "population count" and d_f.fpc_kind == "sampling fraction"
    m = d_N.mean("life_sat")
    assert m.estimate == pytest.approx(e["mean"], abs=tol)
    assert m.se == pytest.approx(e["mean_se_with_fpc"], abs=tol)
    assert d_f.mean("life_sat").se == pytest.approx(e["mean_se_with_fpc_given_as_fraction"], abs=tol)
    assert d_wr.mean("life_sat").se == pytest.approx(e["mean_se_without_fpc"], abs=tol)
    t = d_N.total("life_sat")
    assert t.estimate == pytest.approx(e["total"], abs=tol)
    assert t.se == pytest.approx(e["total_se_with_fpc"], abs=tol)
    assert d_N.df == e["df"] and m.df == e["df"]
    lo, hi_ = m.confint(0.95, df=d_N.df)
    assert (lo, hi_) == pytest.approx(e["ci95_mean_t_df11"], abs=tol)
    assert (m.ci_low, m.ci_high) == pytest.approx(e["ci95_mean_t_df11"], abs=tol)


def test_c01_population_count_below_sample_size_is_rejected():
    _, data = _case("c01")
    bad = data.assign(pop_size=10)  # N = 10 < n = 12
    with pytest.raises(DesignError, match=r"pop_size.*smaller than the number of sampled units"):
        hi.SurveyDesign(bad, weights="weight", fpc="pop_size")
    mixed = data.assign(pop_size=[60] * 11 + [0.2])
    with pytest.raises(DesignError):
        hi.SurveyDesign(mixed, weights="weight", fpc="pop_size")


# --------------------------------------------------------------------------- c02


def test_c02_domain_keeps_the_design_not_deleted_rows():
    spec, data = _case("c02")
    e, tol = spec["expected"], _abs(spec)
    des = hi.SurveyDesign(data, weights="weight", strata="stratum", psu="psu", nest=True)
    dom = des.subset(data["urban"] == 1)
    m, t = dom.mean("life_sat"), dom.total("life_sat")
    assert m.estimate == pytest.approx(e["domain_mean"], abs=tol)
    assert m.se == pytest.approx(e["domain_mean_se"], abs=tol)
    assert t.estimate == pytest.approx(e["domain_total"], abs=tol)
    assert t.se == pytest.approx(e["domain_total_se"], abs=tol)
    assert dom.df == e["domain_df"] and m.df == e["domain_df"]
    # never the numbers of a design declared on the remaining rows only
    assert abs(t.se - e["WRONG_if_rows_deleted_total_se"]) > 1.0
    assert abs(m.se - e["WRONG_if_rows_deleted_mean_se"]) > 1e-3
    b = des.by("urban").mean("life_sat")
    assert list(b.keys["urban"]) == [0, 1]
    assert list(b.estimate) == pytest.approx(e["by_urban_mean_0_1"], abs=tol)
    assert list(b.se) == pytest.approx(e["by_urban_se_0_1"], abs=tol)
    # the by() domain equals the subset() domain
    assert b["1"].se == pytest.approx(m.se, rel=1e-12)


# --------------------------------------------------------------------------- c04


def test_c04_lonely_psu_fails_by_default_naming_the_stratum_and_the_rules():
    spec, data = _case("c04")
    des = hi.SurveyDesign(data, weights="weight", strata="stratum", psu="psu", nest=True)
    for call in (lambda: des.mean("life_sat"), lambda: des.total("life_sat"), lambda: des.proportion("stratum")):
        with pytest.raises(LonelyPSUError) as info:
            call()
        msg = str(info.value)
        assert "S3" in msg and "S1" not in msg and "S2" not in msg
        for rule in ("remove", "certainty", "adjust", "average", "collapse"):
            assert rule in msg


def test_c04_point_estimates_without_a_variance_rule():
    """The documented way: point estimates do not depend on the lonely-PSU rule."""
    spec, data = _case("c04")
    e, tol = spec["expected"], _abs(spec)
    des = hi.SurveyDesign(data, weights="weight", strata="stratum", psu="psu", nest=True)
    for rule in ("certainty", "remove", "adjust", "average"):
        d2 = des.update(lonely_psu=rule)
        assert d2.mean("life_sat").estimate == pytest.approx(e["point_estimate_mean"], abs=tol)
        assert d2.total("life_sat").estimate == pytest.approx(e["point_estimate_total"], abs=tol)
    assert des.lonely_psu == "fail"  # update() returned new designs


# --------------------------------------------------------------------------- c06


def test_c06_reused_psu_codes_need_nest():
    spec, data = _case("c06")
    e, tol = spec["expected"], _abs(spec)
    des = hi.SurveyDesign(data, weights="weight", strata="stratum", psu="psu", nest=True)
    m, t = des.mean("life_sat"), des.total("life_sat")
    assert m.estimate == pytest.approx(e["mean"], abs=tol)
    assert m.se == pytest.approx(e["mean_se_nested"], abs=tol)
    assert t.estimate == pytest.approx(e["total"], abs=tol)
    assert t.se == pytest.approx(e["total_se_nested"], abs=tol)
    assert des.df == e["df"]
    assert abs(m.se - e["WRONG_if_psus_merged_and_strata_ignored_mean_se"]) > 0.1
    with pytest.raises(DesignError, match="nest=True"):
        hi.SurveyDesign(data, weights="weight", strata="stratum", psu="psu")


# --------------------------------------------------------------------------- c07


def test_c07_jkn_uses_per_stratum_factors():
    spec, data = _case("c07")
    e, tol = spec["expected"], _abs(spec)
    des = hi.SurveyDesign(data, weights="weight", strata="stratum", psu="psu", nest=True)
    jk = des.to_replicates("jkn")
    assert list(jk.rscales) == pytest.approx(e["rscales"], abs=1e-12)
    m, t = jk.mean("life_sat"), jk.total("life_sat")
    assert m.estimate == pytest.approx(e["mean"], abs=tol)
    assert m.se == pytest.approx(e["jkn_mean_se"], abs=tol)
    assert t.estimate == pytest.approx(e["total"], abs=tol)
    assert t.se == pytest.approx(e["jkn_total_se"], abs=tol)
    assert des.mean("life_sat").se == pytest.approx(e["taylor_mean_se_for_comparison"], abs=tol)
    assert abs(m.se - e["WRONG_global_factor_mean_se"]) > 1e-2
    # the same replicate weights given explicitly, with rscales used exactly as given
    W = jk.replicate_weights()
    rep = hi.ReplicateDesign(data, weights="weight", replicate_weights=W, method="jkn", rscales=e["rscales"])
    assert rep.mean("life_sat").se == pytest.approx(e["jkn_mean_se"], abs=tol)
    rep_wrong = hi.ReplicateDesign(data, weights="weight", replicate_weights=W, method="jk1")
    assert rep_wrong.mean("life_sat").se == pytest.approx(e["WRONG_global_factor_mean_se"], abs=tol)


# --------------------------------------------------------------------------- c10


@pytest.mark.parametrize("method", ["logit", "xlogit", "beta", "wald", "asin", "wilson", "likelihood"])
def test_c10_boundary_proportions_get_korn_graubard_with_domain_n(method):
    spec, data = _case("c10")
    e, tol = spec["expected"], _abs(spec)
    des = hi.SurveyDesign(data, weights="weight", strata="stratum", psu="psu", nest=True)
    north = des.subset(data["region"] == "North").proportion("very_unhappy", ci_method=method)
    east = des.subset(data["region"] == "East").proportion("has_friend", ci_method=method)
    assert north.estimate == e["north_p"] and north.se == e["north_se"]
    assert north.df == e["north_df"] and north.n == e["north_n"]
    assert east.estimate == e["east_p"] and east.df == e["east_df"] and east.n == e["east_n"]
    assert (north.ci_low, north.ci_high) == pytest.approx(e["north_ci_korn_graubard"], abs=tol)
    assert (east.ci_low, east.ci_high) == pytest.approx(e["east_ci_korn_graubard"], abs=tol)
    assert north.ci_high > north.ci_low and east.ci_high > east.ci_low  # never zero width
    # and never R's degenerate intervals
    assert north.ci_high != pytest.approx(e["R_svyciprop_logit_north"][1], abs=1e-6)


def test_c10_boundary_in_by_domains_and_whole_sample_control():
    spec, data = _case("c10")
    e, tol = spec["expected"], _abs(spec)
    des = hi.SurveyDesign(data, weights="weight", strata="stratum", psu="psu", nest=True)
    tab = des.by("region").proportion("very_unhappy", ci_method="beta")
    n = tab["North"]
    assert (n.ci_low, n.ci_high) == pytest.approx(e["north_ci_korn_graubard"], abs=tol)
    whole = des.proportion("very_unhappy", ci_method="beta")
    assert whole.estimate == pytest.approx(e["control_whole_sample_p"], abs=tol)
    assert (whole.ci_low, whole.ci_high) == pytest.approx(e["control_whole_sample_ci_beta"], abs=tol)


# --------------------------------------------------------------------------- c21


def test_c21_year_on_year_difference_uses_the_covariance():
    spec, data = _case("c21")
    e, tol = spec["expected"], _abs(spec)
    des = hi.SurveyDesign(data, weights="weight", strata="stratum", psu="psu", nest=True)
    b = des.by("year").mean("life_sat")
    assert list(b.estimate) == pytest.approx(e["mean_by_year_2023_2024"], abs=tol)
    assert list(b.se) == pytest.approx(e["se_by_year_2023_2024"], abs=tol)
    assert b.vcov.loc["2023", "2024"] == pytest.approx(e["covariance"], abs=tol)
    d = b.contrast({"2024": 1, "2023": -1})
    assert d.estimate == pytest.approx(e["diff_2024_minus_2023"], abs=tol)
    assert d.se == pytest.approx(e["diff_se"], abs=tol)
    assert d.df == e["df"]
    assert abs(d.se - e["WRONG_diff_se_as_independent"]) > 0.1
    # the same through transform() (delta method, linear) and on JKn replicates
    assert b.transform("`2024` - `2023`").se == pytest.approx(e["diff_se"], abs=tol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rb = des.to_replicates("jkn").by("year").mean("life_sat")
    rd = rb.contrast({"2024": 1, "2023": -1})
    assert rd.estimate == pytest.approx(e["diff_2024_minus_2023"], abs=tol)
    assert rd.se == pytest.approx(e["diff_se"], rel=0.05)  # JKn ~ Taylor for a linear statistic
