"""Reading survey files: CSV, Excel, SPSS, Stata and Parquet.

:func:`read_survey` picks the reader from the file extension and returns a DataFrame with
NFC-normalised column names without surrounding spaces (:func:`column_key`: ``"weight "`` is
read as ``weight``; two headers with the same key are refused), ready for :func:`happiness_index.validate_survey`.

=============  ==================================================  =====================
extension      reader                                              needs
=============  ==================================================  =====================
.csv .tsv      pandas; UTF-8 or UTF-8 with BOM (Excel's "CSV       (core)
.txt           UTF-8"); undecodable bytes -> DataFileError naming
               the line; delimiter detected (``,`` ``;`` tab
               ``|``); rows with the wrong number of fields ->
               DataFileError naming the line
.csv.gz        the same text files compressed (gzip, bzip2, xz,   (core: gzip, bz2,
.csv.bz2       zip with one text file, or a bare ``.zip`` holding  lzma, zipfile)
.csv.xz        one); decompressed in memory first, then the same
.csv.zip       checks, with line numbers of the decompressed text
.xlsx .xlsm    pandas + openpyxl; ``sheet=`` chooses the sheet     openpyxl (core)
.sav .zsav     pyreadstat (value labels kept in ``df.attrs``)      ``[io]`` extra
.dta           pyreadstat (value labels kept in ``df.attrs``)      ``[io]`` extra
.parquet .pq   pandas + pyarrow                                    ``[io]`` extra
=============  ==================================================  =====================
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import re
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataFileError, HappinessIndexWarning
from .numbers import EXCEL_ERRORS, MISSING_TOKENS, locale_problem, number_shapes

__all__ = [
    "read_survey",
    "column_key",
    "TextOptions",
    "SUPPORTED_EXTENSIONS",
    "COMPRESSED_EXTENSIONS",
    "CSV_DELIMITERS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RATIO",
]

_CSV = (".csv", ".tsv", ".txt")
_EXCEL = (".xlsx", ".xlsm")
_SPSS = (".sav", ".zsav")
_STATA = (".dta",)
_PARQUET = (".parquet", ".pq")
#: File extensions understood by :func:`read_survey`.
SUPPORTED_EXTENSIONS = _CSV + _EXCEL + _SPSS + _STATA + _PARQUET
#: Compression suffixes understood for text files (``survey.csv.gz``), with the compression
#: they stand for; a bare ``.zip`` holding one text file is read too.
COMPRESSED_EXTENSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_COMPRESSIONS = frozenset(COMPRESSED_EXTENSIONS.values())
# signatures of compressed data, to explain a compressed file named .csv
_MAGIC = (
    (re.compile(rb"\x1f\x8b"), "gzip", ".gz"),
    (re.compile(rb"BZh[1-9]1AY&SY"), "bzip2", ".bz2"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz", ".xz"),
    (re.compile(rb"PK\x03\x04"), "zip (an Excel .xlsx workbook is a zip too)", ".zip"),
)
# signatures of other file formats (and of UTF-16 text) named like a text file: what it is, the fix
_FORMATS = (
    (
        re.compile(rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
        "it starts like an old Excel .xls workbook (OLE2); open it in Excel and save it as .xlsx or as 'CSV UTF-8'",
    ),
    (re.compile(rb"\$FL[23]"), "it starts like an SPSS data file; name it .sav"),
    (re.compile(rb"PAR1"), "it starts like a Parquet file; name it .parquet"),
    (
        re.compile(rb"\xff\xfe|\xfe\xff"),
        "it is UTF-16 text (Excel's 'Unicode Text'); pass encoding='utf-16' or save it as 'CSV UTF-8'",
    ),
)
#: Field delimiters tried, in this order of preference, when a text file is read without ``sep``.
CSV_DELIMITERS = (",", ";", "\t", "|")

_INSTALL = (
    'install the optional readers with: pip install "happiness_index[io]" (from a clone of the '
    'repository: pip install ".[io]")'
)
# read_csv options that change which line is the header or how lines are split into fields;
# when the caller passes one of them the field-count check is left to pandas.
_STRUCTURAL = frozenset(
    {
        "header",
        "names",
        "skiprows",
        "comment",
        "index_col",
        "usecols",
        "nrows",
        "skipfooter",
        "quoting",
        "quotechar",
        "escapechar",
        "lineterminator",
        "engine",
        "skip_blank_lines",
        "dialect",
        "doublequote",
        "skipinitialspace",
        "delim_whitespace",
    }
)
_SNIFF_LINES = 50
#: Default ``max_bytes`` of :func:`read_survey`: the largest text read (after decompression).
DEFAULT_MAX_BYTES = 256 * 2**20
#: Default ``max_ratio`` of :func:`read_survey`: the largest expansion of a compressed file.
DEFAULT_MAX_RATIO = 200
_RATIO_FLOOR = 16 * 2**20  # the expansion ratio is checked once the text passes this size
_CHUNK = 2**20
_EXCEL_XML_FACTOR = 4
_FAST_MAX_CHARS = 200_000_000
_TITLE_LOOKAHEAD = 30  # lines (or rows) searched for the column names below a title
_NUMBER_LIKE = re.compile(r"[+-]?[\d.,\s]*\d[\d.,\s]*(?:[eE][+-]?\d+)?")


def _nfc(s) -> str:
    return unicodedata.normalize("NFC", str(s))


def column_key(name) -> str:
    """The name a column header is known by: Unicode NFC, surrounding whitespace removed.

    Parameters
    ----------
    name : object
        A column header as read from a file or a DataFrame (converted with ``str``).

    Returns
    -------
    str
        ``"weight "``, ``" weight"`` and ``"weight"`` are one name; so are a name typed in
        decomposed Unicode (NFD) and its composed form. A header of spaces only keeps its spaces
        (it is not the empty name).

    Notes
    -----
    :func:`read_survey` renames the columns to this form and refuses two headers with the same
    key; :func:`~happiness_index.validate_survey` matches the spec's names by it.
    """
    s = unicodedata.normalize("NFC", str(name))
    return s.strip() or s


def _delim_name(sep: str) -> str:
    return {"\t": "tab ('\\t')", ",": "comma (',')", ";": "semicolon (';')", "|": "bar ('|')"}.get(sep, repr(sep))


def _need(module: str, path: Path, what: str):
    try:
        return __import__(module)
    except ImportError:
        raise DataFileError(
            f"cannot read {path.name}: reading {what} files needs the package "
            f"{module!r}, which is not installed; {_INSTALL}"
        ) from None


def _as_path(path) -> Path:
    if path is None or not isinstance(path, (str, os.PathLike)):
        raise DataFileError(
            f"read_survey needs the path of a survey file (str or Path), got {type(path).__name__} {path!r}"
        )
    p = Path(path)
    if str(path) == "":
        raise DataFileError("read_survey needs the path of a survey file, got an empty string")
    return p


def read_survey(
    path,
    *,
    sep=None,
    decimal=None,
    thousands=None,
    encoding=None,
    sheet=None,
    header_row=None,
    max_bytes=DEFAULT_MAX_BYTES,
    max_ratio=DEFAULT_MAX_RATIO,
    **kw,
) -> pd.DataFrame:
    """Read a survey file into a DataFrame.

    Parameters
    ----------
    path : str or path-like
        The file; the format is chosen from its extension (see the module docstring). Text
        files may be compressed: ``survey.csv.gz``, ``.csv.bz2``, ``.csv.xz``, ``.csv.zip``
        (and the same for ``.tsv`` and ``.txt``), or a bare ``survey.zip`` holding one text
        file.
    sep : str, optional
        Text files only: the field delimiter. Default: detected among ``,`` ``;`` tab ``|``
        (a warning says which when it is not the one the extension implies).
    decimal : {".", ","}, optional
        Text and Excel files: the decimal mark of numbers. Default ``"."`` (not declared).
        In a workbook it applies to cells holding numbers typed as text (``"1.234,5"``),
        which validation then converts (and lists as coercions); number cells are numbers.
    thousands : {".", ",", " ", None}, optional
        Text and Excel files: the thousands separator of numbers. Default None (none). Files saved
        by Excel in the Vietnamese locale separate fields with ``;``, write ``19,25`` for
        nineteen and a quarter and ``1.925`` for one thousand nine hundred and twenty-five:
        read them with ``decimal=",", thousands="."``. The number format is never guessed:
        see Notes. The format used is recorded in ``df.attrs["decimal"]``,
        ``df.attrs["thousands"]`` and ``df.attrs["number_format"]`` (``"declared"`` or
        ``"default"``).
    encoding : str, optional
        Text files only: the character encoding. Default UTF-8 (with or without BOM); e.g.
        ``encoding="cp1258"`` for files saved by old Vietnamese Windows software.
    sheet : str or int, optional
        Excel files only: the sheet to read, by name or 0-based position. When omitted and
        the workbook has several sheets, the first sheet is read and a
        :class:`~happiness_index.errors.HappinessIndexWarning` names all the sheets (pass
        ``sheet=`` to choose one and silence it). ``sheet_name=`` (the pandas spelling)
        is accepted as an alias.
    header_row : int, optional
        Text and Excel files: the **1-based** line (text) or row (Excel, as Excel numbers
        rows) that holds the column names; the lines above it (titles, notes) are skipped.
        Default: the first non-blank line. When the first line looks like a title (one
        filled cell, or fewer than half the cells of the rows below) and a later line looks
        like column names, the file is refused with a message saying on which line the
        names seem to be.
    max_bytes : int or None, default :data:`DEFAULT_MAX_BYTES` (256 MiB)
        The largest text read (after decompression), or file on disk (SPSS, Stata,
        Parquet); for Excel, 4 times this for the workbook's uncompressed XML, and for
        Parquet 4 times this in memory (8 bytes a cell, from the file's row and column counts). Larger files are refused with
        :class:`~happiness_index.errors.DataFileError` before they exhaust memory; pass a
        larger number, or None for no limit, to read them.
    max_ratio : float or None, default :data:`DEFAULT_MAX_RATIO` (200)
        Compressed text files: the largest expansion (decompressed size / compressed size)
        accepted once the decompressed text passes 16 MiB (a "zip bomb"). None: no limit.
    **kw
        Passed to the underlying reader (``pandas.read_csv``, ``pandas.read_excel``,
        ``pyreadstat.read_sav``/``read_dta``, ``pandas.read_parquet``). ``compression``
        (``"gzip"``, ``"bz2"``, ``"xz"``, ``"zip"``, None or the default ``"infer"``, from the
        suffix) overrides the suffix for text files. For SPSS files ``user_missing``
        defaults to True (see Notes).

    Returns
    -------
    DataFrame
        Column names normalised to Unicode NFC without surrounding spaces (:func:`column_key`;
        cell values are left as read; validation compares text after NFC). ``df.attrs["source"]`` is the path. For text files
        ``df.attrs["delimiter"]`` is the field delimiter used, ``df.attrs["decimal"]``,
        ``df.attrs["thousands"]`` and ``df.attrs["number_format"]`` the number format, and for
        compressed ones ``df.attrs["compression"]`` the compression (``"gzip"``, ``"bz2"``,
        ``"xz"``, ``"zip"``; ``df.attrs["member"]`` the file read from a zip archive); for
        Excel files ``df.attrs["sheet"]`` is the name of the sheet read;
        ``df.attrs["header_row"]`` is the 1-based line or row of the column names (text and
        Excel). ``df.attrs["blank_rows_dropped"]`` counts the trailing blank rows dropped
        (every format). For SPSS and Stata files, value labels are kept in
        ``df.attrs["value_labels"]`` (column -> {code: label}) and variable labels in
        ``df.attrs["column_labels"]`` (column -> label); codes are not replaced by labels; for
        SPSS, ``df.attrs["user_missing"]`` holds the declared user-missing values (column ->
        list of values or ``(low, high)`` ranges).

    Raises
    ------
    DataFileError
        The path is missing (``None``), does not exist, is a directory or cannot be
        opened (the message names the path); unknown extension (the message lists the
        supported ones); a compressed file that is damaged, truncated or not compressed the
        way its suffix says (the message says which), a zip archive with no text file or
        several files, or a compressed Excel/SPSS/Stata/Parquet file; a file past
        ``max_bytes`` or ``max_ratio``, or one that exhausts memory; a text file that is not
        UTF-8 (the message names every bad line and the fix; a compressed file named ``.csv``
        is recognised and the message says to rename it; so are an old Excel ``.xls``
        workbook, an SPSS or Parquet file and UTF-16 text named like a text file, and a text
        file holding NUL bytes, which is binary data, not a table of text); an empty text
        file (no header line); a data row whose number of fields differs from the header's
        (the message names the line and both counts); two columns with the same name in the
        file's header, exactly, after NFC normalisation or without surrounding spaces (every format; the message names
        both positions); a title line above the column names without ``header_row``; a
        column whose numbers do not read unambiguously under the number format (see Notes);
        ``sheet`` not in the workbook (the message lists the sheets); ``sep``, ``decimal``,
        ``thousands``, ``encoding``, ``sheet`` or ``header_row`` given for a format they do
        not apply to, or invalid; a file the reader cannot parse; an optional reader
        (pyreadstat, pyarrow) that is not installed (the message says
        ``pip install happiness_index[io]``).

    Warns
    -----
    HappinessIndexWarning
        A text file whose delimiter was detected and is not the one its extension implies
        (``,`` for .csv/.txt, tab for .tsv): the message says which delimiter was used. A
        workbook with several sheets and no ``sheet``. Formula cells with no saved (cached)
        value -- a workbook written by a program rather than saved by Excel -- which pandas
        reads as missing: the message names the cells. Trailing blank rows dropped (how
        many).

    Notes
    -----
    Number format of text files. Without ``decimal`` and ``thousands`` a comma-separated
    file is read with the decimal point and no thousands separator, as pandas does. Any
    other file (``;``, tab, ``|``), or any file with a declared format, is checked column by
    column: a column of numbers is refused, with its name, example values and the fix,
    when a value does not read under the format used (``1.925`` with ``decimal=","`` and no
    thousands separator; ``19.5`` with ``thousands="."``; ``19,25`` without ``decimal``),
    and -- when no format was declared -- when its values could be read two ways
    (``1.925``: 1925 with a thousands separator, or 1.925) and no value of the column
    settles it (``19.25``). Excel, SPSS, Stata and Parquet files store numbers, not text.

    Text files. Excel writes "CSV UTF-8" with a byte-order mark (BOM); it is removed, so
    the first column name is not polluted by ``\\ufeff``. Without ``sep`` the delimiter is
    detected from the first 50 lines: among ``,`` ``;`` tab ``|``, the one that splits the
    header into several fields and gives every sampled data row the header's field count
    (ties -> more fields, then the order above). Every data row must have as many fields as
    the header; a trailing delimiter at the end of rows (``1,2.5,4,``), which some
    exporters write, is allowed and dropped -- it never shifts the columns (pandas alone
    would turn the first column into the row index). A row with more non-empty fields, or
    fewer fields, than the header raises :class:`DataFileError` naming the line: pandas
    would otherwise drop or pad values silently. The check counts delimiters per line
    with numpy when the file uses no quoting and every line has the header's count (the
    usual case); otherwise it takes one pass of Python's C ``csv`` tokenizer, which also
    gives the exact line number of a bad row. The check is skipped when a ``**kw``
    option re-defines the header or the tokenising (``header``, ``names``, ``skiprows``,
    ``comment``, ``usecols``, ``quotechar`` ...). Rows of bare delimiters (``;;;;``) at the
    end of the file, and fully blank rows at the end of a sheet, are dropped and counted.

    Excel error values (``#N/A``, ``#DIV/0!``, ``#VALUE!``, ``#REF!``, ``#NAME?``, ``#NUM!``,
    ``#NULL!``) are kept as text, in text and Excel files (pandas would read ``#N/A`` as a
    blank): validation names them as Excel errors.

    Compressed text files are decompressed in memory in 1 MiB steps (Python's ``gzip``,
    ``bz2``, ``lzma`` and ``zipfile``), stopping at ``max_bytes`` or ``max_ratio``, and then
    go through exactly the same steps -- BOM, decoding with line numbers, delimiter
    detection, field-count check -- so line numbers in messages are those of the
    decompressed text (what ``gunzip`` or unzipping gives). A zip archive must hold one
    file (folders and macOS ``__MACOSX/`` entries are ignored), or one named like the
    archive without ``.zip``; messages then name ``archive.zip (member.csv)``.

    Excel. Formulas are read as the value Excel saved with them; a workbook produced by a
    script (openpyxl, xlsxwriter) and never opened in Excel has no saved values, so those
    cells are missing -- open and save the file in Excel, or paste values.

    SPSS. Values declared user-missing in the file (e.g. 8 = don't know) are read as the
    values they are (``pyreadstat``'s ``user_missing=True``) and listed in
    ``df.attrs["user_missing"]``; the index spec decides which codes are missing, so a code
    the spec does not allow is reported by validation instead of vanishing as a blank.
    """
    path = _as_path(path)
    kw = dict(kw)
    if path.is_dir():  # before the extension: a directory is never a file type
        raise DataFileError(f"survey path is a directory, not a file: {path}")
    ext, compression = _file_type(path, kw)
    if not path.exists():
        raise DataFileError(f"survey file not found: {path}")
    member = None
    if compression == "zip":
        member = _zip_member(path)
        if ext is None:  # a bare .zip: the file inside says what it is
            ext = Path(member).suffix.lower()
            if ext not in _CSV:
                raise DataFileError(
                    f"{path.name}: the zip archive holds {member!r}; only text files (.csv, .tsv, "
                    ".txt) are read from a zip archive: unzip it and read the file itself"
                )
    if "sheet_name" in kw:
        if sheet is not None:
            raise DataFileError("give the Excel sheet once: sheet= or sheet_name=, not both")
        sheet = kw.pop("sheet_name")
    if "delimiter" in kw:
        d = kw.pop("delimiter")
        sep = d if sep is None else sep
    text_opts = TextOptions(
        sep=sep, decimal=decimal, thousands=thousands, encoding=encoding, header_row=_check_header_row(header_row)
    )
    _check_applicable(path, ext, text_opts, sheet)
    limits = (_check_limit(max_bytes, "max_bytes"), _check_limit(max_ratio, "max_ratio"))
    attrs: dict = {}
    try:
        df = _read_any(path, ext, compression, member, text_opts, sheet, limits, kw, attrs)
    except (DataFileError, UnicodeError):
        raise
    except MemoryError:
        raise DataFileError(
            f"{path.name}: the computer ran out of memory reading this file "
            f"({path.stat().st_size:,} bytes on disk); check that it is the survey table, or read "
            "it on a computer with more memory"
        ) from None
    except OSError as e:
        raise DataFileError(f"cannot open survey file {path}: {e.strerror or e}") from None
    except Exception as e:  # the readers' own parse errors
        raise DataFileError(f"cannot read {path.name} as {ext} data: {type(e).__name__}: {e}") from e
    _check_names(list(df.columns), path.name, ext)
    df.columns = [column_key(c) for c in df.columns]
    df = _drop_trailing_blank_rows(df, path.name, attrs)
    df.attrs.update(attrs)
    df.attrs["source"] = str(path)
    df.attrs["rows_read"] = len(df)  # attrs follow a frame through filters: this tells the rows as read
    return df


@dataclass(frozen=True)
class TextOptions:
    """How a text file is split into fields and numbers (see :func:`read_survey`)."""

    sep: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    encoding: str | None = None
    header_row: int | None = None


def _check_header_row(header_row):
    if header_row is None:
        return None
    if isinstance(header_row, bool) or not isinstance(header_row, (int, np.integer)) or header_row < 1:
        raise DataFileError(
            f"header_row must be the 1-based number of the line (or Excel row) holding "
            f"the column names, e.g. header_row=3; got {header_row!r}"
        )
    return int(header_row)


def _check_limit(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0:
        raise DataFileError(f"{name} must be a positive number (or None for no limit), got {value!r}")
    return value


def _check_applicable(path: Path, ext: str, o: TextOptions, sheet) -> None:
    """Options given for a format they do not apply to, and invalid number formats."""
    if sheet is not None and ext not in _EXCEL:
        raise DataFileError(
            f"{path.name}: sheet={sheet!r} applies to Excel files (.xlsx, .xlsm) only; this is a {ext} file"
        )
    if ext not in _CSV:
        # a workbook's cells may hold numbers typed as text ("1.234,5"): the number format reads them
        text_only = ("sep", "encoding") if ext in _EXCEL else ("sep", "decimal", "thousands", "encoding")
        for opt in text_only:
            v = getattr(o, opt)
            if v is not None:
                where = "text and Excel files" if opt in ("decimal", "thousands") else "text files (.csv, .tsv, .txt)"
                raise DataFileError(
                    f"{path.name}: {opt}={v!r} applies to {where} only; {ext} files store numbers, not text"
                )
    if o.header_row is not None and ext not in _CSV + _EXCEL:
        raise DataFileError(
            f"{path.name}: header_row={o.header_row} applies to text and Excel files "
            f"only; a {ext} file stores its column names apart from the data"
        )
    if o.decimal is not None and o.decimal not in (".", ","):
        raise DataFileError(f"{path.name}: decimal must be '.' or ',', got {o.decimal!r}")
    if o.thousands is not None and o.thousands not in (".", ",", " ", "\u00a0", "'"):
        raise DataFileError(f"{path.name}: thousands must be '.', ',', ' ' or None, got {o.thousands!r}")
    if o.thousands is not None and o.thousands == (o.decimal or "."):
        raise DataFileError(
            f"{path.name}: the decimal mark and the thousands separator are both "
            f"{o.thousands!r}; the Vietnamese Excel format is decimal=',', thousands='.'"
        )


def _read_any(path, ext, compression, member, text_opts, sheet, limits, kw, attrs) -> pd.DataFrame:
    max_bytes, max_ratio = limits
    if ext in _CSV:
        raw, name = _read_bytes(path, compression, member, max_bytes, max_ratio)
        if compression is not None:
            attrs["compression"] = compression
        if member is not None:
            attrs["member"] = member
        return _read_csv(raw, name, ext, kw, text_opts, attrs)
    if ext in _EXCEL:
        _need("openpyxl", path, "Excel")
        _check_workbook_size(path, max_bytes)
        if text_opts.decimal or text_opts.thousands:  # validation reads text cells with this format
            attrs.update(decimal=text_opts.decimal or ".", thousands=text_opts.thousands, number_format="declared")
        return _read_excel(path, sheet, text_opts.header_row, kw, attrs)
    _check_binary_size(path, ext, max_bytes)
    if ext in _SPSS or ext in _STATA:
        prs = _need("pyreadstat", path, "SPSS/Stata")
        if ext in _SPSS:
            kw.setdefault("user_missing", True)
        reader = prs.read_sav if ext in _SPSS else prs.read_dta
        df, meta = reader(str(path), **kw)
        _check_names(list(meta.column_names), path.name, ext)
        attrs["value_labels"] = {
            column_key(k): {c: _nfc(lab) if isinstance(lab, str) else lab for c, lab in v.items()}
            for k, v in (meta.variable_value_labels or {}).items()
        }
        labels = meta.column_labels or [None] * len(meta.column_names)
        attrs["column_labels"] = {
            column_key(k): (_nfc(v) if isinstance(v, str) else v) for k, v in zip(meta.column_names, labels)
        }
        if ext in _SPSS:
            attrs["user_missing"] = _user_missing(meta)
        return df
    _need("pyarrow", path, "Parquet")
    import pyarrow.parquet as pq

    _check_names(list(pq.read_schema(path).names), path.name, ext)
    if "to_pandas_kwargs" not in kw and int(pd.__version__.split(".")[0]) >= 3:  # the option is pandas 3's
        # one block per column, Arrow buffers released as each column is converted: no
        # consolidation copy of all numeric columns and a lower peak (same dtypes and values)
        kw["to_pandas_kwargs"] = {"split_blocks": True, "self_destruct": True}
    df = pd.read_parquet(path, engine="pyarrow", **kw)
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # give the decoding buffers back (≈ 60 MB at 1M rows)
    return df


def _user_missing(meta) -> dict:
    """SPSS declared user-missing values: column -> list of values or (low, high) ranges."""
    out: dict = {}
    for col, vals in (getattr(meta, "missing_user_values", None) or {}).items():
        out.setdefault(column_key(col), []).extend(vals)
    for col, ranges in (getattr(meta, "missing_ranges", None) or {}).items():
        for r in ranges:
            lo, hi = r.get("lo"), r.get("hi")
            item = lo if lo == hi else (lo, hi)
            if item not in out.setdefault(column_key(col), []):
                out[column_key(col)].append(item)
    return out


def _position(i: int, ext: str) -> str:
    if ext in _EXCEL:
        from openpyxl.utils import get_column_letter

        return f"column {get_column_letter(i + 1)}"
    return f"column {i + 1}"


def _check_names(names: list, name: str, ext: str) -> None:
    """Two columns of the file's own header with the same name (exactly, after NFC, or after
    removing surrounding spaces: ``"weight"`` and ``"weight "``); see :func:`column_key`."""
    seen: dict = {}
    for i, c in enumerate(names):
        if c is None or (isinstance(c, float) and np.isnan(c)):
            continue
        k = column_key(c) if isinstance(c, str) else c
        if k in seen:
            j = seen[k]
            if names[j] == c:
                what = f"{_position(j, ext)} and {_position(i, ext)} have the same name {c!r}"
            elif _nfc(names[j]) == _nfc(c):
                what = (
                    f"{_position(j, ext)} ({names[j]!r}) and {_position(i, ext)} ({c!r}) have the "
                    "same name after Unicode NFC normalisation (one is typed in decomposed form)"
                )
            else:
                what = (
                    f"{_position(j, ext)} ({names[j]!r}) and {_position(i, ext)} ({c!r}) have the "
                    "same name once the spaces around it are removed"
                )
            raise DataFileError(
                f"{name}: {what}; a survey column must have one "
                "name: rename or delete one of them (pandas would rename the second and the first "
                "would be used silently)"
            )
        seen[k] = i


def _blank_rows(block: pd.DataFrame) -> np.ndarray:
    """Rows where every cell is missing or blank text."""
    blank = np.array(block.isna().to_numpy(), dtype=bool, copy=True)  # writable (pandas 3)
    for j in range(len(block.columns)):
        col = block.iloc[:, j]
        if not blank[:, j].all() and (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            blank[:, j] |= col.astype("string").str.strip().eq("").fillna(True).to_numpy(dtype=bool)
    return blank.all(axis=1)


def _drop_trailing_blank_rows(df: pd.DataFrame, name: str, attrs: dict) -> pd.DataFrame:
    """Drop rows at the end where every cell is blank (bare delimiters); count them."""
    k, step = 0, 64
    while len(df.columns) and k < len(df):  # look at a growing tail only: usually one block
        tail = df.iloc[max(0, len(df) - k - step) : len(df) - k]
        filled = np.flatnonzero(~_blank_rows(tail))
        if filled.size:
            k += len(tail) - int(filled[-1]) - 1
            break
        k, step = k + len(tail), step * 4
    attrs["blank_rows_dropped"] = k
    if k:
        warnings.warn(
            f"{name}: {k} blank row(s) at the end of the file (only delimiters or empty "
            "cells) were dropped; they are not respondents",
            HappinessIndexWarning,
            stacklevel=3,
        )
        df = df.iloc[: len(df) - k]
    return df


# --------------------------------------------------------------------------------------
# file type and compression
# --------------------------------------------------------------------------------------
def _supported() -> str:
    comp = ", ".join(f".csv{c}" for c in COMPRESSED_EXTENSIONS)
    return f"{', '.join(SUPPORTED_EXTENSIONS)}, and compressed text files ({comp}, .tsv.gz ...)"


def _file_type(path: Path, kw: dict) -> tuple:
    """(format extension, compression) of ``path``; the extension is None for a bare .zip.

    ``compression=`` in ``kw`` (the pandas option) is taken out of ``kw``: ``"infer"`` or
    absent -> from the suffix, None -> not compressed, ``"gzip"``, ``"bz2"``, ``"xz"``,
    ``"zip"`` -> that compression whatever the suffix.
    """
    suffix = path.suffix.lower()
    comp = kw.pop("compression", "infer")
    if isinstance(comp, dict):
        comp = comp.get("method", "infer")
    if comp is not None and comp != "infer" and comp not in _COMPRESSIONS:
        raise DataFileError(
            f"{path.name}: compression must be one of 'infer', None, "
            f"{', '.join(map(repr, sorted(_COMPRESSIONS)))}; got {comp!r}"
        )
    if suffix in COMPRESSED_EXTENSIONS:
        if comp == "infer":
            comp = COMPRESSED_EXTENSIONS[suffix]
        inner = Path(path.stem).suffix.lower()
        if inner in _CSV:
            return inner, comp
        if comp == "zip" and inner == "":
            return None, comp
        if inner in SUPPORTED_EXTENSIONS:
            raise DataFileError(
                f"cannot read {path.name}: only text files (.csv, .tsv, .txt) may be "
                f"compressed; decompress the {inner} file first"
            )
        raise DataFileError(
            f"cannot read {path.name}: unknown file type {inner + suffix or suffix!r}; supported: {_supported()}"
        )
    if suffix not in SUPPORTED_EXTENSIONS:
        raise DataFileError(
            f"cannot read {path.name}: unknown file type {suffix or '(none)'!r}; supported: {_supported()}"
        )
    if comp == "infer":
        comp = None
    if comp is not None and suffix not in _CSV:
        raise DataFileError(
            f"{path.name}: compression={comp!r} applies to text files (.csv, .tsv, .txt) only; this is a {suffix} file"
        )
    return suffix, comp


def _zip_member(path: Path) -> str:
    """The name of the one text file of a zip archive (see read_survey Notes)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [
                i.filename
                for i in zf.infolist()
                if not i.is_dir()
                and not i.filename.startswith("__MACOSX/")
                and not Path(i.filename).name.startswith("._")
            ]
    except zipfile.BadZipFile as e:
        raise DataFileError(
            f"{path.name} is not a valid zip archive ({e}); if it is a plain text file, name it without '.zip'"
        ) from None
    if len(names) == 1:
        return names[0]
    if not names:
        raise DataFileError(f"{path.name}: the zip archive is empty")
    same = [n for n in names if Path(n).name == path.stem]
    if len(same) == 1:
        return same[0]
    shown = ", ".join(repr(n) for n in names[:10]) + (", ..." if len(names) > 10 else "")
    raise DataFileError(
        f"{path.name}: the zip archive holds {len(names)} files ({shown}); it must "
        f"hold exactly one, or one named {path.stem!r}: unzip it and read the "
        "survey file itself"
    )


def _read_bytes(path: Path, compression, member, max_bytes=None, max_ratio=None) -> tuple:
    """The (decompressed) bytes of a text file and the name to use in messages.

    Decompression streams in 1 MiB steps and stops with a DataFileError as soon as the
    text passes ``max_bytes`` or, past :data:`_RATIO_FLOOR`, ``max_ratio`` times the
    compressed size.
    """
    size = path.stat().st_size
    if compression is None:
        if max_bytes is not None and size > max_bytes:
            raise DataFileError(_too_big(path.name, size, max_bytes, None))
        return path.read_bytes(), path.name
    raw = path.read_bytes()
    name = f"{path.name} ({member})" if member else path.name
    what = {"gzip": "gzip", "bz2": "bzip2", "xz": "xz", "zip": "zip"}[compression]
    try:
        if compression == "gzip":
            stream = gzip.GzipFile(fileobj=io.BytesIO(raw))
        elif compression == "bz2":
            stream = bz2.BZ2File(io.BytesIO(raw))
        elif compression == "xz":
            stream = lzma.LZMAFile(io.BytesIO(raw))
        else:
            stream = zipfile.ZipFile(io.BytesIO(raw)).open(member)
        with stream:
            return _bounded_read(stream, name, len(raw), max_bytes, max_ratio), name
    except DataFileError:  # a size/ratio refusal (a ValueError too): keep its own message
        raise
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, ValueError) as e:
        if isinstance(e, EOFError):
            why = "the file is truncated (the download or copy was cut short)"
        else:
            why = f"{type(e).__name__}: {e}"
        raise DataFileError(
            f"{path.name} is not a valid {what} file ({why}); if it is a plain "
            f"text file, name it without '{path.suffix}', otherwise copy it again"
        ) from None
    except RuntimeError as e:  # zip: encrypted member
        raise DataFileError(
            f"{name}: cannot read the zip archive ({e}); password-protected "
            "archives are not supported: unzip it and read the file itself"
        ) from None
    except NotImplementedError as e:  # zip: unsupported compression method
        raise DataFileError(f"{name}: cannot read the zip archive ({e}); unzip it and read the file itself") from None


