"""The half-year compiled maintenance log (装订成册, SVC-2) as a `reports.document.Document`:
cover, contents (a chapter per month, a sub-section per day with entries), a summary chapter
(entries by kind and by system, per month), the days as tables that may run across pages,
days without entries listed compactly in their month's chapter, and a signatures page.

Periods: a calendar half (1 Jan–30 Jun, 1 Jul–31 Dec) or, with `period="service"`, a half of
the service year that starts on 1 May of `year` (the contract runs 2026-05-01 – 2027-04-30)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.auth.models import User
from cityops.core.errors import Invalid
from cityops.core.timeutil import fmt_local, local, utcnow
from cityops.maintenance.log_models import LOG_KINDS, LogEntry
from cityops.maintenance.logbook import system_names
from cityops.reports.document import Document, Paragraph, Section, Signatures, Table

TITLE = "长宁区城运系统运维服务 系统维护日志"
ORGANISATION = "长宁区城运系统运维服务项目组"
SIGNERS = ["编制人", "审核人", "项目经理", "甲方确认"]
WEEKDAYS = "一二三四五六日"
PERIODS = ("calendar", "service")
DAY_HEADERS = ["时间", "类别", "系统", "摘要", "记录人"]
DAY_WIDTHS = [1.1, 1.4, 2.1, 5.0, 1.1]  # 时间 and a five-character 类别 fit on one line


def period_bounds(year: int, half: int, period: str = "calendar") -> tuple[date, date, str]:
    """(first day, last day, label) of the half."""
    if period not in PERIODS:
        raise Invalid("期间类型应为 calendar（自然半年）或 service（服务期半年）")
    if half not in (1, 2):
        raise Invalid("half 应为 1（上半年）或 2（下半年）")
    if not 2000 <= year <= 2100:
        raise Invalid("年份应在 2000–2100 之间")
    if period == "calendar":
        first, last = (date(year, 1, 1), date(year, 6, 30)) if half == 1 else (date(year, 7, 1), date(year, 12, 31))
        return first, last, f"{year} 年{'上' if half == 1 else '下'}半年"
    first, last = ((date(year, 5, 1), date(year, 10, 31)) if half == 1 else (date(year, 11, 1), date(year + 1, 4, 30)))
    return first, last, f"{year}–{year + 1} 服务期{'前' if half == 1 else '后'}半期"


def _months(first: date, last: date) -> list[tuple[int, int]]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _project_manager(session: Session) -> str:
    user = session.scalar(select(User).where(User.role == "manager", User.active.is_(True)).order_by(User.id))
    return (user.display_name or user.username) if user else ""


def _compact_days(days: list[date]) -> str:
    """[1, 2, 3, 5, 7, 8] → 1–3 日、5 日、7–8 日: a month's empty days on one line."""
    runs: list[list[int]] = []
    for d in days:
        if runs and d.day == runs[-1][-1] + 1:
            runs[-1].append(d.day)
        else:
            runs.append([d.day])
    return "、".join(f"{r[0]}–{r[-1]} 日" if len(r) > 1 else f"{r[0]} 日" for r in runs)


