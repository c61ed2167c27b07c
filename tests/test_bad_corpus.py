"""The bad-file corpus of issue 9 (tests/data/bad, written by make_bad_files.py): what
reading and validating each file gives, in every format where the fault applies."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import happiness_index as hi
from happiness_index import read_survey, validate_survey
from happiness_index.errors import DataFileError

BAD = Path(__file__).resolve().parent / "data" / "bad"
SPEC = hi.IndexSpec.from_toml(BAD / "spec.toml")
FRAME = pd.read_csv(BAD / "frame.csv")

# file -> phrase of the DataFileError read_survey raises
REFUSED = {
    "duplicate_raw_header.csv": "column 6 and column 7 have the same name 'q1'",
    "duplicate_raw_header.xlsx": "column F and column G have the same name 'q1'",
    "duplicate_raw_header.parquet": "column 6 and column 7 have the same name 'q1'",
    "duplicate_nfc_header.parquet": "same name after Unicode NFC normalisation",
    "title_rows.csv": "the column names seem to be on line 3",
    "title_rows.xlsx": "the column names seem to be on row 3",
    "vietnamese_thousands.csv": "could be 12050",
    "invalid_utf8_lines.csv": "2 lines in all are not valid UTF-8: lines 3, 7",
}

# file -> problems (row, column, kind) found by validation against the bad-file spec and frame
FOUND = {
    "excel_error": [(2, "q3", "excel error"), (4, "w", "excel error"), (6, "q1", "excel error")],
    "duplicate_id_spaces": [("R004", "id", "duplicate id"), (" R004 ", "id", "duplicate id")],
    "empty_item": [(None, "q3", "empty item")],
    "user_missing": [(3, "q3", "invalid code")],
}
FORMATS = {
    "excel_error": ("csv", "xlsx", "parquet"),
    "duplicate_id_spaces": ("csv", "xlsx", "parquet"),
    "empty_item": ("csv", "sav"),
    "user_missing": ("sav",),
}


def _read(path: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        return read_survey(path, **kw)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_when_read(name):
    with pytest.raises(DataFileError) as ei:
        _read(BAD / name)
    assert REFUSED[name] in str(ei.value)


@pytest.mark.parametrize("name, fmt", [(n, f) for n, fs in FORMATS.items() for f in fs])
def test_reported_by_validation(name, fmt):
    df = _read(BAD / f"{name}.{fmt}")
    if "commune_name" not in df:  # SPSS files carry codes only
        df = df.assign(commune_name=pd.read_csv(BAD / "good.csv")["commune_name"])
    rep = validate_survey(df, SPEC, FRAME)
    got = [(None if pd.isna(r) else r, c, k) for r, c, k in rep.errors[["row", "column", "kind"]].values]
    assert got == FOUND[name]
    for lang in ("en", "vi"):
        assert rep.format_summary(lang)


def test_read_with_the_right_options():
    df = _read(BAD / "title_rows.csv", header_row=3)
    assert validate_survey(df, SPEC, FRAME).ok
    df = _read(BAD / "title_rows.xlsx", header_row=3)
    assert validate_survey(df, SPEC, FRAME).ok
    df = read_survey(BAD / "vietnamese_thousands.csv", sep=";", decimal=",", thousands=".")
    assert df["w"].tolist() == [w * 100 for w in pd.read_csv(BAD / "good.csv")["w"]]
    assert validate_survey(df, SPEC, FRAME).ok


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_trailing_blank_rows(fmt):
    with pytest.warns(hi.HappinessIndexWarning, match="blank row"):
        df = read_survey(BAD / f"trailing_blank_rows.{fmt}")
    assert len(df) == 8 and df.attrs["blank_rows_dropped"] == 3
    rep = validate_survey(df, SPEC, FRAME)
    assert rep.ok and rep.blank_rows_dropped == 3


def test_codes_the_file_declares_missing_are_named_with_the_fix():
    # SPSS user-missing 99 on q3 is not a missing code of the spec: the message says the file
    # declares it missing and where to list it; q1's 9 is in both, so nothing is said of it
    df = _read(BAD / "user_missing.sav")
    df = df.assign(commune_name=pd.read_csv(BAD / "good.csv")["commune_name"])
    err = validate_survey(df, SPEC, FRAME).errors.iloc[0]
    assert "the file declares 99 as missing" in err["message_en"]
    assert "missing_codes of item 'q3'" in err["message_en"]
    assert "tệp khai báo 99 là giá trị thiếu" in err["message_vi"]
    assert "trong khoảng 0..10" in err["message_vi"] and "in range" not in err["message_vi"]
