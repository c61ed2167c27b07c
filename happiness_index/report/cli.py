"""The ``happiness-index`` command.

Subcommands
-----------
``validate SURVEY --spec SPEC [--frame FRAME] [--out errors.csv] [--lang en|vi]``
    Check a survey file against an index specification (and the sampling frame); print a
    short table of problems by kind; write every problem to ``--out`` (CSV, UTF-8 with a
    byte-order mark so that Excel shows Vietnamese correctly).

``run --survey FILE --spec SPEC [--frame F] [--margins F] [--previous F] [--targets T] [--lonely-psu RULE] --out DIR``
    The annual main job: validate, weight, index with CIs for the city and communes, compare
    with the previous year and the targets, write the report (``run --example``: bundled
    synthetic data). See :mod:`happiness_index.report`.

Exit codes
----------
0  success (for ``validate``: the data are clean)
1  invalid data: problems found, or a data file that cannot be read
2  usage error: bad arguments, a file named on the command line that cannot be opened,
   an invalid spec
141  the reader of stdout went away (``happiness-index ... | head``): nothing more is
   printed, no error message (128 + SIGPIPE, as shells report a process killed by SIGPIPE)

The progress bar of ``run`` is drawn on stderr only when stderr is a terminal. The
terminal summary follows ``--lang``.

A refusal of the library (:class:`~happiness_index.errors.HappinessIndexError`), an
``OSError`` or a ``UnicodeError`` is printed as one ``error:`` line on stderr, never as a
Python traceback.

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

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
#: Exit code when stdout is a closed pipe (``... | head``): 128 + SIGPIPE, as a shell reports it.
EXIT_BROKEN_PIPE = 141
#: Choices of ``run --lonely-psu`` (the ``lonely_psu`` rules of :class:`SurveyDesign`).
LONELY_CHOICES = ("fail", "remove", "adjust", "average", "certainty")


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


def read_input(arg: str, what: str):
    """Read a data file named on the command line (a missing file or a directory is a usage error)."""
    from ..reading.files import read_survey

    if not Path(arg).is_file():
        raise _not_a_file(arg, what)
    return read_survey(arg)


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
    p.add_argument("survey", metavar="SURVEY",
                   help="survey file (.csv, .xlsx, .sav, .dta, .parquet)")
    p.add_argument("--spec", required=True, metavar="SPEC", help=_spec_help())
    p.add_argument("--frame", metavar="FRAME",
                   help="sampling frame file: commune code, optional commune name and village columns "
                        "named as in the spec's [design] table")
    p.add_argument("--out", metavar="ERRORS_CSV",
                   help="write every problem, then every coercion note (kind 'coercion (note)'), to this "
                        "CSV file (UTF-8 with BOM; columns row, row_number, column, value, check, kind, "
                        "message_en, message_vi)")
    p.add_argument("--id-column", metavar="COLUMN", help="respondent id column (default: the spec's)")
    p.add_argument("--lang", choices=("en", "vi"), default="en", help="language of the summary")
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
            raise _UsageError(f"--out {out} is the {role} file {path}; an input file is never overwritten: "
                              "choose another file for the list of problems")


def _cmd_validate(args) -> int:
    from ..reading.schema import validate_survey

    if args.out:
        _refuse_overwriting_inputs(args.out, {"survey": args.survey, "frame": args.frame, "spec": args.spec})
    spec = load_spec(args.spec)
    data = read_input(args.survey, "survey")
    frame = read_input(args.frame, "frame") if args.frame else None
    report = validate_survey(data, spec, frame, id_column=args.id_column)
    print(report.format_summary(args.lang))
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            raise _UsageError(f"--out {out} is a directory; give the name of a CSV file for the problems")
        table = report.to_frame(coercions=True)
        try:
            table.to_csv(out, index=False, encoding="utf-8-sig")
        except OSError as e:
            raise _UsageError(f"cannot write the list of problems to {out}: {e.strerror or e}") from None
        npb, nco = len(report.errors), len(report.coercions)
        if args.lang == "en":
            what = f"{npb} problem{'' if npb == 1 else 's'}"
            if nco:
                what += f" and {nco} coercion note{'' if nco == 1 else 's'} (kind 'coercion (note)')"
            print(f"wrote {what} to {out}")
        else:
            what = f"{npb} lỗi" + (f" và {nco} ghi chú chuyển đổi kiểu (loại 'coercion (note)')" if nco else "")
            print(f"đã ghi {what} vào {out}")
    return EXIT_OK if report.ok else EXIT_INVALID


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
                    "`happiness-index run --example` runs it on the bundled SYNTHETIC Yen Bai city survey.",
    )
    p.add_argument("--example", action="store_true",
                   help="run on the bundled synthetic two-year survey of Yen Bai city (no other input)")
    p.add_argument("--survey", metavar="FILE", help="this year's survey file (.csv, .xlsx, .sav, .dta, .parquet)")
    p.add_argument("--spec", metavar="SPEC", help=_spec_help())
    p.add_argument("--frame", metavar="FRAME", help="sampling frame file, for validation")
    p.add_argument("--margins", metavar="FILE",
                   help="population margins for calibration: JSON or TOML {column: {category: count}}")
    p.add_argument("--previous", metavar="FILE",
                   help="last year's survey file (or last year's results.json) for the year-on-year change")
    p.add_argument("--targets", metavar="NAME|FILE",
                   help="target set: yen_bai_city_plan, yen_bai_province, or a TOML/JSON file "
                        "(default: the spec's [[targets]])")
    p.add_argument("--year", type=int, help="survey year (selects rows when the file has a 'year' column)")
    p.add_argument("--previous-year", type=int, help="previous year (rows of --previous, or of --survey)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi", help="language of the report (default vi)")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--replicates", type=int, metavar="N", help="bootstrap replicate variance with N replicates")
    p.add_argument("--seed", type=int, metavar="S", help="seed of the bootstrap replicates")
    p.add_argument("--calibration", choices=("raking", "linear", "logit"), default="raking",
                   help="calibration method with --margins (default raking)")
    p.add_argument("--lonely-psu", choices=LONELY_CHOICES, default="fail",
                   help="what to do with a stratum (commune) that has a single PSU (village): fail (default), "
                        "remove or certainty (no variance contribution), adjust (centre at the grand mean), "
                        "average (average of the other strata); as R's survey.lonely.psu")
    p.add_argument("--out", metavar="DIR", help="report directory (written atomically; default for --example: "
                                                "./happiness_index_report)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)


def _read_margins(arg: str) -> dict:
    import json
    import tomllib

    path = Path(arg)
    if not path.is_file():
        raise _not_a_file(arg, "margins")
    try:
        text = path.read_text(encoding="utf-8")
        d = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, UnicodeError) as e:
        raise _UsageError(f"cannot read margins file {arg}: {e}") from None
    if not isinstance(d, dict) or not d:
        raise _UsageError(f"margins file {arg} must hold {{column: {{category: count}}}}")
    return {k: v for k, v in d.items() if not str(k).startswith("_")}


def _cmd_run(args) -> int:
    from ..reading.datasets import data_path
    from .annual import Progress, run_annual, summary_lines, write_report
    from ..reading.schema import ValidationReport
    from ..index.trajectory import Trajectory

    synthetic = False
    if args.example:
        given = [n for n in ("survey", "spec", "frame", "margins", "previous", "targets", "year", "previous_year")
                 if getattr(args, n) is not None]
        if given:
            raise _UsageError(f"--example runs on bundled data and takes no --{given[0].replace('_', '-')}; "
                              "only --out, --lang, --level, --replicates, --seed, --lonely-psu and --quiet")
        survey_path, previous_path = data_path("yen_bai_city_survey_2024.csv"), data_path("yen_bai_city_survey_2023.csv")
        frame_path, margins_path = data_path("yen_bai_city_frame.csv"), data_path("yen_bai_city_margins.json")
        spec_arg, targets_arg = "yen_bai_nef", "yen_bai_city_plan"
        out = Path(args.out or "happiness_index_report")
        synthetic = True
    else:
        missing = [n for n in ("survey", "spec", "out") if getattr(args, n) is None]
        if missing:
            raise _UsageError(f"run needs --{', --'.join(missing)} (or --example for the bundled demo)")
        survey_path, previous_path = Path(args.survey), (Path(args.previous) if args.previous else None)
        frame_path = Path(args.frame) if args.frame else None
        margins_path = Path(args.margins) if args.margins else None
        spec_arg, targets_arg, out = args.spec, args.targets, Path(args.out)
    if not 0 < args.level < 1:
        raise _UsageError(f"--level must be between 0 and 1 (e.g. 0.95), got {args.level}")
    if args.replicates is not None and args.replicates < 2:
        raise _UsageError(f"--replicates must be at least 2, got {args.replicates}")

    spec = load_spec(spec_arg)
    survey = read_input(str(survey_path), "survey")
    frame = read_input(str(frame_path), "frame") if frame_path else None
    margins = _read_margins(str(margins_path)) if margins_path else None
    previous = None
    if previous_path is not None:
        if previous_path.suffix.lower() == ".json":
            import json

            if not previous_path.is_file():
                raise _not_a_file(str(previous_path), "previous")
            previous = json.loads(previous_path.read_text(encoding="utf-8"))
            previous = {**previous.get("index", {}), "year": previous.get("year")}
        else:
            previous = read_input(str(previous_path), "previous")
    targets = None
    if targets_arg is not None:
        try:
            targets = Trajectory.load(targets_arg)
        except SpecError as e:
            raise _UsageError(f"--targets: {e}") from None
    inputs = {"survey": survey_path}
    for role, pth in (("previous", previous_path), ("frame", frame_path), ("margins", margins_path)):
        if pth is not None:
            inputs[role] = pth
    progress = Progress(6, enabled=False if args.quiet else None)  # None: only on a terminal
    try:
        run = run_annual(survey, spec, frame=frame, margins=margins, previous=previous, targets=targets,
                         year=args.year, previous_year=args.previous_year, replicates=args.replicates,
                         seed=args.seed, level=args.level, calibration_method=args.calibration,
                         progress=progress, inputs=inputs, synthetic=synthetic, lonely_psu=args.lonely_psu)
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
            print(report.format_summary(args.lang))
            print("the survey fails validation: no report written (fix the rows above; "
                  "`happiness-index validate ... --out errors.csv` lists every problem)" if args.lang == "en" else
                  "dữ liệu không hợp lệ: chưa ghi báo cáo (sửa các dòng trên; "
                  "`happiness-index validate ... --out errors.csv` liệt kê mọi lỗi)")
            return EXIT_INVALID
        raise
    try:
        write_report(run.results, out, args.lang, protect=list(inputs.values()))
    except HappinessIndexError as e:
        raise _UsageError(str(e)) from None
    except OSError as e:  # never the temporary directory's name: the directory the user asked for
        raise _UsageError(f"cannot write the report to {out}: {e.strerror or e}") from None
    progress.step("report written")
    for line in summary_lines(run.results, args.lang):
        print(line)
    print(f"report written to {out.resolve()}" if args.lang == "en" else f"đã ghi báo cáo vào {out.resolve()}")
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
    text = " ".join(str(message).split())
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
    try:
        return int(args.func(args))
    except BrokenPipeError:
        raise  # handled quietly by main()
    except _UsageError as e:
        print(f"happiness-index: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as e:  # includes FormulaError: the spec given is unusable
        print(f"happiness-index: error: invalid spec: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (HappinessIndexError, UnicodeError) as e:  # DataFileError, SchemaError, ...
        kind = "cannot read data" if isinstance(e, (DataFileError, UnicodeError)) else "invalid data"
        print(f"happiness-index: error: {kind}: {e}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as e:
        what = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
        print(f"happiness-index: error: {what}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
