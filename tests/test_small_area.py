"""Fay–Herriot beyond the R cases (out of sample, boundary, arcsine, GVF, benchmarking MSE,
errors, invariants), rank intervals, the commune small-area index, crosswalks and precision plans."""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import happiness_index as hi
from happiness_index.index.ranks import describe_rank
from happiness_index.survey.small_area import arcsine_back_transform

ROOT = Path(__file__).resolve().parents[1]
CASES = {c["id"]: c for c in json.loads((ROOT / "tests" / "reference" / "small_area.json").read_text("utf-8"))["cases"]}


def milk() -> pd.DataFrame:
    c = CASES["milk_reml"]
    df = pd.DataFrame(c["data"])
    for k in (2, 3, 4):
        df[f"MajorArea{k}"] = (df["MajorArea"] == k).astype(float)
    return df


COV = ["MajorArea2", "MajorArea3", "MajorArea4"]


# ---------------------------------------------------------------- Fay–Herriot


@pytest.mark.parametrize("method", ["REML", "ML", "FH"])
def test_out_of_sample_areas_get_the_synthetic_estimate(method):
    df = milk()
    out = [4, 20, 41]
    df2 = df.copy()
    df2.loc[out, "y"] = np.nan
    before = df2.copy()
    fit = hi.fay_herriot(df2, "y", "D", COV, area="area", method=method)
    pd.testing.assert_frame_equal(df2, before)  # input untouched
    sub = hi.fay_herriot(df.drop(index=out), "y", "D", COV, area="area", method=method)
    assert fit.sigma2_u == pytest.approx(sub.sigma2_u, rel=1e-10)
    np.testing.assert_allclose(fit.beta, sub.beta, rtol=1e-10)
    f = fit.to_frame()
    X = np.column_stack([np.ones(len(df)), df[COV].to_numpy()])
    Q = fit._Q
    for i in out:
        row = f.loc[df.loc[i, "area"]]
        assert not row["in_sample"] and math.isnan(row["direct"]) and math.isnan(row["gamma"])
        assert row["estimate"] == pytest.approx(X[i] @ fit.beta.to_numpy(), rel=1e-12)
        assert row["mse"] == pytest.approx(fit.sigma2_u + X[i] @ Q @ X[i], rel=1e-12)
    ins = f[f["in_sample"]]
    pd.testing.assert_series_equal(ins["estimate"], sub.to_frame()["estimate"], rtol=1e-9)


def test_boundary_sigma2_zero_is_reported_not_an_error():
    rng = np.random.default_rng(3)
    m = 30
    x = rng.normal(size=m)
    D = np.full(m, 4.0)
    y = 1 + 2 * x + rng.normal(0, 0.3, m)  # far less spread than D: sigma2_u = 0
    df = pd.DataFrame({"y": y, "D": D, "x": x})
    for method in ("REML", "ML", "FH"):
        fit = hi.fay_herriot(df, "y", "D", ["x"], method=method)
        assert fit.sigma2_u == 0.0 and fit.boundary
        f = fit.to_frame()
        assert (f["gamma"] == 0).all()
        np.testing.assert_allclose(f["estimate"], f["synthetic"])
        assert (f["mse"] > 0).all()
        r = y - (fit.beta["Intercept"] + fit.beta["x"] * x)
        assert fit.loglik == pytest.approx(-0.5 * np.sum(np.log(2 * np.pi * D) + r**2 / D), rel=1e-12)
    fit = hi.fay_herriot(df, "y", "D", ["x"], method="REML")
    f = fit.to_frame()
    np.testing.assert_allclose(f["mse"], f["g2"] + 2 * f["g3"])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), method=st.sampled_from(["REML", "ML", "FH"]))
