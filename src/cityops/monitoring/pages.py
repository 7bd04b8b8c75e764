"""Console (IOT-5): the live alarm board, an alarm's page, the KPI dashboard with its exports,
maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.core.errors import Invalid, NotFound, Problem
from cityops.core.timeutil import local, utcnow
from cityops.devices.models import Device
from cityops.monitoring import (
    comments,
    kpi,
    kpi_export,
    kpi_history,
    maintenance,
    service,
)
from cityops.monitoring.models import SEVERITIES
from cityops.web.shell import (
    ConsoleUser,
    check_csrf,
    console_user,
    render,
    require_console,
)

router = APIRouter(include_in_schema=False)
User_ = Annotated[ConsoleUser, Depends(console_user)]
HANDLERS = ("admin", "manager", "duty", "technician", "street")
TICKET_OPENERS = ("admin", "manager", "duty")  # the service desk's intake (OPS-3)
SEVERITY_LABELS = {"critical": "紧急", "major": "重要", "warning": "警告", "info": "提示"}
TYPE_LABELS = {"offline": "设备离线", "silent": "仅心跳无数据", "flapping": "频繁上下线"}
STATE_LABELS = {"active": "待确认", "acknowledged": "已确认", "cleared": "已清除"}
LIVENESS_LABELS = {"online": "在线", "offline": "离线", "silent": "静默（仅心跳）", "never_seen": "从未上报"}


@router.get("/console/alarms")
def alarm_board(request: Request, session: DbSession, user: User_, state: str = "open", severity: str = "",
                flash: str = "", flash_kind: str = "ok"):
    """The duty officer's board (IOT-5): colour and sound by severity, ack/clear/comment in place."""
    rows, total = service.list_alarms(session, open_only=state == "open", state=None if state in ("open", "")
                                      else state, severity=severity or None, scope=user.street_scope,
                                      include_suppressed=False, limit=200)
    rows.sort(key=lambda a: (-SEVERITIES.index(a.severity) if a.severity in SEVERITIES else 0, a.state != "active"))
    ids = {a.device_id for a in rows}
    names = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(ids)))} if ids else {}
    folded = service.folded_counts(session, [a.id for a in rows if a.alarm_type == "offline"])
    counts = {s: sum(1 for a in rows if a.severity == s) for s in SEVERITIES}
    notes = comments.comments_for(session, [a.id for a in rows], per_alarm=10)
    return render(request, "monitoring/alarms.html", user, "alarms", rows=rows, total=total, devices=names,
                  state=state, severity=severity, counts=counts, folded=folded, labels=SEVERITY_LABELS,
                  type_labels=TYPE_LABELS, state_labels=STATE_LABELS, notes=notes,
                  note_counts=comments.comment_counts(session, [a.id for a in rows]),
                  can_handle=user.can(*HANDLERS), notice=flash, notice_kind=flash_kind)  # shown inside the board


def _severity_changes(details: dict) -> list[tuple[datetime | None, str]]:
    """details["severity_history"] as written by the rule layer: a list of {at, from, to} (lenient)."""
    out = []
    for h in (details or {}).get("severity_history") or []:
        if not isinstance(h, dict):
            continue
        old = h.get("from") or h.get("old") or ""
        new = h.get("to") or h.get("new") or h.get("severity") or ""
        at = None
        try:
            at = datetime.fromisoformat(str(h.get("at"))) if h.get("at") else None
            at = at.replace(tzinfo=UTC) if at and at.tzinfo is None else at
        except ValueError:
            pass
        what = f"{SEVERITY_LABELS.get(old, old)} → {SEVERITY_LABELS.get(new, new)}" if old else \
            f"级别变为 {SEVERITY_LABELS.get(new, new)}"
        out.append((at, f"级别变化：{what}" + (f"（{h['reason']}）" if h.get("reason") else "")))
    return out


