"""Outbound calls started by domain events, and the emergency broadcast (CALL-1).

Each trigger reads its settings from the scenario template (`templates.effective(...).triggers`)
and feeds the rolling campaign of its scenario (`campaigns.rolling_campaign`):

- ``event_closed`` (热线回访): a citizen event whose handling is finished (state 处置完成
  "disposed", the state `events.verify.record_callback_result` takes the 回访 answer in) and that
  has a reporter phone gets a callback `delay_min` after disposal; business ref ``event:<id>``.
  Events from device alarms (verified automatically) and from video analysis are left out.
- ``workorder_overdue`` (工单催告): an open dispatch work order whose event is past its SLA
  dispose deadline calls the responsible unit's contact (or duty) phone, at most once per
  order per Beijing day; business ref ``workorder:<id>:<YYYY-MM-DD>``.
- ``alarm_unacked`` (物联感知): an active (unacknowledged, not suppressed, not folded) monitoring
  alarm of at least `min_severity`, open for `minutes`, calls everyone on duty now (optionally
  one `team`); business ref ``alarm:<id>``; the campaign runs at priority high or above.

The domains have no query for these cases, so they are written here, read-only, against the
domains' models. Every pass is idempotent (NOT EXISTS on the task's business ref, plus
`add_task`'s duplicate check), logs every task it creates, and stores its counts (created,
no_number …) in `callout_trigger_runs` for the scenario page.

`broadcast()` is the emergency broadcast: a campaign of scenario 应急指挥 at priority highest,
its script the template's with the message filled in, started at once. The gate still refuses
invalid numbers and expired lists; the calling window, do-not-call and the daily cap do not apply."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, exists, literal, select
from sqlalchemy.orm import Session

from cityops.audit import service as audit
from cityops.callout import campaigns, numbers, templates
from cityops.callout.campaign_models import CallTask, Campaign
from cityops.callout.script import Script
from cityops.callout.template_models import TriggerRun
from cityops.core.errors import Invalid, NotFound
from cityops.core.timeutil import SHANGHAI, aware

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=3)  # switching a trigger on does not call back every event ever disposed
BATCH = 500
OPEN_ORDER_STATES = ("pending", "submitted", "accepted", "in_progress")
MAX_MESSAGE = 500
# Machine-found events have no reporter to call; device-alarm events are verified automatically.
NO_CALLBACK_SOURCES = ("iot_alarm", "vision")


def _has_task(scenario: str, ref) -> Any:
    return exists().where(CallTask.business_ref == ref, CallTask.campaign_id == Campaign.id,
                          Campaign.scenario == scenario)


def _conf(session: Session, scenario: str, trigger: str) -> dict[str, Any]:
    return templates.effective(session, scenario).triggers.get(trigger, {})


def _add(session: Session, counts: dict[str, int], *, scenario: str, trigger: str, number: str, ref: str,
         name: str, due_at: datetime, now: datetime) -> None:
    if not (number or "").strip():
        counts["no_number"] += 1
        log.info("callout trigger %s: no phone number for %s", trigger, ref)
        return
    if not numbers.parse(number).ok:
        counts["invalid_number"] += 1  # still queued: the gate refuses it with the reason, visibly
    c = campaigns.rolling_campaign(session, scenario=scenario, trigger=trigger, now=now)
    if scenario == "iot_alert" and c.priority == "normal":
        c.priority = "high"
    task = campaigns.add_task(session, c.id, number=number, business_ref=ref, contact_name=name, due_at=due_at)
    if task is None:
        counts["duplicate"] += 1
        return
    counts["created"] += 1
    log.info("callout trigger %s: task %s for %s in campaign %s, due %s", trigger, task.id, ref, c.id,
             due_at.isoformat())


def _counts() -> dict[str, int]:
    return {"created": 0, "no_number": 0, "invalid_number": 0, "duplicate": 0}


def event_callbacks(session: Session, now: datetime) -> dict[str, int] | None:
    """热线回访 for disposed citizen events with a reporter phone; None when switched off."""
    conf = _conf(session, "hotline_callback", "event_closed")
    if not conf.get("enabled"):
        return None
    from cityops.events.models import CityEvent

    counts = _counts()
    delay = timedelta(minutes=conf.get("delay_min", 30))
    ref = literal("event:") + cast(CityEvent.id, String)
    rows = session.scalars(select(CityEvent).where(
        CityEvent.state == "disposed", CityEvent.merged_into_id.is_(None),
        CityEvent.source_kind.not_in(NO_CALLBACK_SOURCES),
        CityEvent.disposed_at >= now - LOOKBACK, ~_has_task("hotline_callback", ref))
        .order_by(CityEvent.disposed_at, CityEvent.id).limit(BATCH)).all()
    for ev in rows:
        _add(session, counts, scenario="hotline_callback", trigger="event_closed", number=ev.reporter_phone,
             ref=f"event:{ev.id}", name=ev.reporter_name, due_at=aware(ev.disposed_at) + delay, now=now)
    return counts


def _day(now: datetime) -> str:
    return aware(now).astimezone(SHANGHAI).date().isoformat()


def overdue_orders(session: Session, now: datetime) -> dict[str, int] | None:
    """工单催告 for open work orders past their event's SLA dispose deadline; None when off."""
    conf = _conf(session, "workorder_reminder", "workorder_overdue")
    if not conf.get("enabled"):
        return None
    from cityops.dispatch.models import WorkOrder
    from cityops.events import sla
    from cityops.events.models import CityEvent, EventCategory
    from cityops.geo.models import ResponsibleUnit

    counts = _counts()
    day = _day(now)
    ref = literal("workorder:") + cast(WorkOrder.id, String) + literal(f":{day}")
    rows = session.execute(
        select(WorkOrder, CityEvent, EventCategory.code).join(CityEvent, CityEvent.id == WorkOrder.event_id)
        .join(EventCategory, EventCategory.id == CityEvent.category_id)
        .where(WorkOrder.state.in_(OPEN_ORDER_STATES), CityEvent.state.in_(("dispatched", "in_progress")),
               CityEvent.dispatched_at.is_not(None), ~_has_task("workorder_reminder", ref))
        .order_by(WorkOrder.id).limit(BATCH)).all()
    for order, ev, category_code in rows:
        try:
            due = sla.deadline(session, category_code=category_code, severity=ev.severity, step="dispose",
                               started_at=ev.dispatched_at).deadline
        except NotFound:
            counts["no_sla"] = counts.get("no_sla", 0) + 1
            continue
        if aware(now) <= due:
            continue
        unit = session.get(ResponsibleUnit, order.unit_id or ev.unit_id) if (order.unit_id or ev.unit_id) else None
        phone = (unit.contact_phone or unit.duty_phone) if unit is not None else ""
        _add(session, counts, scenario="workorder_reminder", trigger="workorder_overdue", number=phone,
             ref=f"workorder:{order.id}:{day}", name=(unit.contact_name or unit.name) if unit else "", due_at=now,
             now=now)
    return counts


