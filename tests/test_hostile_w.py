"""Hostile-input findings 14, 7, 8 and 13 (tester's FINDINGS-break.md): dates/times and True/False
cells read as numbers, headers equal after trimming, control characters in text.

Each test reproduces a finding and failed before the fix.
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import DataFileError
from happiness_index.reading.files import column_key
from happiness_index.reading.schema import boolean_cells, temporal_cells, to_number
from happiness_index.report.cells import (
    console_text,
    escape_controls,
    escape_markdown,
    neutralise_cell,
    neutralise_frame,
)

ROOT = Path(__file__).resolve().parents[1]
BAD = Path(__file__).resolve().parent / "data" / "bad"
SPEC = hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
BAD_SPEC = hi.IndexSpec.from_toml(BAD / "spec.toml")


@pytest.fixture(scope="module")
def s24() -> pd.DataFrame:
    return hi.load_city_survey(2024)


def _good() -> pd.DataFrame:
    return pd.read_csv(BAD / "good.csv")


def _checks(report) -> set:
    return set(report.errors["check"])


# ---------------------------------------------------------------------------------------------
# 14: dates and times are not numbers
# ---------------------------------------------------------------------------------------------
def test_datetime_weights_are_not_a_number(s24):
    w = pd.to_datetime("2024-01-01") + pd.to_timedelta(s24.weight, unit="D")
    r = hi.validate_survey(s24.assign(weight=w), SPEC)
    assert not r.ok and r.data is None
    assert set(r.errors["kind"]) == {"not a number"}
    assert _checks(r) == {"not a date or time"}
    assert len(r.errors) == len(s24) and set(r.errors["column"]) == {"weight"}
    msg = r.errors["message_en"].iloc[0]
    assert "date or time" in msg and "Excel date format?" in msg and "format the cells as numbers" in msg
    assert "2024-01-" in msg and "T" not in msg.split("value ")[1][:20]  # shown as a timestamp, not numpy text
    assert "ngày/giờ" in r.errors["message_vi"].iloc[0]
    assert "không phải ngày/giờ" in r.format_summary("vi")


@pytest.mark.parametrize(
    "make",
    [
        lambda w: pd.to_timedelta(w, unit="D"),
        lambda w: pd.Series(pd.period_range("2024-01", periods=len(w), freq="D"), index=w.index),
        lambda w: pd.to_datetime("2024-01-01", utc=True) + pd.to_timedelta(w, unit="h"),
    ],
    ids=["timedelta", "period", "tz-aware"],
)
def test_every_temporal_dtype_is_not_a_number(make):
    d = _good()
    r = hi.validate_survey(d.assign(w=make(d["w"])), BAD_SPEC)
    assert not r.ok and _checks(r) == {"not a date or time"} and len(r.errors) == len(d)


def test_excel_date_formatted_weights_are_reported(tmp_path):
    """The everyday route: a weight column formatted as dates in Excel; small weights (19.25)
    fall before 1970 and were reported as 'weight not positive'."""
    import openpyxl

    d = _good()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(d.columns))
    for rec in d.itertuples(index=False):
        ws.append(list(rec))
    wcol = list(d.columns).index("w") + 1
    for row in ws.iter_rows(min_row=2, min_col=wcol, max_col=wcol):
        row[0].number_format = "dd/mm/yyyy"
    path = tmp_path / "dateweights.xlsx"
    wb.save(path)
    r = hi.validate_survey(hi.read_survey(path), BAD_SPEC)
    assert not r.ok
    assert set(r.errors["column"]) == {"w"} and _checks(r) == {"not a date or time"}
    assert "weight not positive" not in set(r.errors["kind"])


def test_date_cells_among_numbers_in_an_item():
    d = _good()
    q1 = d["q1"].astype(object)
    q1.iloc[1] = datetime.date(2024, 1, 4)
    q1.iloc[2] = datetime.time(4, 0)
    q1.iloc[3] = pd.Timestamp("1900-01-04")
    r = hi.validate_survey(d.assign(q1=q1), BAD_SPEC)
    assert r.errors["row_number"].tolist() == [2, 3, 4]
    assert _checks(r) == {"not a date or time"} and r.coercions.empty


def test_to_number_never_gives_nanoseconds():
    v, bad, coerced = to_number(pd.Series(pd.to_datetime(["2024-01-01", None])))
    assert np.isnan(v).all() and bad.tolist() == [True, False] and not coerced.any()
    mixed = pd.Series([1, datetime.datetime(2024, 1, 1), True, "2", None], dtype=object)
    v, bad, coerced = to_number(mixed)
    assert v[0] == 1 and np.isnan(v[1]) and np.isnan(v[2]) and v[3] == 2 and np.isnan(v[4])
    assert bad.tolist() == [False, True, True, False, False]
    assert temporal_cells(mixed).tolist() == [False, True, False, False, False]
    assert boolean_cells(mixed).tolist() == [False, False, True, False, False]
    assert not boolean_cells(pd.Series([True, False])).any()  # a Boolean column: read as 1/0


def test_fpc_dates_are_reported(tmp_path):
    text = (
        (BAD / "spec.toml").read_text(encoding="utf-8").replace('village = "village"', 'village = "village"\nfpc = "N"')
    )
    (tmp_path / "spec.toml").write_text(text, encoding="utf-8")
    spec = hi.IndexSpec.from_toml(tmp_path / "spec.toml")
    d = _good()
    r = hi.validate_survey(d.assign(N=pd.Timestamp("2024-03-01")), spec)
    assert set(r.errors["column"]) == {"N"} and _checks(r) == {"not a date or time"}


# ---------------------------------------------------------------------------------------------
# 7: a True/False cell among numbers is not code 1/0
# ---------------------------------------------------------------------------------------------
def test_true_cell_in_a_likert_item_is_reported(s24):
    d = s24.copy()
    d["ls_income"] = d["ls_income"].astype(object)
    d.loc[2, "ls_income"] = True
    d.loc[3, "ls_income"] = False
    r = hi.validate_survey(d, SPEC)
    e = r.errors
    assert e["row"].tolist() == ["2024-00003", "2024-00004"]
    assert set(e["column"]) == {"ls_income"} and _checks(r) == {"not True/False"}
    assert "True/False" in e["message_en"].iloc[0] and "not read as 1/0" in e["message_en"].iloc[0]
    assert r.coercions.empty


def test_true_cell_in_a_yes_no_item_and_weights():
    d = _good()
    emp = d["employed"].astype(object)
    emp.iloc[0] = True
    w = d["w"].astype(object)
    w.iloc[4] = True
    r = hi.validate_survey(d.assign(employed=emp, w=w), BAD_SPEC)
    got = set(zip(r.errors["row_number"].tolist(), r.errors["column"], r.errors["check"]))
    assert got == {(1, "employed", "not True/False"), (5, "w", "not True/False")}


def test_boolean_columns_keep_their_own_checks():
    d = _good()
    r = hi.validate_survey(d.assign(q1=d["q1"] > 3), BAD_SPEC)
    assert r.errors["kind"].tolist() == ["boolean column"]  # the existing whole-column check
    r = hi.validate_survey(d.assign(w=True), BAD_SPEC)
    assert r.errors["kind"].tolist() == ["boolean column"] and r.errors["column"].tolist() == ["w"]


# ---------------------------------------------------------------------------------------------
# 8: names equal after trimming surrounding spaces are one name
# ---------------------------------------------------------------------------------------------
def test_trailing_space_duplicate_is_reported(s24):
    r = hi.validate_survey(s24.assign(**{"weight ": 1.0, "ls_income ": 1}), SPEC)
    dup = r.errors[r.errors["kind"] == "duplicate column"]
    assert sorted(dup["column"]) == ["ls_income ", "weight "]
    assert "spaces" in dup["message_en"].iloc[0] and "khoảng trắng" in dup["message_vi"].iloc[0]


def test_single_header_with_spaces_matches_the_spec(s24):
    r = hi.validate_survey(s24.rename(columns={"weight": " weight "}), SPEC)
    assert r.ok and "weight" in r.data.columns and " weight " not in r.data.columns
    assert column_key(" Quyền số\t") == "Quyền số" and column_key("  ") == "  "


def test_read_survey_refuses_trailing_space_duplicates(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("id,w,w ,q1\n1,2,1,4\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="spaces around it are removed"):
        hi.read_survey(p)
    p.write_text('id,"w ",q1\n1,2,4\n', encoding="utf-8")
    assert list(hi.read_survey(p).columns) == ["id", "w", "q1"]


def test_nfc_duplicates_still_refused(tmp_path):
    p = tmp_path / "nfc.csv"
    p.write_text("id,Quy\u1ec1n,Quye\u0302\u0300n\n1,2,3\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="NFC"):
        hi.read_survey(p)


# ---------------------------------------------------------------------------------------------
# 13: control characters
# ---------------------------------------------------------------------------------------------
EVIL = "Evil\x1b[31mRED\x1b[0m"


def test_validation_reports_control_characters(s24):
    d = s24.copy()
    d["commune"] = d["commune"].astype(object)
    d.loc[0:1, "commune"] = EVIL
    d["village"] = d["village"].astype(object)
    d.loc[5, "village"] = "Tân\x07 Thịnh"
    r = hi.validate_survey(d, SPEC)
    cc = r.errors[r.errors["kind"] == "control character in text"]
    assert list(zip(cc["row_number"], cc["column"])) == [(1, "commune"), (2, "commune"), (6, "village")]
    for text in [*r.errors["message_en"], *r.errors["message_vi"], r.format_summary(), r.format_summary("vi")]:
        assert "\x1b" not in text and "\x07" not in text


def test_control_characters_in_a_name_checked_against_the_frame():
    d = _good()
    d["commune_name"] = d["commune_name"].astype(object)
    d.loc[0, "commune_name"] = EVIL
    r = hi.validate_survey(d, BAD_SPEC, frame=pd.read_csv(BAD / "frame.csv"))
    assert ("commune_name", "control character in text") in set(zip(r.errors["column"], r.errors["kind"]))
    assert not any("\x1b" in m for m in r.errors["message_en"])


def test_tab_and_newline_are_not_control_problems():
    d = _good()
    d["commune_name"] = d["commune_name"].astype(object)
    d.loc[0, "commune_name"] = d.loc[0, "commune_name"] + "\t"
    r = hi.validate_survey(d, BAD_SPEC)
    assert "control character in text" not in set(r.errors["kind"])


def test_cells_escape_control_characters():
    assert escape_controls(EVIL) == "Evil\\x1b[31mRED\\x1b[0m"
    assert escape_controls("a\tb\nc\x9b\x7f\x00") == "a\tb\nc\\x9b\\x7f\\x00"
    assert neutralise_cell("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07"
    assert neutralise_cell("=1+2") == "'=1+2" and neutralise_cell(-3) == -3
    md = escape_markdown(EVIL)
    assert "\x1b" not in md and "x1b" in md
    out = neutralise_frame(pd.DataFrame({"commune\x1b": [EVIL, "ok"], "n": [1, 2]}, index=["\x9b", "b"]))
    flat = [*out.columns, *out.index, *out.iloc[:, 0]]
    assert not any(ch in str(x) for x in flat for ch in "\x1b\x9b")
    assert out["n"].tolist() == [1, 2]
    line = console_text("the index is undefined (" + EVIL + "\r\tx)\nnext")
    assert not any(ch in line for ch in "\x1b\r\t") and line.endswith("\nnext")


def test_terminal_warnings_errors_and_html_escape_control_characters(capsys):
    # the command line prints warnings and errors quoting data through console_text, and every
    # text a report template prints (HTML included, where autoescape leaves controls) is escaped
    from happiness_index.report.cli import _show_warning
    from happiness_index.report.documents import template_environment

    _show_warning(f"the index is undefined in {EVIL}", UserWarning, "x.py", 1)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "Evil\\x1b[31mRED" in err
    html = template_environment().from_string("<p>{{ name }}</p>").render(name=EVIL)
    assert "\x1b" not in html and "\\x1b" in html


def test_problems_of_an_excel_sheet_give_the_sheet_row(tmp_path):
    # the office opens the workbook at the row the problem list names: data row k is sheet row
    # k + the header's row (title rows above the header, a blank row inside the data kept)
    import openpyxl

    good = _good()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Khảo sát"
    ws.append(["KẾT QUẢ KHẢO SÁT"])
    ws.append([])
    ws.append(list(good.columns))
    for i, row in enumerate(good.itertuples(index=False)):
        vals = list(row)
        if i == 5:
            vals[list(good.columns).index("q1")] = 7  # not a code (1..5)
        ws.append([None if pd.isna(v) else v for v in vals])
    wb.save(tmp_path / "s.xlsx")
    d = hi.read_survey(tmp_path / "s.xlsx", header_row=3)
    r = hi.validate_survey(d, BAD_SPEC, frame=pd.read_csv(BAD / "frame.csv"))
    t = r.to_frame()
    bad = t[t["column"] == "q1"].iloc[0]
    assert (bad["row_number"], bad["sheet_row"]) == (6, 9)
    assert ws.cell(row=9, column=list(good.columns).index("q1") + 1).value == 7
    assert "sheet row k + 3" in r.format_summary() and "hàng k + 3" in r.format_summary("vi")
    assert "sheet_row" not in hi.validate_survey(good, BAD_SPEC).to_frame().columns  # not from Excel


def test_a_group_row_given_as_header_row_names_the_row_of_the_names(tmp_path):
    import openpyxl

    good = _good()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["KẾT QUẢ KHẢO SÁT"])
    ws.append([])
    ws.append(["Thông tin chung"] + [None] * 4 + ["Mức độ hài lòng"] + [None] * (len(good.columns) - 6))
    ws.append(list(good.columns))
    for row in good.itertuples(index=False):
        ws.append([None if pd.isna(v) else v for v in row])
    wb.save(tmp_path / "s.xlsx")
    with pytest.warns(hi.HappinessIndexWarning, match=r"row 3 .* column names seem to be on row 4.*--header-row 4"):
        hi.read_survey(tmp_path / "s.xlsx", header_row=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", hi.HappinessIndexWarning)
        assert list(hi.read_survey(tmp_path / "s.xlsx", header_row=4).columns) == list(good.columns)


def test_file_errors_carry_a_vietnamese_message():
    e = DataFileError("line 2 is not valid UTF-8", vi="dòng 2 không đúng bảng mã UTF-8")
    assert e.message("vi") == "dòng 2 không đúng bảng mã UTF-8" and e.message("en") == str(e)
    assert hi.EstimationError("x").message("vi") == "x"  # English when no Vietnamese text was given


def test_sheet_rows_are_not_claimed_for_rows_selected_after_reading(tmp_path):
    good = _good()
    good.to_excel(tmp_path / "s.xlsx", index=False)
    d = hi.read_survey(tmp_path / "s.xlsx")
    assert hi.validate_survey(d, BAD_SPEC).sheet == (d.attrs["sheet"], 1)
    for picked in (d.iloc[2:].reset_index(drop=True), d.iloc[::-1], d[d["id"] > 2]):
        assert picked.attrs.get("sheet") is not None  # pandas keeps attrs through the selection
        assert hi.validate_survey(picked, BAD_SPEC).sheet is None


def test_markup_stays_safe_through_the_control_character_filter():
    from markupsafe import Markup

    from happiness_index.report.documents import template_environment

    env = template_environment().overlay(autoescape=True)
    html = env.from_string("{{ a }}|{{ b }}").render(a=Markup("<b>x\x1b</b>"), b="<i>")
    assert html == "<b>x\\x1b</b>|&lt;i&gt;"
