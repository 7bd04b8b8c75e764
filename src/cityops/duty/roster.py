"""Overrides (stand-ins), swaps and special periods of the duty roster (SVC-1)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.duty.models import Contact, Shift
from cityops.duty.roster_models import PERIOD_KINDS, Override, SpecialPeriod, Swap
from cityops.duty.service import get_contact, get_shift, get_team

REQUIREMENT_ROLES = {"duty": "值班员", "support": "技术支撑", "": "任意角色"}
SERVICE_START, SERVICE_END = date(2026, 5, 1), date(2027, 4, 30)  # SVC-4 service period


# -- overrides --

def _aware(*values: datetime) -> None:
    if any(v.tzinfo is None for v in values):
        raise Invalid("时间须带时区（UTC 偏移）")


def create_override(session: Session, *, contact_id: int, replacement_id: int, starts_at: datetime,
                    ends_at: datetime, team_code: str | None = None, reason: str = "",
                    created_by: str = "") -> Override:
    """`replacement_id` takes `contact_id`'s shifts from `starts_at` to `ends_at` (sick leave)."""
    _aware(starts_at, ends_at)
    if ends_at <= starts_at:
        raise Invalid("替班结束时间须晚于开始时间")
    if contact_id == replacement_id:
        raise Invalid("替班人不能是被替班人本人")
    get_contact(session, contact_id)
    sub = get_contact(session, replacement_id)
    if not sub.active:
        raise Invalid(f"替班人 {sub.name} 已停用")
    if team_code:
        get_team(session, team_code)
    clash = session.scalar(select(Override.id).where(Override.contact_id == contact_id, Override.starts_at < ends_at,
                                                     Override.ends_at > starts_at))
    if clash is not None:
        raise Conflict(f"该时段已有替班安排 #{clash}")
    o = Override(contact_id=contact_id, replacement_id=replacement_id, team_code=team_code or None,
                 starts_at=starts_at, ends_at=ends_at, reason=reason.strip(), created_by=created_by)
    session.add(o)
    session.flush()
    return o


def list_overrides(session: Session, *, start: datetime, end: datetime) -> list[Override]:
    _aware(start, end)
    return list(session.scalars(select(Override).where(Override.starts_at < end, Override.ends_at > start)
                                .order_by(Override.starts_at, Override.id)))


def delete_override(session: Session, override_id: int) -> None:
    o = session.get(Override, override_id)
    if o is None:
        raise NotFound(f"替班 {override_id} 不存在")
    session.delete(o)
    session.flush()


def active_overrides(session: Session, at: datetime) -> list[Override]:
    return list(session.scalars(select(Override).where(Override.starts_at <= at, Override.ends_at > at)))


# -- swaps --

def get_swap(session: Session, swap_id: int) -> Swap:
    s = session.get(Swap, swap_id)
    if s is None:
        raise NotFound(f"换班申请 {swap_id} 不存在")
    return s


def _swappable(session: Session, a_id: int, b_id: int, now: datetime) -> tuple[Shift, Shift]:
    a, b = get_shift(session, a_id), get_shift(session, b_id)
    if a.id == b.id or a.contact_id == b.contact_id:
        raise Invalid("换班须是两个不同人员的班次")
    if a.team_code != b.team_code:
        raise Invalid("只能在同一值班组内换班")
    if min(a.starts_at, b.starts_at) <= now:
        raise Invalid("已开始的班次不能再换")
    return a, b


def request_swap(session: Session, *, shift_a_id: int, shift_b_id: int, reason: str = "", requested_by: str,
                 now: datetime | None = None) -> Swap:
    now = now or utcnow()
    _swappable(session, shift_a_id, shift_b_id, now)
    pending = session.scalar(select(Swap.id).where(Swap.state == "pending", Swap.shift_a_id.in_([shift_a_id, shift_b_id])
                                                   | Swap.shift_b_id.in_([shift_a_id, shift_b_id])))
    if pending is not None:
        raise Conflict(f"这两个班次已有待审批的换班申请 #{pending}")
    s = Swap(shift_a_id=shift_a_id, shift_b_id=shift_b_id, reason=reason.strip(), requested_by=requested_by,
             created_at=now)
    session.add(s)
    session.flush()
    return s


def _clash(session: Session, contact_id: int, shift: Shift, ignore: set[int]) -> None:
    q = select(Shift.id).where(Shift.contact_id == contact_id, Shift.team_code == shift.team_code,
                               Shift.starts_at < shift.ends_at, Shift.ends_at > shift.starts_at,
                               Shift.id.not_in(ignore))
    other = session.scalar(q)
    if other is not None:
        name = session.get(Contact, contact_id).name
        raise Conflict(f"{name} 在该时段已有班次 #{other}，无法换班")


