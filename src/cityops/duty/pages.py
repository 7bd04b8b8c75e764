"""Console: the duty roster — who is on duty now, the shifts of the coming days, and forms
to add teams, contacts and shifts (IOT-5 / OPS-3). Times in the forms are Beijing time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.core.timeutil import SHANGHAI, utcnow
from cityops.duty import service
from cityops.duty.models import SHIFT_ROLES
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
VIEWERS = ("admin", "manager", "duty", "technician", "auditor")
EDITORS = ("admin", "manager")
Viewer = Annotated[ConsoleUser, Depends(require_console(*VIEWERS))]
Editor = Annotated[ConsoleUser, Depends(require_console(*EDITORS))]
DAYS = 7


@router.get("/console/duty")
def duty_page(request: Request, session: DbSession, user: Viewer, flash: str = "", flash_kind: str = "ok"):
    from cityops.geo.service import list_units

    now = utcnow()
    contacts = service.list_contacts(session)
    return render(request, "duty/duty.html", user, "duty", now=now, on_duty=service.on_duty(session, at=now),
                  shifts=service.list_shifts(session, start=now, end=now + timedelta(days=DAYS)),
                  teams=service.list_teams(session), contacts=contacts, by_id={c.id: c for c in contacts},
                  units=list_units(session), roles=SHIFT_ROLES, days=DAYS, can_edit=user.can(*EDITORS),
                  flash=flash or request.query_params.get("flash", ""), flash_kind=flash_kind)


def _local(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=SHANGHAI)


def _done(request: Request, session: DbSession, user: ConsoleUser, action, ok: str):
    try:
        action()
    except (Problem, ValueError) as exc:
        session.rollback()
        msg = exc.detail if isinstance(exc, Problem) else f"格式不正确：{exc}"
        return duty_page(request, session, user, flash=f"保存失败：{msg}", flash_kind="err")
    return RedirectResponse(f"/console/duty?flash={ok}", status_code=303)


@router.post("/console/duty/shifts")
def add_shift(request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()],
              contact_id: Annotated[int, Form()], team_code: Annotated[str, Form()],
              starts_at: Annotated[str, Form()], ends_at: Annotated[str, Form()],
              role: Annotated[str, Form()] = "member", note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    return _done(request, session, user, lambda: service.create_shift(
        session, contact_id=contact_id, team_code=team_code, role=role, starts_at=_local(starts_at),
        ends_at=_local(ends_at), note=note.strip(), created_by=user.username), "已添加班次")


@router.post("/console/duty/shifts/{shift_id}/delete")
def remove_shift(shift_id: int, request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    return _done(request, session, user, lambda: service.delete_shift(session, shift_id), "已删除班次")


@router.post("/console/duty/contacts")
def add_contact(request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()],
                name: Annotated[str, Form()], phone: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
                wecom_userid: Annotated[str, Form()] = "", username: Annotated[str, Form()] = "",
                team_code: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    return _done(request, session, user, lambda: service.create_contact(
        session, name=name, phone=phone, email=email, wecom_userid=wecom_userid, username=username or None,
        team_code=team_code or None), "已添加联系人")


@router.post("/console/duty/teams")
def add_team(request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()],
             code: Annotated[str, Form()], name: Annotated[str, Form()], unit_id: Annotated[str, Form()] = "",
             manager_id: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    return _done(request, session, user, lambda: service.create_team(
        session, code=code, name=name, unit_id=int(unit_id) if unit_id else None,
        manager_id=int(manager_id) if manager_id else None), "已添加值班组")


# SVC-1: /console/duty/roster (duty/roster_pages.py).
from cityops.duty.roster_pages import router as _roster_pages  # noqa: E402

router.include_router(_roster_pages)
