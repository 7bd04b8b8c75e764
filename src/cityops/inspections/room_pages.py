"""Console 机房出入 (ROOM-3): a quick check-in form, who is in the room now with check-out,
the history with filters and a CSV export. ID numbers and phones are masked for roles without
`sees_pii`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.core.timeutil import SHANGHAI
from cityops.inspections import room_access as svc
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

from cityops.inspections.checklist_pages import router  # noqa: E402  (registered with the checklist pages)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager", "duty")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
URL = "/console/room-access"
FIELDS = ("person", "organisation", "id_number", "phone", "purpose", "escort", "room", "items_in")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _filters(room: str, q: str, since: str, until: str) -> dict:
    s, u = _date(since), _date(until)
    return {"room": room or None, "q": q or None,
            "since": datetime.combine(s, time(0), SHANGHAI) if s else None,
            "until": datetime.combine(u + timedelta(days=1), time(0), SHANGHAI) if u else None}


def _page(request: Request, session, user: ConsoleUser, *, form: dict | None = None, status_code: int = 200,
          flash: str = "", flash_kind: str = "ok", room: str = "", q: str = "", since: str = "", until: str = "",
          offset: int = 0):
    rows, total = svc.list_access(session, **_filters(room, q, since, until), limit=50, offset=offset)
    return render(request, "inspections/room_access.html", user, "room-access", status_code=status_code,
                  present=[svc.as_dict(r, sees_pii=user.sees_pii) for r in svc.in_room_now(session)],
                  rows=[svc.as_dict(r, sees_pii=user.sees_pii) for r in rows], total=total, offset=offset,
                  rooms=svc.ROOMS, form=form or {"room": svc.ROOMS[0]}, can_write=user.can(*WRITERS),
                  filters={"room": room, "q": q, "since": since, "until": until}, flash=flash, flash_kind=flash_kind)


@router.get(URL)
def room_access_page(request: Request, session: DbSession, user: Reader_, room: str = "", q: str = "",
                     since: str = "", until: str = "", offset: int = 0):
    p = request.query_params
    return _page(request, session, user, room=room, q=q, since=since, until=until, offset=max(offset, 0),
                 flash=p.get("flash", ""), flash_kind="err" if p.get("kind") == "error" else "ok")


@router.get(URL + "/export.csv")
def export_page(session: DbSession, user: Reader_, room: str = "", q: str = "", since: str = "", until: str = ""):
    rows, _ = svc.list_access(session, **_filters(room, q, since, until), limit=100_000)
    return Response(svc.to_csv(rows, sees_pii=user.sees_pii), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="room-access.csv"'})


@router.post(URL)
async def check_in_page(request: Request, session: DbSession, user: Writer_):
    form = await request.form()
    check_csrf(str(form.get("csrf") or ""), user)
    data = {k: str(form.get(k) or "") for k in FIELDS}
    try:
        row = svc.check_in(session, data, actor=user.username)
    except Problem as exc:
        return _page(request, session, user, form=data, status_code=422, flash=f"未能登记：{exc.detail}",
                     flash_kind="err")
    return RedirectResponse(f"{URL}?flash={quote(f'已登记 {row.person} 进入 {row.room}')}", status_code=303)


@router.post(URL + "/{access_id}/check-out")
def check_out_page(access_id: int, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                   items_out: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        row = svc.check_out(session, access_id, items_out=items_out, actor=user.username)
    except Problem as exc:
        return RedirectResponse(f"{URL}?flash={quote(exc.detail)}&kind=error", status_code=303)
    return RedirectResponse(f"{URL}?flash={quote(f'已登记 {row.person} 离开')}", status_code=303)