def alarm_timeline(alarm, notes) -> list[dict]:
    """Raised, repeats, severity changes, acknowledgement, comments, clear — oldest first."""
    ev = [{"at": alarm.first_at, "kind": "raised", "label": "产生",
           "text": f"{SEVERITY_LABELS.get(alarm.severity, alarm.severity)}告警产生" +
                   (f"：{alarm.message}" if alarm.message else "")}]
    for at, text in _severity_changes(alarm.details):
        ev.append({"at": at or alarm.first_at, "kind": "severity", "label": "级别", "text": text})
    if alarm.count > 1:
        ev.append({"at": alarm.last_at, "kind": "repeat", "label": "重复",
                   "text": f"最近一次重复上报，累计 {alarm.count} 次"})
    if alarm.acked_at:
        ev.append({"at": alarm.acked_at, "kind": "ack", "label": "确认",
                   "text": f"{alarm.acked_by} 确认" + (f"：{alarm.ack_note}" if alarm.ack_note else "")})
    for c in notes:
        ev.append({"at": c.at, "kind": "comment", "label": "备注", "text": f"{c.author}：{c.text}"})
    if alarm.cleared_at:
        who = "系统自动" if alarm.cleared_by == "system" else alarm.cleared_by
        ev.append({"at": alarm.cleared_at, "kind": "clear", "label": "清除", "text": f"{who}清除：{alarm.clear_reason}"})
    order = {"raised": 0, "severity": 1, "repeat": 2, "ack": 3, "comment": 4, "clear": 5}
    return sorted(ev, key=lambda e: (e["at"], order[e["kind"]]))


@router.get("/console/alarms/{alarm_id:int}")
def alarm_page(alarm_id: int, request: Request, session: DbSession, user: User_, flash: str = "",
               flash_kind: str = "ok"):
    """One alarm's story and its device's recent state history (IOT-5)."""
    alarm = service.get_alarm(session, alarm_id, scope=user.street_scope)
    notes = comments.list_comments(session, alarm_id, scope=user.street_scope)
    device = session.get(Device, alarm.device_id)
    root = session.get(type(alarm), alarm.root_alarm_id) if alarm.root_alarm_id else None
    return render(request, "monitoring/alarm_detail.html", user, "alarms", a=alarm, d=device, root=root,
                  events=alarm_timeline(alarm, notes), notes=notes, states=service.state_history(session,
                                                                                                alarm.device_id, 30),
                  labels=SEVERITY_LABELS, type_labels=TYPE_LABELS, state_labels=STATE_LABELS,
                  liveness=LIVENESS_LABELS, can_handle=user.can(*HANDLERS), can_ticket=user.can(*TICKET_OPENERS),
                  flash=flash, flash_kind=flash_kind)


