"""The duty officer's home page (OPS-1, OPS-3, SVC-1): who is on duty, open tickets by SLA
urgency, today's inspections and maintenance tasks, active alarms, open faults and findings,
and visits under way — one screen, refreshed every minute, readable at 3 a.m. The same
snapshot is served as JSON at `/api/v1/ops/home` for the big screen."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.schemas import iso
from cityops.core.timeutil import local, utcnow
from cityops.web.shell import ConsoleUser, render, require_console

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/ops", tags=["ops"])
Reader_ = Annotated[ConsoleUser, Depends(require_console(*STAFF))]
Reader = Annotated[Principal, Depends(require(*STAFF))]


def snapshot(session: Session, *, now: datetime) -> dict[str, Any]:
    """Everything the home page shows, read through each domain's service."""
    from cityops.duty.service import on_duty_now
    from cityops.inspections.findings import list_findings
    from cityops.inspections.plan_service import runs_on
    from cityops.maintenance.tasks import due_today
    from cityops.monitoring.models import Alarm, live_alarm
    from cityops.monitoring.service import list_alarms
    from cityops.servicedesk.fault_service import open_summary
    from cityops.servicedesk.queries import overview
    from cityops.visits.service import upcoming

    alarms, alarm_total = list_alarms(session, open_only=True, include_suppressed=False, limit=8)
    by_severity = dict(session.execute(select(Alarm.severity, func.count()).where(
        live_alarm()).group_by(Alarm.severity)).all())
    findings, finding_total = list_findings(session, state="open", limit=8)
    board, ticket_counts = overview(session, now=now, limit=12)
    return {
        "now": now,
        "on_duty": on_duty_now(session, now=now),
        "tickets": {"counts": ticket_counts, "board": board},
        "faults": open_summary(session, now),
        "inspections": runs_on(session, local(now).date()),
        "tasks": due_today(session, now=now),
        "alarms": {"total": alarm_total, "by_severity": by_severity,
                   "latest": [{"id": a.id, "severity": a.severity, "type": a.alarm_type, "message": a.message,
                               "state": a.state, "last_at": a.last_at} for a in alarms]},
        "findings": {"total": finding_total,
                     "latest": [{"id": f.id, "severity": f.severity, "title": f.title, "source": f.source,
                                 "last_seen_at": f.last_seen_at, "ticket_id": f.ticket_id} for f in findings]},
        "visits": [{"id": v.id, "title": v.title, "starts_at": v.starts_at, "ends_at": v.ends_at,
                    "state": v.state, "at_risk": v.at_risk, "frozen": v.freeze_from <= now < v.freeze_until}
                   for v in upcoming(session, now, days=3)],
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@api.get("/home")
def home_api(session: DbSession, _: Reader) -> dict[str, Any]:
    """The duty officer's snapshot as JSON (times ISO 8601 with +08:00)."""
    return _jsonable(snapshot(session, now=utcnow()))


@router.get("/console/ops")
def home_page(request: Request, session: DbSession, user: Reader_):
    from cityops.servicedesk.models import STATES as TICKET_STATES

    return render(request, "duty/home.html", user, "ops-home", s=snapshot(session, now=utcnow()),
                  TICKET_STATES=TICKET_STATES)

