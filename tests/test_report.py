"""Tests of happiness_index.report.annual: rendering, escaping, charts, atomic writing, the job."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import happiness_index as hi
from happiness_index.errors import HappinessIndexError, SchemaError
from happiness_index.questionnaire.spec import bundled_spec_path
from happiness_index.report.annual import (
    Progress,
    plot_communes,
    render_html,
    render_markdown,
    run_annual,
    vi_sort_key,
    write_report,
)


@pytest.fixture(scope="module")
def spec():
    return hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))


@pytest.fixture(scope="module")
def run(spec):
    from report_helpers import example_run

    return example_run()  # the bundled example, 2024 against 2023 (cached for the session)


def test_results_are_plain_json(run):
    text = json.dumps(run.results, allow_nan=False, ensure_ascii=False)
    back = json.loads(text)
    assert back["index"]["estimate"] == run.result.overall.estimate
    assert back["change"]["change_pp"] == pytest.approx(run.change.change_pp)
    assert back["change"]["unit"] == "percentage points"
    assert len(back["change"]["by_group"]) == 17


def test_html_escapes_every_data_string(run):
    evil = copy.deepcopy(run.results)
    evil["communes"][0]["commune"] = evil["communes"][0]["name"] = "<script>alert('x')</script> & Đồng"
    evil["title"]["vi"] = "<b>title</b>"
    evil["targets"]["years"][0]["target_source"] = "<img src=x onerror=alert(1)>"
    evil["method_notes"].append("<iframe>")
    page = render_html(evil, "vi")
    assert "<script>" not in page and "<iframe>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Đồng" in page
    assert "&lt;b&gt;title&lt;/b&gt;" in page
    md = render_markdown(evil, "vi")
    assert "<script>" not in md and "<img src=x" not in md and "&lt;script&gt;" in md


def test_markdown_escapes_table_pipes_and_labels_units(run):
    r = copy.deepcopy(run.results)
    r["communes"][0]["commune"] = r["communes"][0]["name"] = "A|B"
    md = render_markdown(r, "en")
    assert "A\\|B" in md
    assert "Change (percentage points)" in md and "Relative change (% of previous value)" in md
    assert "SYNTHETIC DATA" in md
    md_vi = render_markdown(run.results, "vi")
    assert "Thay đổi (điểm phần trăm)" in md_vi and "Thay đổi tương đối" in md_vi


def test_status_words_in_both_languages(run):
    status = run.assessment.status(2023)
    words = {
        "reached": ("reached", "đạt mục tiêu"),
        "not reached": ("not reached", "chưa đạt mục tiêu"),
        "not distinguishable": ("not distinguishable", "chưa phân biệt được"),
    }[status]
    assert words[0] in render_markdown(run.results, "en")
    assert words[1] in render_markdown(run.results, "vi")


def test_commune_chart_is_sorted_png(run, tmp_path):
    p = tmp_path / "c.png"
    plot_communes(run.results, p, "vi")
    im = Image.open(p)
    assert im.format == "PNG" and im.size[0] > 400 and im.size[1] > 400
    # mostly white background, some coloured pixels: a real chart, not a blank image
    a = np.asarray(im.convert("L"))
    assert 0.01 < (a < 200).mean() < 0.5


def test_write_report_refuses_bad_targets(run, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(HappinessIndexError, match="is a file"):
        write_report(run.results, f)
    with pytest.raises(HappinessIndexError, match="lang"):
        write_report(run.results, tmp_path / "r", lang="fr")
    d = tmp_path / "data"
    d.mkdir()
    (d / "survey.csv").write_text("x")
    with pytest.raises(HappinessIndexError, match="input file"):
        write_report(run.results, d, protect=[d / "survey.csv"])


def test_progress_bar_counts_steps():
    s = io.StringIO()
    p = Progress(3, stream=s)
    for k in ("a", "b", "c"):
        p.step(k)
    text = s.getvalue()
    assert "1/3 a" in text and "3/3 c" in text and text.endswith("\n") and "#" * 24 in text
    quiet = io.StringIO()
    Progress(2, stream=quiet, enabled=False).step("x")
    assert quiet.getvalue() == ""


def test_run_annual_raises_schema_error_with_report(spec):
    bad = hi.load_city_survey(2023)
    bad.loc[0, "le_rating"] = 6
    with pytest.raises(SchemaError) as err:
        run_annual(bad, spec)
    assert err.value.report is not None and not err.value.report.ok


def test_run_annual_year_selection(spec):
    both = hi.load_city_survey()
    r = run_annual(both, spec, year=2024, previous_year=2023)
    assert r.results["year"] == 2024 and r.results["previous_year"] == 2023
    direct = hi.compute_index(hi.load_city_survey(2024), spec, by="commune")
    assert r.result.overall.estimate == pytest.approx(direct.overall.estimate, rel=1e-12)
    with pytest.raises(hi.EstimationError, match="several years"):
        run_annual(both, spec)
    with pytest.raises(hi.EstimationError, match="no rows for year 2030"):
        run_annual(both, spec, year=2030)
    # no year column and no year given: refused (the report said "survey of year  ...")
    no_year = hi.load_city_survey(2024).drop(columns="year")
    with pytest.raises(hi.EstimationError, match="year of the survey file is unknown.*--year"):
        run_annual(no_year, spec)
    assert run_annual(no_year, spec, year=2024).results["year"] == 2024


def test_previous_results_json_is_accepted(run, spec):
    # the whole results.json (index, spec, year) of an earlier year; the same numbers give a zero change
    prev = {**run.results, "year": 2023, "provenance": {}}
    r = run_annual(hi.load_city_survey(2024), spec, previous=prev)
    assert r.change.change_pp == pytest.approx(0.0, abs=1e-12)
    assert r.change.se == pytest.approx(2**0.5 * run.result.overall.se, rel=1e-9)


def test_html_screenshot_in_headless_chromium(tmp_path):
    """Open report.html in headless Chromium (skipped when Chromium is not installed)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "shot", Path(__file__).resolve().parents[1] / "scripts" / "screenshot_report.py"
    )
    shot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shot)
    chromium = shot.find_chromium()
    if chromium is None:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from happiness_index.report.cli import main

    rep = tmp_path / "report"
    assert main(["run", "--example", "--out", str(rep), "--quiet"]) == 0
    png = shot.screenshot(rep / "report.html", tmp_path / "shot.png", chromium, height=1600)
    im = Image.open(png)
    assert im.size == (1200, 1600)
    a = np.asarray(im.convert("L"))
    assert (a < 128).mean() > 0.01  # text and charts rendered, not a blank page
    # printed with the print stylesheet: A4 pages, a new page for each numbered section
    pdf = shot.print_pdf(rep / "report.html", tmp_path / "report.pdf", chromium).read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    sections = (rep / "report.html").read_text(encoding="utf-8").count("<section class='numbered")
    assert pages >= sections + 1
    assert re.search(rb"/MediaBox\s*\[\s*0 0 595\.?\d* 841\.?\d*", pdf)  # A4 in points


