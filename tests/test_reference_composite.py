"""R ``survey`` reference cases for composite indices (nonlinear_composite, likert_composite,
gss_happiness in ``tests/reference``).

Every case that is an index is driven through :func:`happiness_index.compute_index` with a
small spec built for the case (derived indicators as items, components, preset); the
others (distributions, Korn-Graubard intervals, independent-sample differences) go
through the design API. R's ``confint()`` is Normal, so intervals are compared with
``confint(df=math.inf)`` on the identity scale (``ci_scale="identity"``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import happiness_index as hi

from reference_helpers import build_design, case_params, close, load_data, r_number

TOL = {"estimate": 1e-9, "se": 1e-7, "ci": 1e-7}


def _tol(case, key):
    return case.get("tolerance", TOL).get(key, TOL[key])


def _spec(
    items,
    preset,
    *,
    scale="proportion",
    components=None,
    formula=None,
    item_weights=None,
    comp_weights=None,
    threshold=None,
    item_type="yes_no",
):
    """A minimal IndexSpec: one component per item unless ``components`` is given."""
    its = []
    for i, nm in enumerate(items):
        d = {"name": nm, "type": item_type}
        d["satisfied"] = [1] if item_type == "yes_no" else 4
        if item_weights is not None:
            d["weight"] = item_weights[i]
        its.append(d)
    if components is None:
        components = [{"name": nm, "items": [nm]} for nm in items]
    if comp_weights is not None:
        for c, w in zip(components, comp_weights):
            c["weight"] = w
    d = {"name": "ref", "preset": preset, "scale": scale, "items": its, "components": components}
    if formula is not None:
        d["formula"] = formula
    if threshold is not None:
        d["af"] = {"threshold": threshold}
    return hi.IndexSpec.from_dict(d)


def _check_single(est, exp, case, *, factor=1.0, offset=0.0):
    """Compare an Estimate with R's single-statistic block (optionally rescaled: py = offset + factor * r)."""
    assert close(est.estimate, offset + factor * r_number(exp["estimate"]), _tol(case, "estimate")), (est.estimate, exp)
    assert close(est.se, abs(factor) * r_number(exp["se"]), _tol(case, "se")), (est.se, exp["se"])
    if "ci_low" in exp and exp.get("ci_df", "Inf") == "Inf":
        lo, hi_ = est.confint(level=exp.get("ci_level", 0.95), df=math.inf)
        assert close(lo, offset + factor * r_number(exp["ci_low"]), _tol(case, "ci"))
        assert close(hi_, offset + factor * r_number(exp["ci_high"]), _tol(case, "ci"))


# ---------------------------------------------------------------------------
# nonlinear composites: 100 p1 p2 / p3, geometric means, Alkire-Foster
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", case_params("nonlinear_composite"))
def test_nonlinear_composite(case):
    design, data = build_design(case)
    opts = case["options"]
    rep_mode = "delta"  # R: svycontrast on the replicate covariance of the means
    if case["estimator"] == "alkire_foster":
        ind = opts["indicators"]
        spec = _spec(
            ind,
            "af_gnh",
            item_weights=opts["weights"],
            threshold=opts["threshold_k"],
            components=[{"name": "all", "items": list(ind)}],
        )
        res = hi.compute_index(data, spec, design=design, ci_scale="identity", replicate_variance=rep_mode)
        exp = case["expected"]
        _check_single(res.overall, exp, case)
        assert close(res.af["H_n"].estimate, exp["H_n"], 1e-9)
        assert close(res.af["H_n"].se, exp["H_n_se"], 1e-7)
        assert close(res.af["A_n"].estimate, exp["A_n"], 1e-9)
        assert close(res.af["A_n"].se, exp["A_n_se"], 1e-7)
        assert res.overall.df == exp["df"]
        return
    comps = opts["components"]
    expr = opts["expression"]
    if expr.startswith("100 * (") and expr.endswith(")^(1/3)"):
        spec = _spec(comps, "geometric", scale="percent")  # (c1 c2 c3)^(1/3) in percent
    else:
        assert expr == f"100 * {comps[0]} * {comps[1]} / {comps[2]}"
        spec = _spec(comps, "nef_ratio", scale="percent")  # c1 c2 / c3 in percent = 100 p1 p2 / p3
    res = hi.compute_index(data, spec, design=design, ci_scale="identity", replicate_variance=rep_mode)
    exp = case["expected"]
    _check_single(res.overall, exp, case)
    # the components and their joint covariance (percent = 100 x proportion)
    np.testing.assert_allclose(res.components.estimate, 100 * np.array(exp["component_means"]), rtol=1e-9)
    np.testing.assert_allclose(res.components.vcov_matrix(), 1e4 * np.array(exp["component_vcov"]), rtol=1e-7)
    assert res.overall.df == exp["df"]
    # the same number by the public transform of the component table (R's svycontrast)
    if not isinstance(design, hi.ReplicateDesign):
        t = res.components.transform(
            " * ".join(comps[:2]) + f" / {comps[2]}" if spec.preset == "nef_ratio" else f"({' * '.join(comps)})^(1/3)"
        )
        assert close(t.se, r_number(exp["se"]), 1e-7)


