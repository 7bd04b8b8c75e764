"""Console page 派单对接 (IOT-7 / SYS-DISPATCH): the configured dispatch platforms with their
circuit breaker and polling state, a form to add or change one, what is stuck in the outbox
(retry / cancel), and the latest updates that came back."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.core.timeutil import utcnow
from cityops.dispatch import outbox, results, service
from cityops.dispatch.adapters import registry
from cityops.dispatch.models import DispatchUpdate, WorkOrder
from cityops.events.models import CityEvent
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager")
OPERATORS = ("admin", "manager", "duty")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
Operator_ = Annotated[ConsoleUser, Depends(require_console(*OPERATORS))]
BREAKER_LABELS = {"closed": "正常", "open": "熔断中", "half_open": "试探恢复"}


def _page(request: Request, session, user: ConsoleUser, *, form: dict[str, Any] | None = None, flash: str = "",
          flash_kind: str = "ok", status_code: int = 200):
    platforms = service.list_platforms(session)
    stuck = service.stuck(session)
    event_ids = {m.event_id for m in stuck}
    updates = list(session.scalars(select(DispatchUpdate).order_by(DispatchUpdate.id.desc()).limit(30)))
    event_ids |= {u.event_id for u in updates if u.event_id}
    numbers = dict(session.execute(select(CityEvent.id, CityEvent.number).where(CityEvent.id.in_(event_ids))).all())
    open_orders = session.scalar(select(func.count()).select_from(WorkOrder).where(
        WorkOrder.state.in_(results.OPEN_ORDER_STATES)))
    return render(request, "dispatch/index.html", user, "dispatch", status_code=status_code,
                  platforms=[(p, service.state_of(session, p.id), service.public_settings(p), service.callback_url(p))
                             for p in platforms],
                  counts=service.outbox_counts(session), stuck=stuck, updates=updates, numbers=numbers,
                  open_orders=open_orders, now=utcnow(), breaker_labels=BREAKER_LABELS,
                  kinds=[(k, registry.get(k).label) for k in registry.kinds()],
                  can_edit=user.can(*WRITERS), can_operate=user.can(*OPERATORS),
                  form=form or {"kind": "open311", "poll_interval_s": 60, "status_check_after_min": 30,
                                "enabled": True, "settings": "{\n  \"base_url\": \"\",\n  \"api_key\": \"\"\n}"},
                  flash=flash, flash_kind=flash_kind)


def _back(msg: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"/console/dispatch?flash={quote(msg)}&flash_kind={kind}", status_code=303)


@router.get("/console/dispatch")
def dispatch_page(request: Request, session: DbSession, user: Reader_, edit: int | None = None):
    form = None
    if edit is not None and user.can(*WRITERS):
        p = service.get_platform(session, edit)
        form = {"platform_id": p.id, "name": p.name, "kind": p.kind, "enabled": p.enabled, "is_default": p.is_default,
                "poll_interval_s": p.poll_interval_s, "status_check_after_min": p.status_check_after_min,
                "callback_base_url": p.callback_base_url,
                "settings": json.dumps(service.public_settings(p), ensure_ascii=False, indent=2)}
    return _page(request, session, user, form=form, flash=request.query_params.get("flash", ""),
                 flash_kind=request.query_params.get("flash_kind", "ok"))


@router.post("/console/dispatch")
def save_platform(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                  name: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "open311",
                  settings: Annotated[str, Form()] = "{}", callback_secret: Annotated[str, Form()] = "",
                  callback_base_url: Annotated[str, Form()] = "", enabled: Annotated[str, Form()] = "",
                  is_default: Annotated[str, Form()] = "", poll_interval_s: Annotated[str, Form()] = "60",
                  status_check_after_min: Annotated[str, Form()] = "30", platform_id: Annotated[str, Form()] = ""):
    """Create a platform, or change one (platform_id given). Secrets shown as ****** keep their value."""
    check_csrf(csrf, user)
    raw = {"platform_id": platform_id, "name": name, "kind": kind, "settings": settings,
           "callback_base_url": callback_base_url, "enabled": bool(enabled), "is_default": bool(is_default),
           "poll_interval_s": poll_interval_s, "status_check_after_min": status_check_after_min}
    try:
        try:
            parsed = json.loads(settings or "{}")
            if not isinstance(parsed, dict):
                raise ValueError
            values = {"name": name, "settings": parsed, "callback_base_url": callback_base_url.strip(),
                      "enabled": bool(enabled), "is_default": bool(is_default),
                      "poll_interval_s": int(poll_interval_s), "status_check_after_min": int(status_check_after_min)}
        except ValueError:
            raise ValueError("平台参数须为 JSON 对象，轮询间隔与核对时限须为整数") from None
        if callback_secret.strip():
            values["callback_secret"] = callback_secret.strip()
        if platform_id.strip():
            p = service.update_platform(session, int(platform_id), **values)
            msg = f"已保存派单平台“{p.name}”"
        else:
            p = service.create_platform(session, kind=kind, **values)
            msg = f"已创建派单平台“{p.name}”，回调密钥已生成"
    except (Problem, ValueError) as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, Problem) else str(exc)
        if isinstance(exc, Problem) and exc.extra.get("errors"):
            detail += "：" + "；".join(f"{'.'.join(map(str, e['loc']))} {e['msg']}" for e in exc.extra["errors"])
        return _page(request, session, user, form=raw, flash=f"保存失败：{detail}", flash_kind="err",
                     status_code=422)
    return _back(msg)


@router.post("/console/dispatch/outbox/{message_id:int}")
def outbox_action(message_id: int, session: DbSession, user: Operator_, csrf: Annotated[str, Form()],
                  action: Annotated[str, Form()], reason: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        done = outbox.act(session, message_id, action, actor=user.username, reason=reason)
    except Problem as exc:
        session.rollback()
        return _back(f"操作失败：{exc.detail}", "err")
    return _back(f"派单消息 #{message_id} {done}")