# --------------------------------------------------------------------------- new-user report #7, #10, #12
ENGLISH_WORDS = (
    "Index:",
    "Variance",
    "Domains",
    "Changes are",
    "Target status",
    "Weights calibrated",
    "converged",
    "spec:",
    "data sha256",
    "library version",
    "seed:",
    "replicates:",
    "components",
    "communes",
    "straight line",
    "Publication rule",
    "Taylor linearisation",
    "percentage points",
    "Commune / ward",
    "Difference from",
)
VIETNAMESE_WORDS = (
    "Chỉ số:",
    "Phương sai",
    "Các miền",
    "Đánh giá",
    "đã hội tụ",
    "đặc tả",
    "hạt giống",
    "Xã / phường",
    "Chênh lệch",
    "đường thẳng",
    "không có",
)


@pytest.fixture(scope="module")
def calibrated(spec):
    return run_annual(
        hi.load_city_survey(2024),
        spec,
        frame=hi.load_city_frame(),
        margins=hi.load_city_margins(),
        previous=hi.load_city_survey(2023),
        targets="yen_bai_city_plan",
        synthetic=True,
    )


def _text_of_html(page):
    import re

    return re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", " ", page, flags=re.S))


def test_report_is_in_one_language(calibrated):
    res = calibrated.results
    for lang, foreign in (("vi", ENGLISH_WORDS), ("en", VIETNAMESE_WORDS)):
        md = render_markdown(res, lang)
        page = render_html(res, lang)
        for text in (md, _text_of_html(page)):
            text = text.replace("chart_components.png", "").replace("chart_communes.png", "")  # file names
            leaked = [w for w in foreign if w in text]
            assert not leaked, (lang, leaked)
            assert "None" not in text and "True" not in text and "False" not in text
    vi = render_markdown(res, "vi")
    assert "Hạt giống ngẫu nhiên (seed): không có" in vi and "hội tụ: có" in vi
    assert "![Các thành phần](chart_components.png)" in vi and "![Chỉ số theo xã / phường](chart_communes.png)" in vi
    assert "alt='Các thành phần'" in render_html(res, "vi")
    assert "Đường thẳng qua các ước lượng hằng năm" in vi
    en = render_markdown(res, "en")
    assert "Random seed: none" in en and "Taylor linearisation" in en and "converged: yes" in en
    assert "![Components](chart_components.png)" in en and "Difference from city (points)" in en