# ---------------------------------------------------------------------------
# Likert composites: mean score, share >= 4, linear composites, domains
# ---------------------------------------------------------------------------

_COMPOSITE_W = {"ind_schwide": 0.4, "ind_compimp": 0.3, "ind_api700": 0.2, "ind_meals50": 0.1}


def _likert_spec(case):
    """(spec, factor, offset) for a likert case driven through compute_index, or None."""
    est = case["estimator"]
    an = case["variables"].get("analysis") or []
    derived = [d["name"] for d in case["variables"].get("derived", [])]
    target = an[0] if an else derived[-1]
    if target == "composite" or est == "linear_combination_of_means":
        items = list(_COMPOSITE_W)
        return _spec(items, "mean_of_shares", comp_weights=list(_COMPOSITE_W.values())), 1.0, 0.0
    if target == "score5_ge4":
        return _spec(["score5_ge4"], "mean_of_shares"), 1.0, 0.0
    if target in ("score5", "ed5") and est in ("mean", "domain_mean"):
        # mean_score rescales a 1-5 item to 0-100: 100 (m - 1) / 4
        spec = _spec([target], "mean_score", scale="percent", item_type="likert5")
        return spec, 25.0, -25.0
    return None


@pytest.mark.parametrize("case", case_params("likert_composite"))
def test_likert_composite(case):
    design, data = build_design(case)
    exp = case["expected"]
    by = case["variables"].get("by")
    made = _likert_spec(case)
    if made is None:
        # distribution of the 1-5 score (factor means): through the design API
        assert case["estimator"] == "mean_of_factor"
        data2 = data.copy()
        data2["ed5f"] = data2["ed5"].map(lambda v: None if v != v else f"{int(v)}")
        d2 = hi.SurveyDesign(data2, **__import__("reference_helpers").taylor_kwargs(case["design"]))
        tab = d2.proportion("ed5f", na_rm=True)
        for row in exp["rows"]:
            lev = row["term"].replace("factor(ed5)", "")
            e = tab[f"ed5f={lev}"]
            assert close(e.estimate, row["estimate"], _tol(case, "estimate"))
            assert close(e.se, row["se"], _tol(case, "se"))
        return
    spec, factor, offset = made
    res = hi.compute_index(data, spec, design=design, by=by, ci_scale="identity")
    if case["estimator"] == "domain_difference":
        tab = res.by_group
        dv = exp["domain_vcov"]
        np.testing.assert_allclose(tab.vcov_matrix(), np.array(dv["matrix"]), rtol=1e-7)
        d = tab.contrast({"E": 1, "H": -1})
        _check_single(d, exp, case)
        return
    if "rows" in exp:
        tab = res.by_group
        assert len(tab) == len(exp["rows"])
        for row in exp["rows"]:
            (key,) = row["domain"].values()
            e = tab[str(key)]
            assert close(e.estimate, offset + factor * row["estimate"], _tol(case, "estimate")), (key, e, row)
            assert close(e.se, factor * row["se"], _tol(case, "se")), (key, e.se, row["se"])
            lo, hi_ = e.confint(df=math.inf)
            assert close(lo, offset + factor * row["ci_low"], _tol(case, "ci"))
            assert close(hi_, offset + factor * row["ci_high"], _tol(case, "ci"))
        return
    _check_single(res.overall, exp, case, factor=factor, offset=offset)
    if "df" in exp:
        assert res.overall.df == exp["df"]
    if "ci_t_low" in exp:
        # t(df) interval on the identity scale
        assert close(res.overall.ci_low, offset + factor * exp["ci_t_low"], 1e-7)
        assert close(res.overall.ci_high, offset + factor * exp["ci_t_high"], 1e-7)


