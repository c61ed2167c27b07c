"""svyglm, regTermTest, svyolr, svychisq, svyvar and AMEs against R ``survey`` 4.1.1.

Public cases: ``tests/reference/regression.json`` (copy of shared/reference). More cases:
``tests/data/r_extra_regression.json`` made by ``tests/data/r_extra_regression.R`` (subset
domains, bootstrap and JK1 refits, interactions, chi-squared Wald tests, svyvar, AMEs).
Tolerances are the cases' own (``abs(py - r) <= tol * abs(r)``).
"""

import math
import warnings

import numpy as np
import pytest
from regression_cases import (
    EXTRA,
    case_data,
    case_design,
    close,
    epsilon_of,
    load_cases,
)

import happiness_index as hi
from happiness_index.survey.margins import average_marginal_effects

PUBLIC = load_cases()
MORE = load_cases(EXTRA)

SUBSETS = {
    "stype == 'E'": lambda d: d["stype"] == "E",
    "api99 > 600": lambda d: d["api99"] > 600,
    "agecat == '(59,Inf]'": lambda d: d["agecat"] == "(59,Inf]",
}


def _ids(cases, *kinds):
    return [pytest.param(c, id=c["id"]) for c in cases if c["estimator"] in kinds]


def _fit(case):
    data = case_data(case)
    des = case_design(case, data)
    o = case["options"]
    sub = o.get("subset_py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        return hi.svyglm(
            o["formula_py"],
            des,
            family=o.get("glm_family", "gaussian"),
            epsilon=epsilon_of(case),
            maxit=100,
            subset=None if sub is None else SUBSETS[sub](data),
        )


def _assert_all(py, r, tol, what):
    py, r = np.ravel(py), np.ravel(np.asarray(r, dtype=float))
    assert py.shape == r.shape, what
    bad = [(i, a, b) for i, (a, b) in enumerate(zip(py, r)) if not close(a, b, tol)]
    assert not bad, f"{what}: {bad[:3]}"


@pytest.mark.parametrize("case", _ids(PUBLIC, "svyglm"))
def test_svyglm_public(case):
    fit, e, tol = _fit(case), case["expected"], case["tolerance"]
    _assert_all(fit.params, [r["estimate"] for r in e["rows"]], tol["estimate"], "estimate")
    _assert_all(fit.se, [r["se"] for r in e["rows"]], tol["se"], "se")
    _assert_all(fit.vcov.to_numpy(), e["vcov"]["matrix"], tol["vcov"], "vcov")
    assert fit.df_resid == e["df_residual"]
    assert close(fit.dispersion, e["dispersion"], tol["dispersion"])
    assert fit.n == e["n"] and fit.n_missing == e["n_dropped_missing"]
    assert [r["term_py"] for r in e["rows"]] == list(fit.params.index)
    tab = fit.to_frame()
    _assert_all(tab["t"], [r.get("t_value", r["estimate"] / r["se"]) for r in e["rows"]], 1e-6, "t")


@pytest.mark.parametrize("case", _ids(MORE, "svyglm"))
def test_svyglm_extra(case):
    fit, e, tol = _fit(case), case["expected"], case["tolerance"]
    _assert_all(fit.params, e["estimate"], tol["estimate"], "estimate")
    _assert_all(fit.se, e["se"], tol["se"], "se")
    _assert_all(fit.vcov.to_numpy(), e["vcov"], tol["vcov"], "vcov")
    assert fit.df_resid == e["df_residual"] and fit.n == e["n"]
    assert close(fit.dispersion, e["dispersion"], tol["dispersion"])


@pytest.mark.parametrize("case", _ids(PUBLIC + MORE, "regTermTest"))
def test_wald_test(case):
    e, tol, o = case["expected"], case["tolerance"], case["options"]
    fit = _fit(case)
    df = math.inf if o.get("df") == "Inf" else None
    w = fit.wald_test(o["test_terms_py"], df=df)
    assert w.ndf == e["ndf"] and close(w.ddf, e["ddf"], tol["df"])
    assert close(w.p, e["p"], tol["p"])
    if "F" in e:
        assert close(w.F, e["F"], tol["statistic"])
    if "chisq" in e:
        assert close(w.chisq, e["chisq"], tol["statistic"])