def test_eblup_lies_between_direct_and_synthetic(seed, method):
    rng = np.random.default_rng(seed)
    m = 12
    x = rng.uniform(0, 1, m)
    D = rng.uniform(0.5, 3, m)
    y = 2 + x + rng.normal(0, 1, m) + rng.normal(0, np.sqrt(D))
    fit = hi.fay_herriot(pd.DataFrame({"y": y, "D": D, "x": x}), "y", "D", ["x"], method=method)
    f = fit.to_frame()
    assert fit.sigma2_u >= 0
    assert ((f["gamma"] >= 0) & (f["gamma"] <= 1)).all()
    lo = np.minimum(f["direct"], f["synthetic"]) - 1e-9
    hi_ = np.maximum(f["direct"], f["synthetic"]) + 1e-9
    assert ((f["estimate"] >= lo) & (f["estimate"] <= hi_)).all()
    if method == "REML":
        assert (f["mse"] >= f["g1"] - 1e-12).all()
    M = fit.mse_matrix().to_numpy()
    np.testing.assert_allclose(np.diag(M), f["mse"], rtol=1e-10)


def test_benchmark_mse_effect_and_weights():
    c = CASES["commune_share_reml_urban"]
    df = pd.DataFrame(c["data"])
    fit = hi.fay_herriot(df, "y", "D", ["urban_share"], area="area")
    d = fit.benchmark(total=59.49, method="difference")
    g4 = d["mse"] - d["mse_unbenchmarked"]
    assert np.ptp(g4) < 1e-12 and g4.iloc[0] > 0  # one common term
    r = fit.benchmark(total=59.49, weights=df["pop_share"].to_numpy(), method="ratio")
    assert df["pop_share"].to_numpy() @ r["estimate"].to_numpy() == pytest.approx(59.49, rel=1e-12)
    with pytest.raises(hi.EstimationError, match="sum to"):
        fit.benchmark(total=59.49, weights=np.full(17, 1.0))
    with pytest.raises(hi.EstimationError, match="not in the table"):
        fit.benchmark(total=59.49, weights="households")
    with pytest.raises(hi.EstimationError, match="ratio"):
        fit.benchmark(total=59.49, method="raking")


def test_arcsine_transformation_for_shares():
    rng = np.random.default_rng(5)
    m = 20
    n = rng.integers(40, 300, m)
    x = rng.uniform(0, 1, m)
    p = np.clip(0.5 + 0.3 * (x - 0.5) + rng.normal(0, 0.05, m), 0.05, 0.95)
    y = np.clip(p + rng.normal(0, np.sqrt(p * (1 - p) / n)), 0.01, 0.99)
    df = pd.DataFrame({"y": y, "D": y * (1 - y) / n, "n": n, "x": x})
    a = hi.fay_herriot(df, "y", "D", ["x"], transform="arcsine", effective_n="n", bootstrap=200, seed=1)
    b = hi.fay_herriot(df, "y", "D", ["x"], transform="arcsine", effective_n="n", bootstrap=200, seed=1)
    fa = a.to_frame()
    pd.testing.assert_frame_equal(fa, b.to_frame())  # seeded
    assert ((fa["estimate"] >= 0) & (fa["estimate"] <= 1)).all() and (fa["mse"] > 0).all()
    np.testing.assert_allclose(fa["direct"], y)
    # the closed-form back-transformation is E[sin^2 T], T ~ N(theta, v)
    th, v = 0.9, 0.02
    num = integrate.quad(lambda t: np.sin(t) ** 2 * stats.norm.pdf(t, th, math.sqrt(v)), -5, 5)[0]
    assert arcsine_back_transform(th, v) == pytest.approx(num, rel=1e-9)
    with pytest.raises(hi.EstimationError, match="shares in"):
        hi.fay_herriot(df.assign(y=df["y"] * 100), "y", "D", ["x"], transform="arcsine")


def test_gvf_smoothing():
    D = np.array([4.0, 9.0, 1.0, 16.0])
    s = hi.gvf_smooth(D, np.full(4, 200))
    assert np.ptp(s) == 0 and s.mean() == pytest.approx(D.mean())  # pooled, smearing-unbiased
    n = np.array([50, 100, 200, 400])
    s2 = hi.gvf_smooth(100 / n * np.array([1.1, 0.9, 1.05, 0.95]), n)
    assert np.all(np.diff(s2) < 0)
    with pytest.raises(hi.EstimationError, match="rows at fault"):
        hi.gvf_smooth([1.0, -1.0, 2.0], [10, 10, 10])


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(estimate="nope"), "not in the table"),
        (dict(method="GLS"), "method"),
        (dict(covariates=["MajorArea2", "MajorArea2"]), "twice"),
        (dict(covariates=["MajorArea2", "MajorArea3", "MajorArea4", "one"]), "collinear"),
    ],
)
def test_bad_input_raises_library_errors(kw, match):
    df = milk().assign(one=1.0)
    args = dict(estimate="y", variance="D", covariates=COV, area="area") | kw
    with pytest.raises(hi.EstimationError, match=match):
        hi.fay_herriot(df, **args)