def half_year_document(session: Session, *, year: int, half: int, period: str = "calendar",
                       organisation: str = ORGANISATION, project_manager: str | None = None,
                       now: datetime | None = None) -> Document:
    first, last, label = period_bounds(year, half, period)
    names = system_names(session)
    pm = project_manager if project_manager is not None else _project_manager(session)
    entries = list(session.scalars(select(LogEntry).where(LogEntry.day >= first, LogEntry.day <= last)
                                   .order_by(LogEntry.at, LogEntry.id)))
    by_day: dict[date, list[LogEntry]] = defaultdict(list)
    for e in entries:
        by_day[e.day].append(e)
    months = _months(first, last)
    month_key = lambda d: (d.year, d.month)  # noqa: E731
    span = f"{first:%Y-%m-%d} 至 {last:%Y-%m-%d}"
    issued = local(now or utcnow()).date()

    # the date is a cover row, not `issued_on`: the PDF cover draws that line without Latin digits
    doc = Document(title=TITLE, subtitle=f"{label}（{span}）", organisation=organisation, issued_on=None,
                   cover=True, contents=True, header=f"{TITLE} · {label}",
                   cover_rows=[("期间", span), ("编制单位", organisation), ("项目经理", pm or "（未指定）"),
                               ("记录条数", f"{len(entries)} 条，{len(by_day)} 天有记录"),
                               ("编制日期", f"{issued:%Y-%m-%d}")])

    # -- summary chapter --
    kinds = [k for k in LOG_KINDS if any(e.kind == k for e in entries)]
    per_month_kind = Counter((month_key(e.day), e.kind) for e in entries)
    per_month = Counter(month_key(e.day) for e in entries)
    kind_rows = [[f"{y}-{m:02d}"] + [str(per_month_kind[((y, m), k)]) for k in kinds] + [str(per_month[(y, m)])]
                 for y, m in months]
    kind_rows.append(["合计"] + [str(sum(1 for e in entries if e.kind == k)) for k in kinds] + [str(len(entries))])
    per_sys_month = Counter((e.system_code or "", month_key(e.day)) for e in entries)
    systems = sorted({e.system_code or "" for e in entries}, key=lambda c: (c == "", c))
    sys_rows = [[names.get(c, c) if c else "（未指定系统）"] + [str(per_sys_month[(c, ym)]) for ym in months]
                + [str(sum(per_sys_month[(c, ym)] for ym in months))] for c in systems]
    summary = Section("汇总", new_page=True, blocks=[
        Paragraph(f"本册收录 {span} 的系统维护日志，共 {len(entries)} 条，{len(by_day)} 天有记录。日志由维护任务、"
                  "服务台工单、巡检、故障处置、硬件维护、参观接待保障、值班交接等工作完成时自动记入，"
                  "值班与技术支撑人员可补充手工记录；更正以新条目记入并注明所更正的条目编号。"),
        Paragraph("表 1　各月记录数（按类别）", "strong"),
        Table(["月份"] + [LOG_KINDS[k] for k in kinds] + ["合计"], kind_rows, widths=[1.3] + [1.0] * (len(kinds) + 1)),
        Paragraph("表 2　各月记录数（按系统）", "strong"),
        Table(["系统"] + [f"{m} 月" for _, m in months] + ["合计"], sys_rows or [["（无记录）"] + [""] * (len(months) + 1)],
              widths=[3.0] + [1.0] * (len(months) + 1)),
    ])
    doc.sections.append(summary)

    # -- one chapter per month, a sub-section per day with entries --
    for y, m in months:
        days = [d for d in (date(y, m, 1) + timedelta(days=i) for i in range(31))
                if d.month == m and first <= d <= last]
        busy = [d for d in days if by_day.get(d)]
        empty = [d for d in days if not by_day.get(d)]
        blocks: list = [Paragraph(f"本月共 {per_month[(y, m)]} 条记录，{len(busy)} 天有记录。")]
        if empty:
            blocks.append(Paragraph(f"无记录的日期：{_compact_days(empty)}。", "note"))
        doc.sections.append(Section(f"{y} 年 {m} 月", blocks=blocks, new_page=True))
        for d in busy:
            rows = [[fmt_local(e.at, "%H:%M"), LOG_KINDS.get(e.kind, e.kind),
                     names.get(e.system_code or "", e.system_code or "—") if e.system_code else "—",
                     e.summary, e.author or "系统"] for e in by_day[d]]
            doc.sections.append(Section(f"{m} 月 {d.day} 日 星期{WEEKDAYS[d.weekday()]}（{len(rows)} 条）", level=2,
                                        blocks=[Table(list(DAY_HEADERS), rows, widths=list(DAY_WIDTHS))]))

    # -- signatures --
    doc.sections.append(Section("签字确认", new_page=True, blocks=[
        Paragraph(f"本册为{label}（{span}）系统维护日志的汇编，共 {len(entries)} 条记录，经核对与系统中的日志一致。"),
        Signatures(list(SIGNERS), names={"项目经理": pm} if pm else {}),
    ]))
    return doc


def file_stem(year: int, half: int, period: str = "calendar") -> tuple[str, str]:
    """(ascii, Chinese) file name stems, e.g. maintenance-log-2026-H1 / 系统维护日志-2026年上半年."""
    first, last, label = period_bounds(year, half, period)
    tag = "S" if period == "service" else ""
    return f"maintenance-log-{year}-{tag}H{half}", f"系统维护日志-{label.replace(' ', '')}"


def render(session: Session, *, year: int, half: int, fmt: str, period: str = "calendar",
           now: datetime | None = None) -> bytes:
    from cityops.reports import render as renderer

    if fmt not in ("pdf", "docx"):
        raise Invalid("格式应为 pdf 或 docx")
    doc = half_year_document(session, year=year, half=half, period=period, now=now)
    return renderer.to_pdf(doc) if fmt == "pdf" else renderer.to_docx(doc)