def _bounded_read(stream, name: str, packed: int, max_bytes, max_ratio) -> bytes:
    chunks, total = [], 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise DataFileError(_too_big(name, total, max_bytes, packed))
        if max_ratio is not None and total > _RATIO_FLOOR and total > max_ratio * max(packed, 1):
            raise DataFileError(
                f"{name}: the {packed:,} compressed bytes expand to more than {total:,} bytes (over "
                f"{max_ratio:g} times; read_survey's max_ratio={max_ratio:g}), which is not what a "
                "compressed survey table does: the file may be a decompression bomb. Decompression "
                "was stopped. If the file is genuine, pass read_survey(path, max_ratio=None)"
            )
        chunks.append(chunk)


def _too_big(name: str, size: int, max_bytes, packed) -> str:
    what = (
        f"expands to more than {size:,} bytes (from {packed:,} compressed bytes); decompression was stopped"
        if packed is not None
        else f"has {size:,} bytes"
    )
    return (
        f"{name} {what}: past the limit of {max_bytes:,} bytes (read_survey's max_bytes, "
        f"default {DEFAULT_MAX_BYTES:,}). Check that it is the survey table; to read a larger "
        "file pass read_survey(path, max_bytes=...) (None: no limit) -- it needs several times "
        "its size in memory"
    )


