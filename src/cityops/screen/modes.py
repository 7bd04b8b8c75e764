"""Emergency and holiday monitoring modes of the big screen (EMRG-4, issue #8).

During a typhoon the duty officer switches 防汛防台 on: the wall view `/screen/mode/{code}` shows a
chosen set of indicators (deepest waterlogging, sensors over the warning line, rain-related
alarms, flood events, sensor online rate) with their thresholds, refreshed every few seconds,
and a log of what changed. On holidays 节假日保障 watches crowd and traffic around 龙之梦.

An indicator is `{"key","label","unit","direction","thresholds":{"warn","danger"},"source":{...}}`
with one of these sources (`kind`):

- ``device_value``: one property of `Device.last_values` over the devices of a type (optionally
  a tag and/or street, and only values reported in the last `max_age_min` minutes), aggregated
  ``max|min|avg|sum|count_above`` (``count_above`` counts devices at or above `level`).
- ``traffic``: ``device_value`` preset for the crossroads counters (`traffic_counter`, property
  `vehicles`, aggregate `sum` unless given).
- ``alarm_count``: active alarms (not cleared, not suppressed) whose device type is in
  `device_types` OR whose alarm type is in `alarm_types` (either list may be empty; both empty =
  every alarm), optionally of `severities`, devices of a `tag`, a `street`.
- ``event_count``: city events reported in the last `hours` whose category code starts with one
  of `categories` (empty = all), not merged or rejected; `open_only` counts open ones only.
- ``online_rate``: percentage (0–100) of the devices of a type that are online.

Everything is one aggregate query per indicator, run by the database. `last_values` is JSON
(`{"water_level": {"value": 31.5, "ts": "…"}}`, merged in by ingest); the value is read with
SQLAlchemy's JSON path access (`#>>` on PostgreSQL, `JSON_EXTRACT` on SQLite) and non-numeric
readings are skipped by a type guard, so a district with hundreds of water sensors or
hundreds of thousands of smoke detectors never ships rows to Python.

Levels: `above` → value ≥ danger is 告急 (danger), ≥ warn is 预警 (warn); `below` → value < danger
is 告急, < warn is 预警; no value (no devices, no readings) is 无数据 (unknown).

The job `screen.mode_watch` (mode_jobs.py) samples every active mode every 5 s (`watch`),
writes a log row once per level change and prunes samples older than 48 h. The devices,
monitoring and events tables are only read here.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.schemas import iso
from cityops.core.timeutil import fmt_local, utcnow
from cityops.devices import service as devices
from cityops.devices.models import DEVICE_TYPES, Device, Tag
from cityops.events import lifecycle
from cityops.events.models import CityEvent, EventCategory
from cityops.geo.models import Street
from cityops.monitoring.models import SEVERITIES, Alarm, live_alarm
from cityops.screen.mode_models import (
    KIND_LABELS,
    LEVEL_LABELS,
    MODE_KINDS,
    ScreenMode,
    ScreenModeLog,
    ScreenModeSample,
)

SOURCE_KINDS = ("device_value", "traffic", "alarm_count", "event_count", "online_rate")
SOURCE_LABELS = {"device_value": "设备读数", "traffic": "交通流量", "alarm_count": "告警数",
                 "event_count": "事件数", "online_rate": "在线率"}
AGGREGATES = ("max", "min", "avg", "sum", "count_above")
DIRECTIONS = ("above", "below")
MAX_INDICATORS = 12
KEEP_SAMPLES = timedelta(hours=48)
SERIES_WINDOW = timedelta(hours=1)
SERIES_POINTS = 240  # at most this many points per chart (a 5 s watch makes 720 an hour)
LOG_LIMIT = 50
MIN_REFRESH_S, MAX_REFRESH_S = 2, 300
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")
_PROP = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_CATEGORY = re.compile(r"^[0-9]{2,6}$")
_RANK = {"normal": 0, "warn": 1, "danger": 2}

# Which keys each source accepts (anything else is a typo the editor should hear about).
_SOURCE_FIELDS = {
    "device_value": {"kind", "device_type", "property", "aggregate", "level", "tag", "street", "max_age_min"},
    "traffic": {"kind", "property", "aggregate", "level", "tag", "street", "max_age_min"},
    "alarm_count": {"kind", "device_types", "alarm_types", "severities", "tag", "street"},
    "event_count": {"kind", "categories", "hours", "open_only", "street"},
    "online_rate": {"kind", "device_type", "tag", "street"},
}


# -- validation ------------------------------------------------------------------------------

def _num(value: Any, what: str) -> float:
    """A number as given (15 stays 15 in the stored JSON; 15.5 stays 15.5)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Invalid(f"{what}必须是数字")
    return value


