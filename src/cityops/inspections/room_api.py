"""Machine-room access over HTTP (ROOM-3). Duty officers, managers and admins register entries
and exits; staff read; ID numbers and phones are masked for roles without `sees_pii` (in the
CSV export too)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from fastapi import Depends
from fastapi.responses import Response
from pydantic import BaseModel

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime
from cityops.core.timeutil import SHANGHAI
from cityops.inspections import room_access as svc

# Registered on the checklist router (registry.py lists that one); a nested include_router
# would hide these routes from the route inventory test.
from cityops.inspections.checklist_api import router  # noqa: E402
WRITERS = ("admin", "manager", "duty")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Writer = Annotated[Principal, Depends(require(*WRITERS))]


class AccessIn(BaseModel):
    person: str
    organisation: str = ""
    id_number: str = ""
    phone: str = ""
    purpose: str
    escort: str = ""
    room: str
    items_in: str = ""


class CheckOutIn(BaseModel):
    items_out: str = ""


class AccessOut(BaseModel):
    id: int
    person: str
    organisation: str
    id_number: str
    phone: str
    purpose: str
    escort: str
    room: str
    items_in: str
    items_out: str
    in_at: LocalTime
    out_at: LocalTime | None
    recorded_by: str
    out_by: str
    in_room: bool


def _day(d: date | None) -> datetime | None:
    return datetime.combine(d, time(0), SHANGHAI) if d else None


def _filters(room: str | None, present: bool | None, q: str | None, since: date | None, until: date | None) -> dict:
    from datetime import timedelta

    return {"room": room, "present": present, "q": q, "since": _day(since),
            "until": _day(until + timedelta(days=1)) if until else None}


@router.get("/room-access", response_model=Page[AccessOut])
def list_access(session: DbSession, p: Reader, pg: Annotated[PageParams, Depends(page_params)],
                room: str | None = None, present: bool | None = None, q: str | None = None,
                since: date | None = None, until: date | None = None):
    """`present=true`: who is in the room now. `since`/`until`: Beijing dates of entry (inclusive)."""
    rows, total = svc.list_access(session, **_filters(room, present, q, since, until), limit=pg.limit, offset=pg.offset)
    return Page(items=[svc.as_dict(r, sees_pii=p.sees_pii) for r in rows], total=total, limit=pg.limit,
                offset=pg.offset)


@router.get("/room-access.csv")
def export_access(session: DbSession, p: Reader, room: str | None = None, present: bool | None = None,
                  q: str | None = None, since: date | None = None, until: date | None = None):
    rows, _ = svc.list_access(session, **_filters(room, present, q, since, until), limit=100_000)
    return Response(svc.to_csv(rows, sees_pii=p.sees_pii), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="room-access.csv"'})


@router.post("/room-access", response_model=AccessOut, status_code=201)
def check_in(body: AccessIn, session: DbSession, p: Writer):
    return svc.as_dict(svc.check_in(session, body.model_dump(), actor=p.username), sees_pii=p.sees_pii)


@router.get("/room-access/{access_id}", response_model=AccessOut)
def get_access(access_id: int, session: DbSession, p: Reader):
    return svc.as_dict(svc.get(session, access_id), sees_pii=p.sees_pii)


@router.post("/room-access/{access_id}/check-out", response_model=AccessOut)
def check_out(access_id: int, body: CheckOutIn, session: DbSession, p: Writer):
    return svc.as_dict(svc.check_out(session, access_id, items_out=body.items_out, actor=p.username),
                       sees_pii=p.sees_pii)
