"""Hostile inputs (findings #1, #3, #4, #15): names evaluated as code, oversized allocations,
underflowing weights, domains with no weight. Each test failed before its fix."""

import warnings

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.reading.datasets import data_path

EVIL = [
    "sex`)+C(np.savetxt('{path}',[0]))+C(`sex",
    "sex`, np.savetxt('{path}', [0]), `sex",
    "np.savetxt('{path}',[0])",
    "__import__('pathlib').Path('{path}').write_text('x')",
]


@pytest.fixture(scope="module")
def survey():
    return hi.load_city_survey(2024)


@pytest.fixture(scope="module")
def base_drivers(survey):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        return hi.drivers(survey, "yen_bai_nef", characteristics=["sex", "age_group"])


def _with_column(survey, name):
    values = np.where(np.arange(len(survey)) % 2 == 0, "a", "b")
    return survey.assign(**{name: values})


@pytest.mark.parametrize("template", EVIL)
def test_a_column_header_is_never_evaluated(survey, tmp_path, template):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    name = template.format(path=victim.as_posix())
    data = _with_column(survey, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        res = hi.drivers(data, "yen_bai_nef")  # the default characteristics take the new column
    assert victim.read_text(encoding="utf-8") == "precious"
    terms = set(res.frame["term"])
    assert f"{name}[b]" in terms  # the analysis ran and shows the real name
    row = res.frame.set_index("term").loc[f"{name}[b]"]
    assert row["label_en"] == f"{name} = b (vs a)"
    assert name in res.formula and "hi_char_" not in res.formula
    assert any(name in s for s in res.sentences("en"))


@pytest.mark.parametrize(
    "name",
    ["a (b)", "it's", 'say "hi"', "tick`tock", "Giới tính", "1st", "hi_outcome", "C", "np", "class"],
)
def test_odd_characteristic_names_give_the_same_effects(survey, base_drivers, name):
    data = survey.rename(columns={"sex": name})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        res = hi.drivers(data, "yen_bai_nef", characteristics=[name, "age_group"])
    got = res.frame.set_index("term")["ame_pp"]
    want = base_drivers.frame.set_index("term")["ame_pp"]
    assert got[f"{name}[Nữ]"] == pytest.approx(want["sex[Nữ]"], rel=1e-10)
    assert got["le_rating"] == pytest.approx(want["le_rating"], rel=1e-10)


def test_an_item_named_like_code_is_fitted_under_an_alias(survey, base_drivers, tmp_path):
    victim = tmp_path / "victim3.txt"
    victim.write_text("precious", encoding="utf-8")
    evil = f"np.savetxt('{victim.as_posix()}',[0])"
    text = data_path("specs/yen_bai_nef.toml").read_text(encoding="utf-8")
    spec = hi.IndexSpec.from_text(text.replace('"le_rating"', _toml_string(evil)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        res = hi.drivers(survey.rename(columns={"le_rating": evil}), spec, characteristics=["sex", "age_group"])
    assert victim.read_text(encoding="utf-8") == "precious"
    got = res.frame.set_index("term")["ame_pp"]
    assert got[evil] == pytest.approx(base_drivers.frame.set_index("term")["ame_pp"]["le_rating"], rel=1e-10)
    assert res.aliases["hi_item_0"] == evil


def test_model_errors_name_the_real_columns(survey):
    # a characteristic with one level cannot be fitted: the message names the column, not an alias
    data = survey.assign(**{"Nơi ở (cũ)": "x"})
    with pytest.raises(hi.ModelError) as exc:
        hi.drivers(data, "yen_bai_nef", characteristics=["Nơi ở (cũ)"])
    assert "Nơi ở (cũ)" in str(exc.value) and "hi_char_" not in str(exc.value)


def _toml_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------- #3 resource exhaustion


@pytest.fixture(scope="module")
def spec():
    return hi.IndexSpec.from_text(data_path("specs/yen_bai_nef.toml").read_text(encoding="utf-8"))


def _toy():
    import pandas as pd

    base = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6, 7, 8], "w": [1.0, 2, 1, 2, 1, 2, 1, 2]})
    return hi.SurveyDesign(base.assign(s=list("aabbccdd"), p=range(1, 9)), weights="w", strata="s", psu="p")


