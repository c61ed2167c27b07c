"""Tests of hi.item_distributions: answer distributions with joint covariance, against the
design's own proportion() and R survey's svymean(~factor(x)); ONS bands; the [distributions]
table of a spec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import happiness_index as hi
from happiness_index.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "data" / "distributions" / "r_item_distributions.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def survey():
    return hi.load_city_survey(2024)


@pytest.fixture(scope="module")
def spec():
    return hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")


@pytest.fixture(scope="module")
def design(survey):
    return hi.SurveyDesign(survey, weights="weight", strata="commune", psu="village", nest=True)


@pytest.fixture(scope="module")
def table(design, spec):
    return hi.item_distributions(design, spec, by="commune")


def test_frame_columns(table):
    f = table.to_frame()
    assert list(f.columns[:8]) == ["group", "item", "label_en", "label_vi", "category", "share", "ci_low", "ci_high"]
    assert list(table.summary.columns[:5]) == ["group", "item", "mean", "median", "p90_p10"]
    assert len(f) == 8 * 18 * 5
    sums = f.groupby(["group", "item"])["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-12)
    assert (f["ci_low"] <= f["share"]).all() and (f["share"] <= f["ci_high"]).all()
    # Likert codes are ordinal labels: no 90/10 ratio
    assert table.summary["p90_p10"].isna().all()
    assert table.bands.empty


@pytest.mark.parametrize("item", ["ls_income", "le_rating", "env_services"])
def test_matches_r_svymean_factor(table, item):
    ref = REF[item]
    f = table.to_frame()
    city = f[(f["group"] == "city") & (f["item"] == item)]
    np.testing.assert_allclose(city["share"], ref["share"], rtol=1e-10)
    np.testing.assert_allclose(city["se"], ref["se"], rtol=1e-8)
    np.testing.assert_allclose(table.vcov("city", item).to_numpy(), np.array(ref["vcov"]), rtol=1e-8, atol=1e-15)
    s = table.summary.set_index(["group", "item"]).loc[("city", item)]
    assert s["mean"] == pytest.approx(ref["mean"], rel=1e-10)
    assert s["mean_se"] == pytest.approx(np.ravel(ref["mean_se"])[0], rel=1e-8)
    assert s["df"] == ref["df"]
    for row in ref["by_commune"]:
        g = f[(f["group"] == row["commune"]) & (f["item"] == item)]
        np.testing.assert_allclose(g["share"], row["share"], rtol=1e-10)
        np.testing.assert_allclose(g["se"], row["se"], rtol=1e-8)


def _categorical_design(survey, item, replicate=False):
    s = survey.copy()
    s["cat"] = pd.Categorical(s[item].where(s[item] < 8), categories=[1, 2, 3, 4, 5])
    d = hi.SurveyDesign(s, weights="weight", strata="commune", psu="village", nest=True)
    return d.to_replicates("jkn") if replicate else d


@pytest.mark.parametrize("replicate", [False, True])
def test_matches_design_proportion(survey, spec, design, replicate):
    d = design.to_replicates("jkn") if replicate else design
    tab = hi.item_distributions(d, spec, by="commune", items="ls_health", ci_method="logit")
    ref = _categorical_design(survey, "ls_health", replicate)
    f = tab.to_frame()
    city = ref.proportion("cat", na_rm=True).to_frame()
    mine = f[f["group"] == "city"]
    for col in ("share", "se", "ci_low", "ci_high", "df", "n"):
        theirs = city["estimate" if col == "share" else col].to_numpy(dtype=float)
        np.testing.assert_allclose(mine[col].to_numpy(dtype=float), theirs, rtol=1e-9, err_msg=col)
    byc = ref.by("commune").proportion("cat", na_rm=True)
    np.testing.assert_allclose(f[f["group"] != "city"]["se"].to_numpy(), byc.to_frame()["se"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(
        tab.vcov("city", "ls_health").to_numpy(),
        ref.proportion("cat", na_rm=True).vcov.to_numpy(),
        rtol=1e-8,
        atol=1e-15,
    )


# ------------------------------------------------------------------ 0-10 items and bands
SPEC_010 = """\
name = "wellbeing"
version = "1"
preset = "mean_of_shares"
scale = "percent"

[design]
weights = "w"
strata = "h"
psu = "c"

[[components]]
name = "life"
items = ["life_sat"]

[[items]]
name = "life_sat"
type = "scale0_10"
satisfied = 7
missing_codes = [98, 99]
labels = { en = "Life satisfaction", vi = "Hài lòng với cuộc sống" }

