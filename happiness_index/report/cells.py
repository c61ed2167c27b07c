"""Text that the library writes into files a person opens: neutralised so it cannot attack its reader.

Spreadsheet programs run a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (CSV/formula injection, the OWASP rule). Commune names, labels and messages come
from the office's data, so every text cell the library writes to CSV or XLSX goes through
:func:`neutralise_cell`: such a text gets a leading apostrophe, which spreadsheets show as text.
Numbers are never changed: a negative number stays a number (it is not text).

Markdown output escapes the characters that would make data into markup (HTML tags, links,
emphasis, tables) with :func:`escape_markdown`.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def neutralise_cell(value: object) -> object:
    """Return ``value`` safe for a spreadsheet cell.

    Parameters
    ----------
    value : object
        One cell. Strings that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
        get a leading apostrophe (``'``); everything else (numbers, booleans, missing values,
        other strings) is returned unchanged.

    Returns
    -------
    object
        The cell, safe to write.

    References
    ----------
    OWASP, "CSV Injection" (formula injection) guidance.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` whose text cells, column names and index labels are neutralised.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any table about to be written to CSV or XLSX. It is not modified.

    Returns
    -------
    pandas.DataFrame
        A copy: numeric columns unchanged, every string cell passed through
        :func:`neutralise_cell`.
    """
    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if _is_text(values.dtype):
            out[col] = values.astype(object).map(neutralise_cell)
    out.columns = _neutralise_labels(out.columns)
    out.index = _neutralise_labels(out.index)
    return out


def _neutralise_labels(labels: pd.Index) -> pd.Index:
    if isinstance(labels, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(neutralise_cell(v) for v in t) for t in labels], names=labels.names)
    if _is_text(labels.dtype):
        return pd.Index(np.array([neutralise_cell(v) for v in labels], dtype=object), name=labels.name)
    return labels


def _is_text(dtype) -> bool:
    return (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def escape_markdown(text: object) -> str:
    """Escape ``text`` for Markdown: HTML is entity-escaped and Markdown punctuation backslashed.

    Parameters
    ----------
    text : object
        A label, name or message from data or a spec (converted with ``str``).

    Returns
    -------
    str
        Text that a Markdown renderer shows literally: ``<script>`` becomes ``&lt;script&gt;``,
        ``[a](b)`` shows as typed, ``|`` cannot break a table row. Line breaks become spaces.
    """
    s = str(text).replace("\r", " ").replace("\n", " ")
    s = html.escape(s, quote=True)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", s)