def _check_binary_size(path: Path, ext: str, max_bytes) -> None:
    """SPSS/Stata/Parquet: the file on disk, and Parquet's size in memory, against the limit
    (Parquet: 4 * max_bytes, at 8 bytes a cell, from the file's metadata)."""
    if max_bytes is None:
        return
    size = path.stat().st_size
    if size > max_bytes:
        raise DataFileError(_too_big(path.name, size, max_bytes, None))
    if ext in _PARQUET:
        try:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path).metadata
            total = 8 * meta.num_rows * meta.num_columns  # at least 8 bytes a cell in memory
        except Exception:  # noqa: BLE001 - the reader says what is wrong with the file
            return
        if total > _EXCEL_XML_FACTOR * max_bytes:
            raise DataFileError(
                f"{path.name}: the Parquet file holds {meta.num_rows:,} rows x {meta.num_columns} columns, "
                f"at least {total:,} bytes in memory, past the limit "
                f"of {_EXCEL_XML_FACTOR} x max_bytes = {_EXCEL_XML_FACTOR * max_bytes:,}; check that it is "
                "the survey table, or pass read_survey(path, max_bytes=...) (None: no limit)"
            )


def _check_workbook_size(path: Path, max_bytes) -> None:
    """An .xlsx is a zip of XML: refuse a workbook whose parts expand past 4 * max_bytes."""
    if max_bytes is None:
        return
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile:
        return  # the Excel reader says what is wrong
    if total > _EXCEL_XML_FACTOR * max_bytes:
        raise DataFileError(
            f"{path.name}: the workbook's parts expand to {total:,} bytes of XML, past the limit of "
            f"{_EXCEL_XML_FACTOR} x max_bytes = {_EXCEL_XML_FACTOR * max_bytes:,}; check that it "
            "is the survey table, or pass read_survey(path, max_bytes=...) (None: no limit)"
        )


