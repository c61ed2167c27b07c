"""Markdown and HTML renderings of a :class:`~happiness_index.report.content.ReportDocument` (Jinja2).

The templates are in ``report/templates``: ``report.md.j2`` escapes every text with
:func:`~happiness_index.report.cells.escape_markdown`; ``report.html.j2`` is rendered with
Jinja2's HTML autoescaping, so a commune named ``<script>`` is shown, never run. The HTML page
is self-contained: the charts are inlined as ``data:`` URIs (SVG), and it carries a print
stylesheet (A4, the decree's margins, every section on a new page, no table cut across pages).
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Mapping

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .cells import escape_controls, escape_markdown
from .content import build_document
from .model import ReportDocument

__all__ = ["markdown_text", "png_data_uri", "render_html", "render_markdown", "svg_data_uri", "template_environment"]


_ESCAPED_ENTITY = re.compile(r"&\\#(x?[0-9A-Fa-f]+;)")


def markdown_text(text) -> str:
    """``text`` escaped for Markdown (:func:`~happiness_index.report.cells.escape_markdown`), with the
    numeric character references it creates kept whole (``&#x27;`` for an apostrophe, not
    ``&\\#x27;``, which a Markdown renderer would show as typed)."""
    return _ESCAPED_ENTITY.sub(r"&#\1", escape_markdown(text))


def _without_controls(value):
    """Every text printed by a template, with its control characters escaped (ESC -> ``\\x1b``);
    markup the code marked safe stays safe (not escaped a second time)."""
    if isinstance(value, Markup):
        return Markup(escape_controls(str(value)))
    return escape_controls(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=1)
def template_environment() -> Environment:
    """The Jinja2 environment of the report templates (HTML autoescaped, ``md`` filter)."""
    env = Environment(
        loader=PackageLoader("happiness_index.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        finalize=_without_controls,  # control characters from the data never reach a document
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["md"] = markdown_text
    return env


def png_data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,`` URI (no external reference)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def svg_data_uri(svg: str) -> str:
    """An SVG document as a ``data:image/svg+xml;base64,`` URI (no external reference)."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    return "data:image/svg+xml;base64," + base64.b64encode(body.encode("utf-8")).decode("ascii")


def _doc(results, lang, config) -> ReportDocument:
    return results if isinstance(results, ReportDocument) else build_document(results, lang, config)


def _squeeze(text: str) -> str:
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n") + "\n"


def render_markdown(results: Mapping | ReportDocument, lang: str = "vi", config: Mapping | None = None) -> str:
    """The report as Markdown (charts referenced as the PNG files of the report folder).

    Parameters
    ----------
    results : mapping or ReportDocument
        ``AnnualRun.results`` (or ``results.json`` read back), or a document already built.
    lang : {"vi", "en"}
    config : mapping, optional
        Administrative details (see :func:`~happiness_index.report.content.build_document`).
    """
    doc = _doc(results, lang, config)
    return _squeeze(template_environment().get_template("report.md.j2").render(doc=doc))


def render_html(
    results: Mapping | ReportDocument,
    lang: str = "vi",
    config: Mapping | None = None,
    charts: Mapping[str, str] | None = None,
) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    results, lang, config
        As for :func:`render_markdown`.
    charts : mapping, optional
        ``{chart name: data URI}`` (see :func:`png_data_uri`, :func:`svg_data_uri`); drawn
        here as SVG when not given (``results`` must then be the results mapping).
    """
    doc = _doc(results, lang, config)
    if charts is None:
        from .charts import save_charts

        svgs = save_charts(results, None, doc.lang) if not isinstance(results, ReportDocument) else {}
        charts = {name: svg_data_uri(svg) for name, svg in svgs.items()}
    uris = dict(charts)
    return template_environment().get_template("report.html.j2").render(doc=doc, charts=uris)
