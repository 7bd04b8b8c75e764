"""The half-year compiled maintenance log (SVC-2 装订成册): a full six months of entries rendered
to PDF (embedded CJK font) and DOCX; the contents' page numbers are checked against the pages
the text is really on, plus the cover, the compact empty days and the signatures page."""

import io
import random
import re
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime

import pytest

from cityops.core.errors import Invalid
from cityops.core.timeutil import SHANGHAI
from cityops.maintenance import halfyear
from cityops.maintenance.log_models import LOG_KINDS, LogEntry
from cityops.reports.document import Signatures, Table

SYSTEMS = ["SYS-DUTY", "SYS-MOBILE", "SYS-EYE", "SYS-VISION", "SYS-DISPATCH", None]
TEXTS = ["门户 502 已恢复，重启 Nginx 后访问正常", "数据库备份校验：昨夜全量备份成功，校验和一致",
         "城区之眼视频调阅卡顿，已调整转发节点负载", "机房巡检：温湿度正常，UPS 电池组自检通过",
         "更换 3 号存储单元故障硬盘，RAID 重建完成", "值班交接：夜间 2 起告警已处置，无遗留"]
EMPTY = {date(2026, 2, 7), date(2026, 2, 8), date(2026, 2, 9), date(2026, 4, 30)}
KNOWN_DAY = date(2026, 3, 17)
KNOWN = "更换城区之眼 7 号转发节点电源模块（核对编号 KN-0317）"


def _fill_half_year(s) -> int:
    """5–20 entries on every day of 2026 H1 except EMPTY; the first of 17 March is KNOWN."""
    rnd = random.Random(2026)
    n, d = 0, date(2026, 1, 1)
    while d <= date(2026, 6, 30):
        if d not in EMPTY:
            minutes = sorted(rnd.sample(range(24 * 60), rnd.randint(5, 20)))
            for i, m in enumerate(minutes):
                summary = KNOWN if (d == KNOWN_DAY and i == 0) else f"{rnd.choice(TEXTS)}（{d:%m%d}-{i}）"
                s.add(LogEntry(day=d, at=datetime.combine(d, dtime(m // 60, m % 60), SHANGHAI), summary=summary,
                               kind=rnd.choice(list(LOG_KINDS)), source="test", source_ref=f"{d}-{i}", detail="",
                               author=rnd.choice(["wang", "li", ""]), system_code=rnd.choice(SYSTEMS)))
                n += 1
        d += timedelta(days=1)
    s.flush()
    return n


def _pages(pdf_bytes: bytes) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(pdf_bytes)
    return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]


def test_periods_and_bad_input():
    assert halfyear.period_bounds(2026, 1)[:2] == (date(2026, 1, 1), date(2026, 6, 30))
    assert halfyear.period_bounds(2026, 2)[:2] == (date(2026, 7, 1), date(2026, 12, 31))
    assert halfyear.period_bounds(2026, 1, "service")[:2] == (date(2026, 5, 1), date(2026, 10, 31))
    assert halfyear.period_bounds(2026, 2, "service")[:2] == (date(2026, 11, 1), date(2027, 4, 30))
    with pytest.raises(Invalid):
        halfyear.period_bounds(2026, 3)
    with pytest.raises(Invalid):
        halfyear.period_bounds(2026, 1, "fiscal")
    assert halfyear._compact_days([date(2026, 2, d) for d in (1, 2, 3, 5, 7, 8)]) == "1–3 日、5 日、7–8 日"


def test_document_structure(db):
    with db.session() as s:
        total = _fill_half_year(s)
        doc = halfyear.half_year_document(s, year=2026, half=1, project_manager="周经理",
                                          now=datetime(2026, 7, 2, 2, tzinfo=SHANGHAI))
    assert doc.cover and doc.contents and "2026-01-01 至 2026-06-30" in doc.subtitle
    assert ("项目经理", "周经理") in doc.cover_rows and ("编制日期", "2026-07-02") in doc.cover_rows
    chapters = [x.title for x in doc.sections if x.level == 1]
    assert chapters == ["汇总"] + [f"2026 年 {m} 月" for m in range(1, 7)] + ["签字确认"]
    days = [x for x in doc.sections if x.level == 2]
    assert len(days) == 181 - len(EMPTY), "a sub-section per day with entries, none for empty days"
    assert sum(len(x.blocks[0].rows) for x in days) == total
    feb = next(x for x in doc.sections if x.title == "2026 年 2 月")
    assert any("无记录的日期：7–9 日" in b.text for b in feb.blocks)
    summary = doc.sections[0]
    by_kind = [b for b in summary.blocks if isinstance(b, Table)][0]
    assert by_kind.rows[-1][0] == "合计" and by_kind.rows[-1][-1] == str(total)
    sig = doc.sections[-1].blocks[-1]
    assert isinstance(sig, Signatures) and sig.roles == ["编制人", "审核人", "项目经理", "甲方确认"]


def test_full_half_year_renders_with_true_contents(db, tmp_path):
    """Six months, 5–20 entries a day, rendered (PDF on SQLite only: rendering does not depend on
    the database and a 100-page book costs seconds; the document itself is checked on both)."""
    with db.session() as s:
        total = _fill_half_year(s)
        doc = halfyear.half_year_document(s, year=2026, half=1, project_manager="周经理")
    from cityops.reports import render

    docx_bytes = render.to_docx(doc)
    from docx import Document as Docx

    word = Docx(io.BytesIO(docx_bytes))
    body = "\n".join(p.text for p in word.paragraphs)
    assert halfyear.TITLE in body and "签字确认" in body
    cells = {c.text for t in word.tables for row in t.rows for c in row.cells}
    assert KNOWN in cells
    if db.engine.dialect.name != "sqlite":
        return

    started = time.perf_counter()
    pdf = render.to_pdf(doc)
    seconds = time.perf_counter() - started
    (tmp_path / "half.pdf").write_bytes(pdf)
    pages = _pages(pdf)
    print(f"half-year PDF: {total} entries, {len(pages)} pages, {seconds:.1f} s")
    assert total / 25 < len(pages) < total / 5, "page count plausible for the entries"
    cover = pages[0]
    assert halfyear.TITLE in cover and "2026-01-01 至 2026-06-30" in cover and "周经理" in cover
    assert "编制单位" in cover and "第 1 页" not in cover, "the cover is not numbered"
    assert f"共 {len(pages) - 1} 页" in pages[1]

    toc = "\n".join(p for p in pages[1:12] if "目" in p or "日 星期" in p)
    listed = {}
    for m in range(1, 7):
        hit = re.search(rf"2026 年 {m} 月[ .]*?(\d+)\s*$", toc, re.M)
        assert hit, f"month {m} is in the contents"
        listed[m] = int(hit.group(1))
    assert list(listed.values()) == sorted(listed.values())
    for m, number in listed.items():  # page N is the N-th page after the cover, as the footer says
        assert f"2026 年 {m} 月" in pages[number] and f"第 {number} 页" in pages[number]
    day = re.search(r"3 月 17 日 星期二（\d+ 条）[ .]*?(\d+)\s*$", toc, re.M)
    assert day, "the day is in the contents"
    page_no = int(day.group(1))
    assert "3 月 17 日 星期二" in pages[page_no]
    assert KNOWN in pages[page_no].replace("\r\n", "").replace("\n", "") or \
        KNOWN in pages[page_no + 1].replace("\r\n", "").replace("\n", "")
    assert "无记录的日期：7–9 日" in "".join(pages)
    last = pages[-1]
    for role in ("编制人", "审核人", "项目经理", "甲方确认"):
        assert role in last