@router.post("/console/alarms/{alarm_id:int}/{action}")
def alarm_action(alarm_id: int, action: str, request: Request, session: DbSession,
                 user: Annotated[ConsoleUser, Depends(require_console(*HANDLERS))], csrf: Annotated[str, Form()],
                 text: Annotated[str, Form()] = "", back: Annotated[str, Form()] = "",
                 state: Annotated[str, Form()] = "open", severity: Annotated[str, Form()] = ""):
    """ack | clear | comment; `back=detail` returns to the alarm's page, else to the board with
    its filter (`state`, `severity`) kept."""
    state = state if state in ("open", *STATE_LABELS) else "open"
    severity = severity if severity in SEVERITIES else ""
    check_csrf(csrf, user)
    try:
        if action == "ack":
            service.acknowledge(session, alarm_id, by=user.username, note=text.strip(), scope=user.street_scope)
            msg = f"已确认告警 #{alarm_id}"
        elif action == "clear":
            service.clear(session, alarm_id, by=user.username, reason=text.strip(), scope=user.street_scope)
            msg = f"已清除告警 #{alarm_id}"
        elif action == "comment":
            comments.add_comment(session, alarm_id, author=user.username, text=text, scope=user.street_scope)
            msg = f"已添加备注（告警 #{alarm_id}）"
        elif action == "ticket" and user.can(*TICKET_OPENERS):
            from cityops.servicedesk.service import alarm_ticket

            ticket, created = alarm_ticket(session, alarm_id, user.username)
            msg = f"已转服务台工单 {ticket.number}" if created else f"该告警已有工单 {ticket.number}"
            return RedirectResponse(f"/console/tickets/{ticket.id}?{urlencode({'flash': msg})}", status_code=303)
        else:
            raise NotFound(f"操作 {action!r} 不存在")
    except Problem as exc:
        session.rollback()
        if exc.status == 404:
            raise
        if back == "detail":
            return alarm_page(alarm_id, request, session, user, flash=f"操作失败：{exc.detail}", flash_kind="err")
        return alarm_board(request, session, user, state=state, severity=severity,
                           flash=f"操作失败：{exc.detail}", flash_kind="err")
    if back == "detail":
        return RedirectResponse(f"/console/alarms/{alarm_id}?{urlencode({'flash': msg})}", status_code=303)
    query = {"state": state, **({"severity": severity} if severity else {}), "flash": msg}
    return RedirectResponse(f"/console/alarms?{urlencode(query)}", status_code=303)


def _kpi_period(days: int) -> int:
    return days if days in (7, 30, 90) else 30


@router.get("/console/kpi")
def kpi_page(request: Request, session: DbSession, user: User_, dim: str = "street_code", days: int = 30,
             hours: int = 24):
    """Device KPIs (IOT-5): live online rate, its daily history, MTTA/MTTC, top flapping devices."""
    from cityops.devices.models import DEVICE_TYPES
    from cityops.geo.service import list_streets

    scope = user.street_scope
    dim = dim if dim in kpi.DIMENSIONS else "street_code"
    days, hours = _kpi_period(days), hours if hours in (24, 168, 720) else 24
    today = local(utcnow()).date()
    d0, d1 = kpi_history.parse_period(None, today, default_days=days)
    streets = {s.code: s.name for s in list_streets(session)}
    overall_rows = kpi_history.daily_online_rate(session, dimension="overall", start=d0, end=d1, scope=scope)
    dim_rows = kpi_history.daily_online_rate(session, dimension=dim, start=d0, end=d1, scope=scope)
    history = _chart_history(session, d0, d1, overall_rows, dim_rows, dim, scope)
    flapping = kpi_history.top_flapping(session, since=utcnow() - timedelta(hours=hours), scope=scope, limit=10)
    since, until = kpi_history.day_bounds(d0, d1)  # the same local days as the tables below
    return render(request, "monitoring/kpi.html", user, "kpi", overall=kpi.overall(session, scope=scope),
                  flapping=flapping, hours=hours, days=days, dim=dim, d0=d0, d1=d1,
                  dims={k: v for k, v in kpi_history.DIMENSION_LABELS.items() if k != "overall"},
                  history=history, has_history=bool(overall_rows),
                  by_street=kpi.online_rate(session, by="street_code", scope=scope),
                  by_vendor=kpi.online_rate(session, by="vendor", scope=scope),
                  by_type=kpi.online_rate(session, by="device_type", scope=scope),
                  times=kpi.alarm_times(session, since=since, until=until, scope=scope),
                  times_by_street=kpi_history.alarm_times_by(session, group="street", start=d0, end=d1, scope=scope),
                  streets=streets, types=DEVICE_TYPES)


