"""Validation of survey microdata against an index specification and a sampling frame.

:func:`validate_survey` checks a survey file against an :class:`~happiness_index.IndexSpec`
(and optionally the sampling frame) and reports **every** problem at once in a
:class:`ValidationReport`: one row per offending cell, with the respondent id, the column as
spelled in the file, the value, the check that caught it and a message in English and
Vietnamese. It is built on pandera's lazy validation: each rule is a named
:class:`pandera.Check`, and pandera's failure cases become the error table.

The checks (see ``methodology/validation.md`` for the reviewer's version):

=============================  ==============================================================
kind                           check
=============================  ==============================================================
missing column                 every required item and every declared design column present
duplicate column               two columns with the same name after Unicode NFC normalisation
                               and trimming (``"weight"`` and ``"weight "``); a single header
                               ``"weight "`` is the spec's ``weight``
missing id / duplicate id      respondent id present on every row and unique (ids compared
                               after NFC and trimming: ``"R007 "`` duplicates ``"R007"``)
missing value                  a value in a non-nullable column (``nullable = false`` items,
                               weights, strata, PSU, commune, village)
not a number                   text that cannot be read as a number in a numeric column; a
                               date or time (a column formatted as dates in Excel) or a
                               True/False cell among numbers, named as such
invalid code                   item value outside its allowed codes (after missing codes
                               such as 8 = don't know, 9 = refused are mapped to missing)
weight not finite /            sampling weight infinite, or zero or negative
weight not positive
psu not nested                 a PSU (village) code appearing in more than one stratum
commune not in frame           commune code absent from the sampling frame
village not in frame           (commune, village) pair absent from the sampling frame
commune name mismatch          commune name differs from the frame's after NFC + trimming
skip rule                      an item answered although its filter item says it is skipped
commune without respondents    a commune of the frame with no respondent in the data
no respondents                 the data have no rows (a header-only file)
boolean column                 a True/False (Boolean) column for an item that is not
                               ``yes_no`` (Likert, scale, integer, categorical): the answer
                               codes were lost, True would pass as code 1
excel error                    an Excel error value (``#N/A``, ``#DIV/0!``, ``#VALUE!``,
                               ``#REF!``, ``#NAME?``, ``#NUM!``, ``#NULL!``) in a column the
                               spec uses, named as such (not "blank", not "not a number")
empty item                     an item of the index whose column has no answer in any row
ambiguous number               text such as ``"1.925"`` in a numeric column of a frame whose
                               number format is unknown (not read by ``read_survey``; text
                               cells of a workbook): 1925 or 1.925? Not converted; reported
decimal comma                  text such as ``"19,25"`` (a decimal comma) in a numeric column
                               read with a decimal point (a text cell of a workbook, a CSV read
                               without ``decimal=','``): named as such, with the fix
control character in text      an ESC, NUL or other C0/C1 control character (not tab or line
                               break) in the text of the id or a design column (strata, PSU,
                               commune, commune name, village): it would reach the terminal
                               and the reports
header row                     most column names blank ("Unnamed: 3") and spec columns
                               missing: the names are below a title row (``header_row=``)
=============================  ==============================================================

Numbers stored as text (``"4"``, ``" 4 "``, ``"4.0"``) are read as numbers by an explicit
coercion that is listed in ``report.coercions`` (never silently, never as an error). Blank
cells of integer items stay missing (pandas nullable ``Int64``), they are never an error
unless the item is declared ``nullable = false``.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley (ch. 1-2 on
survey design metadata). pandera documentation, "Lazy validation".
"""

from __future__ import annotations

import datetime
import os
import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..errors import SchemaError, SpecError
from ..questionnaire.spec import IndexSpec
from .files import column_key
from .numbers import EXCEL_ERRORS, NUMBER_SHAPES, parse_number_text

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

__all__ = ["validate_survey", "ValidationReport", "ERROR_COLUMNS", "COERCION_COLUMNS", "COERCION_KIND"]

#: Columns of :attr:`ValidationReport.errors`.
ERROR_COLUMNS = ["row", "row_number", "column", "value", "check", "kind", "message_en", "message_vi"]
#: Columns of :attr:`ValidationReport.coercions`.
COERCION_COLUMNS = ["row", "row_number", "column", "value", "coerced", "note"]
#: ``kind`` of the coercion rows in :meth:`ValidationReport.to_frame` (notes, not errors).
COERCION_KIND = "coercion (note)"

#: Vietnamese names of the kinds of problem (for ``format_summary("vi")``).
KIND_VI = {
    "missing column": "thiếu cột",
    "duplicate column": "cột trùng tên",
    "missing id": "thiếu mã",
    "duplicate id": "mã trùng",
    "missing value": "thiếu giá trị",
    "not a number": "không phải số",
    "invalid code": "mã không hợp lệ",
    "weight not finite": "trọng số không hữu hạn",
    "weight not positive": "trọng số không dương",
    "psu not nested": "địa bàn không lồng trong tầng",
    "commune not in frame": "xã không có trong dàn mẫu",
    "village not in frame": "thôn không có trong dàn mẫu",
    "commune name mismatch": "tên xã khác dàn mẫu",
    "skip rule": "quy tắc bỏ qua",
    "commune without respondents": "xã không có người trả lời",
    "no respondents": "không có người trả lời",
    "boolean column": "cột kiểu đúng/sai",
    "excel error": "giá trị lỗi Excel",
    "empty item": "câu hỏi không có trả lời",
    "header row": "dòng tên cột",
    "ambiguous number": "số có thể hiểu hai cách",
    "decimal comma": "số có dấu phẩy thập phân",
    "thousands separator": "dấu phân cách hàng nghìn chưa khai báo",
    "control character in text": "ký tự điều khiển trong chữ",
    COERCION_KIND: "chuyển đổi kiểu (ghi chú)",
}
#: Vietnamese names of the fixed-name checks.
CHECK_VI = {
    "not missing": "không được trống",
    "unique id": "mã duy nhất",
    "column present": "có cột",
    "is a number": "là số",
    "weight finite": "trọng số hữu hạn",
    "weight positive": "trọng số dương",
    "psu nested in stratum": "địa bàn lồng trong tầng",
    "commune in frame": "xã có trong dàn mẫu",
    "commune name matches frame": "tên xã khớp dàn mẫu",
    "village in frame": "thôn có trong dàn mẫu",
    "unique column name": "tên cột duy nhất",
    "at least one row": "ít nhất một dòng",
    "not a Boolean column": "không phải cột đúng/sai",
    "commune has respondents": "xã có người trả lời",
    "read as number": "đọc thành số",
    "not an Excel error": "không phải lỗi Excel",
    "item has answers": "câu hỏi có trả lời",
    "column names on the header row": "tên cột ở dòng tiêu đề",
    "unambiguous number": "số không mơ hồ",
    "decimal point": "dấu chấm thập phân",
    "thousands separator declared": "khai báo dấu hàng nghìn",
    "not a date or time": "không phải ngày/giờ",
    "not True/False": "không phải đúng/sai",
    "no control character": "không có ký tự điều khiển",
}


def _check_vi(check: str) -> str:
    """Vietnamese name of a check (code-range and skip-rule names translated by pattern)."""
    if check in CHECK_VI:
        return CHECK_VI[check]
    for en, vi in (
        ("integer in range ", "số nguyên trong khoảng "),
        ("in range ", "trong khoảng "),
        ("in codes ", "thuộc các mã "),
        ("skip rule: missing unless ", "quy tắc bỏ qua: để trống trừ khi "),
    ):
        if check.startswith(en):
            return vi + check[len(en) :].replace(" in {", " thuộc {")
    return check


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


_BUILTIN = {
    # pandera's own check names -> (our check name, kind)
    "not_nullable": ("not missing", "missing value"),
    "field_uniqueness": ("unique id", "duplicate id"),
    "column_in_dataframe": ("column present", "missing column"),
}


