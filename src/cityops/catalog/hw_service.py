"""Hardware maintenance (HW, ROOM-2): preventive schedules per hardware line and their due
list, repairs linked to a service-desk ticket and to spare parts, the spare-parts inventory
with its movements, and warranty tracking with a daily finding 30 days before the end."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from cityops.catalog.hw_models import INTERVAL_UNITS, MOVEMENT_REASONS, HwSchedule, SparePart, StockMovement
from cityops.catalog.models import Asset, HardwareLine, MaintenanceRecord
from cityops.catalog.service import add_maintenance_record, get_asset
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import local, utcnow

WARRANTY_KEY = "warranty:"
WARRANTY_NOTICE_DAYS = 30


def add_interval(d: date, n: int, unit: str) -> date:
    if unit == "week":
        return d + timedelta(weeks=n)
    month = d.month - 1 + n
    y, m = d.year + month // 12, month % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


# -- preventive schedules --

def _line(session: Session, line_id: int) -> HardwareLine:
    line = session.get(HardwareLine, line_id)
    if line is None:
        raise NotFound(f"硬件清单行 {line_id} 不存在")
    return line


def _schedule_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "interval" in out:
        try:
            out["interval"] = int(out["interval"])
        except (TypeError, ValueError) as exc:
            raise Invalid(f"周期须为整数：{out['interval']!r}") from exc
        if not 1 <= out["interval"] <= 60:
            raise Invalid("周期须在 1–60 之间")
    if "unit" in out and out["unit"] not in INTERVAL_UNITS:
        raise Invalid("周期单位须为 month（月）或 week（周）")
    if "first_due" in out and not isinstance(out["first_due"], date):
        raise Invalid("请填写首次到期日期")
    if "checklist" in out:
        out["checklist"] = str(out["checklist"] or "").strip()
    return out


def create_schedule(session: Session, *, line_id: int, interval: int, unit: str = "month", checklist: str = "",
                    first_due: date, active: bool = True) -> HwSchedule:
    _line(session, line_id)
    if session.scalar(select(HwSchedule.id).where(HwSchedule.line_id == line_id)) is not None:
        raise Conflict("该硬件清单行已有维保计划，请修改原计划")
    data = _schedule_fields({"interval": interval, "unit": unit, "checklist": checklist, "first_due": first_due})
    sch = HwSchedule(line_id=line_id, active=active, **data)
    session.add(sch)
    session.flush()
    return sch


def get_schedule(session: Session, schedule_id: int) -> HwSchedule:
    sch = session.get(HwSchedule, schedule_id)
    if sch is None:
        raise NotFound(f"维保计划 {schedule_id} 不存在")
    return sch


def update_schedule(session: Session, schedule_id: int, **fields: Any) -> HwSchedule:
    sch = get_schedule(session, schedule_id)
    unknown = set(fields) - {"interval", "unit", "checklist", "first_due", "active"}
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    for k, v in _schedule_fields({k: v for k, v in fields.items() if v is not None}).items():
        setattr(sch, k, v)
    session.flush()
    return sch


def delete_schedule(session: Session, schedule_id: int) -> None:
    session.delete(get_schedule(session, schedule_id))
    session.flush()


def list_schedules(session: Session) -> list[HwSchedule]:
    return list(session.scalars(select(HwSchedule).join(HardwareLine, HardwareLine.id == HwSchedule.line_id)
                                .order_by(HardwareLine.seq)))


def due_list(session: Session, *, today: date, within_days: int = 30) -> list[dict[str, Any]]:
    """Per unit under an active schedule: last preventive record, next due date (last + interval,
    else the schedule's first due date), days left; due within `within_days` or overdue first."""
    schedules = {s.line_id: s for s in list_schedules(session) if s.active}
    if not schedules:
        return []
    last = {aid: at for aid, at in session.execute(
        select(MaintenanceRecord.asset_id, func.max(MaintenanceRecord.performed_at))
        .where(MaintenanceRecord.kind == "preventive").group_by(MaintenanceRecord.asset_id))}
    assets = session.scalars(select(Asset).options(selectinload(Asset.line))
                             .where(Asset.line_id.in_(schedules), Asset.status != "retired"))
    rows = []
    for a in assets:
        sch = schedules[a.line_id]
        done = last.get(a.id)
        due = add_interval(local(done).date(), sch.interval, sch.unit) if done else sch.first_due
        left = (due - today).days
        if left <= within_days:
            rows.append({"asset": a, "line": a.line, "schedule": sch, "last_at": done, "due": due,
                         "days_left": left, "overdue": left < 0})
    return sorted(rows, key=lambda r: (r["due"], r["line"].seq, r["asset"].asset_tag))


# -- spare parts --

PART_FIELDS = ("name", "model", "line_id", "location", "min_stock", "notes")


def _part_fields(session: Session, fields: dict[str, Any]) -> dict[str, Any]:
    out = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
    if "name" in out and not out["name"]:
        raise Invalid("请填写备件名称")
    if out.get("line_id") is not None:
        _line(session, int(out["line_id"]))
    if "min_stock" in out and (out["min_stock"] is None or int(out["min_stock"]) < 0):
        raise Invalid("最低库存不能为负数")
    return out


def create_part(session: Session, *, name: str, quantity: int = 0, by: str = "", now: datetime | None = None,
                **fields: Any) -> SparePart:
    unknown = set(fields) - set(PART_FIELDS)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    if quantity < 0:
        raise Invalid("初始数量不能为负数")
    part = SparePart(quantity=0, **_part_fields(session, {"name": name, **fields}))
    session.add(part)
    session.flush()
    if quantity:
        move_stock(session, part.id, delta=quantity, reason="purchase", note="建档入库", by=by, now=now)
    return part


def get_part(session: Session, part_id: int) -> SparePart:
    part = session.get(SparePart, part_id)
    if part is None:
        raise NotFound(f"备件 {part_id} 不存在")
    return part


def update_part(session: Session, part_id: int, **fields: Any) -> SparePart:
    """Name, model, line, location, minimum stock, notes. The quantity only changes by movements."""
    part = get_part(session, part_id)
    unknown = set(fields) - set(PART_FIELDS)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}（数量请用出入库调整）")
    for k, v in _part_fields(session, fields).items():
        setattr(part, k, v)
    session.flush()
    return part