# --------------------------------------------------------------------------------------
# text files
# --------------------------------------------------------------------------------------
def _decode(raw: bytes, name: str, encoding) -> str:
    enc = "utf-8-sig" if encoding is None else encoding
    if encoding is None:
        for magic, what in _FORMATS:
            if magic.match(raw):
                raise DataFileError(f"{name} is not a UTF-8 text file: {what}")
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        start = raw.rfind(b"\n", 0, e.start) + 1
        col = e.start - start + 1
        bad = raw[e.start : e.start + 4]
        enc_name = "UTF-8" if encoding is None else repr(encoding)
        for magic, kind, suffix in _MAGIC:
            if magic.match(raw):
                raise DataFileError(
                    f"{name} is not a text file: it starts like a {kind} file. If it is a "
                    f"compressed text file, name it with '{suffix}' at the end (e.g. "
                    f"survey.csv{suffix}); if it is an Excel workbook, name it .xlsx"
                ) from None
        lines = _bad_lines(raw, enc) if len(raw) <= _FAST_MAX_CHARS else [line]
        others = [ln for ln in lines if ln != line]
        more = ""
        if others:
            shown = ", ".join(str(ln) for ln in others[:20]) + (", ..." if len(others) > 20 else "")
            more = f"; {len(lines)} lines in all are not valid {enc_name}: lines {line}, {shown}"
        more_vi = f"; tổng cộng {len(lines)} dòng không hợp lệ" if others else ""
        raise DataFileError(
            f"{name}: line {line} (byte {col} of the line) is not valid {enc_name} "
            f"(bytes {bad!r}){more}; save the file as UTF-8 (in Excel: Save As > 'CSV UTF-8'), "
            "or pass the file's encoding, e.g. read_survey(path, encoding='cp1258') "
            "(on the command line: --encoding cp1258)",
            vi=f"{name}: dòng {line} (byte thứ {col} của dòng) không đúng bảng mã {enc_name} (byte {bad!r}){more_vi}; "
            "hãy lưu tệp dạng UTF-8 (trong Excel: Lưu thành > 'CSV UTF-8'), hoặc khai báo bảng mã của tệp, "
            "ví dụ --encoding cp1258 (trong Python: read_survey(path, encoding='cp1258'))",
        ) from None
    except LookupError:
        raise DataFileError(f"unknown encoding {encoding!r} for {name}") from None
    nul = text.find("\x00")
    if nul >= 0:  # valid UTF-8 but binary: a data file of another format, not a table of text
        raise DataFileError(
            f"{name} is not a text file: line {text.count(chr(10), 0, nul) + 1} holds a NUL byte. "
            "Check that it is the survey table: a workbook or SPSS/Stata/Parquet file needs its own "
            f"extension ({', '.join(_EXCEL + _SPSS + _STATA + _PARQUET)}); or export the table as 'CSV UTF-8'"
        )
    return text[1:] if text.startswith("\ufeff") else text