def test_an_id_as_domain_is_refused_before_any_allocation(survey, spec):
    # 3,400 domains: the joint covariance would take ~100 GiB (the process was OOM-killed)
    with pytest.raises(hi.EstimationError, match=r"by='respondent_id' has 3,400 domains.*GiB.*not an id"):
        hi.compute_index(survey, spec, by="respondent_id")


def test_the_size_limit_is_the_memory_not_a_count(survey, spec, monkeypatch):
    from happiness_index.index import composite

    r = hi.compute_index(survey, spec, by="village")  # 85 domains: well inside the limit
    assert len(r.by_group.to_frame()) == 85
    monkeypatch.setattr(composite, "MAX_COVARIANCE_BYTES", 10**6)
    with pytest.raises(hi.EstimationError, match="by='village' has 85 domains"):
        hi.compute_index(survey, spec, by="village")


@pytest.fixture
def two_gib(monkeypatch):
    """The replicate-weight limit of a 4 GiB machine (the default is half the machine's memory)."""
    from happiness_index.survey import replicates

    monkeypatch.setattr(replicates, "MAX_REPLICATE_BYTES", 2 * 1024**3)


@pytest.mark.parametrize("R", [10**9, 10**8, 2.0e9])
def test_too_many_bootstrap_replicates_are_refused(R, two_gib):
    with pytest.raises(hi.DesignError, match=r"replicates=.* would need about .* Use fewer replicates"):
        _toy().to_replicates("bootstrap", replicates=R, seed=1)
    assert _toy().to_replicates("bootstrap", replicates=50, seed=1).n_replicates == 50


def test_too_many_robustness_draws_are_refused(survey, spec, two_gib):
    with pytest.raises(hi.EstimationError, match=r"draws=100,000,000 is more than 1,000,000"):
        hi.robustness(survey, spec, draws=10**8)
    # the replicates default to the draws: 200,000 of them for 3,400 respondents is 5 GiB (> 2 GiB)
    with pytest.raises(hi.DesignError, match=r"draws=200,000 would need about 5\.1 GiB.*pass replicates="):
        hi.robustness(survey, spec, draws=200_000)
    with pytest.raises(hi.DesignError, match=r"replicates=10,000,000 would need"):
        hi.robustness(survey, spec, draws=1000, replicates=10**7)


# ---------------------------------------------------------------- #4 tiny weights


