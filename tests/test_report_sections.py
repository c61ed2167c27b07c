"""Optional report sections (drivers, small areas, robustness, distributions), commune names,
adjusted p-values and the language of every output, from small hand-made frames."""

from __future__ import annotations

import copy
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from report_helpers import (
    VI_LETTERS,
    ascii_sentences,
    example_run,
    visible_text,
    without_names,
)

import happiness_index as hi
from happiness_index.index.multiplicity import adjust_pvalues
from happiness_index.questionnaire.spec import bundled_spec_path
from happiness_index.report.annual import (
    OPTIONAL_SECTIONS,
    attach_section,
    commune_names,
    render_html,
    render_markdown,
    run_annual,
    summary_lines,
    write_report_files,
)
from happiness_index.report.content import build_document
from happiness_index.report.extra_sections import ordinal, rank_text


# ----------------------------------------------------------------------------- adjusted p-values
def test_holm_and_bh_against_hand_values():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> running max
    assert adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted times 4/1, 4/2, 4/3, 4/4 -> 0.02, 0.02, 0.04, 0.04 -> running min from the top
    assert adjust_pvalues(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    both = adjust_pvalues([np.nan, 0.5, np.nan], "holm")
    assert np.isnan(both[0]) and np.isnan(both[2]) and both[1] == 0.5
    with pytest.raises(hi.HappinessIndexError, match=r"\[0, 1\]"):
        adjust_pvalues([0.2, 1.5])
    with pytest.raises(hi.HappinessIndexError, match="method"):
        adjust_pvalues([0.2], "bonferroni")


def test_holm_and_bh_agree_with_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(3)
    for m in (1, 2, 17, 200):
        p = np.concatenate([rng.uniform(size=m - m // 3), rng.uniform(0, 0.01, size=m // 3)])
        p[rng.integers(0, m)] = p[0]  # ties
        assert adjust_pvalues(p, "holm") == pytest.approx(multipletests(p, method="holm")[1], abs=1e-15)
        assert adjust_pvalues(p, "bh") == pytest.approx(multipletests(p, method="fdr_bh")[1], abs=1e-15)


# ----------------------------------------------------------------------------- the run
@pytest.fixture(scope="module")
def spec():
    return hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))


@pytest.fixture(scope="module")
def coded(spec):
    """The city survey with commune codes and a commune_name column (validation.md §2.7)."""
    frame = hi.load_city_frame()
    names = sorted(frame["commune"].unique())
    code = {n: f"{15200 + 10 * i:05d}" for i, n in enumerate(names)}

    def recode(df):
        out = df.copy()
        out["commune_name"] = out["commune"]
        out["commune"] = out["commune"].map(code)
        return out

    f2 = frame.copy()
    f2["commune_name"] = f2["commune"]
    f2["commune"] = f2["commune"].map(code)
    run = run_annual(
        recode(hi.load_city_survey(2024)),
        spec,
        frame=f2,
        previous=recode(hi.load_city_survey(2023)),
        targets="yen_bai_city_plan",
        report_config={"date": "2026-12-07"},
    )
    return run, code


def test_commune_names_from_the_name_column(coded):
    run, code = coded
    rows = run.results["communes"]
    assert {r["name"] for r in rows} == set(code) and {r["commune"] for r in rows} == set(code.values())
    md = render_markdown(run.results, "vi")
    assert "| Xã / phường | Mã | Ước lượng |" in md
    assert f"| Nguyễn Thái Học | {code['Nguyễn Thái Học']} |" in md
    ch = md.split(". Thay đổi so với năm trước")[1]
    assert "| Nguyễn Thái Học | " in ch and "Giá trị p hiệu chỉnh Holm" in ch
    by = run.results["change"]["by_group"]
    assert all(r["name"] in code for r in by)
    p = np.array([r["p_value"] for r in by])
    assert [r["p_holm"] for r in by] == pytest.approx(adjust_pvalues(p, "holm"))
    assert [r["p_bh"] for r in by] == pytest.approx(adjust_pvalues(p, "bh"))
    assert "Benjamini–Hochberg" in ch and "ngẫu nhiên" in ch


def test_commune_names_helper():
    d = pd.DataFrame({"c": [1, 1, 2], "n": ["Ha\u0300 Nội ", "Hà Nội", "Huế"]})
    assert commune_names(d, None, "c", "n") == {"1": "Hà Nội", "2": "Huế"}
    assert commune_names(d, None, "c", None) == {}


def test_charts_show_names(coded):
    from happiness_index.report.charts import communes_figure

    fig = communes_figure(coded[0].results, "vi")
    try:
        labels = {t.get_text() for t in fig.axes[0].get_yticklabels()}
        assert "Nguyễn Thái Học" in labels and not any(re.fullmatch(r"\d+", s) for s in labels)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


# ----------------------------------------------------------------------------- optional sections
def _drivers():
    f = pd.DataFrame(
        {
            "group": ["city", "city"],
            "term": ["C(sex)[T.F]", "income"],
            "label_en": ["Women vs men", "Household income (per million VND)"],
            "label_vi": ["Nữ so với nam", "Thu nhập hộ (mỗi triệu đồng)"],
            "ame_pp": [2.5, 0.8],
            "se_pp": [1.1, 0.2],
            "ci_low_pp": [0.3, 0.4],
            "ci_high_pp": [4.7, 1.2],
            "p": [0.03, 0.0004],
            "n": [3400, 3400],
        }
    )
    return SimpleNamespace(to_frame=lambda: f, outcome_en="being happy", outcome_vi="hạnh phúc")


def _small_area():
    f = pd.DataFrame(
        {
            "unit": ["A1", "A2", "A3"],
            "name": ["Tân Thịnh", "Hợp Minh", "Âu Lâu"],
            "direct": [84.0, 71.2, np.nan],
            "direct_ci_low": [75.4, 56.9, np.nan],
            "direct_ci_high": [93.6, 89.2, np.nan],
            "model": [82.1, 73.5, 78.0],
            "model_ci_low": [76.0, 66.0, 70.5],
            "model_ci_high": [88.2, 81.0, 85.5],
            "mse": [9.7, 14.6, 14.1],
            "gamma": [0.6, 0.3, 0.0],
            "published": ["direct", "model", "none"],
            "reason_en": ["", "survey estimate too imprecise", "no respondents"],
            "reason_vi": ["", "ước lượng trực tiếp kém chính xác", "không có người trả lời"],
            "rank": [1, 3, 2],
            "rank_low": [1, 1, 1],
            "rank_high": [2, 3, 3],
        }
    )
    return SimpleNamespace(to_frame=lambda: f)


def _robustness():
    return SimpleNamespace(
        city=pd.DataFrame(
            {
                "scenario": ["sampling", "methods", "both"],
                "median": [76.9, 77.4, 77.2],
                "p05": [75.1, 71.0, 70.2],
                "p95": [78.8, 82.3, 83.0],
            }
        ),
        communes=pd.DataFrame(
            {
                "unit": ["Âu Lâu"],
                "scenario": ["both"],
                "median": [80.0],
                "p05": [72.0],
                "p95": [88.0],
                "median_rank": [3],
                "rank_p05": [1],
                "rank_p95": [7],
            }
        ),
        targets=pd.DataFrame({"year": [2025], "target": [84.6], "scenario": ["both"], "share_reached": [0.12]}),
        sobol=pd.DataFrame(
            {
                "output": ["city"],
                "factor": ["normalisation"],
                "label_en": ["Normalisation"],
                "label_vi": ["Chuẩn hóa"],
                "S1": [0.41],
                "S1_conf": [0.05],
                "ST": [0.55],
                "ST_conf": [0.06],
            }
        ),
    )


def _distributions():
    f = pd.DataFrame(
        {
            "group": ["city", "city"],
            "item": ["le_rating", "le_rating"],
            "label_en": ["Life expectancy rating", "Life expectancy rating"],
            "label_vi": ["Đánh giá về tuổi thọ", "Đánh giá về tuổi thọ"],
            "category": ["4", "5"],
            "share": [0.42, 0.31],
            "ci_low": [0.40, 0.29],
            "ci_high": [0.44, 0.33],
        }
    )
    s = pd.DataFrame({"group": ["city"], "item": ["le_rating"], "mean": [3.9], "median": [4.0], "p90_p10": [np.nan]})
    return SimpleNamespace(to_frame=lambda: f, summary=s)


@pytest.fixture(scope="module")
def full():
    run = example_run()
    for name, make in (
        ("drivers", _drivers),
        ("small_area", _small_area),
        ("robustness", _robustness),
        ("distributions", _distributions),
    ):
        attach_section(run, name, make())
    return run


def test_run_stores_the_section_keywords(spec):
    cov = hi.load_city_commune_covariates()
    cfg = {
        "issuing_body": {"vi": "Chi cục Thống kê", "en": "Statistics Office"},
        "document_number": "7/BC-CCTK",
        "place": "Yên Bái",
        "signer_title": "Chi cục trưởng",
        "date": "2027-02-05",
    }
    run = run_annual(
        hi.load_city_survey(2024),
        spec,
        area_covariates=cov,
        robustness_draws=20,
        drivers=False,
        report_config=cfg,
        seed=1,
    )
    assert run.results["report_date"] == "2027-02-05" and "date" not in run.results["report_config"]
    lh = build_document(run.results, "vi").letterhead
    assert (lh.issuing_body, lh.number, lh.place_date, lh.signer_title) == (
        "CHI CỤC THỐNG KÊ",
        "Số: 7/BC-CCTK",
        "Yên Bái, ngày 05 tháng 02 năm 2027",
        "CHI CỤC TRƯỞNG",
    )
    assert build_document(run.results, "en").letterhead.issuing_body == "STATISTICS OFFICE"
    assert run.options["robustness_draws"] == 20 and run.options["drivers"] is False
    assert run.options["area_covariates"] is cov
    computed = ("small_area", "robustness", "distributions")  # the analyses run_annual computes
    assert all(getattr(run, k) is not None and run.results[k] for k in computed)
    assert run.drivers is None and run.results["drivers"] is None
    keys = [s.key for s in build_document(run.results, "vi").sections]
    assert set(keys) & set(OPTIONAL_SECTIONS) == set(computed)


def test_sections_render_in_both_languages(full):
    vi = build_document(full.results, "vi")
    keys = [s.key for s in vi.sections]
    assert (
        keys.index("caveat")
        < keys.index("drivers")
        < keys.index("small_area")
        < keys.index("robustness")
        < keys.index("distributions")
        < keys.index("method")
        < keys.index("annex")
    )
    t = vi.tables()
    assert t["drivers"].rows[0][:3] == ["toàn thành phố", "Nữ so với nam", "+2,50"]
    assert (
        t["small_area"].rows[0][0] == "Tân Thịnh"
        and t["small_area"].rows[0][-1] == "thứ 1, trong khoảng từ thứ 1 đến thứ 2"
    )
    assert t["small_area"].rows[1][6] == "không công bố" and t["small_area"].rows[1][2] == "—"
    assert t["robustness_city"].rows[2] == ["chọn mẫu và lựa chọn phương pháp", "77,20", "70,20 – 83,00"]
    assert t["robustness_targets"].rows[0][-1] == "12%"
    assert t["robustness_communes"].rows[0][-1] == "thứ 3, trong khoảng từ thứ 1 đến thứ 7"
    assert t["distributions"].rows[0][3] == "42,0%" and t["distributions_summary"].rows[0][1] == "Đánh giá về tuổi thọ"
    en = build_document(full.results, "en").tables()
    assert en["small_area"].rows[0][-1] == "1st, between 1st and 2nd"
    assert en["robustness_communes"].rows[0][-1] == "3rd, between 1st and 7th"
    assert en["drivers"].rows[1][1] == "Household income (per million VND)"


def test_rank_text_never_a_bare_rank():
    assert [ordinal(k, "en") for k in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
    ]
    assert rank_text(3, 1, 7, "en") == "3rd, between 1st and 7th"
    assert rank_text(3, None, None, "vi") == "thứ 3 (chưa có khoảng)"


@pytest.fixture(scope="module")
def full_folders(full, tmp_path_factory):
    out = {}
    for lang in ("vi", "en"):
        out[lang] = tmp_path_factory.mktemp(f"full_{lang}")
        write_report_files(full.results, out[lang], lang)
    return out


def test_sections_in_every_format(full_folders):
    import docx
    from openpyxl import load_workbook

    for lang in ("vi", "en"):
        d = full_folders[lang]
        md = (d / "report.md").read_text(encoding="utf-8")
        html = (d / "report.html").read_text(encoding="utf-8")
        words = {
            "vi": ("Các yếu tố gắn với mức hạnh phúc", "thứ 3, trong khoảng từ thứ 1 đến thứ 7"),
            "en": ("What goes with being happy", "3rd, between 1st and 7th"),
        }[lang]
        for text in (md, html):
            assert all(w in text for w in words)
        doc_text = "\n".join(
            c.text for t in docx.Document(str(d / "report.docx")).tables for r in t.rows for c in r.cells
        )
        assert words[1] in doc_text
        wb = load_workbook(d / "tables.xlsx")
        assert len(wb.sheetnames) == 10
        sa = wb[wb.sheetnames[6]]
        assert {"Số được công bố", "Published figure"} & {c.value for c in sa[1]}


# ----------------------------------------------------------------------------- one language per report
def test_vietnamese_outputs_hold_no_english_and_english_no_vietnamese(full, full_folders):
    res = full.results
    for lang in ("vi", "en"):
        for fmt, text in visible_text(full_folders[lang]).items():
            text = without_names(text, res)
            if lang == "vi":
                leaks = [s for s in ascii_sentences(text) if not s.startswith(("Yen Bai", "Times New"))]
                assert not leaks, (fmt, leaks[:5])
            else:
                lines = [ln for ln in text.splitlines() if VI_LETTERS.search(ln)]
                assert not lines, (fmt, lines[:5])
    assert "KTC" in summary_lines(res, "vi")[1] and "CI" in summary_lines(res, "en")[1]


def test_ktc_spelled_out_at_first_use_and_no_internal_names_in_the_body(full):
    for lang, short, long in (("vi", "KTC", "khoảng tin cậy 95% (KTC)"), ("en", "CI", "confidence interval (CI)")):
        md = render_markdown(full.results, lang)
        body, annex = md.split("Phụ lục" if lang == "vi" else "Annex: technical details", 1)
        first = re.search(rf"\b{short}\b", body).start()
        assert body.find(long) != -1 and body.find(long) + len(long) - len(short) - 1 == first
        for internal in ("nef_ratio", "ls \\* le / env", "sha256", "SHA-256", "seed", "lonely_psu"):
            assert internal not in body, internal
        assert "nef\\_ratio" in annex and "SHA-256" in annex and "ls \\* le / env" in annex


def test_html_is_escaped_in_every_new_section(full):
    evil = copy.deepcopy(full.results)
    evil["small_area"]["table"][0]["name"] = "<script>x</script>"
    evil["drivers"]["table"][0]["label_vi"] = "<img src=x onerror=alert(1)>"
    page = render_html(evil, "vi", charts={})
    assert "<script>x" not in page and "<img src=x" not in page and "&lt;script&gt;x" in page
    md = render_markdown(evil, "vi")
    assert "<script>" not in md and "<img" not in md


def test_progress_labels_follow_the_language(spec):
    import io

    from happiness_index.report.annual import Progress

    for lang, word in (("vi", "đã tính chỉ số"), ("en", "index computed")):
        s = io.StringIO()
        run_annual(hi.load_city_survey(2024), spec, progress=Progress(6, stream=s, lang=lang))
        assert word in s.getvalue()
    with pytest.raises(hi.HappinessIndexError, match="lang"):
        Progress(6, lang="fr")


def test_markdown_keeps_character_references_whole(full):
    from happiness_index.report.documents import markdown_text

    assert markdown_text("Holm's <b>|") == "Holm&#x27;s &lt;b&gt;\\|"
    assert markdown_text("&#x27; typed") == "&amp;\\#x27; typed"  # typed text stays text
    md = render_markdown(full.results, "en")
    assert "&\\#" not in md and "Holm&#x27;s method" in md


def test_annex_names_the_lonely_psu_rule_and_calibration_in_the_report_language():
    """The Vietnamese annex says what 'fail' and 'raking' mean, not the bare English option names."""
    from happiness_index.report.annex import annex_section

    res = {"provenance": {"lonely_psu": "fail"}, "weighting": {"method": "calibrate:raking", "converged": True}}
    vi = " ".join(annex_section(res, "vi").blocks[0].items)
    assert "quy tắc dừng và báo lỗi (fail)" in vi and "điều chỉnh lặp theo từng biên (raking)" in vi
    en = " ".join(annex_section(res, "en").blocks[0].items)
    assert "rule fail" in en and "weights: raking;" in en
    res["provenance"]["lonely_psu"] = "some_future_rule"  # unknown: shown as given, never a KeyError
    assert "some_future_rule" in " ".join(annex_section(res, "vi").blocks[0].items)


def test_annex_names_every_input_role_the_command_line_records_in_the_report_language():
    """`happiness-index run` records the covariates as 'area_covariates': the Vietnamese annex
    said 'Tệp đầu vào (area_covariates)'; every role of the CLI has a translated name."""
    from happiness_index.report.annex import annex_section

    roles = ("survey", "previous", "frame", "margins", "area_covariates", "crosswalk")
    inputs = {r: {"file": f"{r}.csv", "sha256": "0" * 64} for r in roles}
    vi = " ".join(annex_section({"provenance": {"inputs": inputs}}, "vi").blocks[0].items)
    en = " ".join(annex_section({"provenance": {"inputs": inputs}}, "en").blocks[0].items)
    assert not [r for r in roles if f"({r})" in vi]  # no bare key in the Vietnamese annex
    assert "(area_covariates)" not in en
    assert "Tệp đầu vào (biến phụ trợ theo địa bàn): area_covariates.csv" in vi


def test_communes_intro_when_no_estimate_is_publishable(full):
    """'Có 0 ước lượng đủ tin cậy …' read oddly (the bundled example publishes none): say 'none'."""
    res = copy.deepcopy(full.results)
    for row in res["communes"]:
        row["publishable"] = False
    vi, en = render_markdown(res, "vi"), render_markdown(res, "en")
    assert "Chưa có ước lượng nào đủ tin cậy để công bố" in vi and "Có 0 ước lượng" not in vi
    assert "No estimate is precise enough to publish" in en and "None" not in en
    res["communes"][0]["publishable"] = True
    assert "Có 1 ước lượng đủ tin cậy để công bố" in render_markdown(res, "vi")


def test_small_area_table_has_a_code_column_only_for_coded_units():
    from happiness_index.report.extra_sections import extra_sections

    def table(units, names):
        rows = [
            {"unit": u, "name": n, "direct": 80.0, "model": 79.0, "published": "direct", "rank": i + 1}
            for i, (u, n) in enumerate(zip(units, names))
        ]
        sec = next(
            s for s in extra_sections({"small_area": {"table": rows}, "level": 0.95}, "vi") if s.key == "small_area"
        )
        return next(b for b in sec.blocks if hasattr(b, "rows"))

    named = table(["Tân Thịnh", "Âu Lâu"], [None, None])  # the communes are their names: no code column
    assert "Mã" not in named.header and named.rows[0][0] == "Tân Thịnh" and len(named.rows[0]) == len(named.header)
    coded = table(["A1", "A2"], ["Tân Thịnh", "Âu Lâu"])
    assert coded.header[:2] == ["Tên", "Mã"] and coded.rows[0][:2] == ["Tân Thịnh", "A1"]