def _header_width(header: list) -> int:
    """Number of header fields once trailing empty names (a trailing delimiter) are dropped."""
    h = len(header)
    while h > 1 and header[h - 1].strip() == "":
        h -= 1
    return h


def _fits(rows: list, h: int) -> bool:
    """Every row has ``h`` fields, possibly followed by empty ones (trailing delimiters)."""
    return all(len(r) == h or (len(r) > h and not any(f.strip() for f in r[h:])) for r in rows)


def _sniff(text: str) -> str:
    """The delimiter of a text file, from its first lines (see read_survey Notes)."""
    head = "\n".join(text[: 1 << 18].splitlines()[:_SNIFF_LINES])
    best, best_key = ",", None
    for rank, sep in enumerate(CSV_DELIMITERS):
        try:
            rows = [r for r in csv.reader(io.StringIO(head), delimiter=sep) if r]
        except csv.Error:
            continue
        skipped = 0
        while len(rows) > 1 and sum(1 for f in rows[0] if f.strip()) < 2 and skipped < _TITLE_LOOKAHEAD:
            rows, skipped = rows[1:], skipped + 1  # a title line above the column names
        h = _header_width(rows[0]) if rows else 0
        if h < 2:
            continue
        key = (_fits(rows[1:], h), -skipped, h, -rank)
        if best_key is None or key > best_key:
            best, best_key = sep, key
    return best


