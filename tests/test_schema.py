"""Tests of validate_survey / ValidationReport: one bad file per kind of problem, the c17
case, coercions, the frame checks and hypothesis properties."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import happiness_index as hi
from happiness_index import IndexSpec, ValidationReport, validate_survey
from happiness_index.errors import SchemaError
from happiness_index.reading.schema import ERROR_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SHARED_CASES = ROOT / "tests" / "cases"  # copies of shared/cases (scripts/sync_reference.py)
BAD = ROOT / "tests" / "data" / "bad"
SPEC = IndexSpec.from_toml(BAD / "spec.toml")
FRAME = pd.read_csv(BAD / "frame.csv")
NA = None  # row / value of problems that concern a whole column or a commune of the frame

# file -> (use the frame?, exact problems as (row, column, check, kind))
CASES = {
    "missing_column.csv": (True, [(NA, "q2", "column present", "missing column")]),
    "missing_weight_column.csv": (True, [(NA, "w", "column present", "missing column")]),
    "duplicate_column.csv": (
        True,
        [(NA, unicodedata.normalize("NFD", "ghi_chú"), "unique column name", "duplicate column")],
    ),
    "missing_id.csv": (True, [(3, "id", "not missing", "missing id")]),
    "duplicate_id.csv": (True, [(4, "id", "unique id", "duplicate id"), (4, "id", "unique id", "duplicate id")]),
    "out_of_range_code.csv": (
        True,
        [(2, "q1", "in range 1..5", "invalid code"), (7, "q3", "in range 0..10", "invalid code")],
    ),
    "fractional_code.csv": (True, [(4, "q2", "in range 1..5", "invalid code")]),
    "categorical_code.csv": (True, [(6, "employed", "in codes {1, 2}", "invalid code")]),
    "not_a_number.csv": (True, [(3, "q3", "is a number", "not a number")]),
    "required_blank.csv": (
        True,
        [(2, "age", "not missing", "missing value"), (7, "age", "not missing", "missing value")],
    ),
    "weight_not_positive.csv": (
        True,
        [(1, "w", "weight positive", "weight not positive"), (8, "w", "weight positive", "weight not positive")],
    ),
    "weight_not_finite.csv": (True, [(4, "w", "weight finite", "weight not finite")]),
    "weight_missing.csv": (True, [(6, "w", "not missing", "missing value")]),
    "psu_not_nested.csv": (False, [(3, "village", "psu nested in stratum", "psu not nested")]),
    "commune_not_in_frame.csv": (
        True,
        [
            (6, "commune", "commune in frame", "commune not in frame"),
            (7, "commune", "commune in frame", "commune not in frame"),
            (NA, "commune", "commune has respondents", "commune without respondents"),
        ],
    ),
    "village_not_in_frame.csv": (True, [(2, "village", "village in frame", "village not in frame")]),
    "commune_name_mismatch.csv": (
        True,
        [
            (3, "commune_name", "commune name matches frame", "commune name mismatch"),
            (8, "commune_name", "commune name matches frame", "commune name mismatch"),
        ],
    ),
    "commune_without_respondents.csv": (
        True,
        [(NA, "commune", "commune has respondents", "commune without respondents")],
    ),
    "skip_rule.csv": (
        True,
        [
            (3, "job_years", "skip rule: missing unless employed in {1}", "skip rule"),
            (7, "job_years", "skip rule: missing unless employed in {1}", "skip rule"),
        ],
    ),
}


def _read(name, **kw):
    return pd.read_csv(BAD / name, **kw)


def _triples(report):
    e = report.errors
    return [(None if pd.isna(r) else r, c, k, kd) for r, c, k, kd in zip(e["row"], e["column"], e["check"], e["kind"])]


def test_at_least_15_kinds_of_bad_files():
    issue9 = {
        "excel_error.csv",
        "duplicate_id_spaces.csv",
        "empty_item.csv",
        "trailing_blank_rows.csv",
        "title_rows.csv",
        "duplicate_raw_header.csv",
        "vietnamese_thousands.csv",
        "invalid_utf8_lines.csv",
    }  # written by make_bad_files.py, see test_bad_corpus.py
    files = {p.name for p in BAD.glob("*.csv")} - {"good.csv", "frame.csv", "coerced_text_numbers.csv"} - issue9
    assert files == set(CASES) and len(CASES) >= 15
    assert len({k for _, probs in CASES.values() for *_, k in probs}) >= 15


def test_good_file_is_clean():
    df = _read("good.csv")
    before = df.copy()
    rep = validate_survey(df, SPEC, FRAME)
    assert rep.ok and rep.errors.empty and list(rep.errors.columns) == ERROR_COLUMNS
    assert rep.summary().empty
    assert rep.raise_if_errors() is rep
    pd.testing.assert_frame_equal(df, before)  # input never modified
    clean = rep.data
    assert clean is not None and clean is not df
    assert str(clean["q1"].dtype) == "Int64" and str(clean["job_years"].dtype) == "Int64"
    assert pd.isna(clean.loc[1, "q2"]) and df.loc[1, "q2"] == 8  # missing code 8 -> missing
    assert pd.isna(clean.loc[4, "q1"]) and pd.isna(clean.loc[4, "employed"])  # 9 -> missing
    assert clean.loc[0, "q1"] == 4 and clean["id"].tolist() == list(range(1, 9))
    ind = SPEC.satisfied_indicators(clean)
    np.testing.assert_array_equal(ind["q1"].to_numpy(), [1, 0, 1, 0, np.nan, 1, 1, 0])


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_file_reports_exactly_its_problems(name):
    use_frame, expected = CASES[name]
    df = _read(name)
    before = df.copy()
    rep = validate_survey(df, SPEC, FRAME if use_frame else None)
    assert not rep.ok and rep.data is None
    assert _triples(rep) == expected
    assert list(rep.errors.columns) == ERROR_COLUMNS
    assert rep.errors["message_en"].str.len().gt(20).all()
    assert rep.errors["message_vi"].str.len().gt(20).all()
    pd.testing.assert_frame_equal(df, before)


def test_bad_values_and_messages():
    rep = validate_survey(_read("out_of_range_code.csv"), SPEC, FRAME)
    assert rep.errors["value"].tolist() == [6, 11]
    assert rep.errors["message_en"][0] == (
        "value 6 in column 'q1' is not an allowed code (in range 1..5) nor a missing code {8, 9}; "
        "correct it or record it as missing"
    )
    assert rep.errors["message_vi"][0].startswith("giá trị 6 ở cột 'q1' không phải mã hợp lệ")
    rep = validate_survey(_read("not_a_number.csv"), SPEC, FRAME)
    assert rep.errors["value"].tolist() == ["abc"]
    rep = validate_survey(_read("commune_name_mismatch.csv"), SPEC, FRAME)
    assert rep.errors["value"].tolist() == ["Xã Tân Thinh", "Phuong Dong Tam"]
    assert "'Xã Tân Thịnh'" in rep.errors["message_en"][0]
    rep = validate_survey(_read("commune_without_respondents.csv"), SPEC, FRAME)
    assert rep.errors["value"].tolist() == [3]
    rep = validate_survey(_read("skip_rule.csv"), SPEC, FRAME)
    assert rep.errors["message_en"][0] == (
        "'job_years' = 5 should be blank: it is asked only when 'employed' is in {1}, and here 'employed' = 2"
    )
    rep = validate_survey(_read("duplicate_id.csv"), SPEC, FRAME)
    assert "data row 4" in rep.errors["message_en"][0] and "data row 5" in rep.errors["message_en"][1]


def test_commune_name_nfc_and_whitespace_are_not_errors():
    df = _read("good.csv")
    df["commune_name"] = df["commune_name"].map(lambda s: " " + unicodedata.normalize("NFD", s) + "  ")
    assert validate_survey(df, SPEC, FRAME).ok


def test_commune_codes_with_leading_zeros_match():
    df = _read("good.csv", dtype={"commune": str})
    df["commune"] = "0" + df["commune"]
    assert validate_survey(df, SPEC, FRAME).ok


def test_coerced_text_numbers_are_notes_not_errors():
    df = _read("coerced_text_numbers.csv", dtype=str, keep_default_na=False)
    rep = validate_survey(df, SPEC, FRAME)
    assert rep.ok, rep.errors
    c = rep.coercions
    assert list(c.columns) == ["row", "row_number", "column", "value", "coerced", "note"]
    row1 = c[(c["row"] == "1") & (c["column"] == "q3")]
    assert row1["value"].tolist() == [" 7 "] and row1["coerced"].tolist() == [7.0]
    assert c[(c["row"] == "6") & (c["column"] == "q3")]["value"].tolist() == ["5.0"]
    assert c[(c["row"] == "2") & (c["column"] == "q1")]["value"].tolist() == ["3 "]
    blanks = c[c["note"] == "blank text read as missing"]
    assert sorted(zip(blanks["row"], blanks["column"])) == [
        ("3", "job_years"),
        ("4", "q3"),
        ("5", "job_years"),
        ("7", "job_years"),
    ]
    # every other cell of the numeric columns was text read as a number: 8 rows x 7 columns
    assert len(c) == 8 * 7
    assert str(rep.data["q3"].dtype) == "Int64" and rep.data["q3"].tolist()[0] == 7
    assert rep.data["w"].dtype == "float64" and rep.data["w"].iloc[0] == 120.5
    assert "coercion" in rep.format_summary()


def test_object_column_mixing_numbers_and_text():
    df = _read("good.csv")
    df["q1"] = pd.Series([4, "3", 5, " 2", 9, 4, "5 ", 1], dtype=object)
    rep = validate_survey(df, SPEC, FRAME)
    assert rep.ok
    assert sorted(zip(rep.coercions["row"], rep.coercions["value"])) == [(2, "3"), (4, " 2"), (7, "5 ")]


def test_c17_nullable_integer_and_unicode_column():
    case = json.loads((SHARED_CASES / "c17_schema_nullable_int.json").read_text("utf-8"))
    df = pd.read_csv(SHARED_CASES / case["data_file"])
    spec = IndexSpec.from_dict(
        {
            "name": "c17",
            "preset": "mean_of_shares",
            "design": {"id": "id", "weights": "weight"},
            "components": [{"name": "sv", "items": ["satisfacción_vida"]}],
            "items": [
                {"name": "edad", "type": "integer", "minimum": 0, "maximum": 120},
                {"name": "satisfacción_vida", "type": "scale0_10", "satisfied": 6},
            ],
        }
    )
    rep = validate_survey(df, spec)
    exp = case["expected"]
    assert len(rep.errors) == exp["failure_count"] == 1
    assert [list(x) for x in zip(rep.errors["column"], rep.errors["check"], rep.errors["value"])] == exp["failures"]
    assert rep.errors["row"].tolist() == [5]
    assert rep.coercions.empty  # NA cells of a nullable column are never coercion failures
    # without the bad row the data pass and age is a nullable integer with its blanks kept
    ok = validate_survey(df[df["id"] != 5], spec)
    assert ok.ok and str(ok.data["edad"].dtype) == "Int64"
    assert int(ok.data["edad"].isna().sum()) == 2
    # a non-nullable age fails on the two blank rows, naming 'edad'
    d = spec.to_dict()
    d["items"][0]["nullable"] = False
    strict = validate_survey(df, IndexSpec.from_dict(d))
    e = strict.errors[strict.errors["column"] == "edad"]
    assert e["row"].tolist() == [2, 6] and set(e["check"]) == {"not missing"}


def test_decomposed_column_name_in_file_matches_spec():
    df = pd.DataFrame(
        {
            "id": [1, 2],
            unicodedata.normalize("NFD", "satisfacción_vida"): [3, 12],
            "edad": [30, 40],
            "weight": [1.0, 1.0],
        }
    )
    spec = IndexSpec.from_dict(
        {
            "name": "c17",
            "preset": "mean_of_shares",
            "design": {"id": "id", "weights": "weight"},
            "components": [{"name": "sv", "items": ["satisfacción_vida"]}],
            "items": [{"name": "satisfacción_vida", "type": "scale0_10", "satisfied": 6}],
        }
    )
    rep = validate_survey(df, spec)
    assert rep.errors["column"].tolist() == [unicodedata.normalize("NFD", "satisfacción_vida")]
    rep = validate_survey(df.iloc[:1], spec)
    assert rep.ok and "satisfacción_vida" in rep.data.columns  # cleaned names are NFC


def test_rows_are_row_numbers_without_id():
    df = _read("out_of_range_code.csv").drop(columns="id")
    d = SPEC.to_dict()
    d["design"].pop("id")
    rep = validate_survey(df, IndexSpec.from_dict(d), FRAME)
    assert rep.errors["row"].tolist() == [2, 7]
    # id_column overrides the spec
    df2 = _read("out_of_range_code.csv").rename(columns={"id": "ma_phieu"})
    rep = validate_survey(df2, IndexSpec.from_dict(d), FRAME, id_column="ma_phieu")
    assert rep.errors["row"].tolist() == [2, 7]


def test_spec_may_be_a_path_and_index_is_kept():
    df = _read("good.csv").set_index(pd.Index(list("abcdefgh")))
    rep = validate_survey(df, BAD / "spec.toml", FRAME)
    assert rep.ok and list(rep.data.index) == list("abcdefgh")
    bad = _read("fractional_code.csv").set_index(pd.Index(list("abcdefgh")))
    assert validate_survey(bad, SPEC, FRAME).errors["row"].tolist() == [4]


def test_summary_and_raise_if_errors():
    df = _read("good.csv")
    df.loc[[0, 1, 2], "q1"] = [6, 7, 0]
    df.loc[3, "w"] = -1.0
    rep = validate_survey(df, SPEC, FRAME)
    s = rep.summary()
    assert s[["kind", "check", "column", "n"]].values.tolist() == [
        ["invalid code", "in range 1..5", "q1", 3],
        ["weight not positive", "weight positive", "w", 1],
    ]
    assert s["rows"].tolist() == ["1, 2, 3", "4"]
    with pytest.raises(SchemaError) as ei:
        rep.raise_if_errors()
    msg = str(ei.value)
    assert "4 problems (invalid code: 3, weight not positive: 1)" in msg
    assert "row 1, column 'q1': value 6" in msg
    assert ei.value.report is rep
    assert isinstance(ei.value, hi.HappinessIndexError)
    text = rep.format_summary()
    assert "invalid code" in text and "in range 1..5" in text
    assert "lỗi" in rep.format_summary("vi")
    assert "ok=False" in repr(rep)


def test_many_errors_message_is_truncated():
    df = pd.concat([_read("good.csv")] * 3, ignore_index=True)
    df["id"] = range(1, 25)
    df["q1"] = 7
    rep = validate_survey(df, SPEC, FRAME)
    with pytest.raises(SchemaError, match=r"and 19 more"):
        rep.raise_if_errors()


def test_frame_problems_raise():
    with pytest.raises(SchemaError, match="no column 'commune'"):
        validate_survey(_read("good.csv"), SPEC, FRAME.rename(columns={"commune": "ma_xa"}))
    fr = FRAME.copy()
    fr.loc[1, "commune_name"] = "Phường Đồng Tâm mới"
    with pytest.raises(SchemaError, match="more than one name"):
        validate_survey(_read("good.csv"), SPEC, fr)
    with pytest.raises(SchemaError, match="must be a pandas DataFrame"):
        validate_survey([1, 2], SPEC)


def test_frame_without_villages_skips_village_check():
    df = _read("village_not_in_frame.csv")
    assert validate_survey(df, SPEC, FRAME.drop(columns="village")).ok


def test_exports():
    assert hi.validate_survey is validate_survey and hi.ValidationReport is ValidationReport


# ------------------------------------------------------------------ properties
YB = IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
YB_ITEMS = [it.name for it in YB.items]
YB_FRAME = pd.DataFrame(
    {"commune": [1, 1, 2, 3], "commune_name": ["Phường A", "Phường A", "Xã B", "Xã C"], "village": [11, 12, 21, 31]}
)


@st.composite
def clean_survey(draw):
    n = draw(st.integers(min_value=4, max_value=40))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    pick = np.concatenate([[0, 2, 3], rng.integers(0, 4, n - 3)])  # every commune has a respondent
    df = pd.DataFrame(
        {
            "respondent_id": rng.permutation(np.arange(1000, 1000 + n)),
            "commune": YB_FRAME["commune"].to_numpy()[pick],
            "commune_name": YB_FRAME["commune_name"].to_numpy()[pick],
            "village": YB_FRAME["village"].to_numpy()[pick],
            "weight": rng.uniform(1, 300, n),
        }
    )
    for q in YB_ITEMS:
        df[q] = rng.choice([1, 2, 3, 4, 5, 8, 9], n)
        df.loc[rng.integers(0, n), q] = rng.integers(1, 6)  # every item has an answer
    return df, rng


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clean_survey())
def test_property_clean_survey_reports_nothing(arg):
    df, _ = arg
    rep = validate_survey(df, YB, YB_FRAME)
    assert rep.ok, rep.errors.head()
    assert rep.coercions.empty


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clean_survey(), st.integers(min_value=1, max_value=12), st.data())
def test_property_corrupting_k_cells_reports_exactly_them(arg, k, data):
    df, rng = arg
    cells = [(r, c) for r in range(len(df)) for c in range(len(YB_ITEMS))]
    k = min(k, len(cells))
    chosen = rng.choice(len(cells), size=k, replace=False)
    bad = df.copy()
    expected = set()
    for j in chosen:
        r, c = cells[j]
        col = YB_ITEMS[c]
        val = data.draw(st.sampled_from([0, 6, 7, -1, 10, 2.5, "x", "?"]))
        if isinstance(val, str) or bad[col].dtype == object:
            bad[col] = bad[col].astype(object)
        elif isinstance(val, float):
            bad[col] = bad[col].astype(float)
        bad.iloc[r, bad.columns.get_loc(col)] = val
        expected.add((int(df["respondent_id"].iloc[r]), col))
    rep = validate_survey(bad, YB, YB_FRAME)
    got = list(zip(rep.errors["row"].astype(int), rep.errors["column"]))
    assert len(got) == k and set(got) == expected
    assert set(rep.errors["check"]) <= {"in range 1..5", "is a number"}


def test_text_in_non_nullable_column_is_reported_once():
    df = _read("good.csv")
    df["w"] = df["w"].astype(object)
    df.loc[2, "w"] = "abc"
    df["age"] = df["age"].astype(object)
    df.loc[5, "age"] = "n/a"
    rep = validate_survey(df, SPEC, FRAME)
    assert _triples(rep) == [(3, "w", "is a number", "not a number"), (6, "age", "is a number", "not a number")]


def test_exact_duplicate_header_and_two_blank_ids():
    df = _read("good.csv")
    df.columns = [c if c != "q2" else "q1" for c in df.columns]
    rep = validate_survey(df, SPEC, FRAME)
    assert _triples(rep) == [
        (None, "q1", "unique column name", "duplicate column"),
        (None, "q2", "column present", "missing column"),
    ]
    df = _read("good.csv")
    df.loc[[2, 3], "id"] = np.nan
    rep = validate_survey(df, SPEC, FRAME)  # blank ids: row numbers, not reported as duplicates
    assert _triples(rep) == [(3, "id", "not missing", "missing id"), (4, "id", "not missing", "missing id")]


@pytest.mark.parametrize("dtype", ["category", "Int64", "Float64", "string", object])
def test_item_dtypes_accepted(dtype):
    df = _read("good.csv")
    df["q1"] = df["q1"].astype(dtype)
    rep = validate_survey(df, SPEC, FRAME)
    assert rep.ok and rep.data["q1"].tolist()[:4] == [4, 3, 5, 2]


# ----------------------------------------------------------------------------------------
# breakit #10: Boolean Likert column, empty survey; #17: bad spec paths
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [bool, "boolean"])
def test_boolean_column_for_likert_item_is_an_error(dtype):
    df = _read("good.csv")
    df["q1"] = (df["q1"] > 0).astype(dtype)  # every answer becomes True: would pass as code 1
    df["q3"] = (df["q3"] > 5).astype(dtype)  # scale0_10: 0/1 are valid codes, still an error
    before = df.copy()
    rep = validate_survey(df, SPEC, FRAME)
    assert not rep.ok and rep.data is None
    assert _triples(rep) == [
        (None, "q1", "not a Boolean column", "boolean column"),
        (None, "q3", "not a Boolean column", "boolean column"),
    ]
    msg = rep.errors["message_en"][0]
    assert "True/False" in msg and "likert5 (in range 1..5)" in msg and "True would count as code 1" in msg
    assert "True/False" in rep.errors["message_vi"][0]
    pd.testing.assert_frame_equal(df, before)
    # a yes_no item may be Boolean (True/False read as codes 1/0, checked as codes)
    df = _read("good.csv")
    df["employed"] = df["employed"] == 1
    assert "boolean column" not in set(validate_survey(df, SPEC, FRAME).errors["kind"])


def test_empty_survey_is_an_error(tmp_path):
    df = _read("good.csv").iloc[:0]
    rep = validate_survey(df, SPEC)
    assert not rep.ok and rep.n_rows == 0 and rep.data is None
    assert _triples(rep) == [(None, "", "at least one row", "no respondents")]
    assert "no data rows" in rep.errors["message_en"][0]
    with pytest.raises(SchemaError, match="no respondents: 1"):
        rep.raise_if_errors()
    # a header-only file, through the command line: exit 1 (invalid data)
    from happiness_index.report.cli import main

    p = tmp_path / "empty.csv"
    p.write_text((BAD / "good.csv").read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    assert main(["validate", str(p), "--spec", str(BAD / "spec.toml")]) == 1


def test_bad_spec_paths_raise_spec_error(tmp_path):
    df = _read("good.csv")
    with pytest.raises(hi.SpecError, match=r"spec file not found: .*nope\.toml"):
        validate_survey(df, tmp_path / "nope.toml")
    with pytest.raises(hi.SpecError, match="is a directory, not a TOML file"):
        validate_survey(df, tmp_path)
    with pytest.raises(hi.SpecError, match="needs a spec: an IndexSpec or the path .* got NoneType None"):
        validate_survey(df, None)


def test_summary_counts_distinct_rows_and_plurals():
    """'N problems in M of K rows': M counts distinct data rows (new-user report #8)."""
    df = _read("good.csv")
    df.loc[1, "q1"] = 7  # row 2: two problems
    df.loc[1, "q3"] = 11
    df.loc[4, "q1"] = 6  # row 5: one problem
    rep = validate_survey(df, SPEC, FRAME)
    assert rep.n_problem_rows == 2 and len(rep.errors) == 3
    assert rep.errors["row_number"].tolist() == [2, 2, 5]
    assert "3 problems in 2 of 8 rows" in rep.format_summary()
    assert "3 lỗi ở 2 trong 8 dòng" in rep.format_summary("vi")
    one = df.iloc[:1].copy()
    one.loc[0, "q1"] = 7
    assert "1 problem in 1 of 1 row (" in validate_survey(one, SPEC).format_summary()


def test_vietnamese_summary_counts_in_vietnamese_format_and_column_problems_in_no_row():
    """Counts of thousands are written 3.400 in Vietnamese; whole-column problems are not
    'in 0 of N rows'."""
    df = _read("good.csv")
    big = pd.concat([df] * 150, ignore_index=True)
    big["id"] = np.arange(1, len(big) + 1)
    rep = validate_survey(big, SPEC)
    assert rep.ok and rep.format_summary("vi").startswith("Đã kiểm tra 1.200 dòng")
    assert rep.format_summary("en").startswith("1200 rows checked")
    bad = big.drop(columns=["q2"])
    vi, en = validate_survey(bad, SPEC).format_summary("vi"), validate_survey(bad, SPEC).format_summary("en")
    assert vi.startswith("1 lỗi về cột hoặc tệp, không thuộc dòng nào (1.200 dòng") and " ở 0 " not in vi
    assert en.startswith("1 problem with columns or the file, in no particular row (1200 rows") and "in 0 of" not in en


def test_vietnamese_summary_translates_headers_kinds_and_checks():
    df = _read("good.csv")
    df.loc[1, "q1"] = 7
    text = validate_survey(df, SPEC, FRAME).format_summary("vi")
    head = text.splitlines()[1].split()
    assert head[:2] == ["loại", "lỗi"] and "kiểm" in head and "kind" not in text
    assert "mã không hợp lệ" in text and "trong khoảng 1..5" in text and "invalid code" not in text


def test_duplicate_ids_show_row_numbers():
    rep = validate_survey(_read("duplicate_id.csv"), SPEC, FRAME)
    assert rep.errors["row_number"].tolist() == [4, 5]
    rows = rep.summary()["rows"].iloc[0]
    assert rows == "4 (row 4), 4 (row 5)"
    assert "4 (dòng 4), 4 (dòng 5)" in rep.format_summary("vi")
    assert rep.n_problem_rows == 2  # the same id on two rows: two rows


def test_to_frame_appends_coercions_as_notes():
    df = _read("coerced_text_numbers.csv", dtype=str, keep_default_na=False)
    df.loc[0, "q1"] = "6"
    rep = validate_survey(df, SPEC, FRAME)
    t = rep.to_frame()
    assert list(t.columns) == ERROR_COLUMNS
    notes = t[t["kind"] == "coercion (note)"]
    assert len(t) == len(rep.errors) + len(rep.coercions) and len(notes) == len(rep.coercions) > 0
    assert t["kind"].iloc[0] != "coercion (note)"  # problems first
    assert notes["check"].eq("read as number").all() and notes["row_number"].notna().all()
    summary = rep.format_summary()
    assert "report.coercions" not in summary and f"{len(rep.coercions)} cells were read by coercion" in summary
    assert rep.to_frame(coercions=False).equals(rep.errors)
