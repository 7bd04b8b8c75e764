"""Service-desk tickets (OPS-3): one intake for the hotline, the backup channel (WeCom/e-mail),
monitoring alarms and inspection findings; numbering, classification, default assignment to
the person on duty, the timeline, the desk settings.

State changes live in `workflow.py`, lists and the duty home page's figures in `queries.py`,
SLA clocks in `sla.py`, escalation in `escalation.py`. Every function that depends on time
takes `now`."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.auth.models import User
from cityops.catalog.models import Asset, Module, System
from cityops.core.numbering import insert_numbered
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import local, utcnow
from cityops.servicedesk import sla
from cityops.servicedesk.models import (
    NATURES,
    OPEN_STATES,
    SOURCES,
    DeskSettings,
    Ticket,
    TicketEvent,
)

ASSIGNABLE_ROLES = ("admin", "manager", "duty", "technician")
TITLE_MAX = 200


def open_ticket(session: Session, *, title: str, description: str = "", source: str = "hotline",
                nature: str = "incident", impact: int = 2, urgency: int = 2, system_code: str | None = None,
                module_id: int | None = None, asset_id: int | None = None, alarm_id: int | None = None,
                event_id: int | None = None, finding_id: int | None = None, reporter: str = "",
                assignee: str | None = None, actor: str = "system", now: datetime | None = None,
                **extra: Any) -> Ticket:
    """Open a ticket and return it. impact/urgency: 1 high, 2 medium, 3 low. source: hotline |
    backup (WeCom/e-mail) | monitoring | inspection | manual.

    extra: reporter_phone, reporter_contact, source_ref, team_code, emergency (bool) and
    emergency_reason — a change (nature "change") during a visit's change freeze is refused
    unless it is an emergency with a reason. Without `assignee`, the person on duty in the
    service desk's team takes it (leader first); nobody on duty leaves it new."""
    now = now or utcnow()
    unknown = set(extra) - {"reporter_phone", "reporter_contact", "source_ref", "team_code", "emergency",
                            "emergency_reason"}
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    title = (title or "").strip()
    if not title:
        raise Invalid("请填写工单标题")
    if len(title) > TITLE_MAX:
        raise Invalid(f"工单标题不能超过 {TITLE_MAX} 字")
    if source not in SOURCES:
        raise Invalid(f"未知的来源 {source!r}（可选：{'、'.join(SOURCES)}）")
    check_nature(nature)
    priority = sla.priority_of(impact, urgency)
    check_category(session, system_code, module_id, asset_id)
    emergency = bool(extra.get("emergency"))
    reason = (extra.get("emergency_reason") or "").strip()
    freeze = change_freeze(session, nature, emergency, reason, now)
    if assignee:
        check_assignee(session, assignee)
    team = extra.get("team_code") or None
    if team:
        _check_team(session, team)
    phone = (extra.get("reporter_phone") or "").strip()
    if len(phone) > 32:
        raise Invalid("来电号码过长")
    fields = dict(title=title, description=description or "", source=source, source_ref=extra.get("source_ref") or "",
                  nature=nature, impact=impact, urgency=urgency, priority=priority, system_code=system_code or None,
                  module_id=module_id, asset_id=asset_id, alarm_id=alarm_id, event_id=event_id,
                  finding_id=finding_id, reporter=(reporter or "").strip()[:64], reporter_phone=phone,
                  reporter_contact=(extra.get("reporter_contact") or "").strip()[:128], created_by=actor,
                  created_at=now, updated_at=now, state="new", emergency_change=emergency and freeze is not None)
    t = insert_numbered(session, Ticket, fields, prefix="GD", at=now, width=4, conflict="工单编号分配冲突，请重试")
    note(session, t, "created", actor, now, to_state="new",
         text=f"{SOURCES[source]}登记，{NATURES[nature]}，{sla.PRIORITY_LABELS[priority]}",
         source=source, priority=priority)
    if freeze is not None:
        note(session, t, "emergency_change", actor, now,
             text=f"参观接待「{freeze.title}」变更冻结期内的紧急变更：{reason}", visit_id=freeze.id)
    if assignee:
        _set_assignee(session, t, assignee, team, actor, now, "指定处理人")
    else:
        who, team_code = default_assignee(session, now)
        if who:
            _set_assignee(session, t, who, team or team_code, actor, now, "按值班表自动分派")
        else:
            t.team_code = team or team_code
            note(session, t, "unassigned", actor, now, text="当前无人值班，工单待分派")
    session.flush()
    return t


