"""Checklist templates and runs (ROOM-1, ROOM-2).

Templates are versioned: an edit writes version + 1 of the same code and retires the old one
from new runs, so a signed run still points at the items it was filled against. A run is filled
item by item (typed validation), an abnormal reading raises a finding keyed
`checklist:{room}:{item_code}` and a normal reading of the same item clears it; the performer
submits and signs, a reviewer signs off, after which nothing in the run changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import fmt_local, utcnow
from cityops.inspections import findings
from cityops.inspections.checklist_models import (ITEM_TYPES, TEMPLATE_KINDS, ChecklistItem, ChecklistPhoto,
                                                  ChecklistReading, ChecklistRun, ChecklistTemplate)
from cityops.inspections.finding_models import FINDING_SEVERITIES
from cityops.maintenance.log import add_entry

BOOL_OK, BOOL_BAD = "正常", "异常"
_BOOL = {"正常": True, "异常": False, "true": True, "false": False, "1": True, "0": False, "ok": True,
         "yes": True, "no": False, "是": True, "否": False}


# -- templates ---------------------------------------------------------------------------------
def _num(value: Any, what: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{what}须为数字，收到 {value!r}") from None


def clean_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate a template's items; returns them normalised, in order."""
    if not items:
        raise Invalid("检查表至少需要一个检查项")
    out, codes = [], set()
    for i, raw in enumerate(items, 1):
        label = str(raw.get("label") or "").strip()
        code = str(raw.get("code") or "").strip()
        kind = str(raw.get("type") or "").strip()
        where = f"第 {i} 项"
        if not label:
            raise Invalid(f"{where}缺少名称")
        if not code:
            raise Invalid(f"{where}「{label}」缺少编码")
        if code in codes:
            raise Invalid(f"{where}编码 {code} 重复")
        codes.add(code)
        if kind not in ITEM_TYPES:
            raise Invalid(f"{where}「{label}」类型 {kind!r} 无效（可选：{'、'.join(ITEM_TYPES)}）")
        severity = raw.get("severity") or "warning"
        if severity not in FINDING_SEVERITIES:
            raise Invalid(f"{where}「{label}」严重程度 {severity!r} 无效")
        lo, hi = _num(raw.get("min_value"), f"{where}下限"), _num(raw.get("max_value"), f"{where}上限")
        if lo is not None and hi is not None and lo > hi:
            raise Invalid(f"{where}「{label}」下限 {lo:g} 大于上限 {hi:g}")
        options = []
        if kind == "choice":
            for o in raw.get("options") or []:
                o = o if isinstance(o, dict) else {"value": str(o), "abnormal": False}
                if str(o.get("value", "")).strip():
                    options.append({"value": str(o["value"]).strip(), "abnormal": bool(o.get("abnormal"))})
            if len(options) < 2:
                raise Invalid(f"{where}「{label}」为选项类型，至少需要两个选项")
        out.append({"code": code, "label": label, "type": kind, "unit": str(raw.get("unit") or ""),
                    "min_value": lo if kind == "number" else None, "max_value": hi if kind == "number" else None,
                    "options": options, "required": bool(raw.get("required", True)), "severity": severity,
                    "hint": str(raw.get("hint") or "")[:200]})
    return out


def _write_version(session: Session, *, code: str, version: int, name: str, kind: str, ticket_policy: str,
                   items: list[dict[str, Any]], actor: str, now: datetime) -> ChecklistTemplate:
    if kind not in TEMPLATE_KINDS:
        raise Invalid(f"检查表类别 {kind!r} 无效（可选：{'、'.join(TEMPLATE_KINDS)}）")
    findings.ticket_wanted("warning", ticket_policy)  # validates the policy
    if not name.strip():
        raise Invalid("请填写检查表名称")
    items = clean_items(items)
    t = ChecklistTemplate(code=code, version=version, name=name.strip()[:100], kind=kind,
                          ticket_policy=ticket_policy, current=True, active=True, created_by=actor, created_at=now)
    session.add(t)
    session.flush()
    for pos, it in enumerate(items):
        session.add(ChecklistItem(template_id=t.id, position=pos, **it))
    session.flush()
    return t


