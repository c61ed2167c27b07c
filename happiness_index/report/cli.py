"""The ``happiness-index`` command.

Subcommands
-----------
``validate [SURVEY] [--spec SPEC] [--config run.toml] [--frame FRAME] [--out errors.csv] [--lang vi|en] [reader options]``
    Check a survey file against an index specification (and the sampling frame; survey,
    spec, frame, language and reader options may come from the run file); print a
    short table of problems by kind; write every problem to ``--out`` (CSV, UTF-8 with a
    byte-order mark so that Excel shows Vietnamese correctly; cells that a spreadsheet would
    run as formulas are neutralised). An existing ``--out`` file is replaced only when it is
    an earlier list of problems.

``run [--config run.toml] --survey FILE --spec SPEC [--frame F] [--margins F] [--previous F] [--targets T] --out DIR``
    The annual main job: validate, weight, index with CIs for the city and communes, compare
    with the previous year and the targets, write the report (``run --example``: bundled
    synthetic data). A run file (TOML, see ``examples/run.toml``) can describe the whole run;
    its paths are relative to the run file, and options on the command line take precedence.
    The report folder is written by :func:`happiness_index.report.outputs.publish_report`: only
    an earlier report of this program is replaced, inputs are never touched. ``--replicates``
    without ``--seed`` draws a seed, uses it, prints it and records it in ``results.json``.

Reader options
--------------
``--sep``, ``--decimal``, ``--thousands``, ``--encoding``, ``--sheet``, ``--header-row`` apply
to this year's survey and (unless ``--previous-sep``, ... are given) to last year's; the
frame has its own ``--frame-sep``, ... (default: the reader's own defaults), because the
frame usually comes from another system than the survey export. In a run file they are the
``[read]``, ``[read.previous]`` and ``[read.frame]`` tables.

Language
--------
``--lang`` (run file: ``language``) chooses the language of summaries, progress messages
and the report; both subcommands default to :data:`DEFAULT_LANG` (Vietnamese).

Exit codes
----------
0  success (for ``validate``: the data are clean)
1  invalid data: problems found, or a data file that cannot be read
2  usage error: bad arguments, a file named on the command line that cannot be opened,
   an invalid spec or run file, a report folder that holds files this program did not write
130  interrupted (Ctrl-C); the report folder holds the old report or none, never a half one
141  the reader of stdout went away (``happiness-index ... | head``): nothing more is
   printed, no error message (128 + SIGPIPE, as shells report a process killed by SIGPIPE)

The progress bar of ``run`` is drawn on stderr only when stderr is a terminal.

A refusal of the library (:class:`~happiness_index.errors.HappinessIndexError`), an
``OSError`` or a ``UnicodeError`` is printed as one ``error:`` line on stderr, never as a
Python traceback. Start-up imports nothing heavy: ``happiness-index --help`` does not load
pandas, numpy or matplotlib (each command imports what it needs).

Adding a subcommand: write ``_add_<name>(subparsers)`` that declares its arguments and sets
``func=_cmd_<name>``, write ``_cmd_<name>(args) -> int``, and list ``_add_<name>`` in
:data:`_SUBCOMMANDS`. :func:`main` only parses and dispatches.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ..errors import DataFileError, HappinessIndexError, LonelyPSUError, SchemaError, SpecError
from ..questionnaire.textformats import parse_json_or_toml

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
#: Exit code when stdout is a closed pipe (``... | head``): 128 + SIGPIPE, as a shell reports it.
EXIT_BROKEN_PIPE = 141
#: Exit code after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
#: Choices of ``run --lonely-psu`` (the ``lonely_psu`` rules of :class:`SurveyDesign`).
LONELY_CHOICES = ("fail", "remove", "adjust", "average", "certainty")
#: Languages of summaries, messages and reports; one default for every subcommand.
LANGS = ("vi", "en")
DEFAULT_LANG = "vi"


class _UsageError(Exception):
    """Raised by a subcommand for a problem with how it was called (exit code 2)."""


# --------------------------------------------------------------------------------------
# shared helpers for subcommands
# --------------------------------------------------------------------------------------
def bundled_spec_names() -> list[str]:
    """Names of the specs shipped with the package (``gnh_alkire_foster``, ``gss_happiness``, ...)."""
    from importlib import resources

    base = resources.files("happiness_index") / "data" / "specs"
    try:
        return sorted(x.name[:-5] for x in base.iterdir() if x.name.endswith(".toml"))
    except OSError:  # pragma: no cover - broken installation
        return []


def _spec_help() -> str:
    return "index spec: a TOML file or a bundled name (" + ", ".join(bundled_spec_names()) + ")"


def _not_a_file(arg: str, what: str) -> _UsageError:
    """The usage error for a path that is not a readable file: a directory or missing."""
    p = Path(arg)
    if p.is_dir():
        return _UsageError(f"{what} {arg} is a directory, not a file")
    if p.exists():
        return _UsageError(f"{what} {arg} is not a regular file")
    return _UsageError(f"{what} file not found: {arg}")


def load_spec(arg: str):
    """An IndexSpec from a TOML path, or the name of a bundled spec (``yen_bai_nef``)."""
    from ..questionnaire.spec import IndexSpec, bundled_spec_path

    p = Path(arg)
    if p.is_file():
        return IndexSpec.from_toml(p)
    if p.suffix in ("", ".toml") and p.parent == Path(".") and not p.exists():
        try:
            return IndexSpec.from_toml(bundled_spec_path(arg))
        except SpecError:
            pass
    err = _not_a_file(arg, "spec")
    raise _UsageError(f"{err}; give a TOML file, or a bundled spec name: {', '.join(bundled_spec_names())}")


# --------------------------------------------------------------------------------------
# reader options (--sep, --decimal, --thousands, --encoding, --sheet, --header-row)
# --------------------------------------------------------------------------------------
#: Reader options: (name of read_survey's keyword, type, help). The command line spells them
#: ``--sep`` (this year's survey), ``--previous-sep`` (last year's survey; default: as this
#: year's) and ``--frame-sep`` (the frame; default: the reader's own defaults).
READER_OPTIONS = (
    (
        "sep",
        str,
        (
            "field separator of a text file (default: detected; e.g. ';' for files saved by Excel in "
            "the Vietnamese locale)"
        ),
    ),
    ("decimal", str, "decimal mark of numbers in a text file or typed as text in a workbook: '.' (default) or ','"),
    (
        "thousands",
        str,
        (
            "thousands separator of numbers in a text file or workbook (e.g. '.' with --decimal ',': 1.925 is "
            "one thousand nine hundred twenty-five); default none"
        ),
    ),
    ("encoding", str, "text encoding (default utf-8; e.g. cp1258 for old Vietnamese Windows software)"),
    ("sheet", str, "Excel sheet name to read (default: the first sheet)"),
    (
        "header_row",
        int,
        ("row that holds the column names, 1 = the first row (Excel files with title rows above the table)"),
    ),
)
#: Reader options that the installed ``read_survey`` passes to pandas through ``**kw``.
_PANDAS_READER_NAMES = ("sep", "thousands", "encoding")


def _add_reader_options(p, prefix: str, what: str, default_note: str) -> None:
    """Declare the reader options of one file: ``--{prefix}sep``, ... (dest ``{prefix}sep``)."""
    g = p.add_argument_group(f"reading {what}", default_note)
    for name, typ, text in READER_OPTIONS:
        flag = "--" + (prefix + name).replace("_", "-")
        g.add_argument(
            flag,
            dest=(prefix + name).replace("-", "_"),
            type=typ,
            default=None,
            metavar=name.upper().replace("_", "-"),
            help=f"as --{name.replace('_', '-')}" if prefix else text,
        )


def _reader_args(args, prefix: str) -> dict:
    """{option: value} of the reader options given on the command line with ``prefix``."""
    out = {}
    for name, _, _ in READER_OPTIONS:
        v = getattr(args, (prefix + name).replace("-", "_"), None)
        if v is not None:
            out[name] = v
    return out


def _reader_kwargs(options: dict, what: str) -> dict:
    """The options as keyword arguments of the installed ``read_survey`` (usage error for one it lacks)."""
    import inspect

    from ..reading.files import read_survey

    params = inspect.signature(read_survey).parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kw = {}
    for name, value in options.items():
        if value is None:
            continue
        if name not in params and not (var_kw and name in _PANDAS_READER_NAMES):
            flag = "--" + name.replace("_", "-")
            raise _UsageError(f"{flag} (reading the {what}) is not supported by this version's reader")
        kw[name] = value
    if kw.get("sep") in ("\\t", "tab"):
        kw["sep"] = "\t"
    for name in ("sep", "decimal", "thousands"):
        if name in kw and (not isinstance(kw[name], str) or len(kw[name]) != 1):
            raise _UsageError(f"--{name} for the {what} must be a single character ('tab' for a tab), got {kw[name]!r}")
    if kw.get("decimal") is not None and kw.get("decimal") == kw.get("thousands"):
        raise _UsageError(f"the decimal mark and the thousands separator of the {what} are both {kw['decimal']!r}")
    return kw


#: Reader options that apply to each kind of file (by extension); the others are dropped with a warning.
_APPLIES = {
    "text": {"sep", "decimal", "thousands", "encoding", "header_row"},
    "excel": {"sheet", "decimal", "thousands", "header_row"},
    "binary": set(),
}


def _file_kind(path: Path) -> str:
    suffixes = [x.lower() for x in path.suffixes[-2:]]
    if suffixes and suffixes[-1] in (".xlsx", ".xlsm", ".xls"):
        return "excel"
    if suffixes and suffixes[-1] in (".sav", ".zsav", ".dta", ".parquet", ".pq"):
        return "binary"
    return "text"


def read_input(arg, what: str, options: dict | None = None):
    """Read a data file named on the command line (a missing file or a directory is a usage error).

    ``options``: reader options (:data:`READER_OPTIONS`) for
    :func:`~happiness_index.reading.files.read_survey`. Options that do not apply to the file's
    format (``--sep`` for an Excel workbook, shared by this year's CSV and last year's .xlsx)
    are not passed, and a warning names them.
    """
    from ..reading.files import read_survey

    path = Path(arg)
    if not path.is_file():
        raise _not_a_file(str(arg), what)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    kind = _file_kind(path)
    dropped = sorted(k for k in options if k not in _APPLIES[kind])
    if dropped:
        flags = ", ".join("--" + k.replace("_", "-") for k in dropped)
        warnings.warn(
            f"{flags} do{'es' if len(dropped) == 1 else ''} not apply to the {what} file {path.name} "
            f"({'an Excel workbook' if kind == 'excel' else 'a text file' if kind == 'text' else 'not a text file'}); "
            "ignored for it",
            UserWarning,
            stacklevel=2,
        )
    kept = {k: v for k, v in options.items() if k not in dropped}
    return read_survey(path, **_reader_kwargs(kept, what))


# --------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------
def _add_validate(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="check a survey file against an index spec and the sampling frame",
        description="Check a survey file against an index specification (and the sampling "
        "frame). Prints problems counted by kind; exits 1 when there are problems, "
        "0 when the data are clean.",
    )
    p.add_argument(
        "survey",
        metavar="SURVEY",
        nargs="?",
        help="survey file (.csv, .xlsx, .sav, .dta, .parquet); default: the run file's survey",
    )
    p.add_argument("--spec", metavar="SPEC", help=_spec_help() + "; required unless the run file gives it")
    p.add_argument(
        "--config",
        metavar="RUN_TOML",
        help="run file of `happiness-index run` (survey, spec, frame, language and reader options "
        "are taken from it; the command line takes precedence)",
    )
    p.add_argument(
        "--frame",
        metavar="FRAME",
        help="sampling frame file: commune code, optional commune name and village columns "
        "named as in the spec's [design] table",
    )
    p.add_argument(
        "--out",
        metavar="ERRORS_CSV",
        help="write every problem, then every coercion note (kind 'coercion (note)'), to this "
        "CSV file (UTF-8 with BOM; columns row, row_number, column, value, check, kind, "
        "message_en, message_vi). An existing file is replaced only when it is such a list",
    )
    p.add_argument("--id-column", metavar="COLUMN", help="respondent id column (default: the spec's)")
    p.add_argument("--lang", choices=LANGS, default=None, help=f"language of the summary (default {DEFAULT_LANG})")
    _add_reader_options(p, "", "the survey", None)
    _add_reader_options(p, "frame_", "the frame (--frame-sep, ...)", "default: the reader's own defaults")
    p.set_defaults(func=_cmd_validate)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (after symlinks, ``..``; hard links too)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _refuse_overwriting_inputs(out: str, inputs: dict) -> None:
    """A usage error when ``--out`` names (or resolves to) one of the input files."""
    for role, path in inputs.items():
        if path is not None and _same_file(Path(out), Path(path)):
            raise _UsageError(
                f"--out {out} is the {role} file {path}; an input file is never overwritten: "
                "choose another file for the list of problems"
            )


#: How the first line of an errors CSV written by ``validate --out`` begins (after the byte-order mark).
ERRORS_HEADER_START = "row,row_number,column,value,check,kind,"


def _write_errors_csv(table, out: Path) -> None:
    """Write the problems (text cells neutralised) atomically; replace only an earlier such list.

    An existing regular file is replaced only when it is empty or its first line is the
    header of such a list (:data:`ERRORS_HEADER_START`); a device or a pipe (``/dev/stdout``)
    is written in place.
    """
    import os

    from .cells import neutralise_frame

    if out.is_dir():
        raise _UsageError(f"--out {out} is a directory; give the name of a CSV file for the problems")
    if out.suffix.lower() not in (".csv", ".txt") and not (out.exists() and not out.is_file()):
        raise _UsageError(
            f"--out {out}: the list of problems is written as CSV (UTF-8); give a name ending in .csv (Excel opens it)"
        )
    safe = neutralise_frame(table)
    try:
        if out.exists() and not out.is_file():
            safe.to_csv(out, index=False, encoding="utf-8-sig")
            return
        target = out.resolve() if out.is_symlink() else out
        if target.is_file() and target.stat().st_size:
            with target.open("rb") as f:
                first = f.readline().decode("utf-8-sig", errors="replace").strip()
            if first != ",".join(map(str, table.columns)) and not first.startswith(ERRORS_HEADER_START):
                raise _UsageError(
                    f"--out {out} exists and is not a list of problems written by happiness-index; "
                    "it is never overwritten: choose another file name"
                )
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            safe.to_csv(tmp, index=False, encoding="utf-8-sig")
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
    except OSError as e:
        raise _UsageError(f"cannot write the list of problems to {out}: {e.strerror or e}") from None


def _validate_settings(args) -> dict:
    """survey, spec, frame, lang and reader options of ``validate``: command line over run file."""
    cfg = load_run_file(args.config) if args.config else {}
    read = cfg.get("read", {"survey": {}, "frame": {}})
    s = {
        "survey": args.survey or cfg.get("survey"),
        "spec": args.spec or cfg.get("spec"),
        "frame": args.frame or cfg.get("frame"),
        "lang": args.lang or cfg.get("language") or DEFAULT_LANG,
        "read_survey": {**read["survey"], **_reader_args(args, "")},
        "read_frame": {**read["frame"], **_reader_args(args, "frame_")},
    }
    missing = [what for what, key in (("SURVEY", "survey"), ("--spec", "spec")) if s[key] is None]
    if missing:
        raise _UsageError(f"validate needs {' and '.join(missing)} (or a run file with --config)")
    if s["lang"] not in LANGS:
        raise _UsageError(f"language must be one of {', '.join(LANGS)}, got {s['lang']!r}")
    return s


def _cmd_validate(args) -> int:
    from ..reading.schema import validate_survey

    s = _validate_settings(args)
    lang = s["lang"]
    if args.out:
        inputs = {"survey": s["survey"], "frame": s["frame"], "spec": s["spec"], "run": args.config}
        _refuse_overwriting_inputs(args.out, inputs)
    spec = load_spec(str(s["spec"]))
    data = read_input(s["survey"], "survey", s["read_survey"])
    frame = read_input(s["frame"], "frame", s["read_frame"]) if s["frame"] else None
    report = validate_survey(data, spec, frame, id_column=args.id_column)
    print(report.format_summary(lang))
    if args.out:
        out = Path(args.out)
        _write_errors_csv(report.to_frame(coercions=True), out)
        from .numbers import fmt_int

        npb, nco = len(report.errors), len(report.coercions)
        if lang == "en":
            what = f"{fmt_int(npb, lang)} problem{'' if npb == 1 else 's'}"
            if nco:
                what += f" and {fmt_int(nco, lang)} coercion note{'' if nco == 1 else 's'} (kind 'coercion (note)')"
            print(f"wrote {what} to {out}")
        else:
            what = f"{fmt_int(npb, lang)} lỗi" + (
                f" và {fmt_int(nco, lang)} ghi chú chuyển đổi kiểu (loại 'coercion (note)')" if nco else ""
            )
            print(f"đã ghi {what} vào {out}")
    return EXIT_OK if report.ok else EXIT_INVALID


# --------------------------------------------------------------------------------------
# the run file (run.toml)
# --------------------------------------------------------------------------------------
#: Keys of a run file and their kind: "path" (relative to the run file), "spec" and "targets"
#: (a path relative to the run file when such a file exists, else a bundled name), or a type.
RUN_FILE_KEYS = {
    "survey": "path",
    "spec": "spec",
    "frame": "path",
    "margins": "path",
    "previous": "path",
    "targets": "targets",
    "year": int,
    "previous_year": int,
    "language": str,
    "level": float,
    "replicates": int,
    "seed": int,
    "calibration": str,
    "lonely_psu": str,
    "out": "path",
    "area_covariates": "path",
    "crosswalk": "path",
    "robustness_draws": int,
    "drivers": bool,
    "synthetic": bool,
    "read": dict,
    "report": dict,
}
#: Sub-tables of ``[read]``: reader options of last year's survey and of the frame.
READ_SUBTABLES = ("previous", "frame")
#: Keys of the ``[report]`` table (the Word report's front matter), passed to ``run_annual``.
REPORT_KEYS = ("parent_body", "issuing_body", "document_number", "place", "signer_title", "signer_name")


def _line_of(text: str, key: str, table: str | None = None) -> str:
    """' (line N)' of ``key = ...`` in a TOML text (inside ``[table]`` when given), or ''."""
    import re

    current = None
    for i, line in enumerate(text.splitlines(), 1):
        head = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if head:
            current = head.group(1)
            if current == key and table is None:
                return f" (line {i})"
            continue
        if current == table and re.match(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
            return f" (line {i})"
    return ""


def _check_value(name: str, value, kind, where: str, line: str):
    """The value of one run-file key, type-checked (an int is accepted for a float)."""
    want = {"path": str, "spec": str, "targets": str}.get(kind, kind)
    ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise _UsageError(f"run file {where}: key '{name}'{line} must be {want.__name__}, got {value!r}")
    return value


def load_run_file(path) -> dict:
    """Read a run file (TOML) describing the annual run; paths made relative to the run file's folder.

    Parameters
    ----------
    path : path
        The run file. Keys: see :data:`RUN_FILE_KEYS`; ``[read]`` holds the reader options
        of the survey (and last year's survey) with sub-tables ``[read.previous]`` and
        ``[read.frame]``; ``[report]`` holds :data:`REPORT_KEYS`.

    Returns
    -------
    dict
        The keys given, paths as :class:`~pathlib.Path` (absolute when the run file's
        path is), ``read`` as ``{"survey": {...}, "previous": {...}, "frame": {...}}``.

    Raises
    ------
    _UsageError
        The file is missing or not TOML, a key is unknown (named, with its line) or of the
        wrong type.
    """
    p = Path(path)
    if not p.is_file():
        raise _not_a_file(str(path), "run")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeError as e:
        raise _UsageError(f"cannot read run file {path}: {e}") from None
    raw = parse_json_or_toml(text, "toml", what="run file", source=str(path), error=_UsageError)
    base, cfg = p.parent, {}
    for key, value in raw.items():
        kind = RUN_FILE_KEYS.get(key)
        if kind is None:
            raise _UsageError(
                f"run file {path}: unknown key '{key}'{_line_of(text, key)}; known keys: " + ", ".join(RUN_FILE_KEYS)
            )
        value = _check_value(key, value, kind, str(path), _line_of(text, key))
        if kind == "path":
            value = base / value
        elif kind in ("spec", "targets") and (
            (base / value).is_file() or Path(value).suffix.lower() in (".toml", ".json") or "/" in value
        ):
            value = str(base / value)  # a file (relative to the run file), else a bundled name
        cfg[key] = value
    cfg["read"] = _run_file_reader_options(raw.get("read", {}), text, str(path))
    report = cfg.get("report", {})
    for key in report:
        if key not in REPORT_KEYS:
            raise _UsageError(
                f"run file {path}: unknown key '{key}' in [report]{_line_of(text, key, 'report')}; "
                "known keys: " + ", ".join(REPORT_KEYS)
            )
        _check_value(key, report[key], str, str(path), _line_of(text, key, "report"))
    return cfg


def _run_file_reader_options(read: dict, text: str, where: str) -> dict:
    """{"survey": {...}, "previous": {...}, "frame": {...}} from the run file's ``[read]`` table."""
    types = {name: typ for name, typ, _ in READER_OPTIONS}
    out = {"survey": {}, "previous": {}, "frame": {}}
    for key, value in read.items():
        if key in READ_SUBTABLES and isinstance(value, dict):
            for k, v in value.items():
                table = f"read.{key}"
                if k not in types:
                    raise _UsageError(
                        f"run file {where}: unknown key '{k}' in [{table}]{_line_of(text, k, table)}; "
                        "known keys: " + ", ".join(types)
                    )
                out[key][k] = (
                    v
                    if k == "sheet" and isinstance(v, int)
                    else _check_value(k, v, types[k], where, _line_of(text, k, table))
                )
        elif key in types:
            out["survey"][key] = (
                value
                if key == "sheet" and isinstance(value, int)
                else _check_value(key, value, types[key], where, _line_of(text, key, "read"))
            )
        else:
            raise _UsageError(
                f"run file {where}: unknown key '{key}' in [read]{_line_of(text, key, 'read')}; "
                "known keys: " + ", ".join([*types, *READ_SUBTABLES])
            )
    return out


# --------------------------------------------------------------------------------------
# run: the annual main job (validate -> weight -> index -> compare -> targets -> report)
# --------------------------------------------------------------------------------------
def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="the annual job: validate, weight, index with CIs, compare, assess targets, write the report",
        description="Validate the survey, weight it (calibrate when --margins is given), compute the index "
        "with confidence intervals for the city and every commune/ward, compare with the "
        "previous year (independent samples) and the targets, and write report.md, "
        "report.html, PNG charts, results.json, CSV and .xlsx tables into --out. "
        "`happiness-index run --config run.toml` reads the whole run from a run file (paths "
        "relative to it; options given on the command line take precedence). "
        "`happiness-index run --example` runs it on the bundled SYNTHETIC Yen Bai city survey.",
    )
    p.add_argument(
        "--config",
        metavar="RUN_TOML",
        help="run file (TOML) describing the annual run: survey, spec, frame, margins, previous, "
        "targets, language, replicates, seed, out, reader options ([read]), ... "
        "(see examples/run.toml)",
    )
    p.add_argument(
        "--example",
        action="store_true",
        help="run on the bundled synthetic two-year survey of Yen Bai city (no other input)",
    )
    p.add_argument("--survey", metavar="FILE", help="this year's survey file (.csv, .xlsx, .sav, .dta, .parquet)")
    p.add_argument("--spec", metavar="SPEC", help=_spec_help())
    p.add_argument("--frame", metavar="FRAME", help="sampling frame file, for validation")
    p.add_argument(
        "--margins", metavar="FILE", help="population margins for calibration: JSON or TOML {column: {category: count}}"
    )
    p.add_argument(
        "--previous",
        metavar="FILE",
        help="last year's survey file (or last year's results.json) for the year-on-year change",
    )
    p.add_argument(
        "--targets",
        metavar="NAME|FILE",
        help="target set: yen_bai_city_plan, yen_bai_province, or a TOML/JSON file (default: the spec's [[targets]])",
    )
    p.add_argument("--year", type=int, help="survey year (selects rows when the file has a 'year' column)")
    p.add_argument("--previous-year", type=int, help="previous year (rows of --previous, or of --survey)")
    p.add_argument(
        "--lang", choices=LANGS, default=None, help=f"language of the report and the messages (default {DEFAULT_LANG})"
    )
    p.add_argument("--level", type=float, default=None, help="confidence level (default 0.95)")
    p.add_argument(
        "--replicates",
        type=int,
        metavar="N",
        help="bootstrap replicate variance with N replicates (without --seed a seed is drawn, "
        "used, printed and recorded in results.json)",
    )
    p.add_argument("--seed", type=int, metavar="S", help="seed of the bootstrap replicates")
    p.add_argument(
        "--calibration",
        choices=("raking", "linear", "logit"),
        default=None,
        help="calibration method with --margins (default raking)",
    )
    p.add_argument(
        "--lonely-psu",
        choices=LONELY_CHOICES,
        default=None,
        help="what to do with a stratum (commune) that has a single PSU (village): fail (default), "
        "remove or certainty (no variance contribution), adjust (centre at the grand mean), "
        "average (average of the other strata); as R's survey.lonely.psu",
    )
    p.add_argument(
        "--area-covariates", metavar="FILE", help="commune-level covariates for the small-area (Fay-Herriot) estimates"
    )
    p.add_argument(
        "--no-small-area",
        dest="small_area",
        action="store_false",
        default=True,
        help="--example: skip the small-area estimates on the bundled synthetic commune covariates",
    )
    p.add_argument(
        "--crosswalk",
        metavar="FILE",
        help="boundary crosswalk (old_unit, village, new_unit, new_name, share): last year is "
        "re-estimated from its microdata on this year's units for the change table",
    )
    p.add_argument(
        "--robustness-draws",
        type=int,
        metavar="N",
        help="draws of the robustness (uncertainty and sensitivity) analysis per scenario, at least "
        "20 (e.g. 200); 0 (default, also for --example) skips it. Seeded by --seed; without it a "
        "seed is drawn, printed and recorded in results.json",
    )
    p.add_argument(
        "--no-drivers",
        dest="drivers",
        action="store_const",
        const=False,
        default=None,
        help="skip the analysis of drivers (average marginal effects)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="report folder (written atomically; replaces only an earlier report of this program; "
        "default for --example: ./happiness_index_report)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_reader_options(p, "", "the survey files (this year's and, unless --previous-..., last year's)", None)
    _add_reader_options(p, "previous_", "last year's survey (--previous-sep, ...)", "default: as this year's")
    _add_reader_options(p, "frame_", "the frame (--frame-sep, ...)", "default: the reader's own defaults")
    p.set_defaults(func=_cmd_run)


def _read_margins(arg) -> dict:
    path = Path(arg)
    if not path.is_file():
        raise _not_a_file(str(arg), "margins")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeError as e:
        raise _UsageError(f"cannot read margins file {arg}: {e}") from None
    fmt = "json" if path.suffix.lower() == ".json" else "toml"
    d = parse_json_or_toml(text, fmt, what="margins file", source=str(arg), error=_UsageError)
    if not isinstance(d, dict) or not d:
        raise _UsageError(f"margins file {arg} must hold {{column: {{category: count}}}}")
    return {k: v for k, v in d.items() if not str(k).startswith("_")}


#: Options of ``run`` that a run file can also give (command line first, then run file, then default).
_RUN_SETTINGS = {
    "survey": None,
    "spec": None,
    "frame": None,
    "margins": None,
    "previous": None,
    "targets": None,
    "year": None,
    "previous_year": None,
    "lang": DEFAULT_LANG,
    "level": 0.95,
    "replicates": None,
    "seed": None,
    "calibration": "raking",
    "lonely_psu": "fail",
    "out": None,
    "area_covariates": None,
    "crosswalk": None,
    "robustness_draws": 0,
    "drivers": True,
}


def run_settings(args) -> dict:
    """The settings of ``run``: command line over run file (``--config``) over defaults.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of ``happiness-index run``.

    Returns
    -------
    dict
        The keys of :data:`_RUN_SETTINGS` (input files as paths), plus ``read_survey``,
        ``read_previous``, ``read_frame`` (reader options), ``report_config``, ``synthetic``
        and ``config`` (the run file's path or None).
    """
    if args.example:
        if args.config:
            raise _UsageError("--example runs on bundled data and takes no --config")
        return _example_settings(args)
    cfg = load_run_file(args.config) if args.config else {}
    s = {}
    for key, default in _RUN_SETTINGS.items():
        cli = getattr(args, key)
        file_key = "language" if key == "lang" else key
        s[key] = cli if cli is not None else cfg.get(file_key, default)
    for key in ("survey", "frame", "margins", "previous", "out", "area_covariates", "crosswalk"):
        if s[key] is not None:
            s[key] = Path(s[key])
    if s["lang"] not in LANGS:
        raise _UsageError(f"language must be one of {', '.join(LANGS)}, got {s['lang']!r}")
    for key, choices in (("calibration", ("raking", "linear", "logit")), ("lonely_psu", LONELY_CHOICES)):
        if s[key] not in choices:
            raise _UsageError(f"{key} must be one of {', '.join(choices)}, got {s[key]!r}")
    read = cfg.get("read", {})
    s["read_survey"] = {**read.get("survey", {}), **_reader_args(args, "")}
    s["read_previous"] = {**s["read_survey"], **read.get("previous", {}), **_reader_args(args, "previous_")}
    s["read_frame"] = {**read.get("frame", {}), **_reader_args(args, "frame_")}
    s["report_config"] = cfg.get("report") or None
    s["synthetic"] = bool(cfg.get("synthetic", False))
    s["config"] = Path(args.config) if args.config else None
    missing = [k for k in ("survey", "spec", "out") if s[k] is None]
    if missing:
        raise _UsageError(
            f"run needs --{', --'.join(missing)} (or --config run.toml, or --example for the bundled demo)"
        )
    return s


def _example_settings(args) -> dict:
    from ..reading.datasets import data_path

    given = [
        n
        for n in (
            "survey",
            "spec",
            "frame",
            "margins",
            "previous",
            "targets",
            "year",
            "previous_year",
        )
        if getattr(args, n) is not None
    ]
    given += [prefix + n for prefix in ("", "previous_", "frame_") for n in _reader_args(args, prefix)]
    if given:
        raise _UsageError(
            f"--example runs on bundled data and takes no --{given[0].replace('_', '-')}; "
            "only --out, --lang, --level, --replicates, --seed, --lonely-psu, --area-covariates, "
            "--no-small-area, --crosswalk, --robustness-draws, --no-drivers and --quiet"
        )
    if args.area_covariates is not None and not args.small_area:
        raise _UsageError("--area-covariates and --no-small-area contradict each other; give one")
    s = {
        key: (getattr(args, key) if getattr(args, key) is not None else default)
        for key, default in _RUN_SETTINGS.items()
    }
    s.update(
        survey=data_path("yen_bai_city_survey_2024.csv"),
        previous=data_path("yen_bai_city_survey_2023.csv"),
        frame=data_path("yen_bai_city_frame.csv"),
        margins=data_path("yen_bai_city_margins.json"),
        spec="yen_bai_nef",
        targets="yen_bai_city_plan",
        out=Path(args.out or "happiness_index_report"),
        read_survey={},
        read_previous={},
        read_frame={},
        report_config=None,
        synthetic=True,
        config=None,
    )
    if args.crosswalk is not None:  # e.g. the bundled ILLUSTRATIVE one: both years re-estimated on its units
        s["crosswalk"] = Path(args.crosswalk)
    if args.area_covariates is not None:
        s["area_covariates"] = Path(args.area_covariates)
    elif args.small_area:  # the bundled SYNTHETIC commune covariates (scripts/make_commune_covariates.py)
        s["area_covariates"] = data_path("yen_bai_city_commune_covariates.csv")
    return s


def _read_previous(path: Path | None, options: dict):
    """Last year's data: a survey file, or last year's results.json (its index)."""
    from ..index.trajectory import previous_results

    if path is None:
        return None
    if path.suffix.lower() != ".json":
        return read_input(path, "previous", options)
    if not path.is_file():
        raise _not_a_file(str(path), "previous")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeError as e:
        raise _UsageError(f"cannot read previous results {path}: {e}") from None
    previous = parse_json_or_toml(text, "json", what="previous results", source=str(path), error=_UsageError)
    previous_results(previous, source=f"--previous {path}")  # refused here, naming the file, when unusable
    return previous


def _load_inputs(s: dict) -> dict:
    """Read every input named by the settings; the ``{role: path}`` of the input files."""
    from ..index.trajectory import Trajectory

    if not 0 < s["level"] < 1:
        raise _UsageError(f"--level must be between 0 and 1 (e.g. 0.95), got {s['level']}")
    if s["replicates"] is not None and s["replicates"] < 2:
        raise _UsageError(f"--replicates must be at least 2, got {s['replicates']}")
    if s["robustness_draws"] < 0:
        raise _UsageError(f"--robustness-draws must be 0 or more, got {s['robustness_draws']}")
    d = {"spec": load_spec(str(s["spec"]))}
    d["survey"] = read_input(s["survey"], "survey", s["read_survey"])
    d["frame"] = read_input(s["frame"], "frame", s["read_frame"]) if s["frame"] else None
    d["margins"] = _read_margins(s["margins"]) if s["margins"] else None
    d["previous"] = _read_previous(s["previous"], s["read_previous"])
    d["area_covariates"] = read_input(s["area_covariates"], "area covariates") if s["area_covariates"] else None
    d["crosswalk"] = read_input(s["crosswalk"], "crosswalk") if s["crosswalk"] else None
    d["targets"] = None
    if s["targets"] is not None:
        try:
            d["targets"] = Trajectory.load(s["targets"])
        except SpecError as e:
            raise _UsageError(f"--targets: {e}") from None
    return d


def _input_paths(s: dict) -> tuple[dict, list]:
    """({role: path} hashed into the provenance, [every input path] protected from the report writer)."""
    hashed = {"survey": s["survey"]}
    for role in ("previous", "frame", "margins", "area_covariates", "crosswalk"):
        if s[role] is not None:
            hashed[role] = s[role]
    protected = list(hashed.values())
    for key in ("spec", "targets", "config"):
        if s[key] is not None and Path(s[key]).is_file():
            protected.append(Path(s[key]))
    return hashed, protected


#: Vietnamese wording of the progress steps of :func:`~happiness_index.report.annual.run_annual`.
PROGRESS_VI = {
    "validated": "đã kiểm tra dữ liệu",
    "validation failed": "dữ liệu không hợp lệ",
    "weighted": "đã tính trọng số",
    "bootstrap replicates": "bộ trọng số lặp bootstrap",
    "index computed": "đã tính chỉ số",
    "previous year computed": "đã tính năm trước",
    "no previous year": "không có số liệu năm trước",
    "compared and assessed": "đã so sánh và đánh giá mục tiêu",
    "report written": "đã ghi báo cáo",
}


def _progress(lang: str, quiet: bool):
    """A progress bar on stderr (only on a terminal) whose step labels follow ``lang``."""
    from .annual import Progress

    class LocalisedProgress(Progress):
        def step(self, label: str) -> None:
            if lang == "vi":
                for en, vi in sorted(PROGRESS_VI.items(), key=lambda kv: -len(kv[0])):
                    label = label.replace(en, vi)
            super().step(label)

    return LocalisedProgress(6, enabled=False if quiet else None)  # None: only on a terminal


def _draw_seed() -> int:
    """A fresh seed from the operating system's entropy (numpy SeedSequence), kept to 32 bits
    so that it can be typed back as ``--seed`` and read by any JSON or spreadsheet reader."""
    import numpy as np

    return int(np.random.SeedSequence().entropy % 2**32)


def _run_annual_kwargs(s: dict, d: dict) -> dict:
    """The analyses' keyword arguments of ``run_annual`` (SECTIONS.md); a clear usage error, never a
    TypeError, when the installed ``run_annual`` lacks one that was asked for."""
    import inspect

    from .annual import run_annual

    params = inspect.signature(run_annual).parameters
    given = {
        "area_covariates": d["area_covariates"],
        "crosswalk": d["crosswalk"],
        "robustness_draws": s["robustness_draws"],
        "drivers": s["drivers"],
        "report_config": s["report_config"],
    }
    asked = {
        "area_covariates": d["area_covariates"] is not None,
        "crosswalk": d["crosswalk"] is not None,
        "robustness_draws": s["robustness_draws"] != 0,
        "drivers": s["drivers"] is not True,
        "report_config": bool(s["report_config"]),
    }
    missing = [k for k in given if k not in params and asked[k]]
    if missing:
        raise _UsageError(f"{', '.join(missing)} not supported by this version of the annual run")
    return {k: v for k, v in given.items() if k in params}


def _cmd_run(args) -> int:
    from ..reading.schema import ValidationReport
    from .annual import run_annual, summary_lines, write_report
    from .outputs import check_report_folder

    s = run_settings(args)
    lang = s["lang"]
    hashed, protected = _input_paths(s)
    try:  # a folder that would be refused is refused now, not after the computation
        check_report_folder(s["out"], protected=protected)
    except HappinessIndexError as e:
        raise _UsageError(str(e)) from None
    except OSError as e:
        raise _UsageError(f"cannot use {s['out']} for the report: {e.strerror or e}") from None
    d = _load_inputs(s)
    seed, drawn = s["seed"], False
    if s["replicates"] and seed is None:
        seed, drawn = _draw_seed(), True
    progress = _progress(lang, args.quiet)
    try:
        run = run_annual(
            d["survey"],
            d["spec"],
            frame=d["frame"],
            margins=d["margins"],
            previous=d["previous"],
            targets=d["targets"],
            year=s["year"],
            previous_year=s["previous_year"],
            replicates=s["replicates"],
            seed=seed,
            level=s["level"],
            calibration_method=s["calibration"],
            progress=progress,
            inputs=hashed,
            synthetic=s["synthetic"],
            lonely_psu=s["lonely_psu"],
            **_run_annual_kwargs(s, d),
        )
    except LonelyPSUError as e:
        if progress.enabled:
            sys.stderr.write("\n")
        raise LonelyPSUError(
            f"{e} On the command line: add --lonely-psu remove, certainty, adjust or average "
            "(see happiness-index run --help)."
        ) from None
    except SchemaError as e:
        report = getattr(e, "report", None)
        if isinstance(report, ValidationReport):
            if progress.enabled:
                sys.stderr.write("\n")
            print(report.format_summary(lang))
            print(
                "the survey fails validation: no report written (fix the rows above; "
                "`happiness-index validate ... --out errors.csv` lists every problem)"
                if lang == "en"
                else "dữ liệu không hợp lệ: chưa ghi báo cáo (sửa các dòng trên; "
                "`happiness-index validate ... --out errors.csv` liệt kê mọi lỗi)"
            )
            return EXIT_INVALID
        raise
    out = s["out"]
    try:
        write_report(run.results, out, lang, protect=protected)
    except HappinessIndexError as e:
        raise _UsageError(str(e)) from None
    except OSError as e:  # never the temporary directory's name: the directory the user asked for
        raise _UsageError(f"cannot write the report to {out}: {e.strerror or e}") from None
    progress.step("report written")
    for line in summary_lines(run.results, lang):
        print(line)
    if drawn:
        print(
            f"seed {seed} drawn for the {s['replicates']} bootstrap replicates (recorded in results.json; "
            f"--seed {seed} repeats this run)"
            if lang == "en"
            else f"hạt giống ngẫu nhiên (seed) {seed} được chọn cho {s['replicates']} bộ trọng số lặp bootstrap (ghi "
            f"trong results.json; --seed {seed} lặp lại đúng lần chạy này)"
        )
    prov = run.results.get("provenance") or {}
    if prov.get("robustness_seed_drawn"):
        rs = prov["robustness_seed"]
        print(
            f"seed {rs} drawn for the robustness analysis (recorded in results.json; --seed {rs} repeats it)"
            if lang == "en"
            else f"hạt giống ngẫu nhiên (seed) {rs} được chọn cho phân tích độ vững (ghi trong results.json; "
            f"--seed {rs} lặp lại đúng phân tích này)"
        )
    print(f"report written to {out.resolve()}" if lang == "en" else f"đã ghi báo cáo vào {out.resolve()}")
    return EXIT_OK


#: Subcommand builders, in the order shown by ``--help``.
_SUBCOMMANDS = [_add_validate, _add_run]


# --------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="happiness-index",
        description="Design-based estimation of a survey-based happiness index.",
        epilog="Exit codes: 0 ok, 1 invalid data, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one clean line (no source file, line number or code)."""
    from .cells import console_text

    text = " ".join(console_text(message).split())  # data quoted in a warning cannot drive the terminal
    kind = "warning" if issubclass(category, UserWarning) else category.__name__
    try:
        (file or sys.stderr).write(f"happiness-index: {kind}: {text}\n")
    except (OSError, ValueError):  # pragma: no cover - stderr closed
        pass


def main(argv=None) -> int:
    """Run the ``happiness-index`` command; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 ok, 1 invalid data, 2 usage error (see the module docstring).
    """
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # argparse: --help/--version (0) or a usage error (2)
            code = int(e.code) if isinstance(e.code, int) else EXIT_USAGE
        else:
            if getattr(args, "func", None) is None:
                parser.print_usage(sys.stderr)
                print("happiness-index: error: choose a command (see --help)", file=sys.stderr)
                return EXIT_USAGE
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        # the reader went away (``happiness-index ... | head``): stop quietly, as cat/grep do
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("\nhappiness-index: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the final flush at exit cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests, IDEs)
        pass


def _dispatch(args) -> int:
    """Run the chosen subcommand and turn refusals into one ``error:`` line and an exit code."""
    from .cells import console_text  # messages quote data: no control character reaches the terminal

    lang = getattr(args, "lang", None) or DEFAULT_LANG
    vi = lang == "vi"
    try:
        return int(args.func(args))
    except BrokenPipeError:
        raise  # handled quietly by main()
    except _UsageError as e:
        print(f"happiness-index: error: {console_text(e)}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as e:  # includes FormulaError: the spec given is unusable
        what = "đặc tả không hợp lệ" if vi else "invalid spec"
        print(f"happiness-index: error: {what}: {console_text(e.message(lang))}", file=sys.stderr)
        return EXIT_USAGE
    except (HappinessIndexError, UnicodeError) as e:  # DataFileError, SchemaError, ...
        unreadable = isinstance(e, (DataFileError, UnicodeError))
        kind = (
            ("không đọc được dữ liệu" if vi else "cannot read data")
            if unreadable
            else ("dữ liệu không hợp lệ" if vi else "invalid data")
        )
        text = e.message(lang) if isinstance(e, HappinessIndexError) else str(e)
        print(f"happiness-index: error: {kind}: {console_text(text)}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as e:
        what = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
        print(f"happiness-index: error: {console_text(what)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
