"""DOCX renderer of `reports.document.Document` (OPS-4 fault brief, SVC-2 half-year log).

python-docx on A4. Chinese text uses the East-Asian font slots (宋体 body, 黑体 headings) that
every government-intranet Word/WPS has; fonts are not embedded in DOCX. The cover is its own
section without header or footer; the body section restarts page numbers at 1 and shows
"第 PAGE 页 共 SECTIONPAGES 页". The contents are a real TOC field whose cached result is a
static list of the headings, so the document reads right before Word updates the fields.
Table rows are written as raw XML: python-docx's add_row/cell are quadratic on long tables.
"""

from __future__ import annotations

import io
from copy import deepcopy

from docx import Document as new_docx
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

from cityops.reports.document import (Document, KeyValues, PageBreak, Paragraph, Section,
                                      Signatures, Table)

BODY_FONT, HEAD_FONT, LATIN_FONT = "宋体", "黑体", "Times New Roman"
HEADER_FILL, LABEL_FILL = "E8EEF5", "F3F5F8"


def _fonts(target, east_asian: str, latin: str = LATIN_FONT) -> None:
    """Set both the Latin and the East-Asian font of a style or run."""
    target.font.name = latin
    rpr = target.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)  # a theme font would override the named one
    for slot in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(slot), latin)
    fonts.set(qn("w:eastAsia"), east_asian)


def _insert_before(parent, child, *later: str) -> None:
    """Insert `child` before the first existing element named in `later` (OOXML sequences are
    ordered and Word rejects out-of-order elements), else append it."""
    for name in later:
        found = parent.find(qn(name))
        if found is not None:
            found.addprevious(child)
            return
    parent.append(child)


def _setup(word) -> None:
    normal = word.styles["Normal"]
    _fonts(normal, BODY_FONT)
    normal.font.size = Pt(10.5)
    for name, size in (("Title", 20), ("Heading 1", 15), ("Heading 2", 12.5)):
        style = word.styles[name]
        _fonts(style, HEAD_FONT)
        style.font.size = Pt(size)
        style.font.color.rgb = RGBColor(0, 0, 0)
        style.font.bold = name != "Title"
        style.font.italic = False
    word.styles["Title"].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    section = word.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(20)
    section.top_margin, section.bottom_margin = Mm(25), Mm(22)
    section.header_distance = section.footer_distance = Mm(12)
    # ask Word to refresh the TOC and page fields when the file is opened
    update = OxmlElement("w:updateFields")
    update.set(qn("w:val"), "true")
    _insert_before(word.settings.element, update, "w:hdrShapeDefaults", "w:footnotePr",
                   "w:endnotePr", "w:compat", "w:docVars", "w:rsids", "m:mathPr",
                   "w:attachedSchema", "w:themeFontLang", "w:clrSchemeMapping",
                   "w:doNotIncludeSubdocsInStats", "w:doNotAutoCompressPictures",
                   "w:forceUpgrade", "w:captions", "w:readModeInkLockDown", "w:smartTagType",
                   "w:shapeDefaults", "w:doNotEmbedSmartTags", "w:decimalSymbol",
                   "w:listSeparator")


def _field(paragraph, instruction: str, cached: str) -> None:
    """A simple field (PAGE, SECTIONPAGES) with a cached value shown before Word computes it."""
    for kind, text in (("begin", None), ("instr", instruction), ("separate", None),
                       ("text", cached), ("end", None)):
        run = paragraph.add_run()
        if kind == "instr":
            node = OxmlElement("w:instrText")
            node.set(qn("xml:space"), "preserve")
            node.text = f" {text} "
        elif kind == "text":
            run.text = text
            continue
        else:
            node = OxmlElement("w:fldChar")
            node.set(qn("w:fldCharType"), kind)
        run._r.append(node)


def _decorate(section, model: Document) -> None:
    section.header.is_linked_to_previous = False
    section.footer.is_linked_to_previous = False
    if model.header:
        para = section.header.paragraphs[0]
        para.text = model.header
        para.runs[0].font.size = Pt(9)
    if model.footer_page_numbers:
        para = section.footer.paragraphs[0]
        para.alignment = WD_ALIGN_PARAGRAPH.CENTER
        para.add_run("第 ")
        _field(para, "PAGE", "1")
        para.add_run(" 页 共 ")
        _field(para, "SECTIONPAGES", "1")
        para.add_run(" 页")
    number = OxmlElement("w:pgNumType")
    number.set(qn("w:start"), "1")
    _insert_before(section._sectPr, number, "w:cols", "w:formProt", "w:vAlign", "w:noEndnote",
                   "w:titlePg", "w:textDirection", "w:bidi", "w:rtlGutter", "w:docGrid",
                   "w:printerSettings", "w:sectPrChange")


def _cover(word, model: Document) -> None:
    for _ in range(6):
        word.add_paragraph()
    title = word.add_paragraph(model.title, style="Title")
    title.paragraph_format.space_after = Pt(18)
    if model.subtitle:
        sub = word.add_paragraph(model.subtitle)
        sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
        sub.runs[0].font.size = Pt(15)
    for _ in range(4):
        word.add_paragraph()
    if model.cover_rows:
        table = _grid(word, 2, borders=False)
        for key, value in model.cover_rows:
            _row(table, [key, value])
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for _ in range(4):
            word.add_paragraph()
    lines = [model.organisation]
    if model.issued_on:
        day = model.issued_on
        lines.append(f"{day.year}年{day.month}月{day.day}日")
    for line in lines:
        para = word.add_paragraph(line)
        para.alignment = WD_ALIGN_PARAGRAPH.CENTER
        para.runs[0].font.size = Pt(14)