def test_bad_rows_are_named():
    df = milk()
    with pytest.raises(hi.EstimationError, match="> 0"):
        hi.fay_herriot(df.assign(D=df["D"].where(df.index != 3, -1.0)), "y", "D", COV, area="area")
    with pytest.raises(hi.EstimationError, match="missing for areas"):
        hi.fay_herriot(df.assign(MajorArea2=df["MajorArea2"].where(df.index != 3)), "y", "D", COV, area="area")
    with pytest.raises(hi.EstimationError, match="unique"):
        hi.fay_herriot(df.assign(area=1), "y", "D", COV, area="area")
    with pytest.raises(hi.EstimationError, match="cannot fit"):
        hi.fay_herriot(df.head(4), "y", "D", COV, area="area")
    with pytest.raises(hi.EstimationError, match="DataFrame"):
        hi.fay_herriot(df.to_numpy(), "y", "D", COV)


def test_diagnostics():
    fit = hi.fay_herriot(milk(), "y", "D", COV, area="area")
    d = fit.diagnostics()
    assert {"std_residual", "shrinkage", "within_direct_ci", "precise"} <= set(d.columns)
    np.testing.assert_allclose(d["gamma"] + d["shrinkage"], 1)
    s = d.attrs["summary"]
    assert s["aic"] == pytest.approx(-2 * fit.loglik + 2 * 5)
    assert 0 <= s["shapiro_p_std_residuals"] <= 1


# ---------------------------------------------------------------- rank intervals


def test_rank_intervals_basic_properties():
    est = pd.Series([70, 72, 72, 80, 60, 65.0], index=list("ABCDEF"))
    r = hi.rank_intervals(est, np.diag([4, 4, 4, 9, 16, 1.0]), draws=2000, seed=1)
    assert list(r.columns) == ["unit", "estimate", "rank", "rank_low", "rank_high", "rank_low_sim", "rank_high_sim"]
    b, c = r.iloc[1], r.iloc[2]
    assert (b["rank_low"], b["rank_high"]) == (c["rank_low"], c["rank_high"])  # equal -> same range
    assert ((r["rank_low_sim"] <= r["rank_low"]) & (r["rank_high"] <= r["rank_high_sim"])).all()
    assert ((r["rank_low"] <= r["rank"]) & (r["rank"] <= r["rank_high"])).all()
    assert r.loc[r["unit"] == "D", "rank"].item() == 1
    pd.testing.assert_frame_equal(r, hi.rank_intervals(est, np.diag([4, 4, 4, 9, 16, 1.0]), draws=2000, seed=1))
    low = hi.rank_intervals(est, np.diag([4, 4, 4, 9, 16, 1.0]), draws=2000, seed=1, higher_is_better=False)
    assert low.loc[low["unit"] == "E", "rank"].item() == 1


def test_rank_intervals_precise_estimates_pin_ranks():
    r = hi.rank_intervals([10.0, 20, 30, 40], np.eye(4) * 1e-4, draws=500)
    assert (r["rank_low_sim"] == r["rank"]).all() and (r["rank_high_sim"] == r["rank"]).all()
    assert r["rank"].tolist() == [4, 3, 2, 1]
    assert describe_rank(3, 1, 7) == ("3rd, between 1st and 7th", "hạng 3, trong khoảng 1–7")


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), shift=st.floats(-50, 50))
def test_rank_intervals_equivariant(seed, shift):
    rng = np.random.default_rng(seed)
    est = rng.normal(70, 5, 8)
    var = rng.uniform(1, 9, 8)
    r = hi.rank_intervals(est, var, draws=400, seed=3)
    moved = hi.rank_intervals(est + shift, var, draws=400, seed=3)
    cols = ["rank", "rank_low", "rank_high", "rank_low_sim", "rank_high_sim"]
    pd.testing.assert_frame_equal(r[cols], moved[cols])
    assert ((r["rank_low"] <= r["rank"]) & (r["rank"] <= r["rank_high"])).all()
    flipped = hi.rank_intervals(-est, var, draws=400, seed=3, higher_is_better=False)
    pd.testing.assert_frame_equal(r[cols], flipped[cols])


