"""Reading survey files: CSV, Excel, SPSS, Stata and Parquet.

:func:`read_survey` picks the reader from the file extension and returns a DataFrame with
NFC-normalised column names, ready for :func:`happiness_index.validate_survey`.

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
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataFileError, HappinessIndexWarning

__all__ = ["read_survey", "SUPPORTED_EXTENSIONS", "COMPRESSED_EXTENSIONS", "CSV_DELIMITERS"]

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
_MAGIC = ((re.compile(rb"\x1f\x8b"), "gzip", ".gz"),
          (re.compile(rb"BZh[1-9]1AY&SY"), "bzip2", ".bz2"),
          (re.compile(rb"\xfd7zXZ\x00"), "xz", ".xz"),
          (re.compile(rb"PK\x03\x04"), "zip (an Excel .xlsx workbook is a zip too)", ".zip"))
# signatures of other file formats (and of UTF-16 text) named like a text file: what it is, the fix
_FORMATS = ((re.compile(rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
             "it starts like an old Excel .xls workbook (OLE2); open it in Excel and save it as .xlsx "
             "or as 'CSV UTF-8'"),
            (re.compile(rb"\$FL[23]"), "it starts like an SPSS data file; name it .sav"),
            (re.compile(rb"PAR1"), "it starts like a Parquet file; name it .parquet"),
            (re.compile(rb"\xff\xfe|\xfe\xff"),
             "it is UTF-16 text (Excel's 'Unicode Text'); pass encoding='utf-16' or save it as 'CSV UTF-8'"))
#: Field delimiters tried, in this order of preference, when a text file is read without ``sep``.
CSV_DELIMITERS = (",", ";", "\t", "|")

_INSTALL = "install the optional readers with: pip install happiness_index[io]"
# read_csv options that change which line is the header or how lines are split into fields;
# when the caller passes one of them the field-count check is left to pandas.
_STRUCTURAL = frozenset({"header", "names", "skiprows", "comment", "index_col", "usecols",
                         "nrows", "skipfooter", "quoting", "quotechar", "escapechar",
                         "lineterminator", "engine", "skip_blank_lines", "dialect",
                         "doublequote", "skipinitialspace", "delim_whitespace"})
_SNIFF_LINES = 50
_FAST_MAX_CHARS = 200_000_000
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")


def _nfc(s) -> str:
    return unicodedata.normalize("NFC", str(s))


def _delim_name(sep: str) -> str:
    return {"\t": "tab ('\\t')", ",": "comma (',')", ";": "semicolon (';')",
            "|": "bar ('|')"}.get(sep, repr(sep))


def _need(module: str, path: Path, what: str):
    try:
        return __import__(module)
    except ImportError:
        raise DataFileError(f"cannot read {path.name}: reading {what} files needs the package "
                            f"{module!r}, which is not installed; {_INSTALL}") from None


def _as_path(path) -> Path:
    if path is None or not isinstance(path, (str, os.PathLike)):
        raise DataFileError(f"read_survey needs the path of a survey file (str or Path), "
                            f"got {type(path).__name__} {path!r}")
    p = Path(path)
    if str(path) == "":
        raise DataFileError("read_survey needs the path of a survey file, got an empty string")
    return p


def read_survey(path, *, sheet=None, decimal=None, **kw) -> pd.DataFrame:
    """Read a survey file into a DataFrame.

    Parameters
    ----------
    path : str or path-like
        The file; the format is chosen from its extension (see the module docstring). Text
        files may be compressed: ``survey.csv.gz``, ``.csv.bz2``, ``.csv.xz``, ``.csv.zip``
        (and the same for ``.tsv`` and ``.txt``), or a bare ``survey.zip`` holding one text
        file.
    sheet : str or int, optional
        Excel files only: the sheet to read, by name or 0-based position. When omitted and
        the workbook has several sheets, the first sheet is read and a
        :class:`~happiness_index.errors.HappinessIndexWarning` names all the sheets (pass
        ``sheet=`` to choose one and silence it). ``sheet_name=`` (the pandas spelling)
        is accepted as an alias.
    decimal : {".", ","}, optional
        Text files only: the decimal mark of numbers. Default ``"."``. Files saved by Excel
        in a locale with decimal commas (Vietnamese, most of Europe) separate fields with
        ``;`` and write ``2,5`` for two and a half: read them with ``decimal=","``. When a
        ``;``-separated file is read without ``decimal`` and a text column looks like
        decimal-comma numbers, a warning names the column and suggests ``decimal=","``;
        the values are not converted behind your back (``1,234`` could be a thousands
        separator).
    **kw
        Passed to the underlying reader (``pandas.read_csv``, ``pandas.read_excel``,
        ``pyreadstat.read_sav``/``read_dta``, ``pandas.read_parquet``). For text files,
        ``encoding`` overrides the UTF-8 default (e.g. ``encoding="cp1258"`` for files saved
        by old Vietnamese Windows software) and ``sep`` fixes the delimiter (no detection,
        no warning). ``compression`` (``"gzip"``, ``"bz2"``, ``"xz"``, ``"zip"``, None or
        the default ``"infer"``, from the suffix) overrides the suffix for text files.

    Returns
    -------
    DataFrame
        Column names normalised to Unicode NFC (cell values are left as read; validation
        compares text after NFC). ``df.attrs["source"]`` is the path. For text files
        ``df.attrs["delimiter"]`` is the field delimiter used, and for compressed ones
        ``df.attrs["compression"]`` the compression (``"gzip"``, ``"bz2"``, ``"xz"``,
        ``"zip"``; ``df.attrs["member"]`` the file read from a zip archive); for Excel files
        ``df.attrs["sheet"]`` is the name of the sheet read. For SPSS and Stata files,
        value labels are kept in ``df.attrs["value_labels"]`` (column -> {code: label}) and
        variable labels in ``df.attrs["column_labels"]`` (column -> label); codes are not
        replaced by labels.

    Raises
    ------
    DataFileError
        The path is missing (``None``), does not exist, is a directory or cannot be
        opened (the message names the path); unknown extension (the message lists the
        supported ones); a compressed file that is damaged, truncated or not compressed the
        way its suffix says (the message says which), a zip archive with no text file or
        several files, or a compressed Excel/SPSS/Stata/Parquet file; a text file that is
        not UTF-8 (the message names the first bad line and the fix; a compressed file
        named ``.csv`` is recognised and the message says to rename it; so are an old Excel
        ``.xls`` workbook, an SPSS or Parquet file and UTF-16 text named like a text file, and a
        text file holding NUL bytes, which is binary data, not a table of text); an empty
        text file (no header line); a data row whose number of
        fields differs from the header's (the message names the line and both counts);
        ``sheet`` not in the workbook (the message lists the sheets); ``sheet`` or
        ``decimal`` given for a format they do not apply to; two columns whose names become
        equal after NFC normalisation; a file the reader cannot parse; an optional reader
        (pyreadstat, pyarrow) that is not installed (the message says
        ``pip install happiness_index[io]``).

    Warns
    -----
    HappinessIndexWarning
        A text file whose delimiter was detected and is not the one its extension implies
        (``,`` for .csv/.txt, tab for .tsv): the message says which delimiter was used. A
        ``;``-separated file with decimal-comma-looking text columns and no ``decimal``.
        A workbook with several sheets and no ``sheet``. Formula cells with no saved
        (cached) value -- a workbook written by a program rather than saved by Excel --
        which pandas reads as missing: the message names the cells.

    Notes
    -----
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
    ``comment``, ``usecols``, ``quotechar`` ...).

    Compressed text files are decompressed in memory (Python's ``gzip``, ``bz2``, ``lzma``
    and ``zipfile``) and then go through exactly the same steps -- BOM, decoding with line
    numbers, delimiter detection, field-count check -- so line numbers in messages are
    those of the decompressed text (what ``gunzip`` or unzipping gives). A zip archive must
    hold one file (folders and macOS ``__MACOSX/`` entries are ignored), or one named like
    the archive without ``.zip``; messages then name ``archive.zip (member.csv)``.

    Excel. Formulas are read as the value Excel saved with them; a workbook produced by a
    script (openpyxl, xlsxwriter) and never opened in Excel has no saved values, so those
    cells are missing -- open and save the file in Excel, or paste values.
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
                    ".txt) are read from a zip archive: unzip it and read the file itself")
    if "sheet_name" in kw:
        if sheet is not None:
            raise DataFileError("give the Excel sheet once: sheet= or sheet_name=, not both")
        sheet = kw.pop("sheet_name")
    if sheet is not None and ext not in _EXCEL:
        raise DataFileError(f"{path.name}: sheet={sheet!r} applies to Excel files (.xlsx, "
                            f".xlsm) only; this is a {ext} file")
    if decimal is not None and ext not in _CSV:
        raise DataFileError(f"{path.name}: decimal={decimal!r} applies to text files (.csv, "
                            f".tsv, .txt) only; {ext} files store numbers, not text")
    attrs: dict = {}
    try:
        if ext in _CSV:
            raw, name = _read_bytes(path, compression, member)
            if compression is not None:
                attrs["compression"] = compression
            if member is not None:
                attrs["member"] = member
            df = _read_csv(raw, name, ext, kw, decimal, attrs)
        elif ext in _EXCEL:
            _need("openpyxl", path, "Excel")
            df = _read_excel(path, sheet, kw, attrs)
        elif ext in _SPSS or ext in _STATA:
            prs = _need("pyreadstat", path, "SPSS/Stata")
            reader = prs.read_sav if ext in _SPSS else prs.read_dta
            df, meta = reader(str(path), **kw)
            attrs["value_labels"] = {_nfc(k): {c: _nfc(lab) if isinstance(lab, str) else lab
                                               for c, lab in v.items()}
                                     for k, v in (meta.variable_value_labels or {}).items()}
            labels = meta.column_labels or [None] * len(meta.column_names)
            attrs["column_labels"] = {_nfc(k): (_nfc(v) if isinstance(v, str) else v)
                                      for k, v in zip(meta.column_names, labels)}
        else:
            _need("pyarrow", path, "Parquet")
            df = pd.read_parquet(path, engine="pyarrow", **kw)
    except DataFileError:
        raise
    except UnicodeError:
        raise
    except OSError as e:
        raise DataFileError(f"cannot open survey file {path}: {e.strerror or e}") from None
    except Exception as e:  # the readers' own parse errors
        raise DataFileError(f"cannot read {path.name} as {ext} data: {type(e).__name__}: {e}") from e
    names = [_nfc(c) for c in df.columns]
    seen: dict = {}
    for orig, nm in zip(df.columns, names):
        if nm in seen:
            raise DataFileError(f"{path.name}: columns {seen[nm]!r} and {orig!r} have the same name "
                                "after Unicode NFC normalisation (one is typed in decomposed form); "
                                "rename one of them")
        seen[nm] = orig
    df.columns = names
    df.attrs.update(attrs)
    df.attrs["source"] = str(path)
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
        raise DataFileError(f"{path.name}: compression must be one of 'infer', None, "
                            f"{', '.join(map(repr, sorted(_COMPRESSIONS)))}; got {comp!r}")
    if suffix in COMPRESSED_EXTENSIONS:
        if comp == "infer":
            comp = COMPRESSED_EXTENSIONS[suffix]
        inner = Path(path.stem).suffix.lower()
        if inner in _CSV:
            return inner, comp
        if comp == "zip" and inner == "":
            return None, comp
        if inner in SUPPORTED_EXTENSIONS:
            raise DataFileError(f"cannot read {path.name}: only text files (.csv, .tsv, .txt) may be "
                                f"compressed; decompress the {inner} file first")
        raise DataFileError(f"cannot read {path.name}: unknown file type {inner + suffix or suffix!r}"
                            f"; supported: {_supported()}")
    if suffix not in SUPPORTED_EXTENSIONS:
        raise DataFileError(f"cannot read {path.name}: unknown file type {suffix or '(none)'!r}; "
                            f"supported: {_supported()}")
    if comp == "infer":
        comp = None
    if comp is not None and suffix not in _CSV:
        raise DataFileError(f"{path.name}: compression={comp!r} applies to text files (.csv, "
                            f".tsv, .txt) only; this is a {suffix} file")
    return suffix, comp