def list_parts(session: Session, *, low_only: bool = False) -> list[SparePart]:
    q = select(SparePart).order_by(SparePart.name, SparePart.id)
    if low_only:
        q = q.where(SparePart.quantity < SparePart.min_stock)
    return list(session.scalars(q))


def move_stock(session: Session, part_id: int, *, delta: int, reason: str, note: str = "",
               record_id: int | None = None, by: str = "", now: datetime | None = None) -> StockMovement:
    """In (delta > 0) or out (delta < 0); stock never goes below zero."""
    part = get_part(session, part_id)
    if reason not in MOVEMENT_REASONS:
        raise Invalid(f"出入库原因须为 {'、'.join(MOVEMENT_REASONS)} 之一")
    if delta == 0:
        raise Invalid("数量不能为 0")
    if record_id is not None and session.get(MaintenanceRecord, record_id) is None:
        raise Invalid(f"维护记录 {record_id} 不存在")
    if part.quantity + delta < 0:
        raise Conflict(f"备件「{part.name}」库存 {part.quantity}，不足 {-delta}")
    part.quantity += delta
    m = StockMovement(part_id=part.id, delta=delta, reason=reason, note=note.strip(), record_id=record_id,
                      quantity_after=part.quantity, at=now or utcnow(), by=by)
    session.add(m)
    session.flush()
    return m


def list_movements(session: Session, *, part_id: int | None = None, limit: int = 100) -> list[StockMovement]:
    q = select(StockMovement).order_by(StockMovement.at.desc(), StockMovement.id.desc()).limit(limit)
    if part_id is not None:
        get_part(session, part_id)
        q = q.where(StockMovement.part_id == part_id)
    return list(session.scalars(q))


# -- repairs --

