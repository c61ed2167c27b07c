"""Numbers and dates as a reader of the report's language expects them (Babel, CLDR data).

Vietnamese: ``76,93`` (decimal comma), ``3.400`` (dot between thousands), dates as Decree
30/2020/NĐ-CP writes them: "ngày 07 tháng 12 năm 2026" (a day below 10 and the months 1 and 2
take a leading zero). English: ``76.93``, ``3,400``, "7 December 2026".

Every number shown in a report goes through this module, so a document never mixes formats.
"""

from __future__ import annotations

import datetime as _dt
import math

from babel.dates import format_date
from babel.numbers import format_decimal

__all__ = [
    "LOCALES",
    "check_lang",
    "fmt_date",
    "fmt_int",
    "fmt_interval",
    "fmt_number",
    "fmt_p",
    "fmt_share",
    "parse_number",
]

#: Babel locale of each report language.
LOCALES = {"vi": "vi_VN", "en": "en_GB"}
DASH = "—"


def check_lang(lang: str) -> str:
    """Return ``lang`` when it is a report language, else raise ``HappinessIndexError``."""
    from ..errors import HappinessIndexError

    if lang not in LOCALES:
        raise HappinessIndexError(f"lang must be 'vi' or 'en', got {lang!r}")
    return lang


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def fmt_number(x: float | None, lang: str, decimals: int = 2, sign: bool = False) -> str:
    """``x`` with ``decimals`` decimals in the language's format (``76,93`` / ``76.93``).

    Parameters
    ----------
    x : float or None
        Missing values (None, NaN, inf) are shown as an em dash.
    lang : {"vi", "en"}
    decimals : int, default 2
    sign : bool, default False
        Always show the sign (changes: ``+3,69``).
    """
    if _missing(x):
        return DASH
    body = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    if round(float(x), decimals) == 0:
        x, sign = 0.0, False  # never "-0,00" or "+0,00"
    pattern = f"+{body};-{body}" if sign else body
    return format_decimal(float(x), format=pattern, locale=LOCALES[lang], decimal_quantization=True)


def fmt_int(n, lang: str) -> str:
    """A count with the thousands separator of the language (``3.400`` / ``3,400``)."""
    if _missing(n):
        return DASH
    return format_decimal(int(round(float(n))), format="#,##0", locale=LOCALES[lang])


def fmt_p(p: float | None, lang: str) -> str:
    """A p-value: three decimals, ``< 0,001`` below one in a thousand."""
    if _missing(p):
        return DASH
    if p < 0.001:
        return "< " + fmt_number(0.001, lang, 3)
    return fmt_number(p, lang, 3)


def fmt_interval(lo, hi, lang: str, decimals: int = 2, sign: bool = False) -> str:
    """An interval ``lo – hi`` (en dash between spaces)."""
    if _missing(lo) or _missing(hi):
        return DASH
    return f"{fmt_number(lo, lang, decimals, sign)} – {fmt_number(hi, lang, decimals, sign)}"


def fmt_share(x: float | None, lang: str, decimals: int = 0) -> str:
    """A proportion in [0, 1] as percent (``0.3`` -> ``30%``)."""
    if _missing(x):
        return DASH
    return fmt_number(100 * float(x), lang, decimals) + "%"


def fmt_date(d: _dt.date, lang: str) -> str:
    """The date of an administrative document.

    Vietnamese follows Decree 30/2020/NĐ-CP, Appendix I: "ngày 07 tháng 12 năm 2026"; days
    below 10 and the months January and February are written with a leading zero
    ("ngày 05 tháng 02 năm 2027", "ngày 15 tháng 3 năm 2027"). English: "7 December 2026".
    """
    if lang == "vi":
        month = "MM" if d.month <= 2 else "M"
        return format_date(d, f"'ngày' dd 'tháng' {month} 'năm' y", locale=LOCALES["vi"])
    return format_date(d, "long", locale=LOCALES[lang])


def parse_number(text: str, lang: str) -> float:
    """Read back a number written by :func:`fmt_number` (tests and checks of documents)."""
    t = text.strip().replace("\u2212", "-")
    if lang == "vi":
        t = t.replace(".", "").replace(",", ".")
    else:
        t = t.replace(",", "")
    return float(t.rstrip("%"))