def check_nature(nature: str) -> None:
    if nature not in NATURES:
        raise Invalid(f"未知的工单性质 {nature!r}（可选：{'、'.join(NATURES)}）")


def change_freeze(session: Session, nature: str, emergency: bool, reason: str, now: datetime):
    """The visit whose freeze refuses this change, or None; raises unless it is an emergency."""
    if nature != "change":
        return None
    from cityops.visits.service import active_freeze

    visit = active_freeze(session, now)
    if visit is None:
        return None
    if not emergency:
        raise Conflict(f"参观接待「{visit.title}」变更冻结期内（至 {local(visit.freeze_until):%m-%d %H:%M}）"
                       "不受理变更工单；确需变更请按紧急变更提交并说明原因")
    if not reason:
        raise Invalid("紧急变更须填写原因")
    return visit


def check_category(session: Session, system_code: str | None, module_id: int | None, asset_id: int | None) -> None:
    """The category names a catalog system, one of its modules and/or a hardware asset."""
    system = None
    if system_code:
        system = session.scalar(select(System).where(System.code == system_code))
        if system is None:
            raise Invalid(f"系统目录中没有系统 {system_code}")
    if module_id is not None:
        module = session.get(Module, module_id)
        if module is None:
            raise Invalid(f"系统目录中没有模块 {module_id}")
        if system is not None and module.system_id != system.id:
            raise Invalid(f"模块「{module.name}」不属于系统 {system_code}")
    if asset_id is not None and session.get(Asset, asset_id) is None:
        raise Invalid(f"硬件资产 {asset_id} 不存在")


def check_assignee(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise Invalid(f"没有可用的登录账号 {username!r}")
    if user.role not in ASSIGNABLE_ROLES:
        raise Invalid(f"账号 {username} 的角色不能处理工单")
    return user


def _check_team(session: Session, code: str) -> None:
    from cityops.duty.models import Team

    if session.get(Team, code) is None:
        raise Invalid(f"值班组 {code} 不存在")


def note(session: Session, t: Ticket, kind: str, actor: str, at: datetime, *, text: str = "", from_state: str = "",
         to_state: str = "", **data: Any) -> TicketEvent:
    ev = TicketEvent(ticket_id=t.id, at=at, actor=actor, kind=kind, text=text, from_state=from_state,
                     to_state=to_state, data=data)
    session.add(ev)
    return ev


def _set_assignee(session: Session, t: Ticket, username: str, team: str | None, actor: str, at: datetime,
                  why: str) -> None:
    before = t.assignee
    t.assignee, t.team_code = username, team or t.team_code
    if t.state == "new":
        t.state = "assigned"
    note(session, t, "assigned", actor, at, from_state="new" if before is None else "", to_state=t.state,
         text=f"{why}：{username}" + (f"（原 {before}）" if before and before != username else ""),
         assignee=username, previous=before)


# -- default assignment -------------------------------------------------------------------------
def settings(session: Session) -> DeskSettings:
    return session.get(DeskSettings, 1) or DeskSettings(id=1, team_code=None, channel_ids=[])


def update_settings(session: Session, *, actor: str, team_code: str | None = None,
                    channel_ids: list[int] | None = None) -> DeskSettings:
    from cityops.notify.models import ChannelConfig

    row = session.get(DeskSettings, 1)
    if row is None:
        row = DeskSettings(id=1, channel_ids=[])
        session.add(row)
    if team_code is not None:
        if team_code:
            _check_team(session, team_code)
        row.team_code = team_code or None
    if channel_ids is not None:
        for cid in channel_ids:
            if session.get(ChannelConfig, cid) is None:
                raise Invalid(f"通知渠道 {cid} 不存在")
        row.channel_ids = list(channel_ids)
    row.updated_by = actor
    session.flush()
    return row


def desk_team(session: Session) -> str | None:
    """The configured service-desk team, else the first active team that is not a responsible
    unit's desk (the operations centre's own duty team)."""
    from cityops.duty.models import Team

    code = settings(session).team_code
    if code:
        return code
    return session.scalar(select(Team.code).where(Team.active.is_(True), Team.unit_id.is_(None))
                          .order_by(Team.code).limit(1))


def default_assignee(session: Session, now: datetime) -> tuple[str | None, str | None]:
    """(username, team) of the person on duty now in the desk's team: leader first, else a
    member, else technical support; only people with a login account can take tickets."""
    from cityops.duty.service import on_duty

    team = desk_team(session)
    if team is None:
        return None, None
    people = on_duty(session, team=team, at=now)
    for role in ("leader", "member", "support"):
        for shift, contact in people:
            if shift.role == role and contact.username:
                user = session.scalar(select(User).where(User.username == contact.username))
                if user is not None and user.active and user.role in ASSIGNABLE_ROLES:
                    return contact.username, team
    return None, team


# -- intake -------------------------------------------------------------------------------------
def _existing(session: Session, source: str, ref: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.source == source, Ticket.source_ref == ref).limit(1))