def _uniform_fields(text: str, sep: str) -> bool:
    """Vectorised fast path: True when every non-blank line has the header's number of
    delimiters, no quoting is used and the header does not end with a delimiter -- then
    no row can be ragged and the per-row check is not needed."""
    if '"' in text or len(text) > _FAST_MAX_CHARS:
        return False
    b = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    if b.size == 0:
        return True
    newline = b == 10
    line = np.cumsum(newline, dtype=np.int32)  # a newline byte starts the next line's count
    n_lines = int(line[-1]) + 1
    seps = np.bincount(line[b == ord(sep)], minlength=n_lines)
    content = np.bincount(line[~newline & (b != 13)], minlength=n_lines)
    nonblank = np.flatnonzero(content > 0)
    if nonblank.size == 0:
        return True
    h = int(nonblank[0])
    header = text.split("\n", h + 1)[h]
    if header.rstrip().endswith(sep):
        return False
    return bool((seps[nonblank] == seps[h]).all())


def _check_fields(text: str, sep: str, name: str, skipped: int = 0) -> tuple[int, int, int]:
    """Check every data row against the header; return (header width, max fields, header fields).

    Raises DataFileError naming the first row whose field count differs from the header's
    (apart from trailing empty fields).
    """
    if _uniform_fields(text, sep):
        return 0, 0, 0
    rd = csv.reader(io.StringIO(text), delimiter=sep)
    header: list = []
    try:
        for header in rd:
            if header:
                break
        hline = rd.line_num + skipped
        h = _header_width(header)
        # one pass in the C tokenizer; only rows whose width differs are kept
        odd = [(rd.line_num + skipped, r) for r in rd if r and len(r) != h]
    except csv.Error as e:
        raise DataFileError(
            f"{name}: line {rd.line_num + skipped}: {e}; check the quoting "
            "(a value with a double quote must be quoted and the quote doubled)"
        ) from None
    if not header:
        return 0, 0, 0
    names = ", ".join(repr(c) for c in header[:h][:8]) + (", ..." if h > 8 else "")
    short = [(ln, r) for ln, r in odd if len(r) < h]
    long_ = [(ln, r) for ln, r in odd if len(r) > h and any(f.strip() for f in r[h:])]
    bad = sorted(short + long_, key=lambda t: t[0])
    if bad:
        ln, r = bad[0]
        more = f"; {len(bad)} rows are affected (lines {_lines(bad)})" if len(bad) > 1 else ""
        d = _delim_name(sep)
        if len(r) > h:
            extra = ", ".join(repr(f) for f in r[h:] if f.strip())
            why = (
                f"the extra values are {extra}: a value probably contains an unquoted "
                f"{sep!r} (put it in double quotes), or the header lacks a column name"
            )
        else:
            why = (
                "values are missing: the row was cut short or the delimiter is wrong; "
                "write an empty field for each missing value"
            )
        raise DataFileError(
            f"{name}: line {ln} has {len(r)} fields but the header (line {hline}) has {h} "
            f"({names}), fields separated by {d}; {why}{more}. Nothing was read, so no "
            "column is shifted"
        )
    width = max([h] + [len(r) for _, r in odd])
    return h, width, len(header)


