"""Duty roster logic (IOT-5 / OPS-3): contacts, teams, shifts, and who is on duty now.

Plain functions taking a session, keyword-only. Times are stored UTC; callers give aware
datetimes (the console reads its forms as Beijing time)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.auth.models import User
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.duty.models import SHIFT_ROLES, Contact, Shift, Team
from cityops.geo.models import ResponsibleUnit
from cityops.notify.base import normalize_mobile

CONTACT_FIELDS = ("name", "phone", "email", "wecom_userid", "username", "team_code", "unit_id", "active", "note")
MAX_SHIFT = timedelta(days=7)


# -- teams --

def list_teams(session: Session, *, active_only: bool = False) -> list[Team]:
    q = select(Team).order_by(Team.code)
    if active_only:
        q = q.where(Team.active.is_(True))
    return list(session.scalars(q))


def get_team(session: Session, code: str) -> Team:
    team = session.get(Team, code)
    if team is None:
        raise NotFound("duty team", code)
    return team


def _check_team_refs(session: Session, unit_id: int | None, manager_id: int | None) -> None:
    if unit_id is not None and session.get(ResponsibleUnit, unit_id) is None:
        raise Invalid(f"unknown responsible unit {unit_id}")
    if manager_id is not None and session.get(Contact, manager_id) is None:
        raise Invalid(f"unknown contact {manager_id} as team manager")


def create_team(session: Session, *, code: str, name: str, unit_id: int | None = None,
                manager_id: int | None = None, active: bool = True) -> Team:
    code = code.strip()
    if not code or not name.strip():
        raise Invalid("a team needs a code and a name")
    if session.get(Team, code) is not None:
        raise Conflict(f"team {code!r} exists already")
    _check_team_refs(session, unit_id, manager_id)
    team = Team(code=code, name=name.strip(), unit_id=unit_id, manager_id=manager_id, active=active)
    session.add(team)
    session.flush()
    return team


def update_team(session: Session, code: str, **fields: Any) -> Team:
    team = get_team(session, code)
    unknown = set(fields) - {"name", "unit_id", "manager_id", "active"}
    if unknown:
        raise Invalid(f"unknown team fields: {', '.join(sorted(unknown))}")
    _check_team_refs(session, fields.get("unit_id"), fields.get("manager_id"))
    for k, v in fields.items():
        if v is None and k in ("name", "active"):
            continue  # null means "unchanged" for required fields
        setattr(team, k, v)
    session.flush()
    return team


def delete_team(session: Session, code: str) -> None:
    session.delete(get_team(session, code))
    session.flush()


# -- contacts --

def _clean_contact(session: Session, fields: dict[str, Any]) -> dict[str, Any]:
    out = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
    if "name" in out and not out["name"]:
        raise Invalid("a contact needs a name")
    if out.get("phone"):
        mobile = normalize_mobile(out["phone"])
        if mobile is None:
            raise Invalid("phone must be a mainland 11-digit mobile number (e.g. 13800001111)")
        out["phone"] = mobile
    if out.get("email") and "@" not in out["email"]:
        raise Invalid(f"not an e-mail address: {out['email']!r}")
    if "username" in out:
        out["username"] = out["username"] or None
        if out["username"] and session.scalar(select(User.id).where(User.username == out["username"])) is None:
            raise Invalid(f"no user account {out['username']!r}")
    if "team_code" in out:
        out["team_code"] = out["team_code"] or None
        if out["team_code"]:
            get_team(session, out["team_code"])
    if out.get("unit_id") is not None and session.get(ResponsibleUnit, out["unit_id"]) is None:
        raise Invalid(f"unknown responsible unit {out['unit_id']}")
    return out


def list_contacts(session: Session, *, team: str | None = None, active_only: bool = False) -> list[Contact]:
    q = select(Contact).order_by(Contact.team_code, Contact.name, Contact.id)
    if team:
        q = q.where(Contact.team_code == team)
    if active_only:
        q = q.where(Contact.active.is_(True))
    return list(session.scalars(q))


def get_contact(session: Session, contact_id: int) -> Contact:
    c = session.get(Contact, contact_id)
    if c is None:
        raise NotFound("contact", contact_id)
    return c


def create_contact(session: Session, *, name: str, **fields: Any) -> Contact:
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise Invalid(f"unknown contact fields: {', '.join(sorted(unknown))}")
    data = _clean_contact(session, {"name": name, **fields})
    if not (data.get("phone") or data.get("email") or data.get("wecom_userid")):
        raise Invalid("a contact needs at least one way to be reached: phone, e-mail or WeCom userid")
    contact = Contact(**{k: v for k, v in data.items() if v is not None or k in ("username", "team_code")})
    session.add(contact)
    session.flush()
    return contact


def update_contact(session: Session, contact_id: int, **fields: Any) -> Contact:
    contact = get_contact(session, contact_id)
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise Invalid(f"unknown contact fields: {', '.join(sorted(unknown))}")
    for k, v in _clean_contact(session, fields).items():
        if v is None and k in ("name", "active"):
            continue  # null means "unchanged" for required fields
        setattr(contact, k, "" if v is None and k in ("phone", "email", "wecom_userid", "note") else v)
    session.flush()
    return contact


def delete_contact(session: Session, contact_id: int) -> None:
    contact = get_contact(session, contact_id)
    for team in session.scalars(select(Team).where(Team.manager_id == contact_id)):
        team.manager_id = None
    session.delete(contact)
    session.flush()


# -- shifts --

def _check_shift(session: Session, *, contact_id: int, team_code: str, role: str, starts_at: datetime,
                 ends_at: datetime, shift_id: int | None = None) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise Invalid("give shift times with their UTC offset")
    if ends_at <= starts_at:
        raise Invalid("a shift must end after it starts")
    if ends_at - starts_at > MAX_SHIFT:
        raise Invalid("a shift may last at most 7 days; plan longer periods as several shifts")
    if role not in SHIFT_ROLES:
        raise Invalid(f"role must be one of {', '.join(SHIFT_ROLES)}")
    contact = get_contact(session, contact_id)
    if not contact.active:
        raise Invalid(f"contact {contact.name} is inactive")
    get_team(session, team_code)
    q = select(Shift.id).where(Shift.contact_id == contact_id, Shift.team_code == team_code,
                               Shift.starts_at < ends_at, Shift.ends_at > starts_at)
    if shift_id is not None:
        q = q.where(Shift.id != shift_id)
    clash = session.scalar(q)
    if clash is not None:
        raise Conflict(f"{contact.name} already has an overlapping shift in team {team_code} (#{clash})")


def create_shift(session: Session, *, contact_id: int, team_code: str, starts_at: datetime, ends_at: datetime,
                 role: str = "member", note: str = "", created_by: str = "") -> Shift:
    _check_shift(session, contact_id=contact_id, team_code=team_code, role=role, starts_at=starts_at, ends_at=ends_at)
    shift = Shift(contact_id=contact_id, team_code=team_code, role=role, starts_at=starts_at, ends_at=ends_at,
                  note=note, created_by=created_by)
    session.add(shift)
    session.flush()
    return shift


def get_shift(session: Session, shift_id: int) -> Shift:
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise NotFound("shift", shift_id)
    return shift


def update_shift(session: Session, shift_id: int, **fields: Any) -> Shift:
    """Change a shift (swap the person, move the times); the same checks as a new one."""
    shift = get_shift(session, shift_id)
    unknown = set(fields) - {"contact_id", "team_code", "role", "starts_at", "ends_at", "note"}
    if unknown:
        raise Invalid(f"unknown shift fields: {', '.join(sorted(unknown))}")
    merged = {k: fields.get(k, getattr(shift, k)) for k in ("contact_id", "team_code", "role", "starts_at", "ends_at")}
    _check_shift(session, shift_id=shift_id, **merged)
    for k, v in fields.items():
        setattr(shift, k, v)
    session.flush()
    return shift


def delete_shift(session: Session, shift_id: int) -> None:
    session.delete(get_shift(session, shift_id))
    session.flush()


def list_shifts(session: Session, *, start: datetime, end: datetime, team: str | None = None,
                contact_id: int | None = None) -> list[Shift]:
    """Shifts overlapping [start, end)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("give times with their UTC offset")
    q = select(Shift).where(Shift.starts_at < end, Shift.ends_at > start)
    if team:
        q = q.where(Shift.team_code == team)
    if contact_id:
        q = q.where(Shift.contact_id == contact_id)
    return list(session.scalars(q.order_by(Shift.starts_at, Shift.team_code, Shift.id)))


