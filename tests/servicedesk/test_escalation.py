"""SLA watch and escalation (OPS-3) on a virtual clock: each step fires once at the right time,
reassign changes the assignee, notify and raise write outbox rows, warnings and breaches land in
the timeline once."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cityops.core.errors import Invalid
from cityops.notify import service as notify
from cityops.notify.models import OutboxMessage
from cityops.servicedesk import escalation, jobs, workflow
from cityops.servicedesk import service as desk
from tests.servicedesk.conftest import T0


def outbox(s, ticket_id):
    return list(s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like(f"ticket:{ticket_id}:%"))
                          .order_by(OutboxMessage.id)))


def kinds(s, ticket_id):
    return [e.kind for e in desk.timeline(s, ticket_id)]


def test_p1_steps_fire_once_each_at_their_time(db, team):
    with db.session() as s:
        ch = notify.create_channel(s, kind="sms", name="短信", settings={
            "url": "http://127.0.0.1:9/sms", "account": "a", "secret": "s", "signature": "长宁城运"})
        desk.update_settings(s, actor="m", channel_ids=[ch.id])
        # Assigned to the member explicitly, so the reassign step has someone to move it from.
        t = desk.open_ticket(s, title="城区之眼全部黑屏", impact=1, urgency=1, assignee=team["member"], now=T0)
        tid = t.id

    # 5 min: nothing due yet (P1 response 15 min; first step at 50 %).
    assert jobs.sla_watch(db, now=T0 + timedelta(minutes=5))["steps"] == 0
    # 8 min: 53 % → notify the assignee and the people on duty (SMS each: 李值班 and 王班长).
    out = jobs.sla_watch(db, now=T0 + timedelta(minutes=8))
    assert out["steps"] == 1
    with db.session() as s:
        rows = outbox(s, tid)
        assert sorted(r.recipient_name for r in rows) == ["李值班", "王班长"]
        assert all(r.state == "pending" and r.channel_kind == "sms" for r in rows)
        assert kinds(s, tid)[-1] == "notified"
    # Again at 9 and 12 min: the notify step does not run twice; 12 min = 80 % → one SLA warning row.
    assert jobs.sla_watch(db, now=T0 + timedelta(minutes=9))["steps"] == 0
    out = jobs.sla_watch(db, now=T0 + timedelta(minutes=12))
    assert out == {"tickets": 1, "warnings": 1, "breaches": 0, "steps": 0}
    # 15 min: response target reached → reassign to the leader on duty.
    out = jobs.sla_watch(db, now=T0 + timedelta(minutes=15))
    assert out["steps"] == 1
    with db.session() as s:
        t = desk.get(s, tid)
        assert t.assignee == team["leader"]
        assert kinds(s, tid)[-1] == "reassigned"
    # 16 min: response breached (one timeline row); nothing more until 80 % of the 4 h resolution.
    out = jobs.sla_watch(db, now=T0 + timedelta(minutes=16))
    assert out["breaches"] == 1 and out["steps"] == 0
    assert jobs.sla_watch(db, now=T0 + timedelta(minutes=17))["breaches"] == 0
    with db.session() as s:
        workflow.start(s, tid, actor=team["leader"], now=T0 + timedelta(minutes=20))
    assert jobs.sla_watch(db, now=T0 + timedelta(hours=3, minutes=11))["steps"] == 0
    assert jobs.sla_watch(db, now=T0 + timedelta(hours=3, minutes=12))["steps"] == 1  # 80 % of 4 h: notify
    # Breach of resolution (after 4 h, 0 min later): raise to level 3, the manager is notified.
    assert jobs.sla_watch(db, now=T0 + timedelta(hours=4))["steps"] == 0
    out = jobs.sla_watch(db, now=T0 + timedelta(hours=4, minutes=1))
    assert out["steps"] == 1
    with db.session() as s:
        t = desk.get(s, tid)
        assert t.escalation_level == 3
        assert any(r.recipient_name == "张经理" for r in outbox(s, tid))
        assert kinds(s, tid).count("escalated") == 1
        n = len(outbox(s, tid))
    jobs.sla_watch(db, now=T0 + timedelta(hours=6))
    with db.session() as s:
        assert len(outbox(s, tid)) == n, "no step runs twice"


def test_pending_ticket_does_not_escalate_while_paused(db, team):
    with db.session() as s:
        t = desk.open_ticket(s, title="等待厂商的工单", impact=1, urgency=2, now=T0)  # P2: 30 min / 8 h
        workflow.start(s, t.id, actor=team["leader"], now=T0 + timedelta(minutes=5))
        workflow.pend(s, t.id, reason="等待厂商", actor=team["leader"], now=T0 + timedelta(minutes=30))
        tid = t.id
    out = jobs.sla_watch(db, now=T0 + timedelta(hours=20))
    assert out["steps"] == 0 and out["warnings"] == 0
    with db.session() as s:
        assert kinds(s, tid).count("notified") == 0


def test_step_json_is_validated(db, team):
    with db.session() as s:
        with pytest.raises(Invalid, match="第 1 步"):
            escalation.update_policy(s, "P3", actor="m", steps=[{"level": 1, "target": "response", "action": "notify"}])
        with pytest.raises(Invalid, match="action"):
            escalation.update_policy(s, "P3", actor="m", steps=[{"level": 1, "target": "response", "pct": 50,
                                                                 "action": "shout"}])
        with pytest.raises(Invalid, match="账号"):
            escalation.update_policy(s, "P3", actor="m", steps=[{"level": 1, "target": "response", "pct": 50,
                                                                 "action": "reassign", "to": "nobody"}])
        p = escalation.update_policy(s, "P3", actor="m", steps=[
            {"level": 1, "target": "response", "pct": 50, "action": "reassign", "to": team["member"]}])
        assert p.steps[0]["to"] == team["member"]


def test_reassign_to_a_named_user(db, team):
    with db.session() as s:
        escalation.update_policy(s, "P4", actor="m", steps=[
            {"level": 1, "target": "response", "pct": 100, "action": "reassign", "to": team["member"]}])
        t = desk.open_ticket(s, title="咨询", nature="consultation", impact=3, urgency=3, now=T0)
        assert t.assignee == team["leader"]
        tid = t.id
    # P4 response: 4 working hours from Wed 14:00 → Thu 10-01 is a holiday … → 30 min on Thu 10-08 → 09:30 Beijing.
    with db.session() as s:
        escalation.watch(s, now=T0 + timedelta(days=7))
        assert desk.get(s, tid).assignee == team["leader"]
        escalation.watch(s, now=T0 + timedelta(days=8))
        assert desk.get(s, tid).assignee == team["member"]
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