def record_work(session: Session, asset_id: int, *, kind: str, summary: str, performed_by: str,
                performed_at: datetime | None = None, result: str = "", ticket_id: int | None = None,
                parts: list[tuple[int, int]] | None = None, created_by: str = "",
                now: datetime | None = None) -> MaintenanceRecord:
    """A maintenance record (preventive, repair, replacement …) with the service-desk ticket it
    served and the spare parts it used (each one stock movement out, reason "repair")."""
    used: dict[int, int] = {}
    for part_id, qty in parts or []:
        if int(qty) <= 0:
            raise Invalid("领用数量须为正整数")
        used[int(part_id)] = used.get(int(part_id), 0) + int(qty)
    for part_id, qty in used.items():  # check stock first: no record without its parts
        part = get_part(session, part_id)
        if part.quantity < qty:
            raise Conflict(f"备件「{part.name}」库存 {part.quantity}，不足 {qty}")
    record = add_maintenance_record(session, asset_id, kind=kind, summary=summary, performed_by=performed_by,
                                    performed_at=performed_at, result=result, created_by=created_by,
                                    ticket_id=ticket_id, now=now)
    asset = get_asset(session, asset_id)
    for part_id, qty in used.items():
        move_stock(session, part_id, delta=-qty, reason="repair", record_id=record.id, by=created_by, now=now,
                   note=f"{asset.asset_tag} 维护记录 #{record.id}" + (f"，工单 #{ticket_id}" if ticket_id else ""))
    return record


def recent_records(session: Session, *, limit: int = 50) -> list[MaintenanceRecord]:
    return list(session.scalars(select(MaintenanceRecord)
                                .order_by(MaintenanceRecord.performed_at.desc(), MaintenanceRecord.id.desc())
                                .limit(limit)))


# -- warranty --

def warranty_buckets(session: Session, *, today: date) -> dict[str, list[Asset]]:
    """Units in use by warranty state: expired, ending within 30 days, within 60 days."""
    from cityops.catalog.service import warranty_report

    out: dict[str, list[Asset]] = {"expired": [], "d30": [], "d60": []}
    for a in warranty_report(session, today=today, days=60):
        left = (a.warranty_end - today).days
        out["expired" if left < 0 else "d30" if left <= 30 else "d60"].append(a)
    return out


def check_warranty(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Daily job body: a finding (`warranty:<asset id>`, warning) for each unit in use whose
    warranty ends within 30 days or has ended; cleared when extended or the unit is retired."""
    from cityops.inspections.finding_models import Finding
    from cityops.inspections.findings import clear_finding, raise_finding

    now = now or utcnow()
    today = local(now).date()
    keys = set()
    q = (select(Asset).where(Asset.warranty_end.is_not(None), Asset.status != "retired",
                             Asset.warranty_end <= today + timedelta(days=WARRANTY_NOTICE_DAYS)))
    for a in session.scalars(q):
        key = f"{WARRANTY_KEY}{a.id}"
        keys.add(key)
        left = (a.warranty_end - today).days
        state = f"已于 {a.warranty_end} 过保" if left < 0 else f"将于 {a.warranty_end} 过保（剩 {left} 天）"
        raise_finding(session, key=key, source="plan", severity="warning", ticket_policy="never", now=now,
                      asset_id=a.id, title=f"{a.asset_tag} {a.name} {state}",
                      detail=f"{a.name}（{a.model}，序列号 {a.serial or '—'}）{state}，请联系厂商续保或安排更换。")
    cleared = 0
    for key in session.scalars(select(Finding.key).where(Finding.state == "open",
                                                         Finding.key.like(WARRANTY_KEY + "%"))):
        if key not in keys:
            clear_finding(session, key=key, note="保修已延续或设备已退役，自动关闭", now=now)
            cleared += 1
    return {"expiring": len(keys), "cleared": cleared}


# -- demo --

DEMO_PARTS = [("电源模块", "通用 550W", 4, 2, "机房备件柜 A"), ("系统风扇", "通用 80mm", 6, 3, "机房备件柜 A"),
              ("千兆光模块", "SFP-GE-LX", 8, 4, "机房备件柜 B"), ("IP 话机", "Yealink T28", 1, 1, "机房备件柜 C")]


def seed_demo(session: Session, *, today: date) -> bool:
    """Demo only (`cityops demo`): a quarterly preventive schedule for every hardware line
    (first due spread over the coming weeks) and a few spare parts. False when schedules exist."""
    if session.scalar(select(HwSchedule.id).limit(1)) is not None:
        return False
    for i, line in enumerate(session.scalars(select(HardwareLine).order_by(HardwareLine.seq))):
        create_schedule(session, line_id=line.id, interval=3, unit="month", first_due=today + timedelta(days=i * 3 - 6),
                        checklist="外观与指示灯；清灰、风扇；电源冗余；日志与告警；固件版本核对")
    for name, model, qty, minimum, where in DEMO_PARTS:
        create_part(session, name=name, model=model, quantity=qty, min_stock=minimum, location=where,
                    notes="演示数据", by="system:demo")
    return True