def unacked_alarms(session: Session, now: datetime) -> dict[str, int] | None:
    """物联感知: call whoever is on duty about unacknowledged alarms; None when off."""
    conf = _conf(session, "iot_alert", "alarm_unacked")
    if not conf.get("enabled"):
        return None
    from cityops.duty.service import on_duty
    from cityops.monitoring.models import Alarm

    counts = _counts()
    floor = conf.get("min_severity", "critical")
    severities = templates.SEVERITIES[templates.SEVERITIES.index(floor):]
    ref = literal("alarm:") + cast(Alarm.id, String)
    alarms = session.scalars(select(Alarm).where(
        Alarm.state == "active", Alarm.suppressed.is_(False), Alarm.root_alarm_id.is_(None),
        Alarm.severity.in_(severities), Alarm.first_at <= aware(now) - timedelta(minutes=conf.get("minutes", 15)),
        ~_has_task("iot_alert", ref)).order_by(Alarm.first_at, Alarm.id).limit(BATCH)).all()
    if not alarms:
        return counts
    people = on_duty(session, team=conf.get("team") or None, at=aware(now))
    if not people:
        counts["no_one_on_duty"] = len(alarms)
        log.warning("callout trigger alarm_unacked: %d alarms, nobody on duty", len(alarms))
        return counts
    for alarm in alarms:
        seen: set[str] = set()
        for _, contact in people:
            if contact.phone and contact.phone in seen:
                continue
            seen.add(contact.phone)
            _add(session, counts, scenario="iot_alert", trigger="alarm_unacked", number=contact.phone,
                 ref=f"alarm:{alarm.id}", name=contact.name, due_at=now, now=now)
    return counts


def obsolete(session: Session, business_ref: str) -> str | None:
    """Why a queued trigger call is no longer needed, or None: the alarm was acknowledged or
    cleared, the event left 处置完成 (verified, closed or returned by a person) before the call."""
    from cityops.events.models import CityEvent
    from cityops.monitoring.models import Alarm

    kind, _, key = business_ref.partition(":")
    if not key.isdigit():
        return None
    if kind == "alarm":
        alarm = session.get(Alarm, int(key))
        if alarm is None or alarm.state != "active":
            return "告警已确认或已恢复，不再呼叫"
    if kind == "event":
        ev = session.get(CityEvent, int(key))
        if ev is None or ev.state != "disposed":
            return "事件已不在处置完成状态，不再回访"
    return None


TRIGGERS = {"event_closed": event_callbacks, "workorder_overdue": overdue_orders, "alarm_unacked": unacked_alarms}


def record_run(session: Session, trigger: str, counts: dict[str, int], now: datetime) -> None:
    row = session.get(TriggerRun, trigger)
    if row is None:
        session.add(TriggerRun(trigger=trigger, at=aware(now), counts=counts))
    else:
        row.at, row.counts = aware(now), counts
    session.flush()


def last_runs(session: Session) -> dict[str, TriggerRun]:
    return {r.trigger: r for r in session.scalars(select(TriggerRun))}


