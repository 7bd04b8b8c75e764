"""Alarms and device state history (IOT-5).

One open alarm per device and type: a repeat raises the counter and may escalate the
severity; it never makes a second row. Offline alarms of devices whose parent (gateway,
NVR) is itself offline are folded under the parent's alarm and marked suppressed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.core.db import savepoint
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.devices.models import Device
from cityops.monitoring.models import SEVERITIES, Alarm, DeviceStateChange

OFFLINE_ALARM = "offline"
SILENT_ALARM = "silent"
FLAPPING_ALARM = "flapping"
FLAP_WINDOW = timedelta(hours=1)
FLAP_LIMIT = 6  # online↔offline changes within the window that make a device "flapping"
ONLINE_VALUES = {"online": True, "silent": True, "offline": False, "never_seen": None}


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def open_alarm(session: Session, device_id: int, alarm_type: str) -> Alarm | None:
    return session.scalar(select(Alarm).where(Alarm.device_id == device_id, Alarm.alarm_type == alarm_type,
                                              Alarm.state != "cleared"))


def raise_alarm(session: Session, *, device_id: int, alarm_type: str, severity: str, source: str,
                message: str = "", details: dict[str, Any] | None = None, at: datetime | None = None) -> Alarm:
    """Open an alarm, or count a repeat on the open one (IOT-5: one open alarm per device+type).

    Safe against a concurrent raise of the same device+type in another process: the insert runs
    in a SAVEPOINT and, when the partial unique index ``uq_alarms_open_device_type`` rejects it
    because the other side committed first, the open alarm is re-read and the raise counted as
    a repeat instead of failing."""
    if severity not in SEVERITIES:
        raise Invalid(f"未知的告警级别 {severity!r}，应为以下之一：{'、'.join(SEVERITIES)}")
    at = at or utcnow()
    alarm = open_alarm(session, device_id, alarm_type)
    if alarm is not None:
        return _repeat(session, alarm, severity, message, at)
    alarm = Alarm(device_id=device_id, alarm_type=alarm_type, severity=severity, source=source, message=message,
                  first_at=at, last_at=at, details=dict(details or {}))
    from cityops.monitoring.maintenance import window_for

    window = window_for(session, device_id, at)
    if window is not None:  # kept for the record, but nobody is called for planned work
        alarm.suppressed = True
        alarm.details = {**alarm.details, "maintenance_window": window}
    if alarm_type == OFFLINE_ALARM:
        parent_id = session.scalar(select(Device.parent_id).where(Device.id == device_id))
        root = open_alarm(session, parent_id, OFFLINE_ALARM) if parent_id else None
        if root is not None:
            alarm.root_alarm_id = root.root_alarm_id or root.id
            alarm.suppressed = True
    try:
        with savepoint(session):
            session.add(alarm)
            session.flush()
    except IntegrityError:
        # Lost the race: another transaction opened the same alarm and committed meanwhile.
        winner = open_alarm(session, device_id, alarm_type)
        if winner is None:
            raise
        return _repeat(session, winner, severity, message, at)
    if alarm_type == OFFLINE_ALARM:
        # Children already offline fold under this new root.
        child_ids = select(Device.id).where(Device.parent_id == device_id)
        session.execute(update(Alarm).where(Alarm.device_id.in_(child_ids), Alarm.alarm_type == OFFLINE_ALARM,
                                            Alarm.state != "cleared", Alarm.root_alarm_id.is_(None))
                        .values(root_alarm_id=alarm.id, suppressed=True))
    return alarm


def _repeat(session: Session, alarm: Alarm, severity: str, message: str, at: datetime) -> Alarm:
    # Counted in SQL, so two writers that both saw count = n end at n + 2, not n + 1.
    session.execute(update(Alarm).where(Alarm.id == alarm.id).values(count=Alarm.count + 1))
    session.refresh(alarm, ["count"])
    alarm.last_at = at
    if _rank(severity) > _rank(alarm.severity):  # escalate; de-escalation comes from change_severity
        alarm.severity = severity
    if message:
        alarm.message = message
    session.flush()
    return alarm


SEVERITY_HISTORY_MAX = 20


def change_severity(session: Session, *, device_id: int, alarm_type: str, severity: str, reason: str,
                    at: datetime | None = None) -> Alarm | None:
    """Set the open alarm's severity to what the rule levels say now — up or DOWN (IOT-5
    "severity escalates and de-escalates"); old → new is kept in ``details["severity_history"]``
    (the last 20). Does nothing when the device has no open alarm of that type."""
    if severity not in SEVERITIES:
        raise Invalid(f"未知的告警级别 {severity!r}，应为以下之一：{'、'.join(SEVERITIES)}")
    alarm = open_alarm(session, device_id, alarm_type)
    if alarm is None or alarm.severity == severity:
        return alarm
    at = at or utcnow()
    history = list((alarm.details or {}).get("severity_history") or [])
    history.append({"from": alarm.severity, "to": severity, "at": at.isoformat(), "reason": reason})
    alarm.details = {**(alarm.details or {}), "severity_history": history[-SEVERITY_HISTORY_MAX:]}
    alarm.severity = severity
    session.flush()
    return alarm


def get_alarm(session: Session, alarm_id: int, *, scope: str | None = None) -> Alarm:
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(f"告警 {alarm_id} 不存在")
    if scope and session.scalar(select(Device.street_code).where(Device.id == alarm.device_id)) != scope:
        raise NotFound(f"告警 {alarm_id} 不存在")
    return alarm


def acknowledge(session: Session, alarm_id: int, *, by: str, note: str = "", scope: str | None = None) -> Alarm:
    alarm = get_alarm(session, alarm_id, scope=scope)
    if alarm.state != "active":
        raise Conflict(f"告警 {alarm_id} 的状态为 {alarm.state}，只有 active 状态的告警才能确认")
    alarm.state, alarm.acked_at, alarm.acked_by, alarm.ack_note = "acknowledged", utcnow(), by, note
    session.flush()
    return alarm


def clear(session: Session, alarm_id: int, *, by: str, reason: str, scope: str | None = None) -> Alarm:
    """Manual clear needs a reason; automatic clears pass by='system'."""
    if not reason.strip():
        raise Invalid("手动清除告警需要填写原因")
    alarm = get_alarm(session, alarm_id, scope=scope)
    if alarm.state == "cleared":
        raise Conflict(f"告警 {alarm_id} 已清除")
    alarm.state, alarm.cleared_at, alarm.cleared_by, alarm.clear_reason = "cleared", utcnow(), by, reason
    session.flush()
    if alarm.alarm_type == OFFLINE_ALARM:  # children folded under it stand on their own again
        session.execute(update(Alarm).where(Alarm.root_alarm_id == alarm.id, Alarm.state != "cleared")
                        .values(root_alarm_id=None, suppressed=False))
    return alarm


def auto_clear(session: Session, device_id: int, alarm_type: str, reason: str) -> Alarm | None:
    alarm = open_alarm(session, device_id, alarm_type)
    if alarm is not None:
        clear(session, alarm.id, by="system", reason=reason)
    return alarm


def record_transition(session: Session, *, device_id: int, old: str, new: str, reason: str,
                      at: datetime | None = None) -> None:
    """Store a liveness transition, keep devices.online in step, raise/clear the offline alarm."""
    at = at or utcnow()
    if session.get(Device, device_id) is None:
        return  # deleted meanwhile
    session.add(DeviceStateChange(device_id=device_id, at=at, old=old, new=new, reason=reason))
    session.execute(update(Device).where(Device.id == device_id).values(online=ONLINE_VALUES[new]))
    flapping = _check_flapping(session, device_id, at)
    if new == "offline" and flapping:
        # A flapping device's offline alarms are folded under its flapping alarm: one call, not ten.
        raise_alarm(session, device_id=device_id, alarm_type=OFFLINE_ALARM, severity="warning", source="liveness",
                    message="设备离线（频繁上下线，已抑制）", at=at, details={"flapping": True})
        off = open_alarm(session, device_id, OFFLINE_ALARM)
        off.suppressed = True
    elif new == "offline":
        why = "运营商上报离线" if reason == "carrier" else "超过上报周期未收到任何消息"
        raise_alarm(session, device_id=device_id, alarm_type=OFFLINE_ALARM, severity="warning", source="liveness",
                    message=f"设备离线：{why}", at=at)
    elif new == "silent":
        raise_alarm(session, device_id=device_id, alarm_type=SILENT_ALARM, severity="info", source="liveness",
                    message="设备仅有心跳、无业务数据", at=at)
    if new in ("online", "silent"):
        auto_clear(session, device_id, OFFLINE_ALARM, "设备恢复上报")
    if new == "online":
        auto_clear(session, device_id, SILENT_ALARM, "设备恢复业务数据上报")
    session.flush()


_SET_ONLINE = Device.__table__.update().where(Device.__table__.c.id == bindparam("did")).values(online=True)


def record_first_reports(session: Session, reports: list[tuple[int, str, datetime]]) -> None:
    """never_seen → online for many devices at once, (device_id, reason, at) each: the bulk
    form of `record_transition` for a first report, which has no alarm to raise or clear.
    Devices deleted meanwhile are skipped, as `record_transition` does."""
    if not reports:
        return
    ids = sorted({d for d, _, _ in reports})
    existing: set[int] = set()
    for i in range(0, len(ids), 1000):
        existing.update(session.scalars(select(Device.id).where(Device.id.in_(ids[i:i + 1000]))))
    rows = [{"device_id": d, "old": "never_seen", "new": "online", "reason": reason, "at": at}
            for d, reason, at in reports if d in existing]
    if rows:
        session.execute(insert(DeviceStateChange), rows)
        session.execute(_SET_ONLINE, [{"did": r["device_id"]} for r in rows])


def _check_flapping(session: Session, device_id: int, at: datetime) -> bool:
    """Raise a flapping alarm at FLAP_LIMIT changes per window; clear it when calm again."""
    session.flush()
    changes = session.scalar(select(func.count(DeviceStateChange.id)).where(
        DeviceStateChange.device_id == device_id, DeviceStateChange.at > at - FLAP_WINDOW,
        DeviceStateChange.new.in_(("online", "offline")))) or 0
    if changes >= FLAP_LIMIT:
        raise_alarm(session, device_id=device_id, alarm_type=FLAPPING_ALARM, severity="warning", source="liveness",
                    message=f"设备频繁上下线：{changes} 次/小时", at=at, details={"changes_per_hour": changes})
        return True
    if changes < FLAP_LIMIT // 2:
        auto_clear(session, device_id, FLAPPING_ALARM, "上下线频率恢复正常")
    return False


def top_flapping(session: Session, *, since: datetime, limit: int = 10) -> list[tuple[int, int]]:
    """Devices with the most online/offline changes since `since` (KPI)."""
    return [(d, n) for d, n in session.execute(
        select(DeviceStateChange.device_id, func.count(DeviceStateChange.id))
        .where(DeviceStateChange.at >= since, DeviceStateChange.new.in_(("online", "offline")))
        .group_by(DeviceStateChange.device_id).order_by(func.count(DeviceStateChange.id).desc()).limit(limit))]


def list_alarms(session: Session, *, state: str | None = None, open_only: bool = False, severity: str | None = None,
                device_id: int | None = None, alarm_type: str | None = None, scope: str | None = None,
                include_suppressed: bool = True, limit: int = 50, offset: int = 0) -> tuple[list[Alarm], int]:
    q = select(Alarm)
    if state:
        q = q.where(Alarm.state == state)
    if open_only:
        q = q.where(Alarm.state != "cleared")
    if severity:
        q = q.where(Alarm.severity == severity)
    if device_id:
        q = q.where(Alarm.device_id == device_id)
    if alarm_type:
        q = q.where(Alarm.alarm_type == alarm_type)
    if not include_suppressed:
        q = q.where(Alarm.suppressed.is_(False))
    if scope:
        q = q.where(Alarm.device_id.in_(select(Device.id).where(Device.street_code == scope)))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(Alarm.last_at.desc(), Alarm.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def state_history(session: Session, device_id: int, limit: int = 100) -> list[DeviceStateChange]:
    return list(session.scalars(select(DeviceStateChange).where(DeviceStateChange.device_id == device_id)
                                .order_by(DeviceStateChange.id.desc()).limit(limit)))


def folded_counts(session: Session, root_ids: list[int]) -> dict[int, int]:
    """How many open child alarms are folded under each root (topology suppression)."""
    if not root_ids:
        return {}
    rows = session.execute(select(Alarm.root_alarm_id, func.count()).where(
        Alarm.root_alarm_id.in_(root_ids), Alarm.state != "cleared").group_by(Alarm.root_alarm_id)).all()
    return {root: n for root, n in rows}
