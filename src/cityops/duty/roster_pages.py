"""Console: 排班轮换 (SVC-1) — a month grid per person, rotations and their generation,
stand-ins, swaps, special periods, the coverage check and handover notes. Form times are
Beijing time."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from cityops.auth.deps import DbSession
from cityops.core.errors import Invalid, Problem
from cityops.core.timeutil import SHANGHAI, local, utcnow
from cityops.duty import coverage as cov
from cityops.duty import handover, roster, rotation, service
from cityops.duty.models import SHIFT_ROLES
from cityops.duty.roster_models import PERIOD_KINDS, ROTATION_KINDS, SWAP_STATES
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
URL = "/console/duty/roster"
Viewer = Annotated[ConsoleUser, Depends(require_console("admin", "manager", "duty", "technician", "auditor"))]
Manager = Annotated[ConsoleUser, Depends(require_console("admin", "manager"))]
Officer = Annotated[ConsoleUser, Depends(require_console("admin", "manager", "duty"))]
Rostered = Annotated[ConsoleUser, Depends(require_console("admin", "manager", "duty", "technician"))]
F = Annotated[str, Form()]


def _month(value: str, today: date) -> date:
    try:
        y, m = (int(x) for x in value.split("-"))
        return date(y, m, 1)
    except ValueError:
        return today.replace(day=1)


def _grid(session: Session, first: date) -> tuple[list[date], list[dict]]:
    """Rows per person: {contact, team, cells: {day: [(short, css, title)]}} for the month."""
    days = [first + timedelta(days=i) for i in range(calendar.monthrange(first.year, first.month)[1])]
    start = datetime.combine(first, datetime.min.time(), tzinfo=SHANGHAI)
    shifts = service.list_shifts(session, start=start, end=start + timedelta(days=len(days)))
    people = {c.id: c for c in service.list_contacts(session)}
    rows: dict[tuple[str, int], dict] = {}
    for s in shifts:
        d = local(s.starts_at).date()
        if d < first or d > days[-1]:
            continue
        row = rows.setdefault((s.team_code, s.contact_id), {"contact": people.get(s.contact_id), "team": s.team_code,
                                                             "cells": {}})
        label = s.note.split("·")[-1] if "·" in s.note else SHIFT_ROLES.get(s.role, s.role)
        short = s.post[:2] if s.post else label[:1]
        css = "post" if s.post else f"role-{s.role}"
        title = f"{local(s.starts_at):%m-%d %H:%M}–{local(s.ends_at):%m-%d %H:%M} {label} {s.post} #{s.id}"
        row["cells"].setdefault(d, []).append((short, css + (" swapped" if s.source == "swap" else ""), title))
    ordered = sorted(rows.values(), key=lambda r: (r["team"], r["contact"].name if r["contact"] else ""))
    return days, ordered


def page(request: Request, session: Session, user: ConsoleUser, *, month: str = "", check: str = "",
         flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    now = utcnow()
    first = _month(month, local(now).date())
    days, rows = _grid(session, first)
    m_start = datetime.combine(first, datetime.min.time(), tzinfo=SHANGHAI)
    m_end = m_start + timedelta(days=len(days))
    if check == "year":
        result = cov.coverage(session)
    else:
        result = cov.coverage(session, m_start, m_end)
    month_gaps = cov.coverage(session, m_start, m_end) if check == "year" else result
    upcoming = service.list_shifts(session, start=now, end=now + timedelta(days=31))
    contacts = service.list_contacts(session)
    return render(request, "duty/roster.html", user, "roster", status_code=status_code, now=now, first=first,
                  prev=(first - timedelta(days=1)).replace(day=1), next=(first + timedelta(days=32)).replace(day=1),
                  days=days, rows=rows, gap_days=cov.gap_days(month_gaps), coverage=result, check=check,
                  on_duty=service.on_duty_now(session, now=now), rotations=rotation.list_rotations(session),
                  overrides=roster.list_overrides(session, start=now - timedelta(days=7), end=now + timedelta(days=60)),
                  swaps=roster.list_swaps(session), periods=roster.list_periods(session),
                  holidays=roster.holiday_offers(session), handovers=handover.list_handovers(session, limit=20),
                  upcoming=upcoming, shift_by_id={s.id: s for s in upcoming}, teams=service.list_teams(session),
                  contacts=contacts, by_id={c.id: c for c in contacts}, roles=SHIFT_ROLES, kinds=ROTATION_KINDS,
                  period_kinds=PERIOD_KINDS, swap_states=SWAP_STATES, today=local(now).date(),
                  can_manage=user.can("admin", "manager"), can_officer=user.can("admin", "manager", "duty"),
                  can_swap=user.can("admin", "manager", "duty", "technician"),
                  flash=flash or request.query_params.get("flash", ""), flash_kind=flash_kind)


@router.get(URL)
def roster_page(request: Request, session: DbSession, user: Viewer, month: str = "", check: str = ""):
    return page(request, session, user, month=month, check=check)


def _do(request: Request, session: Session, user: ConsoleUser, csrf: str, action: Callable[[], str]):
    check_csrf(csrf, user)
    try:
        ok = action()
    except (Problem, ValueError) as exc:
        session.rollback()
        msg = exc.detail if isinstance(exc, Problem) else f"格式不正确：{exc}"
        return page(request, session, user, flash=f"保存失败：{msg}", flash_kind="err",
                    status_code=exc.status if isinstance(exc, Problem) else 422)
    return RedirectResponse(f"{URL}?flash={quote(ok)}", status_code=303)


def _day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid(f"{what}格式不正确：{value!r}") from exc


def _when(value: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(value.strip()).replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise Invalid(f"{what}格式不正确：{value!r}") from exc


def _slots(text: str) -> list[dict]:
    """One slot a line: "D 白班 08:30-20:30"."""
    out = []
    for line in text.strip().splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or "-" not in parts[2]:
            raise Invalid(f"班次行须形如 “D 白班 08:30-20:30”：{line!r}")
        start, end = parts[2].split("-", 1)
        out.append({"code": parts[0], "label": parts[1], "start": start, "end": end})
    return out


@router.post(URL + "/rotations")
def add_rotation(request: Request, session: DbSession, user: Manager, csrf: F, name: F, team_code: F,
                 start_date: F, role: F = "member", post: F = "", kind: F = "cycle", slots: F = "", cycle: F = "",
                 handover_at: F = "08:30", members: Annotated[list[int] | None, Form()] = None):
    def act():
        r = rotation.create_rotation(
            session, name=name, team_code=team_code, role=role, post=post, kind=kind, members=members or [],
            slots=_slots(slots) if kind == "cycle" else [], start_date=_day(start_date, "起始日期"),
            cycle=[c.strip() for c in cycle.replace("，", ",").split(",") if c.strip()], handover=handover_at,
            created_by=user.username)
        return f"已添加轮换「{r.name}」，请生成班次"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/rotations/{rotation_id}/generate")
def generate(rotation_id: int, request: Request, session: DbSession, user: Manager, csrf: F, start: F, end: F):
    def act():
        out = rotation.generate(session, rotation_id, _day(start, "开始日期"), _day(end, "结束日期"),
                                actor=user.username)
        return f"已生成 {out['created']} 个班次（替换 {out['removed']} 个，跳过 {out['skipped']} 个）"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/rotations/{rotation_id}/delete")
def remove_rotation(rotation_id: int, request: Request, session: DbSession, user: Manager, csrf: F):
    def act():
        gone = rotation.delete_rotation(session, rotation_id)
        return f"已删除轮换及其 {gone} 个未开始的班次"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/overrides")
def add_override(request: Request, session: DbSession, user: Officer, csrf: F, contact_id: Annotated[int, Form()],
                 replacement_id: Annotated[int, Form()], starts_at: F, ends_at: F, reason: F = ""):
    def act():
        roster.create_override(session, contact_id=contact_id, replacement_id=replacement_id,
                               starts_at=_when(starts_at, "开始时间"), ends_at=_when(ends_at, "结束时间"),
                               reason=reason, created_by=user.username)
        return "已登记替班"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/overrides/{override_id}/delete")
def remove_override(override_id: int, request: Request, session: DbSession, user: Officer, csrf: F):
    return _do(request, session, user, csrf, lambda: roster.delete_override(session, override_id) or "已撤销替班")


@router.post(URL + "/swaps")
def add_swap(request: Request, session: DbSession, user: Rostered, csrf: F, shift_a_id: Annotated[int, Form()],
             shift_b_id: Annotated[int, Form()], reason: F = ""):
    def act():
        s = roster.request_swap(session, shift_a_id=shift_a_id, shift_b_id=shift_b_id, reason=reason,
                                requested_by=user.username)
        return f"已提交换班申请 #{s.id}，待负责人审批"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/swaps/{swap_id}/{decision}")
def decide_swap(swap_id: int, decision: str, request: Request, session: DbSession, user: Manager, csrf: F,
                note: F = ""):
    def act():
        if decision not in ("approve", "reject"):
            raise Invalid("未知的审批操作")
        s = roster.decide_swap(session, swap_id, approve=decision == "approve", decided_by=user.username, note=note)
        return f"换班申请 #{s.id}{SWAP_STATES[s.state]}"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/periods")
def add_period(request: Request, session: DbSession, user: Manager, csrf: F, name: F, starts_on: F, ends_on: F,
               kind: F = "holiday", duty_count: F = "1", support_count: F = "1", posts: F = "", note: F = ""):
    def act():
        reqs = []
        for role, count in (("duty", duty_count), ("support", support_count)):
            if count.strip() and int(count) > 1:
                reqs.append({"role": role, "count": int(count)})
        for p in posts.replace("，", ",").replace("、", ",").split(","):
            if p.strip():
                reqs.append({"post": p.strip(), "role": "duty", "count": 1})
        if not reqs:
            raise Invalid("请至少提高一项人数或填写一个专岗（如 移动单兵）")
        p = roster.create_period(session, name=name, kind=kind, starts_on=_day(starts_on, "开始日期"),
                                 ends_on=_day(ends_on, "结束日期"), requirements=reqs, note=note)
        return f"已添加特殊时段「{p.name}」"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/periods/{period_id}/delete")
def remove_period(period_id: int, request: Request, session: DbSession, user: Manager, csrf: F):
    return _do(request, session, user, csrf, lambda: roster.delete_period(session, period_id) or "已删除特殊时段")


@router.post(URL + "/handovers")
def add_handover(request: Request, session: DbSession, user: Officer, csrf: F, team_code: F, note: F = ""):
    def act():
        h = handover.write(session, team_code=team_code, note=note, written_by=user.username)
        return f"已提交交接班记录 #{h.id}，待接班人确认"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/handovers/{handover_id}/ack")
def ack_handover(handover_id: int, request: Request, session: DbSession, user: Officer, csrf: F, note: F = ""):
    def act():
        handover.acknowledge(session, handover_id, by=user.username, note=note)
        return f"已确认接班（#{handover_id}）"
    return _do(request, session, user, csrf, act)