def _chart_history(session, d0, d1, overall_rows, dim_rows, dim, scope, top: int = 12) -> dict:
    """Series for the line chart: overall plus the `top` largest groups of the dimension (in %)."""
    day_list = [d0 + timedelta(days=i) for i in range((d1 - d0).days + 1)]
    pct = lambda r: None if r["rate"] is None else round(r["rate"] * 100, 2)
    by_key: dict[str, dict] = {}
    size: dict[str, int] = {}
    for r in dim_rows:
        by_key.setdefault(r["key"], {})[r["day"]] = pct(r)
        size[r["key"]] = max(size.get(r["key"], 0), r["devices"])
    keys = sorted(size, key=lambda k: -size[k])[:top]
    names = kpi_history.key_labels(session, dim, keys)
    whole = kpi_history.key_labels(session, "overall", [kpi_history.OVERALL_KEY], scope=scope)
    overall = {r["day"]: pct(r) for r in overall_rows}
    return {"days": [d.isoformat() for d in day_list],
            "series": [{"name": f"{whole[kpi_history.OVERALL_KEY]}（总体）", "overall": True,
                        "data": [overall.get(d) for d in day_list]}]
            + [{"name": names.get(k, k), "data": [by_key[k].get(d) for d in day_list]} for k in keys]}


@router.get("/console/kpi/export/{kind}")
def kpi_export_page(kind: str, session: DbSession, user: User_, fmt: Annotated[str, Query(alias="format")] = "xlsx",
                    dimension: str = "overall", by: str = "street_code",
                    start: Annotated[str | None, Query(alias="from")] = None,
                    end: Annotated[str | None, Query(alias="to")] = None):
    """The console's download buttons: the same sheets as /api/v1/kpi/online-rate[/daily]."""
    if fmt not in ("csv", "xlsx"):
        raise Invalid("导出格式（format）应为 csv 或 xlsx")
    scope = user.street_scope
    if kind == "daily":
        kpi_history.check_dimension(dimension)
        d0, d1 = kpi_history.parse_period(start, end)
        return kpi_export.daily_download(session, fmt, dimension=dimension, start=d0, end=d1, scope=scope)
    if kind == "live":
        if by not in kpi.DIMENSIONS:
            raise Invalid(f"不能按 {by!r} 分组")
        return kpi_export.live_download(session, fmt, by=by, scope=scope)
    raise NotFound(f"导出类型 {kind!r} 不存在")


@router.get("/console/maintenance")
def maintenance_page(request: Request, session: DbSession, user: User_, flash: str = "", flash_kind: str = "ok"):
    from cityops.devices.service import list_tags
    from cityops.geo.service import list_streets

    return render(request, "monitoring/maintenance.html", user, "maintenance",
                  windows=maintenance.list_windows(session), streets=list_streets(session), tags=list_tags(session),
                  can_plan=user.can("admin", "manager", "technician"), flash=flash, flash_kind=flash_kind)


@router.post("/console/maintenance")
def maintenance_create(request: Request, session: DbSession,
                       user: Annotated[ConsoleUser, Depends(require_console("admin", "manager", "technician"))],
                       csrf: Annotated[str, Form()], name: Annotated[str, Form()], scope_kind: Annotated[str, Form()],
                       scope_value: Annotated[str, Form()], starts_at: Annotated[str, Form()],
                       ends_at: Annotated[str, Form()], reason: Annotated[str, Form()] = ""):
    """Times come from datetime-local inputs, read as Beijing time."""
    from datetime import datetime

    from cityops.core.timeutil import SHANGHAI

    check_csrf(csrf, user)
    try:
        start = datetime.fromisoformat(starts_at).replace(tzinfo=SHANGHAI)
        end = datetime.fromisoformat(ends_at).replace(tzinfo=SHANGHAI)
        maintenance.create(session, name=name, scope_kind=scope_kind, scope_value=scope_value.strip(),
                           starts_at=start, ends_at=end, reason=reason, created_by=user.username)
    except (Problem, ValueError) as exc:
        session.rollback()
        msg = exc.detail if isinstance(exc, Problem) else f"时间格式不正确：{exc}"
        return maintenance_page(request, session, user, flash=f"创建失败：{msg}", flash_kind="err")
    return RedirectResponse("/console/maintenance?flash=已创建维护窗口", status_code=303)