def decide_swap(session: Session, swap_id: int, *, approve: bool, decided_by: str, note: str = "",
                now: datetime | None = None) -> Swap:
    """A manager approves (the two shifts exchange people) or rejects a pending swap."""
    now = now or utcnow()
    s = get_swap(session, swap_id)
    if s.state != "pending":
        raise Conflict(f"换班申请 {swap_id} 已处理")
    if approve:
        a, b = _swappable(session, s.shift_a_id, s.shift_b_id, now)
        _clash(session, b.contact_id, a, {a.id, b.id})
        _clash(session, a.contact_id, b, {a.id, b.id})
        a.contact_id, b.contact_id = b.contact_id, a.contact_id
        for sh in (a, b):  # a regenerated rotation keeps swapped shifts
            if sh.rotation_id is not None:
                sh.source = "swap"
            sh.note = (sh.note + f" 换班#{s.id}").strip()
    s.state = "approved" if approve else "rejected"
    s.decided_by, s.decided_at, s.decision_note = decided_by, now, note.strip()
    session.flush()
    return s


def list_swaps(session: Session, *, state: str | None = None, limit: int = 100) -> list[Swap]:
    q = select(Swap).order_by(Swap.created_at.desc(), Swap.id.desc()).limit(limit)
    if state:
        q = q.where(Swap.state == state)
    return list(session.scalars(q))


# -- special periods --

def _requirements(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for it in items or []:
        role = str(it.get("role") or "").strip()
        post = str(it.get("post") or "").strip()
        if role not in REQUIREMENT_ROLES:
            raise Invalid("要求的角色须为 duty（值班员）、support（技术支撑）或留空")
        if not role and not post:
            raise Invalid("每条要求须指定角色或岗位（如 移动单兵）")
        try:
            count = int(it.get("count", 1))
        except (TypeError, ValueError) as exc:
            raise Invalid(f"人数须为整数：{it.get('count')!r}") from exc
        if not 1 <= count <= 20:
            raise Invalid("人数须在 1–20 之间")
        label = str(it.get("label") or post or REQUIREMENT_ROLES[role]).strip()
        out.append({"label": label, "role": role, "post": post, "count": count})
    return out


def create_period(session: Session, *, name: str, starts_on: date, ends_on: date, kind: str = "holiday",
                  requirements: list[dict[str, Any]] | None = None, note: str = "") -> SpecialPeriod:
    if not name.strip():
        raise Invalid("请填写特殊时段名称")
    if kind not in PERIOD_KINDS:
        raise Invalid(f"类别须为 {'、'.join(PERIOD_KINDS)} 之一")
    if ends_on < starts_on:
        raise Invalid("结束日期不能早于开始日期")
    if (ends_on - starts_on).days > 92:
        raise Invalid("特殊时段最长 93 天")
    reqs = _requirements(requirements or [])
    if not reqs:
        raise Invalid("特殊时段至少需要一条人员要求（如 值班员 2 人）")
    p = SpecialPeriod(name=name.strip(), kind=kind, starts_on=starts_on, ends_on=ends_on, requirements=reqs,
                      note=note.strip())
    session.add(p)
    session.flush()
    return p


def list_periods(session: Session, *, start: date | None = None, end: date | None = None) -> list[SpecialPeriod]:
    q = select(SpecialPeriod).order_by(SpecialPeriod.starts_on, SpecialPeriod.id)
    if start:
        q = q.where(SpecialPeriod.ends_on >= start)
    if end:
        q = q.where(SpecialPeriod.starts_on <= end)
    return list(session.scalars(q))


def delete_period(session: Session, period_id: int) -> None:
    p = session.get(SpecialPeriod, period_id)
    if p is None:
        raise NotFound(f"特殊时段 {period_id} 不存在")
    session.delete(p)
    session.flush()


def holiday_offers(session: Session, *, start: date = SERVICE_START, end: date = SERVICE_END) -> list[dict[str, Any]]:
    """The public holidays (events/data/holidays_cn.json) in [start, end] as candidate special
    periods, marked when a period with that name and start already exists."""
    from cityops.events.calendar import cn_holidays

    off, _, _ = cn_holidays()
    days = sorted(d for d in off if start <= d <= end)
    out: list[dict[str, Any]] = []
    for d in days:
        if out and out[-1]["name"] == off[d] and out[-1]["ends_on"] == d - timedelta(days=1):
            out[-1]["ends_on"] = d
        else:
            out.append({"name": off[d], "starts_on": d, "ends_on": d})
    have = {(p.name, p.starts_on) for p in list_periods(session)}
    for o in out:
        o["exists"] = (o["name"], o["starts_on"]) in have
    return out
