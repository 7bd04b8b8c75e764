"""Console page 流转监控 (IOT-6, issue #5 item 6): the duty officer's flow board — open events
per state × SLA state, live warnings with acknowledge buttons, dispatch outbox and platform
health, results not back, surges — refreshed every 30 s; and the watch settings form."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.core.timeutil import utcnow
from cityops.duty.models import Team
from cityops.events import watch
from cityops.events.watch_models import KIND_LABELS, KINDS, WARNING_STATE_LABELS
from cityops.notify.models import ChannelConfig
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor", "street")
ACKERS = ("admin", "manager", "duty", "street")
ADMINS = ("admin", "manager")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Acker_ = Annotated[ConsoleUser, Depends(require_console(*ACKERS))]
Admin_ = Annotated[ConsoleUser, Depends(require_console(*ADMINS))]
SEVERITY_LABELS = {"critical": "紧急", "major": "重要", "warning": "警告", "info": "提示"}
BREAKER_LABELS = {"closed": "正常", "open": "熔断中", "half_open": "试探恢复"}
NUMBER_FIELDS = ("warn_pct", "outbox_attempts", "outbox_pending_min", "result_hours", "verify_failures",
                 "verify_window_h", "surge_min_count")


def _page(request: Request, session, user: ConsoleUser, *, kind: str = "", flash: str = "", flash_kind: str = "ok",
          form: dict | None = None, status_code: int = 200):
    scope = user.street_scope
    data = watch.board(session, now=utcnow(), scope=scope)
    rows = watch.list_warnings(session, kind=kind if kind in KINDS else None, scope=scope, limit=200)
    ctx = {}
    if user.can(*ADMINS):
        cfg = watch.get_settings(session)
        ctx = {"cfg": form or {f: getattr(cfg, f) for f in watch.FIELDS},
               "teams": list(session.scalars(select(Team).order_by(Team.code))),
               "channels": list(session.scalars(select(ChannelConfig).order_by(ChannelConfig.id)))}
    return render(request, "events/flow_board.html", user, "flow_board", status_code=status_code, board=data,
                  rows=rows, kind=kind, kinds=KINDS, kind_labels=KIND_LABELS, state_labels=WARNING_STATE_LABELS,
                  severity_labels=SEVERITY_LABELS, breaker_labels=BREAKER_LABELS, can_ack=user.can(*ACKERS),
                  can_edit=user.can(*ADMINS), flash=flash, flash_kind=flash_kind, **ctx)


@router.get("/console/flow-board")
def flow_board(request: Request, session: DbSession, user: Reader_, kind: str = ""):
    return _page(request, session, user, kind=kind, flash=request.query_params.get("flash", ""))


@router.post("/console/flow-board/warnings/{warning_id:int}/ack")
def ack(warning_id: int, request: Request, session: DbSession, user: Acker_, csrf: Annotated[str, Form()],
        kind: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        watch.acknowledge(session, warning_id, by=user.username, now=utcnow(), scope=user.street_scope)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, kind=kind, flash=f"确认失败：{exc.detail}", flash_kind="err",
                     status_code=exc.status)
    back = f"/console/flow-board?kind={quote(kind)}&" if kind else "/console/flow-board?"
    return RedirectResponse(f"{back}flash={quote(f'已确认预警 #{warning_id}')}", status_code=303)


@router.post("/console/flow-board/settings")
async def save_settings(request: Request, session: DbSession, user: Admin_):
    form = await request.form()
    check_csrf(form.get("csrf"), user)
    raw = {f: str(form.get(f, "")).strip() for f in (*NUMBER_FIELDS, "surge_factor", "notify_team")}
    channels = [int(c) for c in form.getlist("notify_channels") if str(c).isdigit()]
    shown = {**raw, "notify_channels": channels, "quiet_info": bool(form.get("quiet_info"))}
    try:
        try:
            values = {f: int(raw[f]) if raw[f] else None for f in NUMBER_FIELDS}
            values["surge_factor"] = float(raw["surge_factor"]) if raw["surge_factor"] else None
        except ValueError:
            raise ValueError("阈值需要填写数字") from None
        watch.update_settings(session, by=user.username, notify_team=raw["notify_team"], notify_channels=channels,
                              quiet_info=shown["quiet_info"], **values)
    except (Problem, ValueError) as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, Problem) else str(exc)
        return _page(request, session, user, flash=f"保存失败：{detail}", flash_kind="err", form=shown,
                     status_code=422)
    return RedirectResponse(f"/console/flow-board?flash={quote('已保存流转监控设置')}#flow-settings", status_code=303)