def _lines(bad: list) -> str:
    s = ", ".join(str(ln) for ln, _ in bad[:10])
    return s + (", ..." if len(bad) > 10 else "")


def _bad_lines(raw: bytes, encoding: str) -> list:
    """1-based numbers of the lines holding bytes that do not decode (every one)."""
    out = []
    for i, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            out.append(i)
    return out


def _read_csv(raw: bytes, name: str, ext: str, kw: dict, o: TextOptions, attrs: dict) -> pd.DataFrame:
    text = _decode(raw, name, o.encoding)
    del raw
    if not text.strip():
        raise DataFileError(
            f"{name} is empty: no header line and no rows; check that the export or copy of the survey file finished"
        )
    skipped = 0
    if o.header_row is not None:
        text, skipped = _skip_lines(text, o.header_row, name)
    given = o.sep is not None
    sep = o.sep if given else ("\t" if ext == ".tsv" else _sniff(text))
    if not isinstance(sep, str) or not sep:
        raise DataFileError(f"{name}: sep must be a delimiter such as ',' ';' '\\t' '|', got {sep!r}")
    decimal = "." if o.decimal is None else o.decimal
    if decimal == sep:
        raise DataFileError(
            f"{name}: the decimal mark and the field delimiter are both "
            f"{sep!r}; files with decimal commas separate fields with ';' "
            "(read_survey(path, sep=';', decimal=','))"
        )
    attrs.update(
        delimiter=sep,
        decimal=decimal,
        thousands=o.thousands,
        number_format="declared" if (o.decimal or o.thousands) else "default",
        header_row=skipped + 1 + _leading_blank_lines(text),
    )
    default = "\t" if ext == ".tsv" else ","
    if not given and sep != default:
        warnings.warn(
            f"{name}: fields are separated by {_delim_name(sep)}, not "
            f"{_delim_name(default)}; the file was read with sep={sep!r} (pass sep= "
            f"to choose it yourself and silence this message; on the command line: --sep {sep!r})",
            HappinessIndexWarning,
            stacklevel=4,
        )
    structural = bool(_STRUCTURAL & kw.keys()) or len(sep) != 1
    if not structural:
        header = _header_fields(text, sep)
        if o.header_row is None:
            _refuse_title_rows(text, sep, name)
        _check_names(header[: _header_width(header)], name, ext)
    na = (
        {}
        if {"na_values", "keep_default_na"} & kw.keys()
        else {"keep_default_na": False, "na_values": list(MISSING_TOKENS)}
    )
    opts = dict(sep=sep, decimal=decimal, **na, **kw)
    if o.thousands is not None:
        opts["thousands"] = o.thousands
    if structural:
        df = pd.read_csv(io.StringIO(text), **opts)
    else:
        h, width, hfields = _check_fields(text, sep, name, skipped)
        if width == h == hfields:
            df = pd.read_csv(io.StringIO(text), index_col=False, **opts)
        else:  # trailing delimiters: read the header's columns only, by position
            cols = pd.read_csv(io.StringIO(text), sep=sep, nrows=0, index_col=False, usecols=range(h)).columns
            df = pd.read_csv(
                io.StringIO(text), header=0, names=list(range(width)), usecols=range(h), index_col=False, **opts
            )
            df.columns = cols
    if sep != "," or attrs["number_format"] == "declared":
        _check_number_format(text, df, name, opts, decimal, o.thousands, attrs["number_format"] == "declared")
    return df


def _check_number_format(
    text: str, df: pd.DataFrame, name: str, opts: dict, decimal, thousands, explicit: bool
) -> None:
    """Refuse a column whose numbers do not read unambiguously under the number format."""
    typed = opts.get("dtype")
    raw_opts = {k: v for k, v in opts.items() if k not in ("decimal", "thousands", "dtype", "converters")}
    raw_opts.setdefault("index_col", False)
    if "names" not in raw_opts and "usecols" not in raw_opts and "header" not in raw_opts:
        raw_opts["usecols"] = range(len(df.columns))
    tokens = pd.read_csv(io.StringIO(text), dtype=str, **raw_opts)
    for j, col in enumerate(df.columns):
        if isinstance(typed, dict) and typed.get(col) in (str, "str", "string", object):
            continue
        if j >= len(tokens.columns):
            break
        msg = locale_problem(str(col), number_shapes(tokens.iloc[:, j]), decimal, thousands, explicit)
        if msg:
            raise DataFileError(f"{name}: {msg}. Nothing was read, so no number is wrong")


def _skip_lines(text: str, header_row: int, name: str) -> tuple:
    """The text from line ``header_row`` (1-based) on, and the number of lines skipped."""
    parts = text.split("\n", header_row - 1)
    if len(parts) < header_row or not parts[-1].strip():
        raise DataFileError(
            f"{name}: header_row={header_row} but the file has "
            f"{len(text.splitlines())} line(s), none of them column names at or after "
            f"line {header_row}"
        )
    return parts[-1], header_row - 1


def _leading_blank_lines(text: str) -> int:
    n = 0
    for line in text.split("\n", 50):
        if line.strip():
            return n
        n += 1
    return n


def _header_fields(text: str, sep: str) -> list:
    """The fields of the first non-blank line, as the csv module splits them."""
    try:
        for row in csv.reader(io.StringIO(text[: 1 << 20]), delimiter=sep):
            if row and any(f.strip() for f in row):
                return row
    except csv.Error:
        pass
    return []


def _title_rows(rows: list) -> int | None:
    """0-based index of the row that seems to hold the column names, when the first rows look
    like titles (fewer than half of the cells of the widest row filled), else None."""

    def filled(r):
        return [c for c in r if c is not None and str(c).strip() != ""]

    rows = [r for r in rows[: _TITLE_LOOKAHEAD + 1]]
    widths = [len(filled(r)) for r in rows]
    if len(rows) < 2 or not widths[0] or max(widths) < 2 or 2 * widths[0] >= max(widths):
        return None
    wide = max(widths)
    for i, r in enumerate(rows[1:], start=1):
        cells = filled(r)
        if len(cells) >= 0.9 * wide and all(
            isinstance(c, str) and not _NUMBER_LIKE.fullmatch(c.strip()) for c in cells
        ):
            return i
    return None


def _refuse_title_rows(text: str, sep: str, name: str) -> None:
    lines = [ln for ln in text.split("\n", _TITLE_LOOKAHEAD + 1)[: _TITLE_LOOKAHEAD + 1]]
    offset = _leading_blank_lines(text)
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines[offset:])), delimiter=sep))
    except csv.Error:
        return
    i = _title_rows(rows)
    if i is not None:
        first = ", ".join(repr(c) for c in rows[0] if c.strip())
        names = ", ".join(repr(c) for c in rows[i][:5] if c.strip())
        raise DataFileError(
            f"{name}: line {offset + 1} ({first}) looks like a title, not column names; the column "
            f"names seem to be on line {offset + i + 1} ({names}, ...). Pass "
            f"read_survey(path, header_row={offset + i + 1}) (on the command line: --header-row "
            f"{offset + i + 1}), or delete the title lines",
            vi=f"{name}: dòng {offset + 1} ({first}) giống một dòng tiêu đề, không phải tên cột; tên cột có lẽ "
            f"nằm ở dòng {offset + i + 1} ({names}, ...). Hãy chạy với --header-row {offset + i + 1} "
            f"(trong Python: read_survey(path, header_row={offset + i + 1})), hoặc xóa các dòng tiêu đề",
        )


