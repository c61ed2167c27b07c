"""Reading survey files: CSV, Excel, SPSS, Stata and Parquet.

:func:`read_survey` picks the reader from the file extension and returns a DataFrame with
NFC-normalised column names, ready for :func:`happiness_index.validate_survey`.

=============  ==================================================  =====================
extension      reader                                              needs
=============  ==================================================  =====================
.csv .tsv      pandas; UTF-8 or UTF-8 with BOM (Excel's "CSV       (core)
.txt           UTF-8"); undecodable bytes -> DataFileError naming
               the line
.xlsx .xlsm    pandas + openpyxl                                   openpyxl (core)
.sav .zsav     pyreadstat (value labels kept in ``df.attrs``)      ``[io]`` extra
.dta           pyreadstat (value labels kept in ``df.attrs``)      ``[io]`` extra
.parquet .pq   pandas + pyarrow                                    ``[io]`` extra
=============  ==================================================  =====================
"""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pandas as pd

from .errors import DataFileError

__all__ = ["read_survey", "SUPPORTED_EXTENSIONS"]

_CSV = (".csv", ".tsv", ".txt")
_EXCEL = (".xlsx", ".xlsm")
_SPSS = (".sav", ".zsav")
_STATA = (".dta",)
_PARQUET = (".parquet", ".pq")
#: File extensions understood by :func:`read_survey`.
SUPPORTED_EXTENSIONS = _CSV + _EXCEL + _SPSS + _STATA + _PARQUET

_INSTALL = "install the optional readers with: pip install happiness_index[io]"


def _nfc(s) -> str:
    return unicodedata.normalize("NFC", str(s))


def _need(module: str, path: Path, what: str):
    try:
        return __import__(module)
    except ImportError:
        raise DataFileError(f"cannot read {path.name}: reading {what} files needs the package "
                            f"{module!r}, which is not installed; {_INSTALL}") from None


def read_survey(path, **kw) -> pd.DataFrame:
    """Read a survey file into a DataFrame.

    Parameters
    ----------
    path : str or path-like
        The file; the format is chosen from its extension (see the module docstring).
    **kw
        Passed to the underlying reader (``pandas.read_csv``, ``pandas.read_excel``,
        ``pyreadstat.read_sav``/``read_dta``, ``pandas.read_parquet``). For CSV,
        ``encoding`` overrides the UTF-8 default (e.g. ``encoding="cp1258"`` for files saved
        by old Vietnamese Windows software); a ``.tsv`` file is read with ``sep="\\t"``.

    Returns
    -------
    DataFrame
        Column names normalised to Unicode NFC (cell values are left as read; validation
        compares text after NFC). For SPSS and Stata files, value labels are kept in
        ``df.attrs["value_labels"]`` (column -> {code: label}) and variable labels in
        ``df.attrs["column_labels"]`` (column -> label); codes are not replaced by labels.

    Raises
    ------
    DataFileError
        Unknown extension; a CSV that is not UTF-8 (the message names the first bad line
        and the fix); two columns whose names become equal after NFC normalisation; a
        file the reader cannot parse; an optional reader (pyreadstat, pyarrow) that is
        not installed (the message says ``pip install happiness_index[io]``).
    OSError
        The file does not exist or cannot be opened.

    Notes
    -----
    Excel writes "CSV UTF-8" with a byte-order mark (BOM); it is removed, so the first
    column name is not polluted by ``\\ufeff``.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise DataFileError(f"cannot read {path.name}: unknown file type {ext or '(none)'!r}; "
                            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    if not path.exists():
        raise FileNotFoundError(f"survey file not found: {path}")
    attrs: dict = {}
    try:
        if ext in _CSV:
            df = _read_csv(path, ext, kw)
        elif ext in _EXCEL:
            _need("openpyxl", path, "Excel")
            df = pd.read_excel(path, engine="openpyxl", **kw)
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
    except (OSError, UnicodeError):
        raise
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


def _read_csv(path: Path, ext: str, kw: dict) -> pd.DataFrame:
    kw = dict(kw)
    encoding = kw.pop("encoding", None)
    if ext == ".tsv":
        kw.setdefault("sep", "\t")
    raw = path.read_bytes()
    enc = "utf-8-sig" if encoding is None else encoding
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        start = raw.rfind(b"\n", 0, e.start) + 1
        col = e.start - start + 1
        bad = raw[e.start:e.start + 4]
        name = "UTF-8" if encoding is None else repr(encoding)
        raise DataFileError(
            f"{path.name}: line {line} (byte {col} of the line) is not valid {name} "
            f"(bytes {bad!r}); save the file as UTF-8 (in Excel: Save As > 'CSV UTF-8'), "
            "or pass the file's encoding, e.g. read_survey(path, encoding='cp1258')"
        ) from None
    except LookupError:
        raise DataFileError(f"unknown encoding {encoding!r} for {path.name}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    del raw
    return pd.read_csv(io.StringIO(text), **kw)
