"""Calibrated designs against R ``survey`` 4.1.1.

1. Every case of ``tests/reference/calibration.json`` (postStratify, rake with R's
   default control, calibrate linear / raking / bounded logit, a calibrated JK1 replicate
   design; point estimates, SEs, Normal intervals, df, the calibrated weights). The case's
   structured fields (method text, model, margins, population block) are interpreted
   generically, so held-out cases of the same form run through the same code.
2. Extra references computed for this file with R 4.2.2 / survey 4.1.1 (the R calls are
   beside the numbers): domains of calibrated designs, other variables, converged raking,
   logit and bounded-linear calibration with other bounds, calibrated / raked /
   post-stratified replicate designs (including replicates whose logit calibration does not
   converge, where R keeps the last iterate), a two-stage design, crossed post-strata,
   post-stratification followed by GREG, and the weighting-class non-response adjustment
   (linearised in R through ``svycontrast``).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import ConvergenceError

from reference_helpers import build_design, close, data_file, load_family, r_number

CASES = load_family("calibration")


# ---------------------------------------------------------------------------
# generic interpretation of a calibration case
# ---------------------------------------------------------------------------


def _population_dict(pop: dict, terms: list[str]) -> dict:
    out = {}
    for t in terms:
        if t in pop and isinstance(pop[t], dict):
            out[t] = pop[t]
        elif f"{t}_total" in pop:
            out[t] = pop[f"{t}_total"]
        else:
            raise KeyError(f"no population information for term {t!r} in {sorted(pop)}")
    return out


def _r_style_targets(text: str) -> dict:
    pairs = re.findall(r"([\w.()]+)\s*=\s*([-+0-9.eE]+)", text)
    return {k: float(v) for k, v in pairs}


def _bounds(text: str):
    m = re.search(r"\[\s*([-0-9.eE]+)\s*,\s*([-0-9.eE]+)\s*\]", text) or re.search(
        r"bounds\s*=\s*c\(\s*([-0-9.eE]+)\s*,\s*([-0-9.eE]+)\s*\)", text
    )
    return (float(m.group(1)), float(m.group(2))) if m else None


def calibrate_case(case: dict, design):
    """Apply the case's weighting step to ``design`` (never evaluates R code)."""
    opts = case["options"]
    cal = opts["calibration"]
    pop = opts["population"]
    method = cal["method"].lower()
    if method.startswith("post-strat"):
        vars_ = cal["variables"]
        key = vars_[0] if len(vars_) == 1 else tuple(vars_)
        if isinstance(key, tuple):
            raise KeyError(f"crossed post-strata need a population table: {cal}")
        return hi.post_stratify(design, {key: pop[key]})
    if method.startswith("raking"):
        margins = {v: pop[v] for v in cal["margins"]}
        if "default" in method:
            return hi.rake(design, margins, r_default=True)
        maxit = re.search(r"maxit\s*=\s*(\d+)", method)
        eps = re.search(r"epsilon\s*=\s*([0-9.eE-]+)", method)
        if maxit or eps:
            e = float(eps.group(1)) if eps else 1.0
            return hi.rake(
                design,
                margins,
                max_iter=int(maxit.group(1)) if maxit else 10,
                tol=e,
                tol_type="relative" if e < 1 else "absolute",
                criterion="change",
            )
        return hi.rake(design, margins)
    if method.startswith("calibrate"):
        calfun = re.search(r"calfun\s*=\s*'(\w+)'", method)
        calfun = calfun.group(1) if calfun else "linear"
        bounds = _bounds(method)
        model = re.search(r"~\s*([^()]+)", cal["model"]).group(1)
        terms = [t.strip() for t in model.split("+") if t.strip()]
        if "=" in str(cal.get("targets", "")):
            population = _r_style_targets(cal["targets"])
        else:
            population = _population_dict(pop, terms)
        return hi.calibrate(design, population, method=calfun, bounds=bounds)
    raise KeyError(f"unknown calibration method text {cal['method']!r}")


