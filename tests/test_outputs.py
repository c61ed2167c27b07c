"""The report folder (report/outputs.py): never a lost file, never a half report, no leftovers.

Fault injection: a failure is patched in before the k-th file operation for every k, and real
signals are sent to a child process at chosen points; afterwards the folder holds exactly the old
report or exactly the new one, no temporary folder remains and no input changed.
"""

from __future__ import annotations

import builtins
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from happiness_index.report import outputs
from happiness_index.report.outputs import (
    MANIFEST_NAME,
    ReportFolderError,
    publish_report,
    recover_leftovers,
)

ROOT = Path(__file__).resolve().parents[1]


def writer(tag: str, names=("results.json", "report.md", "sub/chart.png")):
    """A write_files callback writing a small report whose every file carries ``tag``."""

    def write(tmp: Path) -> None:
        for n in names:
            (tmp / n).parent.mkdir(parents=True, exist_ok=True)
            (tmp / n).write_text(f"{tag}:{n}\n", encoding="utf-8")

    return write


def snapshot(folder: Path) -> dict:
    """{relative path: bytes} of every file below ``folder`` (the manifest excluded)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }


def report_of(tag: str) -> dict:
    return {n: f"{tag}:{n}\n".encode() for n in ("results.json", "report.md", "sub/chart.png")}


def hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# ------------------------------------------------------------------ the scenarios
def test_project_folder_with_results_json_is_refused(tmp_path):
    proj = tmp_path / "project"
    (proj / "data").mkdir(parents=True)
    (proj / "results.json").write_text("{}")
    (proj / "thesis.docx").write_bytes(b"my thesis")
    (proj / "data" / "raw.csv").write_text("id\n1\n")
    before = snapshot(proj)
    with pytest.raises(ReportFolderError) as ei:
        publish_report(proj, writer("new"))
    msg = str(ei.value)
    assert "thesis.docx" in msg and "data/raw.csv" in msg and "another --out" in msg
    assert snapshot(proj) == before and hidden(tmp_path) == []


def test_inputs_inside_out_are_protected(tmp_path):
    out = tmp_path / "DIR"
    out.mkdir()
    spec, targets = out / "myspec.toml", out / "targets.json"
    spec.write_text("x")
    targets.write_text("{}")
    with pytest.raises(ReportFolderError) as ei:
        publish_report(out, writer("new"), protected=[spec, targets])
    assert "contains the input" in str(ei.value) and "myspec.toml" in str(ei.value)
    assert spec.read_text() == "x" and targets.read_text() == "{}"
    # even when the folder is an earlier report of ours, an input inside it is never replaced
    rep = tmp_path / "rep"
    publish_report(rep, writer("old"))
    with pytest.raises(ReportFolderError, match="contains the input"):
        publish_report(rep, writer("new"), protected=[rep / "results.json"])
    assert snapshot(rep) == report_of("old")
    with pytest.raises(ReportFolderError, match="is the input"):
        publish_report(rep, writer("new"), protected=[rep])


def test_input_linked_into_out_is_protected(tmp_path):
    rep = tmp_path / "rep"
    publish_report(rep, writer("old"))
    data = tmp_path / "survey.csv"
    data.write_text("id\n1\n")
    link = tmp_path / "link.csv"
    link.symlink_to(rep / "report.md")
    with pytest.raises(ReportFolderError, match="contains the input"):
        publish_report(rep, writer("new"), protected=[link])  # a symbolic link into the report
    os.link(data, rep / "copy.csv")  # a hard link: foreign to the manifest and the same file as an input
    with pytest.raises(ReportFolderError):
        publish_report(rep, writer("new"), protected=[data])
    assert data.read_text() == "id\n1\n"


def test_own_report_is_replaced_foreign_or_changed_files_refused(tmp_path):
    rep = tmp_path / "rep"
    written = publish_report(rep, writer("old"))
    assert [p.relative_to(rep).as_posix() for p in written] == ["report.md", "results.json", "sub/chart.png"]
    m = json.loads((rep / MANIFEST_NAME).read_text())
    assert m["complete"] and set(m["files"]) == {"report.md", "results.json", "sub/chart.png"}
    publish_report(rep, writer("new"))
    assert snapshot(rep) == report_of("new") and hidden(tmp_path) == []
    (rep / "notes.txt").write_text("mine")
    with pytest.raises(ReportFolderError, match="notes.txt"):
        publish_report(rep, writer("newer"))
    (rep / "notes.txt").unlink()
    (rep / "report.md").write_text("edited by hand")
    with pytest.raises(ReportFolderError, match="report.md .changed since"):
        publish_report(rep, writer("newer"))
    assert (rep / "report.md").read_text() == "edited by hand"


def test_empty_missing_file_and_legacy_folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    publish_report(empty, writer("new"))
    assert snapshot(empty) == report_of("new")
    publish_report(tmp_path / "a" / "b" / "c", writer("new"))  # parents are created
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ReportFolderError, match="is a file"):
        publish_report(f, writer("new"))
    legacy = tmp_path / "legacy"  # a report of an older version: no manifest -> not touched
    legacy.mkdir()
    (legacy / "results.json").write_text("{}")
    with pytest.raises(ReportFolderError, match="no manifest"):
        publish_report(legacy, writer("new"))
    assert (legacy / "results.json").read_text() == "{}"


def test_oserror_names_the_folder_not_the_temporary_one(tmp_path):
    def full(tmp):
        raise OSError(28, "No space left on device", str(tmp / "chart.png"))

    with pytest.raises(OSError) as ei:
        publish_report(tmp_path / "rep", full)
    assert ei.value.filename == str((tmp_path / "rep").resolve())
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ leftovers of killed runs
@pytest.mark.filterwarnings("ignore:removed .rep")
def test_leftovers_are_recovered_or_reported(tmp_path):
    rep = tmp_path / "rep"
    publish_report(rep, writer("old"))
    # killed between the two renames: no folder, the old report aside, a complete new one in tmp
    os.rename(rep, tmp_path / ".rep.old-999999999-ab")
    (tmp_path / ".rep.tmp-999999999-ab").mkdir()
    writer("new")(tmp_path / ".rep.tmp-999999999-ab")
    (tmp_path / ".rep.tmp-999999999-ab" / MANIFEST_NAME).write_text(
        json.dumps({"tool": "happiness-index report", "format": 1, "complete": False, "files": {}, "dirs": []})
    )
    with pytest.warns(UserWarning, match="restored .*rep from .rep.old-999999999-ab"):
        publish_report(rep, writer("newer"))
    assert snapshot(rep) == report_of("newer") and hidden(tmp_path) == []
    # a folder with the leftover pattern that is not ours is named and left alone
    stranger = tmp_path / ".rep.tmp-999999999-cd"
    stranger.mkdir()
    (stranger / "keep.txt").write_text("keep")
    with pytest.warns(UserWarning, match="left .*rep.tmp-999999999-cd alone: it was not written by this version"):
        publish_report(rep, writer("x"))
    assert (stranger / "keep.txt").read_text() == "keep" and snapshot(rep) == report_of("x")
    stranger.joinpath("keep.txt").unlink()
    stranger.rmdir()
    # a leftover of a run that is still going (a live process started before it) stops the run
    live = tmp_path / f".rep.tmp-{os.getppid()}-ef"
    live.mkdir()
    for check in (lambda: publish_report(rep, writer("y")), lambda: outputs.check_report_folder(rep)):
        with pytest.raises(ReportFolderError, match=f"another run .process {os.getppid()}. is writing"):
            check()
    assert live.is_dir() and snapshot(rep) == report_of("x")
    # ... unless that process id now belongs to a process started after the leftover (id reused)
    os.utime(live, (1e9, 1e9))
    assert recover_leftovers(rep) == [f"removed {live.name}, left by an interrupted run"]


def test_leftovers_of_an_older_version_are_restored_or_named(tmp_path):
    """The old code renamed the whole --out folder (even a project folder) aside as .DIR.old-PID."""
    proj = tmp_path / "project"
    aside = tmp_path / ".project.old-999999998"
    aside.mkdir()
    (aside / "thesis.docx").write_bytes(b"thesis")
    with pytest.warns(UserWarning, match="restored .*project from .project.old-999999998"):
        with pytest.raises(ReportFolderError, match="thesis.docx"):  # restored, then refused as foreign
            publish_report(proj, writer("new"))
    assert (proj / "thesis.docx").read_bytes() == b"thesis" and hidden(tmp_path) == []


# ------------------------------------------------------------------ fault injection, in process
FILE_OPS = ("rename", "replace", "unlink", "rmdir", "mkdir")


class Fault(Exception):
    pass


def count_ops(monkeypatch, fail_at=None, exc=Fault):
    """Patch file operations (os.*, open for writing, the folder exchange) to count; raise at call ``fail_at``."""
    calls = []

    def wrap(name, fn):
        def inner(*a, **k):
            if name == "open" and not any(m in str(a[1] if len(a) > 1 else k.get("mode", "r")) for m in "wax+"):
                return fn(*a, **k)
            calls.append(name)
            if fail_at is not None and len(calls) == fail_at:
                raise exc(f"injected failure at {name} #{fail_at}")
            return fn(*a, **k)

        return inner

    for name in FILE_OPS:
        monkeypatch.setattr(os, name, wrap(name, getattr(os, name)))
    monkeypatch.setattr(builtins, "open", wrap("open", builtins.open))
    monkeypatch.setattr(outputs, "exchange_dirs", wrap("exchange", outputs.exchange_dirs))
    return calls


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
@pytest.mark.parametrize("exc", [Fault, KeyboardInterrupt, OSError])
def test_failure_before_every_file_operation(tmp_path, monkeypatch, exchange, exc):
    inputs = tmp_path / "in"
    inputs.mkdir()
    spec = inputs / "spec.toml"
    spec.write_text("spec")
    rep = tmp_path / "rep"
    publish_report(rep, writer("old"), protected=[spec])
    if not exchange:
        monkeypatch.setattr(outputs, "exchange_dirs", lambda a, b: False)
    outcomes, k, fired = [], 0, True
    while fired:  # a failure before the 1st, 2nd, ... operation, until a run has no operation left to fail
        k += 1
        assert k < 200
        with monkeypatch.context() as m:
            calls = count_ops(m, fail_at=k, exc=exc)
            try:
                publish_report(rep, writer("new"), protected=[spec])
            except (Fault, KeyboardInterrupt, OSError):
                pass
        fired = len(calls) >= k
        state = snapshot(rep)
        assert state in (report_of("old"), report_of("new")), k
        outcomes.append("new" if state == report_of("new") else "old")
        assert hidden(tmp_path) == [], (k, hidden(tmp_path))
        assert spec.read_text() == "spec"
        if outcomes[-1] == "new":
            publish_report(rep, writer("old"), protected=[spec])
    assert k > 10 and outcomes[-1] == "new" and outcomes.count("old") >= 5
    if exc is not OSError:  # (an OSError may be absorbed, e.g. by mkdir(exist_ok=True))
        # the switch happens at one operation (the swap): before it the old report, from it on the new one
        first_new = outcomes.index("new")
        assert outcomes == ["old"] * first_new + ["new"] * (len(outcomes) - first_new)


# ------------------------------------------------------------------ real signals, in a child process
CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from happiness_index.report import outputs

    rep, sig, at, mode = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    if mode == "two-renames":
        outputs.exchange_dirs = lambda a, b: False
    calls = []
    for name in ("rename", "unlink", "rmdir", "mkdir", "replace"):
        def wrap(fn, name=name):
            def inner(*a, **k):
                calls.append(name)
                if len(calls) == at:
                    os.kill(os.getpid(), sig)
                return fn(*a, **k)
            return inner
        setattr(os, name, wrap(getattr(os, name)))

    def write(tmp):
        for n in ("results.json", "report.md", "sub/chart.png"):
            (tmp / n).parent.mkdir(parents=True, exist_ok=True)
            (tmp / n).write_text(f"new:{n}\\n", encoding="utf-8")

    outputs.publish_report(rep, write)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"])
@pytest.mark.parametrize("mode", ["exchange", "two-renames"])
def test_real_signals_at_chosen_points(tmp_path, sig, mode):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    points = [2, 5, 7, 8, 9, 11, 13]  # tmp made, writing, manifest, swap (two renames: 8, 9), tidy
    reps = [tmp_path / f"p{at}" / "rep" for at in points]
    for rep in reps:
        publish_report(rep, writer("old"))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(rep), str(int(sig)), str(at), mode],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rep, at in zip(reps, points)
    ]  # concurrently: the test stays fast
    for rep, at, child in zip(reps, points, children):
        _, err = child.communicate(timeout=60)
        assert child.returncode != 0, (at, err)  # the signal did stop the run
        assert "Traceback" not in err or sig == signal.SIGINT, err
        if sig == signal.SIGKILL:  # nothing can run: the next run recovers
            recover_leftovers(rep)
        state = snapshot(rep)
        assert state in (report_of("old"), report_of("new")), (at, child.returncode, err)
        assert hidden(rep.parent) == [], (at, hidden(rep.parent))


# ------------------------------------------------------------------ property: a foreign entry is never touched

_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\x00", exclude_categories=("Cs",)),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", ".."))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extra=st.lists(st.tuples(st.lists(_names, min_size=1, max_size=3), st.binary(max_size=64)), min_size=1, max_size=4),
    edit=st.booleans(),
)
def test_any_foreign_or_edited_entry_blocks_the_replacement(tmp_path_factory, extra, edit):
    rep = tmp_path_factory.mktemp("prop") / "rep"
    publish_report(rep, writer("old"))
    added = False
    for parts, data in extra:
        target = rep.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.name == MANIFEST_NAME:
                continue
            target.write_bytes(data)
            added = True
        except OSError:  # a name the file system refuses, or a path through a file
            continue
    if edit:
        (rep / "report.md").write_bytes(b"edited")
    before = {p: (p.read_bytes() if p.is_file() else None) for p in sorted(rep.rglob("*"))}
    if not (added or edit) and all(p.is_file() or p.name == "sub" for p in before):
        return  # nothing foreign was added (every name collided or was refused)
    with pytest.raises(ReportFolderError):
        publish_report(rep, writer("new"))
    assert {p: (p.read_bytes() if p.is_file() else None) for p in sorted(rep.rglob("*"))} == before
    assert hidden(rep.parent) == []
