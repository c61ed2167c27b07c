"""hi.drivers: contract columns, groups of communes, sentences, and methodology/drivers.md's example."""

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.index.drivers import COLUMNS, DriversWarning, format_number

DOC = Path(__file__).resolve().parents[1] / "methodology" / "drivers.md"


@pytest.fixture(scope="module")
def survey():
    return hi.load_city_survey(2024)


@pytest.fixture(scope="module")
def groups():
    f = hi.load_city_frame()
    return dict(zip(f["commune"], f["commune_type"]))


@pytest.fixture(scope="module")
def result(survey, groups):
    return hi.drivers(survey, "yen_bai_nef", by=groups)


def test_contract_columns_and_groups(result):
    f = result.to_frame()
    assert list(f.columns) == COLUMNS
    assert list(pd.unique(f["group"])) == ["city", "phường", "xã"]
    assert set(f["term"]) == {
        "le_rating",
        "env_nature",
        "env_security",
        "env_services",
        "sex[Nữ]",
        "age_group[35-59]",
        "age_group[60+]",
    }
    assert (f["ci_low_pp"] < f["ame_pp"]).all() and (f["ame_pp"] < f["ci_high_pp"]).all()
    assert ((f["p"] >= 0) & (f["p"] <= 1)).all() and (f["se_pp"] > 0).all()
    city = f[f["group"] == "city"]
    assert (city["n"] == 2887).all() and result.n_missing["city"] == 513
    assert result.outcome_en == "satisfied with life" and result.outcome_vi == "hài lòng với cuộc sống"
    assert f.loc[f["term"] == "env_services", "label_vi"].iloc[0] == "Hài lòng với dịch vụ công"


def test_ame_is_the_model_ame_in_points(result):
    fit = result.fits["city"]
    ame = fit.marginal_effects("env_services").iloc[0]
    row = result.frame.query("group == 'city' and term == 'env_services'").iloc[0]
    assert math.isclose(row["ame_pp"], 100 * ame["estimate"], rel_tol=1e-12)
    assert math.isclose(row["se_pp"], 100 * ame["se"], rel_tol=1e-12)
    # a group is a domain of the full design: its df counts only the group's villages
    assert result.fits["phường"].design_df == 45 - 9


def test_methodology_worked_example(result):
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- worked-example:start -->")[1].split("<!-- worked-example:end -->")[0]
    rows = re.findall(r"^\| (\S+) \| (\S+) \| (-?[\d.]+) \| (-?[\d.]+) to (-?[\d.]+) \|$", block, re.MULTILINE)
    assert len(rows) == 8
    f = result.frame.set_index(["group", "term"])
    for group, term, est, lo, hi_ in rows:
        r = f.loc[(group, term)]
        assert (f"{r['ame_pp']:.1f}", f"{r['ci_low_pp']:.1f}", f"{r['ci_high_pp']:.1f}") == (est, lo, hi_), (
            group,
            term,
        )
    assert "2,887 respondents" in text and "513" in text
    assert result.sentences("en")[0] in " ".join(text.split())


def test_sentences_state_association_in_both_languages(result):
    en = result.sentences("en")
    vi = result.sentences("vi")
    assert len(en) == len(vi) == 7
    assert en[0].startswith("Households satisfied with public services are 16.2 percentage points more likely")
    assert all("association, not a cause" in s for s in en)
    assert all("không phải quan hệ nhân quả" in s for s in vi)
    assert "16,2 điểm phần trăm" in vi[0] and "12,6 đến 19,7" in vi[0]
    unclear = next(s for s in en if "age_group = 60+" in s)
    assert "no clear difference" in unclear
    assert str(result).startswith("Drivers of being satisfied with life")


def test_format_number():
    assert format_number(3400.0, "vi", 0) == "3.400" and format_number(76.93, "vi", 2) == "76,93"
    assert format_number(-2.26, "en") == "−2.3" and format_number(1234.5, "en") == "1,234.5"
    assert format_number(float("nan")) == "–"


def test_small_groups_are_skipped_with_a_warning(survey):
    by = {c: ("Đồng Tâm" if c == "Đồng Tâm" else "rest") for c in survey["commune"].unique()}
    with pytest.warns(DriversWarning, match="Đồng Tâm"):
        res = hi.drivers(survey, "yen_bai_nef", by=by, min_n=250)
    assert "Đồng Tâm" in res.skipped and "rest" in set(res.frame["group"])