def _estimate(case, design):
    var = case["variables"]
    x = var["analysis"][0]
    na_rm = bool(var.get("na_rm", False))
    target = design.by(var["by"]) if var.get("by") else design
    kind = case["estimator"].replace("domain_", "")
    return getattr(target, kind)(x, na_rm=na_rm)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_calibration_reference_case(case):
    design, data = build_design(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_case(case, design)
        est = _estimate(case, cal)
    exp = case["expected"]
    tol = case["tolerance"]
    if "rows" in exp:
        frame = est.to_frame()
        assert len(frame) == len(exp["rows"])
        for (_, row), r in zip(frame.iterrows(), exp["rows"]):
            assert close(row["estimate"], r["estimate"], tol["estimate"])
            assert close(row["se"], r["se"], tol["se"])
        return
    assert close(est.estimate, exp["estimate"], tol["estimate"]), (est.estimate, exp["estimate"])
    assert close(est.se, exp["se"], tol["se"]), (est.se, exp["se"])
    lo, hi_ = est.confint(level=exp.get("ci_level", 0.95), df=r_number(exp.get("ci_df", "Inf")))
    assert close(lo, exp["ci_low"], tol["ci"]) and close(hi_, exp["ci_high"], tol["ci"])
    if "df" in exp:
        assert cal.df == pytest.approx(exp["df"])
    if "weights" in exp:
        np.testing.assert_allclose(cal.weights.to_numpy(), np.asarray(exp["weights"]), rtol=max(tol["estimate"], 1e-9))
    if "sum_weights" in exp:
        assert close(cal.weights.sum(), exp["sum_weights"], max(tol["estimate"], 1e-9))
    # the input design is untouched
    assert not np.allclose(design.weights.to_numpy(), cal.weights.to_numpy()) or "rclus" in case["id"]
    assert cal is not design


def test_every_public_case_has_an_interpretation():
    assert len(CASES) == 10
    kinds = {c["options"]["calibration"]["method"].split(",")[0].split(" ")[0] for c in CASES}
    assert kinds == {"calibrate", "post-stratification", "raking"}


# ---------------------------------------------------------------------------
# extra R references (R 4.2.2, survey 4.1.1)
# ---------------------------------------------------------------------------
# Common R set-up for everything below:
#   apiclus1 <- read.csv("shared/data/apiclus1.csv"); apistrat <- read.csv(".../apistrat.csv")
#   apiclus2 <- read.csv(".../apiclus2.csv")
#   dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
#   dstrat <- svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat, fpc=~fpc)
#   dclus2 <- svydesign(id=~dnum+snum, fpc=~fpc1+fpc2, data=apiclus2)
#   pop.types <- data.frame(stype=c('E','H','M'), Freq=c(4421,755,1018))
#   pop.schwide <- data.frame(sch.wide=c('No','Yes'), Freq=c(1072,5122))
#   pop.totals <- c(`(Intercept)`=6194, stypeH=755, stypeM=1018, api99=3914069)
#   rw <- read.csv("shared/data/repweights/apiclus1_jk1.csv")
#   rclus1 <- svrepdesign(data=apiclus1, repweights=as.matrix(rw[,-1]), weights=~pw, type='JK1',
#                         scale=0.914839277851167, rscales=1, combined.weights=TRUE)

TYPES = {"E": 4421, "H": 755, "M": 1018}
SCHWIDE = {"No": 1072, "Yes": 5122}
POP_TOTALS = {"(Intercept)": 6194, "stypeH": 755, "stypeM": 1018, "api99": 3914069}


@pytest.fixture(scope="module")
def api():
    c1 = pd.read_csv(data_file("apiclus1.csv"))
    st = pd.read_csv(data_file("apistrat.csv"))
    c2 = pd.read_csv(data_file("apiclus2.csv"))
    rw = pd.read_csv(data_file("repweights/apiclus1_jk1.csv"))
    return {
        "c1": c1,
        "dclus1": hi.SurveyDesign(c1, weights="pw", psu="dnum", fpc="fpc"),
        "dstrat": hi.SurveyDesign(st, weights="pw", strata="stype", fpc="fpc"),
        "dclus2": hi.SurveyDesign(c2, psu=["dnum", "snum"], fpc=["fpc1", "fpc2"]),
        "rclus1": hi.ReplicateDesign(
            c1, weights="pw", replicate_weights=rw.iloc[:, 1:].to_numpy(), method="jk1", scale=0.914839277851167
        ),
    }


def _check(est, r_est, r_se, rtol_est=1e-9, rtol_se=1e-7):
    if hasattr(est, "to_frame"):
        f = est.to_frame()
        e, s = f["estimate"].to_numpy(), f["se"].to_numpy()
    else:
        e, s = np.array([est.estimate]), np.array([est.se])
    np.testing.assert_allclose(e, np.atleast_1d(r_est), rtol=rtol_est)
    np.testing.assert_allclose(s, np.atleast_1d(r_se), rtol=rtol_se)


def test_greg_domains(api):
    # g <- calibrate(dclus1, ~stype+api99, pop.totals); svyby(~api00, ~stype, g, svymean)
    g = hi.calibrate(api["dclus1"], POP_TOTALS)
    _check(
        g.by("stype").mean("api00"),
        [674.704045512657, 630.514879575769, 650.313425844479],
        [6.47806591337826, 32.7000465400918, 17.6062581500872],
    )


def test_greg_other_variables(api):
    # svymean(~api00+api99, g): api99 is calibrated, its SE is 0 (R: 1.2e-14)
    g = hi.calibrate(api["dclus1"], {"stype": TYPES, "api99": 3914069})
    f = g.mean(["api00", "api99"]).to_frame()
    np.testing.assert_allclose(f["estimate"], [665.30907116578, 631.91298030352], rtol=1e-9)
    assert f["se"].iloc[0] == pytest.approx(3.44175311640481, rel=1e-7)
    assert f["se"].iloc[1] < 1e-9
    # svytotal(~sch.wide, g)
    _check(g.total("sch.wide"), [866.010523335071, 5327.98947666493], [154.766193858985, 154.766193858985])


def test_dict_and_r_style_totals_agree(api):
    a = hi.calibrate(api["dclus1"], POP_TOTALS)
    b = hi.calibrate(api["dclus1"], {"stype": TYPES, "api99": 3914069})
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12)
    assert a.total("enroll", na_rm=True).se == pytest.approx(b.total("enroll", na_rm=True).se, rel=1e-10)


