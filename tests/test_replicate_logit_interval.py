"""Logit interval of a proportion on replicate designs (issue 9).

R's ``svyciprop(method="logit")`` on a ``svrep.design`` takes the SE of the logit from
the replicates of the logit of the proportion (the intercept of the quasibinomial
``svyglm`` is re-fitted on every replicate); ``method="xlogit"`` keeps the delta method.
On Taylor designs both are the same. Reference values:
``tests/data/ciprop_replicate_logit.json``, written by the R script next to it
(``Rscript tests/data/ciprop_replicate_logit.R``, R 4.2.2, survey 4.1.1).
"""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import happiness_index as hi

REF = json.loads((Path(__file__).parent / "data" / "ciprop_replicate_logit.json").read_text(encoding="utf-8"))
VARS = {
    "api700": lambda d: (d["api00"] > 700).astype(int),
    "api850": lambda d: (d["api00"] > 850).astype(int),
    "sch_wide": lambda d: (d["sch.wide"] == "Yes").astype(int),
}


def _data(name):
    d = hi.load_api(name).copy()
    for k, f in VARS.items():
        d[k] = f(d)
    return d


@pytest.fixture(scope="module")
def designs():
    c1 = _data("apiclus1")
    rclus1 = hi.SurveyDesign(c1, weights="pw", psu="dnum", fpc="fpc").to_replicates("jk1")
    W = rclus1.replicate_weights()
    rclus1_mse = hi.ReplicateDesign(c1, weights="pw", replicate_weights=W, method="jk1", scale=rclus1.scale, mse=True)
    st = _data("apistrat")
    rstrat = hi.SurveyDesign(st, weights="pw", strata="stype", fpc="fpc").to_replicates("jkn")
    b = REF["bclus1"]
    bclus1 = hi.ReplicateDesign(
        c1,
        weights="pw",
        replicate_weights=np.column_stack(b["weights"]),
        method="bootstrap",
        scale=b["scale"],
        rscales=b["rscales"],
    )
    return {"rclus1": rclus1, "rclus1_mse": rclus1_mse, "rstrat": rstrat, "bclus1": bclus1}


@pytest.mark.parametrize("case", REF["cases"], ids=[c["id"] for c in REF["cases"]])
def test_matches_r_svyciprop_on_replicate_designs(designs, case):
    des = designs[case["design"]]
    if case["subset"]:
        col, val = [s.strip(" '") for s in case["subset"].split("==")]
        des = des.subset(des.data[col] == val)
    assert des.df == case["df"]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = des.proportion(case["variable"], ci_method=case["method"])
    assert est.estimate == pytest.approx(case["estimate"], rel=1e-6)
    assert est.se == pytest.approx(case["se"], rel=1e-8)
    if case["logit_se"] > 10 and case["method"] == "logit":  # a replicate share of 0: R's interval is [0, 1]
        assert est.ci_low == pytest.approx(0.0, abs=1e-6) and est.ci_high == pytest.approx(1.0, abs=1e-6)
        return
    assert est.ci_low == pytest.approx(case["ci_low"], rel=1e-6)
    assert est.ci_high == pytest.approx(case["ci_high"], rel=1e-6)


def test_logit_and_xlogit_differ_on_replicates_agree_on_taylor():
    d = _data("apiclus1")
    tay = hi.SurveyDesign(d, weights="pw", psu="dnum", fpc="fpc")
    a, b = tay.proportion("api700", ci_method="logit"), tay.proportion("api700", ci_method="xlogit")
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    rep = tay.to_replicates("jk1")
    a, b = rep.proportion("api700", ci_method="logit"), rep.proportion("api700", ci_method="xlogit")
    assert a.se == b.se  # the SE of the proportion itself is the replicate SE either way
    assert not math.isclose(a.ci_low, b.ci_low, rel_tol=1e-4)
    # the logit interval is the replicate-logit Wald interval, back-transformed
    W = rep.replicate_weights()
    y = d["api700"].to_numpy(float)
    pr = (W * y[:, None]).sum(0) / W.sum(0)
    lr = np.log(pr / (1 - pr))
    se_logit = math.sqrt(rep.replicate_vcov(lr, math.log(a.estimate / (1 - a.estimate)))[0, 0])
    t = hi.survey.estimators.t_quantile(0.95, rep.df)
    eta = math.log(a.estimate / (1 - a.estimate))
    assert a.ci_low == pytest.approx(1 / (1 + math.exp(-(eta - t * se_logit))), rel=1e-12)
    assert a.ci_high == pytest.approx(1 / (1 + math.exp(-(eta + t * se_logit))), rel=1e-12)


def test_replicate_share_of_zero_warns_and_gives_unit_interval():
    d = _data("apiclus1")
    rep = hi.SurveyDesign(d, weights="pw", psu="dnum", fpc="fpc").to_replicates("jk1")
    with pytest.warns(hi.HappinessIndexWarning, match="logit interval is \\[0, 1\\]"):
        est = rep.proportion("api850", ci_method="logit")
    assert (est.ci_low, est.ci_high) == (0.0, 1.0)
    beta = rep.proportion("api850", ci_method="beta")
    assert 0 <= beta.ci_low < beta.ci_high < 0.2


def test_by_domains_use_replicate_logits():
    d = _data("apiclus1")
    rep = hi.SurveyDesign(d, weights="pw", psu="dnum", fpc="fpc").to_replicates("jk1")
    tab = rep.by("stype").proportion("api700", ci_method="logit").to_frame()
    for _, row in tab.iterrows():
        sub = rep.subset(d["stype"] == row["stype"]).proportion("api700", ci_method="logit")
        # same estimate and logit SE; the interval's df may differ (by() keeps the design's df)
        t_by = hi.survey.estimators.t_quantile(0.95, row["df"])
        eta = math.log(row["estimate"] / (1 - row["estimate"]))
        half_by = math.log(row["ci_high"] / (1 - row["ci_high"])) - eta
        t_sub = hi.survey.estimators.t_quantile(0.95, sub.df)
        half_sub = math.log(sub.ci_high / (1 - sub.ci_high)) - eta
        assert half_by / t_by == pytest.approx(half_sub / t_sub, rel=1e-9)