def format_value(v) -> str:
    """A cell value for a message: floats without a spurious ``.0``, missing as blank."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return "(blank)"
    if isinstance(v, np.datetime64):
        return str(pd.Timestamp(v))
    if isinstance(v, np.timedelta64):
        return str(pd.Timedelta(v))
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, str):
        return repr(v)
    return str(v)


def _list_rows(items: list, vi: bool = False, limit: int = 5) -> str:
    """The first ``limit`` row labels (already formatted) and a count of the rest."""
    items = [str(x) for x in items]
    shown = ", ".join(items[:limit])
    k = len(items) - limit
    if k <= 0:
        return shown
    return (
        f"{shown} và {_vi_int(k)} dòng khác (tổng {_vi_int(len(items))})"
        if vi
        else f"{shown} and {k} more ({len(items)} in all)"
    )


def _vi_int(n) -> str:
    """A count in the Vietnamese format: 3.400 (a dot groups thousands)."""
    return f"{int(n):,}".replace(",", ".")


def format_codes(codes) -> str:
    return "{" + ", ".join(format_value(c) for c in codes) + "}"


# --------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate_survey`.

    Attributes
    ----------
    errors : DataFrame
        One row per problem, columns ``row`` (the respondent id, or the 1-based data row
        number when the data have no id column; missing for problems that concern a whole
        column or a commune of the frame), ``row_number`` (the 1-based data row, nullable
        ``Int64``: tells apart rows sharing a duplicated id), ``column`` (as spelled in the file), ``value``
        (as found in the file), ``check`` (the name of the check), ``kind`` (the family of
        the check, used for counting), ``message_en``, ``message_vi``.
    coercions : DataFrame
        Cells read by an explicit coercion (numbers stored as text, blank text read as
        missing): ``row``, ``row_number``, ``column``, ``value`` (the text), ``coerced`` (the number, NaN
        for a blank), ``note``. Coercions are notes, not errors.
    data : DataFrame or None
        The cleaned copy of the data (missing codes mapped to missing, numbers stored as
        text converted, item columns as nullable ``Int64``/``Float64``/``string``, column
        names NFC-normalised) when there are no errors, else ``None``. Built on first
        access (a report that is only checked costs no copy of the data) from the data as
        they were validated: with pandas 3 the report keeps copy-on-write references, so
        later edits of the input frame do not reach it (pandas 2: built at validation).
    n_rows : int
        Number of respondents (rows) validated.
    spec_name : str
        Name of the spec validated against.
    blank_rows_dropped : int
        Trailing blank rows (bare delimiters) that :func:`~happiness_index.read_survey`
        dropped before validation (from ``data.attrs``); a note, not a problem.
    number_format : dict or None
        The number format of the file (``decimal``, ``thousands``, ``how``: ``"declared"``
        or ``"default"``) as :func:`~happiness_index.read_survey` recorded it in
        ``data.attrs``; None when the data were not read from a text file by read_survey.
        A declared format is repeated in :meth:`format_summary`.
    sheet : tuple of (str, int) or None
        For data read from an Excel sheet by :func:`~happiness_index.read_survey`: the
        sheet's name and the sheet row of the header. Data row ``k`` is then sheet row
        ``k + header``; :meth:`to_frame` adds that ``sheet_row`` column and
        :meth:`format_summary` says so (blank rows inside the sheet are kept as rows, so
        the count is exact). None when the rows are no longer those read (filtered,
        sorted or re-indexed frames keep pandas' ``attrs`` but not the sheet's order).
    """

    errors: pd.DataFrame
    coercions: pd.DataFrame
    n_rows: int
    spec_name: str
    blank_rows_dropped: int = 0
    number_format: dict | None = None
    sheet: tuple | None = None
    clean_copy: Callable[[], pd.DataFrame] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def data(self) -> pd.DataFrame | None:
        """The cleaned copy of the data when there are no errors, else None (see the class notes)."""
        return None if self.clean_copy is None or not self.ok else self.clean_copy()

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return len(self.errors) == 0

    @property
    def n_problem_rows(self) -> int:
        """Number of distinct data rows with at least one problem (by row number, so two
        rows sharing a duplicated id count twice; whole-column problems count none)."""
        return int(self.errors["row_number"].dropna().nunique()) if len(self.errors) else 0

    def summary(self, lang: str = "en") -> pd.DataFrame:
        """Problems counted by kind, check and column.

        Parameters
        ----------
        lang : {"en", "vi"}, default "en"
            Language of the ``rows`` text ("row 4" / "dòng 4", "and 3 more" / "và 3 dòng khác").

        Returns
        -------
        DataFrame
            Columns ``kind``, ``check``, ``column``, ``n`` (number of problems) and
            ``rows`` (the first few row ids, as text; an id found on several data rows is
            shown with the row number, ``'R003' (row 3)``), in order of first appearance.
            Empty when the data are clean.
        """
        cols = ["kind", "check", "column", "n", "rows"]
        if self.ok:
            return pd.DataFrame(columns=cols)
        e = self.errors.copy()
        vi = lang == "vi"
        # an id that labels several data rows is ambiguous: show the row number beside it
        labelled = e[e["row_number"].notna() & e["row"].notna()]
        per_id = labelled.groupby(labelled["row"].astype(str))["row_number"].nunique()
        ambiguous = set(per_id.index[per_id > 1])
        word = "dòng" if vi else "row"

        def show(r, k):
            if pd.isna(r):
                return None
            text = repr(r) if isinstance(r, str) else format_value(r)
            if str(r) in ambiguous and not pd.isna(k):
                return f"{text} ({word} {int(k)})"
            return text

        # object dtype: pandas 3 would infer ``str`` and turn the None of whole-column problems
        # into NaN (a float), which is not a row label
        e["_shown"] = pd.Series([show(r, k) for r, k in zip(e["row"], e["row_number"])], index=e.index, dtype=object)
        keys = ["kind", "check", "column"]
        g = e.assign(column=e["column"].astype(object).fillna("").map(str)).groupby(keys, sort=False, dropna=False)
        out = g.size().rename("n").reset_index()
        rows = g["_shown"].agg(lambda r: _list_rows([x for x in r if isinstance(x, str)], vi))
        out["rows"] = rows.to_numpy()
        return out[cols]

    def to_frame(self, coercions: bool = True) -> pd.DataFrame:
        """Every problem and (by default) every coercion in one table, for a CSV file.

        Coercions become rows of ``kind`` ``"coercion (note)"`` and ``check``
        ``"read as number"`` (``value`` the text found, the messages say what it was read as),
        after the problems; the columns are :data:`ERROR_COLUMNS`.
        """
        if not coercions or not len(self.coercions):
            return self._with_sheet_rows(self.errors.copy())
        c = self.coercions
        blank = c["coerced"].isna().to_numpy()
        num = [format_value(v) for v in c["coerced"]]
        notes = pd.DataFrame(
            {
                "row": c["row"].to_numpy(),
                "row_number": pd.array(c["row_number"], dtype="Int64"),
                "column": c["column"].to_numpy(),
                "value": c["value"].to_numpy(),
                "check": "read as number",
                "kind": COERCION_KIND,
                "message_en": [
                    f"{nt} ({'missing' if b else n}); a note, not an error" for nt, b, n in zip(c["note"], blank, num)
                ],
                "message_vi": [
                    "ô chữ trống được đọc là giá trị thiếu; chỉ là ghi chú, không phải lỗi"
                    if b
                    else f"số lưu dạng chữ được đọc thành số {n}; chỉ là ghi chú, không phải lỗi"
                    for b, n in zip(blank, num)
                ],
            }
        )
        parts = [p.astype({"row": object, "value": object}) for p in (self.errors, notes) if len(p)]
        return self._with_sheet_rows(pd.concat(parts, ignore_index=True)[ERROR_COLUMNS])

    def _with_sheet_rows(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with a ``sheet_row`` column after ``row_number`` when the data came from Excel."""
        if self.sheet is None:
            return table
        table.insert(table.columns.get_loc("row_number") + 1, "sheet_row", table["row_number"] + int(self.sheet[1]))
        return table

    def format_summary(self, lang: str = "en") -> str:
        """A short text table of :meth:`summary` for a terminal or a log, in English
        (``lang="en"``) or Vietnamese (``"vi"``: headings, kinds and checks translated)."""
        vi = lang == "vi"
        note = ""
        if len(self.coercions):
            k = len(self.coercions)
            note = (
                f"\n  ghi chú: {_vi_int(k)} ô được chuyển đổi kiểu (số lưu dạng chữ, ô chữ trống); không phải lỗi"
                if vi
                else f"\n  note: {_plural(k, 'cell was', 'cells were')} read by coercion (numbers stored as text, "
                "blank text); not errors"
            )
        nf = self.number_format
        if nf and nf.get("how") == "declared":
            dec, th = nf.get("decimal"), nf.get("thousands")
            note += (
                f"\n  ghi chú: số được đọc với dấu thập phân {dec!r} và dấu hàng nghìn {th!r} (đã khai báo)"
                if vi
                else f"\n  note: numbers were read with decimal mark {dec!r} and thousands separator {th!r} (declared)"
            )
        if self.blank_rows_dropped:
            k = self.blank_rows_dropped
            note += (
                f"\n  ghi chú: {_vi_int(k)} dòng trống ở cuối tệp (chỉ có dấu phân cách) đã được bỏ; không phải "
                "người trả lời"
                if vi
                else f"\n  note: {_plural(k, 'blank row', 'blank rows')} at the end of the file (only "
                "delimiters) were dropped; not respondents"
            )
        if self.sheet is not None and not self.ok:
            name, head = self.sheet
            note += (
                f"\n  ghi chú: số dòng là dòng dữ liệu; trong trang Excel {name!r}, dòng dữ liệu k là hàng k + {head}"
                " (cột sheet_row của danh sách lỗi)"
                if vi
                else f"\n  note: row numbers count data rows; in the Excel sheet {name!r}, data row k is sheet row "
                f"k + {head} (column sheet_row of the problem list)"
            )
        if self.ok:
            return (
                f"Đã kiểm tra {_vi_int(self.n_rows)} dòng theo đặc tả {self.spec_name!r}: không có lỗi"
                if vi
                else f"{_plural(self.n_rows, 'row', 'rows')} checked against spec {self.spec_name!r}: no problems"
            ) + note
        s = self.summary(lang)
        npb, nrows = len(self.errors), self.n_problem_rows
        if vi:
            head = (
                f"{_vi_int(npb)} lỗi ở {_vi_int(nrows)} trong {_vi_int(self.n_rows)} dòng (đặc tả {self.spec_name!r}):"
                if nrows
                else f"{_vi_int(npb)} lỗi về cột hoặc tệp, không thuộc dòng nào ({_vi_int(self.n_rows)} dòng; "
                f"đặc tả {self.spec_name!r}):"
            )
            s["n"] = [_vi_int(n) for n in s["n"]]
            s["kind"] = [KIND_VI.get(k, k) for k in s["kind"]]
            s["check"] = [_check_vi(c) for c in s["check"]]
            h = ("loại lỗi", "cột", "kiểm tra", "số lỗi", "dòng")
        else:
            head = (
                f"{_plural(npb, 'problem', 'problems')} in {nrows} of {_plural(self.n_rows, 'row', 'rows')} "
                f"(spec {self.spec_name!r}):"
                if nrows
                else f"{_plural(npb, 'problem', 'problems')} with columns or the file, in no particular row "
                f"({_plural(self.n_rows, 'row', 'rows')}; spec {self.spec_name!r}):"
            )
            h = ("kind", "column", "check", "n", "rows")
        w_kind = max(len(h[0]), s["kind"].str.len().max())
        w_col = max(len(h[1]), s["column"].astype(str).str.len().max())
        w_chk = max(len(h[2]), s["check"].str.len().max())
        w_n = max(len(h[3]), 5)
        lines = [head, f"  {h[0]:<{w_kind}}  {h[1]:<{w_col}}  {h[2]:<{w_chk}}  {h[3]:>{w_n}}  {h[4]}"]
        for r in s.itertuples(index=False):
            lines.append(f"  {r.kind:<{w_kind}}  {str(r.column):<{w_col}}  {r.check:<{w_chk}}  {r.n:>{w_n}}  {r.rows}")
        return "\n".join(lines) + note

    def raise_if_errors(self) -> ValidationReport:
        """Raise :class:`~happiness_index.errors.SchemaError` when there are problems.

        The message counts problems by kind and shows the first few; the exception's
        ``report`` attribute is this report. Returns ``self`` when clean (for chaining).
        """
        if self.ok:
            return self
        counts = self.errors["kind"].value_counts(sort=False)
        by_kind = ", ".join(f"{k}: {n}" for k, n in counts.items())
        first = "\n".join(
            f"  - row {format_value(r.row)}, column {r.column!r}: {r.message_en}"
            for r in self.errors.head(5).itertuples(index=False)
        )
        more = len(self.errors) - 5
        msg = (
            f"survey data fail validation against spec {self.spec_name!r}: "
            f"{len(self.errors)} problems ({by_kind}). First problems:\n{first}"
            + (f"\n  ... and {more} more (see err.report.errors)" if more > 0 else "")
            + "\nFix the cells listed in report.errors (or write them out with "
            "`happiness-index validate ... --out errors.csv`)."
        )
        raise SchemaError(msg, report=self)

    def __repr__(self) -> str:
        return (
            f"ValidationReport(spec={self.spec_name!r}, rows={self.n_rows}, ok={self.ok}, "
            f"errors={len(self.errors)}, coercions={len(self.coercions)}, "
            f"blank_rows_dropped={self.blank_rows_dropped})"
        )


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def to_number(s: pd.Series, number_format: tuple | None = None):
    """Read a column as float64 numbers.

    Returns ``(values, unparseable, coerced)``: a new, writable float array (NaN for missing and for
    text that is not a number), a mask of non-blank text that is not a number, and a mask
    of text cells converted (numbers stored as text, blank text) -- or ``None`` masks
    when the column is numeric already. ``number_format`` is ``(decimal, thousands)`` of
    the file (``read_survey`` records it); when None, text that reads two ways (``1.925``:
    1925 or 1.925) is not converted (it counts as unparseable; see :func:`ambiguous_text`).

    Dates, times, durations and periods (a column formatted as dates in Excel; see
    :func:`temporal_cells`) and True/False cells of a column that also holds other values
    (see :func:`boolean_cells`) are never numbers: they count as unparseable, never as
    nanoseconds or as 1/0. A column of Booleans only is read as 1/0 (a yes/no item).
    """
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        # a float64 column comes back as a read-only view (pandas 3): callers may write to it
        return (v if v.flags.writeable else v.copy()), None, None
    if _is_temporal_dtype(s.dtype):
        return np.full(len(s), np.nan), s.notna().to_numpy(dtype=bool), np.zeros(len(s), dtype=bool)
    if isinstance(s.dtype, pd.StringDtype) or pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        is_text = s.notna().to_numpy()
        odd = np.zeros(len(s), dtype=bool)
    else:  # object column mixing numbers and text (e.g. from Excel)
        kind = _cell_kinds(s)
        is_text, odd = kind == _TEXT, (kind == _BOOLEAN) | (kind == _TEMPORAL)
    txt = s.astype("string").str.strip()
    blank = (txt.isna() | (txt == "")).to_numpy(dtype=bool)
    v, _ = parse_number_text(txt.astype(object).where(~blank & is_text, None), number_format)
    stored = ~blank & ~is_text & ~odd  # numbers stored as numbers in an object column (Excel)
    if stored.any():
        v[stored] = pd.to_numeric(s[stored], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    v[odd] = np.nan  # a date is not nanoseconds, True is not code 1
    unparseable = ~blank & np.isnan(v)
    v[unparseable] = np.nan
    coerced = is_text & ~unparseable
    return v, unparseable, coerced


#: Control characters that have no place in a code or a name: C0 except tab, line feed and
#: carriage return, DEL, and C1 (0x80-0x9F; ``\x9b`` is a terminal's escape sequence introducer).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

#: Kinds of cell of an object column (:func:`_cell_kinds`).
_TEXT, _OTHER, _BOOLEAN, _TEMPORAL, _MISSING = 0, 1, 2, 3, 4
_TEMPORAL_TYPES = (datetime.date, datetime.time, datetime.timedelta, np.datetime64, np.timedelta64, pd.Period)


def _cell_kind(x) -> int:
    if isinstance(x, str):
        return _TEXT
    if isinstance(x, (bool, np.bool_)):
        return _BOOLEAN
    if isinstance(x, _TEMPORAL_TYPES):  # datetime.datetime and pd.Timestamp are dates too
        return _TEMPORAL
    return _OTHER


def _cell_kinds(s: pd.Series) -> np.ndarray:
    """The kind of each cell of an object column (one pass over the cells; missing cells -> 4)."""
    return s.map(_cell_kind, na_action="ignore").fillna(_MISSING).to_numpy(dtype=np.int8)


def _is_temporal_dtype(dtype) -> bool:
    return (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    )


def temporal_cells(s: pd.Series) -> np.ndarray:
    """Cells holding a date, a time, a duration or a period, not a number.

    Parameters
    ----------
    s : pandas.Series
        One column of survey data.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True where the cell is a date/time value (a ``datetime64``, ``timedelta64`` or period
        column, or ``datetime``/``date``/``time``/``timedelta``/``Timestamp``/``Period`` objects in
        a mixed column, as Excel gives for cells formatted as dates).
    """
    if _is_temporal_dtype(s.dtype):
        return s.notna().to_numpy(dtype=bool)
    if s.dtype != object:
        return np.zeros(len(s), dtype=bool)
    return _cell_kinds(s) == _TEMPORAL


def boolean_cells(s: pd.Series) -> np.ndarray:
    """True/False cells of a column that also holds other values (an Excel TRUE among codes).

    Returns a bool mask of shape (n,); all False for a Boolean column (read as 1/0 where the
    item is yes/no, reported as a whole otherwise) and for numeric and text columns.
    """
    if s.dtype != object:
        return np.zeros(len(s), dtype=bool)
    return _cell_kinds(s) == _BOOLEAN


def ambiguous_text(s: pd.Series) -> np.ndarray:
    """Text cells that read as two different numbers (``1.925``: 1925 or 1.925)."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return np.zeros(len(s), dtype=bool)
    txt = s.astype("string").str.strip()
    return parse_number_text(txt.astype(object).where(txt.notna(), None), None)[1]


def decimal_comma_text(s: pd.Series) -> np.ndarray:
    """Text cells shaped as a number with a decimal comma (``19,25``, ``1.925,50``)."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return np.zeros(len(s), dtype=bool)
    txt = s.astype("string").str.strip()
    shape = NUMBER_SHAPES["comma decimal"].pattern + "|" + NUMBER_SHAPES["dot-comma"].pattern
    return txt.str.fullmatch(shape).fillna(False).to_numpy(dtype=bool)


def _sheet_of(data: pd.DataFrame) -> tuple | None:
    """(sheet name, header row) of data read from an Excel sheet by read_survey, with its rows as
    read (pandas keeps ``attrs`` through filters and sorts: then the sheet rows are unknown), else None."""
    a = data.attrs
    sheet, head = a.get("sheet"), a.get("header_row")
    if sheet is None or isinstance(head, bool) or not isinstance(head, (int, np.integer)) or head < 1:
        return None
    ix = data.index
    as_read = isinstance(ix, pd.RangeIndex) and ix.start == 0 and ix.step == 1 and len(data) == a.get("rows_read")
    return (str(sheet), int(head)) if as_read else None


def _column_problem(column, check: str, kind: str, *, en: str, vi: str) -> dict:
    """A problem of a whole column or of the file (no row), as a row of the error table."""
    return dict(row=pd.NA, column=column, value=pd.NA, check=check, kind=kind, message_en=en, message_vi=vi, _pos=-1)


def _any_excel_error(s: pd.Series) -> bool:
    """Whether any cell of a text column is an Excel error value, tested on its distinct values."""
    distinct = pd.Series(pd.unique(s.dropna()), dtype=object)
    return bool(distinct.map(lambda x: str(x).strip() in EXCEL_ERRORS).any())


def _narrow_exactly(v: np.ndarray) -> np.ndarray:
    """``v`` as float32 when every value survives the round trip (answer codes do), else ``v``.

    Halves the working copy of an item column (8 -> 4 MB per million respondents) without
    changing a single value: the checks and the messages see the same numbers.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        v32 = v.astype(np.float32)  # a value beyond float32's range becomes inf: not the same
        same = np.array_equal(v32, v, equal_nan=True)  # compared in float64: exact
    return v32 if same else v


def _dot_grouped_text(s: pd.Series) -> np.ndarray:
    """Text cells shaped as a number with '.' thousands groups (``1.925`` or ``1.925,50``)."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return np.zeros(len(s), dtype=bool)
    shape = NUMBER_SHAPES["dot groups"].pattern + "|" + NUMBER_SHAPES["dot-comma"].pattern
    return s.astype("string").str.strip().str.fullmatch(shape).fillna(False).to_numpy(dtype=bool)


def _nonblank(s: pd.Series) -> np.ndarray:
    """Cells that hold something: not missing and not blank text."""
    out = s.notna().to_numpy(dtype=bool)
    if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
        out = out & (s.astype("string").str.strip() != "").fillna(False).to_numpy(dtype=bool)
    return out


def _norm_text(s: pd.Series) -> pd.Series:
    """Text NFC-normalised and trimmed, computed once per distinct value (vectorised take)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    norm = np.array([unicodedata.normalize("NFC", str(u)).strip() for u in uniques] + [None], dtype=object)
    out = pd.Series(norm[codes], index=s.index, dtype="string")  # code -1 picks the None
    return out


def _key(s: pd.Series) -> pd.Series:
    """Codes normalised for comparison: numbers as integer text, text NFC + trimmed,
    digit-only text without leading zeros ("04321" == 4321)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    arr = np.array(_key_texts(uniques) + [None], dtype=object)
    return pd.Series(arr[codes], index=s.index, dtype="string")


def _key_ids(s: pd.Series) -> np.ndarray:
    """Integer ids of :func:`_key` (equal keys, equal ids; -1 for a blank): no text column built."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    kid = pd.factorize(np.array(_key_texts(uniques), dtype=object))[0] if len(uniques) else np.empty(0, np.int64)
    return np.append(kid, -1).astype(np.int64)[codes]  # code -1 picks the trailing -1


def _key_texts(uniques) -> list:
    """The normalised key text of each distinct code."""
    keys = []
    for u in uniques:  # one pass over the distinct codes only
        if isinstance(u, (bool, np.bool_)):
            keys.append(str(u))
        elif isinstance(u, (int, np.integer)) or isinstance(u, (float, np.floating)) and float(u).is_integer():
            keys.append(str(int(u)))
        elif isinstance(u, (float, np.floating)):
            keys.append(repr(float(u)))
        else:
            t = unicodedata.normalize("NFC", str(u)).strip()
            if t.isdigit() and t.isascii():
                t = t.lstrip("0") or "0"
            keys.append(t)
    return keys


def _psu_reused(pid: np.ndarray, sid: np.ndarray) -> bool:
    """Whether some PSU id (>= 0) occurs with more than one stratum id (>= 0), blanks ignored."""
    ok = (pid >= 0) & (sid >= 0)
    if not ok.any():
        return False
    p, st = pid[ok], sid[ok]
    first = np.full(int(p.max()) + 1, -1, dtype=np.int64)
    first[p[::-1]] = st[::-1]  # the stratum of each PSU's first row (the last write wins)
    return bool((st != first[p]).any())  # no sort: one pass


def _norm_design_text(s: pd.Series) -> pd.Series:
    """Text cells NFC + trimmed, in the column's own dtype (numbers of a mixed column untouched)."""
    if s.dtype != object:
        return _norm_text(s).astype(s.dtype)
    is_str = s.map(lambda x: isinstance(x, str), na_action="ignore").fillna(False).to_numpy(dtype=bool)
    out = s.copy()
    if is_str.any():
        out[is_str] = _norm_text(s[is_str]).astype(object).to_numpy()
    return out


def _name_key(s: pd.Series) -> pd.Series:
    return _norm_text(s)


def _row_labels(n: int, ids) -> np.ndarray:
    """Respondent ids (integral float ids shown as integers); the 1-based row number where
    there is no id column or the id is blank."""
    if ids is None:
        return np.arange(1, n + 1)
    if pd.api.types.is_float_dtype(ids):
        v = ids.to_numpy(dtype="float64", na_value=np.nan)
        fin = v[~np.isnan(v)]
        if np.array_equal(fin, np.floor(fin)):
            ids = ids.astype("Int64")
    lab = np.array(ids.to_numpy(dtype=object, na_value=None), dtype=object, copy=True)  # writable (pandas 3 CoW)
    blank = pd.isna(ids).to_numpy()
    if blank.any():
        lab[blank] = np.flatnonzero(blank) + 1
    elif pd.api.types.is_integer_dtype(ids.dtype) and not isinstance(ids.dtype, pd.api.extensions.ExtensionDtype):
        return ids.to_numpy()
    return lab


class _Builder:
    """Accumulates pandera columns and, per (column, check), how to word a failure."""

    def __init__(self):
        self.columns: dict = {}
        self.messages: dict = {}  # (column, check) -> (kind, fn(pos, vals) -> (en, vi))

    def col(self, name: str, *, nullable: bool = True, unique: bool = False, required: bool = True):
        c = self.columns.setdefault(name, {"nullable": True, "unique": False, "required": False, "checks": []})
        c["nullable"] = c["nullable"] and nullable
        c["unique"] = c["unique"] or unique
        c["required"] = c["required"] or required
        return c

    def check(self, column: str, name: str, kind: str, fn: Callable, words: Callable, ignore_na: bool = True):
        c = self.columns[column]
        if any(ch.name == name for ch in c["checks"]):
            return
        c["checks"].append(pa.Check(fn, name=name, ignore_na=ignore_na, element_wise=False))
        self.messages[(column, name)] = (kind, words)

    def schema(self) -> pa.DataFrameSchema:
        cols = {
            n: pa.Column(
                None,
                checks=c["checks"],
                nullable=c["nullable"],
                unique=c["unique"],
                required=c["required"],
                report_duplicates="all",
            )
            for n, c in self.columns.items()
        }
        return pa.DataFrameSchema(cols, coerce=False, strict=False)


def _series_words(en_parts, vi_parts):
    """Build a message function from templates; parts are str or callables of (pos, vals)."""

    def words(pos, vals):
        def build(parts):
            out = pd.Series([""] * len(pos), dtype=object)
            for p in parts:
                if callable(p):
                    out = out + pd.Series(p(pos, vals), dtype=object).astype(str).to_numpy()
                else:
                    out = out + p
            return out.to_numpy()

        return build(en_parts), build(vi_parts)

    return words


def _vals(pos, vals):
    """Message part of :func:`_series_words`: the offending values themselves (``pos`` unused)."""
    return vals


# --------------------------------------------------------------------------------------
# validate_survey
# --------------------------------------------------------------------------------------
def validate_survey(
    data: pd.DataFrame, spec, frame: pd.DataFrame | None = None, *, id_column: str | None = None
) -> ValidationReport:
    """Check survey microdata against an index specification and the sampling frame.

    Parameters
    ----------
    data : DataFrame
        One row per respondent, as read from the survey file (never modified).
    spec : IndexSpec or path-like
        The index specification, or the path of its TOML file.
    frame : DataFrame, optional
        The sampling frame: one row per village (or per commune), with the columns named
        as the spec's design columns ``commune`` (code), optionally ``commune_name`` and
        ``village``, and optionally household counts (not used here). When given, commune
        and village codes of the data are checked against it, commune names are compared
        after NFC normalisation and trimming, and communes of the frame without any
        respondent are reported.
    id_column : str, optional
        The respondent-id column; default the spec's ``design.id``. When neither is set,
        rows are identified by their 1-based position in the data.

    Returns
    -------
    ValidationReport
        ``report.ok``, ``report.errors`` (every problem, see :class:`ValidationReport`),
        ``report.coercions`` and ``report.data`` (the cleaned copy, only when ok).

    Raises
    ------
    SchemaError
        ``data`` is not a DataFrame, or the frame lacks the commune column or gives one
        commune two names (the frame itself is unusable). Problems in ``data`` never raise:
        they are reported; call :meth:`ValidationReport.raise_if_errors` to raise.
    SpecError
        ``spec`` is a path to an invalid spec, a missing file or a directory, or ``spec`` is
        neither an IndexSpec nor a path (e.g. ``None``); the message names the path.

    Notes
    -----
    Codes are compared as normalised keys: numbers as integers, text NFC-normalised and
    trimmed, and digit-only text without leading zeros, so a commune code ``"04321"`` in
    the frame matches ``4321`` read by Excel as a number. Respondent ids are compared after
    NFC normalisation and trimming, so ``"R007 "`` and ``"R007"`` are duplicates.

    A PSU code found in several strata is reported on the rows outside the PSU's most
    frequent stratum (ties: the stratum met first). If village codes are only unique within
    a commune, build a unique PSU code (commune + village) or declare the design with
    ``nest=True``.

    Excel error values (``#N/A``, ``#DIV/0!`` ...) in a column the spec uses are reported
    as such (kind ``excel error``), once per cell. An item of the index whose column holds
    no answer at all (every cell blank or a missing code) is reported (kind ``empty item``).
    Trailing blank rows dropped by :func:`~happiness_index.read_survey` (``data.attrs``)
    are counted in ``report.blank_rows_dropped``.
    """
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(
            f"data must be a pandas DataFrame, got {type(data).__name__}; "
            "read the file with happiness_index.read_survey(path)"
        )
    if not isinstance(spec, IndexSpec):
        if spec is None or not isinstance(spec, (str, os.PathLike)):
            raise SpecError(
                f"validate_survey needs a spec: an IndexSpec or the path of its TOML "
                f"file, got {type(spec).__name__} {spec!r}"
            )
        spec = IndexSpec.from_toml(spec)
    v = _Validation(data, spec, id_column)
    v.check_rows_exist()
    v.check_excel_errors()
    v.check_id()
    v.check_items()
    v.check_weights()
    v.check_design_keys()
    v.check_psu_nesting()
    v.check_control_characters()
    if frame is not None:
        _frame_checks(frame, v.src, spec.design, v.orig_of, v.work, v.b, v.problems, v.present)
    v.check_skip_rules()
    v.check_header_row()
    return v.report()


class _Validation:
    """The state of one validation: the columns (by NFC name), the pandera checks being
    built, the problems found outside pandera and the coercions; one method per step."""

    def __init__(self, data: pd.DataFrame, spec: IndexSpec, id_column):
        self.data, self.spec, self.design = data, spec, spec.design
        self.n = len(data)
        self.id_col = id_column if id_column is not None else spec.design.id
        self.orig_of: dict = {}  # NFC name -> the name as spelled in the file
        self.src: dict = {}  # NFC name -> the column (by position, so duplicate headers are safe)
        self.problems: list = []  # extra rows of the error table built outside pandera
        self.b = _Builder()
        self.work: dict = {}
        self.numeric_keys: set = set()
        self.coercions: list = []
        self.excel_cells: dict = {}  # NFC name -> mask of Excel error cells
        self.unreadable: dict = {}  # item name -> mask of answers that are not numbers
        # the number format the file was read with (read_survey records it); None: unknown
        a = data.attrs
        self.number_format = (a.get("decimal", "."), a.get("thousands")) if a.get("number_format") else None
        self._index_columns()
        self.row_label = _row_labels(self.n, self.src.get(column_key(self.id_col)) if self.id_col is not None else None)

    def _index_columns(self) -> None:
        for i, c in enumerate(self.data.columns):
            k = column_key(c)
            if k in self.orig_of:
                self.problems.append(self._duplicate_column(self.orig_of[k], c))
                continue
            self.orig_of[k] = c
            self.src[k] = self.data.iloc[:, i]

    @staticmethod
    def _duplicate_column(first, second) -> dict:
        """Two headers that are one name (:func:`column_key`): which one holds the data is a guess."""
        if unicodedata.normalize("NFC", str(first)) == unicodedata.normalize("NFC", str(second)):
            how_en = "after Unicode NFC normalisation (one is typed in decomposed form)"
            how_vi = "sau khi chuẩn hóa Unicode NFC"
        else:
            how_en = "once the spaces around them are removed"
            how_vi = "sau khi bỏ khoảng trắng ở đầu và cuối"
        return _column_problem(
            str(second),
            "unique column name",
            "duplicate column",
            en=f"columns {first!r} and {second!r} have the same name {how_en}; which one holds the data "
            "would be a guess: rename or drop one",
            vi=f"hai cột {first!r} và {second!r} trùng tên {how_vi}; không thể biết cột nào chứa dữ liệu: "
            "hãy đổi tên hoặc xóa một cột",
        )

    def present(self, name) -> bool:
        return name is not None and column_key(name) in self.orig_of

    def used_columns(self) -> list:
        d = self.design
        names = [self.id_col, d.weights, d.strata, d.psu, d.fpc, d.commune, d.commune_name, d.village]
        names += [it.name for it in self.spec.items]
        out: list = []
        for nm in names:
            if self.present(nm) and column_key(nm) not in out:
                out.append(column_key(nm))
        return out

    def numeric_column(self, name) -> pd.Series:
        """Coerce a column to numbers once; record coercions; add the 'is a number' check."""
        key = column_key(name)
        if key in self.work:
            return self.work[key]
        s = self.src[key]
        v, bad, coerced = to_number(s, self.number_format)
        if coerced is not None and coerced.any():
            pos = np.flatnonzero(coerced)
            self.coercions.append(
                pd.DataFrame(
                    {
                        "row": self.row_label[pos],
                        "row_number": pos + 1,
                        "column": self.orig_of[key],
                        "value": s.to_numpy()[pos],
                        "coerced": v[pos],
                        "note": np.where(
                            np.isnan(v[pos]), "blank text read as missing", "number stored as text read as a number"
                        ),
                        "_pos": pos,
                    }
                )
            )
        self.work[key] = pd.Series(v, copy=False)
        self.numeric_keys.add(key)
        self.b.col(key, required=True)
        if bad is not None and key in self.excel_cells:
            bad = bad & ~self.excel_cells[key]  # reported as Excel errors
        if bad is not None and bad.any():
            bad = self._check_not_numbers(key, s, bad)
        if pd.api.types.is_bool_dtype(s.dtype) and key not in {it.name for it in self.spec.items}:
            self.problems.append(self._boolean_design_column(key))
        if bad is not None and bad.any() and self.number_format is None:
            amb = ambiguous_text(s) & bad
            if amb.any():
                bad = bad & ~amb
                self._check_ambiguous(key, amb)
        if bad is not None and bad.any() and (self.number_format is None or self.number_format[0] != ","):
            comma = decimal_comma_text(s) & bad
            if comma.any():
                bad = bad & ~comma
                self._check_decimal_comma(key, comma)
        if bad is not None and bad.any() and self.number_format == (",", None):
            grouped = _dot_grouped_text(s) & bad  # '1.925,00' read with decimal ',' and no thousands
            if grouped.any():
                bad = bad & ~grouped
                self._check_thousands_undeclared(key, grouped)
        if bad is not None and bad.any():
            ocol = self.orig_of[key]
            self._flag_cells(
                key,
                "is a number",
                "not a number",
                bad,
                f" in column {ocol!r} is not a number; type the numeric code (or leave the cell blank if missing)",
                f" ở cột {ocol!r} không phải là số; hãy nhập mã số (hoặc để trống nếu thiếu)",
            )
        return self.work[key]

    def _flag_cells(
        self, key: str, check: str, kind: str, cells: np.ndarray, en: str, vi: str, what=("value ", "giá trị ")
    ):
        """Report the ``cells`` (n bool) of a column as failing ``check``: each message is ``what``,
        the cell's value, then ``en`` / ``vi``."""
        keep = pd.Series(~cells, copy=False)
        self.b.check(
            key,
            check,
            kind,
            lambda s, m=keep: m.reindex(s.index),
            _series_words([what[0], _vals, en], [what[1], _vals, vi]),
            ignore_na=False,
        )

    def _check_not_numbers(self, key: str, s: pd.Series, bad: np.ndarray) -> np.ndarray:
        """Dates/times and True/False cells among the cells that are not numbers, reported with
        their cause and fix; returns the remaining unreadable cells."""
        ocol = self.orig_of[key]
        for mask, check, en, vi in (
            (
                temporal_cells(s) & bad,
                "not a date or time",
                f" in column {ocol!r} is a date or time, not a number: the column holds dates/times "
                "(Excel date format?): format the cells as numbers (Format Cells > Number) and save again",
                f" ở cột {ocol!r} là ngày/giờ, không phải số: cột đang chứa ngày/giờ (định dạng ngày của "
                "Excel?): hãy định dạng các ô thành số (Format Cells > Number) rồi lưu lại",
            ),
            (
                boolean_cells(s) & bad,
                "not True/False",
                f" in column {ocol!r} is a True/False (Boolean) cell, not a number: it is not an answer "
                "code and is not read as 1/0; type the numeric value (or leave the cell blank if missing)",
                f" ở cột {ocol!r} là ô đúng/sai (TRUE/FALSE), không phải số: không phải mã trả lời và không "
                "được hiểu là 1/0; hãy nhập giá trị số (hoặc để trống nếu thiếu)",
            ),
        ):
            if not mask.any():
                continue
            bad = bad & ~mask
            self._flag_cells(key, check, "not a number", mask, en, vi)
        return bad

    def _boolean_design_column(self, key: str) -> dict:
        """A weight or fpc column of True/False values: 1/0 would be a guess."""
        ocol = self.orig_of[key]
        return _column_problem(
            str(ocol),
            "not a Boolean column",
            "boolean column",
            en=f"column {ocol!r} holds True/False values, not numbers (True would count as 1, "
            "False as 0); read the column of numbers the design needs",
            vi=f"cột {ocol!r} chứa giá trị True/False, không phải số (True sẽ bị hiểu là 1, False là 0); "
            "hãy dùng cột số mà thiết kế mẫu cần",
        )

    def _check_decimal_comma(self, key: str, comma: np.ndarray) -> None:
        """Numbers typed with a decimal comma (``19,25``) in a file read with a decimal point
        (an Excel cell formatted as text, a CSV read without ``decimal=','``): named as such."""
        ocol = self.orig_of[key]
        self._flag_cells(
            key,
            "decimal point",
            "decimal comma",
            comma,
            f" in column {ocol!r} is a number written with a decimal comma, stored as text; convert the column to "
            "numbers in Excel (or replace ',' by '.'), or save the sheet as CSV and read it with --decimal , "
            "(read_survey(path, decimal=','))",
            f" ở cột {ocol!r} là số viết với dấu phẩy thập phân, lưu dạng chữ; hãy chuyển cột sang dạng số trong "
            "Excel (hoặc thay ',' bằng '.'), hoặc lưu trang tính thành CSV rồi đọc với --decimal , "
            "(read_survey(path, decimal=','))",
        )

    def _check_thousands_undeclared(self, key: str, grouped: np.ndarray) -> None:
        """Numbers with '.' thousands groups ('1.925,00') in a file read with decimal ',' but no
        thousands separator: named as such, with the option that reads them."""
        ocol = self.orig_of[key]
        self._flag_cells(
            key,
            "thousands separator declared",
            "thousands separator",
            grouped,
            f" in column {ocol!r} groups thousands with '.', but the file was read with decimal ',' and no "
            "thousands separator; add --thousands . (read_survey(path, decimal=',', thousands='.'))",
            f" ở cột {ocol!r} dùng dấu '.' phân cách hàng nghìn, nhưng tệp được đọc với dấu thập phân ',' mà không "
            "khai báo dấu hàng nghìn; hãy thêm --thousands . (read_survey(path, decimal=',', thousands='.'))",
        )

    def _check_ambiguous(self, key: str, amb: np.ndarray) -> None:
        ocol = self.orig_of[key]
        self._flag_cells(
            key,
            "unambiguous number",
            "ambiguous number",
            amb,
            f" in column {ocol!r} reads as two different numbers (a thousands separator, as Excel writes in the "
            "Vietnamese locale, or a decimal mark); type it as a number, or read the file with "
            "read_survey(path, decimal=..., thousands=...)",
            f" ở cột {ocol!r} có thể hiểu thành hai số khác nhau (dấu phân cách hàng nghìn theo Excel tiếng Việt, "
            "hoặc dấu thập phân); hãy nhập dạng số, hoặc đọc tệp với read_survey(path, decimal=..., thousands=...)",
            what=("text ", "chữ "),
        )

    def check_rows_exist(self) -> None:
        if self.n == 0:
            self.problems.append(
                _column_problem(
                    "",
                    "at least one row",
                    "no respondents",
                    en="the survey has no data rows (only a header, or an empty file); check "
                    "that the right file or sheet was read",
                    vi="tệp khảo sát không có dòng dữ liệu nào (chỉ có dòng tiêu đề hoặc tệp "
                    "rỗng); hãy kiểm tra đã đọc đúng tệp hoặc trang tính",
                )
            )

    def check_excel_errors(self) -> None:
        """Excel error values (#N/A, #DIV/0! ...) in the columns the spec uses, named as such."""
        for key in self.used_columns():
            s = self.src[key]
            if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
                continue
            if not _any_excel_error(s):
                continue  # decided on the distinct values (17 communes, not 1M stripped texts)
            txt = s.astype("string").str.strip()
            mask = txt.isin(EXCEL_ERRORS).fillna(False).to_numpy(dtype=bool)
            if not mask.any():
                continue
            self.excel_cells[key] = mask
            ocol = self.orig_of[key]
            for p in np.flatnonzero(mask):
                val = txt.iloc[p]
                self.problems.append(
                    dict(
                        row=self.row_label[p],
                        column=ocol,
                        value=s.iloc[p],
                        check="not an Excel error",
                        kind="excel error",
                        message_en=f"column {ocol!r} holds the Excel error value {val!r} (a formula that "
                        f"failed: {_EXCEL_MEANING.get(val, 'an error')}), not an answer; fix the "
                        "formula or type the value (blank if missing)",
                        message_vi=f"cột {ocol!r} chứa giá trị lỗi Excel {val!r} (công thức bị lỗi), không phải "
                        "câu trả lời; hãy sửa công thức hoặc nhập giá trị (để trống nếu thiếu)",
                        _pos=int(p),
                    )
                )

    def check_id(self) -> None:
        if self.id_col is None:
            return
        key = column_key(self.id_col)
        self.b.col(key, nullable=False, unique=True)
        if self.present(self.id_col):
            ids = self.src[key].reset_index(drop=True)
            if not pd.api.types.is_numeric_dtype(ids.dtype):
                ids = _norm_text(ids).mask(lambda t: t == "")  # ' R007 ' == 'R007'; '  ' is blank
            self.work[key] = ids

    def check_items(self) -> None:
        for it in self.spec.items:
            self.b.col(it.name, nullable=it.nullable, required=it.required)
            if self.present(it.name):
                self._check_item(it)

    def _check_item(self, it) -> None:
        key, ocol = it.name, self.orig_of[it.name]
        boolean = pd.api.types.is_bool_dtype(self.src[key].dtype) and it.type != "yes_no"
        if boolean:
            # True/False would pass as codes 1/0: the answer codes were lost on the way in
            self.problems.append(
                _column_problem(
                    str(ocol),
                    "not a Boolean column",
                    "boolean column",
                    en=f"column {ocol!r} holds True/False values, but item {key!r} is {it.type} "
                    f"({it.describe_codes()}): the answer codes were lost (True would count as "
                    "code 1); read the original coded answers, not a yes/no conversion",
                    vi=f"cột {ocol!r} chứa giá trị True/False, nhưng câu {key!r} là {it.type} "
                    f"({it.describe_codes()}): mã trả lời đã bị mất; hãy dùng dữ liệu mã gốc",
                )
            )
        answered = None
        if it.numeric:
            v = self.numeric_column(key).to_numpy(copy=True)
            unreadable = np.isnan(v) & _nonblank(self.src[key])  # a wrong answer, not a blank
            if it.missing_codes:
                v[np.isin(v, np.asarray(it.missing_codes, dtype="float64"))] = np.nan
            answered = ~np.isnan(v) | unreadable
            self.unreadable[key] = unreadable  # reported on its own; decides no skip rule
            self.work[key] = pd.Series(_narrow_exactly(v), copy=False)
            if it.type == "integer":
                lo = -np.inf if it.minimum is None else it.minimum
                hi = np.inf if it.maximum is None else it.maximum
                fn = lambda s, lo=lo, hi=hi: (s == np.floor(s)) & (s >= lo) & (s <= hi)
            else:
                codes = np.asarray(it.codes, dtype="float64")
                fn = lambda s, codes=codes: pd.Series(np.isin(s.to_numpy(), codes), index=s.index)
        else:
            t = _name_key(self.src[key]).reset_index(drop=True)
            if it.missing_codes:
                t = t.mask(t.isin([str(m) for m in it.missing_codes]))
            self.work[key] = t
            fn = lambda s, codes=[str(c) for c in it.codes]: s.isin(codes)
        if boolean:  # reported once for the whole column above
            fn = lambda s: pd.Series(True, index=s.index)
        self._check_item_answered(it, ocol, answered)
        miss = f" nor a missing code {format_codes(it.missing_codes)}" if it.missing_codes else ""
        miss_vi = f" và không phải mã thiếu {format_codes(it.missing_codes)}" if it.missing_codes else ""
        hint, hint_vi = self._declared_missing_hint(key, it)
        miss, miss_vi = miss + hint, miss_vi + hint_vi
        name = it.describe_codes()
        self.b.check(
            key,
            name,
            "invalid code",
            fn,
            _series_words(
                [
                    "value ",
                    _vals,
                    f" in column {ocol!r} is not an allowed code ({name}){miss}; correct it or record it as missing",
                ],
                [
                    "giá trị ",
                    _vals,
                    f" ở cột {ocol!r} không phải mã hợp lệ ({it.describe_codes('vi')}){miss_vi}; "
                    "hãy sửa hoặc ghi là thiếu",
                ],
            ),
        )

    def _declared_missing_hint(self, key: str, it) -> tuple[str, str]:
        """A note for an item whose file (SPSS) declares user-missing values the spec does not list."""
        declared = (self.data.attrs.get("user_missing") or {}).get(key) or []
        extra = [v for v in declared if not (isinstance(v, (int, float)) and v in it.missing_codes)]
        if not extra:
            return "", ""
        shown = ", ".join(f"{v[0]}..{v[1]}" if isinstance(v, tuple) else format_value(v) for v in extra)
        return (
            f" (the file declares {shown} as missing for this column: to count them as missing, add them to "
            f"missing_codes of item {key!r} in the spec)",
            f" (tệp khai báo {shown} là giá trị thiếu của cột này: để coi là thiếu, hãy thêm vào "
            f"missing_codes của câu {key!r} trong tệp đặc tả)",
        )

    def _check_item_answered(self, it, ocol, answered) -> None:
        """An item of the index whose column holds no answer at all (every cell blank or a
        missing code; a value that is not a number or not a code counts as an answer)."""
        used = {i for c in self.spec.components for i in c.items}
        if self.n == 0 or it.name not in used:
            return
        if answered is None:
            answered = self.work[it.name].notna().to_numpy(dtype=bool)
        if np.asarray(answered, dtype=bool).any():
            return
        self.problems.append(
            _column_problem(
                str(ocol),
                "item has answers",
                "empty item",
                en=f"column {ocol!r} (item {it.name!r} of the index) has no answer in any of the {self.n} "
                "rows: every cell is blank or a missing code; the index cannot be computed "
                "from it. Check that the right column was exported",
                vi=f"cột {ocol!r} (câu {it.name!r} của chỉ số) không có câu trả lời nào trong {self.n} "
                "dòng: mọi ô đều trống hoặc là mã thiếu; không thể tính chỉ số. Hãy kiểm tra "
                "đã xuất đúng cột",
            )
        )

    def check_weights(self) -> None:
        wcol = self.design.weights
        if wcol is None:
            return
        key = column_key(wcol)
        self.b.col(key, nullable=False)
        if not self.present(key):
            return
        self.numeric_column(key)
        self.b.check(
            key,
            "weight finite",
            "weight not finite",
            lambda s: pd.Series(np.isfinite(s), index=s.index),
            _series_words(
                [f"weight {wcol!r} = ", _vals, " is not finite; a sampling weight must be a positive number"],
                [f"trọng số {wcol!r} = ", _vals, " không hữu hạn; trọng số mẫu phải là số dương"],
            ),
        )
        self.b.check(
            key,
            "weight positive",
            "weight not positive",
            lambda s: ~np.isfinite(s) | (s > 0),
            _series_words(
                [f"weight {wcol!r} = ", _vals, " is not positive; a sampling weight must be greater than 0"],
                [f"trọng số {wcol!r} = ", _vals, " không dương; trọng số mẫu phải lớn hơn 0"],
            ),
        )

    def check_design_keys(self) -> None:
        d = self.design
        for col in (d.strata, d.psu, d.commune, d.village):
            if col is not None:
                self.b.col(column_key(col), nullable=False)
                if self.present(col) and column_key(col) not in self.work:
                    self.work[column_key(col)] = self.src[column_key(col)].reset_index(drop=True)
        if d.fpc is not None:
            self.b.col(column_key(d.fpc), nullable=False)
            if self.present(d.fpc):
                self.numeric_column(d.fpc)

    def check_control_characters(self) -> None:
        """Control characters (ESC, NUL, C1 ...) in the text of the id and design columns: invisible
        in a spreadsheet, they would reach the terminal and the reports; tab and line breaks are
        left to the trimming and the code checks."""
        d = self.design
        for name in dict.fromkeys((self.id_col, d.strata, d.psu, d.commune, d.commune_name, d.village)):
            if not self.present(name):
                continue
            key = column_key(name)
            s = self.src[key]
            if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
                continue
            if not _CONTROL.search("".join(u for u in pd.unique(s.dropna()) if isinstance(u, str))):
                continue  # the usual case: one search over the distinct texts, no row codes
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            hit = np.array([isinstance(u, str) and bool(_CONTROL.search(u)) for u in uniques] + [False])
            keep = pd.Series(~hit[codes], copy=False)
            ocol = self.orig_of[key]
            self.b.col(key, required=False)
            if key not in self.work:
                self.work[key] = s.reset_index(drop=True)
            self.b.check(
                key,
                "no control character",
                "control character in text",
                lambda s, m=keep: m.reindex(s.index),
                _series_words(
                    [
                        "text ",
                        _vals,
                        f" in column {ocol!r} holds a control character (shown as \\x.., e.g. an escape "
                        "sequence copied from a terminal or another program); delete it and type the text again",
                    ],
                    [
                        "chữ ",
                        _vals,
                        f" ở cột {ocol!r} chứa ký tự điều khiển (hiện dạng \\x.., ví dụ chuỗi thoát sao chép từ "
                        "cửa sổ lệnh hoặc chương trình khác); hãy xóa và gõ lại",
                    ],
                ),
            )

    def check_psu_nesting(self) -> None:
        d = self.design
        if not (self.present(d.strata) and self.present(d.psu)) or column_key(d.strata) == column_key(d.psu):
            return
        if not _psu_reused(_key_ids(self.work[column_key(d.psu)]), _key_ids(self.work[column_key(d.strata)])):
            return  # the usual case, decided on integer ids; the messages below need the texts
        skey, pkey = _key(self.work[column_key(d.strata)]), _key(self.work[column_key(d.psu)])
        pairs = pd.DataFrame({"p": pkey, "s": skey})
        n_strata = pairs.groupby("p", dropna=True)["s"].nunique()
        reused = n_strata.index[n_strata.to_numpy() > 1]
        if not len(reused):
            return
        sub = pairs[pairs["p"].isin(reused)]
        cnt = sub.groupby(["p", "s"], sort=False).size().reset_index(name="k")
        modal = cnt.sort_values("k", ascending=False, kind="stable").drop_duplicates("p")
        modal_of = pd.Series(modal["s"].to_numpy(), index=modal["p"].to_numpy())
        ok = pd.Series(True, index=pairs.index)
        expect = pairs.loc[sub.index, "p"].map(modal_of)
        ok.loc[sub.index] = (pairs.loc[sub.index, "s"] == expect).to_numpy()
        pcol, scol = self.orig_of[column_key(d.psu)], self.orig_of[column_key(d.strata)]
        expect_all = pairs["p"].map(modal_of).to_numpy()
        got = pairs["s"].to_numpy()
        self.b.check(
            column_key(d.psu),
            "psu nested in stratum",
            "psu not nested",
            lambda s, m=ok: m.reindex(s.index),
            _series_words(
                [
                    f"PSU {pcol!r} = ",
                    _vals,
                    f" appears in more than one stratum; this row has {scol!r} = ",
                    lambda p, v: [format_value(x) for x in got[p]],
                    ", most rows of this PSU have ",
                    lambda p, v: [format_value(x) for x in expect_all[p]],
                    "; fix the code or make PSU codes unique across strata",
                ],
                [
                    f"PSU {pcol!r} = ",
                    _vals,
                    f" xuất hiện ở nhiều tầng; dòng này có {scol!r} = ",
                    lambda p, v: [format_value(x) for x in got[p]],
                    ", phần lớn các dòng của PSU này thuộc ",
                    lambda p, v: [format_value(x) for x in expect_all[p]],
                    "; hãy sửa mã hoặc đặt mã PSU không trùng giữa các tầng",
                ],
            ),
        )

    def check_skip_rules(self) -> None:
        for r in self.spec.skip_rules:
            if self.present(r.item) and self.present(r.filter):
                self._check_skip_rule(r)

    def _check_skip_rule(self, r) -> None:
        fvals = self.work[column_key(r.filter)]
        f_item = self.spec.item(r.filter)
        if f_item.numeric:
            fv = fvals.to_numpy(dtype="float64", na_value=np.nan)
            allowed = np.isin(fv, np.asarray(r.values, dtype="float64"))
            if f_item.type == "integer":
                lo = -np.inf if f_item.minimum is None else f_item.minimum
                hi = np.inf if f_item.maximum is None else f_item.maximum
                valid = (fv == np.floor(fv)) & (fv >= lo) & (fv <= hi)
            else:
                valid = np.isin(fv, np.asarray(f_item.codes, dtype="float64"))
            invalid = ~np.isnan(fv) & ~valid
            unreadable = self.unreadable.get(column_key(r.filter))
            if unreadable is not None:
                invalid = invalid | unreadable
        else:
            allowed = fvals.isin([str(v) for v in r.values]).to_numpy(dtype=bool)
            invalid = (fvals.notna() & ~fvals.isin([str(c) for c in f_item.codes])).to_numpy(dtype=bool)
        # an invalid filter value is reported by its own check; it does not decide the skip
        mask = pd.Series(allowed | invalid, copy=False)
        icol, fcol = self.orig_of[column_key(r.item)], self.orig_of[column_key(r.filter)]
        fshow = fvals.to_numpy()
        name = f"skip rule: missing unless {r.filter} in {format_codes(r.values)}"
        self.b.check(
            column_key(r.item),
            name,
            "skip rule",
            lambda s, m=mask: m.reindex(s.index),
            _series_words(
                [
                    f"{icol!r} = ",
                    _vals,
                    f" should be blank: it is asked only when "
                    f"{fcol!r} is in {format_codes(r.values)}, and here {fcol!r} = ",
                    lambda p, v, f=fshow: [format_value(x) for x in f[p]],
                ],
                [
                    f"{icol!r} = ",
                    _vals,
                    f" phải để trống: câu này chỉ hỏi khi {fcol!r} thuộc {format_codes(r.values)}, ở đây {fcol!r} = ",
                    lambda p, v, f=fshow: [format_value(x) for x in f[p]],
                ],
            ),
        )

    def check_header_row(self) -> None:
        """Most column names blank ('Unnamed: 3') while spec columns are missing: the column
        names are not on the first row (Excel title rows); say so once."""
        names = [str(c) for c in self.data.columns]
        unnamed = [c for c in names if c.startswith("Unnamed:")]
        d = self.design
        wanted = [it.name for it in self.spec.items if it.required] + [
            c for c in (self.id_col, d.weights, d.strata, d.psu, d.commune, d.village) if c is not None
        ]
        missing = [c for c in wanted if not self.present(c)]
        if not names or 2 * len(unnamed) < len(names) or not missing:
            return
        self.problems.append(
            _column_problem(
                "",
                "column names on the header row",
                "header row",
                en=f"{len(unnamed)} of the {len(names)} column names are blank ({', '.join(unnamed[:3])} ...) "
                f"and {len(missing)} columns of the spec are missing: the column names are probably "
                "not on the first row (a title above the table). Read the file with "
                "read_survey(path, header_row=N) (--header-row N), N the row of the names",
                vi=f"{len(unnamed)} trong {len(names)} tên cột bị trống và thiếu {len(missing)} cột của đặc "
                "tả: tên cột có lẽ không nằm ở dòng đầu (có dòng tiêu đề phía trên bảng). Hãy đọc tệp "
                "với read_survey(path, header_row=N) (--header-row N), N là dòng chứa tên cột",
            )
        )

    def report(self) -> ValidationReport:
        """Run pandera on the working columns and assemble the report."""
        work = self.work
        workdf = pd.DataFrame(work, copy=False) if work else pd.DataFrame(index=pd.RangeIndex(self.n))
        if len(workdf.columns) and not isinstance(workdf.index, pd.RangeIndex):
            workdf = workdf.reset_index(drop=True)
        failures = None
        try:
            self.b.schema().validate(workdf, lazy=True, inplace=True)
        except SchemaErrors as exc:
            failures = exc.failure_cases
        del workdf
        errors = _error_table(
            failures,
            self.src,
            self.data.columns,
            self.orig_of,
            self.row_label,
            self.b,
            self.problems,
            known=set(self.used_columns()),
        )
        coer = (
            pd.concat(self.coercions, ignore_index=True)
            .sort_values(["_pos"], kind="stable")
            .drop(columns="_pos")
            .reset_index(drop=True)[COERCION_COLUMNS]
            if self.coercions
            else pd.DataFrame(columns=COERCION_COLUMNS)
        )
        self.work.clear()  # the working columns are not kept: the cleaned copy is built on demand
        clean = None
        if len(errors) == 0:
            clean = _cleaner(
                self.data.index,
                self.src,
                self.spec,
                self.orig_of,
                self.numeric_keys,
                self.number_format,
                attrs=self.data.attrs,
            )
        blank = self.data.attrs.get("blank_rows_dropped", 0)
        blank = int(blank) if isinstance(blank, (int, np.integer)) and blank > 0 else 0
        a = self.data.attrs
        nf = (
            {"decimal": a.get("decimal"), "thousands": a.get("thousands"), "how": a.get("number_format")}
            if a.get("number_format")
            else None
        )
        return ValidationReport(
            errors=errors,
            coercions=coer,
            n_rows=self.n,
            clean_copy=clean,
            spec_name=self.spec.name,
            blank_rows_dropped=blank,
            number_format=nf,
            sheet=_sheet_of(self.data),
        )


_EXCEL_MEANING = {
    "#N/A": "a lookup found no value",
    "#DIV/0!": "a division by zero",
    "#VALUE!": "a wrong type of value",
    "#REF!": "a reference to a deleted cell",
    "#NAME?": "an unknown function or name",
    "#NUM!": "an invalid number",
    "#NULL!": "an empty intersection of ranges",
}


def _frame_checks(frame, src, design, orig_of, work, b, problems, present):
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    fcols = {column_key(c): c for c in frame.columns}
    ccol = design.commune or design.strata
    if ccol is None:
        raise SchemaError(
            "a sampling frame was given but the spec declares no design.commune "
            "(or design.strata) column to compare it with"
        )
    if column_key(ccol) not in fcols:
        raise SchemaError(
            f"the sampling frame has no column {ccol!r} (the spec's commune column); "
            f"its columns are {list(frame.columns)}; rename the frame's commune code column"
        )
    fkey = _key(frame[fcols[column_key(ccol)]])
    frame_codes = pd.Index(fkey.dropna().unique())
    if present(ccol):
        dcol = orig_of[column_key(ccol)]
        dkey = _key(work[column_key(ccol)])
        in_frame = pd.Series(dkey.isin(frame_codes).to_numpy() | dkey.isna().to_numpy(), copy=False)
        b.check(
            column_key(ccol),
            "commune in frame",
            "commune not in frame",
            lambda s, m=in_frame: m.reindex(s.index),
            _series_words(
                [
                    f"{dcol!r} = ",
                    _vals,
                    " is not a commune code of the sampling frame; correct the code or add the commune to the frame",
                ],
                [
                    f"{dcol!r} = ",
                    _vals,
                    " không phải mã xã/phường trong dàn chọn mẫu; hãy sửa mã hoặc bổ sung xã/phường vào dàn chọn mẫu",
                ],
            ),
        )
        # communes of the frame with no respondent
        seen = pd.Index(dkey.dropna().unique())
        lost = ~fkey.isin(seen) & fkey.notna()
        if lost.any():
            first = ~fkey.duplicated()
            for code in frame[fcols[column_key(ccol)]][(lost & first).to_numpy()].tolist():
                problems.append(
                    dict(
                        row=pd.NA,
                        column=dcol,
                        value=code,
                        check="commune has respondents",
                        kind="commune without respondents",
                        message_en=f"commune {format_value(code)} is in the sampling frame but has no respondent in "
                        "the data; check that its questionnaires were entered",
                        message_vi=f"xã/phường {format_value(code)} có trong dàn chọn mẫu nhưng không có người trả lời "
                        "nào trong dữ liệu; hãy kiểm tra việc nhập phiếu của xã/phường này",
                        _pos=_AFTER_ROWS,
                    )
                )
        # commune names
        ncol = design.commune_name
        if ncol is not None and column_key(ncol) in fcols and present(ncol):
            fnames = pd.DataFrame({"k": fkey, "name": _name_key(frame[fcols[column_key(ncol)]])}).dropna()
            fnames = fnames.drop_duplicates()
            dup = fnames["k"].duplicated(keep=False)
            if dup.any():
                bad = fnames[dup]
                raise SchemaError(
                    f"the sampling frame gives commune {bad['k'].iloc[0]} more than one "
                    f"name: {sorted(bad['name'].unique().tolist())}; fix the frame"
                )
            name_of = pd.Series(fnames["name"].to_numpy(), index=fnames["k"].to_numpy())
            expected = dkey.map(name_of)
            got = _name_key(src[column_key(ncol)]).reset_index(drop=True)
            okn = (expected.isna() | got.isna() | (got == expected)).fillna(True).astype(bool)
            work[column_key(ncol)] = src[column_key(ncol)].reset_index(drop=True)
            b.col(column_key(ncol), required=False)
            ncol_o = orig_of[column_key(ncol)]
            exp_arr = expected.to_numpy()
            b.check(
                column_key(ncol),
                "commune name matches frame",
                "commune name mismatch",
                lambda s, m=okn: m.reindex(s.index),
                _series_words(
                    [
                        f"{ncol_o!r} = ",
                        _vals,
                        " differs from the sampling frame's name ",
                        lambda p, v: [repr(str(x)) for x in exp_arr[p]],
                        " for this commune code (compared after Unicode NFC and trimming); "
                        "correct the name or the code",
                    ],
                    [
                        f"{ncol_o!r} = ",
                        _vals,
                        " khác tên trong dàn chọn mẫu ",
                        lambda p, v: [repr(str(x)) for x in exp_arr[p]],
                        " của mã xã/phường này (so sánh sau chuẩn hóa Unicode NFC và bỏ "
                        "khoảng trắng); hãy sửa tên hoặc mã",
                    ],
                ),
            )
        # villages
        vcol = design.village
        if vcol is not None and column_key(vcol) in fcols and present(vcol):
            fpair = fkey + "\x1f" + _key(frame[fcols[column_key(vcol)]])
            dpair = dkey + "\x1f" + _key(work[column_key(vcol)])
            okv = pd.Series(
                (dpair.isin(pd.Index(fpair.dropna().unique())) | dpair.isna() | ~dkey.isin(frame_codes)).to_numpy(
                    dtype=bool
                ),
                copy=False,
            )
            vcol_o = orig_of[column_key(vcol)]
            dshow = work[column_key(ccol)].to_numpy()
            b.check(
                column_key(vcol),
                "village in frame",
                "village not in frame",
                lambda s, m=okv: m.reindex(s.index),
                _series_words(
                    [
                        f"{vcol_o!r} = ",
                        _vals,
                        " is not a village of commune ",
                        lambda p, v: [format_value(x) for x in dshow[p]],
                        " in the sampling frame; correct the village or commune code",
                    ],
                    [
                        f"{vcol_o!r} = ",
                        _vals,
                        " không phải thôn/tổ của xã/phường ",
                        lambda p, v: [format_value(x) for x in dshow[p]],
                        " trong dàn chọn mẫu; hãy sửa mã thôn/tổ hoặc mã xã/phường",
                    ],
                ),
            )


def _unused_columns(orig_of: dict, declared, limit: int = 8) -> tuple[str, str]:
    """Message tail naming the file's columns that the spec does not use (English, Vietnamese):
    a header in the office's own words ('Quyền số') is then easy to rename to the spec's."""
    names = [str(o) for k, o in orig_of.items() if k not in declared]
    if not names:
        return "", ""
    shown = ", ".join(repr(n) for n in names[:limit]) + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )
    shown_vi = ", ".join(repr(n) for n in names[:limit]) + (
        f" và {len(names) - limit} cột khác" if len(names) > limit else ""
    )
    return (
        f" (columns of the file that the spec does not use: {shown}; rename the one that holds it)",
        f" (các cột trong tệp mà đặc tả không dùng: {shown_vi}; hãy đổi tên cột chứa dữ liệu này)",
    )