# ---------------------------------------------------------------------------
# GSS happiness shares
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", case_params("gss_happiness"))
def test_gss_happiness(case):
    est = case["estimator"]
    exp = case["expected"]
    if est == "difference_of_proportions":
        data = load_data(case)
        out = {}
        for y in (2004, 2006):
            sub = data[data["year"] == y].reset_index(drop=True)
            d = hi.SurveyDesign(sub)
            res = hi.compute_index(sub, _spec(["happy_any"], "mean_of_shares"), design=d, ci_scale="identity")
            out[y] = res.overall
            assert close(res.overall.estimate, exp[f"p_{y}"], 1e-9)
            assert close(res.overall.se, exp[f"se_{y}"], 1e-7)
            assert res.overall.n == exp[f"n_{y}"]
        diff = out[2006].estimate - out[2004].estimate
        se = math.hypot(out[2006].se, out[2004].se)
        assert close(diff, exp["estimate"], 1e-9)
        assert close(se, exp["se"], 1e-7)
        assert close(diff - 1.959963984540054 * se, exp["ci_low"], 1e-7)
        return
    design, data = build_design(case)
    spec = _spec(["happy_any"], "mean_of_shares")
    if est == "domain_proportion_ci":
        # svyciprop(method="beta") by year: the design API (Korn-Graubard interval)
        tab = design.by(case["variables"]["by"]).proportion("happy_any", ci_method="beta")
        for row in exp["rows"]:
            e = tab[str(row["domain"]["year"])]
            assert close(e.estimate, row["estimate"], 1e-9)
            assert close(e.se, row["se"], 1e-7)
            assert close(e.ci_low, row["ci_low"], _tol(case, "ci"))
            assert close(e.ci_high, row["ci_high"], _tol(case, "ci"))
        return
    if est == "domain_proportion_confint":
        mask = data["year"] == 2006
        res = hi.compute_index(data, spec, design=design.subset(mask), ci_scale="identity")
        _check_single(res.overall, exp, case)
        assert res.overall.df == exp["df"]
        assert close(res.overall.ci_low, exp["ci_t_low"], 1e-7)
        assert close(res.overall.ci_high, exp["ci_t_high"], 1e-7)
        return
    assert est == "domain_proportion"
    by = case["variables"]["by"]
    res = hi.compute_index(data, spec, design=design, by=by, ci_scale="identity")
    tab = res.by_group
    assert len(tab) == len(exp["rows"])
    for row in exp["rows"]:
        label = ", ".join(str(v) for v in row["domain"].values())
        e = tab[label]
        assert close(e.estimate, row["estimate"], 1e-9), (label, e.estimate, row)
        assert close(e.se, row["se"], 1e-7), (label, e.se, row["se"])
        lo, hi_ = e.confint(df=math.inf)
        assert close(lo, row["ci_low"], 1e-7)
        assert close(hi_, row["ci_high"], 1e-7)
