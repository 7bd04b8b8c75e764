"""O&M benchmarks (issue #7), each printing one JSON object:

- `roster-coverage`: the coverage check over the whole service period (SVC-1; 8,760 hours)
  with the team of nine's rotations generated for the year plus `extra` manual shifts; target
  p95 < 1 s, because the console and the daily job run it on demand.
- `sla-board`: the duty home page's ticket board and counters (OPS-3) over `tickets` open
  tickets (a quarter of them paused), board and counters from one evaluation of the clocks;
  target p95 < 1 s at 2,000 open tickets (a district desk holds hundreds) for a page refreshed
  every minute.
- `documents`: a half-year-like document of about `pages` A4 pages rendered to PDF and DOCX
  (OPS-4, SVC-2): seconds, pages and the process's peak resident memory.
"""

from __future__ import annotations

import random
import resource
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cityops.bench.common import database as scratch_database
from cityops.bench.common import machine, pct, timed_ms

COVERAGE_TARGET_MS = 1000.0
BOARD_TARGET_MS = 1000.0


def _db(kind: str, tmp: Path):
    from cityops.bootstrap import prepare_database
    from cityops.core.db import Database

    url, drop = scratch_database(kind, tmp)
    db = Database(url)
    prepare_database(db)
    return db, drop


def roster_coverage(database: str = "sqlite", extra: int = 2000, runs: int = 20) -> dict:
    from cityops.duty import coverage, rotation, service
    from cityops.duty.models import Shift

    with tempfile.TemporaryDirectory() as tmp:
        db, drop = _db(database, Path(tmp))
        try:
            t = time.perf_counter()
            with db.session() as s:
                service.create_team(s, code="centre", name="城运中心值班组")
                service.create_team(s, code="support", name="技术支撑组")
                officers = [service.create_contact(s, name=f"值班员{i}", phone=f"1380000001{i}", team_code="centre")
                            for i in range(4)]
                support = [service.create_contact(s, name=f"技术{i}", phone=f"1380000002{i}", team_code="support")
                           for i in range(4)]
                start, end = date(2026, 4, 24), date(2027, 4, 30)
                before = datetime(2026, 4, 1, tzinfo=UTC)
                r1 = rotation.create_rotation(s, name="四班轮换", team_code="centre", members=[c.id for c in officers],
                                              slots=rotation.DAY_NIGHT, cycle=rotation.DAY_NIGHT_CYCLE,
                                              start_date=start)
                r2 = rotation.create_rotation(s, name="周值守", team_code="support", role="support", kind="weekly",
                                              members=[c.id for c in support], start_date=start)
                rotation.generate(s, r1.id, start, end, now=before)
                rotation.generate(s, r2.id, start, end, now=before)
                rng = random.Random(7)  # leaders over the officers: short manual shifts all year
                first = datetime(2026, 5, 1, tzinfo=UTC)
                s.add_all(Shift(contact_id=rng.choice(officers).id, team_code="centre", role="leader",
                                starts_at=(at := first + timedelta(hours=rng.randrange(0, 8760))),
                                ends_at=at + timedelta(hours=4)) for _ in range(extra))
            seed_s = time.perf_counter() - t
            with db.session() as s:
                shifts = s.query(Shift).count()
                result = coverage.coverage(s)
                ms = timed_ms(lambda: coverage.coverage(s), runs)
        finally:
            db.dispose()
            drop()
    p95 = pct(ms, 0.95)
    return {"bench": "roster-coverage", "database": database, "hours": result["hours"], "shifts": shifts,
            "gaps": len(result["gaps"]), "seed_s": round(seed_s, 1), "p50_ms": round(pct(ms, 0.5), 1),
            "p95_ms": round(p95, 1), "target_p95_ms": COVERAGE_TARGET_MS, "ok": p95 < COVERAGE_TARGET_MS,
            "machine": machine()}


def sla_board(database: str = "sqlite", tickets: int = 2000, runs: int = 20) -> dict:
    from cityops.servicedesk import service as desk
    from cityops.servicedesk import workflow
    from cityops.servicedesk.queries import overview

    now = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        db, drop = _db(database, Path(tmp))
        try:
            t = time.perf_counter()
            with db.session() as s:
                from cityops.auth import service as users

                users.create_user(s, username="bench", role="technician", password="Bench-pass-0123")
                for i in range(tickets):
                    opened = now - timedelta(minutes=rng.randrange(5, 14 * 24 * 60))
                    tk = desk.open_ticket(s, title=f"工单 {i}", impact=rng.randint(1, 3), urgency=rng.randint(1, 3),
                                          assignee="bench", actor="bench", now=opened)
                    if i % 4 == 0:
                        workflow.start(s, tk.id, actor="bench", now=opened + timedelta(minutes=2))
                        workflow.pend(s, tk.id, reason="等待厂商", actor="bench", now=opened + timedelta(minutes=3))
            seed_s = time.perf_counter() - t
            with db.session() as s:
                rows, _ = overview(s, now=now, limit=12)
                ms = timed_ms(lambda: overview(s, now=now, limit=12), runs)
        finally:
            db.dispose()
            drop()
    p95 = pct(ms, 0.95)
    return {"bench": "sla-board", "database": database, "open_tickets": tickets, "board_rows": len(rows),
            "seed_s": round(seed_s, 1), "p50_ms": round(pct(ms, 0.5), 1), "p95_ms": round(p95, 1),
            "target_p95_ms": BOARD_TARGET_MS, "ok": p95 < BOARD_TARGET_MS, "machine": machine()}


def documents(pages: int = 500) -> dict:
    import pypdfium2 as pdfium

    from cityops.reports.document import Document, KeyValues, Paragraph, Section, Signatures, Table
    from cityops.reports.render import to_docx, to_pdf

    months = max(1, pages // 4)  # one chapter of 60 wrapped rows ≈ 4 pages
    sections = []
    for m in range(months):
        rows = [[f"{m % 12 + 1:02d}-{d % 28 + 1:02d} 08:30", "城区之眼", f"第{d}次巡检：视频调阅服务响应正常，存储使用率"
                 f" {d % 90}%，无告警。" * (1 + d % 3), "值班员"] for d in range(60)]
        sections.append(Section(f"第 {m + 1} 章 运维记录", [Paragraph("本章记录日常巡检与维护。"),
                                                        Table(["时间", "系统", "内容", "记录人"], rows,
                                                              widths=[1.6, 1.4, 6, 1])], new_page=m > 0))
        sections.append(Section("小结", [KeyValues([("记录", "60"), ("故障", "0")])], level=2))
    sections.append(Section("签字", [Signatures(["编制人", "审核人", "项目经理"])]))
    doc = Document("系统维护日志（基准）", sections, subtitle="汇编本", issued_on=date(2026, 11, 1), cover=True,
                   contents=True, header="长宁区城市运行管理中心 · 运维日志")
    t = time.perf_counter()
    pdf = to_pdf(doc)
    pdf_s = time.perf_counter() - t
    t = time.perf_counter()
    docx = to_docx(doc)
    docx_s = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"bench": "documents", "pages": len(pdfium.PdfDocument(pdf)), "pdf_s": round(pdf_s, 1),
            "pdf_mb": round(len(pdf) / 2**20, 2), "docx_s": round(docx_s, 1), "docx_mb": round(len(docx) / 2**20, 2),
            "peak_rss_mb": round(peak_mb), "machine": machine()}
