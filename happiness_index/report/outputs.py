"""The report folder: written whole or not at all, and never at the cost of a file the run did not write.

:func:`publish_report` is the only way the library puts a report folder on disk:

1. **Only its own folder is replaced.** Every report folder carries a manifest,
   :data:`MANIFEST_NAME`, listing each file the run wrote with its SHA-256 (and each
   sub-folder). A later run replaces an existing folder only when every entry in it is
   listed and unchanged; a folder holding anything else (a thesis, raw data, a file edited
   since the run, an older report without a manifest) is refused with a
   :class:`ReportFolderError` naming the foreign entries and suggesting another folder.
2. **Inputs are protected wherever they live.** A folder that is, or contains, one of the
   run's input files (survey, spec, targets, margins, frame, previous years, run file,
   covariates; also through symbolic or hard links) is refused before anything is written.
3. **Atomic swap.** Files are written into a hidden sibling ``.NAME.tmp-PID-TOKEN``; the
   manifest is written last, after every file has been flushed to the disk (fsync). On Linux the new folder and the old one are exchanged in one
   system call (``renameat2(RENAME_EXCHANGE)``), so there is no moment without a report;
   elsewhere the old folder is renamed aside to ``.NAME.old-PID-TOKEN``, the new one
   renamed in, and the old one removed (a failure between the two renames puts the old
   folder back).
4. **Interruptions.** SIGINT, SIGTERM and SIGHUP received while the folder is written
   remove the temporary folder (and restore the old report) before the process stops; they
   are held back during the swap itself. A run killed outright (SIGKILL, power loss) leaves
   hidden ``.NAME.tmp-*`` / ``.NAME.old-*`` folders: the next run on the same folder
   recovers them (puts an old report back when the folder itself is missing, removes the
   rest) or, when one does not look like its own work, names it and leaves it alone.

Removal of a folder of ours deletes the listed files first and the manifest last, so a
folder whose removal was interrupted is still recognisably ours.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import json
import os
import secrets
import signal
import stat
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import HappinessIndexError, HappinessIndexWarning

__all__ = [
    "MANIFEST_NAME",
    "ReportFolderError",
    "check_report_folder",
    "exchange_dirs",
    "publish_report",
    "recover_leftovers",
]

#: File name of the manifest inside every report folder.
MANIFEST_NAME = ".happiness-index-manifest.json"
_TOOL = "happiness-index report"
_SIGNALS = tuple(getattr(signal, s) for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s))


class ReportFolderError(HappinessIndexError):
    """The report folder cannot be written without touching files the run did not write."""


class _Interrupted(BaseException):
    """A termination signal received while the report folder was being written."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


# ---------------------------------------------------------------------------------------
# the manifest
# ---------------------------------------------------------------------------------------
def _sha256(path: Path, *, sync: bool = False) -> str:
    """SHA-256 of a file; with ``sync`` its data are also flushed to the disk (fsync)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        if sync:
            os.fsync(f.fileno())
    return h.hexdigest()


def _sync_dir(folder: Path) -> None:
    """Flush a folder's entries to the disk (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _entries(folder: Path) -> tuple[list[str], list[str], list[str]]:
    """(files, dirs, others) below ``folder`` as POSIX relative paths; symlinks count as others."""
    files, dirs, others = [], [], []
    for root, dnames, fnames in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for d in list(dnames):
            p = Path(root) / d
            if p.is_symlink():
                others.append((rel / d).as_posix())
                dnames.remove(d)
            else:
                dirs.append((rel / d).as_posix())
        for f in fnames:
            p = Path(root) / f
            mode = os.lstat(p).st_mode
            (files if stat.S_ISREG(mode) else others).append((rel / f).as_posix())
    return sorted(files), sorted(dirs), sorted(others)


def _read_manifest(folder: Path) -> dict | None:
    """The manifest of ``folder`` when it is one of ours; None when absent or not ours."""
    path = folder / MANIFEST_NAME
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError, RecursionError):  # RecursionError: a hostile, deeply nested file
        return None
    if not isinstance(m, dict) or m.get("tool") != _TOOL or not isinstance(m.get("files", {}), dict):
        return None
    return m


