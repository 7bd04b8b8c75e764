"""Console 参观接待 (VISIT-1): a month calendar and list of visits, the create/edit form, a
visit's detail with its pre-visit checks (and a "run now" button), its freeze window and the
record form after the visit."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.catalog.models import System
from cityops.core.errors import Problem
from cityops.core.timeutil import local, utcnow
from cityops.visits import service as svc
from cityops.visits.models import VISIT_STATES
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
EDITORS = ("admin", "manager")
CHECKERS = ("admin", "manager", "duty", "technician")
RECORDERS = ("admin", "manager", "duty")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Editor_ = Annotated[ConsoleUser, Depends(require_console(*EDITORS))]
Checker_ = Annotated[ConsoleUser, Depends(require_console(*CHECKERS))]
Recorder_ = Annotated[ConsoleUser, Depends(require_console(*RECORDERS))]
URL = "/console/visits"


def _go(url: str, msg: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"{url}?flash={quote(msg)}&kind={kind}", status_code=303)


def _flash(request: Request) -> dict[str, str]:
    q = request.query_params
    return {"flash": q.get("flash", ""), "flash_kind": "err" if q.get("kind") == "error" else "ok"}


def _local_input(dt: datetime | None) -> str:
    return local(dt).strftime("%Y-%m-%dT%H:%M") if dt else ""


def _common(session) -> dict[str, Any]:
    systems = list(session.scalars(select(System).order_by(System.code)))
    return {"systems": systems, "system_names": {s.code: s.name for s in systems}, "STATES": VISIT_STATES,
            "local_input": _local_input}


def _index(request: Request, session, user: ConsoleUser, *, month: str = "", form: dict | None = None,
           status_code: int = 200, flash: str = "", flash_kind: str = "ok"):
    today = local(utcnow()).date()
    try:
        first = date.fromisoformat(month + "-01") if month else today.replace(day=1)
    except ValueError:
        first = today.replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    visits = svc.list_visits(session, first=first, last=last)
    by_day: dict[date, list] = {}
    for v in visits:
        d = local(v.starts_at).date()
        while d <= local(v.ends_at).date():
            by_day.setdefault(d, []).append(v)
            d += timedelta(days=1)
    now = utcnow()
    return render(request, "visits/visits.html", user, "visits", status_code=status_code, visits=visits,
                  by_day=by_day, weeks=calendar.Calendar().monthdatescalendar(first.year, first.month), first=first,
                  today=today, prev_m=(first - timedelta(days=1)).strftime("%Y-%m"),
                  next_m=(last + timedelta(days=1)).strftime("%Y-%m"), upcoming=svc.upcoming(session, now, 30),
                  freeze=svc.active_freeze(session, now), form=form or {"check_hours": "24, 2", "visitor_count": 1},
                  can_edit=user.can(*EDITORS), flash=flash, flash_kind=flash_kind, **_common(session))


@router.get(URL)
def visits_page(request: Request, session: DbSession, user: Reader_, month: str = ""):
    return _index(request, session, user, month=month, **_flash(request))


def _form_data(form) -> dict[str, Any]:
    data: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in ("title", "organisation", "host", "starts_at",
                                                                       "ends_at", "freeze_from", "freeze_until")}
    data["system_codes"] = form.getlist("system_codes")
    data["visitor_count"] = str(form.get("visitor_count") or "1").strip()
    hours = [h.strip() for h in str(form.get("check_hours") or "").replace("，", ",").split(",") if h.strip()]
    data["check_hours"] = hours
    return data


def _clean_for_service(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if v not in ("", None)}
    out.setdefault("system_codes", [])
    out["check_hours"] = data["check_hours"]
    return out


@router.post(URL)
async def create_page(request: Request, session: DbSession, user: Editor_):
    form = await request.form()
    check_csrf(str(form.get("csrf") or ""), user)
    data = _form_data(form)
    try:
        v = svc.create_visit(session, _clean_for_service(data), actor=user.username)
    except Problem as exc:
        return _index(request, session, user, form={**data, "check_hours": ", ".join(data["check_hours"])},
                      status_code=422, flash=f"未能保存：{exc.detail}", flash_kind="err")
    return _go(f"{URL}/{v.id}", f"已登记参观接待「{v.title}」")


def _detail(request: Request, session, user: ConsoleUser, visit_id: int, *, status_code: int = 200, flash: str = "",
            flash_kind: str = "ok", form: dict | None = None):
    v = svc.get(session, visit_id)
    now = utcnow()
    return render(request, "visits/visit.html", user, "visits", status_code=status_code, v=v,
                  checks=svc.checks_of(session, v.id), form=form,
                  default_freeze=svc.default_freeze(v.starts_at, v.ends_at) == (v.freeze_from, v.freeze_until), frozen=v.freeze_from <= now < v.freeze_until
                  and v.state != "cancelled", started=now >= v.starts_at, can_edit=user.can(*EDITORS)
                  and v.state not in ("done", "cancelled"), can_check=user.can(*CHECKERS)
                  and v.state not in ("done", "cancelled"), can_record=user.can(*RECORDERS) and v.state != "cancelled",
                  flash=flash, flash_kind=flash_kind, **_common(session))


@router.get(URL + "/{visit_id}")
def visit_page(request: Request, visit_id: int, session: DbSession, user: Reader_):
    return _detail(request, session, user, visit_id, **_flash(request))


@router.post(URL + "/{visit_id}")
async def update_page(request: Request, visit_id: int, session: DbSession, user: Editor_):
    form = await request.form()
    check_csrf(str(form.get("csrf") or ""), user)
    data = _form_data(form)
    try:
        v = svc.update_visit(session, visit_id, _clean_for_service(data))
        if not (data["freeze_from"] and data["freeze_until"]):  # blank = the default window of the new times
            dflt = svc.default_freeze(v.starts_at, v.ends_at)
            svc.update_visit(session, v.id, {"freeze_from": data["freeze_from"] or dflt[0],
                                             "freeze_until": data["freeze_until"] or dflt[1]})
    except Problem as exc:
        if exc.status == 404:
            return _go(URL, exc.detail, "error")
        return _detail(request, session, user, visit_id, status_code=422, flash=f"未能保存：{exc.detail}",
                       flash_kind="err", form={**data, "check_hours": ", ".join(data["check_hours"])})
    return _go(f"{URL}/{v.id}", "已保存")


def _act(request: Request, session, user: ConsoleUser, visit_id: int, action, ok_msg) -> Any:
    try:
        result = action()
    except Problem as exc:
        if exc.status == 404:
            return _go(URL, exc.detail, "error")
        return _detail(request, session, user, visit_id, status_code=exc.status, flash=exc.detail, flash_kind="err")
    msg = ok_msg(result) if callable(ok_msg) else ok_msg
    return _go(f"{URL}/{visit_id}", msg, "ok" if getattr(result, "ok", True) else "error")


@router.post(URL + "/{visit_id}/check")
def check_page(request: Request, visit_id: int, session: DbSession, user: Checker_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    return _act(request, session, user, visit_id, lambda: svc.run_check(session, visit_id, actor=user.username),
                lambda c: f"参观前检查{'通过' if c.ok else '发现问题'}：{c.summary}")


@router.post(URL + "/{visit_id}/state")
def state_page(request: Request, visit_id: int, session: DbSession, user: Editor_, csrf: Annotated[str, Form()],
               state: Annotated[str, Form()]):
    check_csrf(csrf, user)
    return _act(request, session, user, visit_id, lambda: svc.set_state(session, visit_id, state),
                f"状态已改为“{VISIT_STATES.get(state, state)}”")


@router.post(URL + "/{visit_id}/record")
def record_page(request: Request, visit_id: int, session: DbSession, user: Recorder_, csrf: Annotated[str, Form()],
                outcome: Annotated[str, Form()] = "", issues: Annotated[str, Form()] = "",
                notes: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    return _act(request, session, user, visit_id, lambda: svc.record(
        session, visit_id, outcome=outcome, issues=issues, notes=notes, actor=user.display_name or user.username),
        "已保存接待记录并写入维护日志")
