"""The campaign engine on a virtual clock (CALL-1, CALL-2, CALL-4): retries by result, the
calling-window re-queue, do-not-call skip with the reason, opt-out by key press honoured for the
next task, 回访 answers reaching the hotline event, the daily cap, concurrency, call records and
dialogue steps, and the migration matching the models."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.callout import campaigns, compliance, dialer, lists
from cityops.callout.campaign_models import CallRecord, CallStep, CallTask, Campaign
from cityops.callout.list_models import CallListEntry
from cityops.callout.telephony import SimCall, SimTelephony
from cityops.core.errors import Conflict, Invalid
from cityops.core.timeutil import SHANGHAI
from cityops.events import lifecycle, service
from tests.events.helpers import street_point

MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 11, 25, 23, 30, tzinfo=SHANGHAI)
A, B, C, D = "13900000001", "13900000002", "13900000003", "13900000004"


def e164(n):
    return "+86" + n


def make_campaign(db, rows, *, scenario="hotline_callback", **kw):
    """rows: [(number, business ref)] → a started campaign's id."""
    csv = "姓名,电话,业务编号\n" + "".join(f"市民{i},{n},{ref}\n" for i, (n, ref) in enumerate(rows))
    with db.session() as s:
        res = lists.import_list(s, csv.encode(), "l.csv", name="名单", scenario=scenario, created_by="t")
        c = campaigns.create_campaign(s, name="回访", list_id=res.list_id, created_by="t", now=MORNING, **kw)
        campaigns.start(s, c.id, now=MORNING)
        return c.id


def tasks(db, cid):
    with db.session() as s:
        return {t.number_e164: (t.state, t.attempts, t.last_result, t.next_attempt_at, t.note)
                for t in s.scalars(select(CallTask).where(CallTask.campaign_id == cid))}


def test_retries_by_result_and_records(db):
    sim = SimTelephony(scripted={e164(A): SimCall(["busy", "answered"], ["1"]), e164(B): SimCall(["no_answer"]),
                                 e164(C): SimCall(["invalid_number"]), e164(D): SimCall(["rejected"])})
    cid = make_campaign(db, [(A, ""), (B, ""), (C, ""), (D, "")], max_attempts=3,
                        retry_policy={"busy": 10, "no_answer": 30})
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"busy": 1, "no_answer": 1, "invalid_number": 1,
                                                               "rejected": 1}
    t = tasks(db, cid)
    assert t[e164(A)][:3] == ("pending", 1, "busy") and t[e164(A)][3] == MORNING + timedelta(minutes=10)
    assert t[e164(B)][3] == MORNING + timedelta(minutes=30)
    assert t[e164(C)][:3] == ("done", 1, "invalid_number") and t[e164(D)][:3] == ("done", 1, "rejected")
    assert dialer.run_due(db, telephony=sim, now=MORNING + timedelta(minutes=5)) == {}  # nothing due yet
    assert dialer.run_due(db, telephony=sim, now=MORNING + timedelta(minutes=10)) == {"answered": 1}
    dialer.run_due(db, telephony=sim, now=MORNING + timedelta(minutes=30))
    dialer.run_due(db, telephony=sim, now=MORNING + timedelta(minutes=60))
    t = tasks(db, cid)
    assert t[e164(A)][:3] == ("done", 2, "answered")
    assert t[e164(B)][:3] == ("failed", 3, "no_answer") and t[e164(B)][3] is None
    with db.session() as s:
        recs = s.scalars(select(CallRecord).where(CallRecord.campaign_id == cid).order_by(CallRecord.id)).all()
        assert [r.result for r in recs] == ["busy", "no_answer", "invalid_number", "rejected", "answered",
                                            "no_answer", "no_answer"]
        busy, ok = recs[0], recs[4]
        assert (busy.sip_code, busy.q850_cause, busy.answered_at, busy.adapter) == (486, 17, None, "sim")
        assert ok.satisfaction == "满意" and ok.dtmf == "1" and ok.answered_at == MORNING + timedelta(minutes=10)
        assert ok.ended_at > ok.started_at and ok.outcome == "hangup" and ok.scenario == "hotline_callback"
        steps = s.scalars(select(CallStep).where(CallStep.record_id == ok.id).order_by(CallStep.seq)).all()
        assert [(x.step, x.answer_dtmf, x.matched) for x in steps] == [("ask", "1", "满意"), ("thanks", "", None)]
        assert "满意请按1" in steps[0].prompt
        p = campaigns.progress(s, cid)
        assert p["state"] == "done" and p["by_state"]["done"] == 3 and p["by_state"]["failed"] == 1
        assert p["results"] == {"busy": 1, "no_answer": 3, "invalid_number": 1, "rejected": 1, "answered": 1}
        assert p["percent"] == 100.0 and s.get(Campaign, cid).finished_at is not None
        assert compliance.calls_today(s, e164(B), MORNING) == 3  # every dial reaches the ledger


