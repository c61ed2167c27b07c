"""End-to-end tests of ``happiness-index run``: the bundled example and the real GSS data."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.questionnaire.spec import bundled_spec_path
from happiness_index.report.annual import REPORT_FILES
from happiness_index.report.cli import main

ROOT = Path(__file__).resolve().parents[1]
GSS = ROOT / "happiness_index" / "data" / "gss_happiness.csv.gz"  # the bundled copy of the GSS extract
REFERENCE = ROOT / "tests" / "reference"  # R reference values, copied unchanged from ../shared/reference


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
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["run", "--example", "--out", str(out), "--quiet"])  # default language: Vietnamese
    return rc, out, buf.getvalue()


def test_example_writes_every_file(example_run):
    rc, out, _ = example_run
    assert rc == 0
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    assert not list(out.parent.glob(".report.tmp-*"))


def test_example_numbers_equal_direct_library_calls(example_run):
    _, out, _ = example_run
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert res["synthetic"] is True and "SYNTHETIC" in res["notice"]["en"]
    spec = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))
    frame = hi.load_city_frame()
    margins = hi.load_city_margins()
    direct = {}
    for y in (2023, 2024):
        data = hi.validate_survey(hi.load_city_survey(y), spec, frame).data
        d = hi.calibrate(
            hi.SurveyDesign(data, weights="weight", strata="commune", psu="village"), margins, method="raking"
        )
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
    assert set(prov["inputs"]) == {"survey", "previous", "frame", "margins", "area_covariates"}
    # tables agree with results.json
    cc = pd.read_csv(out / "communes.csv", encoding="utf-8-sig")
    assert set(cc["commune"]) == set(comm)
    x = pd.read_excel(out / "tables.xlsx", sheet_name="Xã phường")  # headers in the report's language
    by_code = dict(zip(x["Xã / phường"], x["Ước lượng"]))
    assert [by_code[c] for c in cc["commune"]] == pytest.approx(cc["estimate"].tolist(), rel=1e-12)


def test_second_run_gives_identical_numbers(example_run, tmp_path, capsys):
    _, out, vi = example_run
    out2 = tmp_path / "again"
    assert main(["run", "--example", "--out", str(out2), "--quiet", "--lang", "en"]) == 0
    en = capsys.readouterr().out
    a = json.loads((out / "results.json").read_text(encoding="utf-8"))
    b = json.loads((out2 / "results.json").read_text(encoding="utf-8"))
    assert numbers(a) == numbers(b)
    assert a["provenance"] == b["provenance"]
    # the terminal summary follows --lang (default Vietnamese)
    assert "Chỉ số 2024: " in vi and "SỐ LIỆU MÔ PHỎNG" in vi and "đã ghi báo cáo vào" in vi
    assert "17/17 không đủ tin cậy để công bố" in vi and "chưa đạt mục tiêu" in vi
    assert " index " not in vi and "report written" not in vi and "CI" not in vi
    assert "Index 2024: " in en and "SYNTHETIC DATA" in en and "report written to" in en
    assert "17 of 17 not publishable" in en and "not reached" in en
    assert "Xã" not in en and "KTC" not in en
    # rewriting an earlier report of this program replaces it as a whole (charts not redrawn: same files)
    from happiness_index.report.annual import write_report

    write_report(a, out2, "vi")
    assert json.loads((out2 / "results.json").read_text(encoding="utf-8")) == a
    assert sorted(p.name for p in out2.iterdir() if not p.name.startswith(".")) == sorted(REPORT_FILES)


def test_html_is_utf8_escaped_and_vietnamese(example_run):
    _, out, _ = example_run
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "charset='utf-8'" in html
    for name in ("Nguyễn Thái Học", "Đồng Tâm", "Âu Lâu", "Chỉ số hạnh phúc"):
        assert name in html
    assert "SỐ LIỆU MÔ PHỎNG" in html
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "điểm phần trăm" in md and "tương đối" in md


@pytest.fixture(scope="module")
def gss_run(tmp_path_factory):
    import io
    from contextlib import redirect_stdout

    out = tmp_path_factory.mktemp("gss") / "gss"
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(
            [
                "run",
                "--survey",
                str(GSS),
                "--spec",
                "gss_happiness",
                "--year",
                "2006",
                "--previous-year",
                "2004",
                "--out",
                str(out),
                "--quiet",
            ]
        )
    return rc, out, buf.getvalue()


def test_gss_run_matches_r_reference(gss_run):
    rc, out, _ = gss_run
    assert rc == 0
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    ref = json.loads((REFERENCE / "gss_happiness.json").read_text())
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


# ------------------------------------------------------------------ exit codes, no tracebacks
@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """``main(argv)`` in process (a subprocess adds nothing here): exit code, stdout, stderr."""

    def run(args):
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return Ran(code, out, err)

    return run


def test_usage_errors_exit_2(tmp_path, run_cli):
    for args, msg in [
        (["run", "--survey", str(GSS)], "run needs --spec, --out"),
        (["run", "--example", "--survey", str(GSS)], "takes no --survey"),
        (
            ["run", "--survey", str(tmp_path / "nope.csv"), "--spec", "gss_happiness", "--out", str(tmp_path / "o")],
            "survey file not found",
        ),
        (["run", "--survey", str(GSS), "--spec", "no_such_spec", "--out", str(tmp_path / "o")], "spec file not found"),
        (["run", "--example", "--targets", "x"], "takes no --targets"),
        (["run", "--example", "--level", "95", "--out", str(tmp_path / "o")], "--level must be between 0 and 1"),
    ]:
        r = run_cli(args)
        assert r.returncode == 2, (args, r.stderr)
        assert msg in r.stderr, (msg, r.stderr)
        assert "Traceback" not in r.stderr


def test_invalid_data_exit_1_with_validation_table(tmp_path, run_cli):
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


def test_several_years_need_year(tmp_path, run_cli):
    r = run_cli(["run", "--survey", str(GSS), "--spec", "gss_happiness", "--out", str(tmp_path / "o"), "--quiet"])
    assert r.returncode == 1 and "nhiều năm" in r.stderr and "--year" in r.stderr  # Vietnamese by default
    assert "Traceback" not in r.stderr
    out = str(tmp_path / "o2")
    r = run_cli(["run", "--survey", str(GSS), "--spec", "gss_happiness", "--out", out, "--quiet", "--lang", "en"])
    assert r.returncode == 1 and "several years" in r.stderr and "--year" in r.stderr


def test_never_overwrites_inputs_or_foreign_directories(tmp_path, run_cli):
    data = tmp_path / "in"
    data.mkdir()
    survey = data / "survey.csv"
    hi.load_city_survey(2024).to_csv(survey, index=False)
    before = survey.read_bytes()
    r = run_cli(["run", "--survey", str(survey), "--spec", "yen_bai_nef", "--out", str(data), "--quiet"])
    assert r.returncode == 2 and "contains the input" in r.stderr and "another --out" in r.stderr
    assert survey.read_bytes() == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    r = run_cli(["run", "--survey", str(survey), "--spec", "yen_bai_nef", "--out", str(foreign), "--quiet"])
    assert r.returncode == 2 and "not a report written by this program" in r.stderr and "notes.txt" in r.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_issue_9_project_folder_is_never_replaced(tmp_path, run_cli, monkeypatch):
    """Issue 9: a project folder holding results.json, thesis.docx and data/raw.csv lost both files."""
    from happiness_index.report import annual

    proj = tmp_path / "project"
    (proj / "data").mkdir(parents=True)
    (proj / "results.json").write_text("{}")
    (proj / "thesis.docx").write_bytes(b"PK thesis")
    (proj / "data" / "raw.csv").write_text("id\n1\n")
    before = {p: p.read_bytes() for p in proj.rglob("*") if p.is_file()}
    monkeypatch.setattr(annual, "run_annual", None)  # refused before any computation
    r = run_cli(["run", "--example", "--out", str(proj), "--quiet", "--lang", "en"])
    assert r.returncode == 2
    assert "thesis.docx" in r.stderr and "data/raw.csv" in r.stderr and "Choose another --out" in r.stderr
    assert {p: p.read_bytes() for p in proj.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_issue_9_inputs_inside_out_are_never_deleted(tmp_path, run_cli, monkeypatch):
    """Issue 9: `--spec DIR/myspec.toml --targets DIR/targets.json --out DIR` exited 0 and deleted both."""
    from happiness_index.report import annual

    d = tmp_path / "DIR"
    d.mkdir()
    spec, targets = d / "myspec.toml", d / "targets.json"
    spec.write_bytes(bundled_spec_path("yen_bai_nef").read_bytes())
    targets.write_text(json.dumps({"2023": 76.0, "2025": 84.6}))
    survey = tmp_path / "survey.csv"
    hi.load_city_survey(2024).to_csv(survey, index=False)
    before = spec.read_bytes(), targets.read_bytes()
    monkeypatch.setattr(annual, "run_annual", None)
    for extra in ([], ["--config", str(_write(d / "run.toml", f'survey = "{survey}"\n'))]):
        r = run_cli(
            [
                "run",
                "--survey",
                str(survey),
                "--spec",
                str(spec),
                "--targets",
                str(targets),
                "--out",
                str(d),
                "--quiet",
                *extra,
            ]
        )
        assert r.returncode == 2 and "contains the input" in r.stderr, r.stderr
        assert (spec.read_bytes(), targets.read_bytes()) == before
    assert sorted(p.name for p in d.iterdir()) == ["myspec.toml", "run.toml", "targets.json"]


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


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


def test_replicates_seed_drawn_recorded_and_repeatable(tmp_path, run_cli):
    """--replicates without --seed: a seed is drawn, used, printed and recorded; --seed repeats the run."""
    out = tmp_path / "rep"
    r = run_cli(["run", "--example", "--out", str(out), "--replicates", "20", "--lang", "en"])
    assert r.returncode == 0, r.stderr
    # stderr is not a terminal here: no progress bar, no carriage returns
    assert "6/6" not in r.stderr and "\r" not in r.stderr
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    seed = res["provenance"]["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**32 and res["provenance"]["replicates"] == 20
    assert f"seed {seed} drawn" in r.stdout and f"--seed {seed} repeats this run" in r.stdout
    assert math.isfinite(res["index"]["se"]) and res["index"]["se"] > 0
    again = tmp_path / "again"
    r = run_cli(["run", "--example", "--out", str(again), "--replicates", "20", "--seed", str(seed), "--quiet"])
    assert r.returncode == 0 and "được chọn cho" not in r.stdout and "hạt giống" not in r.stdout
    res2 = json.loads((again / "results.json").read_text(encoding="utf-8"))
    assert numbers(res2) == numbers(res) and res2["provenance"]["seed"] == seed


def test_previous_results_json(tmp_path, gss_run):
    """Last year's results.json can stand in for last year's microdata."""
    base = ["--survey", str(GSS), "--spec", "gss_happiness", "--lang", "en", "--quiet"]
    assert main(["run", *base, "--year", "2004", "--out", str(tmp_path / "y2004")]) == 0
    assert (
        main(
            [
                "run",
                *base,
                "--year",
                "2006",
                "--previous",
                str(tmp_path / "y2004" / "results.json"),
                "--out",
                str(tmp_path / "y2006"),
            ]
        )
        == 0
    )
    a = json.loads((tmp_path / "y2006" / "results.json").read_text(encoding="utf-8"))
    assert a["previous_year"] == 2004
    b = json.loads((gss_run[1] / "results.json").read_text(encoding="utf-8"))  # --previous-year 2004
    assert a["change"]["change_pp"] == pytest.approx(b["change"]["change_pp"], rel=1e-12)
    assert a["change"]["se"] == pytest.approx(b["change"]["se"], rel=1e-12)


def test_warnings_are_one_clean_line(tmp_path, run_cli):
    # breakit #22: a commune whose index is undefined (ENV share 0) gives a warning printed as
    # one "happiness-index: warning: ..." line, without the source file, line number or code
    d = hi.load_city_survey(2024)
    c0 = sorted(d["commune"].unique())[0]
    for c in ["env_nature", "env_security", "env_services"]:
        d.loc[d["commune"] == c0, c] = 1
    p = tmp_path / "s.csv"
    d.to_csv(p, index=False)
    r = run_cli(
        ["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(tmp_path / "o"), "--quiet", "--lang", "en"]
    )
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    warn = [ln for ln in lines if "undefined in 1 domain" in ln]
    assert len(warn) == 1 and warn[0].startswith("happiness-index: warning: "), r.stderr
    assert f"{c0}: component(s) ['env'] equal 0" in warn[0]
    assert ".py" not in r.stderr and "warnings.warn" not in r.stderr and "HappinessIndexWarning" not in r.stderr


# ------------------------------------------------------------------ messages (breakit #28)
def test_header_only_survey_says_so(tmp_path, run_cli):
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


def test_unwritable_report_names_the_directory_not_a_temp_path(tmp_path, run_cli):
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


def test_lonely_psu_option(tmp_path, run_cli):
    d, c0, p = _lonely_survey(tmp_path)
    r = run_cli(["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(tmp_path / "o"), "--quiet"])
    assert r.returncode == 1 and "lonely PSU" in r.stderr and c0 in r.stderr
    assert "add --lonely-psu remove, certainty, adjust or average" in r.stderr
    assert not (tmp_path / "o").exists()
    spec = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))
    for rule in ("adjust",):  # the rules themselves are tested in the design tests
        out = tmp_path / rule
        r = run_cli(
            ["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(out), "--quiet", "--lonely-psu", rule]
        )
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
    r = run_cli(
        ["run", "--survey", str(p), "--spec", "yen_bai_nef", "--out", str(tmp_path / "x"), "--lonely-psu", "drop"]
    )
    assert r.returncode == 2 and "invalid choice" in r.stderr


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
def test_report_under_proc_names_the_directory(tmp_path, run_cli):
    # /proc refuses new directories even for root: the message names --out, not the temp dir
    survey = tmp_path / "s.csv"
    hi.load_city_survey(2024).to_csv(survey, index=False)
    r = run_cli(["run", "--survey", str(survey), "--spec", "yen_bai_nef", "--out", "/proc/hi_report_xx", "--quiet"])
    assert r.returncode == 2, r.stderr
    assert "cannot write the report to /proc/hi_report_xx" in r.stderr
    assert ".tmp-" not in r.stderr and "Traceback" not in r.stderr


def test_run_directories_are_not_missing_files(tmp_path, run_cli):
    d = tmp_path / "dir.json"
    d.mkdir()
    for opt, role in [
        ("--survey", "survey"),
        ("--margins", "margins"),
        ("--previous", "previous"),
        ("--frame", "frame"),
    ]:
        args = {"--survey": str(GSS), "--spec": "gss_happiness", "--out": str(tmp_path / "o")}
        args[opt] = str(d)
        r = run_cli(["run", *[x for kv in args.items() for x in kv], "--year", "2006", "--quiet"])
        assert r.returncode == 2, (opt, r.stderr)
        assert f"{role} {d} is a directory, not a file" in r.stderr and "not found" not in r.stderr


def test_broken_pipe_is_quiet(tmp_path):
    """`happiness-index ... | head`: the reader goes away; exit 141, no 'error: [Errno 32]' (new-user #12)."""
    # (a true subprocess of the console command; `validate` prints as `run` does, through main, and is quick)
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "happiness_index.report.cli",
            "validate",
            str(ROOT / "tests" / "data" / "bad" / "out_of_range_code.csv"),
            "--spec",
            str(ROOT / "tests" / "data" / "bad" / "spec.toml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    p.stdout.close()  # nobody reads stdout
    err = p.stderr.read().decode("utf-8")
    p.stderr.close()
    assert p.wait() == 141
    assert "Errno 32" not in err and "Broken pipe" not in err and "Traceback" not in err and "error" not in err


def test_gss_run_labels_regions_not_communes(gss_run):
    _, out, printed = gss_run
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| Vùng |" in md and "so với toàn bộ" in md and "Xã / phường" not in md
    assert "Vùng: " in printed and "Xã" not in printed


# ------------------------------------------------------------------ the run file and reader options
def _vi_locale_csv(data: pd.DataFrame, path: Path) -> Path:
    """``data`` as Excel saves it in the Vietnamese locale: ';' fields, ',' decimals, '.' thousands
    (the weights are multiplied by 100 so that they need a thousands separator: 19.25 -> 1.925,00)."""
    d = data.copy()
    d["weight"] = [f"{100 * w:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") for w in d["weight"]]
    d.to_csv(path, sep=";", index=False)
    return path


def test_run_file_with_reader_options_gives_the_example_numbers(example_run, tmp_path, run_cli):
    from happiness_index.reading.datasets import data_path

    data = tmp_path / "office" / "data"
    data.mkdir(parents=True)
    _vi_locale_csv(hi.load_city_survey(2024), data / "survey_2024.csv")
    _vi_locale_csv(hi.load_city_survey(2023), data / "survey_2023.csv")
    assert "1.925,00" in (data / "survey_2024.csv").read_text(encoding="utf-8")
    (data / "frame.csv").write_bytes(data_path("yen_bai_city_frame.csv").read_bytes())
    (data / "margins.json").write_bytes(data_path("yen_bai_city_margins.json").read_bytes())
    (data / "covariates.csv").write_bytes(data_path("yen_bai_city_commune_covariates.csv").read_bytes())
    run_file = _write(
        tmp_path / "office" / "run.toml",
        """
survey = "data/survey_2024.csv"
previous = "data/survey_2023.csv"
spec = "yen_bai_nef"
frame = "data/frame.csv"
margins = "data/margins.json"
area_covariates = "data/covariates.csv"   # run --example uses the bundled synthetic ones
targets = "yen_bai_city_plan"
language = "en"
out = "report"
synthetic = true

[read]
sep = ";"
decimal = ","
thousands = "."

[read.frame]
sep = ","
""",
    )
    r = run_cli(["run", "--config", str(run_file), "--quiet"])
    assert r.returncode == 0, r.stderr
    out = tmp_path / "office" / "report"  # relative to the run file, not to the working directory
    assert "report written to" in r.stdout  # language = "en" from the run file
    a = json.loads((out / "results.json").read_text(encoding="utf-8"))
    b = json.loads((example_run[1] / "results.json").read_text(encoding="utf-8"))
    na, nb = numbers(a), numbers(b)
    assert na.keys() == nb.keys()
    for k in na:  # the same survey: weights 100 times larger change no estimate after calibration
        if k[0] == "weighting":  # (only the work of the raking: iterations, weight ratios)
            continue
        assert na[k] == pytest.approx(nb[k], rel=1e-6, abs=1e-8), k  # (raking converges to 1e-10)
    assert a["provenance"]["inputs"].keys() == {"survey", "previous", "frame", "margins", "area_covariates"}
    # the command line overrides the run file; the run file and the inputs are protected
    r = run_cli(["run", "--config", str(run_file), "--quiet", "--out", str(tmp_path / "office")])
    assert r.returncode == 2 and "contains the input" in r.stderr


def test_example_run_file_is_valid_and_complete():
    """examples/run.toml: every key known, every path present, the [report] table passed on."""
    from happiness_index.report.cli import build_parser, load_run_file, run_settings

    cfg = load_run_file(ROOT / "examples" / "run.toml")
    for key in ("survey", "previous", "frame", "margins"):
        assert cfg[key].is_file(), key
    args = build_parser().parse_args(
        [
            "run",
            "--config",
            str(ROOT / "examples" / "run.toml"),
            "--lang",
            "en",
            "--seed",
            "5",
            "--sep",
            ";",
            "--previous-sheet",
            "2023",
        ]
    )
    s = run_settings(args)
    assert s["lang"] == "en" and s["seed"] == 5 and s["synthetic"] is True  # flags override the file
    assert s["out"] == (ROOT / "examples" / ".." / "hi_report")
    assert s["read_survey"] == {"sep": ";"} and s["read_previous"] == {"sep": ";", "sheet": "2023"}
    assert s["read_frame"] == {}
    assert s["report_config"]["place"] == "Yên Bái" and set(s["report_config"]) == {
        "parent_body",
        "issuing_body",
        "document_number",
        "place",
        "signer_title",
    }


@pytest.mark.parametrize(
    "text,needle",
    [
        ('survey = "s.csv"\nsurvy = "t.csv"\n', "unknown key 'survy' (line 2)"),
        ('survey = "s.csv"\n\n[read]\nseparator = ";"\n', "unknown key 'separator' in [read] (line 4)"),
        ("[read.frame]\nsheets = 1\n", "unknown key 'sheets' in [read.frame] (line 2)"),
        ('[report]\nsigner = "x"\n', "unknown key 'signer' in [report] (line 2)"),
        ('replicates = "many"\n', "key 'replicates' (line 1) must be int"),
        ("survey = \n", "cannot read run file"),
    ],
)
def test_run_file_errors_name_the_key_and_line(tmp_path, run_cli, text, needle):
    r = run_cli(["run", "--config", str(_write(tmp_path / "run.toml", text)), "--quiet"])
    assert r.returncode == 2 and needle in r.stderr, r.stderr


def test_run_file_keywords_reach_run_annual(tmp_path, run_cli, monkeypatch):
    """area_covariates, crosswalk, robustness_draws, drivers and [report] are passed to run_annual."""
    from happiness_index.report import annual

    seen = {}

    class Stop(Exception):
        pass

    def fake(
        survey,
        spec,
        *,
        frame=None,
        margins=None,
        previous=None,
        targets=None,
        year=None,
        previous_year=None,
        replicates=None,
        seed=None,
        level=0.95,
        calibration_method="raking",
        progress=None,
        inputs=None,
        synthetic=False,
        lonely_psu="fail",
        area_covariates=None,
        crosswalk=None,
        robustness_draws=0,
        drivers=True,
        report_config=None,
    ):
        seen.update(
            area_covariates=area_covariates,
            crosswalk=crosswalk,
            robustness_draws=robustness_draws,
            drivers=drivers,
            report_config=report_config,
            inputs=inputs,
        )
        raise Stop

    monkeypatch.setattr(annual, "run_annual", fake)
    survey = tmp_path / "s.csv"
    hi.load_city_survey(2024).to_csv(survey, index=False)
    _write(tmp_path / "cov.csv", "commune,poverty\nĐồng Tâm,0.1\n")
    _write(tmp_path / "cw.csv", "old,new\nA,B\n")
    run_file = _write(
        tmp_path / "run.toml",
        """survey = "s.csv"\nspec = "yen_bai_nef"\nout = "rep"
area_covariates = "cov.csv"\ncrosswalk = "cw.csv"\nrobustness_draws = 50\ndrivers = true
[report]\nplace = "Yên Bái"\n""",
    )
    with pytest.raises(Stop):
        main(["run", "--config", str(run_file), "--no-drivers", "--quiet"])
    assert seen["area_covariates"]["poverty"].tolist() == [0.1] and list(seen["crosswalk"].columns) == ["old", "new"]
    assert seen["robustness_draws"] == 50 and seen["drivers"] is False and seen["report_config"] == {"place": "Yên Bái"}
    assert set(seen["inputs"]) == {"survey", "area_covariates", "crosswalk"}


def test_progress_messages_follow_the_language():
    import io

    from happiness_index.report.cli import _progress

    for lang, want in (
        ("vi", "đã tính trọng số (20 bộ trọng số lặp bootstrap)"),
        ("en", "weighted (20 bootstrap replicates)"),
    ):
        p = _progress(lang, quiet=False)
        p.stream, p.enabled = io.StringIO(), True
        p.step("weighted (20 bootstrap replicates)")
        assert want in p.stream.getvalue()


def test_reader_options_on_the_command_line(tmp_path, run_cli, monkeypatch):
    from happiness_index.report import annual

    survey = _vi_locale_csv(hi.load_city_survey(2024), tmp_path / "s.csv")
    monkeypatch.setattr(annual, "run_annual", None)  # only reading is tested here
    r = run_cli(
        [
            "run",
            "--survey",
            str(survey),
            "--spec",
            "yen_bai_nef",
            "--out",
            str(tmp_path / "o"),
            "--sep",
            ";;",
            "--quiet",
        ]
    )
    assert r.returncode == 2 and "--sep for the survey must be a single character" in r.stderr
    r = run_cli(
        [
            "run",
            "--survey",
            str(survey),
            "--spec",
            "yen_bai_nef",
            "--out",
            str(tmp_path / "o"),
            "--decimal",
            ",",
            "--thousands",
            ",",
            "--quiet",
        ]
    )
    assert r.returncode == 2 and "both ','" in r.stderr
    from happiness_index.report.cli import read_input

    d = read_input(survey, "survey", {"sep": ";", "decimal": ",", "thousands": "."})
    assert d["weight"].tolist() == pytest.approx((100 * hi.load_city_survey(2024)["weight"]).tolist())


def test_reader_options_that_do_not_apply_are_named_and_ignored(tmp_path, capsys):
    """One set of options for this year's CSV and last year's workbook: --sep is not passed to Excel."""
    from happiness_index.report.cli import read_input

    d = hi.load_city_survey(2023).head(20)
    x = tmp_path / "last.xlsx"
    d.to_excel(x, index=False)
    with pytest.warns(UserWarning, match=r"--sep does not apply to the previous file last.xlsx \(an Excel"):
        got = read_input(x, "previous", {"sep": ";", "decimal": ",", "sheet": None})
    assert got["weight"].tolist() == pytest.approx(d["weight"].tolist())  # number cells stay numbers
    assert got.attrs["decimal"] == ","  # the declared format reads text cells of the workbook


@pytest.mark.parametrize("sig", ["SIGTERM"])  # SIGINT: tests/test_outputs.py and the test below
def test_signal_during_the_report_write_keeps_the_old_report(example_run, tmp_path, sig):
    """A real signal to `happiness-index run` while it writes the report: the old report stays, nothing stray."""
    import shutil
    import signal
    import time

    rep = tmp_path / "rep"
    shutil.copytree(example_run[1], rep)  # an earlier report of this program (with its manifest)
    before = {p.name: p.read_bytes() for p in rep.iterdir()}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "happiness_index.report.cli",
            "run",
            "--example",
            "--quiet",
            "--lang",
            "en",
            "--out",
            str(rep),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".rep.tmp-*")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(getattr(signal, sig))
    _, err = child.communicate(timeout=60)
    assert "Traceback" not in err
    after = {p.name: p.read_bytes() for p in rep.iterdir()}
    if child.returncode == 0:  # the run had already swapped the report in: the new one, complete
        assert set(after) == set(before)
    else:
        assert child.returncode == (130 if sig == "SIGINT" else -signal.SIGTERM), err
        assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_fault_injection_through_the_real_report_writer(example_run, tmp_path, monkeypatch):
    """write_report (all report files, charts stubbed for speed) with a failure before its k-th file
    operation, for every k: afterwards exactly the old report or exactly the new one, nothing stray,
    the input untouched."""
    import base64
    import builtins

    from happiness_index.report import annual, outputs

    tiny_png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYGD4DwABBAEAX+XDSwAAAABJRU5ErkJggg=="
    )

    def stub_chart(results, path, lang="vi"):
        Path(path).write_bytes(tiny_png + lang.encode())  # a valid 1x1 PNG (the Word report embeds it)

    for name in ("plot_trajectory", "plot_communes", "plot_components"):
        monkeypatch.setattr(annual, name, stub_chart)
    # the Word and Excel writers are tested elsewhere; here each is one file operation (fast)
    from happiness_index.report import excel, word

    monkeypatch.setattr(
        word, "write_docx", lambda doc, path, pictures: Path(path).write_bytes(b"docx " + doc.lang.encode())
    )
    monkeypatch.setattr(
        excel, "write_tables_xlsx", lambda results, path, lang: Path(path).write_bytes(b"xlsx " + lang.encode())
    )
    results = json.loads((example_run[1] / "results.json").read_text(encoding="utf-8"))
    survey = tmp_path / "survey.csv"
    survey.write_text("id\n1\n")
    rep = tmp_path / "rep"
    annual.write_report(results, rep, "vi", protect=[survey])

    def contents(folder):  # (tables.xlsx and the manifest carry write times: compared by name only)
        return {
            p.name: (p.read_bytes() if p.suffix not in (".xlsx", ".json") or p.name == "results.json" else None)
            for p in folder.iterdir()
        }

    old = contents(rep)
    annual.write_report(results, tmp_path / "probe", "en")
    new = contents(tmp_path / "probe")
    assert old.keys() == new.keys() and old != new
    ops = ("rename", "replace", "unlink", "rmdir", "mkdir")

    class Fault(Exception):
        pass

    k, fired, seen = 0, True, set()
    while fired:
        k += 1
        calls = []

        def wrap(name, fn):
            def inner(*a, **kw):
                mode = str(a[1] if len(a) > 1 else kw.get("mode", "r")) if name == "open" else "w"
                if any(m in mode for m in "wax+"):
                    calls.append(name)
                    if len(calls) == k:
                        raise Fault(f"{name} #{k}")
                return fn(*a, **kw)

            return inner

        with monkeypatch.context() as m:
            for name in ops:
                m.setattr(os, name, wrap(name, getattr(os, name)))
            m.setattr(builtins, "open", wrap("open", builtins.open))
            m.setattr(outputs, "exchange_dirs", wrap("exchange", outputs.exchange_dirs))
            try:
                annual.write_report(results, rep, "en", protect=[survey])
            except Fault:
                pass
        fired = len(calls) >= k
        state = contents(rep)
        assert state in (old, new), k
        seen.add("new" if state == new else "old")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["probe", "rep", "survey.csv"], k
        assert survey.read_text() == "id\n1\n"
        if state == new:
            annual.write_report(results, rep, "vi", protect=[survey])
    assert seen == {"old", "new"} and k > 10