def create_template(session: Session, *, code: str, name: str, items: list[dict[str, Any]], kind: str = "room",
                    ticket_policy: str = "major", actor: str = "", now: datetime | None = None) -> ChecklistTemplate:
    code = code.strip()
    if not code or len(code) > 48:
        raise Invalid("检查表编码不能为空，且不超过 48 个字符")
    if session.scalar(select(ChecklistTemplate.id).where(ChecklistTemplate.code == code).limit(1)):
        raise Conflict(f"检查表编码 {code} 已存在")
    return _write_version(session, code=code, version=1, name=name, kind=kind, ticket_policy=ticket_policy,
                          items=items, actor=actor, now=now or utcnow())


def update_template(session: Session, template_id: int, *, name: str | None = None,
                    items: list[dict[str, Any]] | None = None, ticket_policy: str | None = None,
                    active: bool | None = None, actor: str = "", now: datetime | None = None) -> ChecklistTemplate:
    """A change to name, items or policy writes a new version; `active` alone flips the current one."""
    old = get_template(session, template_id)
    if not old.current:
        raise Conflict(f"检查表「{old.name}」第 {old.version} 版已被新版本取代，请编辑最新版本")
    if name is None and items is None and ticket_policy is None:
        if active is not None:
            old.active = active
            session.flush()
        return old
    old_items = [{k: getattr(i, k) for k in ("code", "label", "type", "unit", "min_value", "max_value", "options",
                                             "required", "severity", "hint")} for i in items_of(session, old.id)]
    old.current = False
    session.flush()
    new = _write_version(session, code=old.code, version=old.version + 1, name=name if name is not None else old.name,
                         kind=old.kind, ticket_policy=ticket_policy or old.ticket_policy,
                         items=items if items is not None else old_items, actor=actor, now=now or utcnow())
    new.active = old.active if active is None else active
    session.flush()
    return new


def get_template(session: Session, template_id: int) -> ChecklistTemplate:
    t = session.get(ChecklistTemplate, template_id)
    if t is None:
        raise NotFound(f"检查表 {template_id} 不存在")
    return t


def current_template(session: Session, code: str) -> ChecklistTemplate:
    t = session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.code == code, ChecklistTemplate.current))
    if t is None:
        raise NotFound(f"检查表 {code} 不存在")
    return t


def list_templates(session: Session, *, include_old: bool = False) -> list[ChecklistTemplate]:
    q = select(ChecklistTemplate).order_by(ChecklistTemplate.code, ChecklistTemplate.version.desc())
    if not include_old:
        q = q.where(ChecklistTemplate.current)
    return list(session.scalars(q))


def items_of(session: Session, template_id: int) -> list[ChecklistItem]:
    return list(session.scalars(select(ChecklistItem).where(ChecklistItem.template_id == template_id)
                                .order_by(ChecklistItem.position)))


# -- runs ----------------------------------------------------------------------------------------
def get_run(session: Session, run_id: int) -> ChecklistRun:
    r = session.get(ChecklistRun, run_id)
    if r is None:
        raise NotFound(f"巡检记录 {run_id} 不存在")
    return r


