"""Console pages for the upstream device sync (IOT-4 设备升级维护): the change sets, one change
set with its items (before → after) and the apply / reject / roll back buttons, and a
connection's sync source form."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.auth.deps import REF_WRITERS, STAFF, DbSession
from cityops.core.errors import NotFound, Problem
from cityops.devices import sync, upstream
from cityops.devices.models import DEVICE_TYPES, LIFECYCLE_LABELS, Device
from cityops.devices.sync_models import ACTION_LABELS, SET_STATE_LABELS, SET_STATES, ChangeItem
from cityops.ingest import service as ingest
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
Staff = Annotated[ConsoleUser, Depends(require_console(*STAFF))]
Admin = Annotated[ConsoleUser, Depends(require_console(*REF_WRITERS))]
PAGE = 50
ACTIVE = "sync"

FIELD_LABELS = {"name": "名称", "address": "地址", "lon": "经度", "lat": "纬度", "imei": "IMEI", "status": "状态",
                "extra": "扩展字段", "product_key": "上游型号", "product_id": "型号ID", "connection_id": "接入连接",
                "external_id": "上游设备ID", "code": "编码", "device_type": "设备类型", "vendor": "厂商",
                "platform": "平台", "vendor_product_key": "上游型号标识", "model_no": "型号", "properties": "物模型属性"}
STATE_BADGES = {"proposed": "", "applied": "ok", "rejected": "err", "rolled_back": "", "failed": "err",
                "superseded": ""}
OUTCOME_LABELS = {"proposed": "已生成变更集", "applied": "已自动应用", "unchanged": "与待审核变更集相同",
                  "no_changes": "无变化", "declined_before": "与已驳回/回滚的变更相同", "failed": "失败",
                  "error": "内部错误", "": "尚未运行"}
NEW_SOURCE = {"devices_path": "/devices", "products_path": "/products", "page_param": "page", "size_param": "size",
              "items_field": "items", "total_field": "total", "mapping": upstream.DEFAULT_MAPPING,
              "status_map": {}, "product_types": {}}


def _show(value: Any, field: str = "") -> str:
    if value is None or value == "":
        return "—"
    if field == "status":
        return LIFECYCLE_LABELS.get(value, str(value))
    if field == "device_type":
        return DEVICE_TYPES.get(value, str(value))
    if field == "properties" and isinstance(value, list):
        return "、".join(f"{p.get('name') or p.get('identifier')}（{p.get('identifier')}）" for p in value) or "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def item_rows(item: ChangeItem) -> list[tuple[str, str, str]]:
    """(what, before, after) lines a reviewer reads for one item."""
    rows: list[tuple[str, str, str]] = []
    if item.action in ("create", "new_product"):
        for k, v in item.after.items():
            if k in ("product_id", "connection_id") or v in (None, "", {}, []):
                continue
            rows.append((FIELD_LABELS.get(k, k), "", _show(v, k)))
        return rows
    if item.action == "product_update":
        d = item.details
        for p in d.get("added", []):
            rows.append((f"新增属性 {p['identifier']}", "", p.get("name", "")))
        for p in d.get("removed", []):
            rows.append((f"删除属性 {p['identifier']}", p.get("name", ""), ""))
        for p in d.get("renamed", []):
            rows.append((f"属性改名（{p.get('name', '')}）", p["from"], p["to"]))
        for p in d.get("changed", []):
            rows.append((f"属性名称 {p['identifier']}", p["name"][0], p["name"][1]))
        return rows
    for k in item.after:
        if k in ("extra", "product_id"):
            continue
        rows.append((FIELD_LABELS.get(k, k), _show(item.before.get(k), k), _show(item.after.get(k), k)))
    extra = item.details.get("extra")
    if extra:
        for r in extra.get("renamed", []):
            rows.append(("字段改名", f"extra.{r['from']}", f"extra.{r['to']}（{_show(r['value'])}）"))
        for k, v in extra.get("added", {}).items():
            rows.append((f"extra.{k}", "", _show(v)))
        for k, v in extra.get("removed", {}).items():
            rows.append((f"extra.{k}", _show(v), ""))
        for k, (b, a) in extra.get("changed", {}).items():
            rows.append((f"extra.{k}", _show(b), _show(a)))
    return rows


def _labels() -> dict[str, Any]:
    return {"action_labels": ACTION_LABELS, "state_labels": SET_STATE_LABELS, "state_badges": STATE_BADGES,
            "outcome_labels": OUTCOME_LABELS, "states": SET_STATES, "review_labels": sync.REVIEW_REASONS}


@router.get("/console/sync")
def sync_page(request: Request, session: DbSession, user: Staff, state: str = "", connection_id: str = "",
              page: int = 1, flash: str = "", flash_kind: str = "ok"):
    """Sources per connection and the change sets, newest first (IOT-4)."""
    page = max(page, 1)
    state = state if state in SET_STATES else ""
    conn_filter = int(connection_id) if connection_id.isdigit() else None
    rows, total = sync.list_change_sets(session, connection_id=conn_filter, state=state or None, limit=PAGE,
                                        offset=(page - 1) * PAGE)
    connections = ingest.list_connections(session)
    sources = {s.connection_id: s for s in sync.list_sources(session)}
    return render(request, "devices/sync_list.html", user, ACTIVE, rows=rows, total=total, page=page, size=PAGE,
                  state=state, connection_id=conn_filter, connections=connections, sources=sources,
                  names={c.id: c.name for c in connections}, can_edit=user.can(*REF_WRITERS), flash=flash,
                  flash_kind=flash_kind, **_labels())


def _set_page(request: Request, session: Session, user: ConsoleUser, change_set_id: int, *, flash: str = "",
              flash_kind: str = "ok", status_code: int = 200):
    cs = sync.get_change_set(session, change_set_id)
    items = sync.change_items(session, cs.id)
    ids = {i.device_id for i in items if i.device_id}
    codes = dict(session.execute(select(Device.id, Device.code).where(Device.id.in_(ids))).all()) \
        if ids else {}
    conn = ingest.get_connection(session, cs.connection_id)
    return render(request, "devices/sync_change_set.html", user, ACTIVE, status_code=status_code, cs=cs,
                  items=[(i, item_rows(i)) for i in items], codes=codes, conn=conn,
                  review=sync.needs_review(cs, items), can_edit=user.can(*REF_WRITERS), flash=flash,
                  flash_kind=flash_kind, **_labels())


@router.get("/console/sync/change-sets/{change_set_id}")
def change_set_page(change_set_id: int, request: Request, session: DbSession, user: Staff, flash: str = "",
                    flash_kind: str = "ok"):
    return _set_page(request, session, user, change_set_id, flash=flash, flash_kind=flash_kind)


@router.post("/console/sync/change-sets/{change_set_id}/{action}")
def change_set_action(change_set_id: int, action: str, request: Request, session: DbSession, user: Admin,
                      csrf: Annotated[str, Form()], note: Annotated[str, Form()] = "",
                      force: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        if action == "apply":
            cs = sync.apply(session, change_set_id, user.username, note=note.strip())
            errors = cs.summary.get("errors", 0)
            msg = f"已应用 {cs.summary.get('applied', 0)} 项" + (f"，{errors} 项失败（见各项错误）" if errors else "")
            kind = "err" if errors else "ok"
        elif action == "reject":
            sync.reject(session, change_set_id, user.username, note=note.strip())
            msg, kind = "已驳回", "ok"
        elif action == "rollback":
            sync.rollback(session, change_set_id, user.username, note=note.strip(), force=force == "1")
            msg, kind = "已回滚", "ok"
        else:
            raise NotFound(f"操作“{action}”不存在")
    except Problem as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _set_page(request, session, user, change_set_id, flash=f"操作失败：{exc.detail}", flash_kind="err",
                         status_code=exc.status)
    return RedirectResponse(f"/console/sync/change-sets/{change_set_id}?flash={quote(msg)}&flash_kind={kind}",
                            status_code=303)


def _source_page(request: Request, session: Session, user: ConsoleUser, connection_id: int, *, flash: str = "",
                 flash_kind: str = "ok", status_code: int = 200, form: dict | None = None):
    conn = ingest.get_connection(session, connection_id)
    source = sync.find_source(session, connection_id)
    if source is not None:
        shown = sync.public_settings(source)
        base_url, has_token = shown.pop("base_url", ""), bool(source.secret)
        shown.pop("token", None)
    else:
        shown, base_url, has_token = dict(NEW_SOURCE), "", False
    recent, _ = sync.list_change_sets(session, connection_id=connection_id, limit=10)
    values = {"base_url": base_url, "settings": json.dumps(shown, ensure_ascii=False, indent=2),
              "interval_s": source.interval_s if source else 3600, "enabled": source.enabled if source else True,
              "auto_apply": source.auto_apply if source else False, **(form or {})}
    return render(request, "devices/sync_source.html", user, ACTIVE, status_code=status_code, conn=conn,
                  source=source, values=values, has_token=has_token, recent=recent,
                  can_edit=user.can(*REF_WRITERS), flash=flash, flash_kind=flash_kind, **_labels())


@router.get("/console/sync/sources/{connection_id}")
def source_page(connection_id: int, request: Request, session: DbSession, user: Staff, flash: str = "",
                flash_kind: str = "ok"):
    return _source_page(request, session, user, connection_id, flash=flash, flash_kind=flash_kind)


@router.post("/console/sync/sources/{connection_id}")
def source_save(connection_id: int, request: Request, session: DbSession, user: Admin,
                csrf: Annotated[str, Form()], base_url: Annotated[str, Form()] = "",
                token: Annotated[str, Form()] = "", settings: Annotated[str, Form()] = "{}",
                interval_s: Annotated[str, Form()] = "3600", enabled: Annotated[str, Form()] = "",
                auto_apply: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    form = {"base_url": base_url, "settings": settings, "interval_s": interval_s, "enabled": enabled == "1",
            "auto_apply": auto_apply == "1"}
    try:
        parsed = json.loads(settings or "{}")
        if not isinstance(parsed, dict):
            raise ValueError("其他设置必须是 JSON 对象")
        if not interval_s.strip().isdigit():
            raise ValueError("同步间隔必须是整数秒")
        parsed.pop("token", None)
        parsed["base_url"] = base_url.strip()
        parsed["token"] = token.strip() or sync.MASK  # empty field: keep the stored token
        sync.configure_source(session, connection_id, settings=parsed, enabled=enabled == "1",
                              interval_s=int(interval_s), auto_apply=auto_apply == "1")
    except (Problem, ValueError) as exc:
        if isinstance(exc, Problem) and exc.status == 404:
            raise
        session.rollback()
        msg = exc.detail if isinstance(exc, Problem) else str(exc)
        return _source_page(request, session, user, connection_id, flash=f"保存失败：{msg}", flash_kind="err",
                            status_code=422, form=form)
    return RedirectResponse(f"/console/sync/sources/{connection_id}?flash={quote('已保存同步源设置')}",
                            status_code=303)


@router.post("/console/sync/sources/{connection_id}/run")
def source_run(connection_id: int, request: Request, session: DbSession, user: Admin,
               csrf: Annotated[str, Form()]):
    """Pull now; the resulting change set opens for review."""
    check_csrf(csrf, user)
    cs = sync.plan_sync(session, connection_id, trigger="manual")
    outcome = sync.get_source(session, connection_id).last_outcome
    if cs is None:
        msg = f"同步完成：{OUTCOME_LABELS.get(outcome, outcome)}"
        return RedirectResponse(f"/console/sync/sources/{connection_id}?flash={quote(msg)}", status_code=303)
    if cs.state == "failed":
        msg = f"同步失败：{cs.error}"
        return RedirectResponse(f"/console/sync/change-sets/{cs.id}?flash={quote(msg)}&flash_kind=err",
                                status_code=303)
    msg = f"同步完成：{OUTCOME_LABELS.get(outcome, outcome)}（变更集 #{cs.id}）"
    return RedirectResponse(f"/console/sync/change-sets/{cs.id}?flash={quote(msg)}", status_code=303)