def _write_manifest(folder: Path, *, complete: bool) -> dict:
    """Write the manifest of ``folder`` (atomically: a temporary file renamed over it)."""
    m: dict = {"tool": _TOOL, "format": 1, "complete": complete, "files": {}, "dirs": []}
    if complete:
        files, dirs, others = _entries(folder)
        if others:
            raise ReportFolderError(f"the report writer created entries that are not plain files: {others}")
        m["files"] = {f: _sha256(folder / f, sync=True) for f in files if f != MANIFEST_NAME}
        m["dirs"] = dirs
        for d in [folder, *(folder / x for x in dirs)]:
            _sync_dir(d)
    part = folder / (MANIFEST_NAME + ".part")
    with open(part, "w", encoding="utf-8") as f:
        json.dump(m, f, indent=1, sort_keys=True)
        f.write("\n")
        if complete:
            f.flush()
            os.fsync(f.fileno())
    os.replace(part, folder / MANIFEST_NAME)
    if complete:
        _sync_dir(folder)
    return m


def _foreign_entries(folder: Path, manifest: dict | None, *, check_hashes: bool) -> list[str]:
    """Entries of ``folder`` the manifest does not account for (changed files with ``check_hashes``)."""
    files, dirs, others = _entries(folder)
    if manifest is None:
        return files + [d + "/" for d in dirs] + others
    listed, listed_dirs = manifest.get("files", {}), set(manifest.get("dirs", []))
    bad = []
    for f in files:
        if f in (MANIFEST_NAME, MANIFEST_NAME + ".part"):
            continue
        if f not in listed:
            bad.append(f)
        elif check_hashes and _sha256(folder / f) != listed[f]:
            bad.append(f"{f} (changed since the report was written)")
    bad += [d + "/" for d in dirs if d not in listed_dirs]
    return bad + others


def _remove_ours(folder: Path) -> None:
    """Remove a folder of ours: files, then the manifest, then the (empty) sub-folders."""
    keep_last = folder / MANIFEST_NAME
    for root, dnames, fnames in os.walk(folder, topdown=False):
        for f in fnames:
            p = Path(root) / f
            if p != keep_last:
                os.unlink(p)
        if Path(root) == folder and keep_last.name in fnames:
            os.unlink(keep_last)
        for d in dnames:
            p = Path(root) / d
            os.unlink(p) if p.is_symlink() else os.rmdir(p)
    os.rmdir(folder)


# ---------------------------------------------------------------------------------------
# the swap
# ---------------------------------------------------------------------------------------
_RENAME_EXCHANGE = 2


@functools.cache
def _renameat2():
    """libc's ``renameat2`` (Linux, glibc >= 2.28), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # the C library already loaded in the process
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange_dirs(a: Path, b: Path) -> bool:
    """Exchange two folders atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    Parameters
    ----------
    a, b : Path
        Two existing entries on the same file system.

    Returns
    -------
    bool
        True when exchanged; False when the system cannot do it (then nothing changed and
        the caller falls back to two renames).

    Raises
    ------
    OSError
        The exchange was possible in principle but failed (permissions, ...).
    """
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


class _SignalGuard:
    """Turn SIGINT/SIGTERM/SIGHUP into :class:`_Interrupted`; hold them back inside :meth:`held`."""

    def __init__(self):
        self.previous: dict = {}
        self.pending: int | None = None
        self.holding = 0

    def _handler(self, signum, frame):
        if self.holding:
            self.pending = self.pending or signum
            return
        raise _Interrupted(signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in _SIGNALS:
                prev = signal.getsignal(s)
                if prev is signal.SIG_IGN or prev is None:
                    continue  # an ignored signal stays ignored (nohup)
                self.previous[s] = prev
                signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, prev in self.previous.items():
            signal.signal(s, prev)
        self.previous = {}
        return False

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.holding += 1
        try:
            yield
        finally:
            self.holding -= 1
        if not self.holding and self.pending is not None:
            signum, self.pending = self.pending, None
            raise _Interrupted(signum)


def _redeliver(signum: int) -> None:
    """After clean-up: stop as the signal asked (KeyboardInterrupt for SIGINT, else the signal)."""
    if signum == getattr(signal, "SIGINT", None):
        raise KeyboardInterrupt
    if signal.getsignal(signum) in (signal.SIG_DFL, None):
        signal.raise_signal(signum)  # the process ends here, reported as killed by the signal
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------------------
# checks before writing
# ---------------------------------------------------------------------------------------
def _check_protected(out: Path, protected: Iterable) -> list[os.stat_result]:
    """Refuse ``out`` when it is or contains an input; returns the inputs' stats (hard links)."""
    stats = []
    for p in protected:
        if p is None:
            continue
        pp = Path(p).resolve()
        if pp == out or out in pp.parents:
            raise ReportFolderError(
                f"--out {out} {'is' if pp == out else 'contains'} the input {pp}; writing the report there could "
                "replace or remove it. Choose another --out (an input file is never overwritten)"
            )
        with contextlib.suppress(OSError):
            stats.append(os.stat(pp))
    return stats


