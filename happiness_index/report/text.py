"""Small text helpers shared by the report's sections: formatting bound to a language, labels, names.

Also :func:`vi_sort_key`, the Vietnamese alphabetical order of commune names.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping

from .catalog import catalog
from .numbers import fmt_int, fmt_interval, fmt_number, fmt_p

__all__ = [
    "Formatter",
    "cap_first",
    "commune_display_name",
    "domain_labels",
    "has_codes",
    "is_missing",
    "lower_first",
    "source_in",
    "vi_sort_key",
    "xml_safe",
]


class Formatter:
    """Number formatting bound to one language (short names for the section builders)."""

    def __init__(self, lang: str):
        self.lang = lang

    def num(self, x, nd: int = 2) -> str:
        return fmt_number(x, self.lang, nd)

    def sign(self, x, nd: int = 2) -> str:
        return fmt_number(x, self.lang, nd, sign=True)

    def ci(self, lo, hi, nd: int = 2, sign: bool = False) -> str:
        return fmt_interval(lo, hi, self.lang, nd, sign)

    def p(self, x) -> str:
        return fmt_p(x, self.lang)

    def int(self, n) -> str:
        return fmt_int(n, self.lang)

    def pct(self, level: float) -> str:
        return fmt_number(100 * level, self.lang, 0 if float(100 * level).is_integer() else 1)


def lower_first(s: str) -> str:
    """First letter in lower case, unless the word is an acronym ("KTC")."""
    return s[:1].lower() + s[1:] if s and not s[:2].isupper() else s


def cap_first(s: str) -> str:
    """First letter in upper case."""
    return s[:1].upper() + s[1:]


def domain_labels(results: Mapping, lang: str) -> tuple[str, str]:
    """(domain label, population label) in ``lang``: from the spec, else the catalog's defaults."""
    t = catalog(lang)
    dl = results.get("domain_label") or {}
    pl = results.get("population_label") or {}
    col = results.get("domain_column")
    default = t("label.domain_default") if col in (None, "commune") else str(col)
    return (dl.get(lang) or default), (pl.get(lang) or t("label.population_default"))


def commune_display_name(row: Mapping) -> str:
    """The name of a commune row (``name`` when the survey has a name column, else its code)."""
    return str(row.get("name") or row.get("commune") or "")


def has_codes(rows) -> bool:
    """True when some row's name differs from its code (the survey has a name column)."""
    return any(r.get("name") and str(r.get("name")) != str(r.get("commune")) for r in rows)


def source_in(text, lang: str) -> str:
    """A bilingual "Vietnamese / English" source (as in the bundled target sets) in one language."""
    parts = (text or "").split(" / ")
    if len(parts) == 2 and all(p.strip() for p in parts):
        return parts[0].strip() if lang == "vi" else parts[1].strip()
    return text or ""


def is_missing(x) -> bool:
    """None or a non-finite float."""
    return x is None or (isinstance(x, float) and not math.isfinite(x))


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text) -> str:
    """``text`` with the characters XML 1.0 forbids (control characters, lone surrogates)
    replaced by U+FFFD, so that a name typed with a stray control character can be written to
    Word and Excel files (which are XML) and is visibly marked, not silently changed."""
    return _XML_ILLEGAL.sub("\ufffd", str(text))


def vi_sort_key(s) -> tuple:
    """Sort key for Vietnamese names: base letters first, then the exact string.

    NFD decomposition, combining marks (tones, circumflex, breve, horn) removed, ``Đ``/``đ``
    mapped to ``D``/``d``, then casefolded; ties are broken by the NFC string, so the order
    is total and stable. ``sorted(["Đồng Tâm", "Âu Lâu", "Bắc"], key=vi_sort_key)`` gives
    ``["Âu Lâu", "Bắc", "Đồng Tâm"]`` (code-point order would put Â and Đ after Z).
    """
    t = unicodedata.normalize("NFC", str(s))
    base = unicodedata.normalize("NFD", t.replace("Đ", "D").replace("đ", "d"))
    base = "".join(ch for ch in base if not unicodedata.combining(ch)).casefold()
    return (base, t)