[[items]]
name = "anxiety"
type = "scale0_10"
missing_codes = [98, 99]
labels = { en = "Anxiety yesterday", vi = "Lo âu hôm qua" }
"""


@pytest.fixture(scope="module")
def wb():
    rng = np.random.default_rng(4)
    n = 600
    h = np.repeat(["a", "b", "c"], n // 3)
    c = np.repeat(np.arange(30), n // 30)
    life = np.clip(np.round(rng.normal(7, 2, n)), 0, 10)
    anx = np.clip(np.round(rng.normal(3, 2.5, n)), 0, 10)
    life[:7] = 99
    return pd.DataFrame({"w": rng.uniform(1, 3, n), "h": h, "c": c, "life_sat": life, "anxiety": anx})


def test_ons_bands_default(wb):
    spec = hi.IndexSpec.from_text(SPEC_010 + '\n[distributions]\nreversed_items = ["anxiety"]\n')
    d = hi.SurveyDesign(wb, weights="w", strata="h", psu="c")
    tab = hi.item_distributions(d, spec, by="h")
    f = tab.to_frame()
    assert len(f[(f["group"] == "city") & (f["item"] == "life_sat")]) == 11
    b = tab.bands
    life = b[(b["group"] == "city") & (b["item"] == "life_sat")]
    assert list(life["label_en"]) == ["Low (0–4)", "Medium (5–6)", "High (7–8)", "Very high (9–10)"]
    assert list(b[(b["group"] == "city") & (b["item"] == "anxiety")]["label_en"]) == [
        "Very low (0–1)",
        "Low (2–3)",
        "Medium (4–5)",
        "High (6–10)",
    ]
    shares = f[(f["group"] == "city") & (f["item"] == "life_sat")].set_index("category")["share"]
    assert life["share"].iloc[2] == pytest.approx(shares[7] + shares[8], rel=1e-12)
    # the band's SE is that of the sum of its categories (design's own estimator)
    w2 = wb.assign(high=np.where(wb["life_sat"] > 10, np.nan, wb["life_sat"].between(7, 8).astype(float)))
    e = hi.SurveyDesign(w2, weights="w", strata="h", psu="c").mean("high", na_rm=True)
    assert life["se"].iloc[2] == pytest.approx(e.se, rel=1e-9)
    s = tab.summary.set_index(["group", "item"]).loc[("city", "life_sat")]
    assert s["p90_p10"] > 1 and s["median"] in range(11)
    assert s["n"] == 593


def test_custom_bands_from_spec(wb):
    text = (
        SPEC_010
        + """
[distributions]
band_items = ["life_sat"]

[[distributions.bands]]
lower = 0
upper = 6
labels = { en = "Not satisfied", vi = "Chưa hài lòng" }

[[distributions.bands]]
lower = 7
upper = 10
labels = { en = "Satisfied", vi = "Hài lòng" }
"""
    )
    spec = hi.IndexSpec.from_text(text)
    assert hi.IndexSpec.from_text(spec.to_toml()) == spec
    tab = hi.item_distributions(hi.SurveyDesign(wb, weights="w", strata="h", psu="c"), spec)
    assert list(tab.bands["label_vi"]) == ["Chưa hài lòng", "Hài lòng"]
    assert set(tab.bands["item"]) == {"life_sat"}
    bad = text.replace("lower = 7", "lower = 8")
    with pytest.raises(SpecError, match="falls in no band") as e:
        hi.IndexSpec.from_text(bad)
    assert e.value.key.startswith("distributions")


def test_errors(survey, spec, design):
    with pytest.raises(hi.DesignError):
        hi.item_distributions(survey, spec)
    with pytest.raises(SpecError, match="not ordered numeric items"):
        hi.item_distributions(design, spec, items=["nope"])
    bad = survey.copy()
    bad.loc[bad.index[3], "ls_income"] = 7
    with pytest.raises(hi.EstimationError, match="neither answer codes"):
        hi.item_distributions(
            hi.SurveyDesign(bad, weights="weight", strata="commune", psu="village", nest=True), spec, items="ls_income"
        )


def test_input_not_modified(survey, spec, design):
    before = survey.copy()
    hi.item_distributions(design, spec, items="le_rating")
    pd.testing.assert_frame_equal(survey, before)


def test_charts(table, tmp_path):
    from happiness_index.report.charts_distributions import (
        plot_distributions,
        plot_rank_ranges,
    )

    plot_distributions(table.to_frame(), tmp_path / "d.png", group="city", lang="vi")
    assert (tmp_path / "d.png").stat().st_size > 1000
    communes = pd.DataFrame(
        {
            "unit": ["A", "B"],
            "scenario": "both",
            "median": [80.0, 70.0],
            "p05": [75.0, 60.0],
            "p95": [85.0, 79.0],
            "median_rank": [1.0, 2.0],
            "rank_p05": [1.0, 1.0],
            "rank_p95": [2.0, 2.0],
        }
    )
    plot_rank_ranges(communes, tmp_path / "r.svg", lang="en")
    assert "Commune ranks" in (tmp_path / "r.svg").read_text()
    with pytest.raises(ValueError, match="no rows"):
        plot_distributions(table.to_frame(), tmp_path / "x.png", group="Nowhere")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), missing=st.floats(0.0, 0.3))
def test_property_shares_sum_to_one_and_match_engine(seed, missing):
    rng = np.random.default_rng(seed)
    n = 120
    df = pd.DataFrame(
        {
            "w": rng.uniform(0.5, 4, n),
            "h": rng.integers(0, 3, n).astype(str),
            "c": rng.integers(0, 24, n),
            "life_sat": rng.integers(0, 11, n).astype(float),
            "anxiety": rng.integers(0, 11, n).astype(float),
        }
    )
    df.loc[rng.random(n) < missing, "life_sat"] = 99
    df["c"] = df["h"] + "-" + df["c"].astype(str)
    spec = hi.IndexSpec.from_text(SPEC_010)
    d = hi.SurveyDesign(df, weights="w", strata="h", psu="c", lonely_psu="adjust")
    tab = hi.item_distributions(d, spec, items="life_sat", ci_method="wald")
    f = tab.to_frame()
    assert f["share"].sum() == pytest.approx(1.0, abs=1e-12)
    V = tab.vcov("city", "life_sat").to_numpy()
    np.testing.assert_allclose(V.sum(axis=1), 0.0, atol=1e-12)  # the shares sum to a constant
    cat = df.assign(cat=pd.Categorical(df["life_sat"].where(df["life_sat"] <= 10), categories=list(range(11))))
    ref = (
        hi.SurveyDesign(cat, weights="w", strata="h", psu="c", lonely_psu="adjust")
        .proportion("cat", na_rm=True, ci_method="wald")
        .to_frame()
    )
    np.testing.assert_allclose(f["share"], ref["estimate"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(f["se"], ref["se"], rtol=1e-8, atol=1e-14)