# --------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------
def _choose_sheet(path: Path, names: list, sheet) -> str:
    listed = ", ".join(repr(s) for s in names)
    if sheet is None:
        if len(names) > 1:
            warnings.warn(
                f"{path.name} has {len(names)} sheets ({listed}); read the first, "
                f"{names[0]!r}. Pass read_survey(path, sheet=...) to choose "
                "(and silence this message)",
                HappinessIndexWarning,
                stacklevel=5,
            )
        return names[0]
    if isinstance(sheet, (int, np.integer)) and not isinstance(sheet, bool):
        if not -len(names) <= int(sheet) < len(names):
            raise DataFileError(
                f"{path.name}: sheet={int(sheet)} but the workbook has "
                f"{len(names)} sheet(s): {listed} (positions start at 0)"
            )
        return names[int(sheet)]
    if isinstance(sheet, str):
        match = [s for s in names if _nfc(s) == _nfc(sheet)]
        if not match:
            raise DataFileError(f"{path.name}: no sheet named {sheet!r}; the workbook has {listed}")
        return match[0]
    raise DataFileError(
        f"sheet must be a sheet name (str) or a 0-based position (int), got {type(sheet).__name__} {sheet!r}"
    )


def _warn_if_header_looks_like_a_title(path: Path, chosen: str, rows: list, header_row: int) -> None:
    """The row given as header_row has few names and a fuller row of names follows (a group or
    title row chosen by mistake, e.g. the merged cells above the column names): say which row."""
    i = _title_rows(rows)
    if i is None:
        return
    title = ", ".join(repr(c) for c in rows[0] if c is not None and str(c).strip())
    warnings.warn(
        f"{path.name}, sheet {chosen!r}: row {header_row} ({title}) has few names for a header (a title or "
        f"a group row above the table?); the column names seem to be on row {header_row + i}: if so, read "
        f"with header_row={header_row + i} (--header-row {header_row + i})",
        HappinessIndexWarning,
        stacklevel=4,
    )


def _excel_header(path: Path, chosen: str, f_vals: pd.DataFrame, header_row) -> int:
    """0-based row of the column names; refuses title rows (without header_row) and
    duplicate names."""
    rows = f_vals.head(_TITLE_LOOKAHEAD + 1).astype(object).where(f_vals.notna(), None).values.tolist()
    first = next((i for i, r in enumerate(rows) if any(c is not None and str(c).strip() for c in r)), 0)
    if header_row is None:
        i = _title_rows(rows[first:])
        if i is not None:
            title = ", ".join(repr(c) for c in rows[first] if c is not None and str(c).strip())
            raise DataFileError(
                f"{path.name}, sheet {chosen!r}: row {first + 1} ({title}) looks like a title, not "
                f"column names; the column names seem to be on row {first + i + 1}. Pass "
                f"read_survey(path, header_row={first + i + 1}) (on the command line: --header-row "
                f"{first + i + 1}), or delete the title rows",
                vi=f"{path.name}, trang {chosen!r}: hàng {first + 1} ({title}) giống một dòng tiêu đề, không phải "
                f"tên cột; tên cột có lẽ nằm ở hàng {first + i + 1}. Hãy chạy với --header-row {first + i + 1} "
                f"(trong Python: read_survey(path, header_row={first + i + 1})), hoặc xóa các hàng tiêu đề",
            )
        h = first
    else:
        h = header_row - 1
        if h >= len(f_vals):
            raise DataFileError(
                f"{path.name}, sheet {chosen!r}: header_row={header_row} but the sheet has {len(f_vals)} row(s)"
            )
        _warn_if_header_looks_like_a_title(path, chosen, rows[h:], header_row)
    header = f_vals.iloc[h].tolist() if len(f_vals) else []
    while header and (header[-1] is None or (isinstance(header[-1], float) and np.isnan(header[-1]))):
        header.pop()
    _check_names(header, f"{path.name}, sheet {chosen!r}", ".xlsx")
    return h


def _read_excel(path: Path, sheet, header_row, kw: dict, attrs: dict) -> pd.DataFrame:
    import openpyxl

    wb_f = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        chosen = _choose_sheet(path, list(wb_f.sheetnames), sheet)
        f_vals = _sheet_values(wb_f[chosen])
    finally:
        wb_f.close()
    h = _excel_header(path, chosen, f_vals, header_row) if "header" not in kw else 0
    na = (
        {}
        if {"na_values", "keep_default_na"} & kw.keys()
        else {"keep_default_na": False, "na_values": list(MISSING_TOKENS)}
    )
    opts = {"header": h, **na, **kw}
    df = pd.read_excel(path, engine="openpyxl", sheet_name=chosen, **opts)
    attrs["sheet"] = chosen
    attrs["header_row"] = h + 1
    is_f = f_vals.apply(lambda col: col.map(lambda v: isinstance(v, str) and v.startswith("=")))
    v_vals = None
    if is_f.to_numpy(bool).any():
        wb_v = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            v_vals = _sheet_values(wb_v[chosen]).reindex_like(f_vals)
        finally:
            wb_v.close()
        _warn_uncached_formulas(path, chosen, is_f, v_vals)
    return _keep_excel_errors(df, v_vals if v_vals is not None else f_vals, h, "header" in kw)


def _keep_excel_errors(df: pd.DataFrame, values: pd.DataFrame, h: int, custom: bool) -> pd.DataFrame:
    """Put back the Excel error values (``#N/A``, ``#DIV/0!`` ...) that pandas reads as blanks."""
    if custom or not len(values):
        return df
    err = values.isin(EXCEL_ERRORS).to_numpy(bool)
    ii, jj = np.nonzero(err)
    keep = (ii > h) & (ii - h - 1 < len(df)) & (jj < len(df.columns))
    if not keep.any():
        return df
    df = df.copy()
    for i, j in zip(ii[keep], jj[keep]):
        col = df.columns[j]
        if df[col].dtype != object:
            df[col] = df[col].astype(object)
        df.iat[int(i - h - 1), int(j)] = values.iat[int(i), int(j)]
    return df


def _warn_uncached_formulas(path: Path, chosen: str, is_f: pd.DataFrame, v_vals: pd.DataFrame) -> None:
    ii, jj = np.nonzero(is_f.to_numpy(bool) & v_vals.isna().to_numpy())
    if len(ii):
        from openpyxl.utils import get_column_letter

        cells = [f"{get_column_letter(j + 1)}{i + 1}" for i, j in zip(ii[:10], jj[:10])]
        shown = ", ".join(cells) + (", ..." if len(ii) > 10 else "")
        warnings.warn(
            f"{path.name}, sheet {chosen!r}: {len(ii)} formula cell(s) have no "
            f"saved value and are read as missing ({shown}); the workbook was "
            "written by a program, not saved by Excel. Open it in Excel (or "
            "LibreOffice) and save it, or replace the formulas by values",
            HappinessIndexWarning,
            stacklevel=5,
        )


def _sheet_values(ws) -> pd.DataFrame:
    """The cells of a worksheet from A1, as a DataFrame (row i, column j = cell (i+1, j+1))."""
    return pd.DataFrame(list(ws.iter_rows(min_row=1, min_col=1, values_only=True)), dtype=object)
