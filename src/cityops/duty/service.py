"""Duty roster logic (IOT-5 / OPS-3): contacts, teams, shifts, and who is on duty now.

Plain functions taking a session, keyword-only. Times are stored UTC; callers give aware
datetimes (the console reads its forms as Beijing time)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
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
        raise NotFound(f"值班组 {code!r} 不存在")
    return team


def _check_team_refs(session: Session, unit_id: int | None, manager_id: int | None) -> None:
    if unit_id is not None and session.get(ResponsibleUnit, unit_id) is None:
        raise Invalid(f"未知的责任单位 {unit_id}")
    if manager_id is not None and session.get(Contact, manager_id) is None:
        raise Invalid(f"值班组负责人：未知的联系人 {manager_id}")


def create_team(session: Session, *, code: str, name: str, unit_id: int | None = None,
                manager_id: int | None = None, active: bool = True) -> Team:
    code = code.strip()
    if not code or not name.strip():
        raise Invalid("值班组须有代码和名称")
    if session.get(Team, code) is not None:
        raise Conflict(f"值班组 {code!r} 已存在")
    _check_team_refs(session, unit_id, manager_id)
    team = Team(code=code, name=name.strip(), unit_id=unit_id, manager_id=manager_id, active=active)
    session.add(team)
    session.flush()
    return team


def update_team(session: Session, code: str, **fields: Any) -> Team:
    team = get_team(session, code)
    unknown = set(fields) - {"name", "unit_id", "manager_id", "active"}
    if unknown:
        raise Invalid(f"未知的值班组字段：{'、'.join(sorted(unknown))}")
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
        raise Invalid("联系人须有姓名")
    if out.get("phone"):
        mobile = normalize_mobile(out["phone"])
        if mobile is None:
            raise Invalid("phone 须为中国大陆 11 位手机号码（如 13800001111）")
        out["phone"] = mobile
    if out.get("email") and "@" not in out["email"]:
        raise Invalid(f"不是有效的电子邮件地址：{out['email']!r}")
    if "username" in out:
        out["username"] = out["username"] or None
        if out["username"] and session.scalar(select(User.id).where(User.username == out["username"])) is None:
            raise Invalid(f"用户账号 {out['username']!r} 不存在")
    if "team_code" in out:
        out["team_code"] = out["team_code"] or None
        if out["team_code"]:
            get_team(session, out["team_code"])
    if out.get("unit_id") is not None and session.get(ResponsibleUnit, out["unit_id"]) is None:
        raise Invalid(f"未知的责任单位 {out['unit_id']}")
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
        raise NotFound(f"联系人 {contact_id} 不存在")
    return c


def create_contact(session: Session, *, name: str, **fields: Any) -> Contact:
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise Invalid(f"未知的联系人字段：{'、'.join(sorted(unknown))}")
    data = _clean_contact(session, {"name": name, **fields})
    if not (data.get("phone") or data.get("email") or data.get("wecom_userid")):
        raise Invalid("联系人至少需要一种联系方式：手机号、电子邮件或企业微信 userid")
    contact = Contact(**{k: v for k, v in data.items() if v is not None or k in ("username", "team_code")})
    session.add(contact)
    session.flush()
    return contact


def update_contact(session: Session, contact_id: int, **fields: Any) -> Contact:
    contact = get_contact(session, contact_id)
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise Invalid(f"未知的联系人字段：{'、'.join(sorted(unknown))}")
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
        raise Invalid("班次时间须带时区（UTC 偏移）")
    if ends_at <= starts_at:
        raise Invalid("班次结束时间须晚于开始时间")
    if ends_at - starts_at > MAX_SHIFT:
        raise Invalid("一个班次最长 7 天；更长的时段请分成多个班次")
    if role not in SHIFT_ROLES:
        raise Invalid(f"role 应为以下之一：{'、'.join(SHIFT_ROLES)}")
    contact = get_contact(session, contact_id)
    if not contact.active:
        raise Invalid(f"联系人 {contact.name} 已停用")
    get_team(session, team_code)
    q = select(Shift.id).where(Shift.contact_id == contact_id, Shift.team_code == team_code,
                               Shift.starts_at < ends_at, Shift.ends_at > starts_at)
    if shift_id is not None:
        q = q.where(Shift.id != shift_id)
    clash = session.scalar(q)
    if clash is not None:
        raise Conflict(f"{contact.name} 在值班组 {team_code} 已有时间重叠的班次（#{clash}）")


def create_shift(session: Session, *, contact_id: int, team_code: str, starts_at: datetime, ends_at: datetime,
                 role: str = "member", note: str = "", created_by: str = "", post: str = "") -> Shift:
    _check_shift(session, contact_id=contact_id, team_code=team_code, role=role, starts_at=starts_at, ends_at=ends_at)
    shift = Shift(contact_id=contact_id, team_code=team_code, role=role, starts_at=starts_at, ends_at=ends_at,
                  note=note, created_by=created_by, post=(post or "").strip()[:32])
    session.add(shift)
    session.flush()
    return shift


def get_shift(session: Session, shift_id: int) -> Shift:
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise NotFound(f"班次 {shift_id} 不存在")
    return shift


def update_shift(session: Session, shift_id: int, **fields: Any) -> Shift:
    """Change a shift (swap the person, move the times); the same checks as a new one."""
    shift = get_shift(session, shift_id)
    unknown = set(fields) - {"contact_id", "team_code", "role", "starts_at", "ends_at", "note", "post"}
    if unknown:
        raise Invalid(f"未知的班次字段：{'、'.join(sorted(unknown))}")
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
        raise Invalid("时间须带时区（UTC 偏移）")
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
        raise Invalid("时间须带时区（UTC 偏移）")
    q = (select(Shift, Contact).join(Contact, Contact.id == Shift.contact_id)
         .join(Team, Team.code == Shift.team_code)
         .where(Shift.starts_at <= at, Shift.ends_at > at, Contact.active.is_(True), Team.active.is_(True)))
    if team:
        q = q.where(Shift.team_code == team)
    if role:
        q = q.where(Shift.role == role)
    rows = _apply_overrides(session, [(s, c) for s, c in session.execute(q)], at)
    order = list(SHIFT_ROLES)
    rows.sort(key=lambda sc: (sc[0].team_code, order.index(sc[0].role) if sc[0].role in order else 9, sc[1].name))
    return rows


def _apply_overrides(session: Session, rows: list[tuple[Shift, Contact]], at: datetime) -> list[tuple[Shift, Contact]]:
    """SVC-1: a stand-in replaces the person of an override for its range (sick leave)."""
    from cityops.duty.roster import active_overrides

    subs = {}
    for o in active_overrides(session, at):
        sub = session.get(Contact, o.replacement_id)
        if sub is not None and sub.active:
            subs[(o.contact_id, o.team_code)] = sub
    if not subs:
        return rows
    out, seen = [], set()
    for s, c in rows:
        c = subs.get((c.id, s.team_code)) or subs.get((c.id, None)) or c
        if (s.team_code, c.id) not in seen:
            seen.add((s.team_code, c.id))
            out.append((s, c))
    return out


def on_duty_now(session: Session, *, now: datetime) -> list[dict[str, Any]]:
    """For the duty home page: who is on duty at `now`, ready to show (the phone is always
    masked): team, role, post, name, phone, until (aware UTC), stand_in_for."""
    from cityops.audit.service import mask_phone
    from cityops.duty.roster import active_overrides

    ends = {(o.replacement_id, o.team_code): o.ends_at for o in active_overrides(session, now)}
    originals = {s.id: s.contact_id for s, _ in session.execute(
        select(Shift, Contact).join(Contact, Contact.id == Shift.contact_id)
        .where(Shift.starts_at <= now, Shift.ends_at > now))}
    teams = {t.code: t.name for t in list_teams(session)}
    out = []
    for s, c in on_duty(session, at=now):
        until = s.ends_at
        for key in ((c.id, s.team_code), (c.id, None)):
            if key in ends:
                until = min(until, ends[key])
        replaced = originals.get(s.id)
        stand_in = session.get(Contact, replaced).name if replaced and replaced != c.id else ""
        out.append({"team": s.team_code, "team_name": teams.get(s.team_code, s.team_code), "role": s.role,
                    "role_label": SHIFT_ROLES.get(s.role, s.role), "post": s.post, "name": c.name,
                    "phone": mask_phone(c.phone), "until": until, "stand_in_for": stand_in})
    return out


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


DEMO_SUPPORT_TEAM = "support"
# SVC-1: 1 project manager, 4 duty officers (day/night/off/off), 4 technical support (weekly
# on call). Fictional names; 1380000xxxx numbers only ever reach the simulator.
DEMO_PEOPLE = [("王建国（演示）", "13800000001", "wangjianguo", None),
               ("李晓梅（演示）", "13800000002", "lixiaomei", DEMO_TEAM),
               ("陈志强（演示）", "13800000003", "chenzhiqiang", DEMO_TEAM),
               ("赵敏（演示）", "13800000004", "zhaomin", DEMO_TEAM),
               ("孙浩（演示）", "13800000005", "sunhao", DEMO_TEAM),
               ("周磊（演示）", "13800000006", "zhoulei", DEMO_SUPPORT_TEAM),
               ("吴婷（演示）", "13800000007", "wuting", DEMO_SUPPORT_TEAM),
               ("郑凯（演示）", "13800000008", "zhengkai", DEMO_SUPPORT_TEAM),
               ("冯雪（演示）", "13800000009", "fengxue", DEMO_SUPPORT_TEAM)]
DEMO_ROTATION_START = date(2026, 5, 1)  # the service period's first day anchors both rotations


def seed_demo(session: Session, *, sim_url: str, now: datetime | None = None, days: int = 30) -> bool:
    """Demo roster and routing, ONLY when called explicitly (`cityops demo`): the team of nine
    (SVC-1) in two teams, their rotations generated from yesterday for `days` days, the
    notification simulator's channels at `sim_url` (`cityops.sim.notify.NotifySim` defaults)
    and one policy. Idempotent: returns False when the demo team exists already."""
    from cityops.core.timeutil import SHANGHAI, local
    from cityops.duty import rotation
    from cityops.notify import service as notify

    if session.get(Team, DEMO_TEAM) is not None:
        _demo_channels(session, sim_url)  # the simulator may listen elsewhere this time
        return False
    now = now or utcnow()
    team = create_team(session, code=DEMO_TEAM, name="城运中心值班组")
    support = create_team(session, code=DEMO_SUPPORT_TEAM, name="技术支撑组")
    people = [create_contact(session, name=name, phone=phone, email=f"{uid}.demo@cityops.local", wecom_userid=uid,
                             team_code=code, note="演示数据" + ("·项目经理" if code is None else ""))
              for name, phone, uid, code in DEMO_PEOPLE]
    team.manager_id = support.manager_id = people[0].id
    first = local(now).date() - timedelta(days=1)
    officers = rotation.create_rotation(
        session, name="值班员四班轮换", team_code=DEMO_TEAM, role="member", kind="cycle",
        members=[p.id for p in people[1:5]], slots=rotation.DAY_NIGHT, cycle=rotation.DAY_NIGHT_CYCLE,
        start_date=DEMO_ROTATION_START, handover="08:30", created_by="system:demo")
    oncall = rotation.create_rotation(
        session, name="技术支撑周值守", team_code=DEMO_SUPPORT_TEAM, role="support", kind="weekly",
        members=[p.id for p in people[5:]], start_date=DEMO_ROTATION_START, handover="08:30",
        created_by="system:demo")
    since = first - timedelta(days=7)  # a week of history too: `now` = the range start writes every slot
    for r in (officers, oncall):
        rotation.generate(session, r.id, since, first + timedelta(days=days),
                          now=datetime.combine(since, time(0), tzinfo=SHANGHAI), actor="system:demo")
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
