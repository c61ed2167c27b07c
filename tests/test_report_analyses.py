"""The annual run with its optional analyses: small areas, robustness, item distributions.

run_annual computes them (report/analyses.py) and every output shows them: results.json
(JSON-able, no NaN), report.md, report.html, report.docx and tables.xlsx.
"""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import EstimationError
from happiness_index.questionnaire.spec import bundled_spec_path
from happiness_index.report.annual import run_annual, write_report_files
from happiness_index.report.catalog import catalog
from happiness_index.report.cli import main

SEED = 7
SECTIONS = ("small_area", "robustness", "distributions")


@pytest.fixture(scope="module")
def spec():
    return hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))


@pytest.fixture(scope="module")
def covariates():
    return hi.load_city_commune_covariates()


@pytest.fixture(scope="module")
def run(spec, covariates):
    return run_annual(
        hi.load_city_survey(2024),
        spec,
        year=2024,
        area_covariates=covariates,
        robustness_draws=50,
        seed=SEED,
        synthetic=True,
    )


@pytest.fixture(scope="module", params=["vi", "en"])
def written(request, run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rep_" + request.param)
    write_report_files(run.results, folder, request.param)
    return request.param, folder


def _no_nan(x, path="results"):
    if isinstance(x, dict):
        for k, v in x.items():
            _no_nan(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            _no_nan(v, f"{path}[{i}]")
    else:
        assert not (isinstance(x, float) and not math.isfinite(x)), path


def test_sections_attached_and_json_clean(run):
    for name in SECTIONS:
        assert getattr(run, name) is not None, name
        assert run.results[name], name
    # the drivers section is the city-wide hi.drivers table, numbers as in the JSON
    table = run.drivers.to_frame()
    assert set(table["group"]) == {"city"} and len(table) == len(run.results["drivers"]["table"])
    np.testing.assert_allclose([r["ame_pp"] for r in run.results["drivers"]["table"]], table["ame_pp"], rtol=1e-12)
    _no_nan(run.results)
    back = json.loads(json.dumps(run.results, allow_nan=False))
    assert back["robustness"]["draws"] == 50 and back["robustness"]["seed"] == SEED
    assert len(back["small_area"]["table"]) == 17
    assert {r["scenario"] for r in back["robustness"]["city"]} == {"sampling", "methods", "both"}
    assert {r["group"] for r in back["distributions"]["table"]} == {"city"}


def test_published_estimates_equal_a_direct_call(run, covariates):
    direct = hi.small_area_index(run.result, covariates, seed=SEED).to_frame()
    got = pd.DataFrame(run.results["small_area"]["table"])
    assert list(got["unit"]) == list(direct["unit"])
    assert list(got["published"]) == list(direct["published"])
    for col in ("direct", "model", "mse", "gamma", "rank", "rank_low", "rank_high"):
        np.testing.assert_allclose(got[col].astype(float), direct[col].astype(float), rtol=1e-12, err_msg=col)
    assert set(got["published"]) <= {"direct", "model", "none"}
    assert got["reason_vi"].str.len().gt(0).all() and got["reason_en"].str.len().gt(0).all()


def test_robustness_baseline_is_the_published_index(run):
    assert run.robustness.baseline == pytest.approx(run.result.overall.estimate, abs=1e-9)
    sampling = run.results["robustness"]["city"][0]
    assert sampling["p05"] < run.result.overall.estimate < sampling["p95"]


def test_distribution_shares_add_up(run):
    f = run.distributions.to_frame()
    sums = f.groupby("item")["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)


def _docx_text(path) -> str:
    import docx

    d = docx.Document(str(path))
    parts = [p.text for p in d.paragraphs]
    parts += [c.text for t in d.tables for row in t.rows for c in row.cells]
    return "\n".join(parts)


def test_every_output_shows_the_sections(written):
    import openpyxl

    lang, folder = written
    t = catalog(lang)
    md = (folder / "report.md").read_text(encoding="utf-8")
    html = (folder / "report.html").read_text(encoding="utf-8")
    docx_text = _docx_text(folder / "report.docx")
    sheets = openpyxl.load_workbook(folder / "tables.xlsx").sheetnames
    for name in SECTIONS:
        title = t("section." + name)
        assert title in md, (lang, name)
        assert title in html or title.replace("&", "&amp;") in html, (lang, name)
        assert title in docx_text, (lang, name)
        assert t("xlsx.sheet_" + name)[:31] in sheets, (lang, name, sheets)
    # the commune with the published model estimate shows it, with its rank interval
    assert t("small_area.published_model") in md
    assert json.loads((folder / "results.json").read_text(encoding="utf-8"))["small_area"]["table"]


def test_robustness_seed_drawn_and_recorded(spec):
    r = run_annual(hi.load_city_survey(2024), spec, year=2024, robustness_draws=20)
    prov = r.results["provenance"]
    assert prov["robustness_seed_drawn"] is True
    assert r.results["robustness"]["seed"] == prov["robustness_seed"]
    assert r.small_area is None and r.results["small_area"] is None


def test_bad_requests_are_refused(spec):
    with pytest.raises(EstimationError, match="robustness_draws"):
        run_annual(hi.load_city_survey(2024), spec, year=2024, robustness_draws=-1)
    cov = hi.load_city_commune_covariates().iloc[1:]
    with pytest.raises(EstimationError, match="no covariates for communes"):
        run_annual(hi.load_city_survey(2024), spec, year=2024, area_covariates=cov)


def _cli(args):
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(args)
    return rc, buf.getvalue()


def test_cli_example_with_covariates_and_robustness(tmp_path, covariates):
    cov = tmp_path / "covariates.csv"
    covariates.to_csv(cov, index=False, encoding="utf-8")
    out = tmp_path / "report"
    rc, text = _cli(
        [
            "run",
            "--example",
            "--area-covariates",
            str(cov),
            "--robustness-draws",
            "50",
            "--out",
            str(out),
            "--quiet",
            "--lang",
            "en",
        ]
    )
    assert rc == 0
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for name in SECTIONS:
        assert res[name], name
    assert res["provenance"]["robustness_seed_drawn"] is True
    assert f"seed {res['provenance']['robustness_seed']} drawn for the robustness analysis" in text
    assert res["provenance"]["inputs"]["area_covariates"]["file"] == "covariates.csv"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert catalog("en")("section.small_area") in md and catalog("en")("section.robustness") in md


def test_cli_example_small_area_default_and_opt_out(tmp_path, capsys):
    rc, _ = _cli(["run", "--example", "--no-small-area", "--out", str(tmp_path / "a"), "--quiet"])
    assert rc == 0
    res = json.loads((tmp_path / "a" / "results.json").read_text(encoding="utf-8"))
    assert res["small_area"] is None and res["robustness"] is None and res["distributions"]
    rc = main(["run", "--example", "--no-small-area", "--area-covariates", "x.csv", "--out", str(tmp_path / "b")])
    assert rc == 2
    assert "contradict" in capsys.readouterr().err


def test_crosswalk_compares_on_the_new_units(spec, tmp_path):
    cw = hi.load_illustrative_crosswalk()
    r = run_annual(
        hi.load_city_survey(2024), spec, year=2024, previous=hi.load_city_survey(2023), previous_year=2023, crosswalk=cw
    )
    bg = {x["commune"]: x for x in r.results["change"]["by_group"]}
    assert set(bg) == set(cw["new_unit"])
    assert r.results["crosswalk"]["this_year_recoded"] is True
    old = hi.index_on_new_units(hi.validate_survey(hi.load_city_survey(2023), spec).data, spec, cw).result
    for row in old.by_group.to_frame().itertuples():
        assert bg[row.new_unit]["old"] == pytest.approx(row.estimate, rel=1e-12)
    assert all(x["name"].startswith("Đơn vị mới") for x in bg.values())
    r.results["change"]["by_group"][0].update(
        complete=False, reason_en="only 1 of 5 parts sampled", reason_vi="chỉ 1/5 phần có mẫu"
    )
    write_report_files(r.results, tmp_path, "en")
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "re-estimated from its own microdata" in md and "only 1 of 5 parts sampled" in md
    with pytest.raises(EstimationError, match="--previous"):
        run_annual(hi.load_city_survey(2024), spec, year=2024, crosswalk=cw)


def test_cli_example_with_the_illustrative_crosswalk(tmp_path):
    from happiness_index.reading.datasets import data_path

    out = tmp_path / "report"
    rc, _ = _cli(
        [
            "run",
            "--example",
            "--no-small-area",
            "--crosswalk",
            str(data_path("yen_bai_city_crosswalk_illustrative.csv")),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert {r["commune"] for r in res["change"]["by_group"]} == {"N1", "N2", "N3", "N4"}
    assert res["crosswalk"]["this_year_recoded"] is True and len(res["crosswalk"]["flags"]) == 4
    assert "ước lượng lại từ vi dữ liệu" in (out / "report.md").read_text(encoding="utf-8")
    assert len(res["communes"]) == 17  # this year's table stays on the units of its survey
