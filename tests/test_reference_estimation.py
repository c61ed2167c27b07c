"""The estimation engine against R ``survey`` 4.1.1 (``tests/reference``, copies of ``shared/reference``).

One parametrised test per case of the families means_totals, proportions, domains,
ratio, quantiles, design_effects, replicate, lonely_psu and degf_confint. Every
quantity R reports (estimate, se, variance, intervals, vcov, deff, df) is compared
within the case's tolerance with the README's rule (``abs(py - r) <= tol*abs(r)``,
absolute 1e-12 when R gives 0). Cases R refuses (``{"error": true}``) must raise.

Extra cases computed with R 4.2.2 / survey 4.1.1 on the same data (R call beside
each) live in ``EXTRA_CASES`` at the end and go through the same machinery.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import HappinessIndexError, LonelyPSUError

from reference_helpers import build_design, case_params, close, data_file, domain_mask, load_family, r_number

FAMILIES = [
    "means_totals",
    "proportions",
    "domains",
    "ratio",
    "quantiles",
    "design_effects",
    "replicate",
    "lonely_psu",
    "degf_confint",
]


def _params():
    out = []
    for fam in FAMILIES:
        out.extend(case_params(fam))
    return out


EXTRA_FILE = Path(__file__).resolve().parent / "data" / "r_extra_estimation.json"


def _extra_params():
    """Extra R cases (tests/data/r_extra_estimation.json, made by r_extra_estimation.R).

    Each borrows the dataset and design block of a shared reference case (``base``);
    ``design_override`` replaces design keys (lonely-PSU rule, fpc).
    """
    by_id = {c["id"]: c for fam in FAMILIES for c in load_family(fam)}
    cases = json.loads(EXTRA_FILE.read_text(encoding="utf-8"))["cases"]
    out = []
    for x in cases:
        base = by_id[x["base"]]
        case = dict(x)
        case["dataset"] = base["dataset"]
        case["design"] = {**base["design"], **(x.get("design_override") or {})}
        out.append(pytest.param(case, id=x["id"]))
    return out


# ---------------------------------------------------------------------------
# running a case
# ---------------------------------------------------------------------------


def _ci_method(case) -> str:
    return (case.get("options") or {}).get("method", "logit")


def _ci_df(case):
    df = (case.get("options") or {}).get("df")
    if isinstance(df, str) and df.startswith("Inf"):
        return math.inf
    return None


def _quantile_args(case):
    opts = case.get("options") or {}
    ps = opts.get("quantiles", [0.5])
    rule = (opts.get("qrule") or "math").split()[0]
    itype = (opts.get("interval.type") or "mean").split()[0].rstrip(":")
    level = 1 - float(opts.get("alpha", 0.05))
    ci_method = "score" if itype == "score" else "woodruff"
    if itype == "score":
        itype = "mean"
    df = _ci_df(case)
    return dict(p=ps, rule=rule, ci_method=ci_method, interval_type=itype, level=level, df=df)


def _target(case, design, data):
    """The design or domain view the estimator runs on."""
    v = case.get("variables") or {}
    if v.get("domain"):
        design = design.subset(domain_mask(data, v["domain"]))
    if v.get("by"):
        return design.by(v["by"])
    return design


def run_case(case):
    """Run the estimator a case describes; returns (result, design)."""
    design, data = build_design(case)
    est = case["estimator"]
    v = case.get("variables") or {}
    opts = case.get("options") or {}
    na_rm = bool(v.get("na_rm", False))
    deff = opts.get("deff", False)
    analysis = v.get("analysis")
    derived = [d["name"] for d in (v.get("derived") or [])]
    exp_rows = (case.get("expected") or {}).get("rows") or []
    if derived and not analysis and any(str(r.get("term", "")).endswith(("TRUE", "FALSE")) for r in exp_rows):
        # R's svymean/svytotal of a logical gives FALSE and TRUE shares: a two-level factor
        col = derived[-1]
        lv = data[col].map({0.0: "FALSE", 1.0: "TRUE"})
        design, data = build_design(case, data.assign(**{col: pd.Categorical(lv, categories=["FALSE", "TRUE"])}))
    if opts.get("py_to_replicates"):
        rho = opts.get("py_rho") or None
        design = design.to_replicates(opts["py_to_replicates"], rho=rho)
    target = _target(case, design, data)
    if est == "degf":
        return None, (target if not hasattr(target, "_design") else design)
    base = est.replace("domain_", "").replace("_confint", "")
    if base in ("mean", "mean_of_factor"):
        cols = analysis or derived[-1:]
        x = cols if (len(cols) > 1) else cols[0]
        return target.mean(x, na_rm=na_rm, deff=deff), design
    if base in ("total", "total_of_factor"):
        cols = analysis or derived[-1:]
        x = cols if len(cols) > 1 else cols[0]
        return target.total(x, na_rm=na_rm, deff=deff), design
    if base == "proportion":
        # R's svymean of a 0/1 variable (or of a factor): Wald intervals
        cols = analysis or derived[-1:]
        return target.mean(cols[0], na_rm=na_rm, deff=deff), design
    if base == "proportion_ci":
        x = (analysis or derived[-1:])[0]
        return target.proportion(x, ci_method=_ci_method(case), na_rm=na_rm, df=_ci_df(case)), design
    if base == "ratio":
        return target.ratio(analysis[0], v["denominator"][0], na_rm=na_rm), design
    if base == "quantile":
        return target.quantile(analysis[0], na_rm=na_rm, **_quantile_args(case)), design
    if base == "contrast":
        tab = target.mean(analysis[0], na_rm=na_rm)
        return tab.contrast(opts["contrast"]), design
    if base == "transform":
        tab = target.mean(list(analysis), na_rm=na_rm)
        # R: svycontrast re-evaluates on the replicates only when the statistic carries
        # them (return.replicates=TRUE); otherwise the delta method with the vcov
        method = "replicates" if "return.replicates=TRUE" in case.get("r_call", "") else None
        return tab.transform(opts["expression"], method=method), design
    raise NotImplementedError(f"estimator {est!r} is not covered by this test file")


# ---------------------------------------------------------------------------
# comparisons
# ---------------------------------------------------------------------------


def _tol(case, key):
    t = case.get("tolerance") or {}
    if key in t:
        return float(t[key])
    if key in ("variance", "vcov"):
        return 2 * float(t.get("se", 1e-7))
    if key in ("deff", "deft"):
        return float(t.get("se", 1e-7)) * 10
    return float(t.get("ci", t.get("se", 1e-7)))


def _check(errors, label, py, r, tol):
    if not close(py, r, tol):
        errors.append(f"{label}: python {py!r} vs R {r!r} (rel tol {tol:g})")


def _compare_estimate(case, e, exp, errors, label, design_df, ci_kind):
    """Compare one Estimate against one expected entry (single or row)."""
    _check(errors, f"{label} estimate", e.estimate, exp["estimate"], _tol(case, "estimate"))
    if "se" in exp and exp["se"] is not None:
        r_se = r_number(exp["se"])
        scale = abs(r_number(exp["estimate"]))
        if 0 < r_se < 1e-10 * scale:
            # R's rounding noise around an exact zero (a domain inside one PSU): both are 0
            if not abs(e.se) <= 1e-9 * scale:
                errors.append(f"{label} se: python {e.se!r} vs R ~0 ({r_se!r})")
        else:
            _check(errors, f"{label} se", e.se, exp["se"], _tol(case, "se"))
    if "variance" in exp:
        _check(errors, f"{label} variance", e.se**2, exp["variance"], _tol(case, "variance"))
    level = float(exp.get("ci_level", exp.get("level", 1 - float((case.get("options") or {}).get("alpha", 0.05)))))
    if "ci_low" in exp:
        if ci_kind == "method":
            lo, hi_ = e.ci_low, e.ci_high
            if abs(level - e.level) > 1e-12:
                lo, hi_ = e.confint(level)
        else:
            ci_df = r_number(exp.get("ci_df", "Inf"))
            lo, hi_ = e.confint(level, df=ci_df)
        _check(errors, f"{label} ci_low", lo, exp["ci_low"], _tol(case, "ci"))
        _check(errors, f"{label} ci_high", hi_, exp["ci_high"], _tol(case, "ci"))
    if "ci_normal_low" in exp:
        lo, hi_ = e.confint(level, df=math.inf)
        _check(errors, f"{label} ci_normal_low", lo, exp["ci_normal_low"], _tol(case, "ci"))
        _check(errors, f"{label} ci_normal_high", hi_, exp["ci_normal_high"], _tol(case, "ci"))
    if "ci_t_low" in exp:
        lo, hi_ = e.confint(level, df=design_df)
        _check(errors, f"{label} ci_t_low", lo, exp["ci_t_low"], _tol(case, "ci"))
        _check(errors, f"{label} ci_t_high", hi_, exp["ci_t_high"], _tol(case, "ci"))
    if "deff" in exp and exp["deff"] is not None:
        if e.deff is None:
            errors.append(f"{label} deff missing")
        else:
            _check(errors, f"{label} deff", e.deff, exp["deff"], _tol(case, "deff"))
            if "deft" in exp:
                _check(errors, f"{label} deft", math.sqrt(e.deff), exp["deft"], _tol(case, "deff"))
    if "df" in exp and ci_kind == "method":
        _check(errors, f"{label} df", e.df, exp["df"], 1e-12)


def _row_lookup(case, result, row):
    """The Estimate of a table matching an expected row (term, domain or p)."""
    if "domain" in row:
        keys = result.keys
        mask = np.ones(len(keys), dtype=bool)
        for col, val in row["domain"].items():
            kv = keys[col].to_numpy()
            try:  # numeric keys compare as numbers (2006 == 2006.0)
                mask &= np.asarray(kv, dtype=float) == float(val)
            except (TypeError, ValueError):
                mask &= np.array([str(k) for k in kv]) == str(val)
        if "p" in row and "p" in keys.columns:
            mask &= np.isclose(keys["p"].to_numpy(dtype=float), float(row["p"]))
        idx = np.flatnonzero(mask)
        assert len(idx) == 1, f"domain {row['domain']} matches {len(idx)} rows of {keys}"
        return result[int(idx[0])]
    if "p" in row:
        return (
            result[f"{float(row['p']):g}"]
            if not hasattr(result, "estimate") or isinstance(result, hi.EstimateTable)
            else result
        )
    if "term" in row:
        term = row["term"]
        for lab, e in zip(result.labels, result.estimates):
            var, _, level = lab.partition("=")
            if lab == term or (var + level) == term:
                return e
        # R names the levels of a logical or derived factor after its expression
        # (``I(api00 > 700)TRUE``): match on the level when that is unambiguous
        hits = [
            e for lab, e in zip(result.labels, result.estimates) if "=" in lab and term.endswith(lab.partition("=")[2])
        ]
        if len(hits) == 1:
            return hits[0]
        raise AssertionError(f"no row for term {term!r}; labels {result.labels}")
    raise AssertionError(f"cannot match row {row}")


def _ci_kind(case):
    est = case["estimator"]
    if "proportion_ci" in est or "quantile" in est:
        return "method"
    return "confint"


def check_case(case):
    exp = case["expected"]
    if exp.get("error"):
        with pytest.raises(HappinessIndexError) as info:
            res, design = run_case(case)
            # a lazily evaluated variance must fail too
            if isinstance(res, hi.EstimateTable):
                res.vcov_matrix()
        if "one PSU" in (exp.get("r_error_message") or ""):
            assert isinstance(info.value, LonelyPSUError)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res, design = run_case(case)
    errors: list[str] = []
    design_df = design.df
    if "degf" in exp:
        _check(errors, "degf", design.df, exp["degf"], 1e-12)
    if case["estimator"] == "degf":
        assert not errors, "\n".join(errors)
        return
    kind = _ci_kind(case)
    if "rows" in exp:
        if "df" in exp and kind == "method":
            for e in res.estimates:
                _check(errors, "df", e.df, exp["df"], 1e-12)
        for i, row in enumerate(exp["rows"]):
            e = _row_lookup(case, res, row)
            _compare_estimate(case, e, row, errors, f"row {i}", design_df, kind)
        assert len(res.estimates) == len(exp["rows"]), f"{len(res.estimates)} rows vs R {len(exp['rows'])}"
    else:
        e = res if isinstance(res, hi.Estimate) else res.estimates[0]
        _compare_estimate(case, e, exp, errors, "single", design_df, kind)
        if "df" in exp and kind == "confint":
            # for svymean/svytotal/svyratio R's "df" is degf(design) of the design the
            # case was built on (what confint(df=degf(design)) uses), even for a subset
            _check(errors, "df", design_df, exp["df"], 1e-12)
    if "vcov" in exp:
        names = exp["vcov"]["names"]
        V = res.vcov_matrix()
        order = []
        for nm in names:
            for j, lab in enumerate(res.labels):
                var, _, level = lab.partition("=")
                if lab == nm or var + level == nm:
                    order.append(j)
        assert len(order) == len(names)
        Vs = V[np.ix_(order, order)]
        for a in range(len(names)):
            for b in range(len(names)):
                _check(errors, f"vcov[{a},{b}]", Vs[a, b], exp["vcov"]["matrix"][a][b], _tol(case, "vcov"))
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("case", _params())
def test_reference_case(case):
    check_case(case)


@pytest.mark.parametrize("case", _extra_params())
def test_extra_r_case(case):
    check_case(case)


# ---------------------------------------------------------------------------
# lonely units at the second stage (R numbers; data: apiclus2 with fpc2 = 3 where it is 1)
# ---------------------------------------------------------------------------
# options(survey.lonely.psu=rule)
# a$fpc2b <- ifelse(a$fpc2 == 1, 3, a$fpc2)
# svymean(~api00, svydesign(id=~dnum+snum, fpc=~fpc1+fpc2b, data=a))
#   fail      -> "Stratum (1.15) has only one PSU at stage 2"
#   remove    -> 670.611683849  SE 28.2569774042
#   adjust    -> 670.611683849  SE 28.2671881361
#   certainty -> 670.611683849  SE 28.2569774042
#   average   -> SE NaN in R 4.1.1 (we give the "remove" value: no later-stage contribution)
STAGE2_LONELY = {"remove": 28.2569774042, "adjust": 28.2671881361, "certainty": 28.2569774042}


def _stage2_data():
    import pandas as pd

    from reference_helpers import data_file

    a = pd.read_csv(data_file("apiclus2.csv"))
    a["fpc2b"] = a["fpc2"].where(a["fpc2"] != 1, 3)
    return a


@pytest.mark.parametrize("rule", sorted(STAGE2_LONELY))
def test_stage2_lonely_units_match_r(rule):
    a = _stage2_data()
    m = hi.SurveyDesign(a, psu=["dnum", "snum"], fpc=["fpc1", "fpc2b"], lonely_psu=rule).mean("api00")
    assert m.estimate == pytest.approx(670.611683849, rel=1e-10)
    assert m.se == pytest.approx(STAGE2_LONELY[rule], rel=1e-9)


def test_stage2_lonely_units_fail_names_the_units():
    a = _stage2_data()
    with pytest.raises(LonelyPSUError, match=r"dnum=15.*stage 2"):
        hi.SurveyDesign(a, psu=["dnum", "snum"], fpc=["fpc1", "fpc2b"]).mean("api00")


# ---------------------------------------------------------------------------
# Kish effective sample size
# ---------------------------------------------------------------------------


def test_effective_n_kish():
    import pandas as pd

    data = pd.DataFrame({"w": [1.0, 1.0, 2.0, 4.0], "g": ["a", "a", "b", "b"], "y": [1, 2, 3, 4]})
    d = hi.SurveyDesign(data, weights="w")
    assert d.effective_n() == pytest.approx(64 / 22)  # (1+1+2+4)^2 / (1+1+4+16)
    assert d.subset(data["g"] == "b").effective_n() == pytest.approx(36 / 20)
    by = d.by("g").effective_n()
    assert list(by.index) == ["a", "b"] and list(by) == pytest.approx([2.0, 1.8])
    # equal weights: n_eff = n; scaling the weights changes nothing
    assert hi.SurveyDesign(data).effective_n() == pytest.approx(4.0)
    assert hi.SurveyDesign(data.assign(w=data.w * 7.5), weights="w").effective_n() == pytest.approx(64 / 22)


# ---------------------------------------------------------------------------
# ratio design effects (R: deff of the total of r = (y - R x) / X_hat)
# ---------------------------------------------------------------------------
# d <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
# deff(svyratio(~api.stu, ~enroll, d, deff=TRUE))        4.33931144088746734
# deff(svyratio(~api.stu, ~enroll, d, deff="replace"))   4.21110770305853
# svyby(~api.stu, ~stype, denominator=~enroll, d, svyratio, deff=TRUE)$DEff  6.525119 1.858900 2.211567


def test_ratio_deff_matches_r():
    from reference_helpers import load_family

    case = next(c for c in load_family("quantiles") if c["id"] == "median_api00_dclus1")
    d, _ = build_design(case)
    assert d.ratio("api.stu", "enroll", deff=True).deff == pytest.approx(4.33931144088746734, rel=1e-9)
    assert d.ratio("api.stu", "enroll", deff="replace").deff == pytest.approx(4.21110770305853, rel=1e-9)
    by = d.by("stype").ratio("api.stu", "enroll", deff=True)
    assert [e.deff for e in by] == pytest.approx([6.525119, 1.858900, 2.211567], abs=1e-6)


# ---------------------------------------------------------------------------
# the helper's R filter reader (used for row subsets and domains of held-out cases)
# ---------------------------------------------------------------------------


def test_r_filter_reader():
    import pandas as pd

    from reference_helpers import add_derived, domain_mask, r_filter

    d = pd.DataFrame({"a": [1, 2, 3, None], "s": ["x", "y", "x", "z"]})
    assert list(r_filter(d, "a >= 2 & s == 'x'")) == [False, False, True, False]
    assert list(r_filter(d, "!(a == 1 | s %in% c('y', 'z'))")) == [False, False, True, False]
    assert list(r_filter(d, "a != 1")) == [False, True, True, False]  # NA is dropped, as subset()
    assert list(domain_mask(d, "s == 'x' (the x group)")) == [True, False, True, False]
    for bad in ("a = 1", "system('ls')", "a == 1; b", "nchar(s) > 1"):
        with pytest.raises(ValueError):
            r_filter(d, bad)
    with pytest.raises(KeyError, match="no pandas mapping"):
        add_derived(d, [{"name": "z", "definition": "?", "r": "log(a)"}])


# ---------------------------------------------------------------------------
# transform()/contrast() on a replicate table: delta method by default, as R
# ---------------------------------------------------------------------------


def test_replicate_transform_default_is_delta_as_r():
    """R 4.1.1 (rclus1 as in tests/data/r_extra_estimation.R):
    ct <- svycontrast(svymean(~api00+api99, rclus1), quote(api00/api99))   # 1.0612728107529, SE 0.00644166105360744
    svycontrast(svymean(~api00+api99, rclus1), quote(api00*api99/1000))    # 390.996744931171, SE 33.3183492416993
    with return.replicates=TRUE the SE of the ratio is 0.00643877385069782 (method="replicates").
    """
    base = next(c for c in load_family("quantiles") if c["id"] == "median_api00_rclus1")
    rclus1, _ = build_design(base)
    tab = rclus1.mean(["api00", "api99"])
    d = tab.transform("api00/api99")
    assert d.estimate == pytest.approx(1.0612728107529, rel=1e-12)
    assert d.se == pytest.approx(0.00644166105360744, rel=1e-9)
    assert tab.transform("api00/api99", method="replicates").se == pytest.approx(0.00643877385069782, rel=1e-9)
    e = tab.transform("api00*api99/1000")
    assert e.estimate == pytest.approx(390.996744931171, rel=1e-12)
    assert e.se == pytest.approx(33.3183492416993, rel=1e-9)
    # a linear contrast: delta (a'Va) and replicate re-evaluation agree
    c1 = tab.contrast({"api00": 1, "api99": -1})
    c2 = tab.contrast({"api00": 1, "api99": -1}, method="replicates")
    assert c1.se == pytest.approx(c2.se, rel=1e-10)
    with pytest.raises(hi.EstimationError, match="delta"):
        tab.transform("api00/api99", method="bogus")
    taylor = hi.SurveyDesign(pd.DataFrame({"y": [1.0, 2, 4], "x": [1.0, 1, 2]})).mean(["y", "x"])
    with pytest.raises(hi.EstimationError, match="replicate design"):
        taylor.transform("y/x", method="replicates")


def test_calibrated_replicate_df_as_r():
    """R 4.1.1 (apistrat as in the shared data):
    des <- svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat)
    r <- as.svrepdesign(des, type="JKn"); degf(r)                               # 197
    degf(calibrate(r, ~stype, c(`(Intercept)`=6194, stypeH=755, stypeM=1018)))  # 197 (degf kept)
    degf(calibrate(r, ~stype+api99, c(..., api99=3914069)))                     # 196 (regcalibrate: rank - 1)
    set.seed(1); as.svrepdesign(des, type="bootstrap", replicates=300): 197, 197, 196
    dclus1 JK1 (id=~dnum, weights=~pw): 14; calibrated to ~api99: 14.
    """
    a = pd.read_csv(data_file("apistrat.csv"))
    d = hi.SurveyDesign(a, weights="pw", strata="stype")
    pop = {"(Intercept)": 6194, "stypeH": 755, "stypeM": 1018}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in (d.to_replicates("jkn"), d.to_replicates("bootstrap", replicates=300, seed=1)):
            assert r.df == 197
            assert hi.calibrate(r, pop, formula="~stype").df == 197
            assert hi.calibrate(r, {**pop, "api99": 3914069}, formula="~stype+api99").df == 196
        a1 = pd.read_csv(data_file("apiclus1.csv"))
        r3 = hi.SurveyDesign(a1, weights="pw", psu="dnum").to_replicates("jk1")
        assert r3.df == 14 and hi.calibrate(r3, {"(Intercept)": 6194, "api99": 3914069}).df == 14


def test_calibrated_replicate_df_never_exceeds_the_source():
    # 17 strata x 5 PSUs x 4 rows: bootstrap replicates recalibrated to a numeric total
    # make the weights differ within PSUs, so the numerical rank of the n x R matrix
    # exceeds the 68 = 85 - 17 degrees of freedom of the PSUs; df stays 68 at most
    rng = np.random.default_rng(3)
    n = 17 * 5 * 4
    df = pd.DataFrame(
        {
            "h": np.repeat(np.arange(17), 20),
            "psu": np.repeat(np.arange(85), 4),
            "w": rng.uniform(1, 3, n),
            "x": rng.normal(10, 2, n),
        }
    )
    r = hi.SurveyDesign(df, weights="w", strata="h", psu="psu").to_replicates("bootstrap", replicates=200, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = hi.calibrate(r, {"(Intercept)": 2000, "x": 20500})
    s = np.linalg.svd(c.replicate_weights(), compute_uv=False)
    assert (s > 1e-5 * s[0]).sum() - 1 > 68  # the raw rank grew
    assert r.df == 68 and c.df == 68


# --- differential testing against R survey 4.1.1 (/tmp/difftest/run.py): regressions ----------
# R data for the three tests below:
#   dat <- data.frame(psu=c(1,1,1,2,2,2,3,3,3,4,4,4), w=c(3,0,2,4,1,0,2,5,3,0,2,4),
#     y=c(1.5,2.2,3.1,4.7,5.3,6.8,7.2,8.9,9.4,10.6,11.1,12.3), b=c(1,0,0,1,1,0,0,1,0,1,1,0),
#     g=c("a","a","b","a","b","a","b","a","a","b","a","b"))
_ZW = pd.DataFrame(
    dict(
        psu=[1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4],
        w=[3, 0, 2, 4, 1, 0, 2, 5, 3, 0, 2, 4],
        y=[1.5, 2.2, 3.1, 4.7, 5.3, 6.8, 7.2, 8.9, 9.4, 10.6, 11.1, 12.3],
        b=[1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0],
        g=list("aabababaabab"),
    )
)


def test_r_beta_ciprop_counts_zero_weight_rows_of_the_subset():
    # Korn-Graubard uses nrow(design) of the domain, zero-weight rows included (7 here, not 5)
    # d <- svydesign(id=~psu, weights=~w, data=dat)
    # svyciprop(~I(b==1), subset(d, g=="a"), method="beta")
    #   0.823529411764706  CI 0.324567054534099 0.996115429998915
    d = hi.SurveyDesign(_ZW, weights="w", psu="psu")
    e = d.subset((_ZW["g"] == "a").to_numpy()).proportion("b", ci_method="beta")
    assert e.estimate == pytest.approx(0.823529411764706, rel=1e-12)
    assert e.ci_low == pytest.approx(0.324567054534099, rel=1e-9)
    assert e.ci_high == pytest.approx(0.996115429998915, rel=1e-9)


def test_r_beta_quantile_interval_counts_zero_weight_rows():
    # svyquantile(~y, svydesign(id=~1, weights=~w, data=dat), 0.5, qrule="hf7",
    #             interval.type="beta", se=TRUE)
    #   8.05  CI 2.77839408518386 10.3250510805457  SE 1.63630604129287
    # (dropping the 3 zero-weight rows gives 2.86765072351375 10.2093406673296 in R)
    e = hi.SurveyDesign(_ZW, weights="w").quantile("y", 0.5, rule="hf7", interval_type="beta")
    assert e.estimate == pytest.approx(8.05, rel=1e-12)
    assert e.ci_low == pytest.approx(2.77839408518386, rel=1e-9)
    assert e.ci_high == pytest.approx(10.3250510805457, rel=1e-9)
    assert e.se == pytest.approx(1.63630604129287, rel=1e-9)


def test_r_jk1_by_discards_undefined_replicates_per_domain():
    # A replicate that empties one domain is dropped for that domain only (R's svrVar per
    # svyby domain); it used to be dropped for every domain, and SEs fell to 0.
    # r <- as.svrepdesign(svydesign(id=~psu, weights=~w, data=dat), type="JK1")
    # svyby(~y, ~g+b, r, svymean)
    #   a.0 9.4 SE 0; b.0 8.725 SE 3.48564578844437; a.1 6.42857142857143 SE 1.89198512659001; b.1 5.3 SE 0
    r = hi.SurveyDesign(_ZW, weights="w", psu="psu").to_replicates("jk1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fr = r.by(["g", "b"]).mean("y").to_frame()
    got = {(g, int(b)): (est, se) for g, b, est, se in zip(fr["g"], fr["b"], fr["estimate"], fr["se"])}
    ref = {
        ("a", 0): (9.4, 0.0),
        ("b", 0): (8.725, 3.48564578844437),
        ("a", 1): (6.42857142857143, 1.89198512659001),
        ("b", 1): (5.3, 0.0),
    }
    for key, (est, se) in ref.items():
        assert got[key][0] == pytest.approx(est, rel=1e-12)
        assert got[key][1] == pytest.approx(se, rel=1e-9, abs=1e-12)


def test_r_score_quantile_interval_keeps_zero_weight_rows_in_x():
    # R's ffullerCI takes min/max/IQR of x and the unweighted mean(x <= θ) over every row of
    # the design, zero-weight rows included (here 5 zero-weight rows with large y).
    # i <- 1:40; dat <- data.frame(y=round(((i*37) %% 101)/3, 2), w=ifelse(i %% 7 == 0, 0, 1 + (i %% 5)))
    # dat$y[i %% 7 == 0] <- dat$y[i %% 7 == 0] + 40
    # svyquantile(~y, svydesign(id=~1, weights=~w, data=dat), c(0.25, 0.5), interval.type="score", se=TRUE)
    #   0.25: 10.00 CI 3.33 14.33 SE 2.70636725786825;  0.5: 15.67 CI 11.00 20.00 SE 2.21430048371039
    # (without the zero-weight rows R gives 3.33 15.33 and 12.33 24.33)
    i = np.arange(1, 41)
    zero = i % 7 == 0
    y = np.round(((i * 37) % 101) / 3, 2) + np.where(zero, 40.0, 0.0)
    dat = pd.DataFrame({"y": y, "w": np.where(zero, 0.0, 1.0 + i % 5)})
    t = hi.SurveyDesign(dat, weights="w").quantile("y", [0.25, 0.5], ci_method="score")
    ref = [(10.00, 3.33, 14.33, 2.70636725786825), (15.67, 11.00, 20.00, 2.21430048371039)]
    for e, (q, lo, hi_, se) in zip(t.estimates, ref):
        assert (e.estimate, e.ci_low, e.ci_high) == pytest.approx((q, lo, hi_), rel=1e-12)
        assert e.se == pytest.approx(se, rel=1e-9)


def test_r_replicate_subset_df_is_the_rank_of_the_domain_rows():
    # R's degf() of a subset of an (uncalibrated) replicate design is the rank of the
    # domain rows' replicate weights - 1 (PSUs 2, 3, 4 here: df 2, not the full design's 3)
    # r <- as.svrepdesign(svydesign(id=~psu, weights=~w, data=dat), type="JK1")
    # s <- subset(r, y > 5); degf(s)  # 2 (degf(r) is 3)
    # m <- svymean(~y, s); confint(m, df=degf(s))
    #   9.63529411764706 SE 1.57671318663892 CI 2.85124482112313 16.41934341417099
    r = hi.SurveyDesign(_ZW, weights="w", psu="psu").to_replicates("jk1")
    s = r.subset((_ZW["y"] > 5).to_numpy())
    assert r.df == 3 and s.df == 2
    e = s.mean("y")
    assert e.df == 2
    assert (e.estimate, e.se) == pytest.approx((9.63529411764706, 1.57671318663892), rel=1e-9)
    assert (e.ci_low, e.ci_high) == pytest.approx((2.85124482112313, 16.41934341417099), rel=1e-9)