def test_outside_window_requeues_for_the_next_window(db):
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], ["1"])})
    cid = make_campaign(db, [(A, "")])
    assert dialer.run_due(db, telephony=sim, now=NIGHT) == {"requeued": 1}
    state, attempts, last, nxt, note = tasks(db, cid)[e164(A)]
    assert (state, attempts, last) == ("pending", 0, "gate:outside_window") and "呼叫时段" in note
    assert nxt == datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
    assert dialer.run_due(db, telephony=sim, now=NIGHT + timedelta(hours=1)) == {}
    assert dialer.run_due(db, telephony=sim, now=nxt) == {"answered": 1}
    assert sim.dialled[e164(A)] == 1


def test_emergency_priority_ignores_the_window(db):
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], ["1"])})
    make_campaign(db, [(A, "")], priority="highest")
    assert dialer.run_due(db, telephony=sim, now=NIGHT) == {"answered": 1}


def test_do_not_call_skips_with_the_reason(db):
    sim = SimTelephony()
    cid = make_campaign(db, [(A, ""), (B, "")])
    with db.session() as s:
        lists.add_dnc(s, A, reason="本人要求", created_by="duty1")
    assert dialer.run_due(db, telephony=sim, now=MORNING)["skipped"] == 1
    state, attempts, last, _, note = tasks(db, cid)[e164(A)]
    assert (state, attempts, last) == ("skipped", 0, "gate:dnc_global") and "全局免打扰" in note
    assert sim.dialled[e164(A)] == 0 and sim.dialled[e164(B)] == 1


def test_opt_out_key_takes_effect_for_the_next_task(db):
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], ["9"])})
    first = make_campaign(db, [(A, "")])
    second = make_campaign(db, [(A, "")])
    with db.session() as s:
        campaigns.pause(s, second)
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"answered": 1}
    assert tasks(db, first)[e164(A)][4] == "被叫按键退订"
    with db.session() as s:
        assert s.scalars(select(CallRecord)).one().outcome == "opt_out"
        campaigns.start(s, second)
    assert dialer.run_due(db, telephony=sim, now=MORNING + timedelta(minutes=1)) == {"skipped": 1}
    state, _, last, _, note = tasks(db, second)[e164(A)]
    assert (state, last) == ("skipped", "gate:opt_out") and "退订" in note
    assert sim.dialled[e164(A)] == 1
    with db.session() as s:  # the entries already imported are marked too
        assert {e.status for e in s.scalars(select(CallListEntry).where(CallListEntry.number_e164 == e164(A)))} == {
            "dnc"}


def _disposed_events(db, n):
    ids = []
    with db.session() as s:
        _, lon, lat = street_point(s)
        for i in range(n):
            ev = service.create_event(s, category_code="020101", title=f"热线：无证设摊 {i}", lon=lon + i * 0.01,
                                      lat=lat, source_kind="hotline", created_by="hotline")
            for to in ("accepted", "dispatched", "in_progress", "disposed"):
                lifecycle.transition(s, ev.id, to, actor="duty1", role="duty")
            ids.append(ev.id)
    return ids