def start_run(session: Session, *, template_id: int, performer: str, room: str = "", asset_id: int | None = None,
              plan_run_id: int | None = None, now: datetime | None = None) -> ChecklistRun:
    t = get_template(session, template_id)
    if not (t.current and t.active):
        raise Conflict(f"检查表「{t.name}」第 {t.version} 版已停用或被取代，请用最新版本")
    if not performer.strip():
        raise Invalid("请填写巡检人")
    room = room.strip()
    if t.kind == "asset":
        from cityops.catalog.models import Asset

        asset = session.get(Asset, asset_id) if asset_id else None
        if asset is None:
            raise Invalid("设备巡检须选择一台设备" if not asset_id else f"设备 {asset_id} 不存在")
    elif not room:
        raise Invalid("请填写机房")
    r = ChecklistRun(template_id=t.id, room=room[:64], asset_id=asset_id if t.kind == "asset" else None,
                     plan_run_id=plan_run_id, performer=performer.strip()[:64], started_at=now or utcnow())
    session.add(r)
    session.flush()
    return r


def _place(run: ChecklistRun) -> str:
    return run.room or f"asset-{run.asset_id}"


def judge(item: ChecklistItem, raw: Any) -> tuple[str, bool | None, str]:
    """Typed validation of one reading: (stored value, ok — None when not judged, why abnormal)."""
    text = "" if raw is None else str(raw).strip()
    if item.type == "number":
        if not text:
            raise Invalid(f"「{item.label}」请填写数值")
        value = _num(text, f"「{item.label}」")
        unit = item.unit
        if item.min_value is not None and value < item.min_value:
            return f"{value:g}", False, f"{value:g}{unit} 低于下限 {item.min_value:g}{unit}"
        if item.max_value is not None and value > item.max_value:
            return f"{value:g}", False, f"{value:g}{unit} 超过上限 {item.max_value:g}{unit}"
        return f"{value:g}", True, ""
    if item.type == "bool":
        ok = _BOOL.get(text.lower())
        if ok is None:
            raise Invalid(f"「{item.label}」请选择“正常”或“异常”")
        return (BOOL_OK if ok else BOOL_BAD), ok, "" if ok else "检查结果为异常"
    if item.type == "choice":
        option = next((o for o in item.options or [] if o["value"] == text), None)
        if option is None:
            raise Invalid(f"「{item.label}」请选择：{'、'.join(o['value'] for o in item.options or [])}")
        return text, not option["abnormal"], f"选择了“{text}”" if option["abnormal"] else ""
    if item.type == "photo":
        if not text:
            raise Invalid(f"「{item.label}」请先上传照片")
        return text, None, ""
    return text[:2000], None, ""


def record_reading(session: Session, run_id: int, *, item_code: str, value: Any, note: str = "",
                   photo_id: int | None = None, actor: str = "", now: datetime | None = None) -> ChecklistReading:
    now = now or utcnow()
    run = get_run(session, run_id)
    if run.state != "draft":
        raise Conflict(f"巡检记录 {run_id} 已提交，不能再修改读数")
    item = session.scalar(select(ChecklistItem).where(ChecklistItem.template_id == run.template_id,
                                                      ChecklistItem.code == item_code))
    if item is None:
        raise NotFound(f"检查项 {item_code} 不在此检查表中")
    if item.type == "photo" and photo_id is None and str(value or "").strip().isdigit():
        photo_id = int(str(value).strip())
    if photo_id is not None:
        photo = session.get(ChecklistPhoto, photo_id)
        if photo is None:
            raise Invalid(f"照片 {photo_id} 不存在，请重新上传")
        if photo.run_id not in (None, run.id):
            raise Invalid(f"照片 {photo_id} 属于另一条巡检记录")
        photo.run_id = run.id
        if item.type == "photo":
            value = str(photo_id)
    stored, ok, why = judge(item, value)
    reading = session.scalar(select(ChecklistReading).where(ChecklistReading.run_id == run.id,
                                                            ChecklistReading.item_id == item.id))
    if reading is None:
        reading = ChecklistReading(run_id=run.id, item_id=item.id)
        session.add(reading)
    reading.value, reading.ok, reading.note, reading.at = stored, ok, note.strip()[:2000], now
    if photo_id is not None:
        reading.photo_id = photo_id
    session.flush()
    key = f"checklist:{_place(run)}:{item.code}"
    if ok is False:
        t = get_template(session, run.template_id)
        findings.raise_finding(session, key=key, source="checklist", title=f"{_place_label(run)} {item.label}异常：{why}",
                               severity=item.severity, detail=f"巡检记录 #{run.id}（{t.name}），{run.performer} 于 "
                               f"{fmt_local(now)} 记录：{why}。{note}".strip(), asset_id=run.asset_id,
                               ticket_policy=t.ticket_policy, actor=actor or run.performer, now=now)
    elif ok is True:
        findings.clear_finding(session, key=key, note=f"巡检记录 #{run.id} 复查正常", actor=actor or run.performer,
                               now=now)
    run.abnormal_count = session.scalar(select(func.count()).select_from(ChecklistReading).where(
        ChecklistReading.run_id == run.id, ChecklistReading.ok.is_(False))) or 0
    session.flush()
    return reading


