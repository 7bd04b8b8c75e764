"""Automatic verification of disposed city events (IOT-6, IOT-7, SYS-DISPATCH): the closing
step of the loop.

An event from a device alarm (source_kind "iot_alarm") passes when every alarm linked to it
is cleared and has stayed clear for the policy's `verify_hold_min` (no newer alarm of the same
device and type since — an open one fails the check, a cleared one restarts the hold), and
the device is online by its current run state. Where the device's connection has an upstream
sync source whose adapter can ask for one device (`device_online(settings, external_id)`),
the carrier is asked too; the shipped `http_json` adapter only reads whole lists, so that
check is recorded as skipped, with the reason. Pass → verified then closed; fail → returned
to accepted with the reason in Chinese; hold still running → nothing but the record.
Acting as "system:verify", details {"verification": {...}} on the transitions (the flow watch
counts repeated failures from them). Every check is an `event_verifications` row; a run of
waiting checks updates one row instead of adding one every 30 s.

Hotline/citizen events are verified by a callback (回访): `record_callback_result`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict
from cityops.core.timeutil import utcnow
from cityops.devices.models import Device
from cityops.events import lifecycle
from cityops.events import service as events
from cityops.events.intake_models import EventAlarmLink, EventVerification, IntakePolicy
from cityops.events.models import CityEvent
from cityops.monitoring.models import Alarm, DeviceStateChange

log = logging.getLogger(__name__)

ACTOR = "system:verify"
DEFAULT_HOLD_MIN = 10
RUN_STATE_LABELS = {"online": "在线", "silent": "静默（仅心跳）", "offline": "离线", "never_seen": "从未上报"}


def run_state(session: Session, device: Device) -> str:
    """The device's current liveness state: its last recorded transition, else devices.online."""
    last = session.scalar(select(DeviceStateChange.new).where(DeviceStateChange.device_id == device.id)
                          .order_by(DeviceStateChange.at.desc(), DeviceStateChange.id.desc()).limit(1))
    if last:
        return last
    return {True: "online", False: "offline"}.get(device.online, "never_seen")


def carrier_check(session: Session, device: Device) -> dict[str, Any]:
    """Ask the carrier platform about one device, where its adapter can; else say why not."""
    from cityops.devices import sync, upstream

    source = sync.find_source(session, device.connection_id) if device.connection_id else None
    if source is None or not source.enabled:
        return {"skipped": True, "reason": "设备所属连接没有启用的上游同步，未向运营商复核"}
    adapter = upstream.get(source.adapter)
    ask = getattr(adapter, "device_online", None)
    if ask is None:
        return {"skipped": True, "adapter": source.adapter,
                "reason": f"上游接口（{source.adapter}）只能整表拉取设备清单，不支持单设备查询，未向运营商复核"}
    settings, _ = sync._adapter_settings(source)
    try:
        online = ask(settings, device.external_id)
    except upstream.UpstreamError as exc:
        return {"skipped": True, "adapter": source.adapter, "reason": f"运营商平台查询失败：{exc.message}"}
    if online is None:
        return {"skipped": True, "adapter": source.adapter, "reason": "运营商平台未返回该设备的在线状态"}
    return {"skipped": False, "adapter": source.adapter, "online": bool(online)}


def _hold_minutes(session: Session, links: list[EventAlarmLink]) -> int:
    holds = [session.scalar(select(IntakePolicy.verify_hold_min).where(IntakePolicy.id == ln.policy_id))
             for ln in links if ln.policy_id is not None]
    holds = [h for h in holds if h is not None]
    return max(holds) if holds else DEFAULT_HOLD_MIN


def evaluate(session: Session, ev: CityEvent, now: datetime) -> tuple[bool | None, str, dict[str, Any]]:
    """(passed, reason, checks) for an alarm event; passed None = still waiting."""
    links = list(session.scalars(select(EventAlarmLink).where(EventAlarmLink.event_id == ev.id,
                                                              EventAlarmLink.outcome != "ignored")))
    hold = _hold_minutes(session, links)
    checks: dict[str, Any] = {"hold_min": hold, "alarms": [], "devices": []}
    fails: list[str] = []
    waits: list[str] = []
    device_ids: list[int] = []
    for ln in links:
        alarm = session.get(Alarm, ln.alarm_id)
        if alarm is None:
            continue
        if alarm.device_id not in device_ids:
            device_ids.append(alarm.device_id)
        # this alarm and every later one of the same device and type
        later = list(session.scalars(select(Alarm).where(Alarm.device_id == alarm.device_id,
                                                         Alarm.alarm_type == alarm.alarm_type,
                                                         Alarm.first_at >= alarm.first_at).order_by(Alarm.first_at)))
        still_open = [a for a in later if a.state != "cleared"]
        last_clear = max((a.cleared_at for a in later if a.cleared_at is not None), default=None)
        entry = {"alarm_id": alarm.id, "device_id": alarm.device_id, "alarm_type": alarm.alarm_type,
                 "state": alarm.state, "cleared_at": last_clear.isoformat() if last_clear else None}
        if still_open:
            again = [a for a in still_open if a.id != alarm.id]
            entry["ok"] = False
            entry["open_alarm_id"] = still_open[-1].id
            fails.append(f"设备再次告警“{alarm.alarm_type}”" if again else f"告警“{alarm.alarm_type}”仍未消除")
        elif last_clear is not None and now - last_clear < timedelta(minutes=hold):
            left = timedelta(minutes=hold) - (now - last_clear)
            entry["ok"] = None
            entry["hold_left_s"] = int(left.total_seconds())
            waits.append(f"告警“{alarm.alarm_type}”已消除，观察期还剩 {max(1, round(left.total_seconds() / 60))} 分钟")
        else:
            entry["ok"] = True
        checks["alarms"].append(entry)
    for device_id in device_ids:
        device = session.get(Device, device_id)
        if device is None:
            continue
        state = run_state(session, device)
        d = {"device_id": device.id, "code": device.code, "run_state": state, "ok": state == "online"}
        if state != "online":
            fails.append(f"设备 {device.code} 当前{RUN_STATE_LABELS.get(state, state)}，无法确认现场已恢复")
        checks["devices"].append(d)
    if fails:
        return False, "；".join(fails), checks
    if waits:
        return None, "；".join(waits), checks
    # the network question last: only when everything local already passes
    for d in checks["devices"]:
        carrier = carrier_check(session, session.get(Device, d["device_id"]))
        d["carrier"] = carrier
        if not carrier["skipped"] and not carrier["online"]:
            fails.append(f"运营商平台显示设备 {d['code']} 离线")
    if fails:
        return False, "；".join(fails), checks
    return True, f"告警已消除并保持 {hold} 分钟，设备在线", checks


