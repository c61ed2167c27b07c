"""The report as a Word document in the Vietnamese administrative format (python-docx).

Layout after Decree 30/2020/NĐ-CP on administrative documents (Nghị định 30/2020/NĐ-CP về
công tác văn thư), Appendix I:

* A4 paper; margins: top 20 mm, bottom 20 mm, left 30 mm, right 15 mm;
* Times New Roman throughout; body 14 pt, justified, first line indented 1 cm, 6 pt between
  paragraphs, line spacing 1.15 (the decree allows single to 1.5 lines);
* the header block as a borderless two-column table: on the left the parent body (upper case,
  13 pt), the issuing body (upper case, bold, 13 pt) with a short rule under it, and the
  document number ("Số: …/BC-…", 13 pt); on the right the national title (upper case, bold,
  12 pt), the motto (bold, 13 pt) with a rule under it, and the place and date (italic, 14 pt);
* the document type "BÁO CÁO" (bold, 14 pt, centred) and the subject line (bold, 14 pt,
  centred) with a short rule;
* at the end, a borderless two-column table: "Nơi nhận:" (bold italic, 12 pt) with its list
  (11 pt, "- ...;" and "- Lưu: VT."), and the signature block (signer's title upper case bold
  14 pt, "(Ký, đóng dấu)" italic, room for the signature, the name bold);
* page numbers centred at the top from the second page; the technical annex after the
  signature, on a new page.

The English version uses the same structure with plain English headings.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from .model import Bullets, Chart, Paragraph, ReportDocument, Table
from .text import xml_safe

__all__ = ["FONT", "MARGINS_CM", "write_docx"]

FONT = "Times New Roman"
#: Page margins in cm (top, bottom, left, right), Decree 30/2020/NĐ-CP Appendix I.
MARGINS_CM = (2.0, 2.0, 3.0, 1.5)
TEXT_WIDTH_CM = 21.0 - MARGINS_CM[2] - MARGINS_CM[3]
LEFT_COL_CM, RIGHT_COL_CM = 6.5, TEXT_WIDTH_CM - 6.5


#: Children of ``w:pPr`` that follow ``w:pBdr`` in the schema's sequence.
_PPR_AFTER_PBDR = (
    "w:shd",
    "w:tabs",
    "w:suppressAutoHyphens",
    "w:kinsoku",
    "w:wordWrap",
    "w:overflowPunct",
    "w:topLinePunct",
    "w:autoSpaceDE",
    "w:autoSpaceDN",
    "w:bidi",
    "w:adjustRightInd",
    "w:snapToGrid",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)


def _set_font(run_or_style, size: float | None = None, bold: bool | None = None, italic: bool | None = None) -> None:
    font = run_or_style.font
    font.name = FONT
    fonts = run_or_style.element.get_or_add_rPr().get_or_add_rFonts()  # schema order kept by python-docx
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)
    if size is not None:
        font.size = Pt(size)
    if bold is not None:
        font.bold = bold
    if italic is not None:
        font.italic = italic


def _para(
    container,
    text: str = "",
    size: float = 14,
    bold=False,
    italic=False,
    align=WD_ALIGN_PARAGRAPH.CENTER,
    space_after: float = 0,
    first_indent_cm: float | None = None,
):
    p = container.add_paragraph()
    p.alignment = align
    fmt = p.paragraph_format
    fmt.space_before, fmt.space_after = Pt(0), Pt(space_after)
    if first_indent_cm is not None:
        fmt.first_line_indent = Cm(first_indent_cm)
    if text:
        _set_font(p.add_run(xml_safe(text)), size, bold, italic)
    return p


def _rule(container, width_cm: float, column_cm: float) -> None:
    """A short horizontal rule (a paragraph's bottom border, indented to ``width_cm``)."""
    p = container.add_paragraph()
    side = max((column_cm - width_cm) / 2, 0)
    fmt = p.paragraph_format
    fmt.left_indent, fmt.right_indent = Cm(side), Cm(side)
    fmt.space_before, fmt.space_after = Pt(0), Pt(4)
    _set_font(p.add_run(""), 2)
    bdr = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    bdr.append(bottom)
    # CT_PPr is a sequence: pBdr comes before shd, tabs, ..., spacing, ind, jc (ECMA-376 §17.3.1.26)
    p._p.get_or_add_pPr().insert_element_before(bdr, *_PPR_AFTER_PBDR)


def _borderless(table) -> None:
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        e = OxmlElement(f"w:{edge}")
        e.set(qn("w:val"), "nil")
        borders.append(e)
    # CT_TblPr is a sequence: tblBorders comes before shd, tblLayout, tblCellMar, tblLook
    table._tbl.tblPr.insert_element_before(
        borders,
        "w:shd",
        "w:tblLayout",
        "w:tblCellMar",
        "w:tblLook",
        "w:tblCaption",
        "w:tblDescription",
        "w:tblPrChange",
    )


def _two_columns(doc, left_cm: float = LEFT_COL_CM, right_cm: float = RIGHT_COL_CM):
    table = doc.add_table(rows=1, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    _borderless(table)
    left, right = table.rows[0].cells
    left.width, right.width = Cm(left_cm), Cm(right_cm)
    for cell in (left, right):
        cell.paragraphs[0]._p.getparent().remove(cell.paragraphs[0]._p)
    return left, right


def _page_setup(doc) -> None:
    s = doc.sections[0]
    s.orientation = WD_ORIENT.PORTRAIT
    s.page_width, s.page_height = Cm(21.0), Cm(29.7)
    s.top_margin, s.bottom_margin, s.left_margin, s.right_margin = (Cm(x) for x in MARGINS_CM)
    s.header_distance = Cm(1.0)
    normal = doc.styles["Normal"]
    _set_font(normal, 14)
    normal.paragraph_format.line_spacing = 1.15
    s.different_first_page_header_footer = True
    p = s.header.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = p.add_run()
    _set_font(run, 13)
    for kind, text in (("begin", None), (None, " PAGE "), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        else:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
        run._r.append(el)


def _letterhead(doc, d: ReportDocument) -> None:
    lh = d.letterhead
    left, right = _two_columns(doc)
    _para(left, lh.parent_body, 13)
    _para(left, lh.issuing_body, 13, bold=True)
    _rule(left, LEFT_COL_CM / 3, LEFT_COL_CM)
    _para(left, lh.number, 13)
    _para(right, lh.national_title, 12, bold=True)
    _para(right, lh.motto, 13, bold=True)
    _rule(right, 0.55 * RIGHT_COL_CM, RIGHT_COL_CM)
    _para(right, lh.place_date, 14, italic=True)
    _para(doc, "", 14)
    _para(doc, lh.doc_type, 14, bold=True)
    _para(doc, lh.subject, 14, bold=True)
    _rule(doc, 4.0, TEXT_WIDTH_CM)


def _table(doc, t: Table) -> None:
    table = doc.add_table(rows=1, cols=len(t.header))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    size = 11 if len(t.header) <= 6 else 9.5
    for cell, text in zip(table.rows[0].cells, t.header):
        _set_cell(cell, text, size, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:tblHeader"))  # the header row repeats on every page
    for row in t.rows:
        r = table.add_row()
        r._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
        for cell, text, a in zip(r.cells, row, t.align):
            _set_cell(cell, text, size, align=WD_ALIGN_PARAGRAPH.RIGHT if a == "r" else WD_ALIGN_PARAGRAPH.LEFT)
    _para(doc, "", 6)


def _set_cell(cell, text: str, size: float, bold: bool = False, align=WD_ALIGN_PARAGRAPH.LEFT) -> None:
    p = cell.paragraphs[0]
    p.alignment = align
    p.paragraph_format.first_line_indent = Cm(0)
    p.paragraph_format.space_after = Pt(0)
    _set_font(p.add_run(xml_safe(text)), size, bold)


def _heading(doc, text: str) -> None:
    """A section heading in Word's "Heading 1" style (navigation pane, table of contents), set in
    Times New Roman 14 pt bold black like the body."""
    p = doc.add_paragraph(style="Heading 1")
    p.alignment = WD_ALIGN_PARAGRAPH.LEFT
    p.paragraph_format.space_before, p.paragraph_format.space_after = Pt(12), Pt(6)
    p.paragraph_format.keep_with_next = True
    run = p.add_run(xml_safe(text))
    _set_font(run, 14, bold=True, italic=False)
    run.font.color.rgb = RGBColor(0, 0, 0)


def _blocks(doc, section, pictures: dict) -> None:
    _heading(doc, section.heading)
    for b in section.blocks:
        if isinstance(b, Paragraph):
            _para(doc, b.text, 14, align=WD_ALIGN_PARAGRAPH.JUSTIFY, space_after=6, first_indent_cm=1.0)
        elif isinstance(b, Bullets):
            for item in b.items:
                _para(doc, "- " + item, 14, align=WD_ALIGN_PARAGRAPH.JUSTIFY, space_after=6, first_indent_cm=1.0)
        elif isinstance(b, Table):
            _table(doc, b)
        elif isinstance(b, Chart) and b.name in pictures:
            p = _para(doc, "", 14)
            p.add_run().add_picture(str(pictures[b.name]), width=Cm(min(16.0, TEXT_WIDTH_CM)))
            _para(doc, b.alt, 12, italic=True, space_after=6)


def _signature(doc, d: ReportDocument) -> None:
    lh = d.letterhead
    _para(doc, "", 14)
    left, right = _two_columns(doc, 7.0, TEXT_WIDTH_CM - 7.0)
    _para(left, lh.recipients_heading, 12, bold=True, italic=True, align=WD_ALIGN_PARAGRAPH.LEFT)
    for i, r in enumerate(lh.recipients):
        end = "." if i == len(lh.recipients) - 1 else ";"
        _para(left, f"- {r}{end}", 11, align=WD_ALIGN_PARAGRAPH.LEFT)
    _para(right, lh.signer_title, 14, bold=True)
    _para(right, lh.signer_sign, 14, italic=True)
    for _ in range(4):
        _para(right, "", 14)
    _para(right, lh.signer_name, 14, bold=True)


def write_docx(d: ReportDocument, path, pictures: dict | None = None) -> Path:
    """Write ``d`` as a ``.docx`` file in the administrative format.

    Parameters
    ----------
    d : ReportDocument
        From :func:`~happiness_index.report.content.build_document`.
    path : path
        The ``.docx`` file to write.
    pictures : mapping, optional
        ``{chart name: PNG path}``; charts without a picture are left out.

    Returns
    -------
    Path
        ``path``. The document's core properties carry the report date (not the time of
        writing), and the package's zip entries a fixed time stamp, so the same results and
        date give the same bytes.
    """
    from .reproducible import normalise_zip

    doc = Document()
    _page_setup(doc)
    _letterhead(doc, d)
    if d.notice:
        _para(doc, d.notice, 12, bold=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY, space_after=6)
    for s in d.sections:
        if not s.annex:
            _blocks(doc, s, pictures or {})
    _signature(doc, d)
    for s in d.sections:
        if s.annex:
            doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
            _blocks(doc, s, pictures or {})
    when = _dt.datetime.combine(d.date, _dt.time(0, 0))
    cp = doc.core_properties
    cp.title, cp.subject, cp.author = d.letterhead.doc_type, d.letterhead.subject, d.letterhead.issuing_body
    cp.last_modified_by, cp.created, cp.modified, cp.revision = d.letterhead.issuing_body, when, when, 1
    path = Path(path)
    doc.save(str(path))
    normalise_zip(path)
    return path
