"""SLA time limits for city events (IOT-6): which policy applies, the working calendar it runs
on, each step's deadline and how far along the clock is.

Seeded district defaults (``seed_sla``; figures follow the usual 一网统管 practice — urgent
safety events run round the clock, routine city-management cases count working time):

====================  ========  ======  ========  =======================  ======  ======
policy                calendar  受理    派遣      处置                     核查    结案
====================  ========  ======  ========  =======================  ======  ======
紧急 (critical)       7×24      15 min  30 min    4 h                      1 h     2 h
重要 (major)          7×24      30 min  1 h       12 h                     4 h     8 h
一般 (warning 警告)    workdays  2 h     4 h       3 working days (1350)    1 day   2 days
其他 (any severity)   workdays  4 h     1 day     5 working days (2250)    2 days  2 days
====================  ========  ======  ========  =======================  ======  ======

A working day is 7.5 h (09:00-12:00, 13:00-17:30). Defaults are re-created at start-up when
missing: switch one off (enabled=false) instead of deleting it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import aware
from cityops.events.calendar import MODES, WorkCalendar
from cityops.events.sla_models import DAY_KINDS, STEPS, CalendarDay, SlaPolicy

SEVERITIES = ("info", "warning", "major", "critical")  # as city events and alarms
SEVERITY_LABELS = {"": "不限", "critical": "紧急", "major": "重要", "warning": "警告", "info": "提示"}
LIMITS = tuple(f"{s}_min" for s in STEPS)
_PREFIX = re.compile(r"^\d{0,16}$")

DEFAULTS = (
    {"name": "紧急事件（全区默认）", "severity": "critical", "calendar_mode": "24x7", "accept_min": 15, "dispatch_min": 30,
         "dispose_min": 240, "verify_min": 60, "close_min": 120},
    {"name": "重要事件（全区默认）", "severity": "major", "calendar_mode": "24x7", "accept_min": 30, "dispatch_min": 60,
         "dispose_min": 720, "verify_min": 240, "close_min": 480},
    {"name": "一般事件（警告级，全区默认）", "severity": "warning", "calendar_mode": "workdays", "accept_min": 120,
         "dispatch_min": 240, "dispose_min": 1350, "verify_min": 450, "close_min": 900},
    {"name": "其他事件（全区兜底）", "severity": "", "calendar_mode": "workdays", "accept_min": 240, "dispatch_min": 450,
         "dispose_min": 2250, "verify_min": 900, "close_min": 900},
)


def seed_sla(session: Session) -> int:
    """Create the district default policies that are missing; returns how many were added."""
    added = 0
    for d in DEFAULTS:
        exists = session.scalar(select(SlaPolicy.id).where(SlaPolicy.category_prefix == "",
                                                           SlaPolicy.severity == d["severity"]).limit(1))
        if exists is None:
            session.add(SlaPolicy(category_prefix="", warn_at_pct=80, priority=0, enabled=True, created_by="system",
                                  note="系统预置的全区默认时限", **d))
            added += 1
    session.flush()
    return added


# -- policies ---------------------------------------------------------------------------
def _check(values: dict) -> None:
    if not _PREFIX.match(values.get("category_prefix", "")):
        raise Invalid("category_prefix 应为分类代码，如 01、0101 或 010101（留空表示全部分类）")
    if values.get("severity", "") not in ("", *SEVERITIES):
        raise Invalid(f"severity 应为以下之一：{'、'.join(SEVERITIES)}，或留空（不限）")
    if values.get("calendar_mode", "workdays") not in MODES:
        raise Invalid(f"calendar_mode 应为以下之一：{'、'.join(MODES)}")
    for k in LIMITS:
        v = values.get(k)
        if v is not None and not (isinstance(v, int) and 1 <= v <= 60 * 24 * 366):
            raise Invalid(f"{k} 应为 1 到 527040 之间的整数（分钟）")
    pct = values.get("warn_at_pct", 80)
    if not (isinstance(pct, int) and 1 <= pct <= 100):
        raise Invalid("warn_at_pct 应在 1 到 100 之间")
    if "name" in values and not str(values["name"]).strip():
        raise Invalid("时限策略需要名称")


def list_policies(session: Session) -> list[SlaPolicy]:
    return list(session.scalars(select(SlaPolicy).order_by(SlaPolicy.category_prefix, SlaPolicy.severity,
                                                           SlaPolicy.priority.desc(), SlaPolicy.id)))


def get_policy(session: Session, policy_id: int) -> SlaPolicy:
    p = session.get(SlaPolicy, policy_id)
    if p is None:
        raise NotFound(f"时限策略 #{policy_id} 不存在")
    return p


def create_policy(session: Session, *, name: str, accept_min: int, dispatch_min: int, dispose_min: int,
                  verify_min: int, close_min: int, category_prefix: str = "", severity: str = "",
                  calendar_mode: str = "workdays", warn_at_pct: int = 80, priority: int = 0, enabled: bool = True,
                  note: str = "", created_by: str = "") -> SlaPolicy:
    values = {"name": name.strip(), "category_prefix": category_prefix.strip(), "severity": severity,
                  "calendar_mode": calendar_mode, "accept_min": accept_min, "dispatch_min": dispatch_min,
                  "dispose_min": dispose_min, "verify_min": verify_min, "close_min": close_min, "warn_at_pct": warn_at_pct,
                  "priority": priority, "enabled": enabled, "note": note}
    _check(values)
    p = SlaPolicy(created_by=created_by, **values)
    session.add(p)
    session.flush()
    return p


def _guard_fallback(session: Session, p: SlaPolicy) -> None:
    """Keep one enabled catch-all policy so every event gets a time limit."""
    if p.category_prefix or p.severity or not p.enabled:
        return
    others = session.scalar(select(SlaPolicy.id).where(SlaPolicy.category_prefix == "", SlaPolicy.severity == "",
                                                       SlaPolicy.enabled.is_(True), SlaPolicy.id != p.id).limit(1))
    if others is None:
        raise Conflict("这是唯一启用的兜底时限策略（全部分类、不限等级）："
                       "每个事件都需要时限，请改为修改它的时限数值")


def update_policy(session: Session, policy_id: int, **changes) -> SlaPolicy:
    p = get_policy(session, policy_id)
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = set(changes) - {"name", "category_prefix", "severity", "calendar_mode", "warn_at_pct", "priority",
                              "enabled", "note", *LIMITS}
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    _check({**{c: getattr(p, c) for c in ("category_prefix", "severity", "calendar_mode", "warn_at_pct")},
            **changes})
    if (("enabled" in changes and not changes["enabled"]) or changes.get("category_prefix")
            or changes.get("severity")):
        _guard_fallback(session, p)
    for k, v in changes.items():
        setattr(p, k, v.strip() if isinstance(v, str) and k != "note" else v)
    session.flush()
    return p


def delete_policy(session: Session, policy_id: int) -> None:
    p = get_policy(session, policy_id)
    _guard_fallback(session, p)
    session.delete(p)
    session.flush()


def pick_policy(policies, category_code: str, severity: str) -> SlaPolicy | None:
    """The policy for an event among enabled `policies`: longest matching category prefix, then
    an exact severity over "any", then the higher priority, then the older policy."""
    code = category_code or ""
    candidates = [p for p in policies if code.startswith(p.category_prefix) and p.severity in ("", severity)]
    if not candidates:
        return None
    return min(candidates, key=lambda p: (-len(p.category_prefix), p.severity == "", -p.priority, p.id))


def enabled_policies(session: Session) -> list[SlaPolicy]:
    return list(session.scalars(select(SlaPolicy).where(SlaPolicy.enabled.is_(True))))


def policy_for(session: Session, category_code: str, severity: str) -> SlaPolicy:
    """The enabled policy for an event (`pick_policy`'s rule)."""
    policy = pick_policy(enabled_policies(session), category_code, severity)
    if policy is None:
        raise NotFound(f"没有适用于分类/等级 {category_code or ''}/{severity} 的时限策略")
    return policy


# -- calendar ---------------------------------------------------------------------------
def overrides(session: Session) -> dict[date, tuple[str, str]]:
    return {d.day: (d.kind, d.name) for d in session.scalars(select(CalendarDay))}


def calendar_for(session: Session, mode: str) -> WorkCalendar:
    """The calendar for a mode: shipped State Council data plus the office's overrides."""
    if mode not in MODES:
        raise Invalid(f"日历模式应为以下之一：{'、'.join(MODES)}")
    return WorkCalendar(mode, overrides=overrides(session) if mode == "workdays" else None)


def list_days(session: Session, *, first: date | None = None, last: date | None = None) -> list[CalendarDay]:
    q = select(CalendarDay).order_by(CalendarDay.day)
    if first:
        q = q.where(CalendarDay.day >= first)
    if last:
        q = q.where(CalendarDay.day <= last)
    return list(session.scalars(q))


def add_day(session: Session, *, day: date, kind: str, name: str = "", created_by: str = "") -> CalendarDay:
    if kind not in DAY_KINDS:
        raise Invalid("kind 应为 holiday（放假）或 workday（上班）")
    if session.scalar(select(CalendarDay.id).where(CalendarDay.day == day)) is not None:
        raise Conflict(f"{day.isoformat()} 已有日历调整，请先删除")
    d = CalendarDay(day=day, kind=kind, name=name.strip()[:64], created_by=created_by)
    session.add(d)
    session.flush()
    return d


def delete_day(session: Session, day_id: int) -> None:
    d = session.get(CalendarDay, day_id)
    if d is None:
        raise NotFound(f"日历调整 {day_id} 不存在")
    session.delete(d)
    session.flush()


# -- deadlines --------------------------------------------------------------------------
@dataclass(frozen=True)
class Deadline:
    policy: SlaPolicy
    step: str
    limit: timedelta
    started_at: datetime
    clock_starts: datetime  # the first working instant at or after started_at
    deadline: datetime
    calendar: WorkCalendar


def deadline(session: Session, *, category_code: str, severity: str, step: str, started_at: datetime) -> Deadline:
    """When ``step`` (accept, dispatch, dispose, verify, close) is due for an event whose step
    started at ``started_at`` (the previous state change)."""
    if step not in STEPS:
        raise Invalid(f"step 应为以下之一：{'、'.join(STEPS)}")
    started_at = aware(started_at)
    policy = policy_for(session, category_code, severity)
    cal = calendar_for(session, policy.calendar_mode)
    limit = timedelta(minutes=policy.limit(step))
    return Deadline(policy, step, limit, started_at, cal.next_working_start(started_at),
                    cal.add_working(started_at, limit), cal)


def status(session: Session, *, category_code: str, severity: str, step: str, started_at: datetime,
           now: datetime) -> dict:
    """How far the step's clock has run at ``now``: state ok, warning (≥ warn_at_pct) or breached."""
    d = deadline(session, category_code=category_code, severity=severity, step=step, started_at=started_at)
    now = aware(now)
    elapsed = d.calendar.working_between(d.started_at, now)
    pct = round(elapsed / d.limit * 100, 1)
    state = "breached" if now > d.deadline else "warning" if pct >= d.policy.warn_at_pct else "ok"
    return {"deadline": d.deadline, "elapsed_working": elapsed, "remaining": max(d.limit - elapsed, timedelta(0)),
            "pct": pct, "state": state, "policy_id": d.policy.id, "limit": d.limit,
            "calendar_mode": d.policy.calendar_mode}