def test_report_gives_the_publication_reason(run):
    md_vi, md_en = render_markdown(run.results, "vi"), render_markdown(run.results, "en")
    assert all(not c["publishable"] for c in run.results["communes"])  # 5 villages: df 4
    assert md_vi.count("không: chỉ có 4 bậc tự do của thiết kế (&lt; 5)") == 17
    assert md_en.count("no: only 4 design degrees of freedom (&lt; 5)") == 17
    assert "nửa độ rộng KTC" in md_vi and "CI half-width" in md_en


def test_domain_and_population_labels_come_from_the_spec():
    spec = hi.IndexSpec.from_toml(bundled_spec_path("gss_happiness"))
    gss = hi.load_gss()
    r = run_annual(gss, spec, year=2006)
    vi, en = render_markdown(r.results, "vi"), render_markdown(r.results, "en")
    assert "| Vùng |" in vi and "Chênh lệch so với toàn bộ (điểm)" in vi and "Chỉ số theo vùng" in vi
    assert "| Region |" in en and "Difference from overall (points)" in en and "Index by region" in en
    assert "![Chỉ số theo năm (KTC 95%)](chart_trajectory.png)" in vi and "against the targets" not in en
    for text in (vi, en):
        assert "Xã / phường" not in text and "Commune" not in text and "city" not in text.split("## ")[3]


def test_vi_sort_key():
    names = ["Đồng Tâm", "Yên Ninh", "Âu Lâu", "Bắc Cường", "an Phú", "Ân Thi", "Dương Kinh"]
    assert sorted(names, key=vi_sort_key) == [
        "an Phú",
        "Ân Thi",
        "Âu Lâu",
        "Bắc Cường",
        "Đồng Tâm",
        "Dương Kinh",
        "Yên Ninh",
    ]
    # code-point order would put Â and Đ after Y
    assert sorted(names)[-2:] == ["Âu Lâu", "Đồng Tâm"] or sorted(names)[-1] in ("Âu Lâu", "Đồng Tâm")
    # ties of the base letters are broken by the exact string: a total order
    assert vi_sort_key("Đa") != vi_sort_key("Da") and sorted(["Đa", "Da"], key=vi_sort_key) == ["Da", "Đa"]
    # NFD input sorts with its NFC twin
    import unicodedata

    assert vi_sort_key(unicodedata.normalize("NFD", "Âu Lâu")) == vi_sort_key("Âu Lâu")