def _zip_member(path: Path) -> str:
    """The name of the one text file of a zip archive (see read_survey Notes)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()
                     and not i.filename.startswith("__MACOSX/")
                     and not Path(i.filename).name.startswith("._")]
    except zipfile.BadZipFile as e:
        raise DataFileError(f"{path.name} is not a valid zip archive ({e}); if it is a plain text "
                            f"file, name it without '.zip'") from None
    if len(names) == 1:
        return names[0]
    if not names:
        raise DataFileError(f"{path.name}: the zip archive is empty")
    same = [n for n in names if Path(n).name == path.stem]
    if len(same) == 1:
        return same[0]
    shown = ", ".join(repr(n) for n in names[:10]) + (", ..." if len(names) > 10 else "")
    raise DataFileError(f"{path.name}: the zip archive holds {len(names)} files ({shown}); it must "
                        f"hold exactly one, or one named {path.stem!r}: unzip it and read the "
                        "survey file itself")


def _read_bytes(path: Path, compression, member) -> tuple:
    """The (decompressed) bytes of a text file and the name to use in messages."""
    raw = path.read_bytes()
    if compression is None:
        return raw, path.name
    name = f"{path.name} ({member})" if member else path.name
    what = {"gzip": "gzip", "bz2": "bzip2", "xz": "xz", "zip": "zip"}[compression]
    try:
        if compression == "gzip":
            return gzip.decompress(raw), name
        if compression == "bz2":
            return bz2.decompress(raw), name
        if compression == "xz":
            return lzma.decompress(raw), name
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            return zf.read(member), name
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, ValueError) as e:
        if isinstance(e, EOFError):
            why = "the file is truncated (the download or copy was cut short)"
        else:
            why = f"{type(e).__name__}: {e}"
        raise DataFileError(f"{path.name} is not a valid {what} file ({why}); if it is a plain "
                            f"text file, name it without '{path.suffix}', otherwise copy it again")\
            from None
    except RuntimeError as e:  # zip: encrypted member
        raise DataFileError(f"{name}: cannot read the zip archive ({e}); password-protected "
                            "archives are not supported: unzip it and read the file itself") from None
    except NotImplementedError as e:  # zip: unsupported compression method
        raise DataFileError(f"{name}: cannot read the zip archive ({e}); unzip it and read the "
                            "file itself") from None


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
        bad = raw[e.start:e.start + 4]
        enc_name = "UTF-8" if encoding is None else repr(encoding)
        for magic, kind, suffix in _MAGIC:
            if magic.match(raw):
                raise DataFileError(
                    f"{name} is not a text file: it starts like a {kind} file. If it is a "
                    f"compressed text file, name it with '{suffix}' at the end (e.g. "
                    f"survey.csv{suffix}); if it is an Excel workbook, name it .xlsx") from None
        raise DataFileError(
            f"{name}: line {line} (byte {col} of the line) is not valid {enc_name} "
            f"(bytes {bad!r}); save the file as UTF-8 (in Excel: Save As > 'CSV UTF-8'), "
            "or pass the file's encoding, e.g. read_survey(path, encoding='cp1258')"
        ) from None
    except LookupError:
        raise DataFileError(f"unknown encoding {encoding!r} for {name}") from None
    nul = text.find("\x00")
    if nul >= 0:  # valid UTF-8 but binary: a data file of another format, not a table of text
        raise DataFileError(
            f"{name} is not a text file: line {text.count(chr(10), 0, nul) + 1} holds a NUL byte. "
            "Check that it is the survey table: a workbook or SPSS/Stata/Parquet file needs its own "
            f"extension ({', '.join(_EXCEL + _SPSS + _STATA + _PARQUET)}); or export the table as 'CSV UTF-8'")
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
    head = "\n".join(text[:1 << 18].splitlines()[:_SNIFF_LINES])
    best, best_key = ",", None
    for rank, sep in enumerate(CSV_DELIMITERS):
        try:
            rows = [r for r in csv.reader(io.StringIO(head), delimiter=sep) if r]
        except csv.Error:
            continue
        if not rows:
            continue
        h = _header_width(rows[0])
        if h < 2:
            continue
        key = (_fits(rows[1:], h), h, -rank)
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


def _check_fields(text: str, sep: str, name: str) -> tuple[int, int, int]:
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
        hline = rd.line_num
        h = _header_width(header)
        # one pass in the C tokenizer; only rows whose width differs are kept
        odd = [(rd.line_num, r) for r in rd if r and len(r) != h]
    except csv.Error as e:
        raise DataFileError(f"{name}: line {rd.line_num}: {e}; check the quoting "
                            "(a value with a double quote must be quoted and the quote doubled)") \
            from None
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
            why = (f"the extra values are {extra}: a value probably contains an unquoted "
                   f"{sep!r} (put it in double quotes), or the header lacks a column name")
        else:
            why = ("values are missing: the row was cut short or the delimiter is wrong; "
                   "write an empty field for each missing value")
        raise DataFileError(
            f"{name}: line {ln} has {len(r)} fields but the header (line {hline}) has {h} "
            f"({names}), fields separated by {d}; {why}{more}. Nothing was read, so no "
            "column is shifted")
    width = max([h] + [len(r) for _, r in odd])
    return h, width, len(header)


def _lines(bad: list) -> str:
    s = ", ".join(str(ln) for ln, _ in bad[:10])
    return s + (", ..." if len(bad) > 10 else "")


def _read_csv(raw: bytes, name: str, ext: str, kw: dict, decimal, attrs: dict) -> pd.DataFrame:
    encoding = kw.pop("encoding", None)
    text = _decode(raw, name, encoding)
    if not text.strip():
        raise DataFileError(f"{name} is empty: no header line and no rows; check that the export "
                            "or copy of the survey file finished")
    sep = kw.pop("sep", None)
    if "delimiter" in kw:
        d = kw.pop("delimiter")
        sep = d if sep is None else sep
    given = sep is not None
    if not given:
        sep = "\t" if ext == ".tsv" else _sniff(text)
    if decimal is None:
        decimal = "."
    if decimal not in (".", ","):
        raise DataFileError(f"{name}: decimal must be '.' or ',', got {decimal!r}")
    if decimal == sep:
        raise DataFileError(f"{name}: the decimal mark and the field delimiter are both "
                            f"{sep!r}; files with decimal commas separate fields with ';' "
                            "(read_survey(path, sep=';', decimal=','))")
    attrs["delimiter"] = sep
    default = "\t" if ext == ".tsv" else ","
    if not given and sep != default:
        warnings.warn(f"{name}: fields are separated by {_delim_name(sep)}, not "
                      f"{_delim_name(default)}; the file was read with sep={sep!r} (pass sep= "
                      "to choose it yourself and silence this message)",
                      HappinessIndexWarning, stacklevel=3)
    if _STRUCTURAL & kw.keys() or len(sep) != 1:
        df = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, **kw)
    else:
        h, width, hfields = _check_fields(text, sep, name)
        if width == h == hfields:
            df = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, index_col=False, **kw)
        else:  # trailing delimiters: read the header's columns only, by position
            cols = pd.read_csv(io.StringIO(text), sep=sep, nrows=0, index_col=False,
                               usecols=range(h)).columns
            df = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, header=0,
                             names=list(range(width)), usecols=range(h), index_col=False, **kw)
            df.columns = cols
    if sep == ";" and decimal == ".":
        _warn_decimal_commas(df, name)
    return df


def _warn_decimal_commas(df: pd.DataFrame, name: str) -> None:
    found = []
    for c in df.columns:
        if not (df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype)):
            continue
        s = df[c].dropna()
        if len(s) and s.astype(str).str.match(_DECIMAL_COMMA).any():
            found.append(c)
    if found:
        ex = df[found[0]].dropna().astype(str)
        ex = ex[ex.str.match(_DECIMAL_COMMA)].iloc[0]
        warnings.warn(f"{name}: column(s) {', '.join(map(repr, found))} hold numbers written "
                      f"with a decimal comma (e.g. {ex!r}) and were read as text; read the file "
                      "with read_survey(path, decimal=',')", HappinessIndexWarning, stacklevel=3)


# --------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------
def _read_excel(path: Path, sheet, kw: dict, attrs: dict) -> pd.DataFrame:
    import openpyxl

    wb_f = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        names = list(wb_f.sheetnames)
        listed = ", ".join(repr(s) for s in names)
        if sheet is None:
            chosen = names[0]
            if len(names) > 1:
                warnings.warn(f"{path.name} has {len(names)} sheets ({listed}); read the first, "
                              f"{chosen!r}. Pass read_survey(path, sheet=...) to choose "
                              "(and silence this message)", HappinessIndexWarning, stacklevel=3)
        elif isinstance(sheet, (int, np.integer)) and not isinstance(sheet, bool):
            if not -len(names) <= int(sheet) < len(names):
                raise DataFileError(f"{path.name}: sheet={int(sheet)} but the workbook has "
                                    f"{len(names)} sheet(s): {listed} (positions start at 0)")
            chosen = names[int(sheet)]
        elif isinstance(sheet, str):
            want = _nfc(sheet)
            match = [s for s in names if _nfc(s) == want]
            if not match:
                raise DataFileError(f"{path.name}: no sheet named {sheet!r}; the workbook has "
                                    f"{listed}")
            chosen = match[0]
        else:
            raise DataFileError(f"sheet must be a sheet name (str) or a 0-based position (int), "
                                f"got {type(sheet).__name__} {sheet!r}")
        f_vals = _sheet_values(wb_f[chosen])
    finally:
        wb_f.close()
    df = pd.read_excel(path, engine="openpyxl", sheet_name=chosen, **kw)
    attrs["sheet"] = chosen
    is_f = f_vals.apply(lambda col: col.map(lambda v: isinstance(v, str) and v.startswith("=")))
    if is_f.to_numpy(bool).any():
        wb_v = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            v_vals = _sheet_values(wb_v[chosen]).reindex_like(f_vals)
        finally:
            wb_v.close()
        ii, jj = np.nonzero(is_f.to_numpy(bool) & v_vals.isna().to_numpy())
        if len(ii):
            from openpyxl.utils import get_column_letter

            cells = [f"{get_column_letter(j + 1)}{i + 1}" for i, j in zip(ii[:10], jj[:10])]
            shown = ", ".join(cells) + (", ..." if len(ii) > 10 else "")
            warnings.warn(f"{path.name}, sheet {chosen!r}: {len(ii)} formula cell(s) have no "
                          f"saved value and are read as missing ({shown}); the workbook was "
                          "written by a program, not saved by Excel. Open it in Excel (or "
                          "LibreOffice) and save it, or replace the formulas by values",
                          HappinessIndexWarning, stacklevel=3)
    return df


def _sheet_values(ws) -> pd.DataFrame:
    """The cells of a worksheet from A1, as a DataFrame (row i, column j = cell (i+1, j+1))."""
    return pd.DataFrame(list(ws.iter_rows(min_row=1, min_col=1, values_only=True)), dtype=object)
