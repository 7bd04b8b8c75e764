"""Event intake (IOT-6, IOT-7, SYS-DISPATCH): device alarms and AI-vision detections become
city events.

Alarms: `process_alarms` (job `events.intake`, every 2 s and woken by the bus topic
`alarm.raise`) takes each open, unsuppressed alarm that intake has not decided on yet, finds
the first enabled policy that matches (priority, then age) and — once the alarm has been open
for the policy's `min_active_s` — creates the event (geo lookup and merging by
`events.service.create_event`), then accepts and dispatches it as the policy says, acting as
"system:intake". The decision is an `event_alarm_links` row whose unique `alarm_id` makes a
second run, or a second process, a no-op. Alarms no policy takes are linked as "ignored";
editing a policy puts the still-open ignored ones back in the queue.

Vision: `take_vision` maps a detection type to a category (`event_vision_mappings`), refuses
detections below the mapping's confidence, stores the snapshot as an attachment and is
idempotent on the client's `detection_id`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.core.db import savepoint
from cityops.core.errors import Conflict, Invalid, NotFound, Problem
from cityops.core.timeutil import fmt_local, utcnow
from cityops.devices.models import Device, device_tags
from cityops.events import lifecycle
from cityops.events import service as events
from cityops.events.intake_models import (
    ACTIONS,
    ALARM_SOURCES,
    EventAlarmLink,
    IntakePolicy,
    VisionDetection,
    VisionMapping,
)
from cityops.events.models import SEVERITIES, CityEvent
from cityops.monitoring.models import Alarm

log = logging.getLogger(__name__)

ACTOR = "system:intake"
LOOKBACK = timedelta(hours=24)  # alarms last seen longer ago are history, not news
BATCH = 500
POLICY_FIELDS = ("name", "priority", "alarm_type", "min_severity", "device_type", "tag_id", "street_code", "source",
                 "action", "category_code", "severity", "auto_accept", "auto_dispatch", "min_active_s",
                 "verify_hold_min", "enabled", "note")
MAPPING_FIELDS = ("detection_type", "category_code", "min_confidence", "severity", "auto_accept", "enabled", "note")


# -- policies -------------------------------------------------------------------------------

def list_policies(session: Session) -> list[IntakePolicy]:
    """In the order they are tried."""
    return list(session.scalars(select(IntakePolicy).order_by(IntakePolicy.priority.desc(), IntakePolicy.id)))


def get_policy(session: Session, policy_id: int) -> IntakePolicy:
    p = session.get(IntakePolicy, policy_id)
    if p is None:
        raise NotFound(f"立案策略 {policy_id} 不存在")
    return p


def _leaf(session: Session, code: str, what: str) -> None:
    if not code:
        raise Invalid(f"{what}需要一个事件分类（细类代码）")
    try:
        cat = events.category_by_code(session, code)
    except NotFound:
        raise Invalid(f"没有代码为 {code} 的事件分类") from None
    if not cat.enabled:
        raise Invalid(f"事件分类 {cat.code} {cat.name} 已停用")
    if events._has_children(session, cat.id):
        raise Invalid(f"事件分类 {cat.code} {cat.name} 不是细类，请选择细类")


def _check_policy(session: Session, v: dict[str, Any], current: IntakePolicy | None) -> None:
    for key in ("name", "alarm_type", "device_type", "street_code", "source", "category_code", "severity", "note"):
        if key in v:
            v[key] = (v[key] or "").strip()
    if "name" in v:
        if not v["name"]:
            raise Invalid("立案策略需要名称")
        clash = session.scalar(select(IntakePolicy.id).where(IntakePolicy.name == v["name"]))
        if clash is not None and (current is None or clash != current.id):
            raise Conflict(f"已有名为“{v['name']}”的立案策略")
    merged = {f: getattr(current, f) for f in POLICY_FIELDS} if current else {}
    merged.update(v)
    if merged.get("action", "event") not in ACTIONS:
        raise Invalid(f"action 应为以下之一：{'、'.join(ACTIONS)}")
    if merged.get("min_severity", "info") not in SEVERITIES:
        raise Invalid(f"min_severity 应为以下之一：{'、'.join(SEVERITIES)}")
    if merged.get("severity") and merged["severity"] not in SEVERITIES:
        raise Invalid(f"severity 应留空（沿用告警的级别）或为以下之一：{'、'.join(SEVERITIES)}")
    if merged.get("source") and merged["source"] not in ALARM_SOURCES:
        raise Invalid(f"source 应留空（不限）或为以下之一：{'、'.join(ALARM_SOURCES)}")
    if "*" in (merged.get("alarm_type") or "")[:-1]:
        raise Invalid("告警类型只能在末尾使用 *（前缀匹配）")
    if not 0 <= int(merged.get("min_active_s") or 0) <= 86400:
        raise Invalid("min_active_s 应在 0 到 86400 秒之间")
    if not 0 <= int(merged.get("verify_hold_min", 10)) <= 1440:
        raise Invalid("verify_hold_min 应在 0 到 1440 分钟之间")
    if merged.get("action", "event") == "event":
        _leaf(session, merged.get("category_code") or "", "生成事件的策略")
    if merged.get("auto_dispatch"):
        v["auto_accept"] = True  # dispatching needs the event accepted first


def _requeue_ignored(session: Session) -> int:
    """A changed policy may now take alarms it passed over: forget "ignored" decisions of open alarms."""
    open_ids = select(Alarm.id).where(Alarm.state != "cleared")
    return session.execute(delete(EventAlarmLink).where(EventAlarmLink.outcome == "ignored",
                                                        EventAlarmLink.alarm_id.in_(open_ids))).rowcount or 0


def create_policy(session: Session, *, created_by: str = "", **fields: Any) -> IntakePolicy:
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    fields.setdefault("name", "")
    _check_policy(session, fields, None)
    p = IntakePolicy(created_by=created_by, **fields)
    session.add(p)
    session.flush()
    _requeue_ignored(session)
    return p


def update_policy(session: Session, policy_id: int, **changes: Any) -> IntakePolicy:
    p = get_policy(session, policy_id)
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise Invalid(f"不能修改 {'、'.join(sorted(unknown))}")
    _check_policy(session, changes, p)
    for k, val in changes.items():
        setattr(p, k, val)
    session.flush()
    _requeue_ignored(session)
    return p


def delete_policy(session: Session, policy_id: int) -> None:
    session.delete(get_policy(session, policy_id))
    session.flush()
    _requeue_ignored(session)


# -- matching ----------------------------------------------------------------------------------

def type_matches(pattern: str, alarm_type: str) -> bool:
    if not pattern or pattern == "*":
        return True
    if pattern.endswith("*"):
        return alarm_type.startswith(pattern[:-1])
    return alarm_type == pattern


def policy_matches(p: IntakePolicy, alarm: Alarm, device: Device, tag_ids: Iterable[int]) -> bool:
    return (p.enabled and type_matches(p.alarm_type, alarm.alarm_type)
            and SEVERITIES.index(alarm.severity) >= SEVERITIES.index(p.min_severity)
            and (not p.device_type or p.device_type == device.device_type)
            and (p.tag_id is None or p.tag_id in set(tag_ids))
            and (not p.street_code or p.street_code == device.street_code)
            and (not p.source or p.source == alarm.source))


def match(policies: list[IntakePolicy], alarm: Alarm, device: Device, tag_ids: Iterable[int]) -> IntakePolicy | None:
    """The first enabled policy (in `list_policies` order) that matches the alarm."""
    tags = set(tag_ids)
    return next((p for p in policies if policy_matches(p, alarm, device, tags)), None)


# -- alarms → events -------------------------------------------------------------------------

@dataclass
class IntakeResult:
    created: int = 0
    merged: int = 0
    ignored: int = 0
    waiting: int = 0
    taken: int = 0  # decided by another process meanwhile
    failed: int = 0
    seen: int = 0  # alarms looked at in this pass
    last_id: int = 0  # the next pass starts after it


def pending_alarms(session: Session, now: datetime, limit: int = BATCH, after_id: int = 0) -> list[Alarm]:
    """Open, unsuppressed alarms seen within the last day that intake has not decided on, oldest
    first, from `after_id` on (alarms still waiting out min_active_s never hide newer ones)."""
    linked = exists().where(EventAlarmLink.alarm_id == Alarm.id)
    return list(session.scalars(select(Alarm).where(Alarm.state != "cleared", Alarm.suppressed.is_(False),
                                                    Alarm.last_at >= now - LOOKBACK, Alarm.id > after_id, ~linked)
                                .order_by(Alarm.id).limit(limit)))


def _tags_of(session: Session, device_ids: list[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    if device_ids:
        for dev, tag in session.execute(select(device_tags.c.device_id, device_tags.c.tag_id)
                                        .where(device_tags.c.device_id.in_(device_ids))):
            out.setdefault(dev, set()).add(tag)
    return out


def _describe(alarm: Alarm, device: Device) -> tuple[str, str]:
    title = f"{alarm.alarm_type}：{device.name}"[:200]
    lines = [f"设备 {device.code} {device.name}（{device.device_type}）于 {fmt_local(alarm.first_at)} 告警“{alarm.alarm_type}”"]
    if alarm.message:
        lines.append(f"告警内容：{alarm.message}")
    if device.address:
        lines.append(f"设备地址：{device.address}")
    lines.append(f"告警编号 #{alarm.id}")
    return title, "\n".join(lines)


def _act(session: Session, ev: CityEvent, policy: IntakePolicy, now: datetime) -> str:
    """Accept and dispatch as the policy says; a dispatch the platform side refuses leaves the
    event accepted for the duty staff (the note says why)."""
    from cityops.dispatch import service as dispatch

    if not (policy.auto_accept or policy.auto_dispatch):
        return ""
    lifecycle.transition(session, ev.id, "accepted", actor=ACTOR, role="system", at=now,
                         details={"intake_policy": policy.id})
    if not policy.auto_dispatch:
        return ""
    try:
        with savepoint(session):
            dispatch.dispatch_event(session, ev.id, actor=ACTOR, role="system", now=now)
    except Problem as exc:
        log.warning("auto-dispatch refused", extra={"event": ev.id, "error": exc.detail})
        return f"自动派遣未成功：{exc.detail}"
    return ""


def take_alarm(session: Session, alarm: Alarm, device: Device, policy: IntakePolicy | None, now: datetime) -> str:
    """Decide one alarm: "ignored", "event", "merged", or "taken" (another process was first).
    Runs in a savepoint, so a lost race or a failure leaves nothing behind."""
    try:
        with savepoint(session):
            if policy is None or policy.action == "ignore":
                session.add(EventAlarmLink(alarm_id=alarm.id, policy_id=policy.id if policy else None,
                                           outcome="ignored", at=now,
                                           note=f"策略“{policy.name}”：不生成事件" if policy else "没有匹配的立案策略"))
                session.flush()
                return "ignored"
            title, text = _describe(alarm, device)
            ev = events.create_event(session, category_code=policy.category_code, title=title, description=text,
                                     lon=device.lon, lat=device.lat, address=device.address,
                                     severity=policy.severity or alarm.severity, source_kind="iot_alarm",
                                     source_ref=f"alarm:{alarm.id}", reported_at=now, created_by=ACTOR)
            merged = ev.state == "merged"
            link = EventAlarmLink(alarm_id=alarm.id, event_id=ev.merged_into_id if merged else ev.id,
                                  report_id=ev.id, policy_id=policy.id, outcome="merged" if merged else "event",
                                  at=now)
            session.add(link)
            session.flush()  # the unique alarm_id refuses a second decision here
            if not merged:
                link.note = _act(session, ev, policy, now)
            session.flush()
            return link.outcome
    except IntegrityError:
        if session.scalar(select(EventAlarmLink.id).where(EventAlarmLink.alarm_id == alarm.id)) is not None:
            return "taken"
        raise


def process_alarms(session: Session, now: datetime | None = None, *, limit: int = BATCH,
                   after_id: int = 0) -> IntakeResult:
    """One intake pass over up to `limit` pending alarms after `after_id` (see the module
    docstring). Alarms younger than their policy's min_active_s wait for a later pass."""
    now = now or utcnow()
    result = IntakeResult(last_id=after_id)
    alarms = pending_alarms(session, now, limit, after_id)
    result.seen = len(alarms)
    if not alarms:
        return result
    result.last_id = alarms[-1].id
    policies = [p for p in list_policies(session) if p.enabled]
    devices = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_({a.device_id for a in alarms})))}
    tags = _tags_of(session, list(devices))
    for alarm in alarms:
        device = devices.get(alarm.device_id)
        if device is None:
            continue
        policy = match(policies, alarm, device, tags.get(device.id, ()))
        if policy is not None and policy.action == "event" and now - alarm.first_at < timedelta(
                seconds=policy.min_active_s):
            result.waiting += 1
            continue
        try:
            outcome = take_alarm(session, alarm, device, policy, now)
        except Problem as exc:  # e.g. the policy's category was disabled meanwhile: try again later
            log.warning("alarm intake failed", extra={"alarm": alarm.id, "error": exc.detail})
            result.failed += 1
            continue
        field = "created" if outcome == "event" else outcome
        setattr(result, field, getattr(result, field) + 1)
    return result


