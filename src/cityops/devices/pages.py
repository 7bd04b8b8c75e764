"""Console pages for devices, connections, dead letters and pending onboarding (IOT-1..IOT-3)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import REF_WRITERS, STAFF, DbSession
from cityops.connectors import registry
from cityops.core.errors import Problem
from cityops.devices import service
from cityops.devices.checks import check_devices
from cityops.devices.models import DEVICE_TYPES, LIFECYCLE_LABELS, TAG_CATEGORIES, Device
from cityops.geo import service as geo
from cityops.ingest import service as ingest
from cityops.ingest.models import DeadLetter
from cityops.web.shell import ConsoleUser, check_csrf, console_user, render, require_console

router = APIRouter(include_in_schema=False)
User_ = Annotated[ConsoleUser, Depends(console_user)]
EDITORS = (*REF_WRITERS, "technician")
Staff = Annotated[ConsoleUser, Depends(require_console(*STAFF))]
Editor = Annotated[ConsoleUser, Depends(require_console(*EDITORS))]
Admin = Annotated[ConsoleUser, Depends(require_console(*REF_WRITERS))]
PAGE = 50
MAP_LIMIT = 20_000


def _labels() -> dict:
    return {"types": DEVICE_TYPES, "lifecycle": LIFECYCLE_LABELS, "tag_categories": TAG_CATEGORIES}


@router.get("/console/devices")
def devices_page(request: Request, session: DbSession, user: User_, street: str = "", grid: str = "",
                 device_type: str = "", vendor: str = "", platform: str = "", status: str = "", tag: str = "",
                 q: str = "", online: str = "", page: int = 1, view: str = "table"):
    filters = dict(scope=user.street_scope, street=street or None, grid=grid or None,
                   device_type=device_type or None, vendor=vendor or None, platform=platform or None,
                   status=status or None, tag_ids=[int(tag)] if tag.isdigit() else None, q=q or None,
                   online={"1": True, "0": False}.get(online))
    page = max(page, 1)
    rows, total = service.list_devices(session, limit=PAGE, offset=(page - 1) * PAGE, **filters)
    points = []
    if view == "map":
        stmt = service.device_query(**filters).where(Device.lon.is_not(None)).limit(MAP_LIMIT)
        points = [[d.lon, d.lat, d.name, d.id, d.online] for d in session.scalars(stmt)]
    streets = geo.list_streets(session, scope=user.street_scope)
    vendors = sorted({v for v in session.scalars(select(Device.vendor).distinct()) if v})
    args = {k: v for k, v in dict(street=street, grid=grid, device_type=device_type, vendor=vendor,
                                   platform=platform, status=status, tag=tag, q=q, online=online).items() if v}
    return render(request, "devices/list.html", user, "devices", devices=rows, total=total, page=page, size=PAGE,
                  streets=streets, grids=geo.list_grids(session, street=street or None, scope=user.street_scope),
                  vendors=vendors, platforms=registry.kinds(), tags=service.list_tags(session), args=args,
                  view=view, points=points, streets_fc=geo.feature_collection(streets, "street") if view == "map"
                  else None, street_names={s.code: s.name for s in streets}, **_labels())


@router.get("/console/devices/{device_id:int}")
def device_page(device_id: int, request: Request, session: DbSession, user: User_, flash: str = "",
                flash_kind: str = "ok"):
    d = service.get_device(session, device_id, scope=user.street_scope)
    from cityops.monitoring.service import list_alarms, state_history

    return render(request, "devices/detail.html", user, "devices", d=d, versions=service.versions(session, d.id),
                  states=state_history(session, d.id, 20), alarms=list_alarms(session, device_id=d.id, limit=10)[0],
                  children=service.children(session, d.id), messages=ingest.recent_messages(session, d.id, 20),
                  product=d.product, streets=geo.list_streets(session), units=geo.list_units(session),
                  tags=service.list_tags(session), can_edit=user.can(*EDITORS), flash=flash,
                  flash_kind=flash_kind, **_labels())


def _float(v: str) -> float | None:
    v = v.strip()
    return float(v) if v else None


@router.post("/console/devices/{device_id:int}")
def device_update(device_id: int, request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()],
                  name: Annotated[str, Form()], address: Annotated[str, Form()] = "",
                  lon: Annotated[str, Form()] = "", lat: Annotated[str, Form()] = "",
                  street_code: Annotated[str, Form()] = "", grid_code: Annotated[str, Form()] = "",
                  unit_id: Annotated[str, Form()] = "", status: Annotated[str, Form()] = "active",
                  reason: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        service.update_device(session, device_id, reason=reason.strip() or "控制台修改", name=name.strip(),
                              address=address.strip(), lon=_float(lon), lat=_float(lat),
                              street_code=street_code or None, grid_code=grid_code or None,
                              unit_id=int(unit_id) if unit_id else None, status=status)
        check_devices(session, [device_id])
    except (Problem, ValueError) as exc:
        session.rollback()
        msg = exc.detail if isinstance(exc, Problem) else f"坐标格式不正确：{exc}"
        return device_page(device_id, request, session, user, flash=f"保存失败：{msg}", flash_kind="err")
    return RedirectResponse(f"/console/devices/{device_id}?flash=已保存", status_code=303)


@router.post("/console/devices/{device_id:int}/tags")
def device_tag(device_id: int, session: DbSession, user: Editor, csrf: Annotated[str, Form()],
               tag_id: Annotated[int, Form()], remove: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    service.tag_devices(session, tag_id, device_ids=[device_id], remove=remove == "1", reason="控制台标签")
    return RedirectResponse(f"/console/devices/{device_id}?flash=标签已更新", status_code=303)


@router.post("/console/devices/tags/bulk")
def bulk_tag(request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()],
             tag_id: Annotated[int, Form()], filters: Annotated[str, Form()] = "{}",
             remove: Annotated[str, Form()] = ""):
    """Tag every device the list page currently shows (its filter), not only this page (IOT-3)."""
    check_csrf(csrf, user)
    f = {k: v for k, v in json.loads(filters).items()
         if k in ("street", "grid", "device_type", "vendor", "platform", "status", "q") and v}
    n = service.tag_devices(session, tag_id, remove=remove == "1", reason="控制台批量标签",
                            scope=user.street_scope, **f)
    query = "&".join(f"{k}={v}" for k, v in f.items())
    return RedirectResponse(f"/console/devices?{query}&flash=已更新 {n} 台设备的标签", status_code=303)


@router.get("/console/connections")
def connections_page(request: Request, session: DbSession, user: Staff, flash: str = "", flash_kind: str = "ok",
                     created_url: str = ""):
    kinds = [(k, registry.get(k).label, registry.get(k).needs_shared_token) for k in registry.kinds()]
    return render(request, "devices/connections.html", user, "connections",
                  connections=ingest.list_connections(session), kinds=kinds, can_edit=user.can(*REF_WRITERS),
                  flash=flash, flash_kind=flash_kind, created_url=created_url, public=ingest.public_settings)


@router.post("/console/connections")
def connections_create(request: Request, session: DbSession, user: Admin, csrf: Annotated[str, Form()],
                       kind: Annotated[str, Form()], name: Annotated[str, Form()],
                       settings: Annotated[str, Form()] = "{}", allowed_ips: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        parsed = json.loads(settings or "{}")
        if not isinstance(parsed, dict):
            raise ValueError("设置必须是 JSON 对象")
        ips = [x.strip() for x in allowed_ips.replace("，", ",").split(",") if x.strip()]
        conn = ingest.create_connection(session, kind=kind, name=name, settings=parsed, allowed_ips=ips,
                                        created_by=user.username)
    except (Problem, ValueError) as exc:
        session.rollback()
        msg = exc.detail if isinstance(exc, Problem) else f"设置不是有效的 JSON：{exc}"
        return connections_page(request, session, user, flash=f"创建失败：{msg}", flash_kind="err")
    url = str(request.base_url).rstrip("/") + ingest.push_path(conn)
    return connections_page(request, session, user, flash=f"已创建接入连接 {conn.name}", created_url=url)


@router.get("/console/dead-letters")
def dead_letters_page(request: Request, session: DbSession, user: Staff, state: str = "new", page: int = 1,
                      flash: str = "", flash_kind: str = "ok"):
    page = max(page, 1)
    rows, total = ingest.list_dead_letters(session, state=state or None, limit=PAGE, offset=(page - 1) * PAGE)
    names = {c.id: c.name for c in ingest.list_connections(session)}
    previews = {r.id: (len(r.raw or b""), (r.raw or b"")[:160].decode("utf-8", "replace")) for r in rows}
    return render(request, "devices/dead_letters.html", user, "dead_letters", rows=rows, total=total, page=page,
                  previews=previews,
                  size=PAGE, state=state, names=names, can_handle=user.can("admin", "manager", "technician"),
                  flash=flash, flash_kind=flash_kind)


@router.get("/console/dead-letters/{dl_id}")
def dead_letter_page(dl_id: int, request: Request, session: DbSession, user: Staff):
    dl = session.get(DeadLetter, dl_id)
    if dl is None:
        from cityops.core.errors import NotFound

        raise NotFound(f"死信 #{dl_id} 不存在")
    try:
        text = dl.raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return render(request, "devices/dead_letter.html", user, "dead_letters", dl=dl, text=text, size=len(dl.raw or b""),
                  can_handle=user.can("admin", "manager", "technician"))


@router.post("/console/dead-letters/{dl_id}/{action}")
def dead_letter_action(dl_id: int, action: str, request: Request, session: DbSession,
                       user: Annotated[ConsoleUser, Depends(require_console("admin", "manager", "technician"))],
                       csrf: Annotated[str, Form()], note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    ctx = request.app.state.ctx
    if action == "replay":
        session.commit()
        out = ingest.replay(ctx.db, dl_id, actor=user.username, var_dir=ctx.settings.var_dir)
        msg = f"重放成功，接收 {out.accepted} 条消息" if out.status == 200 else f"重放仍被拒绝：{out.reason}"
        kind = "ok" if out.status == 200 else "err"
    elif action == "discard":
        ingest.discard(session, dl_id, actor=user.username, note=note)
        msg, kind = f"已丢弃死信 #{dl_id}", "ok"
    else:
        from cityops.core.errors import NotFound

        raise NotFound(f"操作“{action}”不存在")
    return RedirectResponse(f"/console/dead-letters?flash={msg}&flash_kind={kind}", status_code=303)


@router.get("/console/pending")
def pending_page(request: Request, session: DbSession, user: Staff, flash: str = "", flash_kind: str = "ok"):
    names = {c.id: (c.name, c.kind) for c in ingest.list_connections(session)}
    return render(request, "devices/pending.html", user, "pending", rows=ingest.list_pending(session), names=names,
                  products=service.list_products(session), can_handle=user.can(*EDITORS), flash=flash,
                  flash_kind=flash_kind)


@router.post("/console/pending/{pending_id}")
def pending_action(pending_id: int, request: Request, session: DbSession, user: Editor,
                   csrf: Annotated[str, Form()], action: Annotated[str, Form()], name: Annotated[str, Form()] = "",
                   product_id: Annotated[str, Form()] = "", address: Annotated[str, Form()] = "",
                   lon: Annotated[str, Form()] = "", lat: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        if action == "ignore":
            ingest.ignore_pending(session, pending_id)
            return RedirectResponse("/console/pending?flash=已忽略", status_code=303)
        if not product_id.isdigit():
            raise ValueError("请选择产品型号")
        device = ingest.onboard(session, pending_id, name=name.strip() or "未命名设备", product_id=int(product_id),
                                address=address.strip(), lon=_float(lon), lat=_float(lat), reason="控制台接入")
    except (Problem, ValueError) as exc:
        session.rollback()
        msg = exc.detail if isinstance(exc, Problem) else str(exc)
        return pending_page(request, session, user, flash=f"接入失败：{msg}", flash_kind="err")
    return RedirectResponse(f"/console/devices/{device.id}?flash=设备已接入", status_code=303)
