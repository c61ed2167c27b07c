"""Issue 9, reading: decompression limits, the number format, raw-header duplicates, SPSS
user-missing values, trailing blank rows, every bad UTF-8 line, title rows, Excel errors.

Each test reproduces a fault of the issue and would fail before the fix.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import happiness_index as hi
from happiness_index import read_survey, validate_survey
from happiness_index.errors import DataFileError
from happiness_index.questionnaire.spec import bundled_spec_path

BAD = Path(__file__).resolve().parent / "data" / "bad"
SPEC = hi.IndexSpec.from_toml(BAD / "spec.toml")


def _compress(data: bytes, comp: str, inner: str = "s.csv") -> bytes:
    if comp == ".gz":
        return gzip.compress(data)
    if comp == ".bz2":
        return bz2.compress(data)
    if comp == ".xz":
        return lzma.compress(data)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(inner, data)
    return buf.getvalue()


# ----------------------------------------------------------------------------- number format
def _vietnamese_export(path: Path, weight_scale: float = 100.0) -> pd.DataFrame:
    """The 2024 city survey as Excel writes it in the Vietnamese locale: ';' fields, '.'
    thousands separators, ',' decimals (weights x 100, so 19.25 -> 1925 -> '1.925')."""
    d = hi.load_city_survey(2024)
    d = d.assign(weight=d["weight"] * weight_scale)

    def vn(x: float) -> str:
        whole, frac = f"{x:.2f}".split(".")
        whole = f"{int(whole):,}".replace(",", ".")
        return whole if frac == "00" else f"{whole},{frac.rstrip('0')}"

    out = d.astype(object)
    out["weight"] = [vn(w) for w in d["weight"]]
    out.to_csv(path, sep=";", index=False, encoding="utf-8-sig")
    return d


def _index(df: pd.DataFrame) -> float:
    spec = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))
    design = hi.SurveyDesign(df, weights="weight", strata="commune", psu="village")
    return hi.compute_index(df, spec, design=design).overall.estimate


def test_vietnamese_thousands_never_give_a_silently_wrong_index(tmp_path):
    """The exact failure of issue 9: 74.41 instead of 76.93."""
    p = tmp_path / "vn.csv"
    truth = _vietnamese_export(p)
    assert _index(truth) == pytest.approx(76.9306, abs=1e-4)
    assert "1.925" in p.read_text("utf-8-sig")
    # no declared format: refused, naming the column and examples, and the fix
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataFileError) as ei:
            read_survey(p)
    msg = str(ei.value)
    assert "'weight'" in msg and "'1.925'" in msg and "thousands='.'" in msg
    assert "--decimal , --thousands ." in msg  # the fix for a command-line user too
    # decimal=',' alone: '1.925' does not read (before the fix it became 1.925 in validation)
    with pytest.raises(DataFileError, match=r"'weight'.*'1\.925'.*thousands='\.'"):
        read_survey(p, sep=";", decimal=",")
    # the declared format reads the right numbers, and is recorded
    df = read_survey(p, sep=";", decimal=",", thousands=".")
    assert (df.attrs["decimal"], df.attrs["thousands"], df.attrs["number_format"]) == (",", ".", "declared")
    np.testing.assert_allclose(df["weight"].to_numpy(float), truth["weight"].to_numpy(float))
    rep = validate_survey(df, hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef")))
    assert rep.ok and rep.number_format == {"decimal": ",", "thousands": ".", "how": "declared"}
    assert "decimal mark ',' and thousands separator '.' (declared)" in rep.format_summary("en")
    assert "dấu hàng nghìn '.'" in rep.format_summary("vi")
    assert _index(rep.data) == pytest.approx(76.9306, abs=1e-4)


@pytest.mark.parametrize(
    "content, kw, phrase",
    [
        # '.' followed by other than 3 digits cannot be a thousands separator
        ("id;w\n1;19.5\n2;1.925\n", dict(decimal=",", thousands="."), "dot decimal '19.5'"),
        # a value in the English format in a Vietnamese file
        ("id;w\n1;1,925.5\n2;3\n", dict(decimal=",", thousands="."), "comma-dot '1,925.5'"),
        # the Vietnamese format without declaration
        ("id;w\n1;1.925,5\n2;3\n", {}, "dot-comma '1.925,5'"),
        # tab-separated files are checked too
        ("id\tw\n1\t2.340\n2\t1.000\n", {}, "could be 2340"),
    ],
)
def test_numbers_that_do_not_read_are_refused(tmp_path, content, kw, phrase):
    p = tmp_path / "n.csv"
    p.write_text(content, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataFileError) as ei:
            read_survey(p, **kw)
    assert "'w'" in str(ei.value) and phrase in str(ei.value)


def test_unambiguous_columns_read_without_declaration(tmp_path):
    p = tmp_path / "n.csv"
    # 19.25 shows '.' is the decimal point in this column; 1.925 is then 1.925
    p.write_text("id;w;code\n1;19.25;A1\n2;1.925;1.5x\n", encoding="utf-8")
    with pytest.warns(hi.HappinessIndexWarning, match="semicolon"):
        df = read_survey(p)
    assert df["w"].tolist() == [19.25, 1.925] and df.attrs["number_format"] == "default"
    # comma-separated files: '.' is the decimal point, as always
    p.write_text("id,w\n1,1.925\n", encoding="utf-8")
    assert read_survey(p)["w"].tolist() == [1.925]
    # decimal='.' declared: 1.925 is 1.925
    p.write_text("id;w\n1;1.925\n", encoding="utf-8")
    assert read_survey(p, sep=";", decimal=".")["w"].tolist() == [1.925]


@pytest.mark.parametrize(
    "kw, phrase",
    [
        (dict(thousands="x"), "thousands must be"),
        (dict(decimal=",", thousands=","), "both ','"),
        (dict(thousands="."), "both '.'"),
        (dict(decimal=";"), "decimal must be"),
    ],
)
def test_invalid_number_formats(tmp_path, kw, phrase):
    p = tmp_path / "n.csv"
    p.write_text("id;w\n1;2\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=phrase):
        read_survey(p, **kw)


def test_text_options_refused_for_binary_formats(tmp_path):
    p = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(p)
    for kw in (dict(thousands="."), dict(sep=";"), dict(encoding="cp1258"), dict(header_row=2)):
        with pytest.raises(DataFileError, match="applies to"):
            read_survey(p, **kw)


# ----------------------------------------------------------------------------- decompression
@pytest.mark.parametrize("comp", [".gz", ".bz2", ".xz", ".zip"])
def test_decompression_stops_at_max_bytes(tmp_path, comp):
    body = b"id,q1\n" + b"1,4\n" * 300_000  # 1.2 MB of text, a few KB compressed
    p = tmp_path / f"s.csv{comp}"
    p.write_bytes(_compress(body, comp))
    with pytest.raises(DataFileError) as ei:
        read_survey(p, max_bytes=2**20)
    msg = str(ei.value)
    assert "max_bytes" in msg and "1,048,576" in msg and "decompression was stopped" in msg
    assert len(read_survey(p, max_bytes=None)) == 300_000
    assert len(read_survey(p)) == 300_000  # far below the default


@pytest.mark.parametrize("comp", [".gz", ".xz"])
def test_decompression_bomb_refused_by_ratio(tmp_path, comp):
    body = b"id,q1\n" + b"1,4\n" * 5_000_000  # 20 MB of text compressing over 200-fold
    p = tmp_path / f"bomb.csv{comp}"
    p.write_bytes(_compress(body, comp))
    assert len(body) / p.stat().st_size > 200
    with pytest.raises(DataFileError, match="max_ratio=200.*decompression bomb"):
        read_survey(p)


def test_plain_file_past_max_bytes_and_bad_limits(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes(b"id,q1\n" + b"1,4\n" * 1000)
    with pytest.raises(DataFileError, match="has 4,006 bytes: past the limit of 1,000 bytes"):
        read_survey(p, max_bytes=1000)
    for bad in (0, -1, "big", True):
        with pytest.raises(DataFileError, match="max_bytes must be a positive number"):
            read_survey(p, max_bytes=bad)


def test_binary_files_past_the_limit(tmp_path):
    p = tmp_path / "x.parquet"
    pd.DataFrame({"a": np.zeros(200_000, dtype=np.int64)}).to_parquet(p)
    with pytest.raises(DataFileError, match="past the limit"):
        read_survey(p, max_bytes=10_000)
    with pytest.raises(DataFileError, match="200,000 rows x 1 columns, at least 1,600,000 bytes in memory"):
        read_survey(p, max_bytes=p.stat().st_size + 1)
    assert len(read_survey(p, max_bytes=None)) == 200_000


def test_memory_error_becomes_a_data_file_error(tmp_path, monkeypatch):
    p = tmp_path / "s.csv"
    p.write_bytes(b"id,q1\n1,4\n")

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(pd, "read_csv", boom)
    with pytest.raises(DataFileError, match="ran out of memory reading this file"):
        read_survey(p)


def test_workbook_xml_past_the_limit(tmp_path):
    p = tmp_path / "x.xlsx"
    pd.DataFrame({"a": range(2000)}).to_excel(p, index=False)
    with pytest.raises(DataFileError, match="workbook's parts expand to"):
        read_survey(p, max_bytes=1000)


# ----------------------------------------------------------------------------- raw header duplicates
def test_duplicate_names_in_the_raw_csv_header(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("id,ls_family,q,ls_family\n1,4,2,5\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="column 2 and column 4 have the same name 'ls_family'"):
        read_survey(p)
    p = tmp_path / "d.csv.gz"
    p.write_bytes(gzip.compress(b"id;a;a\n1;2;3\n"))
    with pytest.raises(DataFileError, match="same name 'a'"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_survey(p)


def test_duplicate_names_in_xlsx_and_parquet(tmp_path):
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "ls_family", "ls_family"])
    ws.append([1, 4, 5])
    wb.save(tmp_path / "d.xlsx")
    with pytest.raises(DataFileError, match="column B and column C have the same name 'ls_family'"):
        read_survey(tmp_path / "d.xlsx")
    pq.write_table(
        pa.table([pa.array([1]), pa.array([4]), pa.array([5])], names=["id", "ls_family", "ls_family"]),
        tmp_path / "d.parquet",
    )
    with pytest.raises(DataFileError, match="column 2 and column 3 have the same name 'ls_family'"):
        read_survey(tmp_path / "d.parquet")


# ----------------------------------------------------------------------------- SPSS user-missing
def test_spss_user_missing_codes_are_read_as_values_then_checked(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    good = pd.read_csv(BAD / "good.csv").drop(columns=["commune_name"])
    good.loc[2, "q3"] = 99  # declared missing in SPSS; the spec allows 0..10 only
    good.loc[4, "q1"] = 9  # declared missing in SPSS and in the spec
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(good, str(p), missing_ranges={"q3": [99], "q1": [8, 9]})
    df = read_survey(p)
    assert df["q3"].iloc[2] == 99 and df["q1"].iloc[4] == 9
    assert df.attrs["user_missing"] == {"q1": [8.0, 9.0], "q3": [99.0]}
    spec = hi.IndexSpec.from_toml(BAD / "spec.toml")
    rep = validate_survey(df.assign(commune_name=pd.read_csv(BAD / "good.csv")["commune_name"]), spec)
    bad = rep.errors[["row", "column", "kind"]].values.tolist()
    assert bad == [[3, "q3", "invalid code"]]  # q1 = 9 is a missing code of the spec
    # the old behaviour on request
    assert np.isnan(read_survey(p, user_missing=False)["q3"].iloc[2])


# ----------------------------------------------------------------------------- blank rows, UTF-8
def test_trailing_blank_rows_are_dropped_and_counted(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text((BAD / "good.csv").read_text("utf-8") + ",,,,,,,,,,\n" * 3, encoding="utf-8")
    with pytest.warns(hi.HappinessIndexWarning, match="3 blank row"):
        df = read_survey(p)
    assert len(df) == 8 and df.attrs["blank_rows_dropped"] == 3
    rep = validate_survey(df, SPEC)
    assert rep.ok and rep.blank_rows_dropped == 3
    assert "3 blank rows at the end" in rep.format_summary("en")
    assert "3 dòng trống" in rep.format_summary("vi")
    # a blank row inside the data is a respondent with blanks: kept, and reported
    p.write_text("id,q1\n1,4\n,\n3,5\n", encoding="utf-8")
    assert len(read_survey(p)) == 3


def test_trailing_blank_rows_in_xlsx(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for r in (["id", "q1"], [1, 4], [2, 5], [None, "  "], [None, None]):
        ws.append(r)
    ws["A6"].number_format = "0.00"  # formatted empty cells extend the sheet
    ws["B7"] = ""
    wb.save(tmp_path / "b.xlsx")
    with pytest.warns(hi.HappinessIndexWarning, match="blank row"):
        df = read_survey(tmp_path / "b.xlsx")
    assert len(df) == 2 and df.attrs["blank_rows_dropped"] >= 1


def test_every_invalid_utf8_line_is_named(tmp_path):
    p = tmp_path / "u.csv"
    lines = ["id,xã"] + [f"{i},Đồng Tâm" for i in range(1, 30)]
    raw = "\n".join(lines).encode()
    bad = "Đông".encode("cp1258")
    for i in (5, 12, 27):
        raw = raw.replace(f"\n{i},Đồng Tâm".encode(), f"\n{i},".encode() + bad)
    p.write_bytes(raw)
    with pytest.raises(DataFileError) as ei:
        read_survey(p)
    msg = str(ei.value)
    assert "line 6 (byte" in msg and "3 lines in all are not valid UTF-8: lines 6, 13, 28" in msg


# ----------------------------------------------------------------------------- title rows
def test_title_rows_above_the_header_csv(tmp_path):
    p = tmp_path / "t.csv"
    body = (BAD / "good.csv").read_text("utf-8")
    p.write_text("Khảo sát hạnh phúc 2024,,,,,,,,,,\nThành phố Yên Bái,,,,,,,,,,\n" + body, encoding="utf-8")
    with pytest.raises(DataFileError) as ei:
        read_survey(p)
    msg = str(ei.value)
    assert "line 1 ('Khảo sát hạnh phúc 2024') looks like a title" in msg
    assert "seem to be on line 3 ('id', 'commune'" in msg and "header_row=3" in msg
    df = read_survey(p, header_row=3)
    assert list(df.columns)[:3] == ["id", "commune", "commune_name"] and len(df) == 8
    assert df.attrs["header_row"] == 3
    assert validate_survey(df, SPEC).ok
    # a ';' file with a title: the delimiter is still found
    p.write_text("Khảo sát;;;\nid;q1;q2;q3\n1;4;5;6\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="header_row=2"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_survey(p)
    with pytest.raises(DataFileError, match="header_row must be the 1-based"):
        read_survey(p, header_row=0)
    with pytest.raises(DataFileError, match="header_row=9 but the file has 3"):
        read_survey(p, header_row=9)


def test_title_rows_above_the_header_xlsx(tmp_path):
    good = pd.read_csv(BAD / "good.csv")
    p = tmp_path / "t.xlsx"
    with pd.ExcelWriter(p) as xw:
        good.to_excel(xw, index=False, startrow=2)
        xw.sheets["Sheet1"]["A1"] = "Khảo sát hạnh phúc 2024"
    with pytest.raises(DataFileError, match="row 1 .* looks like a title.*row 3.*header_row=3"):
        read_survey(p)
    df = read_survey(p, header_row=3)
    assert list(df.columns) == list(good.columns) and len(df) == 8 and df.attrs["header_row"] == 3


# ----------------------------------------------------------------------------- Excel errors
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_excel_error_values_are_kept_and_named(tmp_path, fmt):
    good = pd.read_csv(BAD / "good.csv").astype(object)
    good.loc[1, "q3"] = "#N/A"
    good.loc[3, "w"] = "#DIV/0!"
    good.loc[5, "q1"] = "#VALUE!"
    p = tmp_path / f"e.{fmt}"
    if fmt == "csv":
        good.to_csv(p, index=False)
    else:
        good.to_excel(p, index=False)
    df = read_survey(p)
    assert df["q3"].iloc[1] == "#N/A"  # not a blank
    rep = validate_survey(df, SPEC)
    e = rep.errors
    assert e[["row", "column", "kind"]].values.tolist() == [
        [2, "q3", "excel error"],
        [4, "w", "excel error"],
        [6, "q1", "excel error"],
    ]
    assert "Excel error value '#DIV/0!'" in e["message_en"].iloc[1]
    assert "lỗi Excel" in e["message_vi"].iloc[1]


# ----------------------------------------------------------------------------- validation checks
def test_ids_differing_only_by_surrounding_spaces_are_duplicates():
    good = pd.read_csv(BAD / "good.csv")
    d = good.assign(id=[f"R{i:03d}" for i in good["id"]])
    d.loc[4, "id"] = " R004 "
    d.loc[6, "id"] = "   "  # blank after trimming: a missing id
    before = d.copy()
    rep = validate_survey(d, SPEC)
    pd.testing.assert_frame_equal(d, before)  # the input is never modified
    e = rep.errors
    assert e[["row_number", "kind"]].values.tolist() == [[4, "duplicate id"], [5, "duplicate id"], [7, "missing id"]]
    assert e["value"].tolist()[:2] == ["R004", " R004 "]


def test_an_item_with_no_answer_is_reported_at_validation():
    good = pd.read_csv(BAD / "good.csv")
    rep = validate_survey(good.assign(q3=np.nan), SPEC)
    assert rep.errors[["row", "column", "kind", "check"]].values.tolist() == [
        [None, "q3", "empty item", "item has answers"]
    ] or rep.errors[["column", "kind"]].values.tolist() == [["q3", "empty item"]]
    assert "no answer in any of the 8 rows" in rep.errors["message_en"].iloc[0]
    # missing codes only: no answer either
    rep = validate_survey(good.assign(q1=9), SPEC)
    assert rep.errors[["column", "kind"]].values.tolist() == [["q1", "empty item"]]
    # an item outside the components (job_years) may be blank everywhere
    assert validate_survey(good.assign(job_years=np.nan), SPEC).ok


def test_title_row_read_by_pandas_is_explained_at_validation(tmp_path):
    p = tmp_path / "t.xlsx"
    good = pd.read_csv(BAD / "good.csv")
    with pd.ExcelWriter(p) as xw:
        good.to_excel(xw, index=False, startrow=2)
        xw.sheets["Sheet1"]["A1"] = "Khảo sát hạnh phúc 2024"
    df = pd.read_excel(p)  # read without read_survey: the title is the header
    rep = validate_survey(df, SPEC)
    kinds = rep.errors["kind"].tolist()
    assert kinds.count("header row") == 1 and "missing column" in kinds
    msg = rep.errors.loc[rep.errors["kind"] == "header row", "message_en"].iloc[0]
    assert "header_row=N" in msg and "not on the first row" in msg


def test_text_numbers_follow_the_recorded_number_format():
    """Text that reaches validation (mixed columns, Excel text cells) is read with the
    number format read_survey recorded; with no record, '1.925' is ambiguous, never 1.925."""
    good = pd.read_csv(BAD / "good.csv")
    d = good.assign(w=good["w"].astype(object))
    d.loc[2, "w"] = "1.925"
    rep = validate_survey(d, SPEC)  # a frame read by pandas: the format is unknown
    assert rep.errors[["row", "column", "kind"]].values.tolist() == [[3, "w", "ambiguous number"]]
    assert "reads as two different numbers" in rep.errors["message_en"].iloc[0]
    d.attrs.update(decimal=",", thousands=".", number_format="declared")
    rep = validate_survey(d, SPEC)
    assert rep.ok and rep.data["w"].iloc[2] == 1925.0
    d.attrs.update(decimal=".", thousands=None, number_format="default")
    rep = validate_survey(d, SPEC)
    assert rep.ok and rep.data["w"].iloc[2] == 1.925
    d.attrs.update(decimal=",", thousands=None, number_format="declared")
    # decimal ',' and no thousands separator: '1.925' is not read, and the message names --thousands .
    err = validate_survey(d, SPEC).errors
    assert err["kind"].tolist() == ["thousands separator"] and "--thousands ." in err["message_en"].iloc[0]


# ----------------------------------------------------------------------------- property: never wrong
def _write_number(x: float, fmt: str, grouped: bool) -> str:
    text = f"{x:,.3f}" if grouped else f"{x:.3f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    if fmt == "vn":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    values=st.lists(st.integers(min_value=0, max_value=99_999_999).map(lambda c: c / 1000), min_size=1, max_size=12),
    fmt=st.sampled_from(["en", "vn"]),
    grouped=st.booleans(),
    sep=st.sampled_from([";", "\t"]),
    declared=st.sampled_from(["none", "right", "wrong", "decimal only"]),
)
def test_numbers_are_read_right_or_refused_never_wrong(tmp_path_factory, values, fmt, grouped, sep, declared):
    if fmt == "en" and grouped and sep == ",":
        return
    p = tmp_path_factory.mktemp("n") / "n.csv"
    cells = [_write_number(v, fmt, grouped) for v in values]
    p.write_text(f"id{sep}w\n" + "".join(f"{i}{sep}{c}\n" for i, c in enumerate(cells)), encoding="utf-8")
    right = {
        "en": dict(decimal=".", thousands="," if grouped else None),
        "vn": dict(decimal=",", thousands="." if grouped else None),
    }[fmt]
    wrong = {"en": dict(decimal=",", thousands="."), "vn": dict(decimal=".", thousands=",")}[fmt]
    kw = {"none": {}, "right": right, "wrong": wrong, "decimal only": {"decimal": "," if fmt == "en" else "."}}[
        declared
    ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = read_survey(p, sep=sep, **kw)
    except DataFileError:
        assert declared != "right"
        return
    got = pd.to_numeric(df["w"], errors="coerce").to_numpy(dtype=float)
    if df["w"].dtype == object or pd.api.types.is_string_dtype(df["w"].dtype):
        # kept as text (not numbers under the format): validation must not read it wrongly
        d = df.assign(w=df["w"])
        v = validate_survey(d.assign(commune=1, village=1, q1=4, q2=4, q3=5, employed=1, age=30), SPEC)
        assert not v.ok or np.allclose(v.data["w"].to_numpy(dtype=float), values)
        return
    if declared == "wrong" and not np.allclose(got, values, rtol=0, atol=1e-9):
        # a declared format is obeyed: only values that read both ways may differ
        from happiness_index.reading.numbers import number_shapes

        shapes = set(number_shapes(pd.Series(cells))["shapes"])
        assert shapes <= {"integer", "dot groups", "comma groups"}, (cells, got)
        return
    np.testing.assert_allclose(got, values, rtol=0, atol=1e-9)


def test_decimal_comma_text_is_named_with_its_fix():
    """'19,25' typed as text (an Excel export in the Vietnamese locale) is reported as a
    decimal comma with the fix, in both languages, and read when the format says so."""
    good = pd.read_csv(BAD / "good.csv")
    d = good.assign(w=good["w"].astype(object))
    d.loc[2, "w"] = "19,25"
    d.loc[4, "w"] = "1.925,5"
    rep = validate_survey(d, SPEC)
    assert rep.errors[["row", "column", "kind"]].values.tolist() == [
        [3, "w", "decimal comma"],
        [5, "w", "decimal comma"],
    ]
    e = rep.errors.iloc[0]
    assert "decimal comma" in e["message_en"] and "--decimal ," in e["message_en"]
    assert "dấu phẩy thập phân" in e["message_vi"]
    assert "số có dấu phẩy thập phân" in rep.format_summary("vi")
    d.attrs.update(decimal=",", thousands=".", number_format="declared")
    rep = validate_survey(d, SPEC)
    assert rep.ok and rep.data["w"].iloc[2] == 19.25 and rep.data["w"].iloc[4] == 1925.5


def test_design_codes_in_two_spellings_are_one_commune_in_the_clean_data():
    """A commune typed in decomposed form (NFD) and with trailing spaces on some rows passes
    validation as the same commune; the clean data must then hold one spelling (NFC, trimmed),
    so that estimation does not split it into two strata or domains."""
    import unicodedata

    good = pd.read_csv(BAD / "good.csv")
    names = good["commune_name"].astype(str)
    odd = good.index % 2 == 1
    d = good.assign(commune="Xã " + names, commune_name=names)
    d.loc[odd, "commune"] = [unicodedata.normalize("NFD", v) + "  " for v in d.loc[odd, "commune"]]
    d.loc[odd, "commune_name"] = [" " + unicodedata.normalize("NFD", v) for v in d.loc[odd, "commune_name"]]
    before = d.copy()
    rep = validate_survey(d, SPEC)
    assert rep.ok
    pd.testing.assert_frame_equal(d, before)  # the input is untouched
    for col in ("commune", "commune_name"):
        got = rep.data[col]
        assert got.nunique() == names.nunique()
        assert all(unicodedata.is_normalized("NFC", v) and v == v.strip() for v in got)
    assert rep.data["commune"].iloc[1] == "Xã " + names.iloc[1]


def test_missing_column_names_the_file_columns_the_spec_does_not_use():
    """Headers in the office's own words: the message lists them, so the fix is a rename."""
    good = pd.read_csv(BAD / "good.csv")
    d = good.rename(columns={"w": "Quyền số"})
    rep = validate_survey(d, SPEC)
    e = rep.errors[rep.errors["kind"] == "missing column"].iloc[0]
    assert e["column"] == "w"
    assert "'Quyền số'" in e["message_en"] and "does not use" in e["message_en"]
    assert "'Quyền số'" in e["message_vi"] and "đặc tả không dùng" in e["message_vi"]
    rep = validate_survey(good.drop(columns=["w"]), SPEC)  # nothing to rename: no list
    assert "does not use" not in rep.errors["message_en"].iloc[0]


