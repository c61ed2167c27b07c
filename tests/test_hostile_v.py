"""Hostile inputs (tester's findings #2, #11, #12): last year's results and published figures,
deeply nested JSON/TOML input files, and rows whose year is blank or unreadable."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

import happiness_index as hi
from happiness_index.index.trajectory import previous_results
from happiness_index.questionnaire.spec import bundled_spec_path
from happiness_index.questionnaire.textformats import MAX_NESTING, nesting_depth, parse_json_or_toml
from happiness_index.report.annual import run_annual
from happiness_index.report.cli import main

NEW = {"estimate": 76.93, "se": 1.12, "df": 68}
METHOD = {
    "name": "yen_bai_nef",
    "version": "2023.1",
    "preset": "nef_ratio",
    "formula": "ls * le / env",
    "scale": "percent",
}
RESULTS = {  # the parts of a results.json that a change needs
    "year": 2023,
    "index": {"estimate": 73.25, "se": 1.14, "ci_low": 71.0, "ci_high": 75.56, "df": 68.0, "n": 3400},
    "spec": METHOD,
    "provenance": {"data_hash": "abc"},
}


@pytest.fixture(scope="module")
def spec():
    return hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))


@pytest.fixture(scope="module")
def s24():
    return hi.load_city_survey(2024)


# --------------------------------------------------------------------- #2 compare() inputs
@pytest.mark.parametrize(
    "old, match",
    [
        ({"estimate": 70, "se": 1e200, "df": 10}, "se is 1e\\+200, larger than"),
        ({"estimate": 1e308, "se": 1e308, "df": 10}, "estimate 1e\\+308 is outside 0-100"),
        ({"estimate": 70, "se": -1, "df": 10}, "se is -1, negative"),
        ({"estimate": True, "se": 1, "df": 10}, "estimate is True \\(bool\\), not a number"),
        ({"estimate": math.inf, "se": 1, "df": 10}, "estimate is inf, not a finite number"),
        ({"estimate": "76", "se": 1, "df": 10}, "estimate is '76' \\(str\\)"),
        ({"estimate": 70, "se": math.nan, "df": 10}, "se is nan"),
        ({"estimate": 70, "se": 1, "df": 0}, "df is 0; degrees of freedom are > 0"),
        ({"estimate": 70, "se": 1, "df": -5}, "df is -5"),
        ({"estimate": 70, "se": 1, "df": "x"}, "df is 'x'"),
        ({"estimate": -5.0}, "estimate -5 is outside 0-100"),
    ],
)
def test_compare_refuses_unusable_mapping(old, match):
    with pytest.raises(hi.EstimationError, match=match):
        hi.compare(NEW, old)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"value": 76.0, "se": -1}, "se is -1, negative"),
        ({"value": float("nan")}, "value is nan"),
        ({"value": "76"}, "value is '76' \\(str\\)"),
        ({"value": True}, "value is True \\(bool\\)"),
        ({"value": 76.0, "year": 2024.5}, "year is 2024.5"),
        ({"value": 76.0, "year": "2024"}, "year is '2024' \\(str\\)"),
        ({"value": 76.0, "year": True}, "year is True"),
        ({"value": 76.0, "year": 20240}, "year 20240 is outside"),
        ({"value": 76.0, "se": math.inf}, "se is inf"),
        ({"value": 76.0, "components": {"ls": "x"}}, "components\\['ls'\\]"),
    ],
)
def test_published_figure_refuses_nonsense(kwargs, match):
    with pytest.raises(hi.EstimationError, match=match):
        hi.PublishedFigure(**kwargs)


@pytest.mark.parametrize("value", [-5.0, 15000.0])
def test_published_figure_out_of_range_for_percent(value):
    # a percent index is not negative; a ratio index (LS x LE / ENV) may exceed 100, not 10,000
    with pytest.raises(hi.EstimationError, match="value .* is outside 0-10000"):
        hi.compare(NEW, hi.PublishedFigure(value))
    with pytest.raises(hi.EstimationError, match="outside 0-10000"):
        hi.compare(NEW, value)


def test_a_ratio_index_above_100_is_a_valid_previous_figure():
    # HI = LS x LE / ENV exceeds 100 whenever LS x LE > 100 x ENV: last year's 113.4 is compared
    ch = hi.compare({"estimate": 121.0, "se": 3.0}, {"estimate": 113.4, "se": 3.0})
    assert ch.change_pp == pytest.approx(7.6)
    d = edited(**{"index.estimate": 113.4, "index.ci_low": 108.0, "index.ci_high": 119.0})
    assert previous_results(d)["estimate"] == 113.4
    with pytest.raises(hi.EstimationError, match="outside 0-100"):  # a mean of shares cannot
        previous_results(edited(**{"spec.preset": "mean_of_shares", "index.estimate": 113.4, "index.ci_high": 119.0}))


def test_a_gnh_results_file_without_formula_is_accepted():
    # af_gnh has no formula: results.json writes "formula": null, and the file is the library's own
    d = edited(**{"spec.preset": "af_gnh", "spec.formula": None, "spec.scale": "proportion", "index.estimate": 0.6})
    d["index"].update(se=0.02, ci_low=0.56, ci_high=0.64)
    assert previous_results(d)["estimate"] == 0.6


def test_proportion_against_percent_index_is_refused():
    with pytest.raises(hi.EstimationError, match="0.76, a proportion .* percent.*76"):
        hi.compare(NEW, hi.PublishedFigure(0.76))
    # explicit scale: the caller decides (a score on another scale)
    assert hi.compare(NEW, hi.PublishedFigure(0.76), scale="value").change_pp == pytest.approx(76.17)


def test_good_published_figure_still_works():
    c = hi.compare(NEW, hi.PublishedFigure(73.0, year=2023, se=1.0))
    assert c.change_pp == pytest.approx(3.93) and c.se == pytest.approx(math.hypot(1.12, 1.0))
    assert hi.PublishedFigure(73.0, year=np.int64(2023)).year == 2023


@pytest.mark.parametrize("labels", [("a",), "ab", ("a", "b", "c"), 5])
def test_labels_must_be_two_texts(labels):
    with pytest.raises(hi.EstimationError, match="labels must be two texts"):
        hi.compare(NEW, {"estimate": 70.0}, labels=labels)


@pytest.mark.parametrize("old_year", [2024, 2025])
def test_old_year_not_before_new_year_is_refused(old_year):
    with pytest.raises(hi.EstimationError, match=f"old figure's year {old_year} is not earlier"):
        hi.compare(hi.PublishedFigure(76.0, year=2024), hi.PublishedFigure(70.0, year=old_year))


def test_value_scale_has_no_overflow():
    with pytest.raises(hi.EstimationError, match="se is 1e\\+200, larger than the largest magnitude"):
        hi.compare({"estimate": 1.0, "se": 1e200, "df": 10}, {"estimate": 1.0, "se": 1, "df": 10}, scale="value")
    with pytest.raises(hi.EstimationError, match="estimate 1e\\+200 is outside"):
        hi.compare({"estimate": 1.0, "se": 1, "df": 10}, {"estimate": 1e200, "se": 1, "df": 10}, scale="value")
    c = hi.compare({"estimate": 1.0, "se": 1e40, "df": 10}, {"estimate": 2.0, "se": 1e40, "df": 10}, scale="value")
    assert math.isfinite(c.se) and math.isfinite(c.df)
    # a tiny old value (in range) or a huge relative SE: inf/NaN relative change, never an OverflowError
    for old in ({"estimate": 1e-200, "se": 1.0, "df": 10}, {"estimate": 1e-3, "se": 10.0, "df": 10}):
        c = hi.compare({"estimate": 50.0, "se": 1.0, "df": 10}, old, scale="value")
        assert math.isfinite(c.change_pp) and not math.isfinite(c.ci_rel_high)


# --------------------------------------------------------------------- #2 previous_results()
def edited(**changes):
    d = copy.deepcopy(RESULTS)
    for k, v in changes.items():
        if "." in k:
            block, key = k.split(".")
            d[block][key] = v
        elif v is None:
            d.pop(k)
        else:
            d[k] = v
    return d


def test_previous_results_accepts_a_results_file():
    p = previous_results(RESULTS, year=2024, source="r.json")
    assert p["estimate"] == 73.25 and p["year"] == 2023 and p["spec"]["preset"] == "nef_ratio"
    c = hi.compare(NEW, p)
    assert c.change_pp == pytest.approx(76.93 - 73.25)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"index.estimate": 1e308}, "r.json: index: estimate 1e\\+308 is outside 0-100"),
        ({"index": [1, 2]}, "'index' is list, not a table"),
        ({"index.se": -1}, "se is -1, negative"),
        ({"index.estimate": math.inf}, "estimate is inf"),
        ({"index.se": math.nan}, "se is nan"),
        ({"index.se": None}, "'index' has no 'se'"),
        ({"index.df": 0}, "df is 0"),
        ({"index.df": -5}, "df is -5"),
        ({"index.ci_low": 80.0}, "interval 80 - 75.56 does not contain"),
        ({"index.n": 2.5}, "n is 2.5"),
        ({"year": 2030}, "results are for 2030, not earlier than this year 2024"),
        ({"year": 2024}, "results are for 2024, not earlier than this year 2024"),
        ({"year": "2023"}, "year is '2023' \\(str\\)"),
        ({"spec": None}, "no 'spec'.*index method of last year cannot be checked"),
        ({"year": None}, "no 'year'"),
        ({"spec": "nef"}, "'spec' is str"),
        ({"spec.preset": None}, "'spec' has no 'preset'"),
    ],
)
def test_previous_results_refuses(changes, match):
    with pytest.raises(hi.EstimationError, match=match):
        previous_results(edited(**changes), year=2024, source="r.json")


def test_previous_results_proportion_scale():
    d = edited(**{"spec.scale": "proportion", "index.estimate": 0.73, "index.se": 0.01})
    d["index"].pop("ci_low"), d["index"].pop("ci_high")
    assert previous_results(d)["estimate"] == 0.73
    with pytest.raises(hi.EstimationError, match="outside 0-1"):
        previous_results(edited(**{"spec.scale": "proportion", "spec.preset": "mean_of_shares"}))


def test_previous_results_keep_the_method_check():
    other = {**NEW, "spec": {**METHOD, "preset": "geometric", "formula": "(ls * le * env) ** (1/3)"}}
    with pytest.raises(hi.EstimationError, match="different index methods"):
        hi.compare(other, previous_results(RESULTS))


def test_run_annual_previous_mapping_checked(spec, s24):
    with pytest.raises(hi.EstimationError, match="no 'index', 'spec'"):
        run_annual(s24, spec, previous={"estimate": 70.0, "se": 1.0, "year": 2023}, drivers=False)
    with pytest.raises(hi.EstimationError, match="not earlier than this year 2024"):
        run_annual(s24, spec, previous=edited(year=2024), drivers=False)
    with pytest.raises(hi.EstimationError, match="previous year 2022 given .* results.json is for 2023"):
        run_annual(s24, spec, previous=edited(), previous_year=2022, drivers=False)


def test_run_annual_previous_same_year_microdata_refused(spec, s24):
    # this year's own file given as last year's: "Change 2024 -> 2024" was published
    with pytest.raises(hi.EstimationError, match="data are for 2024, not earlier than this year 2024"):
        run_annual(s24, spec, previous=s24, drivers=False)


def _cli(tmp_path, capsys, *extra):
    rc = main(["run", "--survey", str(tmp_path / "s24.csv"), "--spec", "yen_bai_nef", "--no-drivers",
               "--out", str(tmp_path / "out"), "--quiet", "--lang", "en", *extra])  # fmt: skip
    return rc, capsys.readouterr().err


@pytest.fixture
def survey_file(tmp_path, s24):
    s24.to_csv(tmp_path / "s24.csv", index=False)
    return tmp_path


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"index": [1, 2]}, "'index' is list"),
        ({"index.estimate": 1e308, "index.se": 1e308}, "estimate 1e\\+308 is outside"),
        ({"index.se": -1}, "se is -1, negative"),
        ({"spec": None}, "no 'spec'"),
    ],
)
def test_cli_previous_results_refused_before_the_run(survey_file, capsys, changes, match):
    prev = survey_file / "prev.json"
    prev.write_text(json.dumps(edited(**changes)), encoding="utf-8")
    rc, err = _cli(survey_file, capsys, "--previous", str(prev))
    assert rc != 0 and "Traceback" not in err
    assert "happiness-index: error:" in err and str(prev) in err
    assert __import__("re").search(match, err)
    assert not (survey_file / "out" / "report.md").exists()


# --------------------------------------------------------------------- #11 deep nesting
def test_parse_json_or_toml_depth():
    ok = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert nesting_depth(parse_json_or_toml(ok, "json", what="x", source="s", error=hi.SpecError)) == MAX_NESTING
    deeper = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)  # below Python's recursion limit
    with pytest.raises(hi.SpecError, match="nested too deep"):
        parse_json_or_toml(deeper, "json", what="x", source="s", error=hi.SpecError)
    with pytest.raises(hi.SpecError, match="nested too deep"):
        parse_json_or_toml("[" * 100000 + "]" * 100000, "json", what="x", source="s", error=hi.SpecError)
    with pytest.raises(hi.SpecError, match="nested too deep"):
        parse_json_or_toml("a = " + "[" * 5000 + "]" * 5000, "toml", what="x", source="s", error=hi.SpecError)
    with pytest.raises(hi.SpecError, match="not valid JSON"):
        parse_json_or_toml("{", "json", what="x", source="s", error=hi.SpecError)
    assert nesting_depth({"a": [1, {"b": 2}]}) == 3 and nesting_depth(5) == 0


@pytest.fixture
def deep_files(survey_file):
    (survey_file / "deep.json").write_text("[" * 100000 + "]" * 100000, encoding="utf-8")
    (survey_file / "deep.toml").write_text("a = " + "[" * 20000 + "]" * 20000 + "\n", encoding="utf-8")
    return survey_file


@pytest.mark.parametrize(
    "option, name, what",
    [
        ("--margins", "deep.json", "margins file"),
        ("--margins", "deep.toml", "margins file"),
        ("--previous", "deep.json", "previous results"),
        ("--targets", "deep.json", "target set"),
        ("--targets", "deep.toml", "target set"),
    ],
)
def test_cli_deep_input_files(deep_files, capsys, option, name, what):
    rc, err = _cli(deep_files, capsys, option, str(deep_files / name))
    assert rc != 0 and "RecursionError" not in err and "Traceback" not in err
    assert f"{what} {deep_files / name}: arrays or tables nested too deep" in err


def test_cli_deep_run_file(tmp_path, capsys):
    run = tmp_path / "run.toml"
    run.write_text("x = " + "[" * 20000 + "]" * 20000 + "\n", encoding="utf-8")
    assert main(["run", "--config", str(run)]) != 0
    assert f"run file {run}: arrays or tables nested too deep" in capsys.readouterr().err


def test_trajectory_load_deep(tmp_path):
    p = tmp_path / "t.json"
    p.write_text("{" + '"a":{' * 3000 + "}" * 3001, encoding="utf-8")
    with pytest.raises(hi.SpecError, match="nested too deep"):
        hi.Trajectory.load(p)


# --------------------------------------------------------------------- #12 blank or unreadable year
def mixed_years(s24):
    d = s24.copy()
    d["year"] = d["year"].astype(object)
    d.loc[::10, "year"] = np.nan
    d.loc[1::10, "year"] = "2,024"
    d.loc[2::10, "year"] = "2024.0"
    d.loc[3::10, "year"] = " 2024 "
    return d


@pytest.mark.parametrize("year", [2024, None])
def test_blank_or_unreadable_year_is_refused(spec, s24, year):
    with pytest.raises(hi.EstimationError, match=r"680 row\(s\) whose 'year' is blank or not a whole year") as e:
        run_annual(mixed_years(s24), spec, year=year, drivers=False)
    assert "data rows 1, 2, 11, 12" in str(e.value) and "'2,024'" in str(e.value) and "blank" in str(e.value)


def test_fractional_year_is_refused_in_previous_file(spec, s24):
    prev = hi.load_city_survey(2023)
    prev["year"] = prev["year"].astype(float)
    prev.loc[5, "year"] = 2023.5
    with pytest.raises(hi.EstimationError, match=r"previous file has 1 row\(s\).*data rows 6 "):
        run_annual(s24, spec, previous=prev, drivers=False)


def test_readable_year_texts_still_select(spec, s24):
    d = s24.copy()
    d["year"] = d["year"].astype(object)
    d.loc[2::10, "year"] = "2024.0"
    d.loc[3::10, "year"] = " 2024 "
    from happiness_index.report import annual

    rows, y = annual._select_year(d, 2024, "survey")
    assert y == 2024 and len(rows) == len(s24)


def test_last_years_stored_interval_is_kept_in_the_targets(spec):
    # the 2023 interval is the one its own run published (log-scale for nef_ratio), not a t interval
    # rebuilt around the estimate from the results.json
    import json

    from happiness_index.report.annual import run_annual

    r23 = run_annual(hi.load_city_survey(2023), spec, drivers=False)
    prev = json.loads(json.dumps(r23.results, default=str))
    r = run_annual(hi.load_city_survey(2024), spec, previous=prev, drivers=False)
    row = next(y for y in r.results["targets"]["years"] if y["year"] == 2023)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (r23.results["index"]["ci_low"], r23.results["index"]["ci_high"])
    )


def test_commune_changes_from_last_years_results_json_equal_those_from_its_survey(spec):
    # the office usually keeps last year's results.json, not its microdata: the change per
    # commune (change_communes.csv, the report's table) comes from its commune rows
    import json

    from happiness_index.report.annual import run_annual

    r23 = run_annual(hi.load_city_survey(2023), spec, drivers=False)
    prev = json.loads(json.dumps(r23.results, default=str))
    from_file = run_annual(hi.load_city_survey(2024), spec, previous=prev, drivers=False).change.by_group.to_frame()
    from_data = run_annual(
        hi.load_city_survey(2024), spec, previous=hi.load_city_survey(2023), drivers=False
    ).change.by_group.to_frame()
    assert len(from_file) == 17
    cols = ["new", "old", "old_se", "change_pp", "se", "ci_low", "ci_high", "df", "p_value"]
    np.testing.assert_allclose(from_file[cols].to_numpy(float), from_data[cols].to_numpy(float), rtol=1e-9)
    bad = {**prev, "communes": [{**prev["communes"][0], "se": -1.0}, *prev["communes"][1:]]}
    with pytest.raises(hi.EstimationError, match="commune"):
        previous_results(bad)