def _record(session: Session, ev: CityEvent, *, kind: str, passed: bool | None, reason: str,
            checks: dict[str, Any], actor: str, now: datetime) -> EventVerification:
    last = session.scalar(select(EventVerification).where(EventVerification.event_id == ev.id)
                          .order_by(EventVerification.at.desc(), EventVerification.id.desc()).limit(1))
    if passed is None and last is not None and last.passed is None and last.kind == kind:
        last.at, last.reason, last.checks, last.actor = now, reason, checks, actor  # still the same wait
        session.flush()
        return last
    row = EventVerification(event_id=ev.id, at=now, kind=kind, passed=passed, checks=checks, reason=reason,
                            actor=actor)
    session.add(row)
    session.flush()
    return row


def _conclude(session: Session, ev: CityEvent, passed: bool, reason: str, verification: dict[str, Any],
              *, actor: str, now: datetime) -> None:
    details = {"verification": verification}
    if passed:
        lifecycle.transition(session, ev.id, "verified", actor=actor, role="system", at=now, details=details)
        lifecycle.transition(session, ev.id, "closed", actor=actor, role="system", at=now, details=details)
    else:
        lifecycle.transition(session, ev.id, "returned", actor=actor, role="system", reason=reason, at=now,
                             details=details)


def verify_event(session: Session, event_id: int, *, now: datetime | None = None, kind: str = "auto",
                 actor: str = ACTOR, scope: str | None = None) -> EventVerification:
    """Run the automatic check on one disposed alarm event and act on its outcome."""
    now = now or utcnow()
    ev = events.get_event(session, event_id, scope=scope)
    if ev.state != "disposed":
        raise Conflict(f"事件 {ev.number} 当前状态为 {lifecycle.STATE_LABELS.get(ev.state, ev.state)}，"
                       "只有处置完成的事件可以核查")
    if ev.source_kind != "iot_alarm":
        raise Conflict(f"事件 {ev.number} 不是设备告警生成的事件，不能自动核查；请人工核查或回访")
    if session.scalar(select(EventAlarmLink.id).where(EventAlarmLink.event_id == ev.id).limit(1)) is None:
        raise Conflict(f"事件 {ev.number} 没有关联的设备告警，不能自动核查；请人工核查")
    passed, reason, checks = evaluate(session, ev, now)
    row = _record(session, ev, kind=kind, passed=passed, reason=reason, checks=checks, actor=actor, now=now)
    if passed is not None:
        _conclude(session, ev, passed, "自动核查未通过：" + reason if not passed else reason,
                  {"id": row.id, "kind": kind, "passed": passed, "reason": reason, "requested_by": actor, **checks},
                  actor=ACTOR, now=now)
    return row


def due_events(session: Session, limit: int = 200) -> list[int]:
    """Disposed alarm events that intake linked to alarms (a hand-made "iot_alarm" event has
    nothing to check and is left to people)."""
    linked = exists().where(EventAlarmLink.event_id == CityEvent.id)
    return list(session.scalars(select(CityEvent.id).where(CityEvent.state == "disposed",
                                                           CityEvent.source_kind == "iot_alarm",
                                                           CityEvent.merged_into_id.is_(None), linked)
                                .order_by(CityEvent.disposed_at, CityEvent.id).limit(limit)))


def record_callback_result(session: Session, event_id: int, *, satisfied: bool, note: str, actor: str,
                           now: datetime | None = None, scope: str | None = None) -> EventVerification:
    """The citizen callback (回访) outcome for a disposed event: satisfied → verified and closed,
    not satisfied → returned with the note as the reason. The hook the AI callout will call."""
    now = now or utcnow()
    ev = events.get_event(session, event_id, scope=scope)
    if ev.state != "disposed":
        raise Conflict(f"事件 {ev.number} 当前状态为 {lifecycle.STATE_LABELS.get(ev.state, ev.state)}，"
                       "只有处置完成的事件可以登记回访结果")
    note = (note or "").strip()
    reason = ("回访满意" if satisfied else "回访不满意") + (f"：{note}" if note else "")
    checks = {"callback": {"satisfied": satisfied, "note": note}}
    row = _record(session, ev, kind="callback", passed=satisfied, reason=reason, checks=checks, actor=actor, now=now)
    _conclude(session, ev, satisfied, reason, {"id": row.id, "kind": "callback", "passed": satisfied,
                                               "reason": reason, **checks}, actor=actor, now=now)
    return row


def verifications(session: Session, event_id: int, *, scope: str | None = None) -> list[EventVerification]:
    events.get_event(session, event_id, scope=scope)
    return list(session.scalars(select(EventVerification).where(EventVerification.event_id == event_id)
                                .order_by(EventVerification.at.desc(), EventVerification.id.desc())))
