"""Console page 立案策略 (IOT-6, IOT-7, SYS-DISPATCH): the alarm → event policies in the order
they are tried (add, edit, enable/disable, delete), the AI-vision detection types, and intake's
recent decisions per alarm. Writers: admin and manager; CSRF on every form."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.devices.models import DEVICE_TYPES, Device, Tag
from cityops.events import intake
from cityops.events.intake_models import ACTION_LABELS, LINK_LABELS
from cityops.events.models import CityEvent, EventCategory
from cityops.geo.models import Street
from cityops.monitoring.models import Alarm
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
SEVERITY_LABELS = {"": "同告警", "critical": "紧急", "major": "重要", "warning": "警告", "info": "提示"}
SOURCE_LABELS = {"": "不限", "rule": "规则", "vendor": "设备上报事件", "liveness": "在线监测", "manual": "人工"}
PAGE = "/console/event-intake"


def _page(request: Request, session, user: ConsoleUser, *, edit: int | None = None, edit_mapping: int | None = None,
          form: dict[str, Any] | None = None, mform: dict[str, Any] | None = None, flash: str = "",
          flash_kind: str = "ok", status_code: int = 200):
    policies = intake.list_policies(session)
    mappings = intake.list_mappings(session)
    if edit is not None and form is None:
        p = next((x for x in policies if x.id == edit), None)
        if p is not None:
            form = {f: getattr(p, f) for f in intake.POLICY_FIELDS} | {"policy_id": p.id}
    if edit_mapping is not None and mform is None:
        m = next((x for x in mappings if x.id == edit_mapping), None)
        if m is not None:
            mform = {f: getattr(m, f) for f in intake.MAPPING_FIELDS} | {"mapping_id": m.id}
    links = intake.links(session, limit=50)
    alarms = {a.id: a for a in session.scalars(select(Alarm).where(Alarm.id.in_({ln.alarm_id for ln in links})))}
    devices = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_({a.device_id
                                                                                    for a in alarms.values()})))}
    evs = {e.id: e for e in session.scalars(select(CityEvent).where(CityEvent.id.in_(
        {ln.event_id for ln in links if ln.event_id})))}
    categories = list(session.scalars(select(EventCategory).order_by(EventCategory.code)))
    parents = {c.parent_id for c in categories if c.parent_id}
    return render(request, "events/intake.html", user, "event_intake", status_code=status_code,
                  policies=policies, mappings=mappings, links=links, alarms=alarms, devices=devices, events=evs,
                  policy_names={p.id: p.name for p in policies},
                  categories={c.code: c for c in categories},
                  leaves=[c for c in categories if c.id not in parents and c.enabled],
                  tags={t.id: t for t in session.scalars(select(Tag).order_by(Tag.category, Tag.name))},
                  streets=list(session.scalars(select(Street).order_by(Street.code))),
                  device_types=DEVICE_TYPES, severity_labels=SEVERITY_LABELS, source_labels=SOURCE_LABELS,
                  action_labels=ACTION_LABELS, link_labels=LINK_LABELS, can_edit=user.can(*WRITERS),
                  form=form or {"action": "event", "min_severity": "info", "priority": 0, "min_active_s": 0,
                                "verify_hold_min": 10, "enabled": True},
                  mform=mform or {"min_confidence": 0.6, "enabled": True}, flash=flash, flash_kind=flash_kind)


def _back(msg: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{PAGE}?flash={quote(msg)}{anchor}", status_code=303)


def _fail(request, session, user, exc: Exception, **kw):
    session.rollback()
    detail = exc.detail if isinstance(exc, Problem) else str(exc)
    status = exc.status if isinstance(exc, Problem) and exc.status != 500 else 422
    return _page(request, session, user, flash=f"保存失败：{detail}", flash_kind="err", status_code=status, **kw)


@router.get(PAGE)
def intake_page(request: Request, session: DbSession, user: Reader_, edit: int | None = None,
                edit_mapping: int | None = None):
    return _page(request, session, user, edit=edit, edit_mapping=edit_mapping,
                 flash=request.query_params.get("flash", ""))


@router.post(f"{PAGE}/policies")
def save_policy(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                name: Annotated[str, Form()] = "", priority: Annotated[str, Form()] = "0",
                alarm_type: Annotated[str, Form()] = "", min_severity: Annotated[str, Form()] = "info",
                device_type: Annotated[str, Form()] = "", tag_id: Annotated[str, Form()] = "",
                street_code: Annotated[str, Form()] = "", source: Annotated[str, Form()] = "",
                action: Annotated[str, Form()] = "event", category_code: Annotated[str, Form()] = "",
                severity: Annotated[str, Form()] = "", auto_accept: Annotated[str, Form()] = "",
                auto_dispatch: Annotated[str, Form()] = "", min_active_s: Annotated[str, Form()] = "0",
                verify_hold_min: Annotated[str, Form()] = "10", enabled: Annotated[str, Form()] = "",
                note: Annotated[str, Form()] = "", policy_id: Annotated[str, Form()] = ""):
    """Create a policy, or change one (policy_id given)."""
    check_csrf(csrf, user)
    raw = {"name": name, "priority": priority, "alarm_type": alarm_type, "min_severity": min_severity,
           "device_type": device_type, "tag_id": tag_id, "street_code": street_code, "source": source,
           "action": action, "category_code": category_code, "severity": severity, "auto_accept": bool(auto_accept),
           "auto_dispatch": bool(auto_dispatch), "min_active_s": min_active_s, "verify_hold_min": verify_hold_min,
           "enabled": bool(enabled), "note": note, "policy_id": policy_id}
    try:
        try:
            values = {k: raw[k] for k in intake.POLICY_FIELDS}
            values.update(priority=int(priority.strip() or 0), min_active_s=int(min_active_s.strip() or 0),
                          verify_hold_min=int(verify_hold_min.strip() or 0),
                          tag_id=int(tag_id) if tag_id.strip() else None)
        except ValueError:
            raise ValueError("优先级、持续秒数和观察期需要是整数") from None
        if values["action"] == "ignore":
            values.update(category_code="", auto_accept=False, auto_dispatch=False)
        if policy_id.strip():
            p = intake.update_policy(session, int(policy_id), **values)
            msg = f"已保存立案策略“{p.name}”"
        else:
            p = intake.create_policy(session, created_by=user.username, **values)
            msg = f"已创建立案策略“{p.name}”"
    except (Problem, ValueError) as exc:
        return _fail(request, session, user, exc, form=raw)
    return _back(msg)


@router.post(f"{PAGE}/policies/{{policy_id:int}}/toggle")
def toggle_policy(policy_id: int, request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        p = intake.get_policy(session, policy_id)
        intake.update_policy(session, policy_id, enabled=not p.enabled)
    except Problem as exc:
        return _fail(request, session, user, exc)
    return _back(f"已{'启用' if p.enabled else '停用'}立案策略“{p.name}”")


@router.post(f"{PAGE}/policies/{{policy_id:int}}/delete")
def delete_policy(policy_id: int, request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        name = intake.get_policy(session, policy_id).name
        intake.delete_policy(session, policy_id)
    except Problem as exc:
        return _fail(request, session, user, exc)
    return _back(f"已删除立案策略“{name}”")


@router.post(f"{PAGE}/mappings")
def save_mapping(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                 detection_type: Annotated[str, Form()] = "", category_code: Annotated[str, Form()] = "",
                 min_confidence: Annotated[str, Form()] = "0.6", severity: Annotated[str, Form()] = "",
                 auto_accept: Annotated[str, Form()] = "", enabled: Annotated[str, Form()] = "",
                 note: Annotated[str, Form()] = "", mapping_id: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    raw = {"detection_type": detection_type, "category_code": category_code, "min_confidence": min_confidence,
           "severity": severity, "auto_accept": bool(auto_accept), "enabled": bool(enabled), "note": note,
           "mapping_id": mapping_id}
    try:
        try:
            values = {k: raw[k] for k in intake.MAPPING_FIELDS} | {"min_confidence": float(min_confidence)}
        except ValueError:
            raise ValueError("最低置信度需要是 0 到 1 之间的数") from None
        if mapping_id.strip():
            m = intake.update_mapping(session, int(mapping_id), **values)
            msg = f"已保存识别类型“{m.detection_type}”"
        else:
            m = intake.create_mapping(session, **values)
            msg = f"已添加识别类型“{m.detection_type}”"
    except (Problem, ValueError) as exc:
        return _fail(request, session, user, exc, mform=raw)
    return _back(msg, "#vision-mappings")


@router.post(f"{PAGE}/mappings/{{mapping_id:int}}/toggle")
def toggle_mapping(mapping_id: int, request: Request, session: DbSession, user: Writer_,
                   csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        m = intake.get_mapping(session, mapping_id)
        intake.update_mapping(session, mapping_id, enabled=not m.enabled)
    except Problem as exc:
        return _fail(request, session, user, exc)
    return _back(f"已{'启用' if m.enabled else '停用'}识别类型“{m.detection_type}”", "#vision-mappings")