#: Sort position of problems that concern a commune of the frame (after every row).
_AFTER_ROWS = np.iinfo(np.int64).max


def _error_table(failures, src, columns, orig_of, row_label, b, problems, known=frozenset()) -> pd.DataFrame:
    parts = []
    if failures is not None and len(failures):
        fc = failures
        # whole-column problems: missing columns
        colmiss = fc[fc["check"] == "column_in_dataframe"]
        unused = _unused_columns(orig_of, set(b.columns) | set(known)) if len(colmiss) else ("", "")
        for name in colmiss["failure_case"].tolist():
            parts.append(
                pd.DataFrame(
                    [
                        _column_problem(
                            name,
                            "column present",
                            "missing column",
                            en=f"column {name!r} required by the spec is not in the data; add it or fix "
                            f"the spelling of its header{unused[0]}",
                            vi=f"thiếu cột {name!r} mà đặc tả yêu cầu; hãy bổ sung cột hoặc sửa tên cột{unused[1]}",
                        )
                    ]
                )
            )
        cells = fc[(fc["check"] != "column_in_dataframe") & fc["index"].notna()]
        for (col, chk), g in cells.groupby(["column", "check"], sort=False):
            pos = g["index"].to_numpy(dtype="int64")
            ocol = orig_of.get(col, col)
            vals_raw = src[col].to_numpy()[pos] if col in src else g["failure_case"].to_numpy()
            vals_txt = [format_value(v) for v in vals_raw]
            if chk in _BUILTIN:
                check, kind = _BUILTIN[chk]
                if chk == "not_nullable":
                    en = np.full(
                        len(pos),
                        f"column {ocol!r} is blank (or a missing code) but a value is required here; fill it in",
                        dtype=object,
                    )
                    vi = np.full(
                        len(pos),
                        f"cột {ocol!r} bị trống (hoặc mã thiếu) nhưng bắt buộc phải có giá trị; hãy điền vào",
                        dtype=object,
                    )
                    if orig_of.get(col) is not None and b.columns.get(col, {}).get("unique"):
                        kind = "missing id"
                else:  # uniqueness (only the id column is declared unique)
                    en = np.array(
                        [
                            f"respondent id {v} appears more than once in column {ocol!r} "
                            f"(this is data row {p + 1}); give each respondent a unique id"
                            for v, p in zip(vals_txt, pos)
                        ],
                        dtype=object,
                    )
                    vi = np.array(
                        [
                            f"mã người trả lời {v} bị trùng ở cột {ocol!r} (đây là dòng dữ liệu "
                            f"thứ {p + 1}); mỗi người trả lời cần một mã riêng"
                            for v, p in zip(vals_txt, pos)
                        ],
                        dtype=object,
                    )
            else:
                check = chk
                kind, words = b.messages[(col, chk)]
                en, vi = words(pos, np.array(vals_txt, dtype=object))
            parts.append(
                pd.DataFrame(
                    {
                        "row": row_label[pos],
                        "column": ocol,
                        "value": vals_raw,
                        "check": check,
                        "kind": kind,
                        "message_en": en,
                        "message_vi": vi,
                        "_pos": pos,
                    }
                )
            )
    if problems:
        parts.append(pd.DataFrame(problems))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "row_number" else object) for c in ERROR_COLUMNS})
    out = pd.concat([p.astype({"row": object, "value": object}) for p in parts], ignore_index=True)
    # a cell that is an Excel error, or not a number, is reported once: not also as blank or
    # as an invalid code (precedence: Excel error, then not a number, then the rest)
    rank = (
        out["check"]
        .map(
            {
                "not an Excel error": 0,
                "is a number": 1,
                "unambiguous number": 1,
                "decimal point": 1,
                "thousands separator declared": 1,
                "not a date or time": 1,
                "not True/False": 1,
            }
        )
        .fillna(2)
        .to_numpy()
    )
    if (rank < 2).any():
        cell = (out["_pos"] >= 0) & (out["_pos"] < _AFTER_ROWS)
        key = out["_pos"].astype(str) + "\x1f" + out["column"].astype(str)
        best = pd.Series(rank, index=out.index).groupby(key).transform("min").to_numpy()
        out = out[~(cell.to_numpy() & (rank > best))]
    col_order = {c: i for i, c in reversed(list(enumerate(columns)))}
    out["_col"] = out["column"].map(col_order).fillna(len(col_order))
    out = out.sort_values(["_pos", "_col"], kind="stable")
    inrow = (out["_pos"] >= 0) & (out["_pos"] < _AFTER_ROWS)
    out["row_number"] = pd.array(np.where(inrow, out["_pos"].astype("int64") + 1, 0), dtype="Int64")
    out.loc[~inrow.to_numpy(), "row_number"] = pd.NA
    out = out.drop(columns=["_pos", "_col"])
    return out[ERROR_COLUMNS].reset_index(drop=True)


