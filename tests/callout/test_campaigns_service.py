"""Campaign service additions (CALL-1, CALL-2): stopping a campaign, the paged and filtered views
of campaigns, tasks and call records, one record with its dialogue steps, the Chinese labels,
and the schedule job."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.callout import campaign_jobs, campaigns, dialer, labels
from cityops.callout.campaign_models import CallRecord, CallTask, Campaign
from cityops.callout.telephony import SimCall, SimTelephony
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import SHANGHAI
from tests.callout.test_dialer import MORNING, A, B, C, D, e164, make_campaign


def test_stop_skips_pending_tasks_and_ends_the_campaign(db):
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], ["1"]), e164(B): SimCall(["busy"])})
    cid = make_campaign(db, [(A, ""), (B, ""), (C, ""), (D, "")], concurrency=2)
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"answered": 1, "busy": 1}
    with db.session() as s:
        c = campaigns.stop(s, cid, now=MORNING + timedelta(minutes=1))
        assert c.state == "done" and c.finished_at == MORNING + timedelta(minutes=1)
        t = {x.number_e164: x for x in s.scalars(select(CallTask).where(CallTask.campaign_id == cid))}
        assert t[e164(A)].state == "done" and t[e164(A)].note != campaigns.STOPPED_NOTE
        for n in (B, C, D):  # B waits for its busy retry: it is skipped too
            assert (t[e164(n)].state, t[e164(n)].note, t[e164(n)].next_attempt_at) == ("skipped", "任务已终止", None)
        with pytest.raises(Conflict, match="已结束"):
            campaigns.stop(s, cid)
        with pytest.raises(Conflict):
            campaigns.start(s, cid)
        assert campaigns.progress(s, cid)["percent"] == 100.0
    assert dialer.run_due(db, telephony=sim, now=MORNING + timedelta(hours=1)) == {}


def test_stop_a_draft_and_a_paused_campaign(db):
    with db.session() as s:
        draft = campaigns.create_campaign(s, name="草稿", scenario="hotline_callback", now=MORNING)
        campaigns.add_task(s, draft.id, number="13900000009")
        assert campaigns.stop(s, draft.id).state == "done"
        paused = campaigns.create_campaign(s, name="暂停", scenario="hotline_callback")
        campaigns.start(s, paused.id)
        campaigns.pause(s, paused.id)
        assert campaigns.stop(s, paused.id).state == "done"
        assert campaigns.progress(s, draft.id)["by_state"]["skipped"] == 1


def test_unknown_campaign_and_record_are_404_in_chinese(db):
    with db.session() as s:
        for call in (lambda: campaigns.get_campaign(s, 999), lambda: campaigns.stop(s, 999),
                     lambda: campaigns.campaign_tasks(s, 999), lambda: campaigns.get_record(s, 999)):
            with pytest.raises(NotFound) as exc:
                call()
            assert exc.value.status == 404 and "不存在" in exc.value.detail


def test_list_campaigns_filters_pages_and_progress_many(db):
    with db.session() as s:
        made = []
        for i in range(5):
            c = campaigns.create_campaign(s, name=f"任务{i}", scenario="hotline_callback" if i % 2 else "workorder_reminder",
                                          now=MORNING)
            campaigns.add_task(s, c.id, number=f"1390000001{i}")
            made.append(c.id)
        campaigns.start(s, made[1])
        rows, total = campaigns.list_campaigns(s, limit=2, offset=0)
        assert total == 5 and [c.id for c in rows] == [made[4], made[3]]  # newest first
        rows, total = campaigns.list_campaigns(s, limit=2, offset=4)
        assert total == 5 and [c.id for c in rows] == [made[0]]
        rows, total = campaigns.list_campaigns(s, scenario="hotline_callback")
        assert total == 2 and {c.id for c in rows} == {made[1], made[3]}
        rows, total = campaigns.list_campaigns(s, state="running")
        assert [c.id for c in rows] == [made[1]]
        assert campaigns.list_campaigns(s, trigger="schedule") == ([], 0)
        with pytest.raises(Invalid, match="任务状态"):
            campaigns.list_campaigns(s, state="flying")
        with pytest.raises(Invalid, match="触发方式"):
            campaigns.list_campaigns(s, trigger="whim")
        all_rows, _ = campaigns.list_campaigns(s)
        many = campaigns.progress_many(s, all_rows)
        assert many == {c.id: campaigns.progress(s, c.id) for c in all_rows}
        assert many[made[0]]["tasks"] == 1 and many[made[0]]["by_state"]["pending"] == 1
        assert campaigns.progress_many(s, []) == {}


def test_campaign_tasks_page_in_order_and_by_state(db):
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], ["1"])})
    cid = make_campaign(db, [(A, ""), (B, ""), (C, "")], concurrency=1)
    dialer.run_due(db, telephony=sim, now=MORNING)
    with db.session() as s:
        rows, total = campaigns.campaign_tasks(s, cid, limit=2)
        assert total == 3 and [t.number_e164 for t in rows] == [e164(A), e164(B)]
        rows, total = campaigns.campaign_tasks(s, cid, limit=2, offset=2)
        assert [t.number_e164 for t in rows] == [e164(C)]
        rows, total = campaigns.campaign_tasks(s, cid, state="done")
        assert total == 1 and rows[0].number_e164 == e164(A)
        with pytest.raises(Invalid):
            campaigns.campaign_tasks(s, cid, state="lost")


def _records(db):
    """Two campaigns: a 回访 with an answered and a busy call, a 催告 with one no-answer the next day."""
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], [None, "1"]), e164(B): SimCall(["busy"]),
                                 e164(C): SimCall(["no_answer"])})
    first = make_campaign(db, [(A, "event:12"), (B, "event:13")], max_attempts=1)
    dialer.run_due(db, telephony=sim, now=MORNING)
    second = make_campaign(db, [(C, "")], scenario="workorder_reminder", max_attempts=1)
    dialer.run_due(db, telephony=sim, now=MORNING + timedelta(days=1))
    return first, second


def test_list_records_filters_and_pages(db):
    first, second = _records(db)
    with db.session() as s:
        rows, total = campaigns.list_records(s)
        assert total == 3 and rows[0].number_e164 == e164(C)  # newest first
        assert [r.campaign_id for r in campaigns.list_records(s, scenario="workorder_reminder")[0]] == [second]
        assert {r.number_e164 for r in campaigns.list_records(s, campaign_id=first)[0]} == {e164(A), e164(B)}
        assert [r.number_e164 for r in campaigns.list_records(s, result="busy")[0]] == [e164(B)]
        assert [r.number_e164 for r in campaigns.list_records(s, number="139-0000-0001")[0]] == [e164(A)]
        assert [r.number_e164 for r in campaigns.list_records(s, number="0002")[0]] == [e164(B)]
        with pytest.raises(Invalid, match="4 位"):
            campaigns.list_records(s, number="12")
        assert [r.business_ref for r in campaigns.list_records(s, business_ref="event:13")[0]] == ["event:13"]
        day = MORNING.date()
        assert campaigns.list_records(s, date_from=day, date_to=day)[1] == 2
        assert campaigns.list_records(s, date_from=day + timedelta(days=1))[1] == 1
        assert campaigns.list_records(s, date_to=day - timedelta(days=1))[1] == 0
        with pytest.raises(Invalid, match="开始日期"):
            campaigns.list_records(s, date_from=day, date_to=day - timedelta(days=1))
        rows, total = campaigns.list_records(s, limit=1, offset=1)
        assert total == 3 and len(rows) == 1


def test_date_filter_uses_beijing_days(db):
    with db.session() as s:
        # 23:30 Beijing on 25 Nov is 15:30 UTC: it belongs to the 25th, not the 26th.
        for at in (datetime(2026, 11, 25, 23, 30, tzinfo=SHANGHAI), datetime(2026, 11, 26, 0, 10, tzinfo=SHANGHAI)):
            s.add(CallRecord(scenario="notice", number_e164="+8613900000001", result="answered",
                             started_at=at.astimezone(UTC)))
        s.flush()
        assert campaigns.list_records(s, date_from=date(2026, 11, 25), date_to=date(2026, 11, 25))[1] == 1
        assert campaigns.list_records(s, date_from=date(2026, 11, 26), date_to=date(2026, 11, 26))[1] == 1


def test_get_record_returns_the_steps_in_order(db):
    _records(db)
    with db.session() as s:
        rec = s.scalar(select(CallRecord).where(CallRecord.result == "answered"))
        got, steps = campaigns.get_record(s, rec.id)
        assert got.id == rec.id
        assert [(x.seq, x.step, x.retry, x.answer_dtmf, x.matched) for x in steps] == [
            (1, "ask", 0, "", None), (2, "ask", 1, "1", "满意"), (3, "thanks", 0, "", None)]
        busy = s.scalar(select(CallRecord).where(CallRecord.result == "busy"))
        assert campaigns.get_record(s, busy.id)[1] == []


def test_labels_cover_every_result_and_link_events():
    assert labels.RESULTS == {"answered": "已接听", "no_answer": "无人接听", "busy": "忙线", "unreachable": "无法接通",
                              "invalid_number": "空号", "rejected": "拒接", "failed": "失败", "power_off": "关机",
                              "suspended": "停机", "dialing": "呼叫中", "interrupted": "通话中断"}
    assert labels.result("gate:outside_window") == "合规拦截" and labels.result("odd") == "odd"
    assert labels.business_link("event:12") == {"kind": "event", "id": "12", "label": "事件 12",
                                                "api": "/api/v1/events/12", "console": "/console/events/12"}
    assert labels.business_link("alarm:5")["console"] == "/console/alarms/5"
    for ref in ("", "event:", "event:x", "order:7", "12"):
        assert labels.business_link(ref) is None


def test_schedule_job_starts_due_drafts_once(db):
    from cityops.core.jobs import Scheduler

    sch = Scheduler(db)
    campaign_jobs.register(sch)
    job = sch.jobs["callout.schedule"]
    assert job.interval_s == 30 and job.singleton
    with db.session() as s:
        cid = campaigns.create_campaign(s, name="定时", scenario="hotline_callback", trigger="schedule",
                                        scheduled_at=MORNING + timedelta(minutes=30), now=MORNING).id
    assert campaign_jobs.run(db, now=MORNING) == []
    assert campaign_jobs.run(db, now=MORNING + timedelta(minutes=30)) == [cid]
    assert campaign_jobs.run(db, now=MORNING + timedelta(minutes=31)) == []
    with db.session() as s:
        c = s.get(Campaign, cid)
        assert c.state == "running" and c.started_at == MORNING + timedelta(minutes=30)


def test_progress_lists_results_in_a_fixed_order(db):
    with db.session() as s:
        c = campaigns.create_campaign(s, name="序", scenario="hotline_callback")
        c.counters = {"weird": 1, "rejected": 2, "busy": 1, "answered": 5}
        s.flush()
        s.expire(c)  # read back what the database keeps (jsonb reorders keys)
        assert list(campaigns.progress(s, c.id)["results"]) == ["answered", "busy", "rejected", "weird"]
        assert list(campaigns.progress_many(s, [c])[c.id]["results"]) == ["answered", "busy", "rejected", "weird"]
