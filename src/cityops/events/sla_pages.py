"""Console page 时限与日历 (IOT-6): SLA policies with an edit form, and a month view of the
working calendar where the office adds or removes holiday / make-up day overrides."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.core.timeutil import local, utcnow
from cityops.events import sla
from cityops.events.sla_models import STEP_LABELS, STEPS
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
MODE_LABELS = {"24x7": "7×24", "workdays": "工作日"}
KIND_LABELS = {"holiday": "放假", "workday": "上班"}


def _month(value: str) -> date:
    try:
        y, m = value.split("-")
        return date(int(y), int(m), 1)
    except ValueError:
        today = local(utcnow()).date()
        return today.replace(day=1)


def _weeks(session, first: date) -> list[list[Any]]:
    """The month as weeks Monday..Sunday; days outside the month are None."""
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    days = sla.calendar_for(session, "workdays").days(first, last)
    cells: list[Any] = [None] * first.weekday() + days
    cells += [None] * (-len(cells) % 7)
    return [cells[i:i + 7] for i in range(0, len(cells), 7)]


def _page(request: Request, session, user: ConsoleUser, *, month: str = "", edit: int | None = None,
          form: dict[str, Any] | None = None, flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    first = _month(month)
    rows = sla.list_policies(session)
    if edit is not None and form is None:
        p = next((r for r in rows if r.id == edit), None)
        if p is not None:
            form = {c: getattr(p, c) for c in ("name", "category_prefix", "severity", "calendar_mode", "warn_at_pct",
                                                 "priority", "enabled", "note", *sla.LIMITS)}
            form["policy_id"] = p.id
    overrides = {d.day: d for d in sla.list_days(session)}
    prev_m = (first - timedelta(days=1)).replace(day=1)
    next_m = (first + timedelta(days=32)).replace(day=1)
    return render(request, "events/sla.html", user, "sla", status_code=status_code, rows=rows,
                  form=form or {"enabled": True, "warn_at_pct": 80, "priority": 0, "calendar_mode": "workdays"},
                  can_edit=user.can(*WRITERS), steps=STEPS, step_labels=STEP_LABELS, severities=sla.SEVERITY_LABELS,
                  modes=MODE_LABELS, kinds=KIND_LABELS, month=first, weeks=_weeks(session, first),
                  prev_month=prev_m.strftime("%Y-%m"), next_month=next_m.strftime("%Y-%m"),
                  overrides=overrides, override_list=list(overrides.values()), flash=flash, flash_kind=flash_kind)


def _back(msg: str, month: str = "") -> RedirectResponse:
    return RedirectResponse(f"/console/sla?month={quote(month)}&flash={quote(msg)}", status_code=303)


@router.get("/console/sla")
def sla_page(request: Request, session: DbSession, user: Reader_, month: str = "", edit: int | None = None):
    return _page(request, session, user, month=month, edit=edit, flash=request.query_params.get("flash", ""))


def _int(label: str, v: str) -> int:
    try:
        return int(v.strip())
    except ValueError:
        raise ValueError(f"{label}需要是整数，而不是 {v!r}") from None


@router.post("/console/sla")
def save_policy(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                name: Annotated[str, Form()] = "", category_prefix: Annotated[str, Form()] = "",
                severity: Annotated[str, Form()] = "", calendar_mode: Annotated[str, Form()] = "workdays",
                accept_min: Annotated[str, Form()] = "", dispatch_min: Annotated[str, Form()] = "",
                dispose_min: Annotated[str, Form()] = "", verify_min: Annotated[str, Form()] = "",
                close_min: Annotated[str, Form()] = "", warn_at_pct: Annotated[str, Form()] = "80",
                priority: Annotated[str, Form()] = "0", enabled: Annotated[str, Form()] = "",
                note: Annotated[str, Form()] = "", policy_id: Annotated[str, Form()] = ""):
    """Create a policy, or change one (policy_id given)."""
    check_csrf(csrf, user)
    raw = {"name": name, "category_prefix": category_prefix, "severity": severity, "calendar_mode": calendar_mode,
           "accept_min": accept_min, "dispatch_min": dispatch_min, "dispose_min": dispose_min,
           "verify_min": verify_min, "close_min": close_min, "warn_at_pct": warn_at_pct, "priority": priority,
           "enabled": bool(enabled), "note": note, "policy_id": policy_id}
    try:
        values: dict[str, Any] = {k: raw[k] for k in ("name", "category_prefix", "severity", "calendar_mode",
                                                       "enabled", "note")}
        for k in sla.LIMITS:
            values[k] = _int(STEP_LABELS[k[:-4]] + "时限", raw[k])
        values["warn_at_pct"] = _int("预警比例", warn_at_pct)
        values["priority"] = _int("优先级", priority)
        if policy_id.strip():
            p = sla.update_policy(session, int(policy_id), **values)
            msg = f"已保存时限策略 #{p.id}"
        else:
            p = sla.create_policy(session, created_by=user.username, **values)
            msg = f"已创建时限策略 #{p.id}"
    except (Problem, ValueError) as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, Problem) else str(exc)
        return _page(request, session, user, form=raw, flash=f"保存失败：{detail}", flash_kind="err",
                     status_code=422)
    return _back(msg)


@router.post("/console/sla/{policy_id:int}/delete")
def delete_policy(policy_id: int, request: Request, session: DbSession, user: Writer_,
                  csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        sla.delete_policy(session, policy_id)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, flash=f"删除失败：{exc.detail}", flash_kind="err",
                     status_code=exc.status)
    return _back(f"已删除时限策略 #{policy_id}")


@router.post("/console/sla/days")
def add_day(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
            day: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "holiday",
            name: Annotated[str, Form()] = ""):
    """Declare a day off or a worked day over the State Council data."""
    check_csrf(csrf, user)
    try:
        d = date.fromisoformat(day.strip())
    except ValueError:
        return _page(request, session, user, flash=f"日期格式应为 2026-10-10，而不是 {day!r}", flash_kind="err",
                     status_code=422)
    try:
        sla.add_day(session, day=d, kind=kind, name=name, created_by=user.username)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, month=d.strftime("%Y-%m"), flash=f"添加失败：{exc.detail}",
                     flash_kind="err", status_code=exc.status)
    return _back(f"已将 {d.isoformat()} 设为{KIND_LABELS[kind]}", d.strftime("%Y-%m"))


@router.post("/console/sla/days/{day_id:int}/delete")
def delete_day(day_id: int, request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
               month: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        sla.delete_day(session, day_id)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, flash=f"删除失败：{exc.detail}", flash_kind="err",
                     status_code=exc.status)
    return _back("已删除日历调整，恢复按国务院安排计算", month)