def test_rake_default_domain(api):
    # r <- rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide)); svyby(~api00, ~sch.wide, r, svymean)
    r = hi.rake(api["dclus1"], {"stype": TYPES, "sch.wide": SCHWIDE}, r_default=True)
    _check(
        r.by("sch.wide").mean("api00"),
        [611.845212995137, 647.380335949577],
        [27.5052934144517, 24.283493797139],
        rtol_est=1e-7,
        rtol_se=1e-6,
    )


def test_rake_converged(api):
    # rc <- rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide), control=list(maxit=100, epsilon=1e-12))
    # svymean(~api00, rc); svyby(~enroll, ~stype, rc, svytotal, na.rm=TRUE)
    rc = hi.rake(api["dclus1"], {"stype": TYPES, "sch.wide": SCHWIDE})
    assert rc.calibration_info["converged"]
    _check(rc.mean("api00"), 641.23032092682, 23.7036168879225, rtol_est=1e-9, rtol_se=1e-8)
    _check(
        rc.by("stype").total("enroll", na_rm=True),
        [1914134.23817008, 833985.381876178, 899160.52801895],
        [74296.023701328, 265552.267222691, 99607.3853785035],
        rtol_est=1e-8,
        rtol_se=1e-8,
    )
    # R's own rule (change of the joint table below epsilon * sum of weights) gives the same weights
    rr = hi.rake(api["dclus1"], {"stype": TYPES, "sch.wide": SCHWIDE}, max_iter=100, tol=1e-12, criterion="change")
    np.testing.assert_allclose(rr.weights, rc.weights, rtol=1e-9)
    # weights(rc)[1:3]
    np.testing.assert_allclose(
        rc.weights.to_numpy()[:3], [50.3294011160392, 29.8706754926847, 29.8706754926847], rtol=1e-9
    )


