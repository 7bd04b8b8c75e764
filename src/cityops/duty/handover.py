"""交接班 (SVC-1, SVC-2): the outgoing officer writes a note with an automatic summary; the
incoming officer acknowledges it. Each handover is one maintenance-log line (kind duty)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import fmt_local, utcnow
from cityops.duty.roster_models import Handover
from cityops.duty.service import get_team, on_duty

LOG_SOURCE = "duty-handover"


def summary(session: Session, *, team_code: str, now: datetime) -> dict[str, Any]:
    """What the next shift inherits: open findings, active alarms, roster gaps of the next day
    and who is on duty now."""
    from cityops.duty.coverage import coverage
    from cityops.inspections.findings import list_findings
    from cityops.monitoring.service import list_alarms

    _, findings = list_findings(session, state="open", limit=1)
    _, alarms = list_alarms(session, open_only=True, limit=1)
    gaps = coverage(session, now, now + timedelta(days=1))["gaps"]
    people = [f"{c.name}" for _, c in on_duty(session, team=team_code, at=now)]
    return {"open_findings": findings, "active_alarms": alarms, "gaps_next_24h": len(gaps),
            "on_duty": people, "at": now.isoformat()}


def _log(session: Session, h: Handover) -> None:
    from cityops.maintenance.log import add_entry

    s = h.summary
    text = (f"交接班（{h.team_code}）：未关闭巡检发现 {s.get('open_findings', 0)} 条，活动告警 "
            f"{s.get('active_alarms', 0)} 条，未来 24 小时排班缺口 {s.get('gaps_next_24h', 0)} 处")
    ack = f"\n接班确认：{h.acknowledged_by} {fmt_local(h.acknowledged_at)} {h.ack_note}" if h.acknowledged_at else ""
    add_entry(session, kind="duty", summary=text, source=LOG_SOURCE, source_ref=str(h.id),
              detail=(h.note + ack).strip(), author=h.written_by, at=h.written_at)


def write(session: Session, *, team_code: str, note: str, written_by: str, now: datetime | None = None) -> Handover:
    now = now or utcnow()
    get_team(session, team_code)
    if not note.strip():
        raise Invalid("请填写交接班说明（在办事项、注意事项）")
    h = Handover(team_code=team_code, note=note.strip(), written_by=written_by, written_at=now,
                 summary=summary(session, team_code=team_code, now=now))
    session.add(h)
    session.flush()
    _log(session, h)
    return h


def get(session: Session, handover_id: int) -> Handover:
    h = session.get(Handover, handover_id)
    if h is None:
        raise NotFound(f"交接班记录 {handover_id} 不存在")
    return h


def acknowledge(session: Session, handover_id: int, *, by: str, note: str = "",
                now: datetime | None = None) -> Handover:
    h = get(session, handover_id)
    if h.acknowledged_at is not None:
        raise Conflict(f"交接班记录 {handover_id} 已由 {h.acknowledged_by} 确认")
    if by == h.written_by:
        raise Invalid("交班人不能自己确认接班")
    h.acknowledged_by, h.acknowledged_at, h.ack_note = by, now or utcnow(), note.strip()
    session.flush()
    _log(session, h)
    return h


def list_handovers(session: Session, *, team: str | None = None, limit: int = 50, offset: int = 0) -> list[Handover]:
    q = select(Handover).order_by(Handover.written_at.desc(), Handover.id.desc()).limit(limit).offset(offset)
    if team:
        q = q.where(Handover.team_code == team)
    return list(session.scalars(q))