def links(session: Session, *, limit: int = 100, event_id: int | None = None) -> list[EventAlarmLink]:
    q = select(EventAlarmLink).order_by(EventAlarmLink.at.desc(), EventAlarmLink.id.desc()).limit(limit)
    if event_id is not None:
        q = q.where(EventAlarmLink.event_id == event_id)
    return list(session.scalars(q))


# -- vision -----------------------------------------------------------------------------------

def list_mappings(session: Session) -> list[VisionMapping]:
    return list(session.scalars(select(VisionMapping).order_by(VisionMapping.detection_type)))


def get_mapping(session: Session, mapping_id: int) -> VisionMapping:
    m = session.get(VisionMapping, mapping_id)
    if m is None:
        raise NotFound(f"识别类型映射 {mapping_id} 不存在")
    return m


def _check_mapping(session: Session, v: dict[str, Any], current: VisionMapping | None) -> None:
    for key in ("detection_type", "category_code", "severity", "note"):
        if key in v:
            v[key] = (v[key] or "").strip()
    if "detection_type" in v:
        if not v["detection_type"]:
            raise Invalid("识别类型不能为空")
        clash = session.scalar(select(VisionMapping.id).where(VisionMapping.detection_type == v["detection_type"]))
        if clash is not None and (current is None or clash != current.id):
            raise Conflict(f"识别类型“{v['detection_type']}”已有映射")
    if "category_code" in v:
        _leaf(session, v["category_code"], "识别类型映射")
    if "min_confidence" in v and not 0 <= float(v["min_confidence"]) <= 1:
        raise Invalid("min_confidence 应在 0 到 1 之间")
    if v.get("severity") and v["severity"] not in SEVERITIES:
        raise Invalid(f"severity 应留空（沿用事件分类的级别）或为以下之一：{'、'.join(SEVERITIES)}")


