"""Re-sync the test oracles inside the repository from the shared folder beside it.

The tests never read ``../shared``: they read in-repository copies, so a clone anywhere
can run its own evidence. This script refreshes those copies from the shared folder:
``--shared PATH``, else the environment variable ``HAPPINESS_INDEX_SHARED``, else
``../shared`` next to the repository root:

=========================  ==================================================
source (``shared/…``)      copy in the repository
=========================  ==================================================
``reference/*``            ``tests/reference/*`` (byte for byte: R ``survey``
                           reference JSON files and their README)
``cases/*``                ``tests/cases/*`` (byte for byte: field edge cases,
                           ``_common.R`` and README)
``data/<file>``            ``tests/data/<file>`` (byte for byte) for every data
                           file not bundled with the package; ``data/README.md``
                           becomes ``tests/data/DATASETS.md``
``data/<name>.csv``        bundled as ``happiness_index/data/<name>.csv.gz``
                           (a gzip of the same bytes; checked, never written)
=========================  ==================================================

Usage::

    python scripts/sync_reference.py            # copy what changed, report it
    python scripts/sync_reference.py --check    # exit 1 if any copy differs

The test ``tests/test_reference_copies.py`` runs the same comparison whenever the
shared folder is present (and is skipped otherwise).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_ENV = "HAPPINESS_INDEX_SHARED"
PACKAGE_DATA = ROOT / "happiness_index" / "data"
TESTS = ROOT / "tests"

#: shared sub-folder -> in-repository folder copied whole (every file, byte for byte)
WHOLE_FOLDERS = {"reference": TESTS / "reference", "cases": TESTS / "cases"}
#: the shared data README, renamed so that tests/data keeps its own README
DATA_README = ("README.md", "DATASETS.md")


def default_shared() -> Path:
    """``$HAPPINESS_INDEX_SHARED`` when set, else ``../shared`` beside the repository root."""
    env = os.environ.get(SHARED_ENV)
    return Path(env) if env else ROOT.parent / "shared"


@dataclass(frozen=True)
class Pair:
    """One source file and its copy; ``gzipped`` when the copy is a gzip of the source."""

    source: Path
    copy: Path
    gzipped: bool = False

    def copy_bytes(self) -> bytes | None:
        """The copy's content (decompressed when gzipped), or ``None`` when it is missing."""
        if not self.copy.is_file():
            return None
        if self.gzipped:
            with gzip.open(self.copy, "rb") as fh:
                return fh.read()
        return self.copy.read_bytes()

    def is_current(self) -> bool:
        """Whether the copy holds exactly the bytes of the source."""
        return self.copy_bytes() == self.source.read_bytes()


def pairs(shared: Path) -> list[Pair]:
    """Every (source, copy) pair the repository keeps, in a stable order.

    Raises
    ------
    FileNotFoundError
        ``shared`` lacks one of the folders ``reference``, ``cases`` or ``data``.
    """
    for sub in (*WHOLE_FOLDERS, "data"):
        if not (shared / sub).is_dir():
            raise FileNotFoundError(f"{shared / sub} is not a folder; pass --shared PATH")
    out: list[Pair] = []
    for sub, dest in WHOLE_FOLDERS.items():
        for src in sorted(p for p in (shared / sub).rglob("*") if p.is_file()):
            out.append(Pair(src, dest / src.relative_to(shared / sub)))
    data = shared / "data"
    for src in sorted(p for p in data.rglob("*") if p.is_file()):
        rel = src.relative_to(data)
        bundled = PACKAGE_DATA / f"{rel}.gz"
        if rel.as_posix() == DATA_README[0]:
            out.append(Pair(src, TESTS / "data" / DATA_README[1]))
        elif bundled.is_file():
            out.append(Pair(src, bundled, gzipped=True))
        else:
            out.append(Pair(src, TESTS / "data" / rel))
    return out


def stale(shared: Path) -> list[Pair]:
    """The pairs whose copy is missing or differs from its source."""
    return [p for p in pairs(shared) if not p.is_current()]


def sync(shared: Path) -> list[Pair]:
    """Copy every stale plain file; returns the pairs that were (or, if gzipped, need to be) refreshed.

    Bundled gzip copies are package data and are never rewritten here: a difference is
    reported so that the package's copy is refreshed deliberately.
    """
    changed = stale(shared)
    for p in changed:
        if p.gzipped:
            continue
        p.copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p.source, p.copy)
    return changed


def _shown(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=None, help=f"the shared folder (default ${SHARED_ENV} or ../shared)")
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if any copy differs")
    args = ap.parse_args(argv)
    shared = (args.shared or default_shared()).resolve()
    try:
        todo = stale(shared) if args.check else sync(shared)
    except FileNotFoundError as exc:
        print(f"sync_reference: {exc}", file=sys.stderr)
        return 2
    for p in todo:
        verb = "differs" if args.check or p.gzipped else "copied"
        print(f"{verb}: {p.source.relative_to(shared)} -> {_shown(p.copy)}")
    n = len(pairs(shared))
    if args.check or any(p.gzipped for p in todo):
        bad = [p for p in todo if args.check or p.gzipped]
        print(f"{n - len(bad)} of {n} copies are current")
        return 1 if bad else 0
    print(f"{len(todo)} file(s) copied; {n} copies are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
