"""Tests of read_survey: CSV (UTF-8, BOM, bad bytes), Excel, SPSS, Stata, Parquet, NFC names."""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import DataFileError
from happiness_index.reading.files import read_survey

NFD = unicodedata.normalize("NFD", "hài_lòng")
NFC = "hài_lòng"


def _frame():
    return pd.DataFrame({"id": [1, 2, 3], "xã": ["Phường Đồng Tâm", "Xã Tân Thịnh", "Xã Văn Phú"], "q1": [4, 5, 2]})


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
    good = "id,xã,q1\n1,Phường Đồng Tâm,4\n".encode()
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
    p2.write_bytes(b"id,q1\n" + "7,Đông\n".encode("cp1258"))
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


@pytest.mark.parametrize("ext,module", [(".sav", "pyreadstat"), (".dta", "pyreadstat"), (".parquet", "pyarrow")])
def test_missing_optional_reader(tmp_path, monkeypatch, ext, module):
    p = tmp_path / f"x{ext}"
    p.write_bytes(b"not really")
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(DataFileError, match=r"pip install \"happiness_index\[io\]\"(.|\n)*pip install \"\.\[io\]\""):
        read_survey(p)


def test_unknown_extension_missing_file_and_garbage(tmp_path):
    with pytest.raises(DataFileError, match="unknown file type '.json'"):
        read_survey(tmp_path / "x.json")
    with pytest.raises(DataFileError, match="survey file not found"):
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