def create_mapping(session: Session, **fields: Any) -> VisionMapping:
    unknown = set(fields) - set(MAPPING_FIELDS)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    fields.setdefault("detection_type", "")
    fields.setdefault("category_code", "")
    _check_mapping(session, fields, None)
    m = VisionMapping(**fields)
    session.add(m)
    session.flush()
    return m


def update_mapping(session: Session, mapping_id: int, **changes: Any) -> VisionMapping:
    m = get_mapping(session, mapping_id)
    unknown = set(changes) - set(MAPPING_FIELDS)
    if unknown:
        raise Invalid(f"不能修改 {'、'.join(sorted(unknown))}")
    _check_mapping(session, changes, m)
    for k, val in changes.items():
        setattr(m, k, val)
    session.flush()
    return m


def delete_mapping(session: Session, mapping_id: int) -> None:
    session.delete(get_mapping(session, mapping_id))
    session.flush()


_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"RIFF", "image/webp"),
          (b"GIF8", "image/gif"))


def decode_snapshot(data_b64: str) -> tuple[bytes, str]:
    """Base64 (optionally a data: URL) → bytes and the image type read from the bytes."""
    raw = (data_b64 or "").strip()
    if raw.startswith("data:") and "," in raw:
        raw = raw.split(",", 1)[1]
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("snapshot 不是有效的 base64 数据") from None
    kind = next((t for magic, t in _MAGIC if data.startswith(magic)), None)
    if kind is None:
        raise Invalid("snapshot 不是 JPEG/PNG/WebP/GIF 图片")
    return data, kind


