"""Device KPIs (IOT-5): live online rate (设备在线率) by street, vendor, type or tag, and alarm
handling times. Retired and planned devices are not counted; never-seen devices count as
not online (they were installed and have not reported)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid
from cityops.devices.models import Device, Tag, device_tags
from cityops.monitoring.models import Alarm

DIMENSIONS = ("street_code", "vendor", "device_type", "platform", "tag")


def _in_maintenance(session: Session) -> list[int]:
    """Devices under a maintenance window now are left out of the online rate."""
    from cityops.monitoring.maintenance import devices_in_maintenance

    return list(devices_in_maintenance(session))


def online_rate(session: Session, *, by: str = "street_code", scope: str | None = None) -> list[dict[str, Any]]:
    if by not in DIMENSIONS:
        raise Invalid(f"cannot group by {by!r}; one of: {', '.join(DIMENSIONS)}")
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
    maint = _in_maintenance(session)
    if maint:
        q = q.where(Device.id.not_in(maint))
    if scope:
        q = q.where(Device.street_code == scope)
    rows = session.execute(q.group_by(key).order_by(key)).all()
    return [{"key": k or "", "devices": n, "online": int(o or 0), "rate": round((o or 0) / n, 4) if n else None}
            for k, n, o in rows]


def overall(session: Session, *, scope: str | None = None) -> dict[str, Any]:
    q = select(func.count(Device.id), func.sum(case((Device.online.is_(True), 1), else_=0)),
               func.sum(case((Device.online.is_(False), 1), else_=0)),
               func.sum(case((Device.last_seen_at.is_(None), 1), else_=0))).where(
        Device.status.in_(("active", "maintenance")))
    maint = _in_maintenance(session)
    if maint:
        q = q.where(Device.id.not_in(maint))
    if scope:
        q = q.where(Device.street_code == scope)
    n, on, off, never = session.execute(q).one()
    n, on = n or 0, int(on or 0)
    return {"devices": n, "online": on, "offline": int(off or 0), "never_seen": int(never or 0),
            "rate": round(on / n, 4) if n else None}


def alarm_times(session: Session, *, since: datetime | None = None) -> dict[str, Any]:
    """Mean time to acknowledge and to clear, in seconds, over alarms raised since `since`."""
    q = select(Alarm.first_at, Alarm.acked_at, Alarm.cleared_at)
    if since:
        q = q.where(Alarm.first_at >= since)
    ack, clr, total = [], [], 0
    for first, acked, cleared in session.execute(q):
        total += 1
        if acked:
            ack.append((acked - first).total_seconds())
        if cleared:
            clr.append((cleared - first).total_seconds())
    mean = lambda xs: round(sum(xs) / len(xs), 1) if xs else None  # noqa: E731
    return {"alarms": total, "mtta_s": mean(ack), "mttc_s": mean(clr),
            "acknowledged": len(ack), "cleared": len(clr)}
