"""Device KPIs (IOT-5): live online rate (设备在线率) by street, vendor, type or tag, and alarm
handling times. Retired and planned devices are not counted; never-seen devices count as
not online (they were installed and have not reported). The daily history sampled from these
figures is in `kpi_history`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid
from cityops.devices.models import Device, Tag, device_tags
from cityops.monitoring.models import Alarm

DIMENSIONS = ("street_code", "vendor", "device_type", "platform", "tag")


def _in_maintenance(session: Session, at: datetime | None = None) -> list[int]:
    """Devices under a maintenance window at `at` (now) are left out of the online rate."""
    from cityops.monitoring.maintenance import devices_in_maintenance

    return list(devices_in_maintenance(session, at))


def online_rate(session: Session, *, by: str = "street_code", scope: str | None = None,
                at: datetime | None = None) -> list[dict[str, Any]]:
    if by not in DIMENSIONS:
        raise Invalid(f"不能按 {by!r} 分组，应为以下之一：{'、'.join(DIMENSIONS)}")
    online = func.sum(case((Device.online.is_(True), 1), else_=0))
    counted = Device.status.in_(("active", "maintenance"))
    if by == "tag":
        key = (Tag.category + ":" + Tag.name).label("key")
        q = (select(key, func.count(Device.id), online).select_from(Device)
             .join(device_tags, device_tags.c.device_id == Device.id).join(Tag, Tag.id == device_tags.c.tag_id))
    else:
        key = getattr(Device, by).label("key")
        q = select(key, func.count(Device.id), online).select_from(Device)
    q = q.where(counted)
    maint = _in_maintenance(session, at)
    if maint:
        q = q.where(Device.id.not_in(maint))
    if scope:
        q = q.where(Device.street_code == scope)
    rows = session.execute(q.group_by(key).order_by(key)).all()
    return [{"key": k or "", "devices": n, "online": int(o or 0), "rate": round((o or 0) / n, 4) if n else None}
            for k, n, o in rows]


def overall(session: Session, *, scope: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    q = select(func.count(Device.id), func.sum(case((Device.online.is_(True), 1), else_=0)),
               func.sum(case((Device.online.is_(False), 1), else_=0)),
               func.sum(case((Device.last_seen_at.is_(None), 1), else_=0))).where(
        Device.status.in_(("active", "maintenance")))
    maint = _in_maintenance(session, at)
    if maint:
        q = q.where(Device.id.not_in(maint))
    if scope:
        q = q.where(Device.street_code == scope)
    n, on, off, never = session.execute(q).one()
    n, on = n or 0, int(on or 0)
    return {"devices": n, "online": on, "offline": int(off or 0), "never_seen": int(never or 0),
            "rate": round(on / n, 4) if n else None}


def alarm_times(session: Session, *, since: datetime | None = None, until: datetime | None = None,
                scope: str | None = None) -> dict[str, Any]:
    """Mean time to acknowledge and to clear, in seconds, over alarms raised in [since, until);
    a street user's figure covers the devices of their street only. Suppressed alarms
    (maintenance, folded under a gateway or a flapping device) are left out: nobody was called."""
    q = select(Alarm.first_at, Alarm.acked_at, Alarm.cleared_at).where(Alarm.suppressed.is_(False))
    if since:
        q = q.where(Alarm.first_at >= since)
    if until:
        q = q.where(Alarm.first_at < until)
    if scope:
        q = q.where(Alarm.device_id.in_(select(Device.id).where(Device.street_code == scope)))
    return times_summary(session.execute(q).all())


def times_summary(rows: list[tuple[datetime, datetime | None, datetime | None]]) -> dict[str, Any]:
    """MTTA/MTTC over (first_at, acked_at, cleared_at) rows; None when nothing was acknowledged/cleared."""
    ack, clr = [], []
    for first, acked, cleared in rows:
        if acked:
            ack.append((acked - first).total_seconds())
        if cleared:
            clr.append((cleared - first).total_seconds())
    mean = lambda xs: round(sum(xs) / len(xs), 1) if xs else None
    return {"alarms": len(rows), "mtta_s": mean(ack), "mttc_s": mean(clr),
            "acknowledged": len(ack), "cleared": len(clr)}