def test_logit_other_bounds_stratified(api):
    # lg <- calibrate(dstrat, ~sch.wide+api99, c(`(Intercept)`=6194, sch.wideYes=5122, api99=3914069),
    #                 calfun='logit', bounds=c(0.5, 2.5)); svymean(~api00, lg); weights(lg)[1:3]
    lg = hi.calibrate(
        api["dstrat"], {"(Intercept)": 6194, "sch.wideYes": 5122, "api99": 3914069}, method="logit", bounds=(0.5, 2.5)
    )
    _check(lg.mean("api00"), 664.554997569762, 1.55667392676759)
    np.testing.assert_allclose(
        lg.weights.to_numpy()[:3], [45.4179695445598, 43.0495462917401, 44.0891796960318], rtol=1e-9
    )
    g = lg.weights.to_numpy() / api["dstrat"].weights.to_numpy()
    assert g.min() >= 0.5 - 1e-12 and g.max() <= 2.5 + 1e-12


def test_bounded_linear(api):
    # bl <- calibrate(dclus1, ~stype+api99, pop.totals, bounds=c(0.3, 1.7)); svymean(~api00, bl)
    bl = hi.calibrate(api["dclus1"], POP_TOTALS, bounds=(0.3, 1.7))
    _check(bl.mean("api00"), 665.317449302955, 3.44092571156249)
    g = bl.weights.to_numpy() / api["dclus1"].weights.to_numpy()
    assert g.max() == pytest.approx(1.7, rel=1e-9)


def test_bounded_linear_infeasible_like_r(api):
    # calibrate(dclus1, ~stype+api99, pop.totals, bounds=c(0.8, 1.3)) -> R: "Calibration failed"
    with pytest.raises(ConvergenceError, match=r"worst total 'stype=H'.*\(gap"):
        hi.calibrate(api["dclus1"], POP_TOTALS, bounds=(0.8, 1.3))


def test_replicate_post_stratify_and_rake(api):
    # svymean(~api00, postStratify(rclus1, ~stype, pop.types))
    _check(hi.post_stratify(api["rclus1"], {"stype": TYPES}).mean("api00"), 642.310788211582, 26.9345353674261)
    # svymean(~api00, rake(rclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide)))
    rr = hi.rake(api["rclus1"], {"stype": TYPES, "sch.wide": SCHWIDE}, r_default=True)
    _check(rr.mean("api00"), 641.230246862209, 26.8734742360896)


def test_replicate_calibrate_raking_and_greg_domains(api):
    # rk <- calibrate(rclus1, ~stype+sch.wide, c(`(Intercept)`=6194, stypeH=755, stypeM=1018, sch.wideYes=5122),
    #                 calfun='raking', compress=FALSE); svymean(~api00, rk)
    rk = hi.calibrate(api["rclus1"], {"stype": TYPES, "sch.wide": SCHWIDE}, method="raking")
    _check(rk.mean("api00"), 641.230320924124, 26.8739804383037)
    # svyby(~api00, ~stype, calibrate(rclus1, ~stype+api99, pop.totals, compress=FALSE), svymean)
    g = hi.calibrate(api["rclus1"], POP_TOTALS)
    _check(
        g.by("stype").mean("api00"),
        [674.704045512657, 630.514879575769, 650.313425844479],
        [7.68063033703401, 42.9298247250399, 20.1401340978919],
    )
    # every replicate column meets the totals
    W = g.replicate_weights()
    c1 = api["c1"]
    np.testing.assert_allclose(W.sum(axis=0), 6194, rtol=1e-9)
    np.testing.assert_allclose(c1["api99"].to_numpy() @ W, 3914069, rtol=1e-9)


def test_replicate_logit_with_nonconverging_replicates(api):
    # rl <- calibrate(rclus1, ~stype+api99, pop.totals, calfun='logit', bounds=c(0.7,1.7), compress=FALSE)
    # R warns "Failed to converge" for 4 replicates and keeps their last iterate; svytotal(~enroll, rl)
    with pytest.warns(hi.survey.weighting.WeightingWarning, match="4 replicate column"):
        rl = hi.calibrate(api["rclus1"], POP_TOTALS, method="logit", bounds=(0.7, 1.7))
    assert rl.calibration_info["replicates_not_converged"] == 4
    _check(rl.total("enroll"), 3657885.06503333, 416477.97608351, rtol_se=1e-6)


