"""Console: the live alarm board and a device's state history (IOT-5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.devices.models import Device
from cityops.monitoring import kpi, maintenance, service
from cityops.monitoring.models import SEVERITIES
from cityops.web.shell import ConsoleUser, check_csrf, console_user, render, require_console

router = APIRouter(include_in_schema=False)
User_ = Annotated[ConsoleUser, Depends(console_user)]
HANDLERS = ("admin", "manager", "duty", "technician", "street")
SEVERITY_LABELS = {"critical": "紧急", "major": "重要", "warning": "警告", "info": "提示"}
TYPE_LABELS = {"offline": "设备离线", "silent": "仅心跳无数据"}


@router.get("/console/alarms")
def alarm_board(request: Request, session: DbSession, user: User_, state: str = "open", severity: str = "",
                flash: str = "", flash_kind: str = "ok"):
    rows, total = service.list_alarms(session, open_only=state == "open", state=None if state in ("open", "")
                                      else state, severity=severity or None, scope=user.street_scope,
                                      include_suppressed=False, limit=200)
    rows.sort(key=lambda a: (-SEVERITIES.index(a.severity) if a.severity in SEVERITIES else 0, a.state != "active"))
    ids = {a.device_id for a in rows}
    names = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(ids)))} if ids else {}
    folded = service.folded_counts(session, [a.id for a in rows if a.alarm_type == "offline"])
    counts = {s: sum(1 for a in rows if a.severity == s) for s in SEVERITIES}
    return render(request, "monitoring/alarms.html", user, "alarms", rows=rows, total=total, devices=names,
                  state=state, severity=severity, counts=counts, folded=folded, labels=SEVERITY_LABELS,
                  type_labels=TYPE_LABELS, can_handle=user.can(*HANDLERS), flash=flash, flash_kind=flash_kind)


@router.post("/console/alarms/{alarm_id}/{action}")
def alarm_action(alarm_id: int, action: str, request: Request, session: DbSession,
                 user: Annotated[ConsoleUser, Depends(require_console(*HANDLERS))], csrf: Annotated[str, Form()],
                 text: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        if action == "ack":
            service.acknowledge(session, alarm_id, by=user.username, note=text.strip(), scope=user.street_scope)
            msg = f"已确认告警 #{alarm_id}"
        elif action == "clear":
            service.clear(session, alarm_id, by=user.username, reason=text.strip(), scope=user.street_scope)
            msg = f"已清除告警 #{alarm_id}"
        else:
            from cityops.core.errors import NotFound

            raise NotFound("action", action)
    except Problem as exc:
        session.rollback()
        return alarm_board(request, session, user, flash=f"操作失败：{exc.detail}", flash_kind="err")
    return RedirectResponse(f"/console/alarms?flash={msg}", status_code=303)


@router.get("/console/kpi")
def kpi_page(request: Request, session: DbSession, user: User_):
    """Device online rate by street, vendor and type; alarm handling times (IOT-5)."""
    from cityops.devices.models import DEVICE_TYPES
    from cityops.geo.service import list_streets

    from datetime import timedelta

    from cityops.core.timeutil import utcnow

    streets = {s.code: s.name for s in list_streets(session)}
    scope = user.street_scope
    flaps = service.top_flapping(session, since=utcnow() - timedelta(hours=24), limit=10)
    flap_devices = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_([d for d, _ in flaps])))}
    flapping = [(flap_devices[d], n) for d, n in flaps if d in flap_devices
                and (not scope or flap_devices[d].street_code == scope)]
    return render(request, "monitoring/kpi.html", user, "kpi", overall=kpi.overall(session, scope=scope),
                  flapping=flapping,
                  by_street=kpi.online_rate(session, by="street_code", scope=scope),
                  by_vendor=kpi.online_rate(session, by="vendor", scope=scope),
                  by_type=kpi.online_rate(session, by="device_type", scope=scope),
                  times=kpi.alarm_times(session), streets=streets, types=DEVICE_TYPES)


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
