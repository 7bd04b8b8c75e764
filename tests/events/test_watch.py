"""The flow-state watch (IOT-6 overdue warnings, issue #5 item 6; SYS-DISPATCH): each
condition with controlled times, dedup and auto-resolve, acknowledgement, notifications
to the on-duty contacts through notify_outbox, and delivery by the notification job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.dispatch.models import (
    DispatchOutbox,
    DispatchPlatform,
    PlatformState,
    WorkOrder,
)
from cityops.duty import service as duty
from cityops.events import lifecycle, service, watch, watch_jobs
from cityops.events.models import CityEvent
from cityops.events.watch_models import FlowWarning
from cityops.notify import jobs as notify_jobs
from cityops.notify import service as notify
from cityops.notify.models import OutboxMessage
from cityops.sim.notify import NotifySim, serve
from tests.events.helpers import street_point

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai


def new_event(s, *, at=T0, severity="critical", code="010101", index=0, title="井盖缺失"):
    _, lon, lat = street_point(s, index)
    return service.create_event(s, category_code=code, title=title, lon=lon, lat=lat, severity=severity,
                                reported_at=at, created_by="test", merge=False)


def live(s, kind=None):
    q = select(FlowWarning).where(FlowWarning.dedup_key.is_not(None))
    if kind:
        q = q.where(FlowWarning.kind == kind)
    return list(s.scalars(q.order_by(FlowWarning.id)))


def all_of(s, kind):
    return list(s.scalars(select(FlowWarning).where(FlowWarning.kind == kind).order_by(FlowWarning.id)))


def move(s, eid, *states, at, actor="duty1", role="duty"):
    for to in states:
        lifecycle.transition(s, eid, to, actor=actor, role=role, at=at,
                             reason="测试原因" if lifecycle.needs_reason(s.get(CityEvent, eid).state, to) or
                             to == "returned" else "")


def platform(s, name="网格化平台"):
    p = DispatchPlatform(name=name, kind="open311", settings={})
    s.add(p)
    s.flush()
    return p


def order(s, ev, p, *, seq=1, **kw):
    o = WorkOrder(event_id=ev.id, platform_id=p.id, seq=seq, idempotency_key=f"{ev.number}/{seq}", **kw)
    s.add(o)
    s.flush()
    return o


def test_settings_defaults_and_validation(db):
    with db.session() as s:
        cfg = watch.get_settings(s)
        assert cfg.id == 1 and cfg.warn_pct is None and cfg.outbox_attempts == 3 and cfg.quiet_info is True
        assert watch.get_settings(s) is cfg  # one row
        with pytest.raises(Invalid):
            watch.update_settings(s, by="m", warn_pct=150)
        with pytest.raises(Invalid):
            watch.update_settings(s, by="m", outbox_attempts=2.5)
        with pytest.raises(Invalid):
            watch.update_settings(s, by="m", notify_team="nope")
        with pytest.raises(Invalid):
            watch.update_settings(s, by="m", notify_channels=[999])
        with pytest.raises(Invalid):
            watch.update_settings(s, by="m", colour="red")
        cfg = watch.update_settings(s, by="m", warn_pct=60, surge_factor=2.5, outbox_attempts=None)
        assert (cfg.warn_pct, cfg.surge_factor, cfg.outbox_attempts, cfg.updated_by) == (60, 2.5, 3, "m")
        assert watch.update_settings(s, by="m", warn_pct=None).warn_pct is None  # back to the policies'


def test_sla_warning_then_breach_then_resolved_by_progress(db):
    """紧急 (critical) events run 7×24: accept within 15 min, warn at 80 % (12 min)."""
    with db.session() as s:
        ev = new_event(s)
        assert watch.scan(s, T0 + timedelta(minutes=11))["opened"] == 0
        out = watch.scan(s, T0 + timedelta(minutes=13))
        [w] = live(s)
        assert out["opened"] == 1 and w.kind == "sla_warning" and w.subject == f"event:{ev.id}:accept"
        assert w.severity == "major" and w.event_id == ev.id and w.street_code == ev.street_code
        assert ev.number in w.text and "受理" in w.text and w.details["pct"] == pytest.approx(86.7)
        first = w.id
        out = watch.scan(s, T0 + timedelta(minutes=14))  # still holds: refreshed, not duplicated
        [w] = live(s)
        assert out["opened"] == 0 and w.id == first and w.last_at == T0 + timedelta(minutes=14)
        assert w.first_at == T0 + timedelta(minutes=13) and w.details["pct"] == pytest.approx(93.3)

        out = watch.scan(s, T0 + timedelta(minutes=16))
        [b] = live(s)
        assert b.kind == "sla_breached" and b.severity == "critical" and "已超时" in b.text
        old = s.get(FlowWarning, first)
        assert old.state == "resolved" and old.resolved_at == T0 + timedelta(minutes=16) and old.dedup_key is None

        move(s, ev.id, "accepted", at=T0 + timedelta(minutes=17))
        out = watch.scan(s, T0 + timedelta(minutes=18))  # the dispatch step has just started
        assert live(s) == [] and out["resolved"] == 1
        assert s.get(FlowWarning, b.id).state == "resolved"


def test_sla_threshold_from_settings_and_closed_or_merged_events_ignored(db):
    with db.session() as s:
        ev = new_event(s)
        closed = new_event(s, index=1)
        move(s, closed.id, "rejected", at=T0)  # rejected ends a report
        assert watch.scan(s, T0 + timedelta(minutes=8))["opened"] == 0  # 53 % < 80 %
        watch.update_settings(s, by="m", warn_pct=50)
        watch.scan(s, T0 + timedelta(minutes=8))
        assert [w.event_id for w in live(s)] == [ev.id]
        # a routine (warning-level) event counts working time: 2 working hours to accept
        routine = new_event(s, severity="warning", index=2, at=T0 + timedelta(hours=1))
        watch.scan(s, T0 + timedelta(hours=2))  # 11:00 → 12:00 Shanghai: 50 %
        w = [x for x in live(s) if x.event_id == routine.id]
        assert len(w) == 1 and w[0].severity == "info" and w[0].details["pct"] == 50.0


def test_outbox_failing_conditions_and_resolution(db):
    now = T0 + timedelta(hours=1)
    with db.session() as s:
        watch.update_settings(s, by="m", warn_pct=100)
        ev = new_event(s, at=now)
        p = platform(s)
        o = order(s, ev, p)

        def box(**kw):
            m = DispatchOutbox(event_id=ev.id, order_id=o.id, platform_id=p.id, **kw)
            s.add(m)
            s.flush()
            return m

        tried = box(state="pending", attempts=3, created_at=now - timedelta(minutes=2), last_error="HTTP 503")
        waiting = box(state="pending", attempts=0, created_at=now - timedelta(minutes=20))
        fresh = box(state="pending", attempts=1, created_at=now - timedelta(minutes=2))
        sent = box(state="sent", attempts=5, created_at=now - timedelta(hours=2))
        failed = box(state="failed", attempts=1, created_at=now - timedelta(minutes=1), last_error="jurisdiction")
        watch.scan(s, now)
        got = {w.subject: w for w in live(s, "outbox_failing")}
        assert set(got) == {f"outbox:{tried.id}", f"outbox:{waiting.id}", f"outbox:{failed.id}"}
        assert fresh.id not in [w.details["outbox_id"] for w in got.values()] and sent.state == "sent"
        assert got[f"outbox:{failed.id}"].severity == "major" and "发送失败" in got[f"outbox:{failed.id}"].text
        assert "HTTP 503" in got[f"outbox:{tried.id}"].text and "网格化平台" in got[f"outbox:{tried.id}"].text
        tried.state = "sent"
        failed.state = "cancelled"
        s.flush()
        out = watch.scan(s, now + timedelta(seconds=30))
        assert [w.subject for w in live(s, "outbox_failing")] == [f"outbox:{waiting.id}"] and out["resolved"] == 2


def test_result_missing_after_hours_without_update(db):
    now = T0 + timedelta(days=2)
    with db.session() as s:
        watch.update_settings(s, by="m", warn_pct=100, result_hours=24)
        p = platform(s)
        evs = [new_event(s, at=now - timedelta(hours=30), index=i, severity="info") for i in range(4)]
        quiet = order(s, evs[0], p, state="submitted", external_id="W-1", submitted_at=now - timedelta(hours=25))
        order(s, evs[1], p, state="in_progress", submitted_at=now - timedelta(hours=30),
              last_update_at=now - timedelta(hours=1))
        order(s, evs[2], p, state="disposed", submitted_at=now - timedelta(hours=30))
        order(s, evs[3], p, state="submitted", submitted_at=now - timedelta(hours=23))
        watch.scan(s, now)
        [w] = live(s, "result_missing")
        assert w.subject == f"order:{quiet.id}" and "W-1" in w.text and "25 小时" in w.text
        assert w.event_id == evs[0].id
        quiet.last_update_at = now  # the platform said something
        s.flush()
        watch.scan(s, now + timedelta(minutes=1))
        assert live(s, "result_missing") == [] and all_of(s, "result_missing")[0].state == "resolved"


def _fail_verification(s, eid, at):
    move(s, eid, "dispatched", "in_progress", "disposed", at=at, actor="system:dispatch", role="system")
    lifecycle.transition(s, eid, "returned", actor="system:verify", role="system", at=at + timedelta(minutes=1),
                         reason="照片未见整改", details={"verification": {"passed": False}})


def test_verification_failing_within_window(db):
    with db.session() as s:
        watch.update_settings(s, by="m", warn_pct=100, verify_failures=2, verify_window_h=24)
        ev = new_event(s, severity="info")
        other = new_event(s, severity="info", index=1)
        move(s, ev.id, "accepted", at=T0)
        move(s, other.id, "accepted", at=T0)
        _fail_verification(s, ev.id, T0 + timedelta(hours=1))
        _fail_verification(s, other.id, T0 + timedelta(hours=1))
        watch.scan(s, T0 + timedelta(hours=2))
        assert live(s, "verification_failing") == []  # one failure each
        _fail_verification(s, ev.id, T0 + timedelta(hours=3))
        move(s, other.id, "dispatched", "in_progress", "disposed", "returned",
             at=T0 + timedelta(hours=3))  # a person's return does not count
        watch.scan(s, T0 + timedelta(hours=4))
        [w] = live(s, "verification_failing")
        assert w.subject == f"event:{ev.id}" and w.details["failures"] == 2 and "2 次未通过" in w.text
        watch.scan(s, T0 + timedelta(hours=26))  # the first failure left the window
        assert live(s, "verification_failing") == []


def test_surge_against_the_same_hour_of_four_weeks(db):
    now = T0
    with db.session() as s:
        watch.update_settings(s, by="m", warn_pct=100, surge_factor=3, surge_min_count=5)
        for i in range(6):  # street A, 市容环境 (01): 6 now, 1 in the same hour a week ago (avg 0.25)
            new_event(s, at=now - timedelta(minutes=5 + i), severity="info", code="010101")
        new_event(s, at=now - timedelta(weeks=1, minutes=10), severity="info", code="010101")
        for i in range(4):  # street A, another 大类: below the minimum count
            new_event(s, at=now - timedelta(minutes=5 + i), severity="info", code="030101")
        for i in range(6):  # street B: 6 now but 4 a week for four weeks (avg 4, 6 < 3 × 4)
            new_event(s, at=now - timedelta(minutes=5 + i), severity="info", code="010101", index=1)
        for w in range(1, 5):
            for i in range(4):
                new_event(s, at=now - timedelta(weeks=w, minutes=20 + i), severity="info", code="010101", index=1)
        street_a = street_point(s, 0)[0]
        watch.scan(s, now)
        [w] = live(s, "surge")
        assert w.subject == f"01@{street_a}" and w.street_code == street_a and w.event_id is None
        assert w.details["count"] == 6 and w.details["average"] == 0.25 and "市容环境" in w.text
        watch.scan(s, now + timedelta(hours=1))  # the hour passed
        assert live(s, "surge") == []


@pytest.fixture
def duty_room(db):
    """Team "centre" with 张三 (phone, WeCom) and 李四 (e-mail only) on duty around T0; WeCom and SMS channels."""
    with db.session() as s:
        duty.create_team(s, code="centre", name="城运中心值班组")
        zhang = duty.create_contact(s, name="张三", phone="13800001111", wecom_userid="zhangsan", team_code="centre")
        li = duty.create_contact(s, name="李四", email="lisi@cn.gov.cn", team_code="centre")
        off = duty.create_contact(s, name="王五", phone="13700003333", team_code="centre")
        for c, start in ((zhang, T0 - timedelta(hours=2)), (li, T0 - timedelta(hours=2)),
                         (off, T0 + timedelta(hours=12))):
            duty.create_shift(s, contact_id=c.id, team_code="centre", role="member", starts_at=start,
                              ends_at=start + timedelta(hours=12))
        wecom = notify.create_channel(s, kind="wecom", name="值班群", settings={
            "webhook_key": "duty-room", "base_url": "http://127.0.0.1:9/cgi-bin/webhook/send", "timeout_s": 2})
        sms = notify.create_channel(s, kind="sms", name="政务短信", settings={
            "url": "http://127.0.0.1:9/sms/send", "account": "cn-acc", "secret": "cn-secret",
            "signature": "长宁城运", "timeout_s": 2})
        watch.update_settings(s, by="m", notify_team="centre", notify_channels=[wecom.id, sms.id])
        return {"zhang": zhang.id, "li": li.id, "off": off.id, "wecom": wecom.id, "sms": sms.id}


def _outbox(s):
    return {m.dedup_key: m for m in s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like("flow:%")))}


def test_new_warnings_notify_the_people_on_duty_once(db, duty_room):
    d = duty_room
    with db.session() as s:
        ev = new_event(s)
        watch.scan(s, T0 + timedelta(minutes=13))
        [w] = live(s)
        rows = _outbox(s)
        assert set(rows) == {f"flow:{w.id}:group:ch{d['wecom']}", f"flow:{w.id}:c{d['zhang']}:ch{d['sms']}",
                             f"flow:{w.id}:gaps"}
        group = rows[f"flow:{w.id}:group:ch{d['wecom']}"]
        assert group.alarm_id is None and group.state == "pending" and group.next_attempt_at == T0 + timedelta(minutes=13)
        assert {r["name"] for r in group.payload["recipients"]} == {"张三", "李四"}  # 王五 is not on duty
        assert ev.number in group.payload["text"] and group.payload["severity"] == "major"
        assert group.payload["title"] == "流转监控·时限预警" and "/console/flow-board" in group.payload["links"][0]["url"]
        sms = rows[f"flow:{w.id}:c{d['zhang']}:ch{d['sms']}"]
        assert sms.contact_id == d["zhang"] and sms.payload["recipients"][0]["phone"] == "13800001111"
        assert rows[f"flow:{w.id}:gaps"].state == "failed" and "李四 没有手机号" in rows[f"flow:{w.id}:gaps"].last_error
        assert w.notified == 2

        watch.scan(s, T0 + timedelta(minutes=14))  # refreshed, not notified again
        assert len(_outbox(s)) == 3
        watch.scan(s, T0 + timedelta(minutes=16))  # the breach is a new warning: notified
        [b] = live(s)
        assert f"flow:{b.id}:c{d['zhang']}:ch{d['sms']}" in _outbox(s)


def test_info_level_warnings_stay_quiet_unless_configured(db, duty_room):
    with db.session() as s:
        new_event(s, severity="warning")  # warning-level event: its SLA warning is info-level
        watch.scan(s, T0 + timedelta(hours=2))  # 10:00 → 12:00 Shanghai: 2 of 2 working hours used
        [w] = live(s)
        assert w.severity == "info" and w.kind == "sla_warning" and _outbox(s) == {} and w.notified == 0
        watch.update_settings(s, by="m", quiet_info=False)
        new_event(s, severity="warning", index=1)
        watch.scan(s, T0 + timedelta(hours=2))
        assert len(_outbox(s)) == 3  # group + SMS + gaps for the new one only


def test_nobody_on_duty_is_recorded(db, duty_room):
    with db.session() as s:
        new_event(s, at=T0 + timedelta(hours=11))
        watch.scan(s, T0 + timedelta(hours=11, minutes=13))  # 13:13 UTC: the shifts ended, 王五 not yet on
        [w] = live(s)
        rows = _outbox(s)
        assert list(rows) == [f"flow:{w.id}:gaps"] and "当前无人值班" in rows[f"flow:{w.id}:gaps"].last_error


def test_notification_job_delivers_flow_messages(db, duty_room):
    sim = NotifySim(wecom_keys={"duty-room"}, sms_accounts={"cn-acc": "cn-secret"}, slow_s=0.5)
    with serve(sim) as url, db.session() as s:
        notify.update_channel(s, duty_room["wecom"], settings={"webhook_key": "duty-room", "timeout_s": 2,
                                                              "base_url": url + "/cgi-bin/webhook/send"})
        notify.update_channel(s, duty_room["sms"], settings={
            "url": url + "/sms/send", "account": "cn-acc", "secret": "cn-secret", "signature": "长宁城运",
            "timeout_s": 2})
        ev = new_event(s)
        s.commit()
        watch_jobs.run(db, now=T0 + timedelta(minutes=13))
        out = notify_jobs.run(db, now=T0 + timedelta(minutes=13))
        assert out["delivered"] == 2
        assert len(sim.wecom) == 1 and ev.number in sim.wecom[0]["markdown"]["content"]
        assert "<@zhangsan>" in sim.wecom[0]["markdown"]["content"]
        assert len(sim.sms) == 1 and sim.sms[0]["mobiles"] == ["13800001111"]
        sent = [m for m in _outbox(s).values() if m.state == "sent"]
        assert len(sent) == 2


def test_acknowledge_keeps_the_warning_until_its_condition_ends(db, duty_room):
    with db.session() as s:
        ev = new_event(s)
        watch.scan(s, T0 + timedelta(minutes=16))
        [w] = live(s)
        assert w.kind == "sla_breached"
        notes = len(_outbox(s))
        watch.acknowledge(s, w.id, by="duty1", now=T0 + timedelta(minutes=17))
        assert (w.state, w.acked_by, w.acked_at) == ("acknowledged", "duty1", T0 + timedelta(minutes=17))
        watch.scan(s, T0 + timedelta(minutes=18))
        assert live(s)[0].id == w.id and w.state == "acknowledged" and len(_outbox(s)) == notes
        with pytest.raises(NotFound):
            watch.acknowledge(s, w.id, by="street1", now=T0, scope="310105999")
        move(s, ev.id, "accepted", at=T0 + timedelta(minutes=19))
        watch.scan(s, T0 + timedelta(minutes=20))
        assert w.state == "resolved" and w.dedup_key is None
        with pytest.raises(Conflict):
            watch.acknowledge(s, w.id, by="duty1", now=T0)
        assert [x.id for x in watch.list_warnings(s, state="resolved")] == [w.id]
        assert watch.list_warnings(s) == []


def test_board_counts_and_job_registration(db):
    from cityops.core.jobs import Scheduler

    with db.session() as s:
        late = new_event(s)
        near = new_event(s, index=1, at=T0 + timedelta(minutes=4))
        fine = new_event(s, index=2, at=T0 + timedelta(minutes=15))
        move(s, fine.id, "accepted", at=T0 + timedelta(minutes=15))
        p = platform(s)
        s.add(PlatformState(platform_id=p.id, breaker="open", last_error="HTTP 503"))
        o = order(s, fine, p)
        s.add(DispatchOutbox(event_id=fine.id, order_id=o.id, platform_id=p.id, state="pending",
                             created_at=T0 + timedelta(minutes=1)))
        s.flush()
        watch.scan(s, T0 + timedelta(minutes=17))
        b = watch.board(s, now=T0 + timedelta(minutes=21))
        grid = {r["state"]: r for r in b["grid"]}
        assert grid["reported"] == {"state": "reported", "label": "待立案", "total": 2, "ok": 0, "warning": 1,
                                    "breached": 1}
        assert grid["accepted"]["total"] == 1 and grid["accepted"]["ok"] == 1
        assert b["warnings"]["sla_breached"]["open"] == 1 and b["warnings"]["outbox_failing"]["open"] == 1
        assert b["outbox"] == {"pending": 1, "failed": 0, "oldest_pending_at": T0 + timedelta(minutes=1),
                               "oldest_pending_min": 20}
        assert b["platforms"][0]["breaker"] == "open" and b["platforms"][0]["last_error"] == "HTTP 503"
        scoped = watch.board(s, now=T0, scope=late.street_code)
        assert scoped["platforms"] == [] and sum(r["total"] for r in scoped["grid"]) == 1
        assert near.id
    sched = Scheduler(db)
    watch_jobs.register(sched)
    job = sched.jobs["events.flow_watch"]
    assert job.interval_s == 30 and job.singleton


def test_many_new_warnings_are_summarised(db, duty_room):
    with db.session() as s:
        for i in range(watch.MAX_NOTIFIED + 2):
            new_event(s, index=i, title=f"井盖缺失{i}")
        out = watch.scan(s, T0 + timedelta(minutes=16))
        assert out["opened"] == watch.MAX_NOTIFIED + 2
        rows = _outbox(s)
        per_warning = {k.split(":")[1] for k in rows if ":more:" not in k}
        assert len(per_warning) == watch.MAX_NOTIFIED
        [summary] = [m for k, m in rows.items() if ":more:group:" in k]
        assert summary.payload["title"] == "流转监控·新预警汇总" and "另有 2 条" in summary.payload["text"]
        assert sum(w.notified > 0 for w in live(s)) == watch.MAX_NOTIFIED
