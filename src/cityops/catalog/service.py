"""The maintained systems and modules (SYS-DUTY … SYS-LZM) and the machine-room hardware (HW):
lists, operator edits, maintenance records and the warranty report.

Every edit validates all given fields before it changes anything, so a rejected edit
leaves the row as it was (the console re-renders the form on the same session).
"""

from __future__ import annotations

import ipaddress
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from cityops.catalog.models import (ASSET_STATUS, CRITICALITY, MAINTENANCE_KINDS, Asset, HardwareLine,
                                    MaintenanceRecord, Module, System)
from cityops.core.db import text_search
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import SHANGHAI, utcnow

SYSTEM_FIELDS = ("owner", "criticality", "description")
MODULE_FIELDS = ("owner", "criticality", "health_check_url", "notes")
ASSET_FIELDS = ("serial", "rack", "ip_address", "status", "warranty_start", "warranty_end", "notes")


def _only(fields: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(fields) - set(allowed))
    if extra:
        raise Invalid(f"不能修改 {'、'.join(extra)}；可修改的字段：{'、'.join(allowed)}")


def _text(value: Any, field: str, max_len: int | None = None) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{field} 须为文本")
    value = value.strip()
    if max_len is not None and len(value) > max_len:
        raise Invalid(f"{field} 超过 {max_len} 个字符")
    return value


def _criticality(value: Any) -> str:
    if value not in CRITICALITY:
        raise Invalid(f"未知的重要性（criticality）{value!r}；应为以下之一：{'、'.join(CRITICALITY)}")
    return value


def _apply(row: Any, fields: dict[str, Any]) -> None:
    for k, v in fields.items():
        setattr(row, k, v)


# -- systems and modules (SYS-*) ---------------------------------------------------------

def list_systems(session: Session) -> list[System]:
    """The ten maintained 3.0 systems in seed order, each with its modules (SYS-*)."""
    return list(session.scalars(select(System).options(selectinload(System.modules)).order_by(System.seq)))


def get_system(session: Session, code: str) -> System:
    system = session.scalar(select(System).where(System.code == code).options(selectinload(System.modules)))
    if system is None:
        raise NotFound(f"系统 {code} 不存在")
    return system


def update_system(session: Session, code: str, **fields: Any) -> System:
    """Operators fill in who owns a system, how critical it is and what it does (SYS-*)."""
    _only(fields, SYSTEM_FIELDS)
    clean: dict[str, Any] = {}
    if "owner" in fields:
        clean["owner"] = _text(fields["owner"], "owner", 64)
    if "criticality" in fields:
        clean["criticality"] = _criticality(fields["criticality"])
    if "description" in fields:
        clean["description"] = _text(fields["description"], "description")
    system = get_system(session, code)
    _apply(system, clean)
    session.flush()
    return system


def list_modules(session: Session, *, system_code: str | None = None, section: str | None = None) -> list[Module]:
    """Every maintained module (a service to keep running), in system and seed-row order (SYS-*)."""
    q = select(Module).join(System).options(selectinload(Module.system)).order_by(System.seq, Module.seq)
    if system_code:
        q = q.where(System.code == system_code)
    if section is not None:
        q = q.where(Module.section == section)
    return list(session.scalars(q))


def get_module(session: Session, module_id: int) -> Module:
    module = session.get(Module, module_id)
    if module is None:
        raise NotFound(f"模块 {module_id} 不存在")
    return module


def check_url(value: Any) -> str:
    """An http(s) URL with a host, or empty (no health check yet)."""
    url = _text(value, "health_check_url", 512)
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise Invalid(f"health_check_url 须为 http(s) 地址或留空，而不是 {url!r}")
    return url


def update_module(session: Session, module_id: int, **fields: Any) -> Module:
    """Owner, criticality, health-check URL and notes of one module (SYS-*)."""
    _only(fields, MODULE_FIELDS)
    clean: dict[str, Any] = {}
    if "owner" in fields:
        clean["owner"] = _text(fields["owner"], "owner", 64)
    if "criticality" in fields:
        clean["criticality"] = _criticality(fields["criticality"])
    if "health_check_url" in fields:
        clean["health_check_url"] = check_url(fields["health_check_url"])
    if "notes" in fields:
        clean["notes"] = _text(fields["notes"], "notes")
    module = get_module(session, module_id)
    _apply(module, clean)
    session.flush()
    return module


# -- hardware (HW) -------------------------------------------------------------------------

def list_hardware_lines(session: Session) -> list[HardwareLine]:
    """The 19 hardware lines of the machine room, in seed order (HW)."""
    return list(session.scalars(select(HardwareLine).order_by(HardwareLine.seq)))


def list_assets(session: Session, *, line_seq: int | None = None, status: str | None = None,
                q: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[Asset], int]:
    """Individual units (HW), filtered by line, status and a search in tag/serial/name/model."""
    query = select(Asset).join(HardwareLine)
    if line_seq is not None:
        query = query.where(HardwareLine.seq == line_seq)
    if status:
        if status not in ASSET_STATUS:
            raise Invalid(f"未知的资产状态 {status!r}；应为以下之一：{'、'.join(ASSET_STATUS)}")
        query = query.where(Asset.status == status)
    if q and q.strip():
        query = query.where(text_search(q, Asset.asset_tag, Asset.serial, Asset.name, Asset.model))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.options(selectinload(Asset.line)).order_by(Asset.asset_tag)
                           .limit(limit).offset(offset))
    return list(rows), total


def get_asset(session: Session, asset_id: int) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(f"硬件资产 {asset_id} 不存在")
    return asset


