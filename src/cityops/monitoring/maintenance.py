"""Maintenance windows (IOT-5): which devices are under planned maintenance right now."""

from __future__ import annotations

import re
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid, NotFound
from cityops.core.timeutil import local, utcnow
from cityops.devices.models import Device, Tag, device_tags
from cityops.monitoring.models import MaintenanceWindow

SCOPES = ("device", "tag", "street")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _covers(w: MaintenanceWindow, at: datetime) -> bool:
    if not (w.starts_at <= at < w.ends_at):
        return False
    if not w.weekdays:
        return True
    t = local(at)
    if t.weekday() not in w.weekdays:
        return False
    start, end = time.fromisoformat(w.daily_start), time.fromisoformat(w.daily_end)
    now = t.time()
    return start <= now < end if start < end else (now >= start or now < end)  # may span midnight


def create(session: Session, *, name: str, scope_kind: str, scope_value: str, starts_at: datetime,
           ends_at: datetime, weekdays: list[int] | None = None, daily_start: str = "", daily_end: str = "",
           reason: str = "", created_by: str = "") -> MaintenanceWindow:
    if scope_kind not in SCOPES:
        raise Invalid(f"范围类型应为以下之一：{'、'.join(SCOPES)}")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise Invalid("时间需要带 UTC 偏移量（时区）")
    if ends_at <= starts_at:
        raise Invalid("维护窗口的结束时间必须晚于开始时间")
    weekdays = sorted(set(weekdays or []))
    if any(d not in range(7) for d in weekdays):
        raise Invalid("weekdays 取值为 0（周一）… 6（周日）")
    if weekdays and not (_HHMM.match(daily_start or "") and _HHMM.match(daily_end or "")):
        raise Invalid("按周重复的维护窗口需要以 HH:MM 格式填写 daily_start 和 daily_end")
    if scope_kind == "device" and session.get(Device, int(scope_value) if scope_value.isdigit() else -1) is None:
        raise Invalid(f"未知设备 {scope_value!r}")
    if scope_kind == "tag" and session.get(Tag, int(scope_value) if scope_value.isdigit() else -1) is None:
        raise Invalid(f"未知标签 {scope_value!r}")
    w = MaintenanceWindow(name=name.strip() or "维护", scope_kind=scope_kind, scope_value=str(scope_value),
                          starts_at=starts_at, ends_at=ends_at, weekdays=weekdays, daily_start=daily_start,
                          daily_end=daily_end, reason=reason, created_by=created_by)
    session.add(w)
    session.flush()
    return w


def delete(session: Session, window_id: int) -> None:
    w = session.get(MaintenanceWindow, window_id)
    if w is None:
        raise NotFound(f"维护窗口 {window_id} 不存在")
    session.delete(w)
    session.flush()


def list_windows(session: Session, *, current_only: bool = False) -> list[MaintenanceWindow]:
    q = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc())
    if current_only:
        q = q.where(MaintenanceWindow.ends_at > utcnow())
    return list(session.scalars(q))


def _covering(session: Session, at: datetime) -> list[MaintenanceWindow]:
    return [w for w in session.scalars(select(MaintenanceWindow).where(MaintenanceWindow.starts_at <= at,
                                                                       MaintenanceWindow.ends_at > at))
            if _covers(w, at)]


def devices_in_maintenance(session: Session, at: datetime | None = None) -> dict[int, int]:
    """device id → the window covering it at `at` (now by default)."""
    out: dict[int, int] = {}
    for w in _covering(session, at or utcnow()):
        if w.scope_kind == "device":
            ids = [int(w.scope_value)]
        elif w.scope_kind == "tag":
            ids = session.scalars(select(device_tags.c.device_id).where(device_tags.c.tag_id == int(w.scope_value)))
        else:
            ids = session.scalars(select(Device.id).where(Device.street_code == w.scope_value))
        for i in ids:
            out.setdefault(i, w.id)
    return out


def window_for(session: Session, device_id: int, at: datetime | None = None) -> int | None:
    """The window covering one device (checked against that device only: called on every new alarm)."""
    windows = _covering(session, at or utcnow())
    if not windows:
        return None
    street = session.scalar(select(Device.street_code).where(Device.id == device_id))
    tags = None
    for w in windows:
        if w.scope_kind == "device" and w.scope_value == str(device_id):
            return w.id
        if w.scope_kind == "street" and w.scope_value == street:
            return w.id
        if w.scope_kind == "tag":
            if tags is None:
                tags = {str(t) for t in session.scalars(select(device_tags.c.tag_id)
                                                        .where(device_tags.c.device_id == device_id))}
            if w.scope_value in tags:
                return w.id
    return None
