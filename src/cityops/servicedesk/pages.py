"""Console pages of the service desk (OPS-3): 服务台工单 — the list with SLA badges, filters and
the quick hotline form the duty officer types into while on the phone; the ticket page (facts,
SLA bars, timeline, the actions the state and role allow, comments); 时限与升级 (SLA targets,
priority matrix, escalation steps, the desk's team and channels)."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.auth.models import User
from cityops.catalog.models import System
from cityops.core.errors import Problem
from cityops.core.timeutil import utcnow
from cityops.servicedesk import api, escalation, queries, service, sla, workflow
from cityops.servicedesk.models import NATURES, PENDING_REASONS, PRIORITIES, SOURCES, STATES
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Logger_ = Annotated[ConsoleUser, Depends(require_console(*api.LOGGERS))]
Worker_ = Annotated[ConsoleUser, Depends(require_console(*api.WORKERS))]
Editor_ = Annotated[ConsoleUser, Depends(require_console(*api.EDITORS))]
URL = "/console/tickets"
# Which roles may press which button (the API's rules).
ACTION_ROLES = {"assign": api.DESK, "start": api.WORKERS, "pend": api.WORKERS, "resume": api.WORKERS,
                "resolve": api.WORKERS, "close": api.DESK, "reopen": api.DESK, "comment": api.WORKERS}
KIND_LABELS = {"created": "登记", "assigned": "分派", "unassigned": "待分派", "started": "受理", "pended": "挂起",
               "resumed": "恢复处理", "resolved": "解决", "closed": "关闭", "reopened": "重新打开", "comment": "备注",
               "sla_warning": "时限预警", "sla_breached": "超时", "notified": "升级通知", "reassigned": "自动改派",
               "escalated": "升级", "linked": "关联", "unlinked": "取消关联", "updated": "修改分类",
               "intake": "备用渠道", "emergency_change": "紧急变更"}


def remaining(seconds: int | None, paused: bool = False) -> str:
    if paused:
        return "已暂停计时"
    if seconds is None:
        return "—"
    s = abs(int(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    text = (f"{d}天" if d else "") + (f"{h}小时" if h else "") + (f"{m}分" if m or not (d or h) else "")
    return f"剩余 {text}" if seconds >= 0 else f"超时 {text}"


def _labels() -> dict[str, Any]:
    return {"STATES": STATES, "NATURES": NATURES, "SOURCES": SOURCES, "SLA_STATES": sla.SLA_STATES,
            "PRIORITY_LABELS": sla.PRIORITY_LABELS, "PENDING_REASONS": PENDING_REASONS, "PRIORITIES": PRIORITIES,
            "IMPACT_LABELS": sla.IMPACT_LABELS, "URGENCY_LABELS": sla.URGENCY_LABELS, "remaining": remaining,
            "KIND_LABELS": KIND_LABELS, "matrix": sla.MATRIX}


def _list_page(request: Request, session, user: ConsoleUser, *, form: dict[str, Any] | None = None,
               flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    q = request.query_params
    filters = {k: q.get(k, "") for k in ("state", "priority", "sla", "nature", "q", "system")}
    mine = q.get("mine") == "1"
    show_all = q.get("all") == "1"
    now = utcnow()
    try:
        rows, total = queries.list_tickets(session, now=now, state=filters["state"] or None,
                                           priority=filters["priority"] or None, sla_state=filters["sla"] or None,
                                           nature=filters["nature"] or None, q=filters["q"] or None,
                                           system_code=filters["system"] or None,
                                           assignee=user.username if mine else None,
                                           open_only=not show_all and not filters["state"], limit=200)
    except Problem as exc:
        rows, total, flash, flash_kind = [], 0, exc.detail, "err"
    systems = list(session.scalars(select(System).order_by(System.seq)))
    return render(request, "servicedesk/tickets.html", user, "tickets", status_code=status_code, rows=rows,
                  total=total, filters=filters, mine=mine, show_all=show_all, counts=queries.counts(session, now=now),
                  form=form or {"impact": 2, "urgency": 2, "nature": "incident"}, systems=systems,
                  can_log=user.can(*api.LOGGERS), notice=flash or q.get("flash", ""),
                  notice_kind=flash_kind if flash else ("err" if q.get("kind") == "error" else "ok"), **_labels())


@router.get(URL)
def tickets_page(request: Request, session: DbSession, user: Reader_):
    return _list_page(request, session, user)


def _int(value: str, default: int) -> int:
    return int(value) if value.strip().isdigit() else default


@router.post(URL)
def hotline_intake(request: Request, session: DbSession, user: Logger_, csrf: Annotated[str, Form()],
                   title: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
                   reporter: Annotated[str, Form()] = "", reporter_phone: Annotated[str, Form()] = "",
                   nature: Annotated[str, Form()] = "incident", impact: Annotated[str, Form()] = "2",
                   urgency: Annotated[str, Form()] = "2", system_code: Annotated[str, Form()] = "",
                   source: Annotated[str, Form()] = "hotline", emergency: Annotated[str, Form()] = "",
                   emergency_reason: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    form = {"title": title, "description": description, "reporter": reporter, "reporter_phone": reporter_phone,
            "nature": nature, "impact": _int(impact, 0), "urgency": _int(urgency, 0), "system_code": system_code,
            "source": source, "emergency": bool(emergency), "emergency_reason": emergency_reason}
    try:
        t = service.open_ticket(session, actor=user.username, now=utcnow(), **{**form, "system_code": system_code or None})
    except Problem as exc:
        return _list_page(request, session, user, form=form, flash=f"未能登记：{exc.detail}", flash_kind="err",
                          status_code=exc.status if exc.status in (409, 422) else 422)
    who = f"，已分派给 {t.assignee}" if t.assignee else "，当前无人值班，待分派"
    return RedirectResponse(f"{URL}/{t.id}?flash={quote(f'已登记工单 {t.number}{who}')}", status_code=303)


# -- SLA targets and escalation -----------------------------------------------------------------
def _sla_page(request: Request, session, user: ConsoleUser, *, flash: str = "", flash_kind: str = "ok",
              status_code: int = 200, drafts: dict[str, str] | None = None):
    from cityops.duty.service import list_teams
    from cityops.notify.service import list_channels

    q = request.query_params
    pols = escalation.policies(session)
    texts = {p: json.dumps(pol.steps, ensure_ascii=False, indent=1) for p, pol in pols.items()}
    texts.update(drafts or {})
    return render(request, "servicedesk/sla.html", user, "tickets", status_code=status_code,
                  targets=sla.targets(session), policies=pols, texts=texts, describe=escalation.describe,
                  settings=service.settings(session), effective_team=service.desk_team(session),
                  teams=list_teams(session), channels=list_channels(session), can_edit=user.can(*api.EDITORS),
                  notice=flash or q.get("flash", ""),
                  notice_kind=flash_kind if flash else ("err" if q.get("kind") == "error" else "ok"), **_labels())


@router.get(f"{URL}/sla")
def sla_page(request: Request, session: DbSession, user: Reader_):
    return _sla_page(request, session, user)


def _back_sla(msg: str) -> RedirectResponse:
    return RedirectResponse(f"{URL}/sla?flash={quote(msg)}", status_code=303)


@router.post(f"{URL}/sla/targets/{{priority}}")
def save_target(request: Request, priority: str, session: DbSession, user: Editor_, csrf: Annotated[str, Form()],
                response_min: Annotated[str, Form()] = "", resolution_min: Annotated[str, Form()] = "",
                calendar_mode: Annotated[str, Form()] = "", warn_at_pct: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        values = {k: (int(v) if v.strip().lstrip("-").isdigit() else v.strip() or None)
                  for k, v in (("response_min", response_min), ("resolution_min", resolution_min),
                               ("warn_at_pct", warn_at_pct))}
        sla.update_target(session, priority, actor=user.username, calendar_mode=calendar_mode or None, **values)
    except Problem as exc:
        return _sla_page(request, session, user, flash=f"{priority} 未能保存：{exc.detail}", flash_kind="err",
                         status_code=422)
    return _back_sla(f"已保存 {priority} 的时限")


@router.post(f"{URL}/sla/escalation/{{priority}}")
def save_policy(request: Request, priority: str, session: DbSession, user: Editor_, csrf: Annotated[str, Form()],
                steps: Annotated[str, Form()] = "[]", enabled: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        try:
            parsed = json.loads(steps)
        except ValueError as exc:
            raise Problem(422, "Unprocessable Content", f"步骤不是有效的 JSON：{exc}") from exc
        escalation.update_policy(session, priority, actor=user.username, steps=parsed, enabled=bool(enabled))
    except Problem as exc:
        return _sla_page(request, session, user, flash=f"{priority} 升级步骤未能保存：{exc.detail}", flash_kind="err",
                         status_code=422, drafts={priority: steps})
    return _back_sla(f"已保存 {priority} 的升级步骤")


@router.post(f"{URL}/sla/settings")
def save_settings(request: Request, session: DbSession, user: Editor_, csrf: Annotated[str, Form()],
                  team_code: Annotated[str, Form()] = "", channel_ids: Annotated[list[str] | None, Form()] = None):
    check_csrf(csrf, user)
    try:
        service.update_settings(session, actor=user.username, team_code=team_code,
                                channel_ids=[int(c) for c in channel_ids or [] if c.isdigit()])
    except Problem as exc:
        return _sla_page(request, session, user, flash=f"未能保存：{exc.detail}", flash_kind="err", status_code=422)
    return _back_sla("已保存服务台设置")


# -- one ticket ---------------------------------------------------------------------------------
@router.get(f"{URL}/{{ticket_id}}")
def ticket_page(request: Request, ticket_id: int, session: DbSession, user: Reader_):
    t = service.get(session, ticket_id)
    row = queries.evaluate(session, [t], utcnow())[0]
    q = request.query_params
    actions = [a for a in workflow.allowed_actions(t) if user.role in ACTION_ROLES[a]]
    people = list(session.scalars(select(User.username).where(User.active.is_(True),
                                                              User.role.in_(service.ASSIGNABLE_ROLES))
                                  .order_by(User.username))) if "assign" in actions else []
    return render(request, "servicedesk/ticket.html", user, "tickets", t=t, row=row,
                  events=service.timeline(session, t.id), links=workflow.links_of(session, t.id), actions=actions,
                  people=people, can_link=user.can(*api.WORKERS), notice=q.get("flash", ""),
                  notice_kind="err" if q.get("kind") == "error" else "ok", **_labels())


def _back(ticket_id: int, msg: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"{URL}/{ticket_id}?flash={quote(msg)}&kind={kind}#actions", status_code=303)


@router.post(f"{URL}/{{ticket_id}}/act/{{action}}")
def act(ticket_id: int, action: str, session: DbSession, user: Worker_, csrf: Annotated[str, Form()],
        assignee: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
        text: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    if action not in ACTION_ROLES or user.role not in ACTION_ROLES[action]:
        return _back(ticket_id, "当前角色不能执行此操作", "error")
    now, who = utcnow(), user.username
    calls = {
        "assign": lambda: workflow.assign(session, ticket_id, assignee=assignee, note=text, actor=who, now=now),
        "start": lambda: workflow.start(session, ticket_id, actor=who, now=now),
        "pend": lambda: workflow.pend(session, ticket_id, reason=reason, note=text, actor=who, now=now),
        "resume": lambda: workflow.resume(session, ticket_id, note=text, actor=who, now=now),
        "resolve": lambda: workflow.resolve(session, ticket_id, solution=text, actor=who, now=now),
        "close": lambda: workflow.close(session, ticket_id, note=text, actor=who, now=now),
        "reopen": lambda: workflow.reopen(session, ticket_id, reason=text, actor=who, now=now),
        "comment": lambda: workflow.comment(session, ticket_id, text=text, actor=who, now=now),
    }
    try:
        t = calls[action]()
    except Problem as exc:
        return _back(ticket_id, exc.detail, "error")
    return _back(ticket_id, f"已{workflow.ACTIONS[action]}，当前状态：{STATES[t.state]}")


@router.post(f"{URL}/{{ticket_id}}/links")
def add_link(ticket_id: int, session: DbSession, user: Worker_, csrf: Annotated[str, Form()],
             other: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        workflow.link(session, ticket_id, other=other.strip(), note=note, actor=user.username, now=utcnow())
    except Problem as exc:
        return _back(ticket_id, exc.detail, "error")
    return _back(ticket_id, f"已关联 {other.strip()}")
