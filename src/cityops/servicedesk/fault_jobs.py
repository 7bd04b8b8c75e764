"""Fault deadline watch (OPS-4): job `faults.overdue` (every 60 s, singleton) tells the grade's
people once when an open fault passes its response target, and once when an unrestored fault
passes its restore target, and writes it on the fault's timeline. A fault that was never
overdue is never touched; a passed deadline is reported once per fault and target."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import fmt_local, utcnow
from cityops.servicedesk import fault_grades, fault_service
from cityops.servicedesk.fault_models import Fault, FaultEntry, FaultGrade

INTERVAL_S = 60
TARGET_LABELS = {"response": "响应", "restore": "恢复"}


def _reported(session: Session, fault_id: int) -> set[str]:
    texts = list(session.scalars(select(FaultEntry.text).where(FaultEntry.fault_id == fault_id,
                                                               FaultEntry.kind == "overdue")))
    return {key for key, label in TARGET_LABELS.items() if any(t.startswith(f"{label}超时") for t in texts)}


def watch_overdue(session: Session, now: datetime) -> dict[str, Any]:
    from cityops.notify.direct import enqueue

    rows = session.execute(select(Fault, FaultGrade).join(FaultGrade, FaultGrade.id == Fault.grade_id)
                           .where(Fault.state.in_(("open", "responding"))))
    alerted = 0
    for fault, grade in rows:
        st = fault_service.fault_status(fault, now, grade)
        due = []
        if fault.state == "open" and st["response_overdue"]:
            due.append(("response", st["response_due"], grade.response_minutes))
        if st["restore_overdue"]:
            due.append(("restore", st["restore_due"], grade.restore_minutes))
        if not due:
            continue
        done = _reported(session, fault.id)
        for key, deadline, minutes in due:
            if key in done:
                continue
            label = TARGET_LABELS[key]
            people, gaps = fault_grades.recipients(session, grade, now)
            text = (f"{grade.name}故障 {fault.number}「{fault.title}」已超过{label}时限（{minutes} 分钟，"
                    f"应于 {fmt_local(deadline, '%m-%d %H:%M')} 前{label}），请立即处置。")
            sent = enqueue(session, title=f"故障{label}超时·{fault.number}", text=text,
                           severity="critical" if grade.level <= 2 else "major",
                           channel_ids=fault_grades.channels_for(session, grade), contacts=people,
                           dedup_prefix=f"fault:{fault.id}:overdue-{key}",
                           link=("查看故障", f"/console/faults/{fault.id}"), now=now)
            line = f"{label}超时：已超过 {minutes} 分钟时限，提醒 {len(sent)} 条"
            if gaps:
                line += "；未能通知：" + "；".join(gaps)
            fault_service.entry(session, fault, line, "system", now, "overdue")
            alerted += 1
    return {"alerted": alerted}


def run(db: Database, now: datetime | None = None) -> dict[str, Any]:
    with db.session() as s:
        return watch_overdue(s, now or utcnow())


def register(scheduler: Scheduler) -> None:
    scheduler.register("faults.overdue", INTERVAL_S, run, singleton=True, initial_delay_s=45)