def test_missing_optional_reader_says_how_to_install_it_from_a_clone(monkeypatch):
    """README's quick start installs without the [io] extra: a .sav then names the fix."""
    import sys

    monkeypatch.setitem(sys.modules, "pyreadstat", None)  # as if not installed
    with pytest.raises(DataFileError) as ei:
        read_survey(BAD / "user_missing.sav")
    msg = str(ei.value)
    assert "'pyreadstat'" in msg and 'pip install ".[io]"' in msg and '"happiness_index[io]"' in msg


def test_detected_separator_warning_gives_the_command_line_flag(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("a;b\n1;2\n", encoding="utf-8")
    with pytest.warns(hi.HappinessIndexWarning, match=r"--sep ';'"):
        read_survey(p)


def test_normalised_design_codes_keep_the_column_dtype():
    """The clean commune column stays the file's text dtype (NaN, not pd.NA, for a blank) and a
    mixed Excel column keeps its numbers as numbers."""
    import unicodedata

    good = pd.read_csv(BAD / "good.csv")
    d = good.assign(commune_name=[unicodedata.normalize("NFD", v) + " " for v in good["commune_name"]])
    rep = validate_survey(d, SPEC)
    assert rep.ok and rep.data["commune_name"].dtype == d["commune_name"].dtype
    assert rep.data["commune_name"].iloc[0] == unicodedata.normalize("NFC", good["commune_name"].iloc[0])
    mixed = good.assign(village=good["village"].astype(object))
    mixed.loc[0, "village"] = f" {good['village'].iloc[0]} "
    rep = validate_survey(mixed, SPEC)
    assert rep.ok and rep.data["village"].iloc[0] == str(good["village"].iloc[0])
    assert rep.data["village"].iloc[1] == good["village"].iloc[1] and not isinstance(rep.data["village"].iloc[1], str)