def _place_label(run: ChecklistRun) -> str:
    return run.room or f"设备 #{run.asset_id}"


def readings_of(session: Session, run_id: int) -> dict[int, ChecklistReading]:
    return {r.item_id: r for r in session.scalars(select(ChecklistReading).where(ChecklistReading.run_id == run_id))}


def submit_run(session: Session, run_id: int, *, signature: str, now: datetime | None = None) -> ChecklistRun:
    """The performer signs: every required item must have a reading."""
    run = get_run(session, run_id)
    if run.state != "draft":
        raise Conflict(f"巡检记录 {run_id} 已提交")
    if not signature.strip():
        raise Invalid("请巡检人签名（填写姓名）")
    have = readings_of(session, run.id)
    missing = [i.label for i in items_of(session, run.template_id) if i.required and i.id not in have]
    if missing:
        raise Invalid(f"还有必填项未填写：{'、'.join(missing)}")
    run.state, run.submitted_at, run.performer_signature = "submitted", now or utcnow(), signature.strip()[:64]
    session.flush()
    return run


def sign_off(session: Session, run_id: int, *, reviewer: str, note: str = "", now: datetime | None = None) -> ChecklistRun:
    """The reviewer signs off: the record becomes immutable and goes into the maintenance log."""
    now = now or utcnow()
    run = get_run(session, run_id)
    if run.state == "signed":
        raise Conflict(f"巡检记录 {run_id} 已复核签字，不能再修改")
    if run.state != "submitted":
        raise Conflict(f"巡检记录 {run_id} 尚未由巡检人提交签名")
    if not reviewer.strip():
        raise Invalid("请填写复核人")
    if reviewer.strip() in (run.performer, run.performer_signature):
        raise Conflict("复核人不能是巡检人本人")
    run.state, run.reviewer, run.reviewed_at, run.review_note = "signed", reviewer.strip()[:64], now, note.strip()
    t = get_template(session, run.template_id)
    verdict = f"{run.abnormal_count} 项异常" if run.abnormal_count else "全部正常"
    add_entry(session, kind="inspection", source="checklist-run", source_ref=str(run.id),
              summary=f"{t.name}（{_place_label(run)}）：{verdict}", author=run.performer_signature,
              detail=f"巡检人 {run.performer_signature}，复核人 {run.reviewer}。{run.review_note}".strip(), at=now,
              asset_id=run.asset_id)
    session.flush()
    return run


def list_runs(session: Session, *, state: str | None = None, template_code: str | None = None, room: str | None = None,
              limit: int = 50, offset: int = 0) -> tuple[list[ChecklistRun], int]:
    q = select(ChecklistRun)
    if state:
        q = q.where(ChecklistRun.state == state)
    if room:
        q = q.where(ChecklistRun.room == room)
    if template_code:
        q = q.join(ChecklistTemplate, ChecklistTemplate.id == ChecklistRun.template_id).where(
            ChecklistTemplate.code == template_code)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(ChecklistRun.started_at.desc(), ChecklistRun.id.desc()).limit(limit).offset(offset))
    return list(rows), total
