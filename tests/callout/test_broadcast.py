"""The emergency broadcast (CALL-1, CALL-4): scenario 应急指挥, priority highest, the message
played twice then 收到请按1; at 23:30 Beijing it is dialled at once (no calling window, no
do-not-call) while an invalid number is still refused by the gate; from a list or a duty team."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.audit.models import AuditEntry
from cityops.callout import dialer, lists, templates, triggers
from cityops.callout.campaign_models import CallRecord, CallStep, CallTask, Campaign
from cityops.callout.telephony import SimCall, SimTelephony
from cityops.core.errors import Invalid
from cityops.core.timeutil import SHANGHAI
from cityops.duty import service as duty

NIGHT = datetime(2026, 11, 25, 23, 30, tzinfo=SHANGHAI)
A, B = "13900000001", "13900000002"
MESSAGE = "台风“贝碧嘉”今夜登陆，请立即转移至安置点。"


def tasks(db, cid):
    with db.session() as s:
        return {t.number_e164: (t.state, t.last_result, t.note) for t in
                s.scalars(select(CallTask).where(CallTask.campaign_id == cid))}


def test_broadcast_at_night_bypasses_the_window_but_not_an_invalid_number(db):
    with db.session() as s:
        lists.add_dnc(s, B, None, reason="投诉", created_by="t")  # do-not-call does not stop a warning
        c = triggers.broadcast(s, message=MESSAGE, numbers=[A, B, "110", A], actor="duty1", now=NIGHT)
        assert (c.scenario, c.trigger, c.priority, c.state) == ("emergency", "broadcast", "highest", "running")
        cid = c.id
        prompts = [st["prompt"] for st in c.script["steps"]]
        assert prompts[0].endswith(MESSAGE) and prompts[1].endswith(MESSAGE) and "收到请按1" in prompts[2]
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "callout.campaign.broadcast")).all()
        assert [(e.entity, e.entity_id) for e in entries] == [("callout_campaigns", str(cid))]
    sim = SimTelephony(scripted={"+86" + A: SimCall(["answered"], ["1"]), "+86" + B: SimCall(["answered"], [None])})
    assert dialer.run_due(db, telephony=sim, now=NIGHT) == {"answered": 2, "skipped": 1}
    t = tasks(db, cid)
    assert t["+86" + A][:2] == ("done", "answered") and t["+86" + B][:2] == ("done", "answered")
    assert t["110"][0] == "skipped" and t["110"][1] == "gate:invalid_number" and "号码无效" in t["110"][2]
    with db.session() as s:
        rec = s.scalar(select(CallRecord).where(CallRecord.number_e164 == "+86" + A))
        steps = s.scalars(select(CallStep).where(CallStep.record_id == rec.id).order_by(CallStep.seq)).all()
        assert [(x.step, x.matched) for x in steps] == [("announce", None), ("again", None), ("ack", "收到"),
                                                        ("thanks", None)]
        assert MESSAGE in steps[0].prompt and MESSAGE in steps[1].prompt


def test_an_ordinary_campaign_waits_for_the_window_at_the_same_hour(db):
    """The contrast: a 信息提醒 task at 23:30 is re-queued, not dialled."""
    from cityops.callout import campaigns

    with db.session() as s:
        c = campaigns.create_campaign(s, name="提醒", scenario="notice", created_by="t", now=NIGHT)
        campaigns.add_task(s, c.id, number=A)
        campaigns.start(s, c.id, now=NIGHT)
    assert dialer.run_due(db, telephony=SimTelephony(), now=NIGHT) == {"requeued": 1}


def test_broadcast_uses_the_edited_emergency_script(db):
    with db.session() as s:
        script = templates.default("emergency").script.to_dict()
        script["steps"][0]["prompt"] = "紧急通知（长宁区防汛办）：{message}"
        templates.update(s, "emergency", script=script, actor="mgr1")
        c = triggers.broadcast(s, message="暴雨红色预警", numbers=A, actor="mgr1", now=NIGHT)
        assert c.script["steps"][0]["prompt"] == "紧急通知（长宁区防汛办）：暴雨红色预警"


def test_broadcast_to_a_list_and_to_a_duty_team(db):
    with db.session() as s:
        csv = f"姓名,电话\n张三,{A}\n李四,{B}\n".encode()
        res = lists.import_list(s, csv, "l.csv", name="防汛责任人", scenario="emergency", created_by="t")
        c = triggers.broadcast(s, message=MESSAGE, list_id=res.list_id, actor="duty1", now=NIGHT)
        assert {t.number_e164 for t in s.scalars(select(CallTask).where(CallTask.campaign_id == c.id))} == {
            "+86" + A, "+86" + B}
        assert all(t.entry_id for t in s.scalars(select(CallTask).where(CallTask.campaign_id == c.id)))
        duty.create_team(s, code="flood", name="防汛组")
        duty.create_contact(s, name="王五", phone="13900000005", team_code="flood")
        other = duty.create_contact(s, name="赵六", phone="13900000006")
        duty.create_shift(s, contact_id=other.id, team_code="flood", starts_at=NIGHT - timedelta(hours=1),
                          ends_at=NIGHT + timedelta(hours=8))
        c2 = triggers.broadcast(s, message=MESSAGE, team_code="flood", actor="duty1", now=NIGHT)
        assert {(t.number_e164, t.contact_name) for t in s.scalars(select(CallTask).where(
            CallTask.campaign_id == c2.id))} == {("+8613900000005", "王五"), ("+8613900000006", "赵六")}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"message": "", "numbers": [A]}, "广播内容"),
    ({"message": "x" * 501, "numbers": [A]}, "最长"),
    ({"message": MESSAGE}, "只选一种"),
    ({"message": MESSAGE, "numbers": [A], "team_code": "flood"}, "只选一种"),
    ({"message": MESSAGE, "team_code": "nope"}, "不存在"),
])
def test_broadcast_refuses_bad_input(db, kwargs, message):
    with db.session() as s, pytest.raises(Invalid, match=message):
        triggers.broadcast(s, **kwargs, actor="duty1", now=NIGHT)
    with db.session() as s:
        assert s.scalars(select(Campaign)).all() == []


def test_broadcast_refuses_other_and_expired_lists(db):
    with db.session() as s:
        csv = f"姓名,电话\n张三,{A}\n".encode()
        other = lists.import_list(s, csv, "l.csv", name="回访", scenario="hotline_callback", created_by="t")
        with pytest.raises(Invalid, match="应急指挥场景的名单"):
            triggers.broadcast(s, message=MESSAGE, list_id=other.list_id, actor="duty1", now=NIGHT)
        old = lists.import_list(s, csv, "l.csv", name="旧名单", scenario="emergency", created_by="t",
                                valid_until=NIGHT - timedelta(days=1))
        with pytest.raises(Invalid, match="已过有效期"):
            triggers.broadcast(s, message=MESSAGE, list_id=old.list_id, actor="duty1", now=NIGHT)


def test_audience_counts_for_the_confirmation(db):
    with db.session() as s:
        who = triggers.audience(s, numbers_text=f"{A}\n{B}, 400-123-4567；{A}", now=NIGHT)
        assert (who["total"], who["valid"]) == (3, 2)
        assert who["invalid"][0]["number"] == "400-123-4567" and who["invalid"][0]["reason"]