def test_callback_answers_reach_the_hotline_events(db):
    good, bad, twice = _disposed_events(db, 3)
    with db.session() as s:
        lifecycle.transition(s, twice, "verified", actor="duty1", role="duty")  # no longer waiting
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], ["1"]), e164(B): SimCall(["answered"], ["不满意"]),
                                 e164(C): SimCall(["answered"], ["1"])})
    cid = make_campaign(db, [(A, f"event:{good}"), (B, f"event:{bad}"), (C, f"event:{twice}")])
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"answered": 3}
    t = tasks(db, cid)
    assert t[e164(A)][4] == "回访结果已登记到事件（满意）" and t[e164(B)][4] == "回访结果已登记到事件（不满意）"
    assert t[e164(C)][4].startswith("回访结果未登记到事件") and t[e164(C)][0] == "done"
    with db.session() as s:
        assert service.get_event(s, good).state == "closed"
        assert service.get_event(s, bad).state == "accepted"
        assert service.get_event(s, twice).state == "verified"
        # the virtual clock sits before the real-time transitions above, so look the return up by action
        tr = [x for x in service.transitions_of(s, bad) if x.action == "return"]
        assert len(tr) == 1 and tr[0].reason.startswith("回访不满意") and tr[0].actor == "callout"


def test_daily_cap_requeues_to_the_next_day(db):
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], ["1"])})
    cid = make_campaign(db, [(A, "")])
    with db.session() as s:
        for _ in range(compliance.DAILY_CAP):
            compliance.record_dial(s, e164(A), "notice", MORNING - timedelta(hours=1))
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"requeued": 1}
    state, _, last, nxt, note = tasks(db, cid)[e164(A)]
    assert (state, last) == ("pending", "gate:daily_cap") and "每日上限" in note
    assert nxt == datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)  # next day, first window
    assert dialer.run_due(db, telephony=sim, now=nxt) == {"answered": 1}


def test_concurrency_caps_each_run_and_pause_stops(db):
    sim = SimTelephony(scripted={e164(n): SimCall(["answered"], ["1"]) for n in (A, B, C)})
    cid = make_campaign(db, [(A, ""), (B, ""), (C, "")], concurrency=2)
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"answered": 2}
    with db.session() as s:
        campaigns.pause(s, cid)
        with pytest.raises(Conflict):
            campaigns.pause(s, cid)
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {}
    with db.session() as s:
        campaigns.start(s, cid)
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"answered": 1}
    with db.session() as s:
        assert campaigns.progress(s, cid)["state"] == "done"


def test_campaign_needs_a_script_and_valid_settings(db):
    csv = "电话\n13900000001\n4008123123\n"
    with db.session() as s:
        res = lists.import_list(s, csv.encode(), "l.csv", name="提醒", scenario="notice")
        with pytest.raises(Invalid, match="话术"):
            campaigns.create_campaign(s, name="x", list_id=res.list_id, script={"start": "nowhere", "steps": []})
        res2 = lists.import_list(s, csv.encode(), "l.csv", name="回访", scenario="hotline_callback")
        with pytest.raises(Invalid, match="并发数"):
            campaigns.create_campaign(s, name="x", list_id=res2.list_id, concurrency=0)
        c = campaigns.create_campaign(s, name="x", list_id=res2.list_id)
        assert c.state == "draft" and campaigns.progress(s, c.id)["tasks"] == 1  # invalid entries get no task


def test_job_registration(db):
    from cityops.callout import jobs
    from cityops.core.jobs import Scheduler

    sch = Scheduler(db)
    jobs.register(sch)
    job = sch.jobs["callout.dial"]
    assert job.interval_s == 5 and job.singleton
    assert jobs.run(db, now=datetime(2026, 11, 25, 2, 0, tzinfo=UTC)) == {}