def on_duty(session: Session, *, team: str | None = None, at: datetime | None = None,
            role: str | None = None) -> list[tuple[Shift, Contact]]:
    """Who is on duty at `at` (now by default): (shift, contact) of active contacts in active
    teams, leaders first."""
    at = at or utcnow()
    if at.tzinfo is None:
        raise Invalid("give the time with its UTC offset")
    q = (select(Shift, Contact).join(Contact, Contact.id == Shift.contact_id)
         .join(Team, Team.code == Shift.team_code)
         .where(Shift.starts_at <= at, Shift.ends_at > at, Contact.active.is_(True), Team.active.is_(True)))
    if team:
        q = q.where(Shift.team_code == team)
    if role:
        q = q.where(Shift.role == role)
    rows = [(s, c) for s, c in session.execute(q)]
    order = list(SHIFT_ROLES)
    rows.sort(key=lambda sc: (sc[0].team_code, order.index(sc[0].role) if sc[0].role in order else 9, sc[1].name))
    return rows


def team_manager(session: Session, code: str) -> Contact | None:
    """The team's named manager (active), or None: the engine then calls the leader on duty."""
    team = session.get(Team, code)
    if team is None:
        return None
    if team.manager_id is not None:
        manager = session.get(Contact, team.manager_id)
        if manager is not None and manager.active:
            return manager
    return None


