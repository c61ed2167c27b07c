"""Hostile-input findings #5, #6, #9, #10 (part): na_rm degrees of freedom (as R), deff with unscaled
weights, adjust_nonresponse overwriting a column, silent NaN / unvalidated inputs.

Reference numbers from R ``survey`` (tests/data/hostile_x_reference.R -> .json).
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
from happiness_index.errors import DomainDfWarning, HappinessIndexWarning
from happiness_index.survey.variance import WeightScaleWarning

REF = json.loads((Path(__file__).parent / "data" / "hostile_x_reference.json").read_text(encoding="utf-8"))

BASE = pd.DataFrame(
    {"y": [1.0, 2, 3, 4, 5, 6, 7, 9], "w": [1.0, 2, 1, 2, 1, 2, 1, 2], "s": list("aabbccdd"), "p": range(1, 9)}
)


def _design(d: pd.DataFrame) -> hi.SurveyDesign:
    return hi.SurveyDesign(d, weights="w", strata="s", psu="p")


# --------------------------------------------------------------------------- #6 na_rm df
# R's svymean/svytotal/svyciprop(na.rm=TRUE) keep the design's df (degf(design), not that of
# subset(!is.na(x))): the library follows R, except that rows with the value inside one PSU
# give df 0 and a NaN interval (never the zero-width interval se = 0 would give)
def test_na_rm_mean_as_r():
    d = BASE.assign(x=[1, 3] + [np.nan] * 6)
    est = _design(d).mean("x", na_rm=True)
    ref = REF["narm_mean"]
    assert est.df == ref["df"] == 4 and ref["df_nonmissing"] == 1
    assert est.estimate == pytest.approx(ref["estimate"], rel=1e-12)
    assert est.se == pytest.approx(ref["se"], rel=1e-10)
    assert (est.ci_low, est.ci_high) == pytest.approx((ref["ci_low"], ref["ci_high"]), rel=1e-9)


def test_na_rm_total_as_r():
    d = BASE.assign(x2=[1, 2, np.nan, 4, 5, 6, 7, 8])
    est = _design(d).total("x2", na_rm=True)
    ref = REF["narm_total"]
    assert est.df == ref["df"] == 4
    assert est.estimate == pytest.approx(ref["estimate"], rel=1e-12)
    assert est.se == pytest.approx(ref["se"], rel=1e-10)
    assert (est.ci_low, est.ci_high) == pytest.approx((ref["ci_low"], ref["ci_high"]), rel=1e-9)


def test_na_rm_df_same_for_every_estimator():
    d = BASE.assign(x=[1, 2, np.nan, 4, 5, 6, 7, 8], b=[1, 0, np.nan, 1, 0, 1, 1, 0], z=[2.0] * 8)
    des = _design(d)
    assert des.mean("x", na_rm=True).df == des.df == 4
    assert des.total("x", na_rm=True).df == des.df
    assert des.ratio("x", "z", na_rm=True).df == des.df
    for method in ("logit", "beta", "xlogit", "wald"):
        assert des.proportion("b", na_rm=True, ci_method=method).df == des.df, method


def test_na_rm_one_value_gives_nan_interval_with_warning():
    d = BASE.assign(x=[1] + [np.nan] * 7)
    with pytest.warns(DomainDfWarning):
        est = _design(d).mean("x", na_rm=True)
    assert est.df == 0
    assert math.isnan(est.ci_low) and math.isnan(est.ci_high)


# --------------------------------------------------------------------------- #5 deff scale
def test_deff_matches_r_with_expansion_weights():
    des = _design(BASE)
    assert des.mean("y", deff=True).deff == pytest.approx(REF["deff_mean_scale1"]["deff"], rel=1e-9)
    assert des.mean("y", deff="replace").deff == pytest.approx(REF["deff_replace_mean"]["deff"], rel=1e-9)


@pytest.mark.parametrize("scale", [1e-3, 0.5, None])  # None: weights normalised to sum n
@pytest.mark.parametrize("stat", ["mean", "total", "ratio", "proportion"])
def test_deff_unscaled_weights_warn_and_nan(scale, stat):
    d = BASE.assign(w=1.0 if scale is None else BASE.w * scale, z=2.0, b=[1, 0, 1, 1, 0, 0, 1, 0])
    des = _design(d)
    call = {
        "mean": lambda: des.mean("y", deff=True),
        "total": lambda: des.total("y", deff=True),
        "ratio": lambda: des.ratio("y", "z", deff=True),
        "proportion": lambda: des.proportion("b", deff=True),
    }[stat]
    with pytest.warns(WeightScaleWarning, match=r"deff='replace'") as rec:
        res = call()
    assert issubclass(rec[0].category, HappinessIndexWarning)
    assert rec[0].filename == __file__  # points at the caller's line
    deffs = [res.deff] if isinstance(res, hi.Estimate) else [e.deff for e in res]
    assert all(math.isnan(x) for x in deffs)
    # with replacement the design effect does not depend on the scale of the weights
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeightScaleWarning)
        dr = des.mean("y", deff="replace").deff
    assert math.isfinite(dr) and dr > 0
    if scale is not None:
        assert dr == pytest.approx(REF["deff_replace_mean"]["deff"], rel=1e-9)


def test_deff_by_domain_never_negative_or_inf():
    d = BASE.assign(w=BASE.w / 10)
    with pytest.warns(WeightScaleWarning):
        t = _design(d).by("s").mean("y", deff=True)
    vals = t.to_frame()["deff"].to_numpy()
    assert not np.isinf(vals).any() and not (vals < 0).any()


# --------------------------------------------------------------------------- #9 adjust_nonresponse
@pytest.mark.parametrize("name", ["y", "w", "r", "y "])
def test_adjust_nonresponse_refuses_existing_column(name):
    bb = BASE.assign(r=[1, 0, 1, 1, 0, 1, 1, 1])
    before = bb.copy()
    with pytest.raises(hi.HappinessIndexError, match=r"already a column.*new_weight="):
        hi.adjust_nonresponse(bb, "r", classes="s", weights="w", new_weight=name)
    pd.testing.assert_frame_equal(bb, before)


def test_adjust_nonresponse_new_column_ok():
    bb = BASE.assign(r=[1, 0, 1, 1, 0, 1, 1, 1])
    out = hi.adjust_nonresponse(bb, "r", classes="s", weights="w")
    assert list(out.columns) == [*bb.columns, "weight_nr"]
    assert out["weight_nr"].sum() == pytest.approx(bb["w"].sum())
    with pytest.raises(hi.HappinessIndexError, match="non-empty column name"):
        hi.adjust_nonresponse(bb, "r", classes="s", weights="w", new_weight=3)


# --------------------------------------------------------------------------- #10 small holes
@pytest.mark.parametrize(
    "items, why",
    [
        (pd.DataFrame({"a": [1, np.nan, 3], "b": [2, 2, np.nan]}), "at least 2 respondents"),
        (pd.DataFrame({"a": [1, 2, 3]}), "at least 2 items"),
        (pd.DataFrame({"a": [1, 1, 1], "b": [2, 2, 2]}), "no variance"),
    ],
)
def test_cronbach_alpha_nan_says_why(items, why):
    with pytest.warns(HappinessIndexWarning, match=why):
        assert math.isnan(hi.cronbach_alpha(items))


def test_cronbach_alpha_empty_table_refused_and_defined_alpha_silent():
    with pytest.raises(hi.HappinessIndexError, match="no columns"):
        hi.cronbach_alpha(pd.DataFrame())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hi.cronbach_alpha(pd.DataFrame({"a": [1, 2, 3], "b": [2, 2, 4]})) == pytest.approx(12 / 13)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"cluster_size": 0}, "cluster_size"),
        ({"cluster_size": 2.5}, "cluster_size"),
        ({"cluster_size": True}, "cluster_size"),
        ({"rho": 2}, "rho"),
        ({"rho": -0.1}, "rho"),
        ({"previous_cluster_size": 0, "rho": 0.1}, "previous_cluster_size"),
        ({"sigma2_u": -1.0}, "sigma2_u"),
        ({"extra_coef": float("nan")}, "extra_coef"),
        ({"units": ["A"]}, "units"),
    ],
)
def test_commune_precision_plan_validates(kw, match):
    with pytest.raises(hi.HappinessIndexError, match=match):
        hi.commune_precision_plan([1, 2], [100, 100], **kw)


def test_commune_precision_plan_unreachable_warns():
    with pytest.warns(HappinessIndexWarning, match="cannot reach"):
        plan = hi.commune_precision_plan(pd.Series([1e6, 2.0], index=["Far", "Near"]), [100, 100])
    assert math.isnan(plan["villages_direct"].iloc[0]) and plan["villages_direct"].iloc[1] > 0


@pytest.mark.parametrize(
    "labels", [[1, "1", 2, 3, 4, 5], ["Hà", "Ha\u0300", "B", "C", "D", "E"], ["A", "A ", 2, 3, 4, 5]]
)
def test_fay_herriot_refuses_labels_printing_the_same(labels):
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"a": labels, "y": rng.normal(size=6), "v": 0.5, "x": rng.normal(size=6)})
    with pytest.raises(hi.HappinessIndexError, match="print the same"):
        hi.fay_herriot(d, "y", "v", ["x"], area="a")
    with pytest.raises(hi.HappinessIndexError, match="print the same"):
        hi.fay_herriot(d.set_index("a"), "y", "v", ["x"])


def test_commune_precision_plan_takes_last_years_average_cluster_size():
    # last year's households per village is often an average (12.5); this year's plan is whole
    a = hi.commune_precision_plan([1, 2], [100, 100], cluster_size=12, previous_cluster_size=12.5, rho=0.05)
    b = hi.commune_precision_plan([1, 2], [100, 100], cluster_size=12, previous_cluster_size=12, rho=0.05)
    # last year's clusters were larger: its design effect was larger, so no more villages are needed
    assert (a["villages_direct"] <= b["villages_direct"]).all()
    with pytest.raises(hi.HappinessIndexError, match="previous_cluster_size"):
        hi.commune_precision_plan([1, 2], [100, 100], previous_cluster_size=0.5, rho=0.05)
