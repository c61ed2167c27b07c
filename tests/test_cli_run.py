"""End-to-end tests of ``happiness-index run``: the bundled example and the real GSS data."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.report.cli import main
from happiness_index.report.annual import REPORT_FILES
from happiness_index.questionnaire.spec import bundled_spec_path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GSS = SHARED / "data" / "gss_happiness.csv"


def numbers(d):
    """Every number of a results.json, flattened with its key path (provenance excluded)."""
    out = {}

    def walk(x, path):
        if isinstance(x, dict):
            for k, v in x.items():
                if k not in ("provenance",):
                    walk(v, path + (k,))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, path + (i,))
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            out[path] = x
    walk(d, ())
    return out


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ex") / "report"
    rc = main(["run", "--example", "--out", str(out), "--quiet"])
    return rc, out


def test_example_writes_every_file(example_run):
    rc, out = example_run
    assert rc == 0
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    assert not list(out.parent.glob(".report.tmp-*"))


def test_example_numbers_equal_direct_library_calls(example_run):
    _, out = example_run
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert res["synthetic"] is True and "SYNTHETIC" in res["notice"]["en"]
    spec = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))
    frame = hi.load_city_frame()
    margins = hi.load_city_margins()
    direct = {}
    for y in (2023, 2024):
        data = hi.validate_survey(hi.load_city_survey(y), spec, frame).data
        d = hi.calibrate(hi.SurveyDesign(data, weights="weight", strata="commune", psu="village"), margins,
                         method="raking")
        direct[y] = hi.compute_index(data, spec, design=d, by="commune")
    o = direct[2024].overall
    assert res["year"] == 2024 and res["previous_year"] == 2023
    for k in ("estimate", "se", "ci_low", "ci_high", "df"):
        assert res["index"][k] == pytest.approx(getattr(o, k), rel=1e-12)
    comm = {r["commune"]: r for r in res["communes"]}
    assert len(comm) == 17
    for e, c in zip(direct[2024].by_group, direct[2024].by_group.keys.iloc[:, 0]):
        assert comm[c]["estimate"] == pytest.approx(e.estimate, rel=1e-12)
        assert comm[c]["se"] == pytest.approx(e.se, rel=1e-12)
    ch = hi.compare(direct[2024], direct[2023])
    assert res["change"]["change_pp"] == pytest.approx(ch.change_pp, rel=1e-12)
    assert res["change"]["se"] == pytest.approx(ch.se, rel=1e-12)
    assert res["change"]["change_rel_pct"] == pytest.approx(ch.change_rel_pct, rel=1e-12)
    assert res["change"]["samples"] == "independent"
    years = {r["year"]: r for r in res["targets"]["years"]}
    a = hi.Trajectory.load("yen_bai_city_plan").assess({2023: direct[2023], 2024: direct[2024]})
    assert years[2023]["status"] == a.status(2023)
    assert years[2023]["gap_pp"] == pytest.approx(direct[2023].overall.estimate - 76.0, rel=1e-12)
    assert res["targets"]["outlook"]["gain_needed_pp_per_year"] == pytest.approx((84.6 - o.estimate) / 1)
    prov = res["provenance"]
    assert prov["spec_hash"] == spec.content_hash()
    assert prov["library_version"] == hi.__version__
    assert set(prov["inputs"]) == {"survey", "previous", "frame", "margins"}
    # tables agree with results.json
    cc = pd.read_csv(out / "communes.csv", encoding="utf-8-sig")
    assert set(cc["commune"]) == set(comm)
    x = pd.read_excel(out / "tables.xlsx", sheet_name="Xã phường")   # headers in the report's language
    by_code = dict(zip(x["Xã / phường"], x["Ước lượng"]))
    assert [by_code[c] for c in cc["commune"]] == pytest.approx(cc["estimate"].tolist(), rel=1e-12)


def test_second_run_gives_identical_numbers(example_run, tmp_path):
    _, out = example_run
    out2 = tmp_path / "again"
    assert main(["run", "--example", "--out", str(out2), "--quiet"]) == 0
    a = json.loads((out / "results.json").read_text(encoding="utf-8"))
    b = json.loads((out2 / "results.json").read_text(encoding="utf-8"))
    assert numbers(a) == numbers(b)
    assert a["provenance"] == b["provenance"]
    # rewriting an existing report directory replaces it as a whole
    assert main(["run", "--example", "--out", str(out2), "--quiet"]) == 0
    assert json.loads((out2 / "results.json").read_text(encoding="utf-8")) == b


def test_html_is_utf8_escaped_and_vietnamese(example_run):
    _, out = example_run
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "charset='utf-8'" in html
    for name in ("Nguyễn Thái Học", "Đồng Tâm", "Âu Lâu", "Chỉ số hạnh phúc"):
        assert name in html
    assert "SỐ LIỆU MÔ PHỎNG" in html
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "điểm phần trăm" in md and "tương đối" in md


def test_gss_run_matches_r_reference(tmp_path, capsys):
    out = tmp_path / "gss"
    rc = main(["run", "--survey", str(GSS), "--spec", "gss_happiness", "--year", "2006", "--previous-year", "2004",
               "--out", str(out), "--lang", "en", "--quiet"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    ref = json.loads((SHARED / "reference" / "gss_happiness.json").read_text())
    e = next(c for c in ref["cases"] if c["id"] == "gss_diff_2006_2004_independent")["expected"]
    assert res["index"]["estimate"] == pytest.approx(100 * e["p_2006"], rel=1e-9)
    assert res["index"]["se"] == pytest.approx(100 * e["se_2006"], rel=1e-7)
    assert res["previous"]["estimate"] == pytest.approx(100 * e["p_2004"], rel=1e-9)
    assert res["previous"]["se"] == pytest.approx(100 * e["se_2004"], rel=1e-7)
    assert res["change"]["change_pp"] == pytest.approx(100 * e["estimate"], rel=1e-9)
    assert res["change"]["se"] == pytest.approx(100 * e["se"], rel=1e-7)
    # df of the change: Satterthwaite on 2985 and 1336 df, so the p-value is close to R's Normal one
    assert res["change"]["p_value"] == pytest.approx(e["p_value_two_sided"], abs=2e-4)
    assert len(res["communes"]) == 9 and res["domain_column"] == "region"
    gss = hi.load_gss()
    d2006 = gss[gss.year == 2006].reset_index(drop=True)
    spec = hi.IndexSpec.from_toml(bundled_spec_path("gss_happiness"))
    direct = hi.compute_index(d2006, spec, by="commune")
    assert res["index"]["ci_low"] == pytest.approx(direct.overall.ci_low, rel=1e-12)
    # second run: identical numbers
    out2 = tmp_path / "gss2"
    assert main(["run", "--survey", str(GSS), "--spec", "gss_happiness", "--year", "2006", "--previous-year",
                 "2004", "--out", str(out2), "--lang", "en", "--quiet"]) == 0
    assert numbers(res) == numbers(json.loads((out2 / "results.json").read_text(encoding="utf-8")))


# ------------------------------------------------------------------ exit codes, no tracebacks
def run_cli(args, cwd=None):
    return subprocess.run([sys.executable, "-m", "happiness_index.report.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, encoding="utf-8")


def test_usage_errors_exit_2(tmp_path):
    for args, msg in [
        (["run", "--survey", str(GSS)], "run needs --spec, --out"),
        (["run", "--example", "--survey", str(GSS)], "takes no --survey"),
        (["run", "--survey", str(tmp_path / "nope.csv"), "--spec", "gss_happiness", "--out", str(tmp_path / "o")],
         "survey file not found"),
        (["run", "--survey", str(GSS), "--spec", "no_such_spec", "--out", str(tmp_path / "o")], "spec file not found"),
        (["run", "--example", "--targets", "x"], "takes no --targets"),
        (["run", "--example", "--level", "95", "--out", str(tmp_path / "o")], "--level must be between 0 and 1"),
    ]:
        r = run_cli(args)
        assert r.returncode == 2, (args, r.stderr)
        assert msg in r.stderr, (msg, r.stderr)
        assert "Traceback" not in r.stderr


def test_invalid_data_exit_1_with_validation_table(tmp_path):
    bad = hi.load_city_survey(2024)
    bad.loc[[3, 10], "ls_income"] = 7
    bad.loc[5, "weight"] = -1.0
    p = tmp_path / "bad.csv"
    bad.to_csv(p, index=False)
    out = tmp_path / "out"
    r = run_cli(["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(out), "--lang", "en", "--quiet"])
    assert r.returncode == 1, r.stderr
    assert "invalid code" in r.stdout and "ls_income" in r.stdout and "weight" in r.stdout
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_several_years_need_year(tmp_path):
    r = run_cli(["run", "--survey", str(GSS), "--spec", "gss_happiness", "--out", str(tmp_path / "o"), "--quiet"])
    assert r.returncode == 1 and "several years" in r.stderr and "--year" in r.stderr
    assert "Traceback" not in r.stderr


def test_never_overwrites_inputs_or_foreign_directories(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    survey = data / "survey.csv"
    hi.load_city_survey(2024).to_csv(survey, index=False)
    before = survey.read_bytes()
    r = run_cli(["run", "--survey", str(survey), "--spec", "yen_bai_nef", "--out", str(data), "--quiet"])
    assert r.returncode == 2 and "input file" in r.stderr
    assert survey.read_bytes() == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    r = run_cli(["run", "--survey", str(survey), "--spec", "yen_bai_nef", "--out", str(foreign), "--quiet"])
    assert r.returncode == 2 and "not an earlier report" in r.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_interrupted_write_leaves_no_half_report(tmp_path, monkeypatch):
    from happiness_index.report import annual as report

    res = report.run_annual(hi.load_city_survey(2024), hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef")))
    out = tmp_path / "rep"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "plot_communes", boom)
    with pytest.raises(KeyboardInterrupt):
        report.write_report(res.results, out)
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_replicates_and_progress(tmp_path):
    out = tmp_path / "rep"
    r = run_cli(["run", "--example", "--out", str(out), "--replicates", "20", "--seed", "7"])
    assert r.returncode == 0, r.stderr
    # stderr is a pipe here, not a terminal: no progress bar, no carriage returns
    assert "6/6" not in r.stderr and "\r" not in r.stderr
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert res["provenance"]["seed"] == 7 and res["provenance"]["replicates"] == 20
    assert math.isfinite(res["index"]["se"]) and res["index"]["se"] > 0


def test_previous_results_json(tmp_path):
    """Last year's results.json can stand in for last year's microdata."""
    base = ["--survey", str(GSS), "--spec", "gss_happiness", "--lang", "en", "--quiet"]
    assert main(["run", *base, "--year", "2004", "--out", str(tmp_path / "y2004")]) == 0
    assert main(["run", *base, "--year", "2006", "--previous", str(tmp_path / "y2004" / "results.json"),
                 "--out", str(tmp_path / "y2006")]) == 0
    a = json.loads((tmp_path / "y2006" / "results.json").read_text(encoding="utf-8"))
    assert a["previous_year"] == 2004
    assert main(["run", *base, "--year", "2006", "--previous-year", "2004", "--out", str(tmp_path / "both")]) == 0
    b = json.loads((tmp_path / "both" / "results.json").read_text(encoding="utf-8"))
    assert a["change"]["change_pp"] == pytest.approx(b["change"]["change_pp"], rel=1e-12)
    assert a["change"]["se"] == pytest.approx(b["change"]["se"], rel=1e-12)


def test_warnings_are_one_clean_line(tmp_path):
    # breakit #22: a commune whose index is undefined (ENV share 0) gives a warning printed as
    # one "happiness-index: warning: ..." line, without the source file, line number or code
    d = hi.load_city_survey(2024)
    c0 = sorted(d["commune"].unique())[0]
    for c in ["env_nature", "env_security", "env_services"]:
        d.loc[d["commune"] == c0, c] = 1
    p = tmp_path / "s.csv"
    d.to_csv(p, index=False)
    r = run_cli(["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(tmp_path / "o"), "--quiet",
                 "--lang", "en"])
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    warn = [ln for ln in lines if "undefined in 1 domain" in ln]
    assert len(warn) == 1 and warn[0].startswith("happiness-index: warning: "), r.stderr
    assert f"{c0}: component(s) ['env'] equal 0" in warn[0]
    assert ".py" not in r.stderr and "warnings.warn" not in r.stderr and "HappinessIndexWarning" not in r.stderr


# ------------------------------------------------------------------ messages (breakit #28)
def test_header_only_survey_says_so(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text(bundled_data_header(), encoding="utf-8")
    r = run_cli(["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(tmp_path / "o"), "--quiet"])
    assert r.returncode == 1, r.stderr
    assert "the survey data have no rows: the file holds only a header" in r.stderr
    assert "several years" not in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def bundled_data_header():
    from happiness_index.reading.datasets import data_path

    return data_path("yen_bai_city_survey_2024.csv").read_text(encoding="utf-8").splitlines()[0] + "\n"


def test_unwritable_report_names_the_directory_not_a_temp_path(tmp_path):
    blocked = tmp_path / "ro"
    blocked.mkdir()
    survey = tmp_path / "s.csv"
    hi.load_city_survey(2024).to_csv(survey, index=False)
    target = blocked / "rep"
    blocked.chmod(0o500)
    try:
        if os.access(blocked, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip("directory permissions are not enforced for this user")
        r = run_cli(["run", "--survey", str(survey), "--spec", "yen_bai_nef", "--out", str(target), "--quiet"])
    finally:
        blocked.chmod(0o700)
    assert r.returncode == 2, r.stderr
    assert f"cannot write the report to {target}" in r.stderr
    assert ".tmp-" not in r.stderr and "Traceback" not in r.stderr
    assert list(blocked.iterdir()) == []


def test_write_report_oserror_names_out_dir(tmp_path, monkeypatch):
    from happiness_index.report import annual as report

    res = report.run_annual(hi.load_city_survey(2024), hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef")))
    out = tmp_path / "rep"

    def full(*a, **k):
        raise OSError(28, "No space left on device", str(tmp_path / ".rep.tmp-1" / "chart_communes.png"))

    monkeypatch.setattr(report, "plot_communes", full)
    with pytest.raises(OSError) as ei:
        report.write_report(res.results, out)
    assert ei.value.filename == str(out.resolve()) and ".tmp-" not in str(ei.value)
    assert not list(tmp_path.iterdir())


def _lonely_survey(tmp_path):
    d = hi.load_city_survey(2024)
    c0 = sorted(d["commune"].unique())[0]
    d.loc[d["commune"] == c0, "village"] = d.loc[d["commune"] == c0, "village"].iloc[0]
    p = tmp_path / "lonely.csv"
    d.to_csv(p, index=False)
    return d, c0, p


def test_lonely_psu_option(tmp_path):
    d, c0, p = _lonely_survey(tmp_path)
    r = run_cli(["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(tmp_path / "o"), "--quiet"])
    assert r.returncode == 1 and "lonely PSU" in r.stderr and c0 in r.stderr
    assert "add --lonely-psu remove, certainty, adjust or average" in r.stderr
    assert not (tmp_path / "o").exists()
    spec = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))
    for rule in ("adjust", "certainty"):
        out = tmp_path / rule
        r = run_cli(["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(out), "--quiet",
                     "--lonely-psu", rule])
        assert r.returncode == 0, r.stderr
        res = json.loads((out / "results.json").read_text(encoding="utf-8"))
        idx = res["index"]
        assert res["provenance"]["lonely_psu"] == rule
        assert any(f"lonely_psu = '{rule}'" in n for n in res["method_notes"])
        clean = hi.validate_survey(d, spec).data
        design = hi.SurveyDesign(clean, weights="weight", strata="commune", psu="village", lonely_psu=rule)
        lib = hi.compute_index(clean, spec, design=design, by="commune").overall
        assert idx["estimate"] == pytest.approx(lib.estimate, rel=1e-12)
        assert idx["se"] == pytest.approx(lib.se, rel=1e-12)
    r = run_cli(["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(tmp_path / "x"),
                 "--lonely-psu", "drop"])
    assert r.returncode == 2 and "invalid choice" in r.stderr


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
def test_report_under_proc_names_the_directory(tmp_path):
    # /proc refuses new directories even for root: the message names --out, not the temp dir
    survey = tmp_path / "s.csv"
    hi.load_city_survey(2024).to_csv(survey, index=False)
    r = run_cli(["run", "--survey", str(survey), "--spec", "yen_bai_nef", "--out", "/proc/hi_report_xx", "--quiet"])
    assert r.returncode == 2, r.stderr
    assert "cannot write the report to /proc/hi_report_xx" in r.stderr
    assert ".tmp-" not in r.stderr and "Traceback" not in r.stderr


def test_run_directories_are_not_missing_files(tmp_path):
    d = tmp_path / "dir.json"
    d.mkdir()
    for opt, role in [("--survey", "survey"), ("--margins", "margins"), ("--previous", "previous"),
                      ("--frame", "frame")]:
        args = {"--survey": str(GSS), "--spec": "gss_happiness", "--out": str(tmp_path / "o")}
        args[opt] = str(d)
        r = run_cli(["run", *[x for kv in args.items() for x in kv], "--year", "2006", "--quiet"])
        assert r.returncode == 2, (opt, r.stderr)
        assert f"{role} {d} is a directory, not a file" in r.stderr and "not found" not in r.stderr


def test_broken_pipe_is_quiet(tmp_path):
    """`happiness-index ... | head`: the reader goes away; exit 141, no 'error: [Errno 32]' (new-user #12)."""
    p = subprocess.Popen([sys.executable, "-m", "happiness_index.report.cli", "run", "--example", "--quiet", "--lang", "en",
                          "--out", str(tmp_path / "r")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    p.stdout.close()  # nobody reads stdout
    err = p.stderr.read().decode("utf-8")
    p.stderr.close()
    assert p.wait() == 141
    assert "Errno 32" not in err and "Broken pipe" not in err and "Traceback" not in err and "error" not in err


def test_terminal_summary_follows_lang(tmp_path, capsys):
    assert main(["run", "--example", "--quiet", "--out", str(tmp_path / "vi")]) == 0
    vi = capsys.readouterr().out
    assert main(["run", "--example", "--quiet", "--lang", "en", "--out", str(tmp_path / "en")]) == 0
    en = capsys.readouterr().out
    assert "Chỉ số 2024: " in vi and "SỐ LIỆU MÔ PHỎNG" in vi and "đã ghi báo cáo vào" in vi
    assert "17/17 không đủ tin cậy để công bố" in vi and "chưa đạt mục tiêu" in vi
    assert " index " not in vi and "report written" not in vi and "CI" not in vi
    assert "Index 2024: " in en and "SYNTHETIC DATA" in en and "report written to" in en
    assert "17 of 17 not publishable" in en and "not reached" in en
    assert "Xã" not in en and "KTC" not in en


def test_gss_run_labels_regions_not_communes(tmp_path, capsys):
    out = tmp_path / "gss"
    assert main(["run", "--survey", str(GSS), "--spec", "gss_happiness", "--year", "2006", "--quiet",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| Vùng |" in md and "so với toàn bộ" in md and "Xã / phường" not in md
    assert "Vùng: " in printed and "Xã" not in printed
