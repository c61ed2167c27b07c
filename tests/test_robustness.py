"""Tests of hi.robustness (joint sampling x method-choice uncertainty, Sobol indices) and of
the [robustness] table of a spec."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import SpecError
from happiness_index.index.robustness import Factor, sobol_indices

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "methodology" / "yen_bai_nef.toml"


@pytest.fixture(scope="module")
def survey():
    return hi.load_city_survey(2024)


@pytest.fixture(scope="module")
def spec():
    return hi.IndexSpec.from_toml(SPEC_PATH)


@pytest.fixture(scope="module")
def design(survey):
    return hi.SurveyDesign(survey, weights="weight", strata="commune", psu="village", nest=True)


def _spec_with(robustness_toml: str | None) -> hi.IndexSpec:
    text = SPEC_PATH.read_text(encoding="utf-8")
    text = text[: text.index("# ---------------------------------------------------------------- robustness")]
    return hi.IndexSpec.from_text(text + (robustness_toml or ""))


# ------------------------------------------------------------------ the spec table
def test_bundled_spec_declares_choices(spec):
    r = spec.robustness
    assert [c.name for c in r.cutoffs] == ["cutoff_ls", "cutoff_le", "cutoff_env"]
    assert r.cutoffs[0].values == (4.0, 3.0)
    assert r.formula.options == ("nef_ratio", "mean_of_shares", "geometric")
    assert len(r.drop_items.items) == 7
    for lab in [c.labels for c in r.cutoffs] + [r.formula.labels, r.weights.labels, r.drop_items.labels]:
        assert lab.en and lab.vi
    back = hi.IndexSpec.from_text(spec.to_toml())
    assert back == spec and back.content_hash() == spec.content_hash()


def test_packaged_copy_identical():
    assert SPEC_PATH.read_bytes() == (ROOT / "happiness_index" / "data" / "specs" / "yen_bai_nef.toml").read_bytes()


@pytest.mark.parametrize(
    "table, key, words",
    [
        (
            '[[robustness.cutoffs]]\nname = "c"\nitems = ["nope"]\nvalues = [4, 3]\nlabels = { en = "x", vi = "y" }\n',
            "robustness.cutoffs[0].items",
            "unknown item",
        ),
        (
            '[[robustness.cutoffs]]\nname = "c"\nitems = ["ls_income"]\nvalues = [3, 2]\nlabels = { en = "x", vi = "y" }\n',
            "robustness.cutoffs[0].values",
            "baseline",
        ),
        (
            '[[robustness.cutoffs]]\nname = "c"\nitems = ["ls_income"]\nvalues = [4, 7]\nlabels = { en = "x", vi = "y" }\n',
            "robustness.cutoffs[0].values",
            "not codes",
        ),
        (
            '[[robustness.cutoffs]]\nname = "c"\nitems = ["ls_income"]\nvalues = [4, 3]\nlabels = { en = "x" }\n',
            "robustness.cutoffs[0].labels.vi",
            "Vietnamese",
        ),
        (
            '[robustness.drop_items]\nitems = ["le_rating"]\nlabels = { en = "x", vi = "y" }\n',
            "robustness.drop_items.items",
            "only item",
        ),
        (
            '[robustness.formula]\noptions = ["ls +* le"]\nlabels = { en = "x", vi = "y" }\n',
            "robustness.formula.options",
            "neither a preset",
        ),
        (
            '[robustness.weights]\nranges = { ls = [0.2, 0.5], le = [0.2, 0.5] }\nlabels = { en = "x", vi = "y" }\n',
            "robustness.weights.ranges",
            "no range for component 'env'",
        ),
        (
            (
                "[robustness.weights]\nranges = { ls = [0.5, 0.2], le = [0.2, 0.5], env = [0.2, 0.5] }\n"
                'labels = { en = "x", vi = "y" }\n'
            ),
            "robustness.weights.ranges.ls",
            "low <= high",
        ),
        ("[robustness]\nshuffle = true\n", "robustness.shuffle", "unknown key"),
    ],
)
def test_spec_errors_name_key_and_line(table, key, words):
    with pytest.raises(SpecError) as e:
        _spec_with(table)
    assert e.value.key == key
    assert words in str(e.value)
    assert e.value.line is not None


def test_unsupported_preset_refused(survey):
    gnh = hi.IndexSpec.from_toml(ROOT / "methodology" / "gnh_alkire_foster.toml")
    with pytest.raises(SpecError, match="af_gnh"):
        hi.robustness(survey, gnh, draws=50)


# ------------------------------------------------------------------ the analysis
@pytest.fixture(scope="module")
def result(survey, spec, design):
    return hi.robustness(survey, spec, design=design, draws=400, seed=7, sobol_samples=256, progress=False)


def test_frames_follow_the_contract(result):
    assert list(result.city.columns[:4]) == ["scenario", "median", "p05", "p95"]
    assert list(result.city["scenario"]) == ["sampling", "methods", "both"]
    assert list(result.communes.columns) == [
        "unit",
        "scenario",
        "median",
        "p05",
        "p95",
        "median_rank",
        "rank_p05",
        "rank_p95",
    ]
    assert len(result.communes) == 17 * 3
    assert list(result.targets.columns) == ["year", "target", "scenario", "share_reached"]
    assert set(result.targets["year"]) == {2022, 2023, 2025}
    assert result.targets["share_reached"].between(0, 1).all()
    assert list(result.sobol.columns) == [
        "output",
        "statistic",
        "factor",
        "label_en",
        "label_vi",
        "S1",
        "S1_conf",
        "ST",
        "ST_conf",
    ]
    assert set(result.sobol["output"]) == {"city", *result.units}
    r = result.communes
    assert r["median_rank"].between(1, 17).all() and (r["rank_p05"] <= r["rank_p95"]).all()
    assert (result.city["p05"] <= result.city["median"]).all() and (result.city["median"] <= result.city["p95"]).all()
    assert set(result.factors["factor"]) >= {"cutoff_ls", "formula", "weight_ls", "drop_item", "sampling"}
    assert "0,2 đến 0,5" in set(result.factors["options_vi"])


def test_baseline_is_the_published_index(result, survey, spec, design):
    est = hi.compute_index(survey, spec, design=design).overall.estimate
    assert result.baseline == pytest.approx(est, rel=1e-12)
    # the sampling scenario is centred on it
    med = result.city.set_index("scenario").loc["sampling", "median"]
    assert abs(med - est) < 0.3


def test_seed_reproducible(survey, spec, design, result):
    again = hi.robustness(survey, spec, design=design, draws=400, seed=7, sobol_samples=256, progress=False)
    pd.testing.assert_frame_equal(again.city, result.city)
    pd.testing.assert_frame_equal(again.sobol, result.sobol)


def test_choices_that_matter_are_found(result):
    s = result.sobol[result.sobol["output"] == "city"].set_index("factor")
    # the cut-off of life satisfaction and the formula move the city index; weights barely do
    assert s.loc["cutoff_ls", "ST"] > 0.2 and s.loc["formula", "ST"] > 0.2
    assert s.loc["weight_ls", "ST"] < 0.05
    assert result.important_factors().iloc[0]["factor"] in ("cutoff_ls", "formula")


@pytest.mark.parametrize("method, reps", [("bootstrap", 150), ("jkn", None)])
def test_no_choices_spread_equals_replicate_se(survey, design, method, reps):
    bare = _spec_with(None)
    rep = design.to_replicates(method, replicates=reps, seed=3)
    se = hi.compute_index(survey, bare, design=rep).overall.se
    res = hi.robustness(survey, bare, design=rep, draws=3000, seed=11, sobol=False, by=None, progress=False)
    c = res.city.set_index("scenario")
    # Monte Carlo error of an SD from 3000 draws: about 1.3%; replicates drawn with replacement
    assert c.loc["sampling", "sd"] == pytest.approx(se, rel=0.06)
    assert c.loc["both", "sd"] == pytest.approx(se, rel=0.06)
    assert c.loc["methods", "sd"] < 1e-9 and c.loc["methods", "median"] == pytest.approx(res.baseline)
    assert c.loc["sampling", "p95"] - c.loc["sampling", "p05"] == pytest.approx(2 * 1.645 * se, rel=0.12)


def test_choice_the_formula_ignores_has_zero_sobol(survey, design):
    # the ratio LS x LE / ENV has no component weights: varying them cannot change the index
    sp = _spec_with(
        "[robustness.weights]\nranges = { ls = [0.1, 0.6], le = [0.1, 0.6], env = [0.1, 0.6] }\n"
        'labels = { en = "weights", vi = "trọng số" }\n'
    )
    res = hi.robustness(survey, sp, design=design, draws=100, seed=5, sobol_samples=256, progress=False)
    s = res.sobol.set_index(["output", "factor"])
    for f in ("weight_ls", "weight_le", "weight_env"):
        assert abs(s.loc[("city", f), "S1"]) < 1e-9 and abs(s.loc[("city", f), "ST"]) < 1e-9
    assert s.loc[("city", "sampling"), "ST"] == pytest.approx(1.0, abs=0.1)
    ranks = res.sobol[(res.sobol["statistic"] == "rank") & res.sobol["factor"].str.startswith("weight")]
    assert (ranks["ST"].abs() < 1e-9).all()


def test_ishigami_known_indices():
    a, b = 7.0, 0.1

    def ishigami(U):
        x = -math.pi + 2 * math.pi * U
        return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])

    # analytical values (Ishigami & Homma 1990; Sobol' & Levitan 1999)
    V = a**2 / 8 + b * math.pi**4 / 5 + b**2 * math.pi**8 / 18 + 0.5
    V1 = 0.5 * (1 + b * math.pi**4 / 5) ** 2
    V2 = a**2 / 8
    V13 = b**2 * math.pi**8 * (1 / 18 - 1 / 50)
    S1 = [V1 / V, V2 / V, 0.0]
    ST = [(V1 + V13) / V, V2 / V, V13 / V]
    fac = [Factor(f"x{i}", f"x{i}", f"x{i}", "continuous", 0, (0.0, 1.0)) for i in (1, 2, 3)]
    out = sobol_indices(ishigami, fac, 4096, seed=1).set_index("factor")
    for i, f in enumerate(["x1", "x2", "x3"]):
        r = out.loc[f]
        assert abs(r["S1"] - S1[i]) <= 1.5 * r["S1_conf"] + 0.01, (f, r["S1"], S1[i], r["S1_conf"])
        assert abs(r["ST"] - ST[i]) <= 1.5 * r["ST_conf"] + 0.01, (f, r["ST"], ST[i], r["ST_conf"])
        assert r["S1_conf"] < 0.1


def test_bad_arguments(survey, spec, design):
    with pytest.raises(hi.HappinessIndexError, match="draws"):
        hi.robustness(survey, spec, design=design, draws=5)
    with pytest.raises(hi.HappinessIndexError, match="power of two"):
        hi.robustness(survey, spec, design=design, draws=50, sobol_samples=1000)
    with pytest.raises(hi.HappinessIndexError, match="by="):
        hi.robustness(survey, spec, design=design, draws=50, by="province")


def test_input_not_modified(survey, spec, design):
    before = survey.copy()
    hi.robustness(survey, spec, design=design, draws=50, seed=1, sobol=False, progress=False)
    pd.testing.assert_frame_equal(survey, before)


# ------------------------------------------------------------------ the worked example in the methodology
def _doc_numbers() -> dict:
    text = (ROOT / "methodology" / "robustness.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- worked-example-numbers\n(.*?)-->", text, re.DOTALL).group(1)
    return tomllib.loads(block)


def test_worked_example_numbers(capsys):
    # examples/robustness_and_distributions.py runs the worked example of methodology/robustness.md
    import importlib.util

    mod_spec = importlib.util.spec_from_file_location(
        "rob_example", ROOT / "examples" / "robustness_and_distributions.py"
    )
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    res = mod.main()["robustness"]
    out = capsys.readouterr().out
    assert "Sampling error alone: the city index lies between 75.1 and 78.8" in out
    assert "Riêng sai số chọn mẫu" in out and "mean answer" in out
    doc = _doc_numbers()
    assert (res.draws, res.seed) == (doc["draws"], doc["seed"])
    c = res.city.set_index("scenario")
    for sc in ("sampling", "methods", "both"):
        for col in ("median", "p05", "p95"):
            assert round(float(c.loc[sc, col]), 1) == pytest.approx(doc["city"][sc][col], abs=1e-9), (sc, col)
    t = res.targets.set_index(["year", "scenario"])
    for key, v in doc["targets_2025"].items():
        assert round(float(t.loc[(2025, key), "share_reached"]), 2) == pytest.approx(v, abs=1e-9)
    o = res.one_at_a_time[res.one_at_a_time["option"] == 1].set_index("factor")
    for f, v in doc["one_at_a_time_change_pp"].items():
        assert round(float(o.loc[f, "change_pp"]), 1) == pytest.approx(v, abs=1e-9), f
    forms = res.one_at_a_time[res.one_at_a_time["factor"] == "formula"].set_index("option")["city"]
    assert round(float(forms[1]), 1) == doc["one_at_a_time_city"]["mean_of_shares"]
    assert round(float(forms[2]), 1) == doc["one_at_a_time_city"]["geometric"]
    drops = res.one_at_a_time[res.one_at_a_time["factor"] == "drop_item"]["change_pp"]
    assert (round(float(drops.min()), 1), round(float(drops.max()), 1)) == (-3.1, 3.7)
    s = res.sobol[res.sobol["output"] == "city"].set_index("factor")
    for f, v in doc["sobol_city_ST"].items():
        assert round(float(s.loc[f, "ST"]), 2) == pytest.approx(v, abs=1e-9), f


def test_to_dict_is_json(result):
    import json

    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["draws"] == 400 and len(d["city"]) == 3 and d["sobol"][0]["output"] == "city"
    assert "median" in str(result)


def test_findings_in_plain_words(result):
    en, vi = result.findings("en"), result.findings("vi")
    assert len(en) == len(vi) >= 5
    assert en[0].startswith("Sampling error alone: the city index lies between")
    assert any("Target 2025 (84.6)" in x for x in en)
    assert any("Mục tiêu năm 2025 (84,6)" in x for x in vi)
    assert any("Sobol" in x for x in vi)
    with pytest.raises(hi.HappinessIndexError):
        result.findings("fr")


def test_one_at_a_time(result, survey, spec, design):
    o = result.one_at_a_time
    assert list(o.columns) == ["factor", "option", "label_en", "label_vi", "city", "change_pp"]
    base = o[o["option"] == 0]
    np.testing.assert_allclose(base["city"], result.baseline, rtol=1e-12)
    ls3 = o[(o["factor"] == "cutoff_ls") & (o["option"] == 1)].iloc[0]
    assert ls3["label_en"] == "satisfied = 3–5" and ls3["change_pp"] > 5
    # the mean and geometric mean of the published components (equal weights)
    comps = hi.compute_index(survey, spec, design=design).components.to_frame()["estimate"].to_numpy()
    f = o[o["factor"] == "formula"].set_index("option")["city"]
    assert f[1] == pytest.approx(comps.mean(), rel=1e-12)
    assert f[2] == pytest.approx(np.prod(comps) ** (1 / 3), rel=1e-12)
