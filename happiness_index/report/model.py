"""The document model of a report: sections of paragraphs, bullet lists, tables and charts.

:func:`~happiness_index.report.content.build_document` fills it; the Markdown and HTML templates
(:mod:`~happiness_index.report.documents`) and the Word writer (:mod:`~happiness_index.report.word`)
only lay it out, so a number can never differ between two formats of one report.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

__all__ = ["Bullets", "Chart", "Letterhead", "Paragraph", "ReportDocument", "Section", "Table"]


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
