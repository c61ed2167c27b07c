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
from collections.abc import Mapping

from .catalog import MessageCatalog, catalog
from .model import Letterhead, ReportDocument
from .numbers import check_lang, fmt_date
from .sections import build_sections
from .text import lower_first

__all__ = ["DEFAULT_CONFIG_KEYS", "build_document"]

#: Keys of ``report_config`` (each a string, or ``{"vi": ..., "en": ...}``).
DEFAULT_CONFIG_KEYS = (
    "issuing_body",
    "parent_body",
    "document_number",
    "place",
    "signer_title",
    "signer_name",
    "recipients",
    "date",
)


def _config_value(config: Mapping, key: str, lang: str, default: str) -> str:
    v = config.get(key)
    if isinstance(v, Mapping):
        v = v.get(lang) or v.get("vi") or v.get("en")
    return default if v in (None, "") else str(v)


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
        subject=t("letter.subject", title=lower_first(title), year=str(year or "")),
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
    check_lang(lang)
    t = catalog(lang)
    cfg = dict(results.get("report_config") or {})
    cfg.update(config or {})
    date = _report_date(results, cfg)
    notice = (results.get("notice") or {}).get(lang, "") if results.get("synthetic") else ""
    title = results["title"].get(lang) or results["title"].get("en") or ""
    return ReportDocument(
        lang=lang,
        title=title,
        notice=notice,
        letterhead=_letterhead(results, t, lang, cfg, date),
        sections=build_sections(results, lang),
        date=date,
    )
