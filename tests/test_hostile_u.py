"""Hostile inputs (findings #1, #3, #4, #15): names evaluated as code, oversized allocations,
underflowing weights, domains with no weight. Each test failed before its fix."""

import warnings

import numpy as np
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
