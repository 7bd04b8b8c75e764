"""Console: alarm rule overrides per product / tag / device, and a device's effective rules (IOT-5)."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from cityops.auth.deps import DbSession
from cityops.core.errors import NotFound, Problem
from cityops.devices.service import get_device, list_products, list_tags
from cityops.monitoring import rule_table
from cityops.monitoring.models import RULE_MODES, RULE_SCOPES
from cityops.web.shell import (
    ConsoleUser,
    check_csrf,
    console_user,
    render,
    require_console,
)

router = APIRouter(include_in_schema=False)
User_ = Annotated[ConsoleUser, Depends(console_user)]
WRITERS = ("admin", "manager", "technician")
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
SEVERITY_LABELS = {"critical": "紧急", "major": "重要", "warning": "警告", "info": "提示"}
SCOPE_LABELS = {"product": "产品", "tag": "标签", "device": "设备"}
MODE_LABELS = {"replace": "替换", "add": "新增", "disable": "停用", "default": "默认"}
LAYER_LABELS = {"default": "产品默认", "product": "产品覆盖", "tag": "标签覆盖", "device": "设备覆盖"}
OPS = (">=", ">", "<=", "<", "==", "!=")


def describe(c: dict[str, Any] | None) -> str:
    """A one-line reading of a condition, for the tables."""
    if not c:
        return "—"
    kind = c.get("kind")
    if kind == "threshold":
        text = f"{c['property']} {c.get('op', '>=')} {c['value']}"
        if c.get("clear_below") is not None:
            text += f"（低于 {c['clear_below']} 恢复）"
        if c.get("clear_above") is not None:
            text += f"（高于 {c['clear_above']} 恢复）"
        return text
    if kind == "rate":
        return f"{c['property']} 变化率 {c.get('op', '>=')} {c['value']}/{c.get('per_s', 1):g}s"
    if kind == "stale":
        return f"{c['property']} 超过 {c['after_s']:g}s 无新值"
    if kind == "event":
        return "厂商事件 " + "/".join(c.get("events", []))
    if kind in ("all", "any"):
        return (" 且 " if kind == "all" else " 或 ").join(f"({describe(x)})" for x in c.get("conditions", []))
    if kind == "not":
        return f"非({describe(c.get('condition'))})"
    return json.dumps(c, ensure_ascii=False)


def summary(rule: dict[str, Any]) -> str:
    if not rule:
        return "—"
    text = describe(rule.get("condition"))
    if rule.get("for_s"):
        text += f"，持续 {rule['for_s']:g}s"
    if rule.get("repeat"):
        text += f"，{rule['repeat']['within_s']:g}s 内 {rule['repeat']['count']} 次"
    return f"{text} → {rule.get('alarm_type', '')}（{SEVERITY_LABELS.get(rule.get('severity'), rule.get('severity'))}）"


def _guided(rule: dict[str, Any]) -> dict[str, Any] | None:
    """Form values when the rule is a plain threshold the guided form can show, else None."""
    c = rule.get("condition") or {}
    if c.get("kind") != "threshold" or rule.get("repeat") or rule.get("clear_condition"):
        return None
    clear = c.get("clear_below") if c.get("clear_below") is not None else c.get("clear_above")
    return {"rule_id": rule.get("id", ""), "alarm_type": rule.get("alarm_type", ""), "property": c["property"],
            "op": c.get("op", ">="), "value": c["value"], "clear_value": "" if clear is None else clear,
            "for_s": rule.get("for_s") or "", "severity": rule.get("severity", "warning")}


def _number_or_text(v: str) -> float | str:
    try:
        return float(v)
    except ValueError:
        return v


def build_rule(*, mode: str, rule_id: str, alarm_type: str, prop: str, op: str, value: str, clear_value: str,
               for_s: str, severity: str, rule_json: str) -> dict[str, Any] | None:
    """The rule JSON from the form: the raw JSON if given, else the guided threshold fields."""
    if mode == "disable":
        return None
    if rule_json.strip():
        try:
            data = json.loads(rule_json)
        except json.JSONDecodeError as exc:
            raise ValueError(f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）：{exc.msg}") from None
        if not isinstance(data, dict):
            raise ValueError("JSON 需要是一个对象（{…}）")
        return data
    missing = [label for label, v in (("规则ID", rule_id), ("告警类型", alarm_type), ("属性", prop), ("阈值", value))
               if not v.strip()]
    if missing:
        raise ValueError("阈值规则需要填写：" + "、".join(missing) + "（其他类型请填写 JSON）")
    cond: dict[str, Any] = {"kind": "threshold", "property": prop.strip(), "op": op,
                            "value": _number_or_text(value.strip())}
    if clear_value.strip():
        try:
            cond["clear_below" if op in (">=", ">") else "clear_above"] = float(clear_value)
        except ValueError:
            raise ValueError(f"恢复值需要是数字，而不是 {clear_value!r}") from None
    try:
        duration = float(for_s) if for_s.strip() else 0.0
    except ValueError:
        raise ValueError(f"持续时间需要是秒数，而不是 {for_s!r}") from None
    return {"id": rule_id.strip(), "alarm_type": alarm_type.strip(), "severity": severity, "for_s": duration,
            "condition": cond}


def _page(request: Request, session, user: ConsoleUser, *, device_id: str = "", edit: int | None = None,
          form: dict[str, Any] | None = None, flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    rows = rule_table.list_overrides(session, street=user.street_scope)
    labels = rule_table.scope_labels(session, rows)
    editing = None
    if edit is not None and form is None:
        editing = next((r for r in rows if r.id == edit), None)
        if editing is not None:
            guided = _guided(editing.rule) if editing.mode != "disable" else None
            form = {"override_id": editing.id, "scope_kind": editing.scope_kind, "scope_value": editing.scope_value,
                    "mode": editing.mode, "note": editing.note, "enabled": editing.enabled,
                    "rule_id": editing.rule_id, **(guided or {}),
                    "rule_json": "" if guided or editing.mode == "disable"
                    else json.dumps(editing.rule, ensure_ascii=False, indent=2)}
    effective, device, device_error = [], None, ""
    if device_id.strip():
        try:
            device = get_device(session, int(device_id), scope=user.street_scope)
            effective = rule_table.explain_device(session, device.id)
        except (ValueError, NotFound):
            device_error = f"找不到设备 {device_id}（填写设备ID）"
    return render(request, "monitoring/rules.html", user, "rules", status_code=status_code, rows=rows,
                  labels=labels, form=form or {}, can_edit=user.can(*WRITERS), products=list_products(session),
                  tags=list_tags(session),
                  device_id=device_id, device=device, effective=effective, device_error=device_error,
                  summary=summary, scopes=RULE_SCOPES, modes=RULE_MODES, ops=OPS, severities=SEVERITY_LABELS,
                  scope_labels=SCOPE_LABELS, mode_labels=MODE_LABELS, layer_labels=LAYER_LABELS,
                  flash=flash, flash_kind=flash_kind)


@router.get("/console/rules")
def rules_page(request: Request, session: DbSession, user: User_, device_id: str = "", edit: int | None = None):
    """Overrides, the create/edit form and a device's effective rules."""
    return _page(request, session, user, device_id=device_id, edit=edit,
                 flash=request.query_params.get("flash", ""))