def intake_email(session: Session, *, sender: str, subject: str, body: str, received_at: datetime | None,
                 actor: str, now: datetime | None = None) -> tuple[Ticket, bool]:
    """A parsed e-mail from the backup mailbox → (ticket, created). The same message twice (same
    sender, subject and receive time) gives the first ticket back."""
    now = now or utcnow()
    if not (sender or "").strip():
        raise Invalid("缺少发件人")
    if received_at is not None and received_at.tzinfo is None:
        raise Invalid("received_at 须带时区偏移")
    at = min(received_at or now, now).astimezone(UTC)
    ref = "email:" + hashlib.sha256(f"{sender}\n{subject}\n{at.isoformat()}".encode()).hexdigest()[:40]
    found = _existing(session, "backup", ref)
    if found is not None:
        return found, False
    title = (subject or "").strip() or _first_line(body) or "（无主题邮件）"
    t = open_ticket(session, title=title[:TITLE_MAX], description=body or "", source="backup", reporter=sender.strip(),
                    reporter_contact=sender.strip(), source_ref=ref, actor=actor, now=at)
    note(session, t, "intake", actor, now, text=f"备用渠道（邮件）来件：{sender.strip()}", channel="email")
    return t, True


def intake_wecom(session: Session, *, from_user: str, content: str, create_time: int, actor: str,
                 now: datetime | None = None) -> tuple[Ticket, bool]:
    """A WeCom text message {FromUserName, Content, CreateTime (Unix seconds)} → (ticket, created);
    WeCom's redelivery of the same message gives the first ticket back."""
    now = now or utcnow()
    if not (from_user or "").strip():
        raise Invalid("缺少 FromUserName")
    if not (content or "").strip():
        raise Invalid("消息内容为空")
    try:
        at = min(datetime.fromtimestamp(int(create_time), UTC), now)
    except (ValueError, OverflowError, OSError) as exc:
        raise Invalid("CreateTime 须为 Unix 时间戳（秒）") from exc
    ref = f"wecom:{from_user.strip()[:64]}:{int(create_time)}"
    found = _existing(session, "backup", ref)
    if found is not None:
        return found, False
    t = open_ticket(session, title=_first_line(content)[:60], description=content, source="backup",
                    reporter=from_user.strip(), reporter_contact=from_user.strip(), source_ref=ref, actor=actor, now=at)
    note(session, t, "intake", actor, now, text=f"备用渠道（企业微信）来信：{from_user.strip()}", channel="wecom")
    return t, True


def _first_line(text: str) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


_ALARM_LEVEL = {"critical": (1, 1), "major": (2, 1), "warning": (2, 2), "info": (3, 3)}


def ticket_from_alarm(session: Session, alarm_id: int, actor: str, now: datetime | None = None) -> Ticket:
    """An alarm → its ticket. One open ticket per alarm: asking again returns the open one."""
    return alarm_ticket(session, alarm_id, actor, now)[0]


def alarm_ticket(session: Session, alarm_id: int, actor: str, now: datetime | None = None) -> tuple[Ticket, bool]:
    """`ticket_from_alarm` that also says whether the ticket is new."""
    from cityops.monitoring.models import Alarm

    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(f"告警 {alarm_id} 不存在")
    found = session.scalar(select(Ticket).where(Ticket.alarm_id == alarm_id, Ticket.state.in_(OPEN_STATES)).limit(1))
    if found is not None:
        return found, False
    impact, urgency = _ALARM_LEVEL.get(alarm.severity, (2, 2))
    t = open_ticket(session, title=f"[监控告警] {alarm.alarm_type} 设备 #{alarm.device_id}"[:TITLE_MAX],
                    description=alarm.message or "", source="monitoring", nature="incident", impact=impact,
                    urgency=urgency, alarm_id=alarm.id, actor=actor, now=now)
    return t, True


def get(session: Session, ticket_id: int) -> Ticket:
    t = session.get(Ticket, ticket_id)
    if t is None:
        raise NotFound(f"工单 {ticket_id} 不存在")
    return t


def timeline(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                .order_by(TicketEvent.at, TicketEvent.id)))


# The duty home page's figures (kept in queries.py, offered here as the desk's interface).
from cityops.servicedesk.queries import counts, sla_board  # noqa: E402,F401
