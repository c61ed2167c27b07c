"""Field case c15 (issue 9): min-max normalisation of components before a geometric mean,
with the zero that normalisation creates handled by the spec's zero rule; and one zero rule
everywhere (index_from_components and compute_index)."""

from __future__ import annotations

import math

import pytest

import happiness_index as hi
from happiness_index.errors import EstimationError, SpecError
from happiness_index.index.composite import index_from_components
from happiness_index.questionnaire.spec import Normalisation, bundled_spec_path

BASE = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))


@pytest.fixture(scope="module")
def city():
    return hi.load_city_survey(2024)


def _spec(goalposts: dict, zero_rule="error", preset="geometric", drop=()):
    d = BASE.to_dict()
    d.pop("robustness", None)  # its choices name the full set of components
    d["preset"] = preset
    d.pop("formula", None)
    d["zero_rule"] = zero_rule
    d["components"] = [c for c in d["components"] if c["name"] not in drop]
    for c in d["components"]:
        c.pop("weight", None)
        if c["name"] in goalposts:
            lo, hi_ = goalposts[c["name"]]
            c["normalise"] = {"method": "minmax", "min": lo, "max": hi_}
    return hi.IndexSpec.from_dict(d)


def _design(df):
    return hi.SurveyDesign(df, weights="weight", strata="commune", psu="village")


def test_spec_round_trip_and_refusals():
    s = _spec({"ls": (20.0, 80.0)})
    assert s.components[0].normalise == Normalisation("minmax", 20.0, 80.0)
    assert hi.IndexSpec.from_text(s.to_toml()) == s
    for bad, phrase in [
        ({"method": "zscore", "min": 0, "max": 1}, "unknown normalisation"),
        ({"method": "minmax", "min": 5, "max": 5}, "min < max"),
        ({"method": "minmax", "min": 0}, "max"),
    ]:
        d = s.to_dict()
        d["components"][0]["normalise"] = bad
        with pytest.raises(SpecError, match=phrase):
            hi.IndexSpec.from_dict(d)


def test_normalised_geometric_index_matches_the_hand_computation(city):
    goal = {"ls": (20.0, 90.0), "le": (10.0, 95.0), "env": (5.0, 85.0)}
    spec = _spec(goal)
    res = hi.compute_index(city, spec, design=_design(city))
    comps = dict(
        zip(
            res.components.to_frame()["component"]
            if "component" in res.components.to_frame()
            else [c.name for c in spec.components],
            res.components.to_frame()["estimate"],
        )
    )
    norm = [100 * (comps[k] - lo) / (hi_ - lo) for k, (lo, hi_) in goal.items()]
    expect = math.prod(norm) ** (1 / 3)
    assert res.overall.estimate == pytest.approx(expect, rel=1e-12)
    # one rule everywhere: the published components give the published index
    assert index_from_components(comps, spec) == pytest.approx(expect, rel=1e-12)


def test_normalisation_scales_the_standard_error_exactly(city):
    """One component: index = 100 (x - min) / (max - min), so its SE is 100/(max-min) SE(x)."""
    plain = hi.compute_index(city, _spec({}, drop=("le", "env")), design=_design(city))
    norm = hi.compute_index(city, _spec({"ls": (20.0, 95.0)}, drop=("le", "env")), design=_design(city))
    x = plain.overall.estimate
    assert 20 < x < 95
    assert norm.overall.estimate == pytest.approx(100 * (x - 20) / 75, rel=1e-12)
    assert norm.overall.se == pytest.approx(plain.overall.se * 100 / 75, rel=1e-10)
    # identity goalposts change nothing
    same = hi.compute_index(city, _spec({"ls": (0.0, 100.0)}, drop=("le", "env")), design=_design(city))
    assert same.overall.estimate == pytest.approx(x, rel=1e-12) and same.overall.se == pytest.approx(
        plain.overall.se, rel=1e-10
    )


def test_the_zero_that_normalisation_creates_follows_the_zero_rule(city):
    comps = hi.compute_index(city, BASE, design=_design(city)).components.to_frame()["estimate"].to_numpy()
    ls = comps[0]
    goal = {"ls": (ls + 5.0, 95.0), "le": (0.0, 100.0), "env": (0.0, 100.0)}  # ls below its minimum
    with pytest.raises(EstimationError, match="component 'ls' is 0"):
        hi.compute_index(city, _spec(goal), design=_design(city))
    with pytest.raises(EstimationError, match="component 'ls' is 0"):
        index_from_components(dict(zip(["ls", "le", "env"], comps)), _spec(goal))
    floored = _spec(goal, zero_rule=0.5)
    res = hi.compute_index(city, floored, design=_design(city))
    expect = (0.5 * comps[1] * comps[2]) ** (1 / 3)
    assert res.overall.estimate == pytest.approx(expect, rel=1e-12)
    assert index_from_components(dict(zip(["ls", "le", "env"], comps)), floored) == pytest.approx(expect, rel=1e-12)


def test_index_from_components_refuses_a_zero_component_like_compute_index():
    """Issue 9: hi.index_from_components([13.04, 30.97, 0.0], "geometric") returned 0.0."""
    with pytest.raises(EstimationError, match="component 'c3' is 0: the geometric mean would be 0"):
        hi.index_from_components([13.04, 30.97, 0.0], "geometric")
    assert hi.index_from_components([13.04, 30.97, 8.0], "geometric") == pytest.approx((13.04 * 30.97 * 8.0) ** (1 / 3))
    spec = _spec({}, zero_rule=0.5)
    assert hi.index_from_components([13.04, 30.97, 0.0], spec) == pytest.approx((13.04 * 30.97 * 0.5) ** (1 / 3))
    # other presets keep their arithmetic: a zero is a value
    assert hi.index_from_components([10.0, 0.0], "mean_of_shares") == 5.0


@pytest.mark.parametrize("formula", ["1", "ls * 0 + 42", "ls - ls", "100 + 0 * (ls * le / env)"])
def test_a_constant_formula_is_refused(formula):
    d = BASE.to_dict()
    d["preset"] = "custom"
    d["formula"] = formula
    with pytest.raises(SpecError, match="is a constant"):
        hi.IndexSpec.from_dict(d)


def test_formula_dependent_names():
    from happiness_index.questionnaire.formula import Formula

    assert Formula.parse("ls * le / env").dependent_names() == ("ls", "le", "env")
    assert Formula.parse("log(ls) + le * 0").dependent_names() == ("ls",)
    assert Formula.parse("max(ls, 2)").dependent_names() == ("ls",)
    assert Formula.parse("ls^0").dependent_names() == ()


def test_published_values_of_normalised_components_are_in_their_own_units():
    # a component normalised from goalposts 0..500 is published in those units (250), not in percent
    spec = _spec({"ls": (0.0, 500.0)}, preset="mean_of_shares")
    got = hi.index_from_components({"ls": 250.0, "le": 40.0, "env": 60.0}, spec)
    assert got == pytest.approx((50.0 + 40.0 + 60.0) / 3)
    with pytest.raises(EstimationError, match="component 'le'"):
        hi.index_from_components({"ls": 250.0, "le": 140.0, "env": 60.0}, spec)