def test_commune_and_change_tables_in_vietnamese_order(run):
    names = [c["commune"] for c in run.results["communes"]]
    assert names == sorted(names, key=vi_sort_key) and names[0] == "Âu Lâu" and names[1] == "Đồng Tâm"
    bg = run.results["change"]["by_group"]
    key = next(iter(bg[0]))
    assert [r[key] for r in bg] == sorted((r[key] for r in bg), key=vi_sort_key)
    md = render_markdown(run.results, "vi")
    change_part = md.split(". Thay đổi so với năm trước")[1]
    assert change_part.index("| Âu Lâu |") < change_part.index("| Đồng Tâm |") < change_part.index("| Giới Phiên |")


def test_trajectory_targets_are_markers_and_labels_do_not_collide(calibrated):
    from matplotlib.collections import LineCollection

    import happiness_index.report.annual as rpt

    fig = rpt.trajectory_figure(calibrated.results, "vi")
    try:
        ax = fig.axes[0]
        tgt = [ln for ln in ax.get_lines() if ln.get_label() == "mục tiêu"]
        assert len(tgt) == 1 and tgt[0].get_linestyle() == "None"  # no line through 2024
        assert list(tgt[0].get_xdata()) == [2022, 2023, 2025]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        axbox = ax.get_window_extent(renderer)
        labels = [t for t in ax.texts]
        assert {t.get_text() for t in labels} >= {"72,7", "76,0", "84,6", "73,2", "76,9"}
        bars = [c for c in ax.collections if isinstance(c, LineCollection)]
        for t in labels:
            bb = t.get_window_extent(renderer)
            assert axbox.x0 + 2 < bb.x0 and bb.x1 < axbox.x1 - 2 and axbox.y0 < bb.y0 and bb.y1 < axbox.y1
            for c in bars:  # the vertical CI bars
                for seg in c.get_segments():
                    if len(seg) == 0:
                        continue
                    (x0, y0), (_x1, y1) = ax.transData.transform(seg[0]), ax.transData.transform(seg[-1])
                    crosses_x = bb.x0 <= x0 <= bb.x1
                    crosses_y = min(y0, y1) <= bb.y1 and max(y0, y1) >= bb.y0
                    assert not (crosses_x and crosses_y), t.get_text()
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_progress_bar_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    pipe, tty = io.StringIO(), Tty()
    Progress(2, stream=pipe, enabled=None).step("x")
    Progress(2, stream=tty, enabled=None).step("x")
    assert pipe.getvalue() == "" and "\r[" in tty.getvalue()


def test_a_zero_change_is_not_called_a_rise(run, spec):
    from happiness_index.report.sections import build_sections

    # the whole results.json (index, spec, year) of an earlier year; the same numbers give a zero change
    prev = {**run.results, "year": 2023, "provenance": {}}
    r = run_annual(hi.load_city_survey(2024), spec, previous=prev)
    text = {lang: " ".join(str(b) for s in build_sections(r.results, lang) for b in s.blocks) for lang in ("en", "vi")}
    assert "changed by 0.00 percentage points" in text["en"] and "rose by 0.00" not in text["en"]
    assert "thay đổi 0,00" in text["vi"] and "tăng 0,00" not in text["vi"]


def test_a_skipped_drivers_analysis_is_said_in_the_report(spec, monkeypatch):
    import happiness_index.index.drivers as drv
    from happiness_index.report.sections import build_sections

    def refuse(*a, **k):
        raise hi.ModelError("the model cannot be fitted: complete separation")

    monkeypatch.setattr(drv, "drivers", refuse)
    with pytest.warns(hi.HappinessIndexWarning, match="drivers analysis was skipped"):
        r = run_annual(hi.load_city_survey(2024), spec)
    assert r.results["provenance"]["drivers_skipped"] == "the model cannot be fitted: complete separation"
    for lang, words in (("en", "could not be done this year"), ("vi", "không thực hiện được")):
        sec = [s for s in build_sections(r.results, lang) if s.key == "drivers"]
        assert len(sec) == 1 and words in str(sec[0].blocks[0]) and "complete separation" in str(sec[0].blocks[0])
