"""City events API (IOT-6, SYS-DISPATCH): events, their transitions, merges and
attachments, and the classification tree. Street users see their own street only (404
elsewhere); reporter phones are masked for roles without PII."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from cityops.audit.service import mask_phone
from cityops.auth.deps import ALL_ROLES, DbSession, Principal, require
from cityops.core.errors import Invalid
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.timeutil import SHANGHAI
from cityops.events import lifecycle, service
from cityops.events.models import CityEvent
from cityops.events.schemas import (
    AttachmentOut,
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    EventDetail,
    EventIn,
    EventOut,
    TransitionIn,
    TransitionOut,
    UnmergeIn,
)

router = APIRouter(prefix="/api/v1", tags=["events"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Creator = Annotated[Principal, Depends(require("admin", "manager", "duty"))]
Mover = Annotated[Principal, Depends(require("admin", "manager", "duty", "street"))]
CategoryWriter = Annotated[Principal, Depends(require("admin", "manager"))]


def event_out(ev: CityEvent, p: Principal) -> EventOut:
    out = EventOut.model_validate(ev)
    if not p.sees_pii:
        out.reporter_phone = mask_phone(out.reporter_phone)
    return out


def event_detail(session: Session, ev: CityEvent, p: Principal) -> EventDetail:
    base = event_out(ev, p).model_dump()
    return EventDetail(**base, category_path=service.category_path(session, service.get_category(session, ev.category_id)),
                       allowed_next=lifecycle.allowed_next(ev.state, p.role),
                       transitions=[TransitionOut.model_validate(t) for t in service.transitions_of(session, ev.id)],
                       attachments=[AttachmentOut.model_validate(a) for a in service.attachments_of(session, ev.id)],
                       merged_children=[event_out(c, p) for c in service.merged_children(session, ev.id)])


def _day(value: date | None, end: bool = False) -> datetime | None:
    if value is None:
        return None
    return datetime.combine(value + timedelta(days=1) if end else value, time(), SHANGHAI)


@router.get("/events", response_model=Page[EventOut])
def list_events(session: DbSession, p: Reader, page: Annotated[PageParams, Depends(page_params)],
                state: str | None = None, category_id: int | None = None, category_code: str | None = None,
                street: str | None = None, source_kind: str | None = None, severity: str | None = None,
                date_from: date | None = None, date_to: date | None = None, include_merged: bool = False,
                q: str | None = None):
    """Filters: state (or "open"), category (id, or code prefix for a whole 大类/小类), street,
    source_kind, severity, date_from/date_to (Beijing dates, inclusive), q (number/title/address)."""
    rows, total = service.list_events(session, state=state, category_id=category_id, category_code=category_code,
                                      street=street, source_kind=source_kind, severity=severity,
                                      since=_day(date_from), until=_day(date_to, end=True),
                                      include_merged=include_merged, q=q, scope=p.street_scope,
                                      limit=page.limit, offset=page.offset)
    return Page(items=[event_out(e, p) for e in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/events", response_model=EventDetail, status_code=201)
def create_event(body: EventIn, session: DbSession, p: Creator):
    ev = service.create_event(session, **body.model_dump(), created_by=p.username)
    return event_detail(session, ev, p)


@router.get("/events/{event_id:int}", response_model=EventDetail)
def get_event(event_id: int, session: DbSession, p: Reader):
    return event_detail(session, service.get_event(session, event_id, scope=p.street_scope), p)


@router.post("/events/{event_id:int}/transition", response_model=EventDetail)
def transition(event_id: int, body: TransitionIn, session: DbSession, p: Mover):
    """Move the event; 409 names the current state and the allowed next states. Moving to
    dispatched queues the work order for the dispatch platform (IOT-7)."""
    from cityops.dispatch.service import move

    ev = move(session, event_id, body.to, actor=p.username, role=p.role, reason=body.reason, scope=p.street_scope)
    return event_detail(session, ev, p)


@router.post("/events/{event_id:int}/unmerge", response_model=EventDetail)
def unmerge(event_id: int, body: UnmergeIn, session: DbSession, p: Creator):
    ev = service.unmerge(session, event_id, actor=p.username, reason=body.reason, scope=p.street_scope)
    return event_detail(session, ev, p)


@router.post("/events/{event_id:int}/attachments", response_model=AttachmentOut, status_code=201)
async def upload_attachment(event_id: int, file: UploadFile, request: Request, session: DbSession, p: Mover):
    data = await file.read(service.MAX_ATTACHMENT_BYTES + 1)
    att = service.add_attachment(session, event_id, var_dir=request.app.state.ctx.settings.var_dir,
                                 name=file.filename or "", content_type=file.content_type or "", data=data,
                                 by=p.username, scope=p.street_scope)
    return AttachmentOut.model_validate(att)


@router.get("/events/{event_id:int}/attachments/{attachment_id:int}")
def download_attachment(event_id: int, attachment_id: int, request: Request, session: DbSession, p: Reader):
    att, path = service.get_attachment(session, event_id, attachment_id,
                                       var_dir=request.app.state.ctx.settings.var_dir, scope=p.street_scope)
    inline = att.content_type.startswith(("image/", "video/", "audio/")) or att.content_type == "application/pdf"
    return FileResponse(path, media_type=att.content_type, filename=att.name,
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"X-Content-Type-Options": "nosniff"})


@router.get("/event-categories", response_model=list[CategoryOut])
def list_categories(session: DbSession, p: Reader, enabled_only: bool = False):
    """The whole tree, flat and ordered by code (parents before their children)."""
    return [CategoryOut.model_validate(c) for c in service.list_categories(session, enabled_only=enabled_only)]


@router.post("/event-categories", response_model=CategoryOut, status_code=201)
def create_category(body: CategoryIn, session: DbSession, p: CategoryWriter):
    return CategoryOut.model_validate(service.create_category(session, **body.model_dump()))


@router.patch("/event-categories/{category_id}", response_model=CategoryOut)
def update_category(category_id: int, body: CategoryPatch, session: DbSession, p: CategoryWriter):
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise Invalid("没有要修改的内容")
    return CategoryOut.model_validate(service.update_category(session, category_id, **fields))
