"""Document renderers (OPS-4, SVC-2): PDF with the embedded CJK font and real page numbers,
DOCX that parses back with its headings, tables, fields and signatures."""

import io
import re
from datetime import date

import docx
import pypdfium2 as pdfium
import pytest

from cityops.reports.document import Document, KeyValues, PageBreak, Paragraph, Section, Signatures, Table
from cityops.reports.render import to_docx, to_pdf


def sample(months: int = 2, rows: int = 40, cover: bool = True, contents: bool = True) -> Document:
    sections = []
    for m in range(1, months + 1):
        table = Table(["时间", "系统", "内容", "记录人"],
                      [[f"2026-{m:02d}-{d % 28 + 1:02d} 08:30", "城区之眼 SYS-EYE",
                        f"第{d}次巡检：视频调阅服务响应正常，存储使用率 {d % 90}%，无告警。" * (1 + d % 3), "张三"]
                       for d in range(rows)], widths=[2, 1.6, 6, 1])
        sections.append(Section(f"{m}月 运维日志", [Paragraph("本月完成日常巡检与维护，详见下表。"), table],
                                new_page=m > 1))
        sections.append(Section(f"{m}月 小结", [Paragraph("无重大故障。", "strong"),
                                               KeyValues([("巡检次数", str(rows)), ("故障", "0")])], level=2))
    sections.append(Section("签字", [PageBreak(), Signatures(["编制人", "审核人", "项目经理"], {"编制人": "李四"})]))
    return Document("城运系统运维日志（2026年上半年）", sections, subtitle="汇编本", issued_on=date(2026, 11, 1),
                    cover=cover, contents=contents, header="长宁区城市运行管理中心 · 运维日志",
                    cover_rows=[("编号", "LOG-2026-H1"), ("密级", "内部")])


def pdf_text(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]


def ink(pdf: bytes, index: int) -> float:
    """Share of non-white pixels of one page rendered to an image."""
    image = pdfium.PdfDocument(pdf)[index].render(scale=0.5).to_pil().convert("L")
    dark = sum(1 for v in image.tobytes() if v < 200)
    return dark / (image.width * image.height)


def test_pdf_has_cover_contents_page_numbers_and_cjk_text():
    pdf = to_pdf(sample())
    assert pdf.startswith(b"%PDF")
    pages = pdf_text(pdf)
    total = len(pages) - 1  # the cover is not numbered
    assert "城运系统运维日志" in pages[0] and "LOG-2026-H1" in pages[0] and "2026年11月1日" in pages[0]
    assert "页 共" not in pages[0], "no page number on the cover"
    assert "目" in pages[1] and "1月 运维日志" in pages[1]
    # the contents carry real page numbers: the entry for 2月 points at the page that has it
    entry = re.search(r"2月 运维日志[ .]*?(\d+)", pages[1])
    assert entry, pages[1]
    target = int(entry.group(1))
    assert "2月 运维日志" in pages[target]  # page N is index N (cover is index 0)
    for n in range(1, len(pages)):
        assert f"第 {n} 页 共 {total} 页" in pages[n]
        assert "长宁区城市运行管理中心 · 运维日志" in pages[n]
    body = "".join(pages)
    assert "第17次巡检：视频调阅服务响应正常，存储使用率 17%" in body.replace("\r\n", "").replace("\n", "")
    assert "编制人" in pages[-1] and "李四" in pages[-1] and "项目经理" in pages[-1]


def test_pdf_table_splits_with_repeated_header():
    pages = pdf_text(to_pdf(sample(months=1, rows=120, cover=False, contents=False)))
    table_pages = [p for p in pages if "巡检" in p]
    assert len(table_pages) >= 3
    assert all("时间" in p and "记录人" in p for p in table_pages), "the header row repeats on every page"


def test_pdf_embeds_the_shipped_font_as_a_subset_with_tounicode():
    pdf = to_pdf(sample(months=1, rows=5))
    assert b"/FontFile2" in pdf and b"/ToUnicode" in pdf
    assert re.search(rb"/BaseFont\s*/[A-Z]{6}\+DroidSansFallback", pdf), "subset of the shipped CJK font"
    # nothing but the two shipped fonts (CJK + reportlab's Vera for Latin runs)
    names = set(re.findall(rb"/BaseFont\s*/(?:[A-Z]{6}\+)?([A-Za-z-]+)", pdf))
    assert names == {b"DroidSansFallback", b"BitstreamVeraSans-Roman"}, names