def teams_of_unit(session: Session, unit_id: int) -> list[str]:
    return list(session.scalars(select(Team.code).where(Team.unit_id == unit_id, Team.active.is_(True))))


# -- demo --

DEMO_TEAM = "centre"


def _demo_channels(session: Session, sim_url: str) -> list:
    """The notification simulator's three channels, created or pointed at `sim_url`."""
    from cityops.notify import service as notify

    base = sim_url.rstrip("/")
    wanted = [("wecom", "值班群机器人（模拟器）", {"webhook_key": "sim-key", "base_url": f"{base}/cgi-bin/webhook/send"}),
              ("sms", "政务短信平台（模拟器）", {"url": f"{base}/sms/send", "account": "sim-account",
                                          "secret": "sim-secret", "signature": "长宁城运"}),
              ("voice", "语音外呼（模拟器）", {"url": f"{base}/voice/calls"})]
    existing = {c.name: c for c in notify.list_channels(session)}
    out = []
    for kind, name, settings in wanted:
        ch = existing.get(name)
        if ch is None:
            ch = notify.create_channel(session, kind=kind, name=name, settings=settings)
        elif any(ch.settings.get(k) != v for k, v in settings.items()):
            ch = notify.update_channel(session, ch.id, settings=settings)
        out.append(ch)
    return out


def seed_demo(session: Session, *, sim_url: str, now: datetime | None = None, days: int = 3) -> bool:
    """Demo roster and routing, ONLY when called explicitly (`cityops demo`): one duty team
    with three people, day/night shifts for `days` days, the notification simulator's
    channels at `sim_url` (`cityops.sim.notify.NotifySim` defaults) and one policy.
    Idempotent: returns False when the demo team exists already. The mobile numbers are
    made up; they only ever reach the simulator configured here."""
    from cityops.core.timeutil import SHANGHAI, local
    from cityops.notify import service as notify

    if session.get(Team, DEMO_TEAM) is not None:
        _demo_channels(session, sim_url)  # the simulator may listen elsewhere this time
        return False
    now = now or utcnow()
    team = create_team(session, code=DEMO_TEAM, name="城运中心值班组")
    leader = create_contact(session, name="王建国（演示）", phone="13900000001", email="wang.demo@cityops.local",
                            wecom_userid="wangjianguo", team_code=DEMO_TEAM, note="演示数据")
    day = create_contact(session, name="李晓梅（演示）", phone="13900000002", email="li.demo@cityops.local",
                         wecom_userid="lixiaomei", team_code=DEMO_TEAM, note="演示数据")
    night = create_contact(session, name="陈志强（演示）", phone="13900000003", email="chen.demo@cityops.local",
                           wecom_userid="chenzhiqiang", team_code=DEMO_TEAM, note="演示数据")
    team.manager_id = leader.id
    first = local(now).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for d in range(days + 1):
        start = (first + timedelta(days=d)).astimezone(SHANGHAI)
        mid, end = start + timedelta(hours=12), start + timedelta(days=1)
        create_shift(session, contact_id=leader.id, team_code=DEMO_TEAM, role="leader", starts_at=start,
                     ends_at=mid, created_by="system:demo")
        create_shift(session, contact_id=day.id, team_code=DEMO_TEAM, role="member", starts_at=start,
                     ends_at=mid, created_by="system:demo")
        create_shift(session, contact_id=night.id, team_code=DEMO_TEAM, role="member", starts_at=mid,
                     ends_at=end, created_by="system:demo")
    wecom, sms, voice = _demo_channels(session, sim_url)
    notify.create_policy(session, name="设备告警默认通知", position=100, min_severity="warning", repeat=1,
                         quiet_start="22:00", quiet_end="07:00", quiet_max_severity="warning",
                         steps=[{"targets": [{"kind": "team", "team": DEMO_TEAM}], "channels": [wecom.id],
                                 "wait_minutes": 10},
                                {"targets": [{"kind": "team", "team": DEMO_TEAM}], "channels": [sms.id],
                                 "wait_minutes": 15},
                                {"targets": [{"kind": "manager", "team": DEMO_TEAM}], "channels": [sms.id, voice.id],
                                 "wait_minutes": 30}])
    session.flush()
    return True