def test_two_stage_design(api):
    # svymean(~api00, calibrate(dclus2, ~stype, c(`(Intercept)`=6194, stypeH=755, stypeM=1018)))
    _check(hi.calibrate(api["dclus2"], {"stype": TYPES}).mean("api00"), 673.002311274467, 28.8318088122979)
    # svytotal(~enroll, postStratify(dclus2, ~stype, pop.types), na.rm=TRUE)
    _check(
        hi.post_stratify(api["dclus2"], {"stype": TYPES}).total("enroll", na_rm=True),
        3074076.35259186,
        292584.375886932,
    )


def test_crossed_post_strata(api):
    # pop.x <- data.frame(stype=rep(c('E','H','M'),2), sch.wide=rep(c('No','Yes'),each=3),
    #                     Freq=c(700,200,172,3721,555,846))
    # px <- postStratify(dstrat, ~stype+sch.wide, pop.x); svymean(~api00, px)
    pop = {
        ("E", "No"): 700,
        ("H", "No"): 200,
        ("M", "No"): 172,
        ("E", "Yes"): 3721,
        ("H", "Yes"): 555,
        ("M", "Yes"): 846,
    }
    px = hi.post_stratify(api["dstrat"], {("stype", "sch.wide"): pop})
    _check(px.mean("api00"), 663.967395857112, 9.47201838778575)
    # the same table as an R-style data frame
    df = pd.DataFrame(
        {"stype": ["E", "H", "M"] * 2, "sch.wide": ["No"] * 3 + ["Yes"] * 3, "Freq": [700, 200, 172, 3721, 555, 846]}
    )
    px2 = hi.post_stratify(api["dstrat"], {("stype", "sch.wide"): df})
    np.testing.assert_allclose(px2.weights, px.weights, rtol=1e-14)


def test_post_stratify_then_greg(api):
    # pg <- calibrate(postStratify(dclus1, ~stype, pop.types), ~api99, c(`(Intercept)`=6194, api99=3914069))
    # svymean(~api00, pg)
    pg = hi.calibrate(hi.post_stratify(api["dclus1"], {"stype": TYPES}), {"(Intercept)": 6194, "api99": 3914069})
    _check(pg.mean("api00"), 665.392222325654, 3.57097863835685)
    assert [h["method"] for h in pg.calibration_history] == ["post_stratify", "calibrate:linear"]


def test_nonresponse_adjustment_linearised_like_svycontrast(api):
    # d <- apiclus1; d$resp <- as.numeric(d$snum %% 5 != 0); d$yr <- ifelse(d$resp==1, d$api00, 0)
    # for (s in c("E","H","M")) { d[[paste0("A",s)]] <- as.numeric(d$stype==s);
    #   d[[paste0("B",s)]] <- d$resp*(d$stype==s); d[[paste0("Y",s)]] <- d$yr*(d$stype==s) }
    # dd <- svydesign(id=~dnum, weights=~pw, data=d, fpc=~fpc)
    # tt <- svytotal(~AE+AH+AM+BE+BH+BM+YE+YH+YM, dd)
    # svycontrast(tt, quote(AE*YE/BE + AH*YH/BH + AM*YM/BM))
    # svycontrast(tt, quote((AE*YE/BE + AH*YH/BH + AM*YM/BM)/(AE+AH+AM)))
    c1 = api["c1"].assign(resp=(api["c1"]["snum"] % 5 != 0).astype(int))
    c1.loc[c1["resp"] == 0, "api00"] = np.nan  # non-respondents' answers are unknown
    dd = hi.SurveyDesign(c1, weights="pw", psu="dnum", fpc="fpc")
    nr = hi.adjust_nonresponse(dd, "resp", classes="stype")
    _check(nr.total("api00"), 3981505.41773908, 895510.496757773)
    _check(nr.mean("api00"), 642.80032439644, 23.4188139996898)
    assert nr.weights.sum() == pytest.approx(dd.weights.sum(), rel=1e-12)