def find_camera(session: Session, camera: int | str) -> Device:
    if isinstance(camera, int) or (isinstance(camera, str) and camera.isdigit()):
        dev = session.get(Device, int(camera))
    else:
        dev = session.scalar(select(Device).where(Device.code == camera))
    if dev is None:
        raise Invalid(f"找不到摄像机 {camera}")
    if dev.device_type != "camera":
        raise Invalid(f"设备 {dev.code} 不是摄像机（类型 {dev.device_type}）")
    return dev


@dataclass
class VisionResult:
    event: CityEvent  # the report's own row (state "merged" when it joined an open event)
    created: bool
    detection: VisionDetection


def take_vision(session: Session, *, detection_id: str, camera: int | str, detection_type: str,
                confidence: float, detected_at: datetime, bbox: list[Any] | None = None,
                snapshot: str | None = None, var_dir: Path, actor: str) -> VisionResult:
    """One AI-vision detection → a city event (see the module docstring). A known
    detection_id returns its event unchanged; below the mapping's confidence nothing is stored."""
    detection_id = (detection_id or "").strip()
    if not detection_id:
        raise Invalid("缺少 detection_id")
    known = session.scalar(select(VisionDetection).where(VisionDetection.detection_id == detection_id))
    if known is not None:
        return VisionResult(events.get_event(session, known.event_id), False, known)
    mapping = session.scalar(select(VisionMapping).where(VisionMapping.detection_type == detection_type.strip(),
                                                         VisionMapping.enabled.is_(True)))
    if mapping is None:
        known_types = "、".join(m.detection_type for m in list_mappings(session) if m.enabled) or "无"
        raise Invalid(f"识别类型“{detection_type}”没有启用的映射；可用类型：{known_types}")
    if not 0 <= confidence <= 1:
        raise Invalid("confidence 应在 0 到 1 之间")
    if confidence < mapping.min_confidence:
        raise Invalid(f"置信度 {confidence:.2f} 低于“{mapping.detection_type}”的最低置信度 "
                      f"{mapping.min_confidence:.2f}，未生成事件")
    if detected_at.tzinfo is None:
        raise Invalid("识别时间需要带 UTC 时区偏移")
    cam = find_camera(session, camera)
    image = decode_snapshot(snapshot) if snapshot else None
    try:
        with savepoint(session):
            ev = events.create_event(
                session, category_code=mapping.category_code, title=f"{mapping.detection_type}：{cam.name}"[:200],
                description=f"视频智能识别：摄像机 {cam.code} {cam.name} 于 {fmt_local(detected_at)} 识别到"
                            f"“{mapping.detection_type}”，置信度 {confidence:.2f}",
                lon=cam.lon, lat=cam.lat, address=cam.address, severity=mapping.severity or None,
                source_kind="vision", source_ref=f"vision:{detection_id}"[:128], reported_at=detected_at,
                created_by=actor)
            det = VisionDetection(detection_id=detection_id, event_id=ev.id, device_id=cam.id,
                                  detection_type=mapping.detection_type, confidence=confidence, bbox=list(bbox or []),
                                  detected_at=detected_at, created_by=actor)
            session.add(det)
            session.flush()
    except IntegrityError:
        known = session.scalar(select(VisionDetection).where(VisionDetection.detection_id == detection_id))
        if known is None:
            raise
        return VisionResult(events.get_event(session, known.event_id), False, known)
    if mapping.auto_accept and ev.state == "reported":
        lifecycle.transition(session, ev.id, "accepted", actor=ACTOR, role="system", at=detected_at,
                             details={"vision_mapping": mapping.id})
    if image is not None:
        # the picture belongs with the event people work on: the parent when merged
        target = ev.merged_into_id or ev.id
        events.add_attachment(session, target, var_dir=var_dir, name=f"{detection_id}-抓拍", content_type=image[1],
                              data=image[0], by=actor)
    return VisionResult(ev, True, det)