def _cleaner(index, src, spec, orig_of, numeric_keys, number_format, attrs=None) -> Callable[[], pd.DataFrame]:
    """The function that builds the cleaned copy (:attr:`ValidationReport.data`) on demand.

    pandas 3 copies on write, so the source columns held here stay as they were validated
    even if the caller edits the input frame afterwards; pandas 2 has no such guarantee, so
    the copy is built now.
    """
    build = _CleanCopy(index, dict(src), spec, orig_of, numeric_keys, number_format, attrs=attrs)
    if int(pd.__version__.split(".")[0]) < 3:
        return _CleanCopy.built(build())  # (attrs already on the frame)
    return build


class _CleanCopy:
    """A picklable recipe of the cleaned copy: the validated columns and how to type them."""

    def __init__(self, index, columns, spec, orig_of, numeric_keys, number_format, frame=None, attrs=None):
        self.args = (index, columns, spec, orig_of, numeric_keys, number_format)
        self.frame = frame
        self.attrs = dict(attrs or {})  # what read_survey recorded (value labels, source, ...)

    @classmethod
    def built(cls, frame: pd.DataFrame) -> _CleanCopy:
        """A recipe that returns a copy built already."""
        return cls(None, None, None, None, None, None, frame=frame)

    def __call__(self) -> pd.DataFrame:
        if self.frame is not None:
            return self.frame
        out = _clean(*self.args)
        out.attrs.update(self.attrs)
        return out