def _check_hard_links(out: Path, stats: list[os.stat_result]) -> None:
    if not stats or not out.is_dir():
        return
    ids = {(s.st_dev, s.st_ino) for s in stats}
    for f in _entries(out)[0]:
        s = os.stat(out / f)
        if (s.st_dev, s.st_ino) in ids:
            raise ReportFolderError(
                f"--out {out} holds {f}, the same file (a hard link) as one of the inputs; choose another --out"
            )


def _check_replaceable(out: Path) -> None:
    """Refuse an existing ``out`` that is not an unchanged report of ours (or empty)."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise ReportFolderError(f"--out {out} is a file, not a folder; give a folder for the report")
    manifest = _read_manifest(out)
    if manifest is not None and not manifest.get("complete", True):
        manifest = None
    foreign = _foreign_entries(out, manifest, check_hashes=True)
    if foreign:
        shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8 else "")
        why = (
            "it holds files that this program did not write"
            if manifest is not None
            else "it is not a report written by this program (no manifest " + MANIFEST_NAME + ")"
        )
        raise ReportFolderError(
            f"--out {out} cannot be used: {why}: {shown}. Nothing was changed. Choose another --out (a new or "
            "empty folder), or move those files away yourself"
        )


# ---------------------------------------------------------------------------------------
# leftovers of interrupted runs
# ---------------------------------------------------------------------------------------
def _writer_alive(pid: int, leftover: Path) -> bool:
    """Whether process ``pid`` is alive and may be the run that made ``leftover``.

    A process started after the leftover was made is not its writer (the id was reused,
    e.g. after a reboot): on Linux its ``/proc`` entry is younger than the leftover.
    """
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # exists, owned by someone else
    start = _process_start(pid)
    try:
        return start is None or start <= os.lstat(leftover).st_mtime + 2
    except OSError:
        return True


def _process_start(pid: int) -> float | None:
    """Start of process ``pid`` in seconds since the epoch (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        start_ticks = int(data[data.rindex(b")") + 2 :].split()[19])  # field 22: starttime
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        return boot + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _leftovers(out: Path) -> list[tuple[str, int, Path]]:
    """Hidden ``.NAME.tmp-PID-*`` / ``.NAME.old-PID-*`` siblings of ``out``: (kind, pid, path)."""
    found = []
    if not out.parent.is_dir():
        return found
    for kind in ("tmp", "old"):
        for p in out.parent.glob(f".{_glob_escape(out.name)}.{kind}-*"):
            pid_text = p.name[len(f".{out.name}.{kind}-") :].split("-")[0]
            found.append((kind, int(pid_text) if pid_text.isdigit() else -1, p))
    return sorted(found, key=lambda t: t[2].name)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def recover_leftovers(out_dir, *, protected: Iterable = ()) -> list[str]:
    """Recover what interrupted runs left next to ``out_dir``; returns one message per action.

    * ``.NAME.old-*`` while the folder itself is missing: a run was stopped between its two
      renames; the folder is renamed back (a rename loses nothing, whoever wrote it).
    * A leftover of this program (its manifest lists every file, or it holds no file) is
      removed.
    * Anything else (an older version's leftover, a folder that merely has such a name, a
      leftover holding an input file) is left alone and named in the returned messages.

    Parameters
    ----------
    out_dir : path
        The report folder (it may be missing).
    protected : iterable of paths
        Inputs: a leftover holding one of them is never removed.

    Returns
    -------
    list of str
        What was done or left alone, for the log (empty when there was nothing to do).

    Raises
    ------
    ReportFolderError
        Another run (a live process) is writing the same report now.
    """
    out = Path(out_dir).absolute()
    messages = []
    prot = [Path(p).resolve() for p in protected if p is not None]
    for kind, pid, path in _leftovers(out):
        if _writer_alive(pid, path):
            raise ReportFolderError(
                f"another run (process {pid}) is writing the report {out} now ({path.name}); "
                "wait for it to finish, or choose another --out"
            )
        if kind == "old" and not out.exists():
            os.rename(path, out)
            messages.append(f"restored {out} from {path.name}, set aside by an interrupted run")
            continue
        holds_input = any(path.resolve() in q.parents for q in prot)
        manifest = _read_manifest(path)
        files = set(_entries(path)[0]) - {MANIFEST_NAME + ".part"}
        ours = (
            manifest is not None
            and not (manifest.get("complete") and _foreign_entries(path, manifest, check_hashes=False))
        ) or not files
        if ours and not holds_input:
            _remove_ours(path)
            messages.append(f"removed {path.name}, left by an interrupted run")
        else:
            why = "it holds an input file" if holds_input else "it was not written by this version of the program"
            messages.append(f"left {path} alone: {why}; remove it yourself once you have checked it")
    return messages


def check_report_folder(out_dir, *, protected: Iterable = ()) -> Path:
    """Check, without changing anything, that :func:`publish_report` may write ``out_dir``.

    A long run calls it first, so that a folder it would refuse is refused before the
    computation, not after.

    Parameters
    ----------
    out_dir : path
    protected : iterable of paths
        The run's input files.

    Returns
    -------
    Path
        ``out_dir``, resolved.

    Raises
    ------
    ReportFolderError
        As :func:`publish_report` would (another run writing the same folder included;
        other leftovers of interrupted runs are left to :func:`publish_report`).
    """
    out = Path(out_dir).resolve()
    if out.parent == out:
        raise ReportFolderError(f"--out {out} is the root of the file system; give a folder for the report")
    stats = _check_protected(out, protected)
    for _, pid, path in _leftovers(out):
        if _writer_alive(pid, path):
            raise ReportFolderError(
                f"another run (process {pid}) is writing the report {out} now ({path.name}); "
                "wait for it to finish, or choose another --out"
            )
    if out.exists() or not any(kind == "old" for kind, _, _ in _leftovers(out)):
        _check_replaceable(out)  # (a folder set aside by an interrupted swap is put back first)
    _check_hard_links(out, stats)
    return out


# ---------------------------------------------------------------------------------------
# publish
# ---------------------------------------------------------------------------------------
def publish_report(out_dir, write_files: Callable[[Path], None], *, protected: Iterable = ()) -> list[Path]:
    """Write a report folder atomically, replacing only an earlier report of this program.

    Parameters
    ----------
    out_dir : path
        The report folder. It may not exist yet, be empty, or hold an earlier report
        written by this function (every entry listed in its manifest and unchanged).
    write_files : callable
        ``write_files(tmp)`` writes every report file into the empty folder ``tmp`` (plain
        files and sub-folders; no symbolic links).
    protected : iterable of paths
        The run's input files. ``out_dir`` may not be, or contain, any of them.

    Returns
    -------
    list of Path
        The files written, in their final place, sorted (the manifest not included).

    Raises
    ------
    ReportFolderError
        ``out_dir`` is a file, holds entries this program did not write, is or contains an
        input, or another run (a live process) is writing it now. Nothing was changed.
    OSError
        The folder cannot be written (permissions, full disk); ``filename`` is ``out_dir``
        (never the temporary folder) and nothing is left behind.
    KeyboardInterrupt, SystemExit
        SIGINT / SIGTERM / SIGHUP during the write, after the clean-up (SIGTERM and SIGHUP
        with default handlers end the process with that signal).

    Warns
    -----
    HappinessIndexWarning
        For each leftover of an interrupted run recovered or left alone
        (:func:`recover_leftovers`).

    Notes
    -----
    The manifest (:data:`MANIFEST_NAME`) holds ``{"tool", "format", "complete", "files":
    {relative path: sha256}, "dirs": [...]}``. The module docstring describes the swap.
    """
    out = Path(out_dir).resolve()
    if out.parent == out:
        raise ReportFolderError(f"--out {out} is the root of the file system; give a folder for the report")
    stats = _check_protected(out, protected)
    with _SignalGuard() as guard:
        try:
            for message in recover_leftovers(out, protected=protected):
                warnings.warn(message, HappinessIndexWarning, stacklevel=2)
            _check_replaceable(out)
            _check_hard_links(out, stats)
            return _write_and_swap(out, write_files, guard)
        except _Interrupted as e:
            signum = e.signum
        except OSError as e:  # the user asked for ``out``: name it, never a temporary folder
            raise OSError(e.errno, e.strerror or str(e), str(out)) from None
    _redeliver(signum)
    raise AssertionError("unreachable")  # pragma: no cover


def _write_and_swap(out: Path, write_files: Callable[[Path], None], guard: _SignalGuard) -> list[Path]:
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp, old = out.parent / f".{out.name}.tmp-{token}", out.parent / f".{out.name}.old-{token}"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(tmp)
        _write_manifest(tmp, complete=False)
        write_files(tmp)
        manifest = _write_manifest(tmp, complete=True)
        with guard.held():
            _swap(tmp, out, old)
            _sync_dir(out.parent)  # the swap itself survives a power cut
            _tidy(tmp, out, old)
    except BaseException as failure:
        guard.holding += 1  # first, before any call: a signal arriving now waits for the clean-up
        try:
            _undo(tmp, out, old)
        finally:
            guard.holding -= 1
        signum, guard.pending = guard.pending, None
        if signum is not None and not isinstance(failure, _Interrupted):
            raise _Interrupted(signum) from failure
        raise
    return sorted(out / f for f in manifest["files"])


def _swap(tmp: Path, out: Path, old: Path) -> None:
    """Put ``tmp`` in place of ``out``; the old report (if any) ends up at ``tmp`` or ``old``."""
    if out.exists():
        if exchange_dirs(tmp, out):
            return  # one atomic step: ``tmp`` now holds the old report
        os.rename(out, old)
    os.rename(tmp, out)


def _tidy(tmp: Path, out: Path, old: Path) -> None:
    """After the swap: remove the old report (a failure here leaves a leftover the next run removes)."""
    for p in (tmp, old):
        for attempt in (1, 2):
            if not p.exists():
                break
            try:
                _remove_ours(p)
            except OSError as e:
                if attempt == 2:
                    warnings.warn(
                        f"the report was replaced, but the previous copy {p} could not be removed "
                        f"({e.strerror or e}); the next run on this folder removes it",
                        HappinessIndexWarning,
                        stacklevel=4,
                    )


def _undo(tmp: Path, out: Path, old: Path) -> None:
    """After a failure or a signal: exactly one report in place (old or new), no temporary folder."""
    with contextlib.suppress(OSError):
        if old.exists() and not out.exists():
            os.rename(old, out)  # failed between the two renames: the old report goes back
    # ``tmp`` holds the new report not swapped in, or (after an exchange) the replaced one;
    # ``old`` is removed only when a report is in place
    for p in (tmp, old) if out.exists() else (tmp,):
        with contextlib.suppress(OSError):
            if p.exists():
                _remove_ours(p)
