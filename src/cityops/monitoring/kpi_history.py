"""KPI history (IOT-5): the daily online rate (设备在线率) per street, vendor, type, platform and
tag, MTTA/MTTC per day and per street, and the top flapping devices of a period.

Daily online rate = time-weighted availability by 5-minute sampling (as Zabbix computes SLA):
every 5-minute slot the live figure (`kpi`: active + maintenance-status devices, minus the ones
under a maintenance window at that moment) is counted into running per-day accumulators,

    rate(day) = Σ online devices over the day's samples / Σ counted devices over those samples,

which is the mean of the per-sample rates (weighted by the device count when it changes during
the day). Days are Asia/Shanghai dates. Each row remembers the last slot it counted, and the
upsert only adds when the incoming slot is newer — a restart, a second run in the same slot or
a second process add nothing (the job is also a scheduler singleton). A slot nobody sampled
(the service was down) is simply missing: the day's rate is over the slots that were sampled.

Every figure exists for the district (scope "") and for each street (scope = street code), so
a street user's history is computed from their street's devices only.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid
from cityops.core.timeutil import day_bounds, local, utcnow
from cityops.devices.models import (
    DEVICE_TYPES,
    TAG_CATEGORIES,
    Device,
    Tag,
    device_tags,
)
from cityops.monitoring.kpi import DIMENSIONS, _in_maintenance, times_summary
from cityops.monitoring.models import Alarm, DeviceStateChange, KpiOnlineDaily

SLOT = timedelta(minutes=5)
SAMPLE_JOB = "kpi.online_daily"
HISTORY_DIMENSIONS = ("overall", *DIMENSIONS)
DIMENSION_LABELS = {"overall": "全区", "street_code": "街镇", "vendor": "厂商", "device_type": "设备类型",
                    "platform": "接入平台", "tag": "标签"}
OVERALL_KEY = "all"
MAX_DAYS = 366
_CHUNK = 500
_COUNTED = ("active", "maintenance")


def slot_of(now: datetime) -> datetime:
    """The start of the 5-minute slot holding `now` (UTC)."""
    now = now.astimezone(UTC)
    return now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)


def _counts(session: Session, dimension: str, excluded: list[int]) -> list[tuple[str | None, str, int, int]]:
    """(street_code, key, devices, online) of the counted devices, grouped by street and key."""
    online = func.sum(case((Device.online.is_(True), 1), else_=0))
    if dimension == "tag":
        key = Tag.category + ":" + Tag.name
        q = (select(Device.street_code, key, func.count(Device.id), online).select_from(Device)
             .join(device_tags, device_tags.c.device_id == Device.id).join(Tag, Tag.id == device_tags.c.tag_id))
    elif dimension == "overall":
        key = Device.street_code
        q = select(Device.street_code, func.count(Device.id), online).select_from(Device)
    else:
        key = getattr(Device, dimension)
        q = select(Device.street_code, key, func.count(Device.id), online).select_from(Device)
    q = q.where(Device.status.in_(_COUNTED))
    if excluded:
        q = q.where(Device.id.not_in(excluded))
    if dimension == "overall":
        return [(s, OVERALL_KEY, n, int(o or 0)) for s, n, o in session.execute(q.group_by(Device.street_code))]
    group = [Device.street_code, key] if dimension != "street_code" else [Device.street_code]
    return [(s, k or "", n, int(o or 0)) for s, k, n, o in session.execute(q.group_by(*group))]


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(KpiOnlineDaily.__table__)


def sample_online_rate(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """Count the live online rate of `now`'s 5-minute slot into the day's accumulators.

    Returns {"slot", "day", "rows"}: rows = accumulators that took this sample (0 when the slot
    was already counted)."""
    now = now or utcnow()
    slot = slot_of(now)
    day = local(slot).date()
    # Fast path: the district row exists whenever anything was counted; the upsert guards the rest.
    done = session.scalar(select(KpiOnlineDaily.id).where(
        KpiOnlineDaily.day == day, KpiOnlineDaily.scope == "", KpiOnlineDaily.dimension == "overall",
        KpiOnlineDaily.key == OVERALL_KEY, KpiOnlineDaily.last_slot == slot))
    if done is not None:
        return {"slot": slot, "day": day, "rows": 0}
    excluded = _in_maintenance(session, now)
    acc: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for dimension in HISTORY_DIMENSIONS:
        for street, key, n, on in _counts(session, dimension, excluded):
            for scope in ("", street) if street else ("",):
                a = acc[(scope, dimension, key)]
                a[0] += n
                a[1] += on
    rows = [{"day": day, "scope": scope, "dimension": dim, "key": key[:160], "devices": n, "samples": 1,
             "device_samples": n, "online_samples": on, "last_slot": slot}
            for (scope, dim, key), (n, on) in acc.items()]
    t = KpiOnlineDaily.__table__
    taken = 0
    for i in range(0, len(rows), _CHUNK):
        stmt = _insert(session).values(rows[i:i + _CHUNK])
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.day, t.c.scope, t.c.dimension, t.c.key],
            set_={"samples": t.c.samples + 1, "device_samples": t.c.device_samples + ex.device_samples,
                  "online_samples": t.c.online_samples + ex.online_samples, "devices": ex.devices,
                  "last_slot": ex.last_slot},
            where=t.c.last_slot < ex.last_slot).returning(t.c.id)  # idempotent per slot, even across processes
        taken += len(session.execute(stmt).all())
    session.flush()
    return {"slot": slot, "day": day, "rows": taken}


def sample_job(db) -> None:
    with db.session() as s:
        sample_online_rate(s, now=utcnow())


def register(scheduler) -> None:
    # Every minute: each run counts the current slot once, so no slot is skipped by timer drift.
    scheduler.register(SAMPLE_JOB, 60, sample_job, singleton=True, initial_delay_s=20)


# -- reading the history ----------------------------------------------------------------------

def parse_period(start: str | date | None, end: str | date | None, *, today: date | None = None,
                 default_days: int = 30) -> tuple[date, date]:
    """[start, end] as dates (inclusive); default the last `default_days` days up to today."""
    today = today or local(utcnow()).date()

    def parse(v: str | date | None, name: str) -> date | None:
        if v is None or v == "":
            return None
        if isinstance(v, date):
            return v
        try:
            return date.fromisoformat(v.strip())
        except ValueError:
            raise Invalid(f"{name} 应为 YYYY-MM-DD 格式的日期，而不是 {v!r}") from None

    e = parse(end, "to") or today
    s = parse(start, "from") or e - timedelta(days=default_days - 1)
    if s > e:
        raise Invalid(f"开始日期 from（{s}）晚于结束日期 to（{e}）")
    if (e - s).days + 1 > MAX_DAYS:
        raise Invalid(f"单次最多查询 {MAX_DAYS} 天")
    return s, e


def check_dimension(dimension: str) -> str:
    if dimension not in HISTORY_DIMENSIONS:
        raise Invalid(f"未知的统计维度 {dimension!r}，应为以下之一：{'、'.join(HISTORY_DIMENSIONS)}")
    return dimension


def daily_online_rate(session: Session, *, dimension: str = "overall", start: date, end: date,
                      scope: str | None = None, key: str | None = None) -> list[dict[str, Any]]:
    """The daily rows of one dimension in [start, end], by day then key."""
    check_dimension(dimension)
    q = select(KpiOnlineDaily).where(KpiOnlineDaily.scope == (scope or ""), KpiOnlineDaily.dimension == dimension,
                                     KpiOnlineDaily.day >= start, KpiOnlineDaily.day <= end)
    if key is not None:
        q = q.where(KpiOnlineDaily.key == key)
    return [{"day": r.day, "dimension": r.dimension, "key": r.key, "devices": r.devices, "samples": r.samples,
             "device_samples": r.device_samples, "online_samples": r.online_samples,
             "rate": round(r.online_samples / r.device_samples, 4) if r.device_samples else None}
            for r in session.scalars(q.order_by(KpiOnlineDaily.day, KpiOnlineDaily.key))]


def key_labels(session: Session, dimension: str, keys: list[str], *, scope: str | None = None) -> dict[str, str]:
    """Chinese names for the keys: street names from codes, type and tag-category labels."""
    from cityops.geo.service import list_streets

    if dimension in ("street_code", "overall"):
        streets = {s.code: s.name for s in list_streets(session)}
        if dimension == "overall":
            return {k: streets.get(scope, scope) if scope else "全区" for k in keys}
        return {k: streets.get(k, k or "（未定位街镇）") for k in keys}
    if dimension == "device_type":
        return {k: DEVICE_TYPES.get(k, k or "（未填写）") for k in keys}
    if dimension == "tag":
        out = {}
        for k in keys:
            cat, _, name = k.partition(":")
            out[k] = name if cat == "scenario" else f"{TAG_CATEGORIES.get(cat, cat)}：{name}"
        return out
    return {k: k or "（未填写）" for k in keys}


def alarm_times_by(session: Session, *, group: str, start: date, end: date,
                   scope: str | None = None) -> list[dict[str, Any]]:
    """MTTA/MTTC of the alarms raised in [start, end] (local dates), per day or per street.

    Suppressed alarms (maintenance windows, folded under a gateway or a flapping device) are
    left out: nobody is called for them, so they say nothing about how fast people respond."""
    if group not in ("day", "street"):
        raise Invalid("group 应为 day 或 street")
    since, until = day_bounds(start, end)
    q = (select(Alarm.first_at, Alarm.acked_at, Alarm.cleared_at, Device.street_code)
         .join(Device, Device.id == Alarm.device_id)
         .where(Alarm.first_at >= since, Alarm.first_at < until, Alarm.suppressed.is_(False)))
    if scope:
        q = q.where(Device.street_code == scope)
    buckets: dict[Any, list] = defaultdict(list)
    for first, acked, cleared, street in session.execute(q):
        buckets[local(first).date() if group == "day" else (street or "")].append((first, acked, cleared))
    if group == "day":
        keys = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    else:
        keys = sorted(buckets)
    return [{"key": k, **times_summary(buckets.get(k, []))} for k in keys]


def top_flapping(session: Session, *, since: datetime, until: datetime | None = None, scope: str | None = None,
                 limit: int = 10) -> list[dict[str, Any]]:
    """Devices with the most online/offline changes in [since, until), the caller's street only."""
    n = func.count(DeviceStateChange.id)
    q = (select(Device.id, Device.code, Device.name, Device.street_code, n)
         .join(Device, Device.id == DeviceStateChange.device_id)
         .where(DeviceStateChange.at >= since, DeviceStateChange.new.in_(("online", "offline"))))
    if until:
        q = q.where(DeviceStateChange.at < until)
    if scope:
        q = q.where(Device.street_code == scope)
    q = q.group_by(Device.id, Device.code, Device.name, Device.street_code).order_by(n.desc(), Device.id).limit(limit)
    return [{"device_id": i, "code": c, "name": nm, "street_code": s, "changes": k}
            for i, c, nm, s, k in session.execute(q)]