@router.post("/console/rules")
def save_override(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                  scope_kind: Annotated[str, Form()] = "device", scope_value: Annotated[str, Form()] = "",
                  mode: Annotated[str, Form()] = "replace", override_id: Annotated[str, Form()] = "",
                  rule_id: Annotated[str, Form()] = "", alarm_type: Annotated[str, Form()] = "",
                  property: Annotated[str, Form()] = "", op: Annotated[str, Form()] = ">=",
                  value: Annotated[str, Form()] = "", clear_value: Annotated[str, Form()] = "",
                  for_s: Annotated[str, Form()] = "", severity: Annotated[str, Form()] = "warning",
                  rule_json: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                  enabled: Annotated[str, Form()] = ""):
    """Create an override, or change one (override_id given)."""
    check_csrf(csrf, user)
    form = {"override_id": override_id, "scope_kind": scope_kind, "scope_value": scope_value, "mode": mode,
            "rule_id": rule_id, "alarm_type": alarm_type, "property": property, "op": op, "value": value,
            "clear_value": clear_value, "for_s": for_s, "severity": severity, "rule_json": rule_json, "note": note,
            "enabled": bool(enabled)}
    try:
        rule = build_rule(mode=mode, rule_id=rule_id, alarm_type=alarm_type, prop=property, op=op, value=value,
                          clear_value=clear_value, for_s=for_s, severity=severity, rule_json=rule_json)
        if override_id.strip():
            ov = rule_table.update_override(session, int(override_id), mode=mode, rule=rule, enabled=bool(enabled),
                                            note=note.strip())
            msg = f"已保存规则覆盖 #{ov.id}"
        else:
            ov = rule_table.create_override(session, scope_kind=scope_kind, scope_value=scope_value, mode=mode,
                                            rule=rule, rule_id=rule_id, enabled=bool(enabled), note=note.strip(),
                                            created_by=user.username)
            msg = f"已创建规则覆盖 #{ov.id}（约 1 分钟内生效）"
    except (Problem, ValueError) as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, Problem) else str(exc)
        return _page(request, session, user, form=form, flash=f"保存失败：{detail}", flash_kind="err",
                     status_code=422)
    return RedirectResponse(f"/console/rules?flash={quote(msg)}", status_code=303)


@router.post("/console/rules/{override_id:int}/{action}")
def override_action(override_id: int, action: str, request: Request, session: DbSession, user: Writer_,
                    csrf: Annotated[str, Form()]):
    """Switch an override on or off, or delete it."""
    check_csrf(csrf, user)
    try:
        if action == "toggle":
            ov = rule_table.get_override(session, override_id)
            rule_table.update_override(session, override_id, enabled=not ov.enabled)
            msg = f"已{'启用' if ov.enabled else '停用'}规则覆盖 #{override_id}"
        elif action == "delete":
            rule_table.delete_override(session, override_id)
            msg = f"已删除规则覆盖 #{override_id}"
        else:
            raise NotFound(f"操作 {action!r} 不存在")
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, flash=f"操作失败：{exc.detail}", flash_kind="err",
                     status_code=exc.status)
    return RedirectResponse(f"/console/rules?flash={quote(msg)}", status_code=303)