# ----------------------------------------------------------------------------------------
# breakit #9: trailing delimiters, ragged rows, ';' files, decimal commas
# ----------------------------------------------------------------------------------------
def test_trailing_comma_does_not_shift_columns(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("id,weight,score\n1,2.5,4,\n2,3.0,5,\n", encoding="utf-8")
    df = read_survey(p)
    # pandas alone makes 'id' the index and reads weight=4, score=NaN
    assert list(df.columns) == ["id", "weight", "score"]
    assert df["id"].tolist() == [1, 2] and df["weight"].tolist() == [2.5, 3.0]
    assert df["score"].tolist() == [4, 5] and df.index.tolist() == [0, 1]
    # trailing delimiter on the header too, and on some rows only
    p.write_text("id,weight,score,\n1,2.5,4,\n2,3.0,5\n3,1.0,6,,\n", encoding="utf-8")
    df = read_survey(p)
    assert list(df.columns) == ["id", "weight", "score"]
    assert df.to_numpy().tolist() == [[1, 2.5, 4], [2, 3.0, 5], [3, 1.0, 6]]


def test_ragged_rows_name_the_line_and_counts(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("id,weight,score\n1,2.5,4\n2,3.0,5,7\n3,1,2\n4,1,2,8\n", encoding="utf-8")
    with pytest.raises(DataFileError) as ei:
        read_survey(p)
    msg = str(ei.value)
    assert "r.csv: line 3 has 4 fields but the header (line 1) has 3" in msg
    assert "'7'" in msg and "unquoted ','" in msg and "lines 3, 5" in msg
    p.write_text("id,weight,score\n1,2.5,4\n2,3.0\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"line 3 has 2 fields but the header \(line 1\) has 3"):
        read_survey(p)
    # quoted delimiters are values, not fields
    p.write_text('id,xã,score\n1,"Đồng Tâm, Yên Bái",4\n', encoding="utf-8")
    assert read_survey(p)["xã"].tolist() == ["Đồng Tâm, Yên Bái"]


def test_semicolon_file_sniffed_and_decimal_comma(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("id;weight;score\n1;2,5;4\n2;3,25;5\n", encoding="utf-8")
    # decimal commas without a declared number format: refused, naming the column and examples
    with pytest.warns(hi.HappinessIndexWarning) as rec, pytest.raises(DataFileError) as ei:
        read_survey(p)
    msgs = " | ".join(str(w.message) for w in rec)
    assert "separated by semicolon (';')" in msgs and "sep=';'" in msgs
    assert "'weight'" in str(ei.value) and "decimal=','" in str(ei.value) and "'2,5'" in str(ei.value)
    with pytest.warns(hi.HappinessIndexWarning, match="semicolon"):
        df = read_survey(p, decimal=",")
    assert df["weight"].tolist() == [2.5, 3.25] and df["score"].tolist() == [4, 5]
    assert (df.attrs["decimal"], df.attrs["thousands"], df.attrs["number_format"]) == (",", None, "declared")
    assert list(df.columns) == ["id", "weight", "score"] and df.attrs["delimiter"] == ";"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_survey(p, sep=";", decimal=",")  # explicit: no message
    assert df["weight"].dtype == float
    with pytest.raises(DataFileError, match="decimal mark and the field delimiter are both ','"):
        read_survey(tmp_path / "s.csv", sep=",", decimal=",")
    with pytest.raises(DataFileError, match="sep=';' applies to text files"):
        _frame().to_excel(tmp_path / "x.xlsx", index=False)
        read_survey(tmp_path / "x.xlsx", sep=";")


def test_xlsx_numbers_typed_as_text_with_the_vietnamese_format(tmp_path):
    # the office's Excel export: weights typed as text "1.234,5"; decimal/thousands declare how
    # to read them, validation converts them (listed as coercions) and the clean copy has numbers
    from happiness_index.reading.datasets import data_path

    spec = hi.IndexSpec.from_toml(data_path("specs/yen_bai_nef.toml"))
    df = hi.load_city_survey(2024).drop(columns="year").head(200)
    typed = df.astype({"weight": object})
    typed["weight"] = [f"{w:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") for w in df["weight"]]
    typed.to_excel(tmp_path / "x.xlsx", index=False)
    got = read_survey(tmp_path / "x.xlsx", decimal=",", thousands=".")
    assert got.attrs["number_format"] == "declared" and got.attrs["decimal"] == ","
    rep = hi.validate_survey(got, spec)
    assert rep.ok and len(rep.coercions) == 200 and set(rep.coercions["column"]) == {"weight"}
    np.testing.assert_allclose(rep.data["weight"].to_numpy(dtype=float), df["weight"].round(2), rtol=1e-12)
    # without the declared format the same cells are refused, never guessed
    plain = hi.validate_survey(read_survey(tmp_path / "x.xlsx"), spec)
    assert not plain.ok and set(plain.errors["column"]) == {"weight"}
    # decimal ',' without thousands '.': the grouped cells ('1.234,56') are named with the option to add
    big = typed.assign(
        weight=[f"{100 * w:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") for w in df["weight"]]
    )
    big.to_excel(tmp_path / "big.xlsx", index=False)
    half = hi.validate_survey(read_survey(tmp_path / "big.xlsx", decimal=","), spec)
    grouped = half.errors[half.errors["kind"] == "thousands separator"]
    assert len(grouped) == int(big["weight"].str.contains(".", regex=False).sum()) > 0
    assert "--thousands ." in grouped["message_en"].iloc[0] and "--thousands ." in grouped["message_vi"].iloc[0]
    assert "not a number" not in set(half.errors["kind"])


def test_sniff_prefers_consistent_delimiter(tmp_path):
    from happiness_index.reading.files import _sniff

    assert _sniff("a,b,c\n1,2,3\n") == ","
    assert _sniff("a;b;c\n1;2,5;3\n") == ";"
    assert _sniff("a\tb\n1\t2\n") == "\t"
    assert _sniff("a|b\n1|2\n") == "|"
    assert _sniff("only\n1\n") == ","
    # a ';' inside a comma file's text values does not fool the detection
    assert _sniff("id,note\n1,a;b;c\n2,x\n") == ","


# ----------------------------------------------------------------------------------------
# breakit #17: missing file, directory, None -> DataFileError naming the path
# ----------------------------------------------------------------------------------------
def test_missing_file_directory_none(tmp_path):
    with pytest.raises(DataFileError, match=r"survey file not found: .*nope\.csv"):
        read_survey(tmp_path / "nope.csv")
    d = tmp_path / "dir.csv"
    d.mkdir()
    with pytest.raises(DataFileError, match=r"is a directory, not a file: .*dir\.csv"):
        read_survey(d)
    with pytest.raises(DataFileError, match="needs the path of a survey file.*got NoneType None"):
        read_survey(None)
    with pytest.raises(DataFileError, match="got int 3"):
        read_survey(3)


# ----------------------------------------------------------------------------------------
# breakit #30: Excel sheets and formula cells without saved values
# ----------------------------------------------------------------------------------------
def test_xlsx_several_sheets(tmp_path):
    p = tmp_path / "w.xlsx"
    with pd.ExcelWriter(p, engine="openpyxl") as xw:
        pd.DataFrame({"ghi chú": ["đọc kỹ"]}).to_excel(xw, sheet_name="notes", index=False)
        _frame().to_excel(xw, sheet_name="dữ liệu", index=False)
    with pytest.warns(
        hi.HappinessIndexWarning, match=r"w\.xlsx has 2 sheets \('notes', 'dữ liệu'\); read the first, 'notes'"
    ):
        df = read_survey(p)
    assert list(df.columns) == ["ghi chú"] and df.attrs["sheet"] == "notes"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = read_survey(p, sheet="dữ liệu")
        b = read_survey(p, sheet=1)
        c = read_survey(p, sheet_name=unicodedata.normalize("NFD", "dữ liệu"))
    for out in (a, b, c):
        assert out["q1"].tolist() == [4, 5, 2] and out.attrs["sheet"] == "dữ liệu"
    with pytest.raises(DataFileError, match=r"no sheet named 'data'; the workbook has 'notes', 'dữ liệu'"):
        read_survey(p, sheet="data")
    with pytest.raises(DataFileError, match="sheet=2 but the workbook has 2 sheet"):
        read_survey(p, sheet=2)
    q = tmp_path / "one.csv"
    q.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="sheet='x' applies to Excel files"):
        read_survey(q, sheet="x")


def test_xlsx_formula_without_cached_value_warns(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "data"
    ws.append(["id", "a", "b", "total"])
    for i in range(1, 4):
        ws.append([i, i, 2 * i, f"=B{i + 1}+C{i + 1}"])  # openpyxl saves no computed value
    p = tmp_path / "f.xlsx"
    wb.save(p)
    with pytest.warns(
        hi.HappinessIndexWarning, match=r"sheet 'data': 3 formula cell\(s\) have no saved value .*D2, D3, D4"
    ):
        df = read_survey(p)
    assert df["total"].isna().all() and df["a"].tolist() == [1, 2, 3]


def test_fast_field_check_agrees_with_the_row_by_row_check(tmp_path):
    from happiness_index.reading.files import _uniform_fields

    assert _uniform_fields("a,b\r\n1,2\r\n\r\n3,4", ",")
    assert not _uniform_fields("a,b\n1,2,\n", ",")  # trailing delimiter: per-row path
    assert not _uniform_fields("a,b,\n1,2,\n", ",")  # header ends with a delimiter
    assert not _uniform_fields('a,b\n"1,2",3\n', ",")  # quoting: per-row path
    # a large file with one ragged row deep inside is still caught, on the right line
    rows = "\n".join(f"{i},{i % 5 + 1},{i % 7}" for i in range(20_000))
    p = tmp_path / "big.csv"
    p.write_text("id,q1,q2\n" + rows.replace("12345,1,4", "12345,1,4,9") + "\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"line 12347 has 4 fields but the header \(line 1\) has 3"):
        read_survey(p)


# ----------------------------------------------------------------------------------------
# new-user trial #6: compressed text files (.csv.gz, .csv.bz2, .csv.xz, .csv.zip)
# ----------------------------------------------------------------------------------------
import bz2  # noqa: E402
import gzip  # noqa: E402
import lzma  # noqa: E402
import zipfile  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PACK = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


def _write(p: Path, data: bytes, member: str | None = None) -> Path:
    """Write ``data`` to ``p`` compressed as its suffix says (zip: one member)."""
    if p.suffix == ".zip":
        with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(member or p.stem, data)
    else:
        p.write_bytes(_PACK[p.suffix](data))
    return p


COMP = [".gz", ".bz2", ".xz", ".zip"]
VI_TEXT = "id,xã,q1\n1,Phường Đồng Tâm,4\n2,Xã Tân Thịnh,5\n3,Xã Văn Phú,2\n"


@pytest.mark.parametrize("comp", COMP)
def test_compressed_csv_reads_like_the_plain_file(tmp_path, comp):
    plain = tmp_path / "s.csv"
    plain.write_bytes(VI_TEXT.encode("utf-8"))
    p = _write(tmp_path / f"s.csv{comp}", VI_TEXT.encode("utf-8-sig"))  # with Excel's BOM
    df = read_survey(p)
    pd.testing.assert_frame_equal(df, read_survey(plain))
    assert list(df.columns) == ["id", "xã", "q1"]  # BOM removed after decompression
    assert df.attrs["compression"] == {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}[comp]
    assert df.attrs["delimiter"] == "," and df.attrs["source"].endswith(f"s.csv{comp}")
    assert df.attrs.get("member") == ("s.csv" if comp == ".zip" else None)


@pytest.mark.parametrize("comp", COMP)
def test_compressed_csv_keeps_every_check(tmp_path, comp):
    # ragged row: same message and line number as the plain file
    p = _write(tmp_path / f"r.csv{comp}", b"id,weight,score\n1,2.5,4\n2,3.0,5,7\n")
    name = "r.csv.zip (r.csv)" if comp == ".zip" else f"r.csv{comp}"
    with pytest.raises(DataFileError) as ei:
        read_survey(p)
    assert f"{name}: line 3 has 4 fields but the header (line 1) has 3" in str(ei.value)
    # undecodable bytes name the line of the decompressed text
    p = _write(tmp_path / f"b.csv{comp}", "id,xã\n1,Đồng Tâm\n".encode() + "2,Đông\n".encode("cp1258"))
    with pytest.raises(DataFileError, match=r"line 3 \(byte 3 of the line\) is not valid UTF-8"):
        read_survey(p)
    # delimiter detection, and decimal= is allowed for compressed text
    p = _write(tmp_path / f"s.csv{comp}", b"id;weight\n1;2,5\n2;3,25\n")
    with pytest.warns(hi.HappinessIndexWarning, match="separated by semicolon"):
        df = read_survey(p, decimal=",")
    assert df["weight"].tolist() == [2.5, 3.25] and df.attrs["delimiter"] == ";"
    # .tsv inside: tab by default, no warning
    p = _write(tmp_path / f"t.tsv{comp}", b"id\tq1\n1\t4\n")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_survey(p)["q1"].tolist() == [4]


def test_compressed_cp1258_with_encoding(tmp_path):
    p = _write(tmp_path / "cp.csv.gz", "id,tên\n7,Đông\n".encode("cp1258"))
    with pytest.raises(DataFileError, match=r"cp\.csv\.gz: line 1 .* not valid UTF-8"):
        read_survey(p)
    assert read_survey(p, encoding="cp1258")["tên"].tolist() == ["Đông"]


def test_bundled_gss_file_reads_compressed():
    root = Path(__file__).resolve().parents[1]
    df = read_survey(root / "happiness_index" / "data" / "gss_happiness.csv.gz")
    assert df.shape == (17137, 34) and df.attrs["compression"] == "gzip"
    assert sorted(df["year"].unique().tolist()) == [1994, 1996, 1998, 2000, 2002, 2004, 2006]


def test_damaged_or_misnamed_compressed_files(tmp_path):
    p = tmp_path / "plain.csv.gz"
    p.write_text("id,q1\n1,4\n", encoding="utf-8")  # not compressed at all
    with pytest.raises(
        DataFileError,
        match=r"plain\.csv\.gz is not a valid gzip file .*"
        r"name it without '\.gz'",
    ):
        read_survey(p)
    full = gzip.compress(("id,q1\n" + "1,4\n" * 1000).encode())
    p = tmp_path / "cut.csv.gz"
    p.write_bytes(full[: len(full) // 2])  # a download cut short
    with pytest.raises(DataFileError, match="not a valid gzip file .*truncated"):
        read_survey(p)
    for comp, word in ((".bz2", "bzip2"), (".xz", "xz"), (".zip", "zip archive")):
        q = tmp_path / f"x.csv{comp}"
        q.write_bytes(b"id,q1\n1,4\n")
        with pytest.raises(DataFileError, match=f"x.csv{re.escape(comp)} is not a valid {word}"):
            read_survey(q)
    # a compressed file named .csv: say what it is instead of "line 1 is not UTF-8"
    g = tmp_path / "g.csv"
    g.write_bytes(gzip.compress(b"id,q1\n1,4\n"))
    with pytest.raises(
        DataFileError,
        match=r"g\.csv is not a text file: it starts like a gzip "
        r"file.*survey\.csv\.gz",
    ):
        read_survey(g)
    for pack, kind, suffix in ((bz2.compress, "bzip2", ".bz2"), (lzma.compress, "xz", ".xz")):
        g.write_bytes(pack(b"id,q1\n1,4\n"))
        with pytest.raises(DataFileError, match=f"starts like a {kind} file.*survey.csv{re.escape(suffix)}"):
            read_survey(g)
    _frame().to_excel(tmp_path / "book.csv", index=False, engine="openpyxl")  # an .xlsx named .csv
    with pytest.raises(DataFileError, match=r"starts like a zip .*Excel .xlsx workbook.*name it \.xlsx"):
        read_survey(tmp_path / "book.csv")
    g.write_bytes(gzip.compress(b"id,q1\n1,4\n"))
    # compression= overrides the suffix
    assert read_survey(g, compression="gzip")["q1"].tolist() == [4]
    # ... also against a compression suffix: a plain file named .csv.gz, a bzip2 file named .gz
    assert read_survey(tmp_path / "plain.csv.gz", compression=None)["q1"].tolist() == [4]
    b = tmp_path / "b.csv.gz"
    b.write_bytes(bz2.compress(b"id,q1\n1,5\n"))
    assert read_survey(b, compression="bz2")["q1"].tolist() == [5]
    assert read_survey(b, compression={"method": "bz2"}).attrs["compression"] == "bz2"
    with pytest.raises(DataFileError, match="compression must be one of"):
        read_survey(g, compression="zstd")
    with pytest.raises(DataFileError, match=r"compression='gzip' applies to text files"):
        _frame().to_excel(tmp_path / "x.xlsx", index=False)
        read_survey(tmp_path / "x.xlsx", compression="gzip")


def test_compressed_non_text_and_unknown_types(tmp_path):
    with pytest.raises(DataFileError, match=r"only text files \(\.csv, \.tsv, \.txt\) may be compressed"):
        read_survey(tmp_path / "s.xlsx.gz")
    with pytest.raises(DataFileError, match=r"unknown file type '\.json\.gz'; supported: .*\.csv\.gz"):
        read_survey(tmp_path / "s.json.gz")
    with pytest.raises(DataFileError, match=r"unknown file type '\.gz'"):
        read_survey(tmp_path / "s.gz")
    with pytest.raises(DataFileError, match=r"survey file not found: .*nope\.csv\.gz"):
        read_survey(tmp_path / "nope.csv.gz")


def test_zip_archives(tmp_path):
    # a bare .zip with one csv (what Windows' "Send to > Compressed folder" makes)
    p = tmp_path / "survey.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("__MACOSX/._data.csv", b"\x00\x05junk")
        zf.writestr("folder/", b"")
        zf.writestr("folder/data.csv", VI_TEXT.encode())
    df = read_survey(p)
    assert df["xã"].tolist()[0] == "Phường Đồng Tâm" and df.attrs["member"] == "folder/data.csv"
    # several files: the one named like the archive, else an error listing them
    p = tmp_path / "s.csv.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("readme.txt", b"notes")
        zf.writestr("s.csv", VI_TEXT.encode())
    assert read_survey(p)["q1"].tolist() == [4, 5, 2]
    p = tmp_path / "two.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("a.csv", b"x\n1\n")
        zf.writestr("b.csv", b"x\n2\n")
    with pytest.raises(DataFileError, match=r"two\.zip: the zip archive holds 2 files \('a\.csv', 'b\.csv'\)"):
        read_survey(p)
    p = tmp_path / "empty.csv.zip"
    with zipfile.ZipFile(p, "w"):
        pass
    with pytest.raises(DataFileError, match="the zip archive is empty"):
        read_survey(p)
    p = tmp_path / "book.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("book.xlsx", b"PK")
    with pytest.raises(DataFileError, match=r"holds 'book\.xlsx'; only text files"):
        read_survey(p)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.integers(-(10**6), 10**6),
            st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12),
            st.floats(-1e6, 1e6, allow_nan=False, width=32),
        ),
        min_size=1,
        max_size=30,
    ),
    comp=st.sampled_from(COMP),
)
def test_compression_never_changes_what_is_read(tmp_path, rows, comp):
    """Invariant: a compressed file reads exactly as its decompressed text."""
    df = pd.DataFrame(rows, columns=["id", "tên", "x"])
    df["tên"] = df["tên"].map(lambda s: unicodedata.normalize("NFC", s))
    data = df.to_csv(index=False).encode("utf-8")
    plain = tmp_path / "p.csv"
    plain.write_bytes(data)
    packed = _write(tmp_path / f"p.csv{comp}", data)
    a = read_survey(plain)
    b = read_survey(packed)
    a.attrs, b.attrs = {}, {}
    pd.testing.assert_frame_equal(a, b)


def test_other_formats_and_binary_named_as_text(tmp_path):
    """A real .xls/.sav/.parquet file, UTF-16 text or binary bytes named .csv: say what it is,
    never 'line 1 is not UTF-8' (with a cp1258 hint that would read garbage) nor an empty table."""
    p = tmp_path / "s.csv"
    p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))  # OLE2 header of an old .xls
    with pytest.raises(DataFileError, match=r"s\.csv is not a UTF-8 text file: .*old Excel \.xls workbook"):
        read_survey(p)
    pytest.importorskip("pyarrow")
    _frame().to_parquet(p)
    with pytest.raises(DataFileError, match=r"starts like a Parquet file; name it \.parquet"):
        read_survey(p)
    p.write_bytes("id\tq1\n1\t4\n".encode("utf-16"))  # Excel's 'Unicode Text'
    with pytest.raises(DataFileError, match=r"UTF-16 text .*encoding='utf-16'"):
        read_survey(p)
    with pytest.warns(hi.HappinessIndexWarning, match="tab"):
        assert read_survey(p, encoding="utf-16")["q1"].tolist() == [4]
    p.write_bytes(b"id,q1\n1,4\n2,\x00\x00\x00\x07\n")  # valid UTF-8, but binary
    with pytest.raises(DataFileError, match=r"s\.csv is not a text file: line 3 holds a NUL byte.*\.sav"):
        read_survey(p)


def test_spss_file_named_csv(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    p = tmp_path / "s.csv"
    pyreadstat.write_sav(pd.DataFrame({"id": [1.0, 2.0], "q1": [4.0, 5.0]}), str(p))
    with pytest.raises(DataFileError, match=r"starts like an SPSS data file; name it \.sav"):
        read_survey(p)


def test_empty_text_file_and_directory_without_extension(tmp_path):
    for content in (b"", b"\xef\xbb\xbf", b" \n\r\n"):  # nothing, a lone BOM, blank lines
        (tmp_path / "e.csv").write_bytes(content)
        with pytest.raises(DataFileError, match=r"^e\.csv is empty: no header line and no rows"):
            read_survey(tmp_path / "e.csv")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataFileError, match=r"survey path is a directory, not a file: .*folder$"):
        read_survey(tmp_path / "folder")