def _clean(index, src, spec, orig_of, numeric_keys, number_format) -> pd.DataFrame:
    """The cleaned copy: item columns typed, text numbers converted, names NFC; input untouched.

    Text codes of the design columns (strata, PSU, commune, commune name, village) are NFC
    normalised and trimmed, as validation compares them: ``'Âu Lâu '`` typed in decomposed
    form and ``'Âu Lâu'`` are one commune in the estimates, as they were in the checks.
    Columns that need no change share their memory with the input (pandas 3 copies on write).
    """
    out = {}
    item_of = {it.name: it for it in spec.items}
    d = spec.design
    design_text = {column_key(c) for c in (d.strata, d.psu, d.commune, d.commune_name, d.village) if c is not None}
    for key in orig_of:
        s = src[key]
        it = item_of.get(key)
        if it is not None:
            out[key] = pd.Series(_clean_item(it, s, number_format), index=index, copy=False)
        elif key in numeric_keys and not pd.api.types.is_numeric_dtype(s.dtype):
            out[key] = pd.Series(to_number(s, number_format)[0], index=index, copy=False)  # numbers stored as text
        elif key in design_text and not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
            out[key] = _norm_design_text(s).set_axis(index)
        else:
            # pandas 3 copies on write: shared until either side is written; pandas 2 needs a real copy
            out[key] = s.copy(deep=int(pd.__version__.split(".")[0]) < 3).set_axis(index)
    return pd.DataFrame(out, index=index, copy=False)


