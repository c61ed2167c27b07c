"""Text that the library writes into files a person opens: neutralised so it cannot attack its reader.

Spreadsheet programs run a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (CSV/formula injection, the OWASP rule). Commune names, labels and messages come
from the office's data, so every text cell the library writes to CSV or XLSX goes through
:func:`neutralise_cell`: such a text gets a leading apostrophe, which spreadsheets show as text.
Numbers are never changed: a negative number stays a number (it is not text).

Markdown output escapes the characters that would make data into markup (HTML tags, links,
emphasis, tables) with :func:`escape_markdown`.

Control characters (ESC, NUL, BEL, DEL, the C1 range ``\\x80``-``\\x9f``) in data would drive a
terminal (``\\x1b[2J`` clears the screen, ``\\x1b]0;...\\x07`` sets its title) or hide text in a
file. Every text cell, Markdown text and console message replaces them with a visible escape
(:func:`escape_controls`: ESC is written as the four characters ``\\x1b``); text printed to the
terminal goes through :func:`console_text`.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")
#: C0 controls except tab, line feed and carriage return; DEL; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: The same plus tab and carriage return (a console line keeps only its line breaks).
_CONSOLE_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match) -> str:
    return f"\\x{ord(match.group()):02x}"


def escape_controls(text: str) -> str:
    """Replace the control characters of ``text`` by a visible escape.

    Parameters
    ----------
    text : str
        Text from data (a commune name, a label, a message quoting a value).

    Returns
    -------
    str
        ``text`` with each C0 control other than tab, line feed and carriage return, DEL and each
        C1 control (U+0080-U+009F) written as ``\\xNN``: ``"A\\x1b[2J"`` becomes the characters
        ``A\\x1b[2J`` (a terminal shows them, it does not obey them). Other text is unchanged.
    """
    return _CONTROL.sub(_visible, text) if _CONTROL.search(text) else text


def console_text(message: object) -> str:
    """``message`` safe to print on a terminal: every control character but the line feed escaped.

    Parameters
    ----------
    message : object
        A warning or error message, which may quote data (converted with ``str``).

    Returns
    -------
    str
        The text with tab, carriage return, ESC and every other C0/C1 control written as ``\\xNN``
        (a carriage return could overwrite the line, ESC sequences could rewrite the screen).
    """
    text = str(message)
    return _CONSOLE_CONTROL.sub(_visible, text) if _CONSOLE_CONTROL.search(text) else text


def neutralise_cell(value: object) -> object:
    """Return ``value`` safe for a spreadsheet cell.

    Parameters
    ----------
    value : object
        One cell. Strings that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
        get a leading apostrophe (``'``); control characters in a string are escaped
        (:func:`escape_controls`); everything else (numbers, booleans, missing values, other
        strings) is returned unchanged.

    Returns
    -------
    object
        The cell, safe to write.

    References
    ----------
    OWASP, "CSV Injection" (formula injection) guidance.
    """
    if not isinstance(value, str):
        return value
    value = escape_controls(value)
    if value.startswith(FORMULA_PREFIXES):
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
        ``[a](b)`` shows as typed, ``|`` cannot break a table row. Line breaks become spaces;
        control characters are escaped (:func:`escape_controls`; the backslash then shows).
    """
    s = escape_controls(str(text).replace("\r", " ").replace("\n", " "))
    s = html.escape(s, quote=True)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", s)
