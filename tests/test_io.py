"""Tests of read_survey: CSV (UTF-8, BOM, bad bytes), Excel, SPSS, Stata, Parquet, NFC names."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import DataFileError
from happiness_index.io import read_survey

NFD = unicodedata.normalize("NFD", "hài_lòng")
NFC = "hài_lòng"


def _frame():
    return pd.DataFrame({"id": [1, 2, 3], "xã": ["Phường Đồng Tâm", "Xã Tân Thịnh", "Xã Văn Phú"],
                         "q1": [4, 5, 2]})


def test_csv_utf8_and_bom(tmp_path):
    text = "id,xã,q1\n1,Phường Đồng Tâm,4\n2,Xã Tân Thịnh,5\n3,Xã Văn Phú,2\n"
    (tmp_path / "a.csv").write_bytes(text.encode("utf-8"))
    (tmp_path / "b.csv").write_bytes(text.encode("utf-8-sig"))  # Excel's "CSV UTF-8"
    a, b = read_survey(tmp_path / "a.csv"), read_survey(tmp_path / "b.csv")
    assert list(b.columns) == ["id", "xã", "q1"]  # no '\ufeffid'
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert a["xã"].tolist() == ["Phường Đồng Tâm", "Xã Tân Thịnh", "Xã Văn Phú"]
    assert a.attrs["source"].endswith("a.csv")


def test_csv_undecodable_bytes_name_the_line(tmp_path):
    good = "id,xã,q1\n1,Phường Đồng Tâm,4\n".encode("utf-8")
    bad = "2,Đông Tâm,5\n".encode("cp1258")  # Vietnamese Windows code page
    p = tmp_path / "bad.csv"
    p.write_bytes(good + bad)
    with pytest.raises(DataFileError) as ei:
        read_survey(p)
    msg = str(ei.value)
    assert "bad.csv: line 3" in msg and "not valid UTF-8" in msg and "CSV UTF-8" in msg
    assert "encoding='cp1258'" in msg
    # with the right encoding the file reads (line 3 decoded from cp1258)
    p2 = tmp_path / "cp.csv"
    p2.write_bytes("id,q1\n".encode() + "7,Đông\n".encode("cp1258"))
    df = read_survey(p2, encoding="cp1258")
    assert df["q1"][0] == "Đông"
    with pytest.raises(DataFileError, match="line 2 .* not valid 'ascii'"):
        read_survey(p2, encoding="ascii")


def test_column_names_nfc(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text(f"id,{NFD}\n1,4\n", encoding="utf-8")
    df = read_survey(p)
    assert list(df.columns) == ["id", NFC]
    p.write_text(f"id,{NFD},{NFC}\n1,4,5\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="same name after Unicode NFC"):
        read_survey(p)


def test_tsv(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("id\tq1\n1\t4\n", encoding="utf-8")
    assert read_survey(p)["q1"].tolist() == [4]


def test_xlsx(tmp_path):
    p = tmp_path / "s.xlsx"
    df = _frame().rename(columns={"q1": NFD})
    df.to_excel(p, index=False, engine="openpyxl")
    out = read_survey(p)
    assert list(out.columns) == ["id", "xã", NFC]
    assert out["xã"].tolist() == _frame()["xã"].tolist() and out[NFC].tolist() == [4, 5, 2]


@pytest.mark.parametrize("ext", [".sav", ".dta"])
def test_spss_stata_value_labels(tmp_path, ext):
    pyreadstat = pytest.importorskip("pyreadstat")
    df = pd.DataFrame({"id": [1.0, 2.0, 3.0], "q1": [4.0, 5.0, 9.0]})
    labels = {"q1": {1.0: "Rất không hài lòng", 4.0: "Hài lòng", 5.0: "Rất hài lòng", 9.0: "Từ chối"}}
    p = tmp_path / f"s{ext}"
    writer = pyreadstat.write_sav if ext == ".sav" else pyreadstat.write_dta
    writer(df, str(p), variable_value_labels=labels, column_labels=["Mã", "Hài lòng thu nhập"])
    out = read_survey(p)
    assert out["q1"].tolist() == [4.0, 5.0, 9.0]  # codes kept, not replaced by labels
    vl = out.attrs["value_labels"]["q1"]
    assert {float(k): v for k, v in vl.items()}[4.0] == "Hài lòng"
    assert {float(k): v for k, v in vl.items()}[9.0] == "Từ chối"
    assert out.attrs["column_labels"]["q1"] == "Hài lòng thu nhập"


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    p = tmp_path / "s.parquet"
    df = _frame()
    df.to_parquet(p, engine="pyarrow")
    pd.testing.assert_frame_equal(read_survey(p).reset_index(drop=True), df, check_dtype=False)


@pytest.mark.parametrize("ext,module", [(".sav", "pyreadstat"), (".dta", "pyreadstat"),
                                        (".parquet", "pyarrow")])
def test_missing_optional_reader(tmp_path, monkeypatch, ext, module):
    p = tmp_path / f"x{ext}"
    p.write_bytes(b"not really")
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(DataFileError, match=r"pip install happiness_index\[io\]"):
        read_survey(p)


def test_unknown_extension_missing_file_and_garbage(tmp_path):
    with pytest.raises(DataFileError, match="unknown file type '.json'"):
        read_survey(tmp_path / "x.json")
    with pytest.raises(FileNotFoundError):
        read_survey(tmp_path / "nope.csv")
    p = tmp_path / "bad.xlsx"
    p.write_bytes(b"this is not a zip file")
    with pytest.raises(DataFileError, match="cannot read bad.xlsx"):
        read_survey(p)


def test_read_then_validate_bad_file():
    root = Path(__file__).resolve().parents[1]
    df = read_survey(root / "tests" / "data" / "bad" / "out_of_range_code.csv")
    spec = hi.IndexSpec.from_toml(root / "tests" / "data" / "bad" / "spec.toml")
    rep = hi.validate_survey(df, spec)
    assert rep.errors["row"].tolist() == [2, 7]
    assert hi.read_survey is read_survey