def test_rank_intervals_errors():
    with pytest.raises(hi.EstimationError, match="positive semi-definite"):
        hi.rank_intervals([1.0, 2.0], [[1, 2], [2, 1]])
    with pytest.raises(hi.EstimationError, match="shape"):
        hi.rank_intervals([1.0, 2.0, 3.0], np.eye(2))
    with pytest.raises(hi.EstimationError, match="missing"):
        hi.rank_intervals([1.0, np.nan], np.eye(2))


# ---------------------------------------------------------------- the commune small-area index


@pytest.fixture(scope="module")
def city2024():
    spec = hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
    clean = hi.validate_survey(hi.load_city_survey(2024), spec, frame=hi.load_city_frame()).data
    return spec, clean, hi.compute_index(clean, spec, by="commune", diagnostics=False)


def test_small_area_index_contract_and_worked_example(city2024):
    _, _, res = city2024
    cov = hi.load_city_commune_covariates()
    before = cov.copy()
    nfd = cov.assign(commune=cov["commune"].map(lambda v: unicodedata.normalize("NFD", v)))
    sa = hi.small_area_index(res, cov)
    pd.testing.assert_frame_equal(hi.small_area_index(res, nfd).to_frame(), sa.to_frame())
    pd.testing.assert_frame_equal(cov, before)
    f = sa.to_frame()
    assert list(f.columns) == [
        "unit",
        "name",
        "direct",
        "direct_ci_low",
        "direct_ci_high",
        "model",
        "model_ci_low",
        "model_ci_high",
        "mse",
        "gamma",
        "published",
        "reason_en",
        "reason_vi",
        "rank",
        "rank_low",
        "rank_high",
    ]
    assert set(f["published"]) <= {"direct", "model", "none"}
    w = cov.set_index("commune")["households"].reindex(f["unit"]).to_numpy()
    assert (w / w.sum()) @ f["model"].to_numpy() == pytest.approx(res.overall.estimate, rel=1e-12)
    model = f[f["published"] == "model"]
    assert (1.959963984540054 * np.sqrt(model["mse"]) <= 10).all()
    assert ((f["rank_low"] <= f["rank"]) & (f["rank"] <= f["rank_high"])).all()
    # the worked example of methodology/small_area.md
    s = sa.summary
    assert (s["direct_rule_publishable"], s["published_model"], s["published_none"]) == (0, 17, 0)
    assert sa.fit.sigma2_u == pytest.approx(10.786, abs=5e-4)
    row = f.set_index("unit").loc["Nam Cường"]
    assert (round(row["direct"], 2), round(row["model"], 2), round(math.sqrt(row["mse"]), 2)) == (68.15, 71.01, 3.78)
    assert "nửa độ rộng KTC" in row["reason_vi"] and "," in row["reason_vi"]
    fr = sa.fit.to_frame().loc["Nam Cường"]
    assert (round(fr["gamma"], 3), round(fr["synthetic"], 2), round(fr["estimate"], 2)) == (0.332, 71.73, 70.54)
    assert round(sa.fit.loglik, 2) == -52.21 and round(row["model_ci_low"], 2) == 63.60
    assert (round(s["mean_mse_over_direct_variance"], 2), round(s["mean_abs_shift_points"], 2)) == (0.81, 2.95)
    assert round(sa.benchmark["weighted_direct"], 3) == 76.925
    d = json.loads(json.dumps(sa.to_dict()))
    assert d["model"]["method"] == "REML" and len(d["table"]) == 17
    # section 11: households for a +/-10-point commune interval (examples/design_city_sample.py step 7)
    bg = res.by_group.to_frame().set_index("commune")
    inputs = hi.model_plan_inputs(sa.fit)
    plan = hi.commune_precision_plan(bg["se"], bg["n"], 10.0, **inputs)
    floor = hi.commune_precision_plan(bg["se"], bg["n"], 10.0, min_villages=5, **inputs)
    assert (plan["households_direct"].sum(), plan["households_model"].sum(), floor["households_model"].sum()) == (
        4800,
        1360,
        3400,
    )


