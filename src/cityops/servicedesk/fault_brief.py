"""The fault-handling brief (故障处理简报, OPS-4) as a `reports.document.Document`; the API and
console render it to DOCX or PDF with `reports.render`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.timeutil import fmt_local, local, utcnow
from cityops.reports.document import Document, KeyValues, Paragraph, Section, Signatures, Table
from cityops.servicedesk import fault_service
from cityops.servicedesk.fault_models import ENTRY_KINDS, FAULT_STATES, FaultGrade

MISSING = "（未填写）"


def _when(dt: datetime | None) -> str:
    return fmt_local(dt, "%Y-%m-%d %H:%M") if dt else "—"


def _span(minutes: int) -> str:
    days, rest = divmod(max(minutes, 0), 1440)
    hours, mins = divmod(rest, 60)
    parts = ([f"{days}天"] if days else []) + ([f"{hours}小时"] if hours else []) + [f"{mins}分钟"]
    return "".join(parts)


def _text_blocks(text: str) -> list[Paragraph]:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return [Paragraph(line) for line in lines] or [Paragraph(MISSING, "note")]


def _systems(session: Session, codes: list[str]) -> str:
    from cityops.catalog.models import System

    if not codes:
        return "未指定"
    names = dict(session.execute(select(System.code, System.name).where(System.code.in_(codes))).all())
    return "、".join(f"{names.get(c, c)}（{c}）" for c in codes)


def _assets(session: Session, ids: list[int]) -> str:
    from cityops.catalog.models import Asset

    rows = [session.get(Asset, i) for i in ids]
    return "、".join(f"{a.name}（{a.asset_tag}）" for a in rows if a) or "—"


def _tickets(session: Session, ids: list[int]) -> str:
    from cityops.servicedesk.models import Ticket

    rows = [session.get(Ticket, i) for i in ids]
    return "、".join(t.number for t in rows if t) or "—"


def _verdict(met: bool, used: int, target: int, done: bool) -> str:
    if not done:
        return f"未完成（已用时 {_span(used)}，{'已超时' if used > target else '未超时'}）"
    return f"{'达标' if met else '超时'}（用时 {_span(used)}）"


def brief_document(session: Session, fault_id: int, now: datetime | None = None,
                   author: str = "") -> Document:
    now = now or utcnow()
    fault = fault_service.get_fault(session, fault_id)
    grade = session.get(FaultGrade, fault.grade_id)
    st = fault_service.fault_status(fault, now, grade)
    entries = fault_service.timeline(session, fault_id)
    restored = fault.restored_at is not None
    duration = _span(st["duration_minutes"]) + ("" if restored else "（尚未恢复，计至编制时）")
    overview = KeyValues([
        ("故障名称", fault.title),
        ("故障等级", f"{grade.name}（{grade.label}）"),
        ("发生时间", _when(fault.occurred_at)),
        ("发现时间", _when(fault.detected_at)),
        ("响应时间", _when(fault.responded_at)),
        ("恢复时间", _when(fault.restored_at)),
        ("持续时长", duration),
        ("影响系统", _systems(session, fault.system_codes)),
        ("涉及设备", _assets(session, fault.asset_ids)),
        ("关联工单", _tickets(session, fault.ticket_ids)),
        ("报告人", fault.reporter or "—"),
        ("责任人", fault.handler or "—"),
    ])
    steps = Table(["时间", "类别", "经过", "记录人"],
                  [[_when(e.at), ENTRY_KINDS.get(e.kind, e.kind), e.text, "系统" if e.author == "system" else e.author]
                   for e in entries], widths=[2.6, 1.1, 7, 1.6])
    targets = Table(["时限", "要求", "截止时间", "实际时间", "达成情况"], [
        ["响应", f"{grade.response_minutes} 分钟", _when(st["response_due"]), _when(fault.responded_at),
         _verdict(st["response_met"], st["response_used"], grade.response_minutes, fault.responded_at is not None)],
        ["恢复", f"{grade.restore_minutes} 分钟", _when(st["restore_due"]), _when(fault.restored_at),
         _verdict(st["restore_met"], st["restore_used"], grade.restore_minutes, restored)],
    ], widths=[1, 1.4, 2.4, 2.4, 3.4])
    sections = [
        Section("一、故障概况", [overview] + ([Paragraph(fault.description)] if fault.description.strip() else [])),
        Section("二、处置经过", [steps]),
        Section("三、原因分析", _text_blocks(fault.cause)),
        Section("四、影响范围", _text_blocks(fault.impact)),
        Section("五、处置措施", _text_blocks(fault.recovery)),
        Section("六、整改建议", _text_blocks(fault.follow_up)),
        Section("七、时限达成情况", [targets, Paragraph(
            f"时限自发现时间起算（7×24 小时）；{grade.name}故障判定标准：{grade.scope}", "note")]),
        Section("签字", [Signatures(["编制人", "审核人", "项目经理"], {"编制人": author} if author else {})]),
    ]
    head = KeyValues([("编号", fault.number), ("等级", f"{grade.name}（{grade.label}）"),
                      ("状态", FAULT_STATES.get(fault.state, fault.state)),
                      ("编制时间", fmt_local(now, "%Y-%m-%d %H:%M"))])
    return Document(title="故障处理简报", subtitle=fault.title, sections=sections, preamble=[head],
                    issued_on=local(now).date(), header=f"长宁区城运系统运维 · 故障处理简报 {fault.number}")
