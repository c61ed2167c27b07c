"""Every example runs, prints what a reviewer should see, and its numbers are right."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"  # copies of shared/reference (scripts/sync_reference.py)
EXAMPLES = ROOT / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_timed(fn, *a):
    """Run an example's ``main``; its speed is measured in benchmarks/, never asserted here."""
    return fn(*a)


def _run_captured(fn, *a):
    """``fn(*a)`` and what it printed (for module-scoped runs shared by several tests)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*a)
    return out, buf.getvalue()


@pytest.fixture(scope="module")
def gss_run():
    """The GSS example run once from the repository root: (its result, what it printed)."""
    with contextlib.chdir(ROOT):
        return _run_captured(load("gss_happiness_trend").main)


@pytest.fixture(scope="module")
def city_demo_run(tmp_path_factory):
    """The city demo run once with ``--out``: (its result, what it printed, the report folder)."""
    rep = tmp_path_factory.mktemp("city_demo") / "rep"
    out, text = _run_captured(load("yen_bai_city_demo").main, ["--out", str(rep)])
    return out, text, rep


def test_gss_happiness_trend_matches_r(gss_run):
    out, text = gss_run
    ref = json.loads((REFERENCE / "gss_happiness.json").read_text())
    cases = {c["id"]: c for c in ref["cases"]}
    for row in cases["gss_share_happy_by_year"]["expected"]["rows"]:
        e = out["by_year"][row["domain"]["year"]]
        assert e.estimate == pytest.approx(row["estimate"], rel=1e-9)
        assert e.se == pytest.approx(row["se"], rel=1e-7)
        lo, hi = e.confint(0.95, df=math.inf)
        assert lo == pytest.approx(row["ci_low"], rel=1e-7) and hi == pytest.approx(row["ci_high"], rel=1e-7)
    by_region = {str(k): e for e, k in zip(out["by_region"], out["by_region"].keys["region"])}
    for row in cases["gss_share_happy_by_region"]["expected"]["rows"]:
        e = by_region[row["domain"]["region"]]
        assert e.estimate == pytest.approx(row["estimate"], rel=1e-9)
        assert e.se == pytest.approx(row["se"], rel=1e-7)
    d = cases["gss_diff_2006_2004_independent"]["expected"]
    c = out["changes"][(2006, 2004)]
    assert c.change_pp == pytest.approx(100 * d["estimate"], rel=1e-9)
    assert c.se == pytest.approx(100 * d["se"], rel=1e-7)
    assert "largest difference from R survey 4.1.1" in text
    assert "percentage points" in text and "relative" in text
    assert out["command"] in text


def test_yen_bai_published(capsys):
    out = run_timed(load("yen_bai_published").main)
    text = capsys.readouterr().out
    assert set(out["reproduced"]) == {2020, 2021, 2022}
    assert all(ok for _, ok in out["reproduced"].values())
    assert out["reproduced"][2022][0] == pytest.approx(55.5 * 78.72 / 69.82)
    t = out["assessment"].table.set_index("year")
    assert t.loc[2022, "status"] == "reached" and t.loc[2023, "gap_pp"] == pytest.approx(2.32)
    c = out["changes"][(2023, 2022)]
    assert c.change_pp == pytest.approx(3.05) and math.isnan(c.se)
    assert "SE unknown" in text and "68.3" in text and "61.3" in text


def test_yen_bai_city_demo(city_demo_run):
    out, text, rep = city_demo_run
    assert "SYNTHETIC DATA" in text and "SỐ LIỆU MÔ PHỎNG" in text
    assert (rep / "report.html").is_file() and out["out"] == rep
    assert out["change"].samples == "independent" and len(out["change"].by_group) == 17
    r23, r24 = out["results"][2023], out["results"][2024]
    assert out["change"].change_pp == pytest.approx(r24.overall.estimate - r23.overall.estimate)
    assert out["assessment"].status(2023) in ("reached", "not reached", "not distinguishable")
    assert "needed:" in text and "projection" in text


def test_yen_bai_city_demo_prints_the_numbers_of_its_report(city_demo_run):
    """new-user #3: the demo printed 73.25 / +3.69 (design weights) and wrote a calibrated report
    with 73.23 / +3.70. Now the printed numbers are the report's (calibrated, as the CLI); the
    design-weight numbers are printed only on a line labelled as not in the report."""
    out, text, rep = city_demo_run
    saved = json.loads((rep / "results.json").read_text(encoding="utf-8"))
    new, old, ch = saved["index"]["estimate"], saved["previous"]["estimate"], saved["change"]["change_pp"]
    assert saved["weighting"]["method"].endswith("raking")  # the report is calibrated
    assert out["results"][2024].overall.estimate == pytest.approx(new, rel=1e-12)
    assert out["results"][2023].overall.estimate == pytest.approx(old, rel=1e-12)
    assert out["change"].change_pp == pytest.approx(ch, rel=1e-12)
    # the index lines and the change line show the report's values
    assert f"index {old:.2f}, 95% CI {saved['previous']['ci_low']:.2f} to {saved['previous']['ci_high']:.2f}" in text
    assert f"index {new:.2f}, 95% CI {saved['index']['ci_low']:.2f} to {saved['index']['ci_high']:.2f}" in text
    assert f"change {ch:+.2f} percentage points" in text
    assert f"results.json holds 2024 = {new:.2f}, 2023 = {old:.2f}, change {ch:+.2f} points" in text
    # the values the new user saw (synthetic data are fixed by the generator): 73.23 / 76.93 / +3.70
    assert f"{old:.2f}" == "73.23" and f"{ch:+.2f}" == "+3.70"
    # the uncalibrated numbers differ, and appear only on the labelled comparison line
    d23 = out["design_weight_results"][2023].overall.estimate
    d24 = out["design_weight_results"][2024].overall.estimate
    assert f"{d23:.2f}" == "73.25" and f"{d24 - d23:+.2f}" == "+3.69"
    labelled = [ln for ln in text.splitlines() if "73.25" in ln or "+3.69" in ln]
    assert len(labelled) == 1 and "before calibration" in labelled[0] and "not in the report" in labelled[0]
    assert "calibrated (raking)" in text


def test_yen_bai_city_demo_leaves_no_temporary_folder(tmp_path, monkeypatch, capsys):
    """Without --out the report goes to a temporary folder that is removed (new-user #3/#12)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = run_timed(load("yen_bai_city_demo").main, [])
    text = capsys.readouterr().out
    assert out["out"] is None and "report.html" in out["files"] and "results.json" in out["files"]
    assert f"written to {scratch}" in text and "now removed; pass --out DIR to keep the report" in text
    assert list(scratch.iterdir()) == []


def test_api_schools(capsys):
    out = run_timed(load("api_schools").main)
    text = capsys.readouterr().out
    ref = json.loads((REFERENCE / "means_totals.json").read_text())
    clus1 = next(c for c in ref["cases"] if c["id"] == "mean_api00_dclus1")["expected"]
    m = [v[0] for k, v in out["by_design"].items() if k.startswith("one-stage")][0]
    assert m.estimate == pytest.approx(clus1["estimate"], rel=1e-9)
    assert m.se == pytest.approx(clus1["se"], rel=1e-7)
    # paired years: the covariance makes the SE far smaller than the independent-samples one
    assert out["change"].samples == "joint" and out["change"].covariance > 0
    assert out["naive"].se > 5 * out["change"].se
    assert "units" in out["change"].unit
    assert "covers the population mean" in text


# gss_happiness_trend runs as a script in test_gss_printed_command_runs_from_another_directory
@pytest.mark.parametrize("name", ["yen_bai_published", "api_schools", "yen_bai_city_demo"])
def test_examples_run_as_scripts(name, tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # whatever an example writes to temp must be gone
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        timeout=60,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and len(r.stdout.splitlines()) > 8
    assert list(tmp_path.iterdir()) == []


def test_synthetic_city_data_are_reproducible_and_as_documented():
    spec = importlib.util.spec_from_file_location("make_city_data", ROOT / "scripts" / "make_city_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    files = mod.generate()
    data_dir = ROOT / "happiness_index" / "data"
    for name, text in files.items():
        assert (data_dir / name).read_text(encoding="utf-8") == text, f"{name} differs from its generator"
    assert sum(len(t.encode()) for t in files.values()) < 2_000_000
    import happiness_index as hi

    frame = hi.load_city_frame()
    wards = [
        "Đồng Tâm",
        "Hồng Hà",
        "Minh Tân",
        "Nam Cường",
        "Nguyễn Phúc",
        "Nguyễn Thái Học",
        "Yên Ninh",
        "Yên Thịnh",
        "Hợp Minh",
    ]
    communes = ["Âu Lâu", "Giới Phiên", "Minh Bảo", "Phúc Lộc", "Tân Thịnh", "Tuy Lộc", "Văn Phú", "Văn Tiến"]
    kinds = frame.drop_duplicates("commune").set_index("commune")["commune_type"]
    assert sorted(kinds[kinds == "phường"].index) == sorted(wards)
    assert sorted(kinds[kinds == "xã"].index) == sorted(communes)
    hh = frame.groupby("commune")["households"].sum()
    for year in (2023, 2024):
        s = hi.load_city_survey(year)
        g = s.groupby("commune")
        assert (g["village"].nunique() == 5).all() and (s.groupby("village").size() == 40).all()
        # self-weighting within commune: design weights add up to the listed households
        assert g["weight"].sum().reindex(hh.index).to_numpy() == pytest.approx(hh.to_numpy(), rel=1e-6)
        assert set(s["village"]) <= set(frame["village"])


def _cli(argv0: str) -> list:
    """How to start the printed ``happiness-index`` command in this environment."""
    assert argv0 == "happiness-index"
    exe = shutil.which("happiness-index") or shutil.which("happiness-index", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "happiness_index.report.cli"]


def _run_printed(command: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        _cli(argv[0]) + argv[1:], capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=120, env=env
    )


def _printed_command(stdout: str) -> str:
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip().startswith("happiness-index run")]
    assert len(lines) == 1, stdout
    return lines[0]


def test_gss_printed_command_runs_from_the_repository_root(tmp_path, gss_run):
    """new-user #6: the command printed by the example runs as printed (the bundled file is
    .csv.gz). Run from the repository root it names happiness_index/data/...; it is then run,
    verbatim, in a scratch directory laid out like the root (so gss_report/ lands there)."""
    out, text = gss_run
    command = _printed_command(text)
    assert command == out["command"]
    assert command == (
        "happiness-index run --survey happiness_index/data/gss_happiness.csv.gz --spec "
        "gss_happiness --year 2006 --previous-year 2004 --out gss_report"
    )
    (tmp_path / "happiness_index").symlink_to(ROOT / "happiness_index", target_is_directory=True)
    r = _run_printed(command, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "86,94" in r.stdout  # the terminal summary (its wording follows --lang)
    assert (tmp_path / "gss_report" / "report.html").is_file()
    res = json.loads((tmp_path / "gss_report" / "results.json").read_text(encoding="utf-8"))
    ref = {c["id"]: c for c in json.loads((REFERENCE / "gss_happiness.json").read_text())["cases"]}
    row = next(r for r in ref["gss_share_happy_by_year"]["expected"]["rows"] if r["domain"]["year"] == 2006)
    assert res["index"]["estimate"] == pytest.approx(100 * row["estimate"], rel=1e-9)
    d = ref["gss_diff_2006_2004_independent"]["expected"]
    assert res["change"]["change_pp"] == pytest.approx(100 * d["estimate"], rel=1e-9)
    assert res["change"]["se"] == pytest.approx(100 * d["se"], rel=1e-7)


def test_gss_printed_command_runs_from_another_directory(tmp_path):
    """Run as a script from elsewhere, the example prints a command valid there (absolute path);
    as every example run as a script: no traceback, its output, nothing left in temp."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / "gss_happiness_trend.py")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and len(r.stdout.splitlines()) > 8
    assert list(scratch.iterdir()) == []
    command = _printed_command(r.stdout)
    assert str(ROOT / "happiness_index" / "data" / "gss_happiness.csv.gz") in command
    r = _run_printed(command, tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "gss_report" / "results.json").is_file()
