"""The ``happiness-index`` command.

Subcommands
-----------
``validate SURVEY --spec SPEC [--frame FRAME] [--out errors.csv] [--lang en|vi]``
    Check a survey file against an index specification (and the sampling frame); print a
    short table of problems by kind; write every problem to ``--out`` (CSV, UTF-8 with a
    byte-order mark so that Excel shows Vietnamese correctly).

Exit codes
----------
0  success (for ``validate``: the data are clean)
1  invalid data: problems found, or a data file that cannot be read
2  usage error: bad arguments, a file named on the command line that cannot be opened,
   an invalid spec

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
from pathlib import Path

from .errors import DataFileError, HappinessIndexError, SpecError

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    """Raised by a subcommand for a problem with how it was called (exit code 2)."""


# --------------------------------------------------------------------------------------
# shared helpers for subcommands
# --------------------------------------------------------------------------------------
def load_spec(arg: str):
    """An IndexSpec from a TOML path, or the name of a bundled spec (``yen_bai_nef``)."""
    from .spec import IndexSpec, bundled_spec_path

    p = Path(arg)
    if p.is_file():
        return IndexSpec.from_toml(p)
    if p.suffix in ("", ".toml") and p.parent == Path("."):
        try:
            return IndexSpec.from_toml(bundled_spec_path(arg))
        except SpecError:
            pass
    raise _UsageError(f"spec file not found: {arg} (give a TOML path, or a bundled spec name "
                      "such as yen_bai_nef or gnh_alkire_foster)")


def read_input(arg: str, what: str):
    """Read a data file named on the command line (a missing file is a usage error)."""
    from .io import read_survey

    if not Path(arg).is_file():
        raise _UsageError(f"{what} file not found: {arg}")
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
    p.add_argument("--spec", required=True, metavar="SPEC",
                   help="index spec: a TOML file or a bundled name (yen_bai_nef, gnh_alkire_foster)")
    p.add_argument("--frame", metavar="FRAME",
                   help="sampling frame file: commune code, optional commune name and village columns "
                        "named as in the spec's [design] table")
    p.add_argument("--out", metavar="ERRORS_CSV",
                   help="write every problem to this CSV file (UTF-8 with BOM)")
    p.add_argument("--id-column", metavar="COLUMN", help="respondent id column (default: the spec's)")
    p.add_argument("--lang", choices=("en", "vi"), default="en", help="language of the summary")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args) -> int:
    from .schema import validate_survey

    spec = load_spec(args.spec)
    data = read_input(args.survey, "survey")
    frame = read_input(args.frame, "frame") if args.frame else None
    report = validate_survey(data, spec, frame, id_column=args.id_column)
    print(report.format_summary(args.lang))
    if args.out:
        out = Path(args.out)
        report.errors.to_csv(out, index=False, encoding="utf-8-sig")
        print(f"wrote {len(report.errors)} problems to {out}" if args.lang == "en"
              else f"đã ghi {len(report.errors)} lỗi vào {out}")
    return EXIT_OK if report.ok else EXIT_INVALID


#: Subcommand builders, in the order shown by ``--help``.
_SUBCOMMANDS = [_add_validate]


# --------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from . import __version__

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
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help/--version (0) or a usage error (2)
        return int(e.code) if isinstance(e.code, int) else EXIT_USAGE
    if getattr(args, "func", None) is None:
        parser.print_usage(sys.stderr)
        print("happiness-index: error: choose a command (see --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
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
        print(f"happiness-index: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
