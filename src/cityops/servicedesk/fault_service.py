"""Fault records (OPS-4): numbering, the open → responding → restored → closed flow, the
timeline, notifications of the grade's people, time targets and the maintenance-log line.

Time targets are counted from `detected_at` (the moment the centre knew): response within the
grade's response minutes, restoration within its restore minutes; 7×24, no calendar pause,
because faults of a city-operations platform are handled around the clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.numbering import insert_numbered
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import aware, fmt_local
from cityops.servicedesk import fault_grades
from cityops.servicedesk.fault_models import FAULT_STATES, Fault, FaultEntry, FaultGrade

OPEN_STATES = ("open", "responding", "restored")
# allowed moves; restored → responding when the fault comes back before it is closed
MOVES = {"open": ("responding", "restored"), "responding": ("restored",), "restored": ("responding", "closed"),
         "closed": ()}
TEXT_FIELDS = ("title", "description", "cause", "impact", "recovery", "follow_up", "reporter", "handler")
SEVERITY = {1: "critical", 2: "major", 3: "warning"}


def _aware(value: datetime | None, label: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise Invalid(f"{label}需带时区")
    return aware(value)


def _check_refs(session: Session, system_codes: list[str], asset_ids: list[int], ticket_ids: list[int]) -> None:
    from cityops.catalog.models import Asset, System
    from cityops.servicedesk.models import Ticket

    known = set(session.scalars(select(System.code).where(System.code.in_(system_codes)))) if system_codes else set()
    for code in system_codes:
        if code not in known:
            raise Invalid(f"系统 {code} 不存在")
    for aid in asset_ids:
        if session.get(Asset, aid) is None:
            raise Invalid(f"设备资产 {aid} 不存在")
    for tid in ticket_ids:
        if session.get(Ticket, tid) is None:
            raise Invalid(f"工单 {tid} 不存在")


def entry(session: Session, fault: Fault, text: str, author: str, at: datetime, kind: str = "note") -> FaultEntry:
    row = FaultEntry(fault_id=fault.id, at=at, kind=kind, text=text, author=author)
    session.add(row)
    session.flush()
    return row


def open_fault(session: Session, *, title: str, grade_id: int, occurred_at: datetime, actor: str, now: datetime,
               detected_at: datetime | None = None, system_codes: list[str] | None = None,
               asset_ids: list[int] | None = None, ticket_ids: list[int] | None = None,
               description: str = "", reporter: str = "", handler: str = "") -> Fault:
    if not title.strip():
        raise Invalid("请填写故障标题")
    grade = fault_grades.get_grade(session, grade_id)
    if not grade.active:
        raise Invalid(f"故障等级 {grade.name} 已停用")
    occurred = _aware(occurred_at, "发生时间")
    detected = _aware(detected_at, "发现时间") or now
    if occurred > now or detected > now:
        raise Invalid("发生/发现时间不能晚于当前时间")
    if detected < occurred:
        raise Invalid("发现时间不能早于发生时间")
    systems, assets, tickets = list(system_codes or []), list(asset_ids or []), list(ticket_ids or [])
    _check_refs(session, systems, assets, tickets)
    fields = dict(title=title.strip()[:200], grade_id=grade.id, state="open", occurred_at=occurred,
                  detected_at=detected, system_codes=systems, asset_ids=assets, ticket_ids=tickets,
                  description=description.strip(), reporter=(reporter or actor).strip()[:64],
                  handler=handler.strip()[:64], created_by=actor, created_at=now, updated_at=now)
    fault = insert_numbered(session, Fault, fields, prefix="GZ", at=now, width=3, conflict="故障编号分配冲突，请重试")
    entry(session, fault, f"登记故障，定级为{grade.name}（{grade.label}）", actor, now, "state")
    notify(session, fault, grade, now, "新故障")
    return fault


def notify(session: Session, fault: Fault, grade: FaultGrade, now: datetime, why: str) -> int:
    """Tell the grade's people (dedup per fault and person: a grade change only reaches the
    newly required ones) and write who was told, or why nobody was, on the timeline."""
    from cityops.notify.direct import enqueue

    people, gaps = fault_grades.recipients(session, grade, now)
    systems = "、".join(fault.system_codes) or "未指定"
    text = (f"{grade.name}故障（{grade.label}）{fault.number}「{fault.title}」，影响系统：{systems}；"
            f"发生于 {fmt_local(fault.occurred_at, '%m-%d %H:%M')}。要求 {grade.response_minutes} 分钟内响应、"
            f"{grade.restore_minutes} 分钟内恢复。")
    rows = enqueue(session, title=f"{why}·{grade.name}故障 {fault.number}", text=text,
                   severity=SEVERITY.get(grade.level, "info"), channel_ids=fault_grades.channels_for(session, grade),
                   contacts=people, dedup_prefix=f"fault:{fault.id}", link=("查看故障", f"/console/faults/{fault.id}"),
                   now=now)
    told = sorted({m.recipient_name for m in rows})
    line = f"{why}：通知{grade.notify_note or grade.name + '相关人员'}"
    line += f"，已发送 {len(rows)} 条（{'、'.join(told)}）" if rows else "，没有新的通知对象"
    if gaps:
        line += "；未能通知：" + "；".join(gaps)
    entry(session, fault, line, "system", now, "notified")
    return len(rows)


def get_fault(session: Session, fault_id: int) -> Fault:
    fault = session.get(Fault, fault_id)
    if fault is None:
        raise NotFound(f"故障 {fault_id} 不存在")
    return fault


def timeline(session: Session, fault_id: int) -> list[FaultEntry]:
    get_fault(session, fault_id)
    return list(session.scalars(select(FaultEntry).where(FaultEntry.fault_id == fault_id)
                                .order_by(FaultEntry.at, FaultEntry.id)))


def list_faults(session: Session, *, state: str | None = None, grade_id: int | None = None,
                open_only: bool = False, limit: int = 50, offset: int = 0) -> tuple[list[Fault], int]:
    q = select(Fault)
    if state:
        if state not in FAULT_STATES:
            raise Invalid(f"未知状态 {state}")
        q = q.where(Fault.state == state)
    if open_only:
        q = q.where(Fault.state.in_(OPEN_STATES))
    if grade_id:
        q = q.where(Fault.grade_id == grade_id)
    total = session.scalar(select(func.count()).select_from(q.subquery()))
    rows = session.scalars(q.order_by(Fault.detected_at.desc(), Fault.id.desc()).limit(limit).offset(offset))
    return list(rows), total or 0


def update_fault(session: Session, fault_id: int, *, actor: str, now: datetime, **values: Any) -> Fault:
    """Edit the record. A grade change is written to the timeline and notifies the people the
    new grade adds."""
    fault = get_fault(session, fault_id)
    allowed = set(TEXT_FIELDS) | {"grade_id", "system_codes", "asset_ids", "ticket_ids", "occurred_at", "detected_at"}
    unknown = set(values) - allowed
    if unknown:
        raise Invalid(f"不能修改字段 {'、'.join(sorted(unknown))}")
    if fault.state == "closed" and set(values) - {"follow_up"}:
        raise Conflict(f"故障 {fault.number} 已关闭，只能补充整改措施")
    if "title" in values and not (values["title"] or "").strip():
        raise Invalid("请填写故障标题")
    _check_refs(session, values.get("system_codes") or [], values.get("asset_ids") or [],
                values.get("ticket_ids") or [])
    occurred = _aware(values.get("occurred_at"), "发生时间") or fault.occurred_at
    detected = _aware(values.get("detected_at"), "发现时间") or fault.detected_at
    if detected < occurred or occurred > now:
        raise Invalid("发现时间不能早于发生时间，发生时间不能晚于当前时间")
    old_grade = session.get(FaultGrade, fault.grade_id)
    new_grade = None
    if values.get("grade_id") is not None and values["grade_id"] != fault.grade_id:
        new_grade = fault_grades.get_grade(session, values["grade_id"])
        if not new_grade.active:
            raise Invalid(f"故障等级 {new_grade.name} 已停用")
    changed = []
    for key, value in values.items():
        if key in ("occurred_at", "detected_at"):
            value = occurred if key == "occurred_at" else detected
        elif isinstance(value, str):
            value = value.strip()
        elif isinstance(value, list):
            value = list(value)
        if getattr(fault, key) != value:
            setattr(fault, key, value)
            changed.append(key)
    fault.updated_at = now
    session.flush()
    if new_grade is not None:
        entry(session, fault, f"等级由{old_grade.name}调整为{new_grade.name}（{new_grade.label}）", actor, now, "grade")
        notify(session, fault, new_grade, now, "故障升级" if new_grade.level < old_grade.level else "故障定级调整")
    return fault


def add_note(session: Session, fault_id: int, *, text: str, author: str, now: datetime,
             at: datetime | None = None) -> FaultEntry:
    fault = get_fault(session, fault_id)
    if not text.strip():
        raise Invalid("请填写处置记录内容")
    when = _aware(at, "时间") or now
    if when > now + timedelta(minutes=1):
        raise Invalid("记录时间不能晚于当前时间")
    return entry(session, fault, text.strip(), author, when, "note")


def move(session: Session, fault_id: int, to_state: str, *, actor: str, now: datetime,
         at: datetime | None = None, note: str = "") -> Fault:
    """Change state; `at` back-dates the moment (the officer records when it really happened)."""
    fault = get_fault(session, fault_id)
    if to_state not in FAULT_STATES:
        raise Invalid(f"未知状态 {to_state}")
    if to_state not in MOVES[fault.state]:
        raise Conflict(f"故障 {fault.number} 当前为{FAULT_STATES[fault.state]}，不能改为{FAULT_STATES[to_state]}")
    when = _aware(at, "时间") or now
    if when > now + timedelta(minutes=1):
        raise Invalid("时间不能晚于当前时间")
    if when < fault.detected_at:
        raise Invalid("时间不能早于发现时间")
    if to_state == "closed":
        missing = [label for key, label in (("cause", "原因分析"), ("impact", "影响范围"), ("recovery", "处置措施"))
                   if not getattr(fault, key).strip()]
        if missing:
            raise Invalid(f"关闭前请填写：{'、'.join(missing)}")
    before = fault.state
    if to_state == "responding":
        fault.responded_at = fault.responded_at or when
        fault.restored_at = None  # came back after restoration: the restore clock runs again
    elif to_state == "restored":
        fault.responded_at = fault.responded_at or when
        fault.restored_at = when
    elif to_state == "closed":
        fault.closed_at = when
    fault.state, fault.updated_at = to_state, now
    if not fault.handler and to_state == "responding":
        fault.handler = actor[:64]
    session.flush()
    text = f"状态由{FAULT_STATES[before]}改为{FAULT_STATES[to_state]}" + (f"：{note.strip()}" if note.strip() else "")
    entry(session, fault, text, actor, when, "state")
    if to_state == "closed":
        _log(session, fault, actor)
    return fault


def _log(session: Session, fault: Fault, actor: str) -> None:
    """SVC-2: one maintenance-log line per closed fault (idempotent on its id)."""
    from cityops.maintenance.log import add_entry

    grade = session.get(FaultGrade, fault.grade_id)
    detail = f"原因：{fault.cause}\n影响：{fault.impact}\n处置：{fault.recovery}"
    if fault.follow_up:
        detail += f"\n整改：{fault.follow_up}"
    add_entry(session, kind="fault", summary=f"{grade.name}故障 {fault.number}「{fault.title}」处置完毕并关闭",
              source="fault", source_ref=str(fault.id), detail=detail, author=fault.handler or actor,
              at=fault.closed_at, system_code=fault.system_codes[0] if fault.system_codes else None,
              asset_id=fault.asset_ids[0] if fault.asset_ids else None)


def _minutes(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 60)


def fault_status(fault: Fault, now: datetime, grade: FaultGrade | None = None) -> dict[str, Any]:
    """Targets and overdue flags at `now`: due times, minutes used, met/overdue per target."""
    if grade is None:
        from sqlalchemy.orm import object_session

        grade = object_session(fault).get(FaultGrade, fault.grade_id)
    start = fault.detected_at
    response_due = start + timedelta(minutes=grade.response_minutes)
    restore_due = start + timedelta(minutes=grade.restore_minutes)
    responded, restored = fault.responded_at, fault.restored_at
    response_used = _minutes(start, responded or now)
    restore_used = _minutes(start, restored or now)
    return {
        "response_due": response_due, "restore_due": restore_due,
        "response_minutes": grade.response_minutes, "restore_minutes": grade.restore_minutes,
        "response_used": response_used, "restore_used": restore_used,
        "response_met": responded is not None and responded <= response_due,
        "restore_met": restored is not None and restored <= restore_due,
        "response_overdue": (responded or now) > response_due,
        "restore_overdue": (restored or now) > restore_due,
        "duration_minutes": _minutes(fault.occurred_at, restored or now),
        "open": fault.state in OPEN_STATES,
    }


def open_summary(session: Session, now: datetime) -> dict[str, Any]:
    """For the duty home page: open faults by grade and the overdue ones (most severe first)."""
    rows = list(session.execute(select(Fault, FaultGrade).join(FaultGrade, FaultGrade.id == Fault.grade_id)
                                .where(Fault.state.in_(OPEN_STATES)).order_by(FaultGrade.level, Fault.detected_at)))
    by_grade: dict[str, int] = {}
    overdue = []
    for fault, grade in rows:
        by_grade[grade.name] = by_grade.get(grade.name, 0) + 1
        st = fault_status(fault, now, grade)
        if (fault.state == "open" and st["response_overdue"]) or (fault.state != "restored" and st["restore_overdue"]):
            overdue.append({"id": fault.id, "number": fault.number, "title": fault.title, "grade": grade.name,
                            "color": grade.color, "state": fault.state,
                            "target": "响应" if fault.state == "open" and st["response_overdue"] else "恢复"})
    return {"open": len(rows), "by_grade": by_grade, "overdue": overdue}