# -- defaults ----------------------------------------------------------------------------------

# (name, match, action) — the district's sensors (devices/seed.py products, monitoring rules).
DEFAULT_POLICIES: list[dict[str, Any]] = [
    {"name": "设备离线/静默不立案", "priority": 100, "source": "liveness", "action": "ignore",
         "note": "离线、静默、频繁上下线属于设备运维，由告警通知处理，不是城市事件"},
    {"name": "道路积水超限", "priority": 50, "alarm_type": "积水*", "device_type": "water_level", "category_code": "040101",
         "auto_dispatch": True, "min_active_s": 60, "verify_hold_min": 30, "note": "积水超限持续 1 分钟即立案并派遣"},
    {"name": "井盖异动", "priority": 50, "alarm_type": "井盖异动", "device_type": "manhole", "category_code": "030103",
         "severity": "critical", "auto_dispatch": True, "note": "井盖位移/打开，立即派遣"},
    {"name": "井盖倾斜", "priority": 40, "alarm_type": "井盖倾斜", "device_type": "manhole", "category_code": "030103",
         "auto_accept": True, "min_active_s": 300},
    {"name": "井盖倾角超限", "priority": 40, "alarm_type": "倾角超上限", "device_type": "manhole", "category_code": "030103",
         "auto_accept": True, "min_active_s": 300},
    {"name": "燃气高限报警", "priority": 50, "alarm_type": "燃气*", "min_severity": "critical", "device_type": "gas",
         "category_code": "060102", "auto_dispatch": True},
    {"name": "燃气低限/浓度超限", "priority": 40, "alarm_type": "燃气*", "device_type": "gas", "category_code": "060102",
         "auto_accept": True, "min_active_s": 60},
    {"name": "可燃气体浓度超上限", "priority": 40, "alarm_type": "可燃气体浓度超上限", "device_type": "gas",
         "category_code": "060102", "auto_accept": True, "min_active_s": 60},
    {"name": "烟雾报警", "priority": 50, "alarm_type": "烟雾报警", "device_type": "smoke", "category_code": "050101",
         "auto_dispatch": True},
    {"name": "电气火灾报警", "priority": 40, "alarm_type": "漏电报警", "device_type": "electrical_fire",
         "category_code": "050103", "auto_accept": True, "min_active_s": 30},
    {"name": "线缆超温", "priority": 40, "alarm_type": "线缆超温", "device_type": "electrical_fire", "category_code": "050102",
         "auto_accept": True, "min_active_s": 60},
    {"name": "消火栓撞倒漏水", "priority": 40, "alarm_type": "消火栓撞倒*", "device_type": "hydrant", "category_code": "030403",
         "auto_dispatch": True},
    {"name": "消火栓水压过低", "priority": 30, "alarm_type": "水压*", "device_type": "hydrant", "category_code": "050301",
         "auto_accept": True, "min_active_s": 600},
    {"name": "民防工程水浸", "priority": 40, "alarm_type": "水浸报警", "device_type": "civil_defence", "category_code": "070101",
         "auto_dispatch": True, "min_active_s": 60},
    {"name": "防护门异常开启", "priority": 30, "alarm_type": "防护门异常开启", "device_type": "civil_defence",
         "category_code": "070102", "auto_accept": True, "min_active_s": 300},
    {"name": "垃圾满溢", "priority": 20, "alarm_type": "垃圾满溢", "device_type": "garbage_bin", "category_code": "010103",
         "min_active_s": 1800, "note": "满溢半小时仍未清运才上报，待人工立案"},
]
DEFAULT_MAPPINGS: list[dict[str, Any]] = [
    {"detection_type": "占道经营", "category_code": "020101", "min_confidence": 0.7},
    {"detection_type": "暴露垃圾", "category_code": "010101", "min_confidence": 0.6},
    {"detection_type": "机动车违停", "category_code": "020203", "min_confidence": 0.75},
    {"detection_type": "渣土车未覆盖", "category_code": "020302", "min_confidence": 0.7},
    {"detection_type": "积水", "category_code": "040101", "min_confidence": 0.8},
    {"detection_type": "占道堆物", "category_code": "010301", "min_confidence": 0.6},
    {"detection_type": "非机动车乱停放", "category_code": "020201", "min_confidence": 0.6},
]


def seed_intake(session: Session) -> int:
    """Add the default policies and vision mappings that are missing (by name / detection
    type; an edited or disabled default is left alone). Returns how many were added."""
    added = 0
    names = set(session.scalars(select(IntakePolicy.name)))
    for spec in DEFAULT_POLICIES:
        if spec["name"] not in names:
            session.add(IntakePolicy(**{"min_severity": "info", "alarm_type": "", "device_type": "", "street_code": "",
                                        "source": "", "action": "event", "category_code": "", "severity": "",
                                        "auto_accept": bool(spec.get("auto_dispatch")), "auto_dispatch": False,
                                        "min_active_s": 0, "verify_hold_min": 10, "enabled": True, "note": "",
                                        "created_by": "system:seed", **spec}))
            added += 1
    types = set(session.scalars(select(VisionMapping.detection_type)))
    for spec in DEFAULT_MAPPINGS:
        if spec["detection_type"] not in types:
            session.add(VisionMapping(severity="", auto_accept=False, enabled=True, note="", **spec))
            added += 1
    session.flush()
    return added