def test_ctrl_c_during_the_report_write_exits_130_and_keeps_the_old_report(example_run, tmp_path, monkeypatch, run_cli):
    import shutil

    from happiness_index.report import annual

    rep = tmp_path / "rep"
    shutil.copytree(example_run[1], rep)
    before = {p.name: p.read_bytes() for p in rep.iterdir()}

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(annual, "plot_communes", ctrl_c)
    r = run_cli(["run", "--example", "--quiet", "--out", str(rep)])
    assert r.returncode == 130 and "interrupted" in r.stderr
    assert {p.name: p.read_bytes() for p in rep.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_run_file_report_table_takes_the_parent_body_and_signer_name(tmp_path):
    """An office that issues the report itself (a Cục) names the body above it; without
    parent_body its own name appeared under the default parent 'Cục Thống kê tỉnh Yên Bái'."""
    from happiness_index.report.cli import load_run_file

    p = tmp_path / "run.toml"
    p.write_text(
        '[report]\nparent_body = "Tổng cục Thống kê"\nissuing_body = "Cục Thống kê tỉnh Yên Bái"\n'
        'signer_name = "Nguyễn Văn A"\n',
        encoding="utf-8",
    )
    assert load_run_file(p)["report"] == {
        "parent_body": "Tổng cục Thống kê",
        "issuing_body": "Cục Thống kê tỉnh Yên Bái",
        "signer_name": "Nguyễn Văn A",
    }
