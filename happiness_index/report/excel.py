"""``tables.xlsx``: the report's tables as a person would format them (openpyxl).

One sheet per table with headers in the report's language, numbers stored as numbers with a
display format (two decimals for estimates, three for p-values, percent for shares), a bold
frozen header row, column widths fitted to the content, the publishable flag on every sheet
about communes, and a "notes" sheet with the sources and the method. Text cells from data go
through :func:`~happiness_index.report.cells.neutralise_cell`. The workbook's properties and
its zip entries carry fixed time stamps, so the same results give the same bytes.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .catalog import catalog
from .cells import neutralise_cell
from .content import build_document
from .sections import commune_order, publication_reason, status_text
from .text import Formatter, commune_display_name, domain_labels, has_codes, is_missing, source_in, xml_safe

__all__ = ["NUMBER_FORMATS", "excel_sheets", "write_tables_xlsx"]

NUMBER_FORMATS = {"num": "0.00", "num1": "0.0", "int": "#,##0", "p": "0.000", "share": "0.0%", "text": "@", "year": "0"}


def _col(key: str, header: str, fmt: str = "num", value=None):
    """A column: record key (or a function of the record), header, number format."""
    return {"key": key, "header": header, "fmt": fmt, "value": value}


def _index_sheet(r: Mapping, t, level: str):
    rows = [{"scope": t("xlsx.scope_city"), "year": r.get("year"), **r["index"]}]
    if r.get("previous"):
        rows.append({"scope": t("xlsx.scope_previous"), **r["previous"]})
    cols = [
        _col("scope", t("xlsx.col_scope"), "text"),
        _col("year", t("col.year"), "year"),
        _col("estimate", t("col.estimate")),
        _col("se", t("col.se")),
        _col("ci_low", t("xlsx.col_ci_low", level=level)),
        _col("ci_high", t("xlsx.col_ci_high", level=level)),
        _col("df", t("xlsx.col_df"), "num1"),
        _col("n", t("col.n"), "int"),
    ]
    return cols, rows


def _components_sheet(r: Mapping, t, level: str, lang: str):
    cols = [
        _col("label", t("col.component"), "text", lambda x: x.get("label_" + lang) or x.get("name")),
        _col("estimate", t("col.estimate")),
        _col("se", t("col.se")),
        _col("ci_low", t("xlsx.col_ci_low", level=level)),
        _col("ci_high", t("xlsx.col_ci_high", level=level)),
        _col("n", t("col.n"), "int"),
    ]
    return cols, r["components"]


def _publishable(t, lang):
    def flag(x):
        if x.get("publishable") is None:
            return None
        return t("word.yes") if x.get("publishable") else t("word.no")

    return _col("publishable", t("col.publishable"), "text", flag)


def _communes_sheet(r: Mapping, t, level: str, lang: str, population: str, domain: str):
    rows = commune_order(r.get("communes") or [])
    code = [_col("commune", t("col.code"), "text")] if has_codes(rows) else []
    cols = [
        _col("name", domain, "text", commune_display_name),
        *code,
        _col("estimate", t("col.estimate")),
        _col("se", t("col.se")),
        _col("ci_low", t("xlsx.col_ci_low", level=level)),
        _col("ci_high", t("xlsx.col_ci_high", level=level)),
        _col("diff_city_pp", t("col.diff_population", population=population)),
        _col("n", t("col.n"), "int"),
        _col("cv", t("xlsx.col_cv"), "share"),
        _publishable(t, lang),
        _col("reason", t("col.reason"), "text", lambda x: publication_reason(x, r.get("publication_rule") or {}, lang)),
    ]
    return cols, rows


def _change_sheet(r: Mapping, t, level: str, lang: str, domain: str):
    ch = r.get("change") or {}
    pub = {str(c.get("commune")): c.get("publishable") for c in r.get("communes") or []}
    rows = [{**x, "publishable": pub.get(str(x.get("commune")))} for x in ch.get("by_group") or []]
    code = [_col("commune", t("col.code"), "text")] if has_codes(rows) else []
    cols = [
        _col("name", domain, "text", commune_display_name),
        *code,
        _col("old", t("xlsx.col_old")),
        _col("new", t("xlsx.col_new")),
        _col("change_pp", t("col.change_pp")),
        _col("ci_low", t("xlsx.col_ci_low", level=level)),
        _col("ci_high", t("xlsx.col_ci_high", level=level)),
        _col("change_rel_pct", t("col.change_rel")),
        _col("p_value", t("col.p"), "p"),
        _col("p_holm", t("col.p_holm"), "p"),
        _col("p_bh", t("col.p_bh"), "p"),
        _publishable(t, lang),
    ]
    return cols, rows


def _targets_sheet(r: Mapping, t, level: str, lang: str):
    rows = (r.get("targets") or {}).get("years") or []
    cols = [
        _col("year", t("col.year"), "year"),
        _col("target", t("col.target"), "num1"),
        _col("estimate", t("col.estimate")),
        _col("ci_low", t("xlsx.col_ci_low", level=level)),
        _col("ci_high", t("xlsx.col_ci_high", level=level)),
        _col("gap_pp", t("col.gap")),
        _col("status", t("col.status"), "text", lambda x: status_text(x.get("status") or "", lang)),
        _col("target_source", t("col.source"), "text", lambda x: source_in(x.get("target_source"), lang)),
    ]
    return cols, rows


def _extra_sheets(r: Mapping, t, level: str, lang: str) -> dict:
    """Sheets of the optional analyses present in ``r`` (drivers, small areas, robustness, distributions)."""
    from .extra_sections import rank_text

    out = {}
    label = _col(
        "label", t("col.factor"), "text", lambda x: x.get("label_" + lang) or x.get("label_en") or x.get("term")
    )
    d = r.get("drivers") or {}
    if d.get("table"):
        out["drivers"] = (
            t("xlsx.sheet_drivers"),
            [
                _col("group", t("col.group"), "text"),
                label,
                _col("ame_pp", t("col.ame_pp")),
                _col("se_pp", t("col.se")),
                _col("ci_low_pp", t("xlsx.col_ci_low", level=level)),
                _col("ci_high_pp", t("xlsx.col_ci_high", level=level)),
                _col("p", t("col.p"), "p"),
                _col("n", t("col.n"), "int"),
            ],
            d["table"],
        )
    sa = r.get("small_area") or {}
    if sa.get("table"):
        pub = {
            "direct": t("small_area.published_direct"),
            "model": t("small_area.published_model"),
            "none": t("small_area.published_none"),
        }
        out["small_area"] = (
            t("xlsx.sheet_small_area"),
            [
                _col("name", t("col.name"), "text", lambda x: x.get("name") or x.get("unit")),
                _col("unit", t("col.code"), "text"),
                _col("direct", t("col.direct")),
                _col("direct_ci_low", t("xlsx.col_ci_low", level=level)),
                _col("direct_ci_high", t("xlsx.col_ci_high", level=level)),
                _col("model", t("col.model")),
                _col("model_ci_low", t("xlsx.col_ci_low", level=level)),
                _col("model_ci_high", t("xlsx.col_ci_high", level=level)),
                _col("mse", t("xlsx.col_mse"), "num"),
                _col("gamma", t("xlsx.col_gamma"), "num"),
                _col(
                    "published",
                    t("col.published_as"),
                    "text",
                    lambda x: pub.get(str(x.get("published")), x.get("published")),
                ),
                _col("reason", t("col.reason"), "text", lambda x: x.get("reason_" + lang) or ""),
                _col(
                    "rank",
                    t("col.rank"),
                    "text",
                    lambda x: rank_text(x.get("rank"), x.get("rank_low"), x.get("rank_high"), lang),
                ),
            ],
            sa["table"],
        )
    rb = r.get("robustness") or {}
    if rb.get("city"):
        out["robustness"] = (
            t("xlsx.sheet_robustness"),
            [
                _col("scenario", t("col.scenario"), "text"),
                _col("median", t("col.median")),
                _col("p05", t("xlsx.col_p05")),
                _col("p95", t("xlsx.col_p95")),
            ],
            rb["city"],
        )
    ds = r.get("distributions") or {}
    if ds.get("table"):
        out["distributions"] = (
            t("xlsx.sheet_distributions"),
            [
                _col("group", t("col.group"), "text"),
                _col("item", t("col.item"), "text", lambda x: x.get("label_" + lang) or x.get("item")),
                _col("category", t("col.category"), "text"),
                _col("share", t("col.share"), "share"),
                _col("ci_low", t("xlsx.col_ci_low", level=level), "share"),
                _col("ci_high", t("xlsx.col_ci_high", level=level), "share"),
            ],
            ds["table"],
        )
    return out


def excel_sheets(results: Mapping, lang: str) -> dict[str, tuple[str, list, list]]:
    """``{key: (sheet title, columns, records)}`` of the workbook, in order (notes excluded)."""
    t = catalog(lang)
    level = Formatter(lang).pct(results["level"])
    domain, population = domain_labels(results, lang)
    out = {
        "index": (t("xlsx.sheet_index"), *_index_sheet(results, t, level)),
        "components": (t("xlsx.sheet_components"), *_components_sheet(results, t, level, lang)),
    }
    if results.get("communes"):
        out["communes"] = (t("xlsx.sheet_communes"), *_communes_sheet(results, t, level, lang, population, domain))
    if (results.get("change") or {}).get("by_group"):
        out["change_communes"] = (t("xlsx.sheet_change_communes"), *_change_sheet(results, t, level, lang, domain))
    if results.get("targets"):
        out["targets"] = (t("xlsx.sheet_targets"), *_targets_sheet(results, t, level, lang))
    out.update(_extra_sheets(results, t, level, lang))
    return out


def _cell_value(col, rec):
    v = col["value"](rec) if col["value"] else rec.get(col["key"])
    if is_missing(v):
        return None
    if col["fmt"] == "share" and v is not None:
        return float(v)
    return neutralise_cell(xml_safe(v) if isinstance(v, str) else v)


def _write_sheet(ws, cols: list, rows: list) -> None:
    head_font, fill = Font(bold=True), PatternFill("solid", fgColor="DDE6F0")
    for j, c in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=j, value=neutralise_cell(xml_safe(c["header"])))
        cell.font, cell.fill = head_font, fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    widths = [min(max(len(str(c["header"])) * 0.6, 8), 40) for c in cols]
    for i, rec in enumerate(rows, start=2):
        for j, c in enumerate(cols, start=1):
            v = _cell_value(c, rec)
            cell = ws.cell(row=i, column=j, value=v)
            if c["fmt"] != "text" and v is not None:
                cell.number_format = NUMBER_FORMATS[c["fmt"]]
            widths[j - 1] = min(max(widths[j - 1], len(str(v if v is not None else "")) + 2), 60)
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = round(w, 1)
    ws.freeze_panes = "A2"
    ws.row_dimensions[1].height = 45


def _notes(results: Mapping, lang: str, sheets: Mapping) -> list[str]:
    t = catalog(lang)
    title = results["title"].get(lang) or results["title"].get("en")
    lines = [
        t("xlsx.notes_title"),
        t(
            "xlsx.note_source",
            title=title,
            year=str(results.get("year") or ""),
            n=Formatter(lang).int(results["index"].get("n")),
        ),
        t("xlsx.note_units"),
    ]
    if "communes" in sheets:
        lines.append(t("xlsx.note_publishable", column=t("col.publishable"), yes=t("word.yes")))
    for row in (results.get("targets") or {}).get("years") or []:
        if row.get("target_source"):
            lines.append(t("xlsx.note_target_source", source=f"{row['year']}: {source_in(row['target_source'], lang)}"))
    doc = build_document(results, lang)
    for s in doc.sections:
        if s.key in ("method", "annex"):
            lines.append(s.heading)
            lines += ["• " + item for b in s.blocks for item in getattr(b, "items", [])]
    return lines


def write_tables_xlsx(results: Mapping, path, lang: str = "vi", when: _dt.datetime | None = None) -> Path:
    """Write ``tables.xlsx`` for ``results`` in ``lang``.

    Parameters
    ----------
    results : mapping
        ``AnnualRun.results``.
    path : path
    lang : {"vi", "en"}
    when : datetime, optional
        The workbook's "created"/"modified" property (default: the report date at midnight,
        else 2000-01-01): never the time of writing, so two runs give the same bytes.

    Returns
    -------
    Path
    """
    from .reproducible import normalise_zip

    sheets = excel_sheets(results, lang)
    wb = Workbook()
    wb.remove(wb.active)
    for title, cols, rows in sheets.values():
        _write_sheet(wb.create_sheet(title=title[:31]), cols, rows)
    notes = wb.create_sheet(title=catalog(lang)("xlsx.sheet_notes"))
    for i, line in enumerate(_notes(results, lang, sheets), start=1):
        notes.cell(row=i, column=1, value=neutralise_cell(xml_safe(line))).font = Font(bold=(i == 1))
    notes.column_dimensions["A"].width = 120
    if when is None:
        d = results.get("report_date")
        when = _dt.datetime.fromisoformat(str(d)[:10]) if d else _dt.datetime(2000, 1, 1)
    wb.properties.creator = wb.properties.lastModifiedBy = "happiness_index"
    wb.properties.created = wb.properties.modified = when
    path = Path(path)
    wb.save(path)
    normalise_zip(path, when)
    return path
