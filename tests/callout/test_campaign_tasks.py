"""Campaigns without a list (CALL-1 triggers and broadcasts): tasks added one by one, the rolling
campaign a trigger feeds, scheduled starts, template defaults, and migration 0020."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from cityops.callout import campaigns, dialer
from cityops.callout.campaign_models import CallTask, Campaign
from cityops.callout.telephony import SimCall, SimTelephony
from cityops.core.errors import Conflict, Invalid
from tests.callout.test_dialer import MORNING


def test_empty_campaign_takes_tasks_and_the_gate_refuses_a_bad_number(db):
    sim = SimTelephony(scripted={"+8613900000001": SimCall(["answered"], ["1"])})
    with db.session() as s:
        c = campaigns.create_campaign(s, name="", scenario="hotline_callback", now=MORNING)
        assert c.name == "热线回访" and c.list_id is None and c.retry_policy == dialer.DEFAULT_RETRY
        assert c.script["name"] == "热线回访" and c.trigger == "manual"
        t = campaigns.add_task(s, c.id, number="139 0000 0001", business_ref="event:7", contact_name="张三")
        assert t.number_e164 == "+8613900000001"
        assert campaigns.add_task(s, c.id, number="13900000001", business_ref="event:7") is None  # duplicate
        bad = campaigns.add_task(s, c.id, number="4008123123", business_ref="event:8")
        assert bad.number_e164 == "4008123123"
        campaigns.start(s, c.id, now=MORNING)
        cid = c.id
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"answered": 1, "skipped": 1}
    with db.session() as s:
        states = {t.business_ref: (t.state, t.note) for t in s.scalars(select(CallTask).where(
            CallTask.campaign_id == cid))}
        assert states["event:7"][0] == "done"
        assert states["event:8"][0] == "skipped" and "号码无效" in states["event:8"][1]
        assert s.get(Campaign, cid).state == "done"
        with pytest.raises(Conflict):
            campaigns.add_task(s, cid, number="13900000002")


def test_a_campaign_needs_a_list_or_a_scenario_and_a_valid_script(db):
    with db.session() as s:
        with pytest.raises(Invalid, match="名单或场景"):
            campaigns.create_campaign(s, name="x")
        with pytest.raises(Invalid, match="话术校验失败"):
            campaigns.create_campaign(s, name="x", scenario="duty_check", script={"start": "a", "steps": []})
        with pytest.raises(Invalid, match="触发方式"):
            campaigns.create_campaign(s, name="x", scenario="hotline_callback", trigger="whim")


def test_rolling_campaign_stays_open_and_is_reused(db):
    sim = SimTelephony(scripted={"+8613900000001": SimCall(["answered"], ["1"])})
    with db.session() as s:
        c = campaigns.rolling_campaign(s, scenario="hotline_callback", trigger="event_closed", now=MORNING)
        assert c.state == "running" and c.rolling and c.name == "热线回访（自动触发）"
        campaigns.add_task(s, c.id, number="13900000001", business_ref="event:1")
        cid = c.id
    dialer.run_due(db, telephony=sim, now=MORNING)
    with db.session() as s:
        assert s.get(Campaign, cid).state == "running"  # no open task, but it keeps taking new ones
        again = campaigns.rolling_campaign(s, scenario="hotline_callback", trigger="event_closed", now=MORNING)
        assert again.id == cid
        campaigns.pause(s, cid)
        assert campaigns.rolling_campaign(s, scenario="hotline_callback", trigger="event_closed").id == cid


def test_a_scheduled_draft_starts_itself(db):
    with db.session() as s:
        c = campaigns.create_campaign(s, name="周一提醒", scenario="hotline_callback", trigger="schedule",
                                      scheduled_at=MORNING + timedelta(hours=1), now=MORNING)
        cid = c.id
        assert campaigns.start_scheduled(s, MORNING) == []
        assert campaigns.start_scheduled(s, MORNING + timedelta(hours=1)) == [cid]
        assert s.get(Campaign, cid).state == "running"
        assert campaigns.start_scheduled(s, MORNING + timedelta(hours=2)) == []


def test_an_emergency_campaign_needs_its_message(db):
    """The 应急指挥 template script carries the broadcast's {message}: never played as is."""
    with db.session() as s:
        with pytest.raises(Invalid, match="应急广播"):
            campaigns.create_campaign(s, name="x", scenario="emergency")


def test_a_rolling_campaign_follows_later_template_edits(db):
    from cityops.callout import templates

    with db.session() as s:
        c = campaigns.rolling_campaign(s, scenario="hotline_callback", trigger="event_closed", now=MORNING)
        assert c.max_attempts == 3
        templates.update(s, "hotline_callback", max_attempts=5, retry_policy={"busy": 20}, caller_id="02112345",
                         actor="t")
        again = campaigns.rolling_campaign(s, scenario="hotline_callback", trigger="event_closed", now=MORNING)
        assert again.id == c.id and again.max_attempts == 5 and again.retry_policy == {"busy": 20}
        assert again.caller_id == "02112345"


def test_a_call_that_ends_after_the_campaign_was_stopped_is_not_requeued(db):
    """An operator stops a campaign while a call is on the line: a busy result must not bring the
    task back into a campaign that is over."""
    with db.session() as s:
        c = campaigns.create_campaign(s, name="", scenario="hotline_callback", now=MORNING)
        campaigns.add_task(s, c.id, number="13900000001")
        campaigns.start(s, c.id, now=MORNING)
        cid = c.id
    with db.session() as s:
        claim = dialer.claim_task(s, s.scalar(select(CallTask.id).where(CallTask.campaign_id == cid)), now=MORNING)
    with db.session() as s:
        campaigns.stop(s, cid)
    sim = SimTelephony(scripted={"+8613900000001": SimCall(["busy"])})
    res, transcript, error = dialer.dial(sim, claim)
    with db.session() as s:
        assert dialer.finish_task(s, claim, res, transcript, error=error, now=MORNING) == "busy"
    with db.session() as s:
        t = s.scalar(select(CallTask).where(CallTask.campaign_id == cid))
        assert (t.state, t.last_result, t.note) == ("skipped", "busy", "任务已终止")