def test_small_area_index_out_of_sample_commune_and_errors(city2024):
    _, _, res = city2024
    cov = hi.load_city_commune_covariates()
    extra = pd.DataFrame(
        {
            "commune": ["Xã Mới"],
            "commune_type": ["xã"],
            "ward": [0],
            "households": [900],
            "pop_share": [0.0],
            "poverty_rate_pct": [12.0],
            "note": ["test"],
        }
    )
    sa = hi.small_area_index(res, pd.concat([cov, extra], ignore_index=True), benchmark=None)
    row = sa.details.set_index("unit").loc["Xã Mới"]
    assert not row["in_sample"] and row["published"] == "none" and "not sampled" in row["reason_en"]
    with pytest.raises(hi.EstimationError, match="no covariates for communes"):
        hi.small_area_index(res, cov.iloc[1:])
    with pytest.raises(hi.EstimationError, match="not in the covariates"):
        hi.small_area_index(res, cov, predictors=["income"])
    with pytest.raises(hi.EstimationError, match="prefer"):
        hi.small_area_index(res, cov, prefer="best")


# ---------------------------------------------------------------- crosswalks


def test_crosswalk_reestimates_an_earlier_year_on_new_units(city2024):
    spec, clean, _ = city2024
    cw = hi.load_illustrative_crosswalk()
    assert cw["note"].str.contains("ILLUSTRATIVE").all()
    new = hi.index_on_new_units(clean, spec, cw, diagnostics=False)
    assert new.flags["complete"].all()
    bg = new.result.by_group.to_frame()
    assert bg["new_unit"].tolist() == ["N1", "N2", "N3", "N4"]
    assert bg["n"].sum() == len(clean)
    # a merged unit is a domain of the design: same as the design's own domain estimate of the recoded column
    recoded, _ = hi.recode_to_new_units(clean, cw)
    direct = hi.compute_index(recoded, spec, by="new_unit", diagnostics=False).by_group.to_frame()
    np.testing.assert_allclose(bg["estimate"], direct["estimate"])
    old = hi.validate_survey(hi.load_city_survey(2023), spec, frame=hi.load_city_frame()).data
    last = hi.index_on_new_units(old, spec, cw, diagnostics=False)
    ch = hi.compare(new.result, last.result, labels=("2024", "2023"))
    per_unit = ch.by_group.to_frame()
    assert len(per_unit) == 4 and per_unit["change_pp"].notna().all()
    plan = hi.Trajectory({2022: 72.7, 2023: 76.0, 2025: 84.6}).assess({2023: last.result, 2024: new.result})
    assert list(plan.table["year"]) == [2022, 2023, 2024, 2025]


def test_crosswalk_unmapped_split_and_unsampled_parts_are_flagged(city2024):
    _, clean, _ = city2024
    cw = hi.load_illustrative_crosswalk()
    cw2 = pd.concat(
        [
            cw[cw["old_unit"] != "Tuy Lộc"],
            pd.DataFrame(
                {
                    "old_unit": ["Tuy Lộc"] * 2,
                    "village": ["", ""],
                    "new_unit": ["N3", "N4"],
                    "new_name": ["n3", "n4"],
                    "share": [0.6, 0.4],
                }
            ),
        ],
        ignore_index=True,
    )
    recoded, flags = hi.recode_to_new_units(clean, cw2)
    assert (recoded.loc[clean["commune"] == "Tuy Lộc", "new_unit"] == "(unassigned) Tuy Lộc").all()
    f = flags.set_index("new_unit")
    assert not f.loc["N3", "complete"] and "village-level mapping" in f.loc["N3", "reason_en"]
    assert f.loc["N1", "complete"]
    _, flags = hi.recode_to_new_units(clean[clean["commune"] != "Đồng Tâm"], cw)
    assert "only 4 of 5 parts" in flags.set_index("new_unit").loc["N1", "reason_en"]