def _olr(case):
    data = case_data(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        return hi.svyolr(case["options"]["formula_py"], case_design(case, data))


@pytest.mark.parametrize("case", _ids(PUBLIC, "svyolr"))
def test_svyolr_public(case):
    olr, e, tol = _olr(case), case["expected"], case["tolerance"]
    _assert_all(olr.params, [r["estimate"] for r in e["rows"]], tol["estimate"], "slopes")
    _assert_all(olr.se, [r["se"] for r in e["rows"]], tol["se"], "slope se")
    _assert_all(olr.thresholds, [r["estimate"] for r in e["thresholds"]], tol["estimate"], "cut-points")
    _assert_all(olr.thresholds_se, [r["se"] for r in e["thresholds"]], tol["se"], "cut-point se")
    _assert_all(olr.vcov.to_numpy(), e["vcov"]["matrix"], tol["vcov"], "vcov")
    assert olr.df_resid == e["df_residual"] and olr.n == e["n"]
    assert [str(x) for x in olr.levels] == [x.replace(",", ", ") for x in e["response_levels"]]


@pytest.mark.parametrize("case", _ids(MORE, "svyolr"))
def test_svyolr_extra(case):
    olr, e, tol = _olr(case), case["expected"], case["tolerance"]
    _assert_all(np.r_[olr.params, olr.thresholds], e["coef"], tol["estimate"], "coef")
    _assert_all(np.r_[olr.se, olr.thresholds_se], e["se"], tol["se"], "se")
    assert olr.df_resid == e["df_residual"]


@pytest.mark.parametrize("case", _ids(PUBLIC + MORE, "svychisq"))
def test_svychisq(case):
    e, tol, o = case["expected"], case["tolerance"], case["options"]
    data = case_data(case)
    t = hi.svychisq(case_design(case, data), o["rows_var_py"], o["cols_var_py"], statistic=o["statistic"])
    assert close(t.statistic, e["statistic"], tol["statistic"])
    assert close(t.ndf, e["ndf"], tol["df"]) and close(t.ddf, e["ddf"], tol["df"])
    assert close(t.p, e["p"], tol["p"])
    if "pearson_X2" in e:
        assert close(t.pearson_X2, e["pearson_X2"], tol["statistic"])
    if "adjusted_statistic" in e:
        assert close(t.adjusted_statistic, e["adjusted_statistic"], tol["statistic"])


@pytest.mark.parametrize("case", _ids(MORE, "svyvar"))
def test_svyvar(case):
    e, tol = case["expected"], case["tolerance"]
    data = case_data(case)
    cols = case["options"]["columns"]
    v = case_design(case, data).var(cols if len(cols) > 1 else cols[0])
    est = [v.estimate] if len(cols) == 1 else list(v.estimate)
    se = [v.se] if len(cols) == 1 else list(v.se)
    _assert_all(est, e["estimate"], tol["estimate"], "variance")
    _assert_all(se, e["se"], tol["se"], "se")


@pytest.mark.parametrize("case", _ids(MORE, "ame"))
def test_average_marginal_effect(case):
    e, tol, o = case["expected"], case["tolerance"], case["options"]
    fit = _fit(case)
    ame = average_marginal_effects(fit, o["variable"]).set_index("term").loc[o["term"]]
    assert close(ame["estimate"], e["estimate"], tol["estimate"])
    assert close(ame["se"], e["se"], tol["se"])


def test_every_case_is_run():
    """No case family is silently skipped: each estimator of both files has a test above."""
    assert len(PUBLIC) == 22
    assert {c["estimator"] for c in PUBLIC} == {"svyglm", "svyolr", "regTermTest", "svychisq"}
    assert {c["estimator"] for c in MORE} == {"svyglm", "svyolr", "regTermTest", "svychisq", "svyvar", "ame"}
