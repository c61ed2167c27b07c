"""Tests of happiness_index.report: rendering, escaping, charts, atomic writing, the job."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import happiness_index as hi
from happiness_index.errors import HappinessIndexError, SchemaError
from happiness_index.report import (Progress, plot_communes, render_html, render_markdown, run_annual,
                                    write_report)
from happiness_index.spec import bundled_spec_path


@pytest.fixture(scope="module")
def spec():
    return hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))


@pytest.fixture(scope="module")
def run(spec):
    return run_annual(hi.load_city_survey(2024), spec, frame=hi.load_city_frame(),
                      previous=hi.load_city_survey(2023), targets="yen_bai_city_plan", synthetic=True)


def test_results_are_plain_json(run):
    text = json.dumps(run.results, allow_nan=False, ensure_ascii=False)
    back = json.loads(text)
    assert back["index"]["estimate"] == run.result.overall.estimate
    assert back["change"]["change_pp"] == pytest.approx(run.change.change_pp)
    assert back["change"]["unit"] == "percentage points"
    assert len(back["change"]["by_group"]) == 17


def test_html_escapes_every_data_string(run):
    evil = copy.deepcopy(run.results)
    evil["communes"][0]["commune"] = "<script>alert('x')</script> & Đồng"
    evil["title"]["vi"] = "<b>title</b>"
    evil["targets"]["years"][0]["target_source"] = "<img src=x onerror=alert(1)>"
    evil["method_notes"].append("<iframe>")
    page = render_html(evil, "vi")
    assert "<script>" not in page and "<iframe>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Đồng" in page
    assert "&lt;b&gt;title&lt;/b&gt;" in page


def test_markdown_escapes_table_pipes_and_labels_units(run):
    r = copy.deepcopy(run.results)
    r["communes"][0]["commune"] = "A|B"
    md = render_markdown(r, "en")
    assert "A\\|B" in md
    assert "Change (percentage points)" in md and "Relative change (% of previous value)" in md
    assert "SYNTHETIC DATA" in md
    md_vi = render_markdown(run.results, "vi")
    assert "Thay đổi (điểm phần trăm)" in md_vi and "Thay đổi tương đối" in md_vi


def test_status_words_in_both_languages(run):
    status = run.assessment.status(2023)
    words = {"reached": ("reached", "đạt mục tiêu"), "not reached": ("not reached", "chưa đạt mục tiêu"),
             "not distinguishable": ("not distinguishable", "chưa phân biệt được")}[status]
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


def test_previous_results_json_is_accepted(run, spec):
    prev = {**run.results["index"], "year": 2024}
    r = run_annual(hi.load_city_survey(2024), spec, previous=prev)
    assert r.change.change_pp == pytest.approx(0.0, abs=1e-12)
    assert r.change.se == pytest.approx(2 ** 0.5 * run.result.overall.se, rel=1e-9)


def test_html_screenshot_in_headless_chromium(tmp_path):
    """Open report.html in headless Chromium (skipped when Chromium is not installed)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("shot", Path(__file__).resolve().parents[1] / "scripts"
                                                  / "screenshot_report.py")
    shot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shot)
    chromium = shot.find_chromium()
    if chromium is None:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from happiness_index.cli import main

    rep = tmp_path / "report"
    assert main(["run", "--example", "--out", str(rep), "--quiet"]) == 0
    png = shot.screenshot(rep / "report.html", tmp_path / "shot.png", chromium, height=1600)
    im = Image.open(png)
    assert im.size == (1200, 1600)
    a = np.asarray(im.convert("L"))
    assert (a < 128).mean() > 0.01  # text and charts rendered, not a blank page