def test_crosswalk_errors(city2024):
    _, clean, _ = city2024
    cw = hi.load_illustrative_crosswalk()
    with pytest.raises(hi.EstimationError, match="not in the crosswalk"):
        hi.recode_to_new_units(clean, cw[cw["old_unit"] != "Đồng Tâm"])
    sampled = clean.loc[clean["commune"] == "Tuy Lộc", "village"].iloc[0]
    with pytest.raises(hi.EstimationError, match="not in the village mapping"):
        hi.recode_to_new_units(clean, cw[cw["village"] != sampled])
    bad = cw.copy()
    bad.loc[0, "share"] = 0.5
    with pytest.raises(hi.EstimationError, match="add up to"):
        hi.read_crosswalk(bad)
    with pytest.raises(hi.EstimationError, match="share"):
        hi.read_crosswalk(cw.assign(share=2.0))


# ---------------------------------------------------------------- precision planning


def test_commune_precision_plan():
    se = pd.Series([6.0, 3.0], index=["A", "B"])
    plan = hi.commune_precision_plan(se, 200, 10.0, sigma2_u=10.0, extra_coef=10.0)

    # direct: t_{k-1} sqrt(se^2 * 200 / (40 k)) <= 10, smallest k
    def hw(k, se):
        return stats.t.ppf(0.975, k - 1) * math.sqrt(se**2 * 200 / (40 * k))

    for r in plan.itertuples():
        k = r.villages_direct
        assert hw(k, r.se_previous) <= 10 < hw(k - 1, r.se_previous) or k == 2
        assert r.villages_model <= r.villages_direct
    with pytest.raises(hi.SamplingError, match="rho"):
        hi.commune_precision_plan(se, 200, cluster_size=20, previous_cluster_size=40)
    smaller = hi.commune_precision_plan(se, 200, cluster_size=20, previous_cluster_size=40, rho=0.05)
    assert (smaller["villages_direct"] >= plan["villages_direct"]).all()


def _slow_case(seed, spread=True):
    rng = np.random.default_rng(seed)
    if not spread:  # the hypothesis example of test_eblup_lies_between_direct_and_synthetic
        m = 12
        x, D = rng.uniform(0, 1, m), rng.uniform(0.5, 3, m)
        return pd.DataFrame({"y": 2 + x + rng.normal(0, 1, m) + rng.normal(0, np.sqrt(D)), "D": D, "x": x})
    m = int(rng.integers(5, 40))
    x = rng.uniform(0, 1, m)
    D = rng.uniform(0.1, 3, m) * rng.choice([0.01, 1, 100])
    y = 2 + x + rng.normal(0, rng.choice([0.01, 0.3, 1, 3]), m) + rng.normal(0, np.sqrt(D))
    return pd.DataFrame({"y": y, "D": D, "x": x})


def _profile_loglik(s, X, y, D, restricted):
    V = s + D
    XtWX = X.T @ (X / V[:, None])
    r = y - X @ np.linalg.solve(XtWX, X.T @ (y / V))
    return -0.5 * (np.log(V).sum() + (np.linalg.slogdet(XtWX)[1] if restricted else 0.0) + (r * r / V).sum())


@pytest.mark.parametrize(
    "seed, spread, method",
    [
        (3728, False, "ML"),  # root near 0: Fisher scoring at rate 0.93 (300 steps before)
        (509, True, "REML"),  # scoring cycled between 0 and 0.537 for ever
        (1182, True, "REML"),  # the same cycle
        (509, True, "ML"),  # alternating steps shrinking at rate 0.996 (6,500 steps before)
        (377, True, "ML"),  # the root bracketed to adjacent floats: a step cannot move
    ],
)
def test_variance_fits_that_scoring_alone_did_not_finish(seed, spread, method):
    df = _slow_case(seed, spread)
    fit = hi.fay_herriot(df, "y", "D", ["x"], method=method)  # raised "did not converge" before
    X = np.column_stack([np.ones(len(df)), df["x"]])
    y, D = df["y"].to_numpy(), df["D"].to_numpy()
    grid = np.linspace(0, 3 * max(fit.sigma2_u, 1e-3), 3001)
    ll = [_profile_loglik(g, X, y, D, method == "REML") for g in grid]
    best = _profile_loglik(fit.sigma2_u, X, y, D, method == "REML")
    assert best >= max(ll) - 1e-9  # the maximum of the (restricted) likelihood on [0, inf)
