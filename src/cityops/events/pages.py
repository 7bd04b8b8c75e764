"""Console (IOT-6, SYS-DISPATCH): the event list, an event's page with its timeline and
the classification tree."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.core.timeutil import SHANGHAI
from cityops.events import lifecycle, routing, service, verify
from cityops.events.models import LEVELS, SEVERITIES, SOURCE_KINDS
from cityops.geo.service import list_streets
from cityops.web.shell import (
    ConsoleUser,
    check_csrf,
    console_user,
    render,
    require_console,
)

router = APIRouter(include_in_schema=False)
User_ = Annotated[ConsoleUser, Depends(console_user)]
CREATORS = ("admin", "manager", "duty")
MOVERS = ("admin", "manager", "duty", "street")
SEVERITY_LABELS = {"critical": "紧急", "major": "重要", "warning": "一般", "info": "提示"}
SOURCE_LABELS = {"iot_alarm": "物联告警", "vision": "视频智能识别", "hotline": "12345热线", "citizen": "市民上报",
                 "patrol": "巡查发现", "manual": "人工录入", "open311": "Open311"}
STATE_CLASSES = {"reported": "warn", "accepted": "", "dispatched": "", "in_progress": "warn", "disposed": "ok",
                 "verified": "ok", "closed": "ok", "rejected": "err", "merged": ""}


ORDER_LABELS = {"pending": "待发送", "submitted": "已派发", "accepted": "已受理", "in_progress": "处置中",
                "disposed": "已处置", "returned": "已退回", "closed": "已关闭", "failed": "发送失败",
                "cancelled": "已取消"}
UPDATE_SOURCES = {"callback": "回调", "poll": "轮询", "status": "状态核对"}


def _labels() -> dict:
    return {"order_labels": ORDER_LABELS, "update_sources": UPDATE_SOURCES, "state_labels": lifecycle.STATE_LABELS, "state_classes": STATE_CLASSES,
            "severity_labels": SEVERITY_LABELS, "source_labels": SOURCE_LABELS,
            "action_labels": lifecycle.ACTION_LABELS}


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/console/events")
def event_list(request: Request, session: DbSession, user: User_, state: str = "open", category: str = "",
               street: str = "", source: str = "", severity: str = "", date_from: str = "", date_to: str = "",
               q: str = "", page: int = 1):
    """The event list (IOT-6); the table part refreshes itself through htmx."""
    d0, d1 = _date(date_from), _date(date_to)
    per = 50
    page = max(page, 1)
    rows, total = service.list_events(
        session, state=state or None, category_code=category or None, street=street or None,
        source_kind=source or None, severity=severity or None,
        since=datetime.combine(d0, time(), SHANGHAI) if d0 else None,
        until=datetime.combine(d1 + timedelta(days=1), time(), SHANGHAI) if d1 else None,
        q=q or None, scope=user.street_scope, limit=per, offset=(page - 1) * per)
    cats = service.list_categories(session)
    names = {c.id: c.name for c in cats}
    filters = {"state": state, "category": category, "street": street, "source": source, "severity": severity,
               "date_from": date_from, "date_to": date_to, "q": q}
    ctx = dict(rows=rows, total=total, page=page, pages=max(1, -(-total // per)), filters=filters,
               query=urlencode({k: v for k, v in filters.items() if v}), cat_names=names,
               categories=[c for c in cats if c.level < 3], streets=list_streets(session, scope=user.street_scope),
               states=lifecycle.STATES, severities=SEVERITIES, sources=SOURCE_KINDS,
               street_names={st.code: st.name for st in list_streets(session)},
               can_create=user.can(*CREATORS), **_labels())
    if request.headers.get("hx-request"):
        return render(request, "events/_rows.html", user, "events", **ctx)
    return render(request, "events/list.html", user, "events", **ctx)


@router.get("/console/events/{event_id:int}")
def event_page(event_id: int, request: Request, session: DbSession, user: User_, flash: str = "",
               flash_kind: str = "ok"):
    ev = service.get_event(session, event_id, scope=user.street_scope)
    parent = service.get_event(session, ev.merged_into_id) if ev.merged_into_id else None
    nxt = lifecycle.allowed_next(ev.state, user.role) if user.can(*MOVERS) else []
    transitions = service.transitions_of(session, ev.id)
    link = _dispatch_link(session, ev.id)
    return render(request, "events/detail.html", user, "events", ev=ev, parent=parent,
                  timeline=_timeline(transitions, link), link=link, unit=_unit(session, ev.unit_id),
                  decisions=routing.decisions(session, ev.id), verifications=verify.verifications(session, ev.id),
                  can_route=user.can(*CREATORS) and ev.state not in routing.CLOSED_STATES,
                  can_dispatch=user.can(*CREATORS),
                  category_path=service.category_path(session, service.get_category(session, ev.category_id)),
                  transitions=transitions, attachments=service.attachments_of(session, ev.id),
                  children=service.merged_children(session, ev.id), next_states=nxt,
                  street_names={st.code: st.name for st in list_streets(session)},
                  reason_needed={s: lifecycle.needs_reason(ev.state, s) for s in nxt},
                  next_actions={s: lifecycle.TRANSITIONS[(ev.state, s)][0] for s in nxt},
                  can_upload=user.can(*MOVERS), can_unmerge=user.can(*CREATORS) and ev.state == "merged",
                  flash=flash, flash_kind=flash_kind, **_labels())


def _unit(session, unit_id: int | None):
    from cityops.geo.models import ResponsibleUnit

    return session.get(ResponsibleUnit, unit_id) if unit_id else None


def _dispatch_link(session, event_id: int) -> dict:
    from cityops.dispatch import service as dispatch

    return {"orders": dispatch.orders_of(session, event_id), "messages": dispatch.outbox_of(session, event_id),
            "updates": dispatch.updates_of(session, event_id),
            "platforms": {p.id: p.name for p in dispatch.list_platforms(session)}}


def _timeline(transitions, link: dict) -> list[dict]:
    """Every transition, every message to the dispatch platform and every update from it,
    in time order (IOT-7: the event's whole story on one page)."""
    items = [{"at": t.at, "kind": "transition", "t": t} for t in transitions]
    for m in link["messages"]:
        if m.sent_at:
            items.append({"at": m.sent_at, "kind": "sent", "m": m})
        elif m.state in ("failed", "cancelled") or m.attempts:
            items.append({"at": m.created_at, "kind": "message", "m": m})
    items += [{"at": u.received_at if u.source == "status" else u.at, "kind": "update", "u": u}
              for u in link["updates"]]
    return sorted(items, key=lambda i: (i["at"], {"transition": 1}.get(i["kind"], 0)))


def _back(event_id: int, message: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"/console/events/{event_id}?" + urlencode({"flash": message, "flash_kind": kind}),
                            status_code=303)


@router.post("/console/events/{event_id:int}/transition")
def event_transition(event_id: int, session: DbSession, user: Annotated[ConsoleUser, Depends(require_console(*MOVERS))],
                     to: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
                     reason: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        from cityops.dispatch.service import move

        ev = move(session, event_id, to, actor=user.username, role=user.role, reason=reason, scope=user.street_scope)
    except Problem as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _back(event_id, exc.detail, "err")
    return _back(event_id, f"事件 {ev.number} 已变为“{lifecycle.STATE_LABELS[ev.state]}”")


@router.post("/console/events/{event_id:int}/route")
def event_route(event_id: int, session: DbSession,
                user: Annotated[ConsoleUser, Depends(require_console(*CREATORS))], csrf: Annotated[str, Form()] = ""):
    """智能派单: choose the responsible unit by the routing rules and keep why."""
    check_csrf(csrf, user)
    try:
        d = routing.assign(session, event_id, actor=user.username, scope=user.street_scope)
    except Problem as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _back(event_id, exc.detail, "err")
    return _back(event_id, f"智能派单：责任单位为 {d.unit.name}（{d.lines[0] if d.lines else d.basis}）")


@router.post("/console/events/{event_id:int}/dispatch-message/{message_id:int}")
def event_dispatch_message(event_id: int, message_id: int, session: DbSession,
                           user: Annotated[ConsoleUser, Depends(require_console(*CREATORS))],
                           action: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
                           reason: Annotated[str, Form()] = ""):
    """Retry or cancel a work-order message that did not go out."""
    from cityops.dispatch import outbox
    from cityops.dispatch.models import DispatchOutbox

    check_csrf(csrf, user)
    service.get_event(session, event_id, scope=user.street_scope)
    msg = session.get(DispatchOutbox, message_id)
    if msg is None or msg.event_id != event_id:
        return _back(event_id, "没有这条派单消息", "err")
    try:
        done = outbox.act(session, message_id, action, actor=user.username, reason=reason)
    except Problem as exc:
        session.rollback()
        return _back(event_id, exc.detail, "err")
    return _back(event_id, f"派单消息 #{message_id} {done}")


@router.post("/console/events/{event_id:int}/unmerge")
def event_unmerge(event_id: int, session: DbSession,
                  user: Annotated[ConsoleUser, Depends(require_console(*CREATORS))],
                  csrf: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        ev = service.unmerge(session, event_id, actor=user.username, reason=reason, scope=user.street_scope)
    except Problem as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _back(event_id, exc.detail, "err")
    return _back(event_id, f"事件 {ev.number} 已取消合并，成为独立事件（待立案）")


@router.post("/console/events/{event_id:int}/attachments")
async def event_upload(event_id: int, request: Request, session: DbSession, file: UploadFile,
                       user: Annotated[ConsoleUser, Depends(require_console(*MOVERS))],
                       csrf: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    data = await file.read(service.MAX_ATTACHMENT_BYTES + 1)
    try:
        att = service.add_attachment(session, event_id, var_dir=request.app.state.ctx.settings.var_dir,
                                     name=file.filename or "", content_type=file.content_type or "", data=data,
                                     by=user.username, scope=user.street_scope)
    except Problem as exc:
        if exc.status == 404:
            raise
        return _back(event_id, exc.detail, "err")
    return _back(event_id, f"已上传附件 {att.name}")


@router.get("/console/events/{event_id:int}/attachments/{attachment_id:int}")
def event_attachment(event_id: int, attachment_id: int, request: Request, session: DbSession, user: User_):
    att, path = service.get_attachment(session, event_id, attachment_id,
                                       var_dir=request.app.state.ctx.settings.var_dir, scope=user.street_scope)
    inline = att.content_type.startswith(("image/", "video/", "audio/")) or att.content_type == "application/pdf"
    return FileResponse(path, media_type=att.content_type, filename=att.name,
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"X-Content-Type-Options": "nosniff"})


@router.get("/console/events/new")
def event_new(request: Request, session: DbSession,
              user: Annotated[ConsoleUser, Depends(require_console(*CREATORS))], flash: str = ""):
    cats = service.list_categories(session, enabled_only=True)
    has_children = {c.parent_id for c in service.list_categories(session)}
    leaves = [c for c in cats if c.id not in has_children]
    return render(request, "events/new.html", user, "events", leaves=leaves, sources=SOURCE_KINDS,
                  severities=SEVERITIES, paths={c.id: service.category_path(session, c) for c in leaves},
                  flash=flash, flash_kind="err" if flash else "ok", **_labels())


@router.post("/console/events/new")
def event_create(request: Request, session: DbSession,
                 user: Annotated[ConsoleUser, Depends(require_console(*CREATORS))],
                 category_id: Annotated[int, Form()], title: Annotated[str, Form()],
                 csrf: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
                 lon: Annotated[str, Form()] = "", lat: Annotated[str, Form()] = "",
                 address: Annotated[str, Form()] = "", severity: Annotated[str, Form()] = "",
                 source_kind: Annotated[str, Form()] = "manual", source_ref: Annotated[str, Form()] = "",
                 reporter_name: Annotated[str, Form()] = "", reporter_phone: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        ev = service.create_event(session, category_id=category_id, title=title, description=description,
                                  lon=float(lon) if lon.strip() else None, lat=float(lat) if lat.strip() else None,
                                  address=address, severity=severity or None, source_kind=source_kind,
                                  source_ref=source_ref, reporter_name=reporter_name, reporter_phone=reporter_phone,
                                  created_by=user.username)
    except ValueError:
        return RedirectResponse("/console/events/new?" + urlencode({"flash": "经纬度必须是数字"}), status_code=303)
    except Problem as exc:
        session.rollback()
        return RedirectResponse("/console/events/new?" + urlencode({"flash": exc.detail}), status_code=303)
    msg = (f"已登记事件 {ev.number}" if ev.state != "merged"
           else f"已登记上报 {ev.number}，与附近同类未结事件合并")
    return _back(ev.id, msg)


# -- classification tree ------------------------------------------------------------------

@router.get("/console/event-categories")
def categories_page(request: Request, session: DbSession, user: User_, flash: str = "", flash_kind: str = "ok"):
    cats = service.list_categories(session)
    children: dict[int | None, list] = {}
    for c in cats:
        children.setdefault(c.parent_id, []).append(c)
    return render(request, "events/categories.html", user, "event_categories", children=children,
                  levels=LEVELS, severities=SEVERITIES, can_edit=user.can("admin", "manager"),
                  total_leaves=sum(1 for c in cats if c.id not in children), flash=flash, flash_kind=flash_kind,
                  merge_radius=service.MERGE_RADIUS_M,
                  merge_window=int(service.MERGE_WINDOW.total_seconds() // 60), **_labels())


def _cat_back(message: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse("/console/event-categories?" + urlencode({"flash": message, "flash_kind": kind}),
                            status_code=303)


def _opt_int(value: str) -> int | None:
    return int(value) if value.strip() else None


@router.post("/console/event-categories")
def category_create(session: DbSession, user: Annotated[ConsoleUser, Depends(require_console("admin", "manager"))],
                    name: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
                    parent_id: Annotated[str, Form()] = "", default_severity: Annotated[str, Form()] = "warning"):
    check_csrf(csrf, user)
    try:
        cat = service.create_category(session, name=name, parent_id=_opt_int(parent_id),
                                      default_severity=default_severity)
    except (Problem, ValueError) as exc:
        session.rollback()
        return _cat_back(getattr(exc, "detail", "") or "上级分类编号需要是整数", "err")
    return _cat_back(f"已新增分类 {cat.code} {cat.name}")


@router.post("/console/event-categories/{category_id:int}")
def category_update(category_id: int, session: DbSession,
                    user: Annotated[ConsoleUser, Depends(require_console("admin", "manager"))],
                    name: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
                    default_severity: Annotated[str, Form()] = "warning", enabled: Annotated[str, Form()] = "",
                    merge_radius_m: Annotated[str, Form()] = "", merge_window_min: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        cat = service.update_category(session, category_id, name=name, default_severity=default_severity,
                                      enabled=bool(enabled), merge_radius_m=_opt_int(merge_radius_m),
                                      merge_window_min=_opt_int(merge_window_min))
    except (Problem, ValueError) as exc:
        session.rollback()
        return _cat_back(getattr(exc, "detail", "") or "合并半径和时间窗必须是整数", "err")
    return _cat_back(f"已保存分类 {cat.code} {cat.name}" + ("" if cat.enabled else "（已停用）"))
