"""Rotations (SVC-1): who covers a team's role in turn, and `generate` which writes the shifts
of a period. Regenerating replaces the rotation's own future shifts ("rotation") and keeps
manual shifts, swapped shifts ("swap") and everything that already started."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid, NotFound
from cityops.core.timeutil import SHANGHAI, utcnow
from cityops.duty.models import SHIFT_ROLES, Contact, Shift
from cityops.duty.roster_models import ROTATION_KINDS, Rotation
from cityops.duty.service import get_team

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_DAYS = 400  # one service year plus a margin per generate call
OFF = "-"
# The centre's usual patterns: 4 officers rolling day/night/off/off; weekly on-call.
DAY_NIGHT = [{"code": "D", "label": "白班", "start": "08:30", "end": "20:30"},
             {"code": "N", "label": "夜班", "start": "20:30", "end": "08:30"}]
DAY_NIGHT_CYCLE = ["D", "N", OFF, OFF]
FIELDS = ("name", "team_code", "role", "post", "kind", "members", "slots", "cycle", "start_date", "handover", "active")


def _hhmm(value: Any, what: str) -> time:
    m = _HHMM.match(str(value or "").strip())
    if not m:
        raise Invalid(f"{what}须为 HH:MM 格式（如 08:30），收到 {value!r}")
    return time(int(m[1]), int(m[2]))


def _clean(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    name = str(data.get("name") or "").strip()
    if not name:
        raise Invalid("请填写轮换名称")
    get_team(session, data["team_code"])
    if data.get("role") not in SHIFT_ROLES:
        raise Invalid(f"角色须为 {'、'.join(SHIFT_ROLES)} 之一")
    if data.get("kind") not in ROTATION_KINDS:
        raise Invalid(f"轮换方式须为 {'、'.join(ROTATION_KINDS)} 之一")
    members = [int(m) for m in data.get("members") or []]
    if not members:
        raise Invalid("轮换至少需要一名成员")
    if len(set(members)) != len(members):
        raise Invalid("轮换成员不能重复")
    for cid in members:
        c = session.get(Contact, cid)
        if c is None:
            raise Invalid(f"联系人 {cid} 不存在")
        if not c.active:
            raise Invalid(f"联系人 {c.name} 已停用")
    _hhmm(data.get("handover"), "交接班时间")
    if not isinstance(data.get("start_date"), date):
        raise Invalid("请填写轮换起始日期")
    slots, cycle = [], []
    if data["kind"] == "cycle":
        codes = set()
        for s in data.get("slots") or []:
            code = str(s.get("code") or "").strip()
            if not code or code == OFF or code in codes:
                raise Invalid(f"班次代码 {code!r} 为空、重复或为保留的 “-”")
            codes.add(code)
            _hhmm(s.get("start"), f"班次 {code} 开始时间")
            _hhmm(s.get("end"), f"班次 {code} 结束时间")
            slots.append({"code": code, "label": str(s.get("label") or code).strip(), "start": s["start"],
                          "end": s["end"]})
        if not slots:
            raise Invalid("按日循环的轮换需要至少一个班次（如 白班 08:30–20:30）")
        cycle = [str(c).strip() for c in data.get("cycle") or []]
        if not cycle or any(c not in codes and c != OFF for c in cycle):
            raise Invalid(f"循环须由班次代码 {'、'.join(sorted(codes))} 或 “-”（休息）组成")
    return {**data, "name": name, "members": members, "slots": slots, "cycle": cycle, "post": (data.get("post") or "").strip()}


def list_rotations(session: Session, *, team: str | None = None) -> list[Rotation]:
    q = select(Rotation).order_by(Rotation.team_code, Rotation.id)
    if team:
        q = q.where(Rotation.team_code == team)
    return list(session.scalars(q))


def get_rotation(session: Session, rotation_id: int) -> Rotation:
    r = session.get(Rotation, rotation_id)
    if r is None:
        raise NotFound(f"轮换 {rotation_id} 不存在")
    return r


def create_rotation(session: Session, *, name: str, team_code: str, members: list[int], start_date: date,
                    role: str = "member", post: str = "", kind: str = "cycle", slots: list[dict] | None = None,
                    cycle: list[str] | None = None, handover: str = "08:30", active: bool = True,
                    created_by: str = "") -> Rotation:
    data = _clean(session, {"name": name, "team_code": team_code, "role": role, "post": post, "kind": kind,
                            "members": members, "slots": slots or [], "cycle": cycle or [],
                            "start_date": start_date, "handover": handover, "active": active})
    r = Rotation(**data, created_by=created_by)
    session.add(r)
    session.flush()
    return r


def update_rotation(session: Session, rotation_id: int, **fields: Any) -> Rotation:
    r = get_rotation(session, rotation_id)
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    data = _clean(session, {k: fields[k] if fields.get(k) is not None else getattr(r, k) for k in FIELDS})
    for k, v in data.items():
        setattr(r, k, v)
    session.flush()
    return r


def delete_rotation(session: Session, rotation_id: int, *, now: datetime | None = None) -> int:
    """Delete a rotation and its shifts that have not started; returns how many went."""
    r = get_rotation(session, rotation_id)
    gone = _drop_future(session, r.id, now or utcnow(), None, include_swaps=True)
    session.delete(r)
    session.flush()
    return gone


def _drop_future(session: Session, rotation_id: int, now: datetime, until: datetime | None, *,
                 include_swaps: bool = False) -> int:
    q = select(Shift).where(Shift.rotation_id == rotation_id, Shift.starts_at >= now)
    if not include_swaps:
        q = q.where(Shift.source == "rotation")
    if until is not None:
        q = q.where(Shift.starts_at < until)
    rows = list(session.scalars(q))
    for s in rows:  # one by one so the audit chain sees each deletion
        session.delete(s)
    session.flush()
    return len(rows)


def _at(d: date, t: time) -> datetime:
    return datetime.combine(d, t, tzinfo=SHANGHAI)


def planned(r: Rotation, start: date, end: date) -> list[tuple[int, datetime, datetime, str]]:
    """(contact id, starts_at, ends_at, label) of every slot whose day lies in [start, end]
    (weekly: every week overlapping it)."""
    out = []
    n = len(r.members)
    if r.kind == "weekly":
        handover = _hhmm(r.handover, "交接班时间")
        first = max(0, (start - r.start_date).days // 7)  # the week running on `start` too
        week = first
        while (day := r.start_date + timedelta(days=7 * week)) <= end:
            s = _at(day, handover)
            out.append((r.members[week % n], s, _at(day + timedelta(days=7), handover), "周值守"))
            week += 1
        return out
    slots = {s["code"]: s for s in r.slots}
    day = max(start, r.start_date)
    while day <= end:
        k = (day - r.start_date).days
        for i, cid in enumerate(r.members):
            code = r.cycle[(k - i) % len(r.cycle)]
            if code == OFF:
                continue
            s = slots[code]
            a, b = _hhmm(s["start"], "开始"), _hhmm(s["end"], "结束")
            out.append((cid, _at(day, a), _at(day + timedelta(days=1) if b <= a else day, b), s["label"]))
        day += timedelta(days=1)
    return sorted(out, key=lambda x: (x[1], x[0]))


def generate(session: Session, rotation_id: int, start: date, end: date, *, now: datetime | None = None,
             actor: str = "system") -> dict[str, int]:
    """Write the rotation's shifts for the days start..end (Beijing, inclusive; a weekly
    rotation also writes the week running on `start`). Shifts that already started are left
    alone; a slot held by a kept shift (swap) or clashing with the person's own shift in the
    team is skipped and counted."""
    now = now or utcnow()
    r = get_rotation(session, rotation_id)
    if not r.active:
        raise Invalid(f"轮换「{r.name}」已停用")
    if end < start:
        raise Invalid("结束日期不能早于开始日期")
    if (end - start).days > MAX_DAYS:
        raise Invalid(f"一次最多生成 {MAX_DAYS} 天")
    lo, hi = _at(start, time(0)), _at(end + timedelta(days=2), time(0))
    removed = _drop_future(session, r.id, max(now, lo), hi)
    existing = list(session.scalars(select(Shift).where(Shift.team_code == r.team_code, Shift.starts_at < hi,
                                                        Shift.ends_at > lo - timedelta(days=7))))
    held = {(s.starts_at, s.ends_at) for s in existing if s.rotation_id == r.id}
    by_person: dict[int, list[Shift]] = {}
    for s in existing:
        by_person.setdefault(s.contact_id, []).append(s)
    created = skipped = 0
    for cid, a, b, label in planned(r, start, end):
        if b <= now or (a < now and (a, b) in held):
            continue  # past, or running and already there; a running slot nobody holds is written
        if (a, b) in held or any(s.starts_at < b and s.ends_at > a for s in by_person.get(cid, [])):
            skipped += 1
            continue
        shift = Shift(contact_id=cid, team_code=r.team_code, role=r.role, post=r.post, starts_at=a, ends_at=b,
                      note=f"{r.name}·{label}", created_by=actor, source="rotation", rotation_id=r.id)
        session.add(shift)
        by_person.setdefault(cid, []).append(shift)
        created += 1
    session.flush()
    return {"created": created, "removed": removed, "skipped": skipped}
