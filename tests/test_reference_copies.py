"""The repository's copies of the shared oracles: complete, unchanged from their source.

The tests read ``tests/reference``, ``tests/cases`` and ``tests/data`` (or the package's
bundled data), never ``../shared``. When the shared folder is present (``../shared`` beside
the repository root, or ``$HAPPINESS_INDEX_SHARED``) every copy must equal its source byte
for byte (``python scripts/sync_reference.py`` refreshes them); elsewhere that comparison is
skipped and the in-repository checks below still run.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from reference_helpers import CASES, REFERENCE, data_file, load_family

ROOT = Path(__file__).resolve().parents[1]


def _load_sync():
    spec = importlib.util.spec_from_file_location("sync_reference", ROOT / "scripts" / "sync_reference.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


sync = _load_sync()
SHARED = sync.default_shared()
needs_shared = pytest.mark.skipif(
    not (SHARED / "reference").is_dir(), reason=f"no shared folder at {SHARED} (set ${sync.SHARED_ENV})"
)


@needs_shared
def test_every_shared_oracle_has_an_identical_copy_in_the_repository():
    pairs = sync.pairs(SHARED)
    assert len(pairs) >= 50
    stale = [str(p.source.relative_to(SHARED)) for p in pairs if not p.is_current()]
    assert stale == [], f"copies differ from ../shared: {stale}; run python scripts/sync_reference.py"


@needs_shared
def test_no_copy_is_left_over_from_a_file_removed_from_the_source():
    kept = {p.copy.resolve() for p in sync.pairs(SHARED)}
    for folder in sync.WHOLE_FOLDERS.values():
        extra = sorted(str(p.relative_to(ROOT)) for p in folder.rglob("*") if p.is_file() and p.resolve() not in kept)
        assert extra == [], f"{extra} are not in the shared folder any more"


def test_sync_check_reports_a_changed_copy(tmp_path, monkeypatch):
    """The comparison is real: a one-byte change in the source is reported, then repaired."""
    shared = tmp_path / "shared"
    for sub in ("reference", "cases", "data"):
        (shared / sub).mkdir(parents=True)
    (shared / "reference" / "x.json").write_text('{"cases": []}\n', encoding="utf-8")
    monkeypatch.setitem(sync.WHOLE_FOLDERS, "reference", tmp_path / "copy_reference")
    monkeypatch.setitem(sync.WHOLE_FOLDERS, "cases", tmp_path / "copy_cases")
    assert sync.main(["--shared", str(shared), "--check"]) == 1
    assert sync.main(["--shared", str(shared)]) == 0
    assert (tmp_path / "copy_reference" / "x.json").read_bytes() == b'{"cases": []}\n'
    assert sync.main(["--shared", str(shared), "--check"]) == 0
    (shared / "reference" / "x.json").write_text('{"cases": [1]}\n', encoding="utf-8")
    assert sync.main(["--shared", str(shared), "--check"]) == 1
    assert sync.main(["--shared", str(tmp_path / "nowhere"), "--check"]) == 2  # a clear message, no traceback


def test_every_reference_family_reads_and_names_files_the_repository_holds():
    families = sorted(p.stem for p in REFERENCE.glob("*.json"))
    assert len(families) >= 15 and (REFERENCE / "README.md").is_file()
    for fam in families:
        for case in load_family(fam):
            ds = case.get("dataset")
            if isinstance(ds, str) and ds.isidentifier():
                assert data_file(f"{ds}.csv").is_file(), (fam, case["id"], ds)
            rw = (case.get("design") or {}).get("repweights_file")
            if rw:
                assert data_file(rw).is_file(), (fam, case["id"], rw)


def test_every_field_case_has_its_data_and_r_helpers():
    cases = sorted(CASES.glob("c*.json"))
    assert len(cases) >= 10 and (CASES / "_common.R").is_file() and (CASES / "README.md").is_file()
    for js in cases:
        spec = json.loads(js.read_text(encoding="utf-8"))
        assert (CASES / spec["data_file"]).is_file(), js.name