def _text(value: Any, what: str, *, max_len: int, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{what}必须是文本")
    value = value.strip()
    if required and not value:
        raise Invalid(f"缺少{what}")
    if len(value) > max_len:
        raise Invalid(f"{what}不能超过 {max_len} 个字")
    return value


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise Invalid(f"{what}必须是文本数组")
    return [v.strip() for v in value]


def _device_type(value: Any) -> str:
    if value not in DEVICE_TYPES:
        raise Invalid(f"设备类型 {value!r} 不存在；可选：{', '.join(DEVICE_TYPES)}")
    return value


def _source(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid("source（数据来源）必须是对象，例如 {\"kind\": \"device_value\", …}")
    kind = raw.get("kind")
    if kind not in SOURCE_KINDS:
        raise Invalid(f"数据来源类型 kind={kind!r} 不支持；可选：{', '.join(SOURCE_KINDS)}")
    unknown = sorted(set(raw) - _SOURCE_FIELDS[kind])
    if unknown:
        raise Invalid(f"数据来源 {kind} 不认识字段：{', '.join(unknown)}")
    out: dict[str, Any] = {"kind": kind}
    if raw.get("tag") is not None:
        out["tag"] = _text(raw["tag"], "标签名", max_len=64)
    if raw.get("street") is not None:
        street = raw["street"]
        if not isinstance(street, str) or not street.isdigit():
            raise Invalid("street 必须是街道代码（如 310105001）")
        out["street"] = street
    if kind in ("device_value", "traffic"):
        out["device_type"] = "traffic_counter" if kind == "traffic" else _device_type(raw.get("device_type"))
        prop = raw.get("property", "vehicles" if kind == "traffic" else None)
        if not isinstance(prop, str) or not _PROP.match(prop):
            raise Invalid("property 必须是设备上报的属性标识（字母、数字、下划线），例如 water_level")
        out["property"] = prop
        agg = raw.get("aggregate", "sum" if kind == "traffic" else None)
        if agg not in AGGREGATES:
            raise Invalid(f"aggregate 必须是 {' / '.join(AGGREGATES)} 之一")
        out["aggregate"] = agg
        if agg == "count_above":
            if raw.get("level") is None:
                raise Invalid("aggregate 为 count_above 时需要 level（计数的下限值）")
            out["level"] = _num(raw["level"], "level")
        elif raw.get("level") is not None:
            raise Invalid("只有 aggregate 为 count_above 时才使用 level")
        if raw.get("max_age_min") is not None:
            age = raw["max_age_min"]
            if isinstance(age, bool) or not isinstance(age, int) or not 1 <= age <= 7 * 24 * 60:
                raise Invalid("max_age_min 必须是 1–10080 之间的整数（分钟）")
            out["max_age_min"] = age
    elif kind == "alarm_count":
        out["device_types"] = [_device_type(t) for t in _str_list(raw.get("device_types"), "device_types")]
        out["alarm_types"] = _str_list(raw.get("alarm_types"), "alarm_types")
        sev = _str_list(raw.get("severities"), "severities")
        bad = [s for s in sev if s not in SEVERITIES]
        if bad:
            raise Invalid(f"告警级别 {', '.join(bad)} 不存在；可选：{', '.join(SEVERITIES)}")
        out["severities"] = sev
    elif kind == "event_count":
        cats = _str_list(raw.get("categories"), "categories")
        bad = [c for c in cats if not _CATEGORY.match(c)]
        if bad:
            raise Invalid(f"事件分类代码 {', '.join(bad)} 无效（应为 2–6 位数字，如 04 表示防汛防台）")
        out["categories"] = cats
        hours = raw.get("hours", 6)
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 168:
            raise Invalid("hours 必须是 1–168 之间的整数（统计最近几小时）")
        out["hours"] = hours
        out["open_only"] = bool(raw.get("open_only", False))
    elif kind == "online_rate":
        out["device_type"] = _device_type(raw.get("device_type"))
    return out


def _thresholds(raw: Any, direction: str) -> dict[str, float | None]:
    if not isinstance(raw, dict) or set(raw) - {"warn", "danger"}:
        raise Invalid("thresholds 必须是 {\"warn\": 预警值, \"danger\": 告急值}")
    warn = _num(raw["warn"], "预警值 warn") if raw.get("warn") is not None else None
    danger = _num(raw["danger"], "告急值 danger") if raw.get("danger") is not None else None
    if warn is None and danger is None:
        raise Invalid("至少需要预警值 warn 或告急值 danger 之一")
    if warn is not None and danger is not None:
        if direction == "above" and warn > danger:
            raise Invalid("方向为 above（越高越危险）时，预警值不能大于告急值")
        if direction == "below" and warn < danger:
            raise Invalid("方向为 below（越低越危险）时，预警值不能小于告急值")
    return {"warn": warn, "danger": danger}


def validate_indicator(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid("每个指标必须是对象")
    unknown = sorted(set(raw) - {"key", "label", "unit", "direction", "thresholds", "source"})
    if unknown:
        raise Invalid(f"不认识字段：{', '.join(unknown)}")
    key = raw.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        raise Invalid("key 必须以小写字母开头，只含小写字母、数字、下划线，最长 32 位")
    direction = raw.get("direction", "above")
    if direction not in DIRECTIONS:
        raise Invalid("direction 必须是 above（越高越危险）或 below（越低越危险）")
    return {"key": key, "label": _text(raw.get("label"), "指标名称 label", max_len=32),
            "unit": _text(raw.get("unit"), "单位 unit", max_len=16, required=False), "direction": direction,
            "thresholds": _thresholds(raw.get("thresholds"), direction), "source": _source(raw.get("source"))}


def validate_indicators(raw: Any) -> list[dict[str, Any]]:
    """Normalised indicator list, or Invalid with a Chinese message naming the indicator (EMRG-4)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise Invalid(f"指标定义不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}") from None
    if not isinstance(raw, list):
        raise Invalid("指标定义必须是 JSON 数组 […]")
    if not raw:
        raise Invalid("至少需要一个指标")
    if len(raw) > MAX_INDICATORS:
        raise Invalid(f"最多 {MAX_INDICATORS} 个指标")
    out, seen = [], set()
    for i, item in enumerate(raw, 1):
        name = item.get("key") if isinstance(item, dict) else None
        try:
            ind = validate_indicator(item)
        except Invalid as exc:
            where = f"第 {i} 个指标" + (f"（{name}）" if isinstance(name, str) and name else "")
            raise Invalid(f"{where}：{exc.detail}", index=i) from None
        if ind["key"] in seen:
            raise Invalid(f"第 {i} 个指标：key {ind['key']!r} 重复", index=i)
        seen.add(ind["key"])
        out.append(ind)
    return out


# -- values ----------------------------------------------------------------------------------

def _json_number(session: Session, prop: str):
    """(value expression, guard) for `last_values[prop].value` as a float on either database."""
    path = (prop, "value")
    value = Device.last_values[path].as_float()
    if session.get_bind().dialect.name == "postgresql":
        guard = func.jsonb_typeof(Device.last_values[path]) == "number"
    else:
        guard = func.json_type(Device.last_values, f'$."{prop}"."value"').in_(("integer", "real"))
    return value, guard


def _device_filter(stmt, src: dict[str, Any]):
    stmt = stmt.where(Device.status != "retired")
    if src.get("tag"):
        stmt = stmt.where(Device.tags.any(Tag.name == src["tag"]))
    return stmt


def _device_value(session: Session, src: dict[str, Any], street: str | None, now: datetime) -> float | None:
    stmt = _device_filter(devices.device_query(scope=street, street=src.get("street"),
                                               device_type=src["device_type"]), src)
    if src.get("max_age_min"):
        stmt = stmt.where(Device.last_data_at >= now - timedelta(minutes=src["max_age_min"]))
    value, guard = _json_number(session, src["property"])
    stmt = stmt.where(guard)
    agg = src["aggregate"]
    if agg == "count_above":
        return float(session.scalar(stmt.where(value >= src["level"]).with_only_columns(func.count())) or 0)
    fn = {"max": func.max, "min": func.min, "avg": func.avg, "sum": func.sum}[agg]
    out = session.scalar(stmt.with_only_columns(fn(value)))
    return None if out is None else float(out)


def _online_rate(session: Session, src: dict[str, Any], street: str | None) -> float | None:
    stmt = _device_filter(devices.device_query(scope=street, street=src.get("street"),
                                               device_type=src["device_type"]), src)
    total, online = session.execute(stmt.with_only_columns(
        func.count(), func.coalesce(func.sum(case((Device.online.is_(True), 1), else_=0)), 0))).one()
    return None if not total else 100.0 * online / total


def _alarm_count(session: Session, src: dict[str, Any], street: str | None) -> float:
    stmt = (select(func.count()).select_from(Alarm).join(Device, Device.id == Alarm.device_id)
            .where(live_alarm()))
    either = []
    if src.get("device_types"):
        either.append(Device.device_type.in_(src["device_types"]))
    if src.get("alarm_types"):
        either.append(Alarm.alarm_type.in_(src["alarm_types"]))
    if either:
        stmt = stmt.where(or_(*either))
    if src.get("severities"):
        stmt = stmt.where(Alarm.severity.in_(src["severities"]))
    if src.get("tag"):
        stmt = stmt.where(Device.tags.any(Tag.name == src["tag"]))
    for code in (street, src.get("street")):
        if code:
            stmt = stmt.where(Device.street_code == code)
    return float(session.scalar(stmt) or 0)


def _event_count(session: Session, src: dict[str, Any], street: str | None, now: datetime) -> float:
    stmt = (select(func.count()).select_from(CityEvent)
            .where(CityEvent.reported_at >= now - timedelta(hours=src["hours"]),
                   CityEvent.state.notin_(("merged", "rejected"))))
    if src.get("open_only"):
        stmt = stmt.where(CityEvent.state.in_(lifecycle.OPEN_STATES))
    if src.get("categories"):
        stmt = stmt.join(EventCategory, EventCategory.id == CityEvent.category_id).where(
            or_(*[EventCategory.code.like(f"{c}%") for c in src["categories"]]))
    for code in (street, src.get("street")):
        if code:
            stmt = stmt.where(CityEvent.street_code == code)
    return float(session.scalar(stmt) or 0)


def indicator_value(session: Session, ind: dict[str, Any], *, street: str | None, now: datetime) -> float | None:
    """The indicator's current value (None: nothing to measure); `street` is the mode's street."""
    src = ind["source"]
    kind = src["kind"]
    if kind in ("device_value", "traffic"):
        value = _device_value(session, src, street, now)
    elif kind == "alarm_count":
        value = _alarm_count(session, src, street)
    elif kind == "event_count":
        value = _event_count(session, src, street, now)
    else:
        value = _online_rate(session, src, street)
    return None if value is None else round(value, 2)


def level_of(value: float | None, thresholds: dict[str, Any], direction: str) -> str:
    if value is None:
        return "unknown"
    warn, danger = thresholds.get("warn"), thresholds.get("danger")
    if direction == "below":
        if danger is not None and value < danger:
            return "danger"
        if warn is not None and value < warn:
            return "warn"
        return "normal"
    if danger is not None and value >= danger:
        return "danger"
    if warn is not None and value >= warn:
        return "warn"
    return "normal"


# -- modes -----------------------------------------------------------------------------------

def _visible(mode: ScreenMode, scope: str | None) -> bool:
    """A street user sees district-wide modes and its own street's."""
    return scope is None or mode.street_code in (None, scope)


def list_modes(session: Session, *, scope: str | None = None) -> list[ScreenMode]:
    stmt = select(ScreenMode).order_by(ScreenMode.active.desc(), ScreenMode.kind, ScreenMode.code)
    if scope:
        stmt = stmt.where(or_(ScreenMode.street_code.is_(None), ScreenMode.street_code == scope))
    return list(session.scalars(stmt))


def get_mode(session: Session, code: str, *, scope: str | None = None) -> ScreenMode:
    mode = session.scalar(select(ScreenMode).where(ScreenMode.code == code))
    if mode is None or not _visible(mode, scope):
        raise NotFound(f"监测模式 {code} 不存在")
    return mode


def active_modes(session: Session, *, street: str | None = None) -> list[dict[str, str]]:
    """The modes switched on now, for the main screen's banner (`street`: a street's screen
    also shows that street's own modes)."""
    stmt = select(ScreenMode.code, ScreenMode.name, ScreenMode.kind).where(ScreenMode.active.is_(True))
    stmt = stmt.where(or_(ScreenMode.street_code.is_(None), ScreenMode.street_code == street) if street
                      else ScreenMode.street_code.is_(None))
    return [{"code": c, "name": n, "kind": k}
            for c, n, k in session.execute(stmt.order_by(ScreenMode.activated_at, ScreenMode.code))]


def _check_fields(session: Session, f: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in f:
        out["name"] = _text(f["name"], "模式名称", max_len=64)
    if "kind" in f:
        if f["kind"] not in MODE_KINDS:
            raise Invalid("类型必须是 emergency（应急）或 holiday（节假日）")
        out["kind"] = f["kind"]
    if "description" in f:
        out["description"] = _text(f["description"], "说明", max_len=2000, required=False)
    if "refresh_s" in f:
        r = f["refresh_s"]
        if isinstance(r, bool) or not isinstance(r, int) or not MIN_REFRESH_S <= r <= MAX_REFRESH_S:
            raise Invalid(f"刷新间隔必须是 {MIN_REFRESH_S}–{MAX_REFRESH_S} 秒之间的整数")
        out["refresh_s"] = r
    if "street_code" in f:
        code = f["street_code"] or None
        if code is not None and session.get(Street, code) is None:
            raise Invalid(f"街道 {code} 不存在")
        out["street_code"] = code
    if "indicators" in f:
        out["indicators"] = validate_indicators(f["indicators"])
    return out


def create_mode(session: Session, *, code: str, name: str, kind: str, indicators: Any, description: str = "",
                refresh_s: int = 5, street_code: str | None = None, by: str = "system") -> ScreenMode:
    if not isinstance(code, str) or not _CODE.match(code):
        raise Invalid("代码只能用小写字母、数字、-、_，2–32 位")
    fields = _check_fields(session, {"name": name, "kind": kind, "description": description, "refresh_s": refresh_s,
                                     "street_code": street_code, "indicators": indicators})
    if session.scalar(select(ScreenMode.id).where(ScreenMode.code == code)) is not None:
        raise Conflict(f"监测模式代码 {code} 已存在")
    mode = ScreenMode(code=code, created_by=by, active=False, levels={}, **fields)
    session.add(mode)
    session.flush()
    return mode


FIELD_LABELS = {"name": "名称", "kind": "类型", "description": "说明", "refresh_s": "刷新间隔",
                "street_code": "范围", "indicators": "指标"}


def update_mode(session: Session, code: str, *, by: str, scope: str | None = None, now: datetime | None = None,
                **fields: Any) -> ScreenMode:
    unknown = set(fields) - set(FIELD_LABELS)
    if unknown:
        raise Invalid(f"不能修改：{', '.join(sorted(unknown))}")
    mode = get_mode(session, code, scope=scope)
    clean = _check_fields(session, fields)
    changed = [k for k, v in clean.items() if getattr(mode, k) != v]
    if not changed:
        return mode
    for k in changed:
        setattr(mode, k, clean[k])
    if "indicators" in changed:  # forget levels of indicators that are gone
        keys = {i["key"] for i in mode.indicators}
        mode.levels = {k: v for k, v in (mode.levels or {}).items() if k in keys}
    session.add(ScreenModeLog(mode_id=mode.id, at=now or utcnow(), kind="edited", actor=by,
                              message=f"{by} 修改了{mode.name}：{'、'.join(FIELD_LABELS[k] for k in changed)}"))
    session.flush()
    return mode


def _lock(session: Session, mode_id: int) -> ScreenMode:
    """The mode row, locked on PostgreSQL: the watch job and a switch never log one change twice."""
    return session.scalars(select(ScreenMode).where(ScreenMode.id == mode_id).with_for_update()
                           .execution_options(populate_existing=True)).one()


def activate(session: Session, code: str, *, by: str, scope: str | None = None,
             now: datetime | None = None) -> ScreenMode:
    """Switch the mode on (EMRG-4): logged, audited, sampled at once so the wall has a point."""
    now = now or utcnow()
    mode = _lock(session, get_mode(session, code, scope=scope).id)
    if mode.active:
        raise Conflict(f"{mode.name}已处于启用状态（{fmt_local(mode.activated_at, '%m-%d %H:%M')} 由 "
                       f"{mode.activated_by} 启用）")
    mode.active, mode.activated_at, mode.activated_by, mode.deactivated_at = True, now, by, None
    mode.levels = {}
    session.add(ScreenModeLog(mode_id=mode.id, at=now, kind="activated", actor=by, message=f"{by} 启用{mode.name}"))
    session.flush()
    sample_mode(session, mode, now=now)
    return mode


def deactivate(session: Session, code: str, *, by: str, scope: str | None = None,
               now: datetime | None = None) -> ScreenMode:
    now = now or utcnow()
    mode = _lock(session, get_mode(session, code, scope=scope).id)
    if not mode.active:
        raise Conflict(f"{mode.name}未启用")
    mode.active, mode.deactivated_at, mode.levels = False, now, {}
    session.add(ScreenModeLog(mode_id=mode.id, at=now, kind="deactivated", actor=by,
                              message=f"{by} 停用{mode.name}"))
    session.flush()
    return mode


# -- watching ---------------------------------------------------------------------------------

def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "无数据"
    text = f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return f"{text}{(' ' + unit) if unit and not unit.startswith(('%', '‰')) else unit}"


def _level_message(ind: dict[str, Any], old: str, new: str, value: float | None) -> str:
    t = ind["thresholds"]
    if new == "unknown":
        return f"{ind['label']}暂无数据（此前{LEVEL_LABELS[old]}）"
    verb = "升至" if _RANK.get(new, 0) > _RANK.get(old, 0) else "回落至"
    if old == "unknown":
        verb = "恢复数据，当前"
    lines = "，".join(f"{name}线 {_fmt(t[k], ind['unit'])}" for k, name in (("warn", "预警"), ("danger", "告急"))
                     if t.get(k) is not None)
    return f"{ind['label']}{verb}{LEVEL_LABELS[new]}：{_fmt(value, ind['unit'])}（{lines}）"


def sample_mode(session: Session, mode: ScreenMode, *, now: datetime) -> list[ScreenModeLog]:
    """One watch pass of an active mode: a sample per indicator and a log row per level change."""
    levels = dict(mode.levels or {})
    logs = []
    for ind in mode.indicators:
        value = indicator_value(session, ind, street=mode.street_code, now=now)
        level = level_of(value, ind["thresholds"], ind["direction"])
        session.add(ScreenModeSample(mode_id=mode.id, key=ind["key"], at=now, value=value))
        old = levels.get(ind["key"], "normal")
        if level != old:
            logs.append(ScreenModeLog(mode_id=mode.id, at=now, kind="level", key=ind["key"], from_level=old,
                                      to_level=level, value=value, actor="system",
                                      message=_level_message(ind, old, level, value)))
        levels[ind["key"]] = level
    session.add_all(logs)
    if levels != (mode.levels or {}):
        # Runtime state: a Core update that leaves updated_at (the last edit by a person) alone.
        t = ScreenMode.__table__
        session.execute(update(t).where(t.c.id == mode.id).values(levels=levels, updated_at=t.c.updated_at))
        set_committed_value(mode, "levels", levels)
    session.flush()
    return logs


def prune(session: Session, *, now: datetime) -> int:
    return session.execute(delete(ScreenModeSample).where(ScreenModeSample.at < now - KEEP_SAMPLES)).rowcount or 0


def watch(session: Session, *, now: datetime) -> dict[str, int]:
    """The `screen.mode_watch` pass: sample every active mode, log level changes, prune."""
    ids = list(session.scalars(select(ScreenMode.id).where(ScreenMode.active.is_(True)).order_by(ScreenMode.id)))
    changes = 0
    for mode_id in ids:
        mode = _lock(session, mode_id)
        if mode.active:
            changes += len(sample_mode(session, mode, now=now))
    return {"modes": len(ids), "changes": changes, "pruned": prune(session, now=now)}


# -- reading ----------------------------------------------------------------------------------

def mode_dict(mode: ScreenMode) -> dict[str, Any]:
    return {"code": mode.code, "name": mode.name, "kind": mode.kind, "kind_label": KIND_LABELS.get(mode.kind, ""),
            "description": mode.description, "refresh_s": mode.refresh_s, "street_code": mode.street_code,
            "active": mode.active, "activated_at": iso(mode.activated_at), "activated_by": mode.activated_by,
            "deactivated_at": iso(mode.deactivated_at), "indicators": mode.indicators,
            "levels": dict(mode.levels or {}) if mode.active else {},
            "updated_at": iso(mode.updated_at)}


def log_dict(row: ScreenModeLog) -> dict[str, Any]:
    return {"id": row.id, "at": iso(row.at), "kind": row.kind, "key": row.key, "from_level": row.from_level,
            "to_level": row.to_level, "value": row.value, "message": row.message, "actor": row.actor}


def log_of(session: Session, mode: ScreenMode, *, limit: int = LOG_LIMIT, before_id: int | None = None
           ) -> list[ScreenModeLog]:
    stmt = select(ScreenModeLog).where(ScreenModeLog.mode_id == mode.id)
    if before_id:
        stmt = stmt.where(ScreenModeLog.id < before_id)
    return list(session.scalars(stmt.order_by(ScreenModeLog.at.desc(), ScreenModeLog.id.desc()).limit(limit)))


def _series(session: Session, mode: ScreenMode, now: datetime) -> dict[str, list[list[Any]]]:
    rows = session.execute(select(ScreenModeSample.key, ScreenModeSample.at, ScreenModeSample.value)
                           .where(ScreenModeSample.mode_id == mode.id,
                                  ScreenModeSample.at >= now - SERIES_WINDOW, ScreenModeSample.at <= now)
                           .order_by(ScreenModeSample.key, ScreenModeSample.at))
    out: dict[str, list[list[Any]]] = {}
    for key, at, value in rows:
        out.setdefault(key, []).append([iso(at), value])
    for key, points in out.items():  # thin long series evenly, always keeping the newest point
        if len(points) > SERIES_POINTS:
            step = len(points) / SERIES_POINTS
            out[key] = [points[int(i * step)] for i in range(SERIES_POINTS - 1)] + [points[-1]]
    return out


def evaluate(session: Session, mode: ScreenMode, *, now: datetime) -> dict[str, Any]:
    """What the wall view shows (EMRG-4): each indicator's live value and level, its last hour
    of samples, and the newest 50 log rows."""
    series = _series(session, mode, now)
    indicators = []
    for ind in mode.indicators:
        value = indicator_value(session, ind, street=mode.street_code, now=now)
        level = level_of(value, ind["thresholds"], ind["direction"])
        indicators.append({"key": ind["key"], "label": ind["label"], "unit": ind["unit"], "value": value,
                           "level": level, "level_label": LEVEL_LABELS[level], "thresholds": ind["thresholds"],
                           "direction": ind["direction"], "source": ind["source"]["kind"],
                           "series": series.get(ind["key"], [])})
    return {"mode": mode_dict(mode), "computed_at": iso(now), "indicators": indicators,
            "log": [log_dict(r) for r in log_of(session, mode)]}


# -- defaults ---------------------------------------------------------------------------------

RAIN_ALARM_TYPES = ["积水超限", "积水深度超上限", "水浸报警", "井盖异动", "井盖倾斜"]

DEFAULT_MODES: list[dict[str, Any]] = [
    {"code": "flood", "name": "防汛防台", "kind": "emergency", "refresh_s": 5,
     "description": "台风、暴雨期间值班长启用：道路积水、防汛相关告警与事件、积水监测设备在线情况。",
     "indicators": [
         {"key": "max_water", "label": "最大积水深度", "unit": "cm", "direction": "above",
          "thresholds": {"warn": 15, "danger": 25},
          "source": {"kind": "device_value", "device_type": "water_level", "property": "water_level",
                     "aggregate": "max", "max_age_min": 120}},
         {"key": "water_over", "label": "积水点超警数", "unit": "处", "direction": "above",
          "thresholds": {"warn": 1, "danger": 5},
          "source": {"kind": "device_value", "device_type": "water_level", "property": "water_level",
                     "aggregate": "count_above", "level": 15, "max_age_min": 120}},
         {"key": "flood_alarms", "label": "防汛相关告警", "unit": "条", "direction": "above",
          "thresholds": {"warn": 1, "danger": 10},
          "source": {"kind": "alarm_count", "device_types": ["water_level"], "alarm_types": RAIN_ALARM_TYPES}},
         {"key": "flood_events", "label": "防汛类事件（近6小时）", "unit": "件", "direction": "above",
          "thresholds": {"warn": 1, "danger": 5},
          "source": {"kind": "event_count", "categories": ["04"], "hours": 6}},
         {"key": "water_online", "label": "积水监测在线率", "unit": "%", "direction": "below",
          "thresholds": {"warn": 95, "danger": 90},
          "source": {"kind": "online_rate", "device_type": "water_level"}},
     ]},
    {"code": "holiday", "name": "节假日保障", "kind": "holiday", "refresh_s": 10,
     "description": "节假日期间启用：龙之梦商圈人流（噪声代表人群聚集）、路口车流与车速、人员密集场所相关告警。",
     "indicators": [
         {"key": "lzm_noise", "label": "龙之梦商圈噪声均值", "unit": "dB(A)", "direction": "above",
          "thresholds": {"warn": 70, "danger": 80},
          "source": {"kind": "device_value", "device_type": "noise", "property": "laeq", "aggregate": "avg",
                     "tag": "龙之梦", "max_age_min": 60}},
         {"key": "traffic_total", "label": "全区路口车流量", "unit": "辆/5分钟", "direction": "above",
          "thresholds": {"warn": 12000, "danger": 16000},
          "source": {"kind": "traffic", "max_age_min": 30}},
         {"key": "traffic_per_lane", "label": "路口进口平均车流", "unit": "辆/5分钟", "direction": "above",
          "thresholds": {"warn": 180, "danger": 240},
          "source": {"kind": "traffic", "aggregate": "avg", "max_age_min": 30}},
         {"key": "traffic_speed", "label": "路口平均车速", "unit": "km/h", "direction": "below",
          "thresholds": {"warn": 20, "danger": 12},
          "source": {"kind": "traffic", "property": "avg_speed", "aggregate": "avg", "max_age_min": 30}},
         {"key": "crowd_alarms", "label": "人员密集场所相关告警", "unit": "条", "direction": "above",
          "thresholds": {"warn": 1, "danger": 5},
          "source": {"kind": "alarm_count", "tag": "龙之梦"}},
         {"key": "congestion", "label": "交通拥堵告警", "unit": "条", "direction": "above",
          "thresholds": {"warn": 3, "danger": 8},
          "source": {"kind": "alarm_count", "alarm_types": ["交通拥堵"]}},
         {"key": "recent_events", "label": "近6小时事件", "unit": "件", "direction": "above",
          "thresholds": {"warn": 30, "danger": 60},
          "source": {"kind": "event_count", "hours": 6}},
     ]},
]


def seed_defaults(session: Session) -> int:
    """Create 防汛防台 and 节假日保障 (inactive) once; codes already present are left as edited."""
    have = set(session.scalars(select(ScreenMode.code)))
    added = 0
    for d in DEFAULT_MODES:
        if d["code"] not in have:
            create_mode(session, by="system:seed", **d)
            added += 1
    return added