@pytest.mark.parametrize("factor", [1e-170, 1e-300, 1e150])
def test_the_index_does_not_depend_on_the_scale_of_the_weights(survey, spec, factor):
    r0 = hi.compute_index(survey, spec, diagnostics=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = hi.compute_index(survey.assign(weight=survey["weight"] * factor), spec)
    assert r.overall.estimate == pytest.approx(r0.overall.estimate, rel=1e-12)
    assert r.overall.se == pytest.approx(r0.overall.se, rel=1e-9)  # was exactly 0 (underflow)
    assert r.diagnostics["kish_effective_n"] == pytest.approx(2812.561009675207, rel=1e-12)
    rc = hi.compute_index(survey.assign(weight=survey["weight"] * factor), spec, by="commune", diagnostics=False)
    want = hi.compute_index(survey, spec, by="commune", diagnostics=False).by_group.to_frame()
    got = rc.by_group.to_frame()
    assert np.allclose(got["se"], want["se"], rtol=1e-9) and np.allclose(got["estimate"], want["estimate"])


def test_subnormal_weights_are_refused(survey, spec):
    with pytest.raises(hi.DesignError, match=r"'weight'.*smallest normal float.*Rescale the weights"):
        hi.compute_index(survey.assign(weight=survey["weight"] * 1e-320), spec)


def test_kish_effective_n_is_scale_free():
    from happiness_index.index.composite import kish_effective_n

    w = np.array([1.0, 2, 1, 2, 0])
    want = 36 / 10
    for f in (1.0, 1e-170, 1e-300, 1e200):
        assert kish_effective_n(w * f) == pytest.approx(want, rel=1e-14)
    assert np.isnan(kish_effective_n(np.zeros(3)))


# ---------------------------------------------------------------- #15 a commune with only zero weights


def test_a_commune_with_only_zero_weights_is_reported(survey, spec):
    c0 = survey["commune"].iloc[0]
    data = survey.assign(weight=np.where(survey["commune"] == c0, 0.0, survey["weight"]))
    with pytest.warns(hi.HappinessIndexWarning, match=rf"1 domain\(s\) left out of the table \({c0}\)"):
        r = hi.compute_index(data, spec, by="commune", diagnostics=False)
    assert c0 not in set(r.by_group.to_frame()["commune"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every commune present: no warning
        hi.compute_index(survey, spec, by="commune", diagnostics=False)


def _nef_spec():
    from happiness_index.questionnaire.spec import bundled_spec_path

    return hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))


@pytest.mark.parametrize("bad", ["40.71", True, float("nan"), -40.71, float("inf")])
def test_index_from_components_refuses_values_that_are_not_component_values(bad):
    with pytest.raises(hi.EstimationError, match="component 'ls'"):
        hi.index_from_components({"ls": bad, "le": 41.6, "env": 31.8}, _nef_spec())
    with pytest.raises(hi.EstimationError, match="component 'ls'"):
        hi.nef_sensitivity(bad, 41.6, 31.8)


def test_index_from_components_refuses_values_above_the_scale():
    with pytest.raises(hi.EstimationError, match=r"outside \[0, 100\]"):
        hi.index_from_components({"ls": 140.71, "le": 41.6, "env": 31.8}, _nef_spec())
    assert hi.index_from_components({"ls": 40.71, "le": 41.6, "env": 31.8}, _nef_spec()) == pytest.approx(
        53.2558, abs=1e-4
    )


def test_a_replicate_weight_column_listed_twice_is_refused():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"y": rng.normal(size=20), "w": 1.0, **{f"r{j}": rng.uniform(0.5, 1.5, 20) for j in range(4)}})
    with pytest.raises(hi.DesignError, match=r"\['r1'\] are listed more than once"):
        hi.ReplicateDesign(d, weights="w", replicate_weights=["r0", "r1", "r1", "r2"], method="JK1")
    rw = d[["r0", "r1", "r1"]]
    with pytest.raises(hi.DesignError, match="more than once"):
        hi.ReplicateDesign(d, weights="w", replicate_weights=rw, method="JK1")


def test_weight_diagnostics_are_scale_free():
    # the same Kish figures for weights of any scale (squares of 1e-170 underflow to 0)
    d = hi.load_city_survey(2024)
    base = hi.weight_diagnostics(hi.SurveyDesign(d, weights="weight", strata="commune", psu="village"))
    for f in (1e-170, 1e150):
        got = hi.weight_diagnostics(
            hi.SurveyDesign(d.assign(weight=d["weight"] * f), weights="weight", strata="commune", psu="village")
        )
        cols = ["cv", "deff_kish", "n_eff"]  # cv near 0 within a stratum: cancellation noise of 1e-8
        np.testing.assert_allclose(got[cols], base[cols], rtol=1e-12, atol=1e-6)


def test_the_default_limits_follow_the_machine(monkeypatch):
    # 1M respondents x 500 bootstrap replicates (4 GB) fit a 24 GB office machine: not refused
    # by a fixed 2 GiB cap; a fixed cap set by the user is obeyed
    from happiness_index.survey import replicates

    monkeypatch.setattr(replicates, "memory_limit", lambda: 12 * 1024**3)
    replicates.check_replicate_size(1_000_000, 500)
    monkeypatch.setattr(replicates, "MAX_REPLICATE_BYTES", 2 * 1024**3)
    with pytest.raises(hi.DesignError, match="at most 268 replicates"):
        replicates.check_replicate_size(1_000_000, 500)