def run_trigger(session: Session, trigger: str, now: datetime) -> dict[str, int] | None:
    counts = TRIGGERS[trigger](session, aware(now))
    if counts is not None:
        record_run(session, trigger, counts, now)
    return counts


# -- emergency broadcast ---------------------------------------------------------------------
def split_numbers(text: str) -> list[str]:
    """Numbers typed one per line (or separated by commas, semicolons, spaces), in order, once."""
    return list(dict.fromkeys(n for n in re.split(r"[\s,，;；、]+", text or "") if n))


def _team_numbers(session: Session, team_code: str, now: datetime) -> list[tuple[str, str]]:
    """Everyone active in the team, plus whoever is on a shift of it now (names, phones)."""
    from cityops.duty.models import Contact, Team
    from cityops.duty.service import on_duty

    team = session.get(Team, team_code)
    if team is None:
        raise Invalid(f"值班组 {team_code!r} 不存在")
    people = list(session.scalars(select(Contact).where(Contact.team_code == team_code, Contact.active.is_(True))
                                  .order_by(Contact.name)))
    people += [c for _, c in on_duty(session, team=team_code, at=aware(now))]
    out: dict[str, str] = {}
    for c in people:
        if c.phone.strip():
            out.setdefault(c.phone.strip(), c.name)
    return [(name, phone) for phone, name in out.items()]


def audience(session: Session, *, numbers_text: str = "", list_id: int | None = None, team_code: str = "",
             now: datetime) -> dict[str, Any]:
    """Who a broadcast would call, for the confirmation step: (name, number) pairs, how many
    are valid and the invalid ones with the reason."""
    given = [bool(numbers_text.strip()), list_id is not None, bool(team_code)]
    if sum(given) != 1:
        raise Invalid("请选择一种广播对象：号码、名单或值班组（只选一种）")
    if list_id is not None:
        from cityops.callout import lists
        from cityops.callout.list_models import CallListEntry

        cl = lists.get_list(session, list_id)
        if cl.scenario != "emergency":
            raise Invalid(f"名单「{cl.name}」属于场景 {cl.scenario}，应急广播只能使用应急指挥场景的名单")
        if lists.is_expired(cl, now):
            raise Invalid(f"名单「{cl.name}」已过有效期，不能用于广播")
        people = [(e.name, e.number_e164) for e in session.scalars(
            select(CallListEntry).where(CallListEntry.list_id == cl.id, CallListEntry.status == "ok"))]
    elif team_code:
        people = _team_numbers(session, team_code, now)
    else:
        people = [("", n) for n in split_numbers(numbers_text)]
    invalid = []
    for name, n in people:
        p = numbers.parse(n)
        if not p.ok:
            invalid.append({"name": name, "number": n, "reason": p.reason})
    return {"people": people, "total": len(people), "valid": len(people) - len(invalid), "invalid": invalid}


def broadcast_script(session: Session, message: str) -> Script:
    """The emergency template's script with `{message}` filled in (announcement twice + 收到请按1
    by default)."""
    tpl = templates.effective(session, "emergency")
    data = tpl.script.to_dict()
    for step in data["steps"]:
        step["prompt"] = step["prompt"].format(message=message)
        if step.get("reprompt"):
            step["reprompt"] = step["reprompt"].format(message=message)
    return Script.from_dict(data)


def broadcast(session: Session, *, message: str, numbers: list[str] | str | None = None, list_id: int | None = None,
              team_code: str = "", actor: str, now: datetime) -> Campaign:
    """Emergency broadcast (CALL-1): a campaign of scenario 应急指挥, trigger "broadcast", priority
    highest, started at once. The calling window does not apply; invalid numbers are refused by
    the gate before the dial and stay visible as skipped tasks."""
    now = aware(now)
    message = (message or "").strip()
    if not message:
        raise Invalid("请填写广播内容")
    if len(message) > MAX_MESSAGE:
        raise Invalid(f"广播内容最长 {MAX_MESSAGE} 字")
    text = "\n".join(numbers) if isinstance(numbers, list) else (numbers or "")
    who = audience(session, numbers_text=text, list_id=list_id, team_code=team_code, now=now)
    if not who["total"]:
        raise Invalid("没有可广播的号码")
    local = now.astimezone(SHANGHAI)
    c = campaigns.create_campaign(session, name=f"应急广播 {local:%Y-%m-%d %H:%M}", scenario="emergency",
                                  list_id=list_id, script=broadcast_script(session, message), priority="highest",
                                  trigger="broadcast", created_by=actor, now=now, concurrency=20)
    if list_id is None:
        for name, n in who["people"]:
            campaigns.add_task(session, c.id, number=n, contact_name=name, business_ref="broadcast")
    campaigns.start(session, c.id, now=now)
    audit.record(session, "callout.campaign.broadcast", "callout_campaigns", str(c.id),
                 after={"message": message, "list_id": list_id, "team_code": team_code or None,
                        "numbers": who["total"], "invalid": len(who["invalid"]), "actor": actor})
    log.warning("emergency broadcast: campaign %s by %s to %d numbers (%d invalid)", c.id, actor, who["total"],
                len(who["invalid"]))
    return c