def test_pdf_page_renders_not_blank(tmp_path):
    pdf = to_pdf(sample(months=1, rows=30, cover=False, contents=False))
    assert ink(pdf, 0) > 0.01
    image = pdfium.PdfDocument(pdf)[0].render(scale=1).to_pil()
    image.save(tmp_path / "p1.png")
    assert image.width > 500 and (tmp_path / "p1.png").stat().st_size > 10_000


def test_pdf_escapes_markup_and_keeps_line_breaks():
    doc = Document("转义", [Section("说明", [Paragraph("a < b & c > d\n第二行 <b>不是粗体</b>")])])
    text = pdf_text(to_pdf(doc))[0]
    assert "a < b & c > d" in text and "第二行 <b>不是粗体</b>" in text


def test_unknown_block_is_refused():
    doc = Document("x", [Section("y", ["not a block"])])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        to_pdf(doc)
    with pytest.raises(TypeError):
        to_docx(doc)


def test_docx_parses_back_with_headings_tables_fields_and_signatures():
    raw = to_docx(sample())
    word = docx.Document(io.BytesIO(raw))
    section = word.sections[0]
    assert round(section.page_width.mm) == 210 and round(section.page_height.mm) == 297
    headings = [(p.style.name, p.text) for p in word.paragraphs if p.style.name.startswith("Heading")]
    assert ("Heading 1", "1月 运维日志") in headings and ("Heading 2", "2月 小结") in headings
    texts = [p.text for p in word.paragraphs]
    assert "城运系统运维日志（2026年上半年）" in texts and "2026年11月1日" in texts
    # the contents: a TOC field whose cached result already lists the headings
    xml = word.element.xml
    assert 'TOC \\o "1-2"' in xml and "目　录" in texts
    assert texts.index("1月 运维日志") < texts.index("2月 运维日志") < texts.index("签字")
    # two sections: the cover without header, the body with header and 第 PAGE 页 共 SECTIONPAGES 页
    assert len(word.sections) == 2
    body = word.sections[1]
    assert body.header.paragraphs[0].text == "长宁区城市运行管理中心 · 运维日志"
    footer_xml = body.footer._element.xml
    assert "PAGE" in footer_xml and "SECTIONPAGES" in footer_xml and "第" in footer_xml
    assert 'w:start="1"' in body._sectPr.xml
    data = [t for t in word.tables if t.rows[0].cells[0].text == "时间"]
    assert len(data) == 2 and len(data[0].rows) == 41
    assert "w:tblHeader" in data[0].rows[0]._tr.xml, "the header row repeats on each page"
    assert data[0].rows[1].cells[1].text == "城区之眼 SYS-EYE"
    signatures = word.tables[-1]
    assert [r.cells[0].text for r in signatures.rows] == ["编制人：", "审核人：", "项目经理："]
    assert signatures.rows[0].cells[1].text == "李四"
    # East-Asian font set on the styles (not a theme font)
    assert 'w:eastAsia="宋体"' in word.styles["Normal"].element.xml
    assert 'w:eastAsia="黑体"' in word.styles["Heading 1"].element.xml


def test_docx_without_cover_has_one_section_and_a_title():
    word = docx.Document(io.BytesIO(to_docx(sample(months=1, rows=3, cover=False, contents=False))))
    assert len(word.sections) == 1
    assert word.paragraphs[0].text == "城运系统运维日志（2026年上半年）"


def test_long_document_pages_and_contents_stay_consistent():
    """~25 pages: every chapter starts on the page the contents gives (time and memory of a
    500-page document are measured by `cityops bench documents`, docs/benchmarks.md)."""
    doc = sample(months=5, rows=60)
    pages = pdf_text(to_pdf(doc))
    assert len(pages) > 20
    listed = dict(re.findall(r"(\d月 运维日志)[ .]+(\d+)", pages[1]))
    assert sorted(listed) == [f"{m}月 运维日志" for m in range(1, 6)]
    for heading, number in listed.items():
        page = next(p for p in pages if f"第 {number} 页 共 {len(pages) - 1} 页" in p)
        assert heading in page, (heading, number)
    assert len(to_docx(doc)) > 10_000
