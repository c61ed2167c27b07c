"""Cells written to CSV/XLSX/Markdown cannot carry live formulas or markup from the data."""

import pandas as pd

from happiness_index.report.cells import escape_markdown, neutralise_cell, neutralise_frame


def test_formula_prefixes_get_an_apostrophe_numbers_unchanged():
    for bad in ['=HYPERLINK("http://x"&A1,"click")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]:
        assert neutralise_cell(bad) == "'" + bad
    assert neutralise_cell("Phường Nguyễn Thái Học") == "Phường Nguyễn Thái Học"
    assert neutralise_cell(-1.5) == -1.5
    f = pd.DataFrame({"name": ["=1+1", "ok"], "x": [-1.0, 2.0]}, index=pd.Index(["=a", "b"]))
    g = neutralise_frame(f)
    assert list(g["name"]) == ["'=1+1", "ok"] and list(g["x"]) == [-1.0, 2.0]
    assert list(g.index) == ["'=a", "b"]
    assert list(f["name"]) == ["=1+1", "ok"]  # input unchanged


def test_markdown_escapes_html_and_markup():
    s = escape_markdown("<script>alert(1)</script> [x](http://e) | *b*")
    assert "<script>" not in s and "&lt;script&gt;" in s
    assert "\\[x\\]" in s and "\\|" in s and "\\*b\\*" in s