def _contents(word, model: Document) -> None:
    title = word.add_paragraph("目　录")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _fonts(title.runs[0], HEAD_FONT)
    title.runs[0].font.size = Pt(16)
    entries = [s for s in model.sections]
    first = word.add_paragraph()
    _field_start(first, 'TOC \\o "1-2" \\h \\z \\u')
    for index, section in enumerate(entries):
        para = first if index == 0 else word.add_paragraph()
        para.add_run(section.title)
        if section.level >= 2:
            para.paragraph_format.left_indent = Mm(8)
    last = word.add_paragraph() if entries else first
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    last.add_run()._r.append(end)


def _field_start(paragraph, instruction: str) -> None:
    for kind in ("begin", "instr", "separate"):
        run = paragraph.add_run()
        if kind == "instr":
            node = OxmlElement("w:instrText")
            node.set(qn("xml:space"), "preserve")
            node.text = f" {instruction} "
        else:
            node = OxmlElement("w:fldChar")
            node.set(qn("w:fldCharType"), kind)
        run._r.append(node)


def _grid(word, columns: int, widths: list[float] | None = None, borders: bool = True):
    table = word.add_table(rows=0, cols=columns)
    if borders:
        table.style = word.styles["Table Grid"]
    total = 170.0  # mm of text width on A4 with 20 mm margins
    relative = widths if widths and len(widths) == columns else [1.0] * columns
    whole = sum(relative) or 1.0
    table.autofit = False
    for column, weight in zip(table.columns, relative):
        column.width = Mm(total * weight / whole)
    return table


def _cell_xml(text: str, width_twips: int, fill: str | None) -> OxmlElement:
    tc = OxmlElement("w:tc")
    tcpr = OxmlElement("w:tcPr")
    width = OxmlElement("w:tcW")
    width.set(qn("w:w"), str(width_twips))
    width.set(qn("w:type"), "dxa")
    tcpr.append(width)
    if fill:
        shade = OxmlElement("w:shd")
        shade.set(qn("w:val"), "clear")
        shade.set(qn("w:color"), "auto")
        shade.set(qn("w:fill"), fill)
        tcpr.append(shade)
    tc.append(tcpr)
    for line in (text or "").split("\n"):
        p = OxmlElement("w:p")
        r = OxmlElement("w:r")
        t = OxmlElement("w:t")
        t.set(qn("xml:space"), "preserve")
        t.text = line
        r.append(t)
        p.append(r)
        tc.append(p)
    return tc


def _row(table, cells: list[str], header: bool = False, fills: list[str | None] | None = None):
    tr = OxmlElement("w:tr")
    if header:
        trpr = OxmlElement("w:trPr")
        repeat = OxmlElement("w:tblHeader")  # repeated at the top of every page
        trpr.append(repeat)
        tr.append(trpr)
    widths = [int(g.w or 0) // 635 for g in table._tbl.tblGrid.gridCol_lst]  # EMU → twips
    for index, text in enumerate(cells):
        fill = fills[index] if fills else None
        tr.append(_cell_xml(str(text if text is not None else ""), widths[index], fill))
    table._tbl.append(tr)


def _section(word, section: Section) -> None:
    if section.new_page:
        word.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    word.add_heading(section.title, level=2 if section.level >= 2 else 1)
    _blocks(word, section.blocks)


def _blocks(word, blocks: list) -> None:
    for block in blocks:
        if isinstance(block, Paragraph):
            para = word.add_paragraph(block.text)
            if block.style == "body":
                para.paragraph_format.first_line_indent = Pt(21)
            elif block.style == "note":
                for run in para.runs:
                    run.font.size = Pt(9)
                    run.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
            elif block.style == "strong":
                for run in para.runs:
                    run.font.bold = True
        elif isinstance(block, KeyValues):
            table = _grid(word, 2, [0.28, 0.72])
            for key, value in block.rows:
                _row(table, [key, value], fills=[LABEL_FILL, None])
            word.add_paragraph()
        elif isinstance(block, Table):
            table = _grid(word, len(block.headers), block.widths)
            _row(table, block.headers, header=block.repeat_header,
                 fills=[HEADER_FILL] * len(block.headers))
            for row in block.rows:
                _row(table, list(row) + [""] * (len(block.headers) - len(row)))
            word.add_paragraph()
        elif isinstance(block, Signatures):
            word.add_paragraph()
            table = _grid(word, 4, [0.18, 0.37, 0.12, 0.33], borders=False)
            for role in block.roles:
                _row(table, [f"{role}：", block.names.get(role, ""), "日期：", ""])
            _underline_blanks(table)
        elif isinstance(block, PageBreak):
            word.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        else:
            raise TypeError(f"unknown block {type(block).__name__}")


def _underline_blanks(table) -> None:
    """The name and date cells of a signatures block get a bottom border to sign on."""
    line = OxmlElement("w:tcBorders")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "0"), ("w:color", "000000")):
        bottom.set(qn(key), value)
    line.append(bottom)
    for tr in table._tbl.tr_lst:
        for index in (1, 3):
            tr.tc_lst[index].tcPr.append(deepcopy(line))


def to_docx(model: Document) -> bytes:
    word = new_docx()
    _setup(word)
    word.core_properties.title = model.title
    word.core_properties.author = model.organisation
    if model.cover:
        _cover(word, model)
        body = word.add_section(WD_SECTION.NEW_PAGE)
        _decorate(body, model)
    else:
        _decorate(word.sections[0], model)
        word.add_paragraph(model.title, style="Title")
        if model.subtitle:
            sub = word.add_paragraph(model.subtitle)
            sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _blocks(word, model.preamble)
    if model.contents:
        _contents(word, model)
        word.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    for section in model.sections:
        _section(word, section)
    buf = io.BytesIO()
    word.save(buf)
    return buf.getvalue()