def _serial(session: Session, asset_id: int, value: Any) -> str | None:
    if value is None:
        return None
    serial = _text(value, "serial", 64)
    if not serial:
        return None  # blank means unknown; NULLs do not collide in the unique index
    other = session.scalar(select(Asset.asset_tag).where(Asset.serial == serial, Asset.id != asset_id))
    if other:
        raise Conflict(f"序列号 {serial!r} 已登记在资产 {other} 上")
    return serial


def _ip(value: Any) -> str:
    text = _text(value, "ip_address", 64)
    if not text:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise Invalid(f"ip_address {text!r} 不是有效的 IPv4 或 IPv6 地址") from exc


def _date(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise Invalid(f"{field} 须为日期，而不是日期加时间")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise Invalid(f"{field} {value!r} 不是日期（YYYY-MM-DD）") from exc


def update_asset(session: Session, asset_id: int, **fields: Any) -> Asset:
    """Serial (unique), rack, IP address, status, warranty and notes of one unit (HW)."""
    _only(fields, ASSET_FIELDS)
    asset = get_asset(session, asset_id)
    clean: dict[str, Any] = {}
    if "serial" in fields:
        clean["serial"] = _serial(session, asset.id, fields["serial"])
    if "rack" in fields:
        clean["rack"] = _text(fields["rack"], "rack", 32)
    if "ip_address" in fields:
        clean["ip_address"] = _ip(fields["ip_address"])
    if "status" in fields:
        if fields["status"] not in ASSET_STATUS:
            raise Invalid(f"未知的资产状态 {fields['status']!r}；应为以下之一：{'、'.join(ASSET_STATUS)}")
        clean["status"] = fields["status"]
    for key in ("warranty_start", "warranty_end"):
        if key in fields:
            clean[key] = _date(fields[key], key)
    if "notes" in fields:
        clean["notes"] = _text(fields["notes"], "notes")
    start = clean.get("warranty_start", asset.warranty_start)
    end = clean.get("warranty_end", asset.warranty_end)
    if start and end and end < start:
        raise Invalid(f"warranty_end {end} 早于 warranty_start {start}")
    _apply(asset, clean)
    session.flush()
    return asset


def add_maintenance_record(session: Session, asset_id: int, *, kind: str, summary: str, performed_by: str,
                           performed_at: datetime | None = None, result: str = "",
                           created_by: str = "", ticket_id: int | None = None,
                           now: datetime | None = None) -> MaintenanceRecord:
    """One inspection, repair, replacement … done on a unit (HW, SVC-2 maintenance log).
    A time without a zone is read as Shanghai time; future times are refused."""
    asset = get_asset(session, asset_id)
    if kind not in MAINTENANCE_KINDS:
        raise Invalid(f"未知的维护类型 {kind!r}；应为以下之一：{'、'.join(MAINTENANCE_KINDS)}")
    summary = _text(summary, "summary")
    performed_by = _text(performed_by, "performed_by", 64)
    if not summary or not performed_by:
        raise Invalid("summary 和 performed_by 为必填项")
    result = _text(result, "result", 128)
    if ticket_id is not None and ticket_id <= 0:
        raise Invalid("工单号须为正整数")
    now = now or utcnow()
    if performed_at is None:
        performed_at = now
    elif performed_at.tzinfo is None:
        performed_at = performed_at.replace(tzinfo=SHANGHAI)
    if performed_at > now + timedelta(minutes=5):  # small allowance for clock skew
        raise Invalid("performed_at 不能是将来的时间")
    performed_at = performed_at.astimezone(timezone.utc)  # SQLite keeps no offset; stored times are UTC
    record = MaintenanceRecord(asset_id=asset.id, kind=kind, summary=summary, performed_by=performed_by,
                               performed_at=performed_at, result=result, created_by=created_by,
                               ticket_id=ticket_id)
    session.add(record)
    session.flush()
    _log(session, record, asset)
    return record


def _log(session: Session, record: MaintenanceRecord, asset: Asset) -> None:
    """SVC-2: every completed hardware record is one maintenance-log line (kind hardware)."""
    from cityops.maintenance.log import add_entry

    ticket = f"，工单 #{record.ticket_id}" if record.ticket_id else ""
    add_entry(session, kind="hardware", summary=f"{asset.asset_tag} {asset.name}：{record.summary}",
              source="hardware", source_ref=f"maintenance_record:{record.id}",
              detail=f"类别 {record.kind}；结果 {record.result or '—'}{ticket}", author=record.performed_by,
              at=record.performed_at, asset_id=asset.id)


def list_maintenance_records(session: Session, asset_id: int) -> list[MaintenanceRecord]:
    """A unit's maintenance history, newest first (HW)."""
    get_asset(session, asset_id)
    q = (select(MaintenanceRecord).where(MaintenanceRecord.asset_id == asset_id)
         .order_by(MaintenanceRecord.performed_at.desc(), MaintenanceRecord.id.desc()))
    return list(session.scalars(q))


def warranty_report(session: Session, *, today: date, days: int = 60) -> list[Asset]:
    """Units still in use whose warranty has ended or ends within `days` days, soonest
    first (HW: one year of maintenance, SVC-4 service period). Retired units are left out."""
    if days < 0:
        raise Invalid("days 不能为负数")
    q = (select(Asset).options(selectinload(Asset.line))
         .where(Asset.warranty_end.is_not(None), Asset.warranty_end <= today + timedelta(days=days),
                Asset.status != "retired")
         .order_by(Asset.warranty_end, Asset.asset_tag))
    return list(session.scalars(q))
