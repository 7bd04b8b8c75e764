"""Service desk over HTTP (OPS-3): /api/v1/tickets …

Staff read (admin, manager, duty, technician, auditor). Duty officers, managers and admins log
tickets, take backup-channel messages and alarms in, assign, close and reopen; technicians also
log and work tickets (accept, pend, resume, resolve, comment, link, reclassify). Managers and
admins edit SLA targets, escalation steps and the desk settings. The reporter's phone is masked
for roles without access to personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from cityops.audit.service import mask_phone
from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.pagination import PageParams, page_params
from cityops.core.schemas import iso
from cityops.core.timeutil import utcnow
from cityops.servicedesk import escalation, queries, service, sla, workflow
from cityops.servicedesk.models import Ticket

router = APIRouter(prefix="/api/v1/tickets", tags=["servicedesk"])
LOGGERS = ("admin", "manager", "duty", "technician")
DESK = ("admin", "manager", "duty")
WORKERS = ("admin", "manager", "duty", "technician")
EDITORS = ("admin", "manager")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Logger = Annotated[Principal, Depends(require(*LOGGERS))]
Desk = Annotated[Principal, Depends(require(*DESK))]
Worker = Annotated[Principal, Depends(require(*WORKERS))]
Editor = Annotated[Principal, Depends(require(*EDITORS))]


class TicketIn(BaseModel):
    title: str
    description: str = ""
    source: Literal["hotline", "backup", "monitoring", "inspection", "manual"] = "hotline"
    nature: str = "incident"
    impact: int = 2
    urgency: int = 2
    system_code: str | None = None
    module_id: int | None = None
    asset_id: int | None = None
    alarm_id: int | None = None
    event_id: int | None = None
    finding_id: int | None = None
    reporter: str = ""
    reporter_phone: str = ""
    reporter_contact: str = ""
    assignee: str | None = None
    team_code: str | None = None
    emergency: bool = False
    emergency_reason: str = ""


class TicketPatch(BaseModel):
    title: str | None = None
    description: str | None = None
    nature: str | None = None
    impact: int | None = None
    urgency: int | None = None
    system_code: str | None = None
    module_id: int | None = None
    asset_id: int | None = None
    emergency: bool = False
    emergency_reason: str = ""


class EmailIn(BaseModel):
    from_: str = Field(alias="from")
    subject: str = ""
    body: str = ""
    received_at: datetime | None = None


class WecomIn(BaseModel):
    FromUserName: str
    Content: str
    CreateTime: int


class AssignIn(BaseModel):
    assignee: str
    team_code: str | None = None
    note: str = ""


class PendIn(BaseModel):
    reason: str
    note: str = ""


class NoteIn(BaseModel):
    note: str = ""


class ResolveIn(BaseModel):
    solution: str


class ReasonIn(BaseModel):
    reason: str


class CommentIn(BaseModel):
    text: str


class LinkIn(BaseModel):
    other: str  # a ticket id or number
    note: str = ""


class TargetIn(BaseModel):
    response_min: int | None = None
    resolution_min: int | None = None
    calendar_mode: str | None = None
    warn_at_pct: int | None = None


class PolicyIn(BaseModel):
    steps: list[dict[str, Any]] | None = None
    enabled: bool | None = None


class SettingsIn(BaseModel):
    team_code: str | None = None  # "" clears it
    channel_ids: list[int] | None = None


def _clocks(clocks: dict[str, sla.Clock]) -> dict[str, Any]:
    return {k: {**c.as_dict(), "due_at": iso(c.due_at)} for k, c in clocks.items()}


def ticket_out(t: Ticket, row: dict[str, Any] | None, p: Principal) -> dict[str, Any]:
    out = {"id": t.id, "number": t.number, "title": t.title, "description": t.description, "nature": t.nature,
           "impact": t.impact, "urgency": t.urgency, "priority": t.priority, "state": t.state, "source": t.source,
           "reporter": t.reporter, "reporter_phone": t.reporter_phone if p.sees_pii else mask_phone(t.reporter_phone),
           "reporter_contact": t.reporter_contact, "system_code": t.system_code, "module_id": t.module_id,
           "asset_id": t.asset_id, "alarm_id": t.alarm_id, "event_id": t.event_id, "finding_id": t.finding_id,
           "assignee": t.assignee, "team_code": t.team_code, "escalation_level": t.escalation_level,
           "pending_reason": t.pending_reason, "solution": t.solution, "emergency_change": t.emergency_change,
           "reopen_count": t.reopen_count, "created_by": t.created_by, "created_at": iso(t.created_at),
           "responded_at": iso(t.responded_at), "resolved_at": iso(t.resolved_at), "closed_at": iso(t.closed_at),
           "actions": workflow.allowed_actions(t)}
    if row is not None:
        out["sla_state"] = row["sla_state"]
        out["sla"] = _clocks(row["clocks"])
    return out


def _one(session, t: Ticket, p: Principal, *, full: bool = False) -> dict[str, Any]:
    row = queries.evaluate(session, [t], utcnow())[0]
    out = ticket_out(t, row, p)
    if full:
        out["timeline"] = [{"id": e.id, "at": iso(e.at), "actor": e.actor, "kind": e.kind, "from_state": e.from_state,
                            "to_state": e.to_state, "text": e.text, "data": e.data}
                           for e in service.timeline(session, t.id)]
        out["links"] = [{**x, "created_at": iso(x["created_at"])} for x in workflow.links_of(session, t.id)]
    return out


@router.get("")
def list_tickets(session: DbSession, p: Reader, page: Annotated[PageParams, Depends(page_params)],
                 state: str | None = None, priority: str | None = None, assignee: str | None = None,
                 mine: bool = False, sla_state: Annotated[str | None, Query(alias="sla")] = None,
                 system: str | None = None, asset: int | None = None, nature: str | None = None,
                 q: str | None = None, open: bool = False):
    rows, total = queries.list_tickets(session, now=utcnow(), state=state, priority=priority,
                                       assignee=p.username if mine else assignee, sla_state=sla_state,
                                       system_code=system, asset_id=asset, nature=nature, q=q, open_only=open,
                                       limit=page.limit, offset=page.offset)
    return {"items": [ticket_out(r["ticket"], r, p) for r in rows], "total": total, "limit": page.limit,
            "offset": page.offset}


@router.post("", status_code=201)
def create(body: TicketIn, session: DbSession, p: Logger):
    t = service.open_ticket(session, actor=p.username, now=utcnow(), **body.model_dump())
    return _one(session, t, p)


@router.get("/priority-matrix")
def priority_matrix(_: Reader):
    return {**sla.matrix(), "priorities": sla.PRIORITY_LABELS}


@router.get("/board")
def board(session: DbSession, _: Reader, limit: Annotated[int, Query(ge=1, le=200)] = 20):
    return [{**r, "due_at": iso(r["due_at"])} for r in queries.sla_board(session, now=utcnow(), limit=limit)]


@router.get("/counts")
def counts(session: DbSession, _: Reader):
    return queries.counts(session, now=utcnow())


def _target_out(t) -> dict[str, Any]:
    return {"priority": t.priority, "response_min": t.response_min, "resolution_min": t.resolution_min,
            "calendar_mode": t.calendar_mode, "warn_at_pct": t.warn_at_pct, "updated_by": t.updated_by}


@router.get("/sla-targets")
def sla_targets(session: DbSession, _: Reader):
    return [_target_out(t) for t in sla.targets(session).values()]


@router.put("/sla-targets/{priority}")
def put_sla_target(priority: str, body: TargetIn, session: DbSession, p: Editor):
    return _target_out(sla.update_target(session, priority, actor=p.username, **body.model_dump()))


def _policy_out(pol) -> dict[str, Any]:
    return {"priority": pol.priority, "enabled": pol.enabled, "steps": pol.steps,
            "described": [escalation.describe(s) for s in pol.steps], "updated_by": pol.updated_by}


@router.get("/escalation-policies")
def escalation_policies(session: DbSession, _: Reader):
    return [_policy_out(x) for x in escalation.policies(session).values()]


@router.put("/escalation-policies/{priority}")
def put_escalation_policy(priority: str, body: PolicyIn, session: DbSession, p: Editor):
    return _policy_out(escalation.update_policy(session, priority, actor=p.username, steps=body.steps,
                                                enabled=body.enabled))


@router.get("/settings")
def desk_settings(session: DbSession, _: Reader):
    s = service.settings(session)
    return {"team_code": s.team_code, "effective_team": service.desk_team(session), "channel_ids": s.channel_ids}


@router.put("/settings")
def put_desk_settings(body: SettingsIn, session: DbSession, p: Editor):
    s = service.update_settings(session, actor=p.username, team_code=body.team_code, channel_ids=body.channel_ids)
    return {"team_code": s.team_code, "effective_team": service.desk_team(session), "channel_ids": s.channel_ids}


@router.post("/intake/email")
def intake_email(body: EmailIn, session: DbSession, p: Desk, response: Response):
    t, created = service.intake_email(session, sender=body.from_, subject=body.subject, body=body.body,
                                      received_at=body.received_at, actor=p.username, now=utcnow())
    response.status_code = 201 if created else 200
    return _one(session, t, p)


@router.post("/intake/wecom")
def intake_wecom(body: WecomIn, session: DbSession, p: Desk, response: Response):
    t, created = service.intake_wecom(session, from_user=body.FromUserName, content=body.Content,
                                      create_time=body.CreateTime, actor=p.username, now=utcnow())
    response.status_code = 201 if created else 200
    return _one(session, t, p)


@router.post("/from-alarm/{alarm_id}")
def from_alarm(alarm_id: int, session: DbSession, p: Desk, response: Response):
    t, created = service.alarm_ticket(session, alarm_id, p.username, now=utcnow())
    response.status_code = 201 if created else 200
    return _one(session, t, p)


@router.get("/{ticket_id}")
def get_ticket(ticket_id: int, session: DbSession, p: Reader):
    return _one(session, service.get(session, ticket_id), p, full=True)


@router.patch("/{ticket_id}")
def patch_ticket(ticket_id: int, body: TicketPatch, session: DbSession, p: Worker):
    fields = body.model_dump(exclude_unset=True)
    t = workflow.reclassify(session, ticket_id, actor=p.username, now=utcnow(), **fields)
    return _one(session, t, p, full=True)


@router.post("/{ticket_id}/assign")
def assign(ticket_id: int, body: AssignIn, session: DbSession, p: Desk):
    t = workflow.assign(session, ticket_id, assignee=body.assignee, team_code=body.team_code, note=body.note,
                        actor=p.username, now=utcnow())
    return _one(session, t, p, full=True)


@router.post("/{ticket_id}/start")
def start(ticket_id: int, session: DbSession, p: Worker):
    return _one(session, workflow.start(session, ticket_id, actor=p.username, now=utcnow()), p, full=True)


@router.post("/{ticket_id}/pend")
def pend(ticket_id: int, body: PendIn, session: DbSession, p: Worker):
    t = workflow.pend(session, ticket_id, reason=body.reason, note=body.note, actor=p.username, now=utcnow())
    return _one(session, t, p, full=True)


@router.post("/{ticket_id}/resume")
def resume(ticket_id: int, session: DbSession, p: Worker, body: NoteIn | None = None):
    t = workflow.resume(session, ticket_id, note=body.note if body else "", actor=p.username, now=utcnow())
    return _one(session, t, p, full=True)


@router.post("/{ticket_id}/resolve")
def resolve(ticket_id: int, body: ResolveIn, session: DbSession, p: Worker):
    t = workflow.resolve(session, ticket_id, solution=body.solution, actor=p.username, now=utcnow())
    return _one(session, t, p, full=True)


@router.post("/{ticket_id}/close")
def close(ticket_id: int, session: DbSession, p: Desk, body: NoteIn | None = None):
    t = workflow.close(session, ticket_id, note=body.note if body else "", actor=p.username, now=utcnow())
    return _one(session, t, p, full=True)


@router.post("/{ticket_id}/reopen")
def reopen(ticket_id: int, body: ReasonIn, session: DbSession, p: Desk):
    t = workflow.reopen(session, ticket_id, reason=body.reason, actor=p.username, now=utcnow())
    return _one(session, t, p, full=True)


@router.post("/{ticket_id}/comment")
def comment(ticket_id: int, body: CommentIn, session: DbSession, p: Worker):
    t = workflow.comment(session, ticket_id, text=body.text, actor=p.username, now=utcnow())
    return _one(session, t, p, full=True)


@router.get("/{ticket_id}/links")
def links(ticket_id: int, session: DbSession, _: Reader):
    service.get(session, ticket_id)
    return [{**x, "created_at": iso(x["created_at"])} for x in workflow.links_of(session, ticket_id)]


@router.post("/{ticket_id}/links", status_code=201)
def add_link(ticket_id: int, body: LinkIn, session: DbSession, p: Worker):
    row = workflow.link(session, ticket_id, other=body.other, note=body.note, actor=p.username, now=utcnow())
    return {"id": row.id, "ticket_id": row.ticket_id, "other_id": row.other_id, "note": row.note}


@router.delete("/{ticket_id}/links/{link_id}", status_code=204)
def delete_link(ticket_id: int, link_id: int, session: DbSession, p: Worker):
    workflow.unlink(session, ticket_id, link_id, actor=p.username, now=utcnow())
