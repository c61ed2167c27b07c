"""Invariants and refusals of svyglm / svyolr / svychisq / AMEs (no R needed).

* equal weights and simple random sampling give statsmodels' GLM estimates, and the
  sandwich SE is statsmodels' HC0 times sqrt(n/(n-1)) (svyrecvar's with-replacement factor);
* scaling the weights changes nothing;
* a jackknife replicate design and its Taylor source agree closely on smooth models;
* identities: se = sqrt(diag(vcov)); a one-column Wald F is t squared; svyolr's average
  category probabilities sum to 1 with zero variance, its AMEs sum to 0;
* every refusal is a ModelError (or a HappinessIndexError) that names the problem.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import happiness_index as hi
from happiness_index.survey.margins import average_marginal_effects
from happiness_index.survey.modelframe import MissingValuesWarning


@pytest.fixture(scope="module")
def strat():
    d = hi.load_api("apistrat")
    d.columns = [c.replace(".", "_") for c in d.columns]
    d["y"] = (d["sch_wide"] == "Yes").astype(int)
    return d


@pytest.fixture(scope="module")
def city():
    d = hi.load_city_survey(2024)
    d["sat"] = (d["ls_income"].where(d["ls_income"] <= 5) >= 4).astype(float).where(d["ls_income"] <= 5)
    d["services"] = (d["env_services"] >= 4).astype(float).where(d["env_services"] <= 5)
    d["nature"] = (d["env_nature"] >= 4).astype(float).where(d["env_nature"] <= 5)
    return d


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        return fn(*a, **k)


@pytest.mark.parametrize(
    "family,formula,smfam",
    [
        ("gaussian", "api00 ~ ell + meals + C(stype)", sm.families.Gaussian()),
        ("binomial", "y ~ ell + meals + C(stype)", sm.families.Binomial()),
        ("poisson", "api_stu ~ ell + meals + C(stype)", sm.families.Poisson()),
    ],
)
def test_equal_weights_srs_match_statsmodels(strat, family, formula, smfam):
    des = hi.SurveyDesign(strat)  # every weight 1, every row its own PSU, with replacement
    fit = hi.svyglm(formula, des, family=family, epsilon=1e-12)
    X = pd.DataFrame(fit.frame.X, columns=fit.params.index)
    y = strat[formula.split("~")[0].strip()].to_numpy(float)
    ref = sm.GLM(y, X, family=smfam).fit(tol=1e-12, cov_type="HC0")
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params.to_numpy(), rtol=1e-7)
    n = len(y)
    np.testing.assert_allclose(fit.se.to_numpy(), ref.bse.to_numpy() * math.sqrt(n / (n - 1)), rtol=1e-6)
    assert fit.df_resid == n - 1 + 1 - len(fit.params)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    c=st.floats(min_value=1e-3, max_value=1e3), family=st.sampled_from(["gaussian", "quasibinomial", "quasipoisson"])
)
def test_scaling_weights_changes_nothing(strat, c, family):
    resp = {"gaussian": "api00", "quasibinomial": "y", "quasipoisson": "api_stu"}[family]
    f = f"{resp} ~ ell + meals + C(stype)"
    a = hi.svyglm(f, hi.SurveyDesign(strat, weights="pw", strata="stype"), family=family, epsilon=1e-12)
    d2 = strat.assign(pw2=strat["pw"] * c)
    b = hi.svyglm(f, hi.SurveyDesign(d2, weights="pw2", strata="stype"), family=family, epsilon=1e-12)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(b.se, a.se, rtol=1e-6)
    assert math.isclose(b.dispersion, a.dispersion, rel_tol=1e-6)


@pytest.mark.parametrize(
    "family,formula",
    [
        ("gaussian", "sat ~ services + nature + C(sex) + C(age_group)"),
        ("quasibinomial", "sat ~ services + nature + C(sex) + C(age_group)"),
    ],
)
def test_replicate_design_agrees_with_its_taylor_source(city, family, formula):
    des = hi.SurveyDesign(city, weights="weight", strata="commune", psu="village")
    rep = des.to_replicates("jkn")
    a = _quiet(hi.svyglm, formula, des, family=family)
    b = _quiet(hi.svyglm, formula, rep, family=family)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-12)
    ratio = b.se / a.se
    assert ((ratio > 0.9) & (ratio < 1.1)).all(), ratio
    ame_a = average_marginal_effects(a, "services")
    ame_b = average_marginal_effects(b, "services")
    assert math.isclose(ame_a["estimate"][0], ame_b["estimate"][0], rel_tol=1e-10)
    assert 0.9 < ame_b["se"][0] / ame_a["se"][0] < 1.1


def test_identities(strat):
    des = hi.SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")
    fit = hi.svyglm("api00 ~ ell + meals + C(stype)", des)
    np.testing.assert_allclose(fit.se, np.sqrt(np.diag(fit.vcov)), rtol=1e-15)
    t = fit.to_frame().set_index("term")
    w = fit.wald_test("ell")
    assert math.isclose(w.F, t.loc["ell", "t"] ** 2, rel_tol=1e-10) and math.isclose(
        w.p, t.loc["ell", "p"], rel_tol=1e-8
    )
    chi = fit.wald_test("C(stype)", df=math.inf)
    assert chi.ddf == math.inf and math.isclose(chi.p, float(__import__("scipy").stats.chi2.sf(chi.chisq, 2)))
    # gaussian AME of a linear term is its coefficient, with the same SE
    ame = average_marginal_effects(fit, ["ell", "stype"]).set_index("term")
    assert math.isclose(ame.loc["ell", "estimate"], fit.params["ell"], rel_tol=1e-6)
    assert math.isclose(ame.loc["ell", "se"], fit.se["ell"], rel_tol=1e-6)
    assert math.isclose(ame.loc["stype[H]", "estimate"], fit.params["C(stype)[T.H]"], rel_tol=1e-10)
    assert math.isclose(ame.loc["stype[H]", "se"], fit.se["C(stype)[T.H]"], rel_tol=1e-8)
    text = str(fit)
    for word in ("strata = 3", "PSUs = 200", "Population size", "Design df = 197", "Dispersion"):
        assert word in text


def test_svyolr_probabilities_sum_to_one(strat):
    d = strat.assign(mealcat=pd.cut(strat["meals"], [-1, 25, 50, 75, 100]))
    olr = hi.svyolr("mealcat ~ avg_ed + C(stype)", hi.SurveyDesign(d, weights="pw", strata="stype", fpc="fpc"))
    pp = olr.predicted_probabilities()
    assert math.isclose(pp["estimate"].sum(), 1.0, rel_tol=1e-12)
    me = olr.marginal_effects("avg_ed")
    assert abs(me["estimate"].sum()) < 1e-10
    assert len(olr.thresholds) == 3 and (np.diff(olr.thresholds) > 0).all()
    assert "logit P(Y <= k) = zeta_k - eta" in str(olr)


def test_missing_values_are_dropped_kept_in_design_and_counted():
    d = hi.load_api("apiclus1")
    d.columns = [c.replace(".", "_") for c in d.columns]
    des = hi.SurveyDesign(d, weights="pw", psu="dnum", fpc="fpc")
    with pytest.warns(MissingValuesWarning, match=r"26 of 183 .*'avg_ed': 26"):
        fit = hi.svyglm("api00 ~ avg_ed + ell", des)
    assert fit.n == 157 and fit.n_missing == 26 and "26 left out" in str(fit)


def test_subset_is_a_domain_not_a_new_design(strat):
    des = hi.SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")
    a = hi.svyglm("api00 ~ ell", des, subset=strat["stype"] == "E")
    b = hi.svyglm("api00 ~ ell", des.subset(strat["stype"] == "E"))
    np.testing.assert_allclose(a.params, b.params)
    np.testing.assert_allclose(a.se, b.se)
    assert a.n == 100 and a.df_resid == 99 + 1 - 2


def test_refusals(strat):
    des = hi.SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")
    with pytest.raises(hi.ModelError, match="single level"):
        hi.svyglm("api00 ~ ell + C(stype)", des, subset=strat["stype"] == "E")
    sep = strat.assign(z=(strat["stype"] == "H").astype(int))
    with pytest.raises(hi.ModelError, match="perfect separation.*C\\(stype\\)\\[T.H\\]"):
        hi.svyglm("z ~ ell + C(stype)", hi.SurveyDesign(sep, weights="pw", strata="stype"), family="binomial")
    with pytest.raises(hi.ModelError, match="did not converge in maxit=1"):
        hi.svyglm("y ~ ell + meals", des, family="binomial", maxit=1)
    with pytest.raises(hi.ModelError, match="not in the data"):
        hi.svyglm("api00 ~ nothere", des)
    with pytest.raises(hi.ModelError, match=r"avg\.ed -> avg_ed"):
        hi.svyglm("api00 ~ nothere", hi.SurveyDesign(hi.load_api("apistrat"), weights="pw"))
    with pytest.raises(hi.ModelError, match="in \\[0, 1\\]"):
        hi.svyglm("api00 ~ ell", des, family="binomial")
    with pytest.raises(hi.ModelError, match="not numeric"):
        hi.svyglm("sch_wide ~ ell", des)
    with pytest.raises(hi.ModelError, match="family="):
        hi.svyglm("api00 ~ ell", des, family="gamma")
    with pytest.raises(hi.ModelError, match="rank deficient.*ell2"):
        hi.svyglm("api00 ~ ell + ell2", hi.SurveyDesign(strat.assign(ell2=2 * strat["ell"]), weights="pw"))
    with pytest.raises(hi.ModelError, match="at least 3"):
        hi.svyolr("y ~ ell", des)
    with pytest.raises(hi.ModelError, match="ordered"):
        hi.svyolr("sch_wide ~ ell", des)
    with pytest.raises(hi.ModelError, match="one '~'"):
        hi.svyglm("api00 ell", des)
    with pytest.raises(hi.EstimationError, match="at least 2"):
        hi.svychisq(des.subset(strat["stype"] == "E"), "stype", "sch_wide")
    with pytest.raises(hi.EstimationError, match="statistic="):
        hi.svychisq(des, "stype", "sch_wide", statistic="G")
    assert issubclass(hi.ModelError, hi.HappinessIndexError)


def test_input_frame_is_not_modified(strat):
    before = strat.copy()
    des = hi.SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")
    fit = hi.svyglm("y ~ ell + C(stype)", des, family="quasibinomial")
    average_marginal_effects(fit)
    pd.testing.assert_frame_equal(strat, before)


def test_separating_replicates_warn(strat):
    d = hi.load_api("apiclus1")
    d.columns = [c.replace(".", "_") for c in d.columns]
    d["y"] = (d["comp_imp"] == "Yes").astype(int)
    from regression_cases import repweights

    rep = hi.ReplicateDesign(
        d,
        weights="pw",
        replicate_weights=repweights("apiclus1_boot50.csv"),
        method="bootstrap",
        scale=0.021865889212828,
        rscales=[1.0] * 50,
    )
    with pytest.warns(hi.HappinessIndexWarning, match="replicate refits show perfect separation"):
        hi.svyglm("y ~ api99 + meals + C(stype)", rep, family="quasibinomial", maxit=100)


def test_var_equal_weights_is_sample_variance(strat):
    v = hi.SurveyDesign(strat).var("api00")
    assert math.isclose(v.estimate, strat["api00"].var(ddof=1), rel_tol=1e-12)


def test_svyolr_on_likert_answers_with_subset_and_data(city):
    des = hi.SurveyDesign(city, weights="weight", strata="commune", psu="village")
    frame = city.assign(income=city["ls_income"].where(city["ls_income"] <= 5))
    wards = city["commune"].isin(["Đồng Tâm", "Hồng Hà", "Minh Tân", "Nam Cường"])
    with pytest.warns(MissingValuesWarning):
        olr = hi.svyolr("income ~ services + C(sex)", des, subset=wards, data=frame)
    assert olr.levels == [1, 2, 3, 4, 5] and olr.n + olr.n_missing == int(wards.sum())
    assert olr.design_df == 20 - 4
    # a higher satisfaction with services goes with higher income answers: a positive slope
    assert olr.params["services"] > 0 and olr.to_frame().set_index("term").loc["services", "p"] < 0.05


def test_predict_and_wald_of_interaction(strat):
    des = hi.SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")
    fit = hi.svyglm("y ~ ell * C(stype)", des, family="quasibinomial")
    assert list(fit.params.index[-2:]) == ["ell:C(stype)[T.H]", "ell:C(stype)[T.M]"]
    w = fit.wald_test("ell:C(stype)")
    assert w.ndf == 2 and w.ddf == fit.df_resid
    p = fit.predict()
    assert ((p > 0) & (p < 1)).all() and len(p) == fit.n
    np.testing.assert_allclose(fit.predict(strat.head(5)), p.head(5))
    with pytest.raises(hi.ModelError, match="not in the model"):
        fit.wald_test("meals")


def test_var_refuses_by_and_missing(strat):
    des = hi.SurveyDesign(strat, weights="pw", strata="stype")
    with pytest.raises(hi.EstimationError, match="subset"):
        des.by("stype").var("api00")
    d = strat.assign(v=strat["api00"].where(strat["api00"] > 500))
    with pytest.raises(hi.EstimationError, match="na_rm=True"):
        hi.SurveyDesign(d, weights="pw", strata="stype").var("v")
    assert hi.SurveyDesign(d, weights="pw", strata="stype").var("v", na_rm=True).n == int(d["v"].notna().sum())