def _clean_item(it, s: pd.Series, number_format):
    """One item column of the cleaned copy: missing codes as missing; whole numbers as ``Int64``,
    other numbers as ``Float64``, text codes as ``string``."""
    if not it.numeric:
        t = _name_key(s).reset_index(drop=True)
        if it.missing_codes:
            t = t.mask(t.isin([str(m) for m in it.missing_codes]))
        return t.astype("string").to_numpy()
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu" and (s.dtype.itemsize < 8 or s.dtype.kind == "i"):
        # whole numbers already (no blanks possible): no float round trip
        values = s.to_numpy(dtype=np.int64, copy=True)
        miss = np.isin(values, np.asarray(it.missing_codes, dtype="float64")) if it.missing_codes else None
        return pd.arrays.IntegerArray(values, np.zeros(len(values), dtype=bool) if miss is None else miss)
    v = to_number(s, number_format)[0]
    if it.missing_codes:
        v[np.isin(v, np.asarray(it.missing_codes, dtype="float64"))] = np.nan
    miss = np.isnan(v)
    fin = v[~miss]
    if np.array_equal(fin, np.floor(fin)):
        return pd.arrays.IntegerArray(np.where(miss, 0, v).astype(np.int64), miss)
    return pd.arrays.FloatingArray(np.where(miss, 0.0, v), miss)
