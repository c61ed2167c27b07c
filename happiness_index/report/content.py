"""What the report says: one language-specific document model built from ``results``.

:func:`build_document` turns the JSON-able ``results`` of an annual run into a
:class:`ReportDocument`: the letterhead of the administrative format (issuing body, number,
place and date, title, recipients, signature) and a list of :class:`Section` objects made of
paragraphs, bullet lists, tables and charts. Every sentence comes from the message catalog
(:mod:`happiness_index.report.catalog`) and every number from
:mod:`happiness_index.report.numbers`, so the Markdown, HTML and Word renderers only lay the
same content out: a number can never differ between two formats of one report.

The body speaks plain words. Internal names (the preset, the formula, hashes, the random
seed, the variance engine's wording) go to the technical annex, the last section.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .catalog import MessageCatalog, catalog
from .numbers import check_lang, fmt_date, fmt_int, fmt_interval, fmt_number, fmt_p

__all__ = ["Paragraph", "Bullets", "Table", "Chart", "Section", "Letterhead", "ReportDocument", "build_document",
           "Formatter", "domain_labels", "commune_display_name", "DEFAULT_CONFIG_KEYS"]

#: Keys of ``report_config`` (each a string, or ``{"vi": ..., "en": ...}``).
DEFAULT_CONFIG_KEYS = ("issuing_body", "parent_body", "document_number", "place", "signer_title", "signer_name",
                       "recipients", "date")


@dataclass
class Paragraph:
    """A paragraph of body text."""

    text: str
    kind: str = "para"


@dataclass
class Bullets:
    """A bullet list."""

    items: list[str]
    kind: str = "bullets"


@dataclass
class Table:
    """A table of formatted cells.

    Attributes
    ----------
    key : str
        Stable name (``"communes"``); tests and the Excel writer find tables by it.
    header : list of str
    rows : list of list of str
        Formatted cells (numbers already in the language's format).
    align : str
        One letter per column: ``l`` text, ``r`` number.
    caption, note : str
    """

    key: str
    header: list[str]
    rows: list[list[str]]
    align: str
    caption: str = ""
    note: str = ""
    kind: str = "table"


@dataclass
class Chart:
    """A chart, by file stem (``chart_trajectory``) and its alternative text."""

    name: str
    alt: str
    kind: str = "chart"


@dataclass
class Section:
    """A numbered section of the body (or the annex when ``annex``)."""

    key: str
    heading: str
    blocks: list = field(default_factory=list)
    annex: bool = False


@dataclass
class Letterhead:
    """The parts of an administrative document around its body (Decree 30/2020/NĐ-CP)."""

    parent_body: str
    issuing_body: str
    number: str
    national_title: str
    motto: str
    place_date: str
    doc_type: str
    subject: str
    recipients_heading: str
    recipients: list[str]
    signer_title: str
    signer_sign: str
    signer_name: str


@dataclass
class ReportDocument:
    """A whole report in one language."""

    lang: str
    title: str
    notice: str
    letterhead: Letterhead
    sections: list[Section]
    date: _dt.date

    def tables(self) -> dict[str, Table]:
        """Every table by key."""
        return {b.key: b for s in self.sections for b in s.blocks if isinstance(b, Table)}


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


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s and not s[:2].isupper() else s


def _cap_first(s: str) -> str:
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


def _has_codes(rows) -> bool:
    return any(r.get("name") and str(r.get("name")) != str(r.get("commune")) for r in rows)


def _config_value(config: Mapping, key: str, lang: str, default: str) -> str:
    v = config.get(key)
    if isinstance(v, Mapping):
        v = v.get(lang) or v.get("vi") or v.get("en")
    return default if v in (None, "") else str(v)


def _source(text, lang: str) -> str:
    """A bilingual "Vietnamese / English" source (as in the bundled target sets) in one language."""
    parts = (text or "").split(" / ")
    if len(parts) == 2 and all(p.strip() for p in parts):
        return parts[0].strip() if lang == "vi" else parts[1].strip()
    return text or ""


# ----------------------------------------------------------------------------- letterhead
def _letterhead(results: Mapping, t: MessageCatalog, lang: str, config: Mapping, date: _dt.date) -> Letterhead:
    year = results.get("year")
    recipients = config.get("recipients")
    if isinstance(recipients, Mapping):
        recipients = recipients.get(lang) or recipients.get("vi")
    if not recipients:
        recipients = [t("letter.recipient_1"), t("letter.recipient_2"), t("letter.recipient_archive")]
    place = _config_value(config, "place", lang, t("letter.place_default"))
    title = results["title"].get(lang) or results["title"].get("en") or ""
    return Letterhead(
        parent_body=_config_value(config, "parent_body", lang, t("letter.parent_body_default")).upper(),
        issuing_body=_config_value(config, "issuing_body", lang, t("letter.issuing_body_default")).upper(),
        number=t("letter.number", number=_config_value(config, "document_number", lang, t("letter.number_default"))),
        national_title=t("letter.national_title"),
        motto=t("letter.motto"),
        place_date=t("letter.place_date", place=place, date=fmt_date(date, lang)),
        doc_type=t("letter.doc_type"),
        subject=t("letter.subject", title=_lower_first(title), year=str(year or "")),
        recipients_heading=t("letter.recipients"),
        recipients=[str(r) for r in recipients],
        signer_title=_config_value(config, "signer_title", lang, t("letter.signer_title_default")).upper(),
        signer_sign=t("letter.signer_sign"),
        signer_name=_config_value(config, "signer_name", lang, t("letter.signer_name_default")),
    )


def _report_date(results: Mapping, config: Mapping) -> _dt.date:
    d = config.get("date") or results.get("report_date")
    if isinstance(d, _dt.date):
        return d
    if d:
        return _dt.date.fromisoformat(str(d)[:10])
    return _dt.date.today()


# ----------------------------------------------------------------------------- the document
def build_document(results: Mapping, lang: str = "vi", config: Mapping | None = None) -> ReportDocument:
    """The report of ``results`` in ``lang`` as a :class:`ReportDocument`.

    Parameters
    ----------
    results : mapping
        ``AnnualRun.results`` (or a ``results.json`` read back).
    lang : {"vi", "en"}
    config : mapping, optional
        The administrative details: ``issuing_body``, ``parent_body``, ``document_number``,
        ``place``, ``signer_title``, ``signer_name``, ``recipients`` (list), ``date``
        (ISO date). Each text may be a string or ``{"vi": ..., "en": ...}``. Default:
        ``results["report_config"]``, then the catalog's placeholders.

    Returns
    -------
    ReportDocument

    Raises
    ------
    HappinessIndexError
        ``lang`` is not a report language.
    """
    from .sections import build_sections

    check_lang(lang)
    t = catalog(lang)
    cfg = dict(results.get("report_config") or {})
    cfg.update(config or {})
    date = _report_date(results, cfg)
    notice = (results.get("notice") or {}).get(lang, "") if results.get("synthetic") else ""
    title = results["title"].get(lang) or results["title"].get("en") or ""
    return ReportDocument(lang=lang, title=title, notice=notice, letterhead=_letterhead(results, t, lang, cfg, date),
                          sections=build_sections(results, lang), date=date)


def is_missing(x) -> bool:
    """None or a non-finite float."""
    return x is None or (isinstance(x, float) and not math.isfinite(x))