def test_replicate_design_and_input_unchanged(survey, result):
    before = survey.copy()
    des = hi.SurveyDesign(survey, weights="weight", strata="commune", psu="village").to_replicates("jkn")
    res = hi.drivers(survey, "yen_bai_nef", design=des)
    pd.testing.assert_frame_equal(survey, before)
    tay = result.frame[result.frame["group"] == "city"].set_index("term")
    rep = res.frame.set_index("term")
    np.testing.assert_allclose(rep["ame_pp"], tay["ame_pp"], rtol=1e-9)
    assert ((rep["se_pp"] / tay["se_pp"]).between(0.85, 1.15)).all()


def test_refusals(survey):
    with pytest.raises(hi.HappinessIndexError, match="by="):
        hi.drivers(survey, "yen_bai_nef", by=42)
    with pytest.raises(hi.HappinessIndexError, match="not columns"):
        hi.drivers(survey, "yen_bai_nef", characteristics=["nope"])
    with pytest.raises(hi.SpecError):
        hi.drivers(survey, "yen_bai_nef", outcome="nope")


def test_single_item_outcome_and_chosen_characteristics(survey):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        res = hi.drivers(survey, "yen_bai_nef", outcome="le", characteristics=["sex"])
    assert res.outcome_en.startswith("satisfied (rating of life expectancy")
    assert "ls_income" in set(res.frame["term"]) and "sex[Nữ]" in set(res.frame["term"])


def test_vietnamese_column_names_with_spaces(survey, result):
    # names such as "Đánh giá tuổi thọ" are fitted under generated aliases (never put in the
    # evaluated formula); the displayed formula shows them quoted. The analysis runs and gives the
    # same effects as with the English names (it was skipped: "invalid syntax")
    from happiness_index.reading.datasets import data_path

    names = {"le_rating": "Đánh giá tuổi thọ", "env_services": "Hài lòng dịch vụ công", "sex": "Giới tính"}
    text = data_path("specs/yen_bai_nef.toml").read_text(encoding="utf-8")
    for old, new in names.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    spec = hi.IndexSpec.from_text(text)
    vi = hi.drivers(survey.rename(columns=names), spec, characteristics=["Giới tính", "age_group"])
    en = hi.drivers(survey, "yen_bai_nef", characteristics=["sex", "age_group"])
    got = vi.frame.set_index("term")["ame_pp"]
    want = en.frame.set_index("term")["ame_pp"]
    assert "`Đánh giá tuổi thọ`" in vi.formula and "C(`Giới tính`)" in vi.formula  # display form
    assert "Đánh giá tuổi thọ" in vi.aliases.values() and "Đánh giá tuổi thọ" not in vi.aliases
    assert got["Đánh giá tuổi thọ"] == pytest.approx(want["le_rating"], rel=1e-10)
    assert got["Hài lòng dịch vụ công"] == pytest.approx(want["env_services"], rel=1e-10)
    assert got["Giới tính[Nữ]"] == pytest.approx(want["sex[Nữ]"], rel=1e-10)


def test_labelled_codes_of_an_spss_file_give_the_same_drivers(survey, result, tmp_path):
    # sex stored as 1/2 with value labels (SPSS) is the same characteristic as the text column,
    # and the file's variable label names it in the table
    import pyreadstat

    codes = {"Nam": 1, "Nữ": 2}
    d = survey.assign(sex=survey["sex"].map(codes).astype(float))
    pyreadstat.write_sav(
        d,
        str(tmp_path / "s.sav"),
        variable_value_labels={"sex": {1.0: "Nam", 2.0: "Nữ"}},
        column_labels={c: ("Giới tính" if c == "sex" else c) for c in d.columns},
    )
    from happiness_index.questionnaire.spec import bundled_spec_path

    spec = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))
    clean = hi.validate_survey(hi.read_survey(tmp_path / "s.sav"), spec).data  # keeps the file's labels
    assert clean.attrs["value_labels"]["sex"] == {1.0: "Nam", 2.0: "Nữ"}
    coded = hi.drivers(clean, spec).frame.query("group == 'city'").set_index("term")
    text = result.frame.query("group == 'city'").set_index("term")
    assert set(coded.index) == set(text.index)
    np.testing.assert_allclose(coded.loc[text.index, "ame_pp"], text["ame_pp"], rtol=1e-9)
    assert coded.loc["sex[Nữ]", "label_vi"] == "Giới tính = Nữ (so với Nam)"
