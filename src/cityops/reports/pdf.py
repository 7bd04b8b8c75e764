"""PDF renderer of `reports.document.Document` (OPS-4 fault brief, SVC-2 half-year log).

ReportLab platypus on A4 with the shipped DroidSansFallbackFull font, embedded as TrueType
subsets with ToUnicode maps (text stays searchable/extractable); no system font is used.
`multiBuild` runs passes until the table of contents and the page total are stable, so
"第 N 页 共 M 页" and the contents' page numbers are real. Page numbers start after the cover.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (BaseDocTemplate, Flowable, Frame, KeepTogether, LongTable,
                                NextPageTemplate, PageTemplate, Paragraph as RLParagraph, Spacer,
                                Table as RLTable, TableStyle)
from reportlab.platypus import PageBreak as RLPageBreak
from reportlab.platypus.tableofcontents import TableOfContents

from cityops.reports.document import (Document, KeyValues, PageBreak, Paragraph, Section,
                                      Signatures, Table)

FONT = "CityOpsCJK"
FONT_PATH = Path(__file__).parent / "fonts" / "DroidSansFallbackFull.ttf"
# DroidSansFallback has no Latin letters or digits: those runs use Bitstream Vera, which ships
# inside the reportlab package (not a system font), also embedded as a subset.
LATIN = "CityOpsLatin"
LATIN_PATH = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"
_font_lock = threading.Lock()
_cjk_chars: set[int] = set()
MARGIN_X = 20 * mm
MARGIN_TOP = 25 * mm
MARGIN_BOTTOM = 22 * mm
# ReportLab tables select their cell font (Helvetica by default) even around paragraphs: name ours
BASE_TABLE = [("FONTNAME", (0, 0), (-1, -1), LATIN)]
HEADER_BG = colors.HexColor("#E8EEF5")
LABEL_BG = colors.HexColor("#F3F5F8")
GRID = colors.HexColor("#7A8594")


def _register_font() -> None:
    with _font_lock:
        if FONT not in pdfmetrics.getRegisteredFontNames():
            cjk = TTFont(FONT, str(FONT_PATH))
            _cjk_chars.update(cjk.face.charToGlyph)
            pdfmetrics.registerFont(cjk)
            pdfmetrics.registerFont(TTFont(LATIN, str(LATIN_PATH)))


def _runs(text: str) -> list[tuple[str, str]]:
    """Split text into (font, run) pieces: characters the CJK font lacks go to the Latin font."""
    runs: list[tuple[str, str]] = []
    for ch in text:
        font = FONT if (ord(ch) in _cjk_chars or ch == "\n") else LATIN
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + ch)
        else:
            runs.append((font, ch))
    return runs


def _draw(canv, x: float, y: float, text: str, size: float, centred: bool = False) -> None:
    """Draw a mixed CJK/Latin string on the canvas (running header and page numbers)."""
    runs = _runs(text)
    if centred:
        x -= sum(pdfmetrics.stringWidth(run, font, size) for font, run in runs) / 2
    for font, run in runs:
        canv.setFont(font, size)
        canv.drawString(x, y, run)
        x += pdfmetrics.stringWidth(run, font, size)


def _style(name: str, size: float, leading: float | None = None, fontName: str = FONT,
           **kw) -> ParagraphStyle:
    # wordWrap="CJK" breaks lines between any two CJK characters (no spaces in Chinese text)
    return ParagraphStyle(name, fontName=fontName, fontSize=size, leading=leading or size * 1.5,
                          wordWrap="CJK", **kw)


def _styles() -> dict[str, ParagraphStyle]:
    return {
        "title": _style("title", 20, 30, alignment=TA_CENTER, spaceAfter=4 * mm),
        "subtitle": _style("subtitle", 13, 20, alignment=TA_CENTER, spaceAfter=6 * mm,
                           textColor=colors.HexColor("#333333")),
        "cover_title": _style("cover_title", 26, 38, alignment=TA_CENTER),
        "cover_sub": _style("cover_sub", 15, 24, alignment=TA_CENTER),
        "cover_org": _style("cover_org", 14, 22, alignment=TA_CENTER),
        "h1": _style("h1", 15, 22, spaceBefore=5 * mm, spaceAfter=2.5 * mm, keepWithNext=1),
        "h2": _style("h2", 12.5, 19, spaceBefore=3 * mm, spaceAfter=1.5 * mm, keepWithNext=1),
        "body": _style("body", 10.5, 17, spaceAfter=1.5 * mm, firstLineIndent=21),
        "note": _style("note", 9, 14, spaceAfter=1.5 * mm, textColor=colors.HexColor("#555555")),
        "strong": _style("strong", 11, 17, spaceAfter=1.5 * mm, textColor=colors.HexColor("#000000")),
        "cell": _style("cell", 9.5, 13.5),
        "head": _style("head", 9.5, 13.5),
        "label": _style("label", 9.5, 13.5, textColor=colors.HexColor("#333333")),
        "sign": _style("sign", 10.5, 16),
        "toc_title": _style("toc_title", 16, 24, alignment=TA_CENTER, spaceAfter=5 * mm),
        # contents lines are Latin-based: TableOfContents draws the dots and page numbers in
        # the style's font, which must have digits; the CJK runs of the titles are marked
        "toc1": _style("toc1", 11, 18, leftIndent=0, fontName=LATIN),
        "toc2": _style("toc2", 10, 16, leftIndent=8 * mm, fontName=LATIN),
    }


def _text(value: object, base: str = FONT) -> str:
    """Plain text → ReportLab paragraph markup (escaped, line breaks kept, runs in the other
    font than the style's `base` font marked)."""
    parts = []
    for font, run in _runs("" if value is None else str(value)):
        run = escape(run).replace("\n", "<br/>")
        parts.append(run if font == base else f'<font name="{font}">{run}</font>')
    return "".join(parts)


class _P(RLParagraph):
    """A paragraph that remembers its line breaks per width: tables wrap every cell twice
    (measure, draw) and multiBuild repeats the layout, and CJK line breaking dominates the cost."""

    _cached: tuple | None = None

    def wrap(self, availWidth, availHeight):
        if self._cached and self._cached[0] == availWidth:
            _, self.width, self._wrapWidths, self.blPara, self.height = self._cached
            return self.width, self.height
        result = super().wrap(availWidth, availHeight)
        if self.height < 0x7fffffff:
            self._cached = (availWidth, self.width, self._wrapWidths, self.blPara, self.height)
        return result


class _Heading(RLParagraph):
    def __init__(self, text: str, style: ParagraphStyle, level: int, key: str):
        super().__init__(_text(text), style)
        self.plain, self.toc_level, self.key = text, level, key


class _PageTotal(Flowable):
    """Invisible indexing flowable: satisfied when two passes counted the same pages."""

    def __init__(self):
        super().__init__()
        self.width = self.height = 0
        self.previous: int | None = None
        self.current: int | None = None
        self.counted = 0

    def isIndexing(self):
        return 1

    def beforeBuild(self):
        self.counted = 0

    def afterBuild(self):
        self.previous, self.current = self.current, self.counted

    def isSatisfied(self):
        return self.previous is not None and self.previous == self.current

    def notify(self, kind, stuff):
        pass

    def draw(self):
        pass


class _DocTemplate(BaseDocTemplate):
    def __init__(self, buf, model: Document, total: _PageTotal):
        super().__init__(buf, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X,
                         topMargin=MARGIN_TOP, bottomMargin=MARGIN_BOTTOM, title=model.title,
                         initialFontName=FONT, initialFontSize=10,  # no Helvetica reference
                         author=model.organisation, subject=model.subtitle, creator="cityops")
        self.model, self.total, self.offset = model, total, 1 if model.cover else 0
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        templates = [PageTemplate("body", [frame], onPage=self._decorate)]
        if model.cover:
            templates.insert(0, PageTemplate("cover", [frame]))
        self.addPageTemplates(templates)

    def afterPage(self):
        self.total.counted = self.page

    def afterFlowable(self, flowable):
        if isinstance(flowable, _Heading):
            self.canv.bookmarkPage(flowable.key)
            self.canv.addOutlineEntry(flowable.plain, flowable.key, flowable.toc_level - 1)
            self.notify("TOCEntry", (flowable.toc_level - 1, _text(flowable.plain, LATIN),
                                     self.page - self.offset, flowable.key))

    def _decorate(self, canv, doc):
        canv.saveState()
        width, height = A4
        if self.model.header:
            canv.setFillColor(colors.HexColor("#444444"))
            _draw(canv, MARGIN_X, height - 15 * mm, self.model.header, 9)
            canv.setStrokeColor(GRID)
            canv.setLineWidth(0.5)
            canv.line(MARGIN_X, height - 17 * mm, width - MARGIN_X, height - 17 * mm)
        if self.model.footer_page_numbers:
            known = self.total.current
            total = "?" if known is None else str(known - self.offset)
            _draw(canv, width / 2, 12 * mm, f"第 {doc.page - self.offset} 页 共 {total} 页", 9, True)
        canv.restoreState()


def _widths(relative: list[float] | None, count: int, available: float) -> list[float]:
    if not relative or len(relative) != count:
        relative = [1.0] * count
    whole = sum(relative) or 1.0
    return [available * w / whole for w in relative]


def _data_table(block: Table, styles, available: float):
    head = [_P(_text(h), styles["head"]) for h in block.headers]
    rows = [[_P(_text(c), styles["cell"]) for c in row] for row in block.rows]
    # LongTable measures rows only until the page is full, so long tables split in linear time
    table = LongTable([head] + rows, colWidths=_widths(block.widths, len(block.headers), available),
                      repeatRows=1 if block.repeat_header else 0, splitByRow=1)
    table.setStyle(TableStyle(BASE_TABLE + [
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def _key_values(block: KeyValues, styles, available: float):
    rows = [[_P(_text(k), styles["label"]), _P(_text(v), styles["cell"])]
            for k, v in block.rows]
    table = RLTable(rows, colWidths=[available * 0.28, available * 0.72], splitByRow=1)
    table.setStyle(TableStyle(BASE_TABLE + [
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("BACKGROUND", (0, 0), (0, -1), LABEL_BG),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def _signatures(block: Signatures, styles, available: float):
    rows = [[_P(_text(f"{role}："), styles["sign"]),
             _P(_text(block.names.get(role, "")), styles["sign"]),
             _P(_text("日期："), styles["sign"]), _P("", styles["sign"])] for role in block.roles]
    table = RLTable(rows, colWidths=[available * w for w in (0.18, 0.37, 0.12, 0.33)],
                    rowHeights=[12 * mm] * len(rows))
    table.setStyle(TableStyle(BASE_TABLE + [
        ("LINEBELOW", (1, 0), (1, -1), 0.6, colors.black),
        ("LINEBELOW", (3, 0), (3, -1), 0.6, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
    ]))
    return KeepTogether([Spacer(1, 8 * mm), table])


def _cover(model: Document, styles, available: float) -> list:
    story: list = [Spacer(1, 55 * mm), _P(_text(model.title), styles["cover_title"])]
    if model.subtitle:
        story += [Spacer(1, 6 * mm), _P(_text(model.subtitle), styles["cover_sub"])]
    story.append(Spacer(1, 30 * mm))
    if model.cover_rows:
        rows = [[_P(_text(k), styles["label"]), _P(_text(v), styles["cell"])]
                for k, v in model.cover_rows]
        table = RLTable(rows, colWidths=[available * 0.22, available * 0.48])
        table.setStyle(TableStyle(BASE_TABLE + [("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID),
                                   ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                                   ("TOPPADDING", (0, 0), (-1, -1), 5),
                                   ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
        story += [table, Spacer(1, 30 * mm)]
    story.append(_P(_text(model.organisation), styles["cover_org"]))
    if model.issued_on:
        day = model.issued_on
        story.append(_P(_text(f"{day.year}年{day.month}月{day.day}日"), styles["cover_org"]))
    return story + [NextPageTemplate("body"), RLPageBreak()]


def _contents(styles) -> list:
    toc = TableOfContents(dotsMinLevel=0, levelStyles=[styles["toc1"], styles["toc2"]],
                          tableStyle=TableStyle(BASE_TABLE + [("VALIGN", (0, 0), (-1, -1), "TOP"),
                                                              ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                                              ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return [RLParagraph("目　录", styles["toc_title"]), toc, RLPageBreak()]


def _section(section: Section, index: int, styles, available: float) -> list:
    level = 2 if section.level >= 2 else 1
    story: list = [RLPageBreak()] if section.new_page else []
    story.append(_Heading(section.title, styles[f"h{level}"], level, f"s{index}"))
    return story + _blocks(section.blocks, styles, available)


def _blocks(blocks: list, styles, available: float) -> list:
    story: list = []
    for block in blocks:
        if isinstance(block, Paragraph):
            story.append(_P(_text(block.text), styles.get(block.style, styles["body"])))
        elif isinstance(block, KeyValues):
            story += [_key_values(block, styles, available), Spacer(1, 3 * mm)]
        elif isinstance(block, Table):
            story += [_data_table(block, styles, available), Spacer(1, 3 * mm)]
        elif isinstance(block, Signatures):
            story.append(_signatures(block, styles, available))
        elif isinstance(block, PageBreak):
            story.append(RLPageBreak())
        else:
            raise TypeError(f"unknown block {type(block).__name__}")
    return story


def _drop_leading_breaks(story: list) -> list:
    """A page break right after another (or after the contents) would leave a blank page."""
    out: list = []
    for item in story:
        if isinstance(item, RLPageBreak) and out and isinstance(out[-1], RLPageBreak):
            continue
        out.append(item)
    return out


def to_pdf(model: Document) -> bytes:
    _register_font()
    styles = _styles()
    buf = io.BytesIO()
    total = _PageTotal()
    doc = _DocTemplate(buf, model, total)
    available = doc.width
    story: list = [total]
    if model.cover:
        story += _cover(model, styles, available)
    if not model.cover:
        story.append(_P(_text(model.title), styles["title"]))
        if model.subtitle:
            story.append(_P(_text(model.subtitle), styles["subtitle"]))
    story += _blocks(model.preamble, styles, available)
    if model.contents:
        story += _contents(styles)
    for index, section in enumerate(model.sections):
        story += _section(section, index, styles, available)
    if not model.footer_page_numbers:
        story.remove(total)  # one pass is enough without a page total (unless there are contents)
    doc.multiBuild(_drop_leading_breaks(story))
    return buf.getvalue()
