"""The notification engine end to end (IOT-5 / OPS-3): an alarm is routed to a policy, the
escalation chain sends a WeCom robot message and then an SMS through the real simulators
over HTTP, acknowledging stops the chain, quiet hours hold low severities, a failing
channel is retried with backoff and finally fails. Time is driven by `now`; nobody sleeps."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cityops.monitoring import service as alarms
from cityops.monitoring.models import Alarm
from cityops.notify import engine, jobs
from cityops.notify import service as notify
from cityops.notify.models import Escalation, OutboxMessage, Policy
from tests.notify.conftest import T0, chain


def _raise(db, w, severity="critical", at=T0, alarm_type="smoke_alarm", message="3楼烟感检测到烟雾"):
    with db.session() as s:
        return alarms.raise_alarm(s, device_id=w["device"], alarm_type=alarm_type, severity=severity,
                                  source="vendor", message=message, at=at).id


def _rows(db, alarm_id):
    with db.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.alarm_id == alarm_id)
                              .order_by(OutboxMessage.id)))


def _esc(db, alarm_id):
    with db.session() as s:
        return s.get(Escalation, alarm_id)


def test_chain_wecom_then_sms_then_ack_stops(db, world, sim):
    with db.session() as s:
        notify.create_policy(s, **chain(world))
    aid = _raise(db, world)
    out = jobs.run(db, now=T0)
    assert out["routed"] == 1 and out["delivered"] == 1
    assert len(sim.wecom) == 1 and sim.sms == []
    content = sim.wecom[0]["markdown"]["content"]
    assert content.startswith("### 烟雾报警：华阳路101弄3号楼烟感")  # the product's event name (物模型)
    for want in ("华阳路101弄3号楼烟感", "华阳路街道", "紧急", "3楼烟感检测到烟雾", "2026-11-25 10:00:00", "+08:00",
                 "/console/alarms", "<@zhangsan>"):
        assert want in content, want
    [row] = _rows(db, aid)
    assert row.state == "sent" and row.attempts == 1 and row.channel_kind == "wecom"

    jobs.run(db, now=T0 + timedelta(minutes=9))  # still waiting for someone to acknowledge
    assert len(sim.sms) == 0 and len(_rows(db, aid)) == 1
    jobs.run(db, now=T0 + timedelta(minutes=10))
    assert len(sim.sms) == 1 and sim.sms[0]["mobiles"] == ["13900002222"]
    assert sim.sms[0]["content"].startswith("【长宁城运】") and "升级通知" in sim.sms[0]["content"]
    jobs.run(db, now=T0 + timedelta(minutes=10, seconds=5))  # a second run does not send the step again
    assert len(sim.sms) == 1

    with db.session() as s:
        alarms.acknowledge(s, aid, by="duty1", note="已派人核查")
    jobs.run(db, now=T0 + timedelta(minutes=30))
    assert sim.voice == []  # the manager is not called
    esc = _esc(db, aid)
    assert esc.state == "stopped" and "已确认" in esc.stop_reason and esc.next_at is None


def test_unacknowledged_chain_reaches_the_manager_and_repeats(db, world, sim):
    with db.session() as s:
        notify.create_policy(s, **chain(world, repeat=1))
    aid = _raise(db, world)
    for minutes in (0, 10, 20):
        jobs.run(db, now=T0 + timedelta(minutes=minutes))
    assert len(sim.voice) == 1 and sim.voice[0]["callees"] == [{"name": "王主任", "phone": "13700003333"}]
    assert _esc(db, aid).state == "active"
    jobs.run(db, now=T0 + timedelta(minutes=30))  # second round starts again with 张三
    assert len(sim.wecom) == 2 and "第 2 轮" in sim.wecom[1]["markdown"]["content"]
    for minutes in (40, 50):
        jobs.run(db, now=T0 + timedelta(minutes=minutes))
    esc = _esc(db, aid)
    assert esc.state == "done" and len(sim.voice) == 2
    jobs.run(db, now=T0 + timedelta(hours=2))
    assert len(sim.wecom) == 2  # finished: nothing more
    assert {r.state for r in _rows(db, aid)} == {"sent"} and len(_rows(db, aid)) == 6


def test_clear_cancels_pending_messages(db, world, sim):
    with db.session() as s:
        notify.create_policy(s, **chain(world))
    aid = _raise(db, world)
    with db.session() as s:
        engine.escalate(s, now=T0)  # the step is written, not yet delivered
    assert [r.state for r in _rows(db, aid)] == ["pending"]
    with db.session() as s:
        alarms.clear(s, aid, by="system", reason="设备恢复")
    jobs.run(db, now=T0 + timedelta(seconds=5))
    [row] = _rows(db, aid)
    assert row.state == "cancelled" and "告警已清除" in row.last_error
    assert sim.wecom == []


def test_quiet_hours_hold_a_warning_until_seven(db, world, sim):
    with db.session() as s:
        notify.create_policy(s, **chain(world, quiet_start="22:00", quiet_end="07:00"))
    night = T0 + timedelta(hours=13)  # 23:00 Shanghai
    aid = _raise(db, world, severity="warning", at=night, alarm_type="low_battery", message="电量 15%")
    cleared = _raise(db, world, severity="info", at=night, alarm_type="tamper", message="防拆")
    jobs.run(db, now=night)
    assert sim.wecom == [] and _rows(db, aid) == []
    seven = T0 + timedelta(hours=21)  # 07:00 Shanghai the next day
    assert _esc(db, aid).next_at == seven
    with db.session() as s:
        alarms.clear(s, cleared, by="system", reason="防拆复位")
    jobs.run(db, now=seven - timedelta(minutes=1))
    assert sim.wecom == []
    jobs.run(db, now=seven)
    assert len(sim.wecom) == 1 and "电量 15%" in sim.wecom[0]["markdown"]["content"]
    assert _rows(db, cleared) == [] and _esc(db, cleared).state == "stopped"


def test_critical_is_not_held_by_quiet_hours(db, world, sim):
    with db.session() as s:
        notify.create_policy(s, **chain(world, quiet_start="22:00", quiet_end="07:00"))
    night = T0 + timedelta(hours=13)
    _raise(db, world, severity="critical", at=night)
    jobs.run(db, now=night)
    assert len(sim.wecom) == 1


def test_failing_channel_backs_off_and_fails(db, world, sim):
    with db.session() as s:
        notify.create_policy(s, **chain(world))
    aid = _raise(db, world)
    sim.fail("wecom", "5xx", times=engine.MAX_ATTEMPTS)
    now = T0
    jobs.run(db, now=now)
    waits = []
    for attempt in range(1, engine.MAX_ATTEMPTS):
        [row] = [r for r in _rows(db, aid) if r.channel_kind == "wecom"]
        assert row.state == "pending" and row.attempts == attempt and "503" in row.last_error
        waits.append(row.next_attempt_at - now)
        jobs.run(db, now=row.next_attempt_at - timedelta(seconds=1))  # not yet due
        assert [r.attempts for r in _rows(db, aid) if r.channel_kind == "wecom"] == [attempt]
        now = row.next_attempt_at
        jobs.run(db, now=now)
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240)]
    [row] = [r for r in _rows(db, aid) if r.channel_kind == "wecom"]
    assert row.state == "failed" and row.attempts == engine.MAX_ATTEMPTS and "已重试" in row.last_error
    assert sim.wecom == []
    with db.session() as s:
        notify.retry(s, row.id, now=now)
    jobs.run(db, now=now)
    assert len(sim.wecom) == 1 and _rows(db, aid)[0].state == "sent"


def test_permanent_error_fails_at_once(db, world, sim):
    with db.session() as s:
        notify.create_policy(s, **chain(world))
    aid = _raise(db, world)
    sim.fail("wecom", "invalid_key")
    jobs.run(db, now=T0)
    [row] = _rows(db, aid)
    assert row.state == "failed" and row.attempts == 1 and "93000" in row.last_error


def test_suppressed_alarms_never_notify(db, world, sim):
    from cityops.monitoring import maintenance

    with db.session() as s:
        notify.create_policy(s, **chain(world))
        maintenance.create(s, name="更换电池", scope_kind="device", scope_value=str(world["device"]),
                           starts_at=T0 - timedelta(hours=1), ends_at=T0 + timedelta(hours=1))
    aid = _raise(db, world)
    jobs.run(db, now=T0)
    assert sim.wecom == [] and _esc(db, aid) is None


def test_routing_by_severity_type_street_and_first_match(db, world, sim):
    with db.session() as s:
        other = notify.create_policy(s, **{**chain(world), "name": "新泾镇", "position": 1,
                                           "street_code": "310105010"})
        smoke = notify.create_policy(s, **{**chain(world), "name": "烟感", "position": 2, "alarm_type": "smoke_alarm",
                                           "street_code": world["street"]})
        notify.create_policy(s, **{**chain(world), "name": "重要以上", "position": 3, "min_severity": "major"})
    a = _raise(db, world, severity="critical")
    b = _raise(db, world, severity="warning", alarm_type="low_battery")
    c = _raise(db, world, severity="major", alarm_type="tamper")
    with db.session() as s:
        engine.route_new(s, now=T0)
    assert _esc(db, a).policy_id == smoke.id
    assert _esc(db, b).state == "unrouted" and _esc(db, b).policy_id is None
    assert _esc(db, c).policy_id not in (None, other.id, smoke.id)


def test_team_target_reaches_everyone_on_duty_and_reports_gaps(db, world, sim):
    with db.session() as s:
        notify.create_policy(s, name="值班组", steps=[
            {"targets": [{"kind": "team", "team": "centre"}], "channels": [world["sms"], world["wecom"]],
             "wait_minutes": 5},
            {"targets": [{"kind": "unit"}], "channels": [world["sms"]], "wait_minutes": 5}])
    aid = _raise(db, world)
    jobs.run(db, now=T0)
    assert sorted(m for x in sim.sms for m in x["mobiles"]) == ["13800001111", "13900002222"]
    [group] = sim.wecom  # one post in the group chat, not one per person
    assert "<@zhangsan>" in group["markdown"]["content"]
    assert {r.recipient_name for r in _rows(db, aid) if r.channel_kind == "wecom"} == {"张三、李四"}
    jobs.run(db, now=T0 + timedelta(minutes=5))
    gaps = [r for r in _rows(db, aid) if r.channel_kind == "-"]
    assert len(gaps) == 1 and gaps[0].state == "failed" and "责任单位" in gaps[0].last_error


def test_a_step_is_written_once_even_if_run_again(db, world, sim):
    with db.session() as s:
        policy = notify.create_policy(s, **chain(world))
    aid = _raise(db, world)
    with db.session() as s:
        engine.route_new(s, now=T0)
        esc, p = s.get(Escalation, aid), s.get(Policy, policy.id)
        ctx = engine.context(s, s.get(Alarm, aid))
        assert engine.write_step(s, esc, p, ctx, T0) == 1
        assert engine.write_step(s, esc, p, ctx, T0) == 1  # the same step again: the same one message
    assert len(_rows(db, aid)) == 1


def test_quiet_until_spans_midnight():
    p = Policy(quiet_start="22:00", quiet_end="07:00", quiet_max_severity="warning")
    assert engine.quiet_until(p, "warning", T0) is None  # 10:00
    assert engine.quiet_until(p, "warning", T0 + timedelta(hours=13)) == T0 + timedelta(hours=21)
    assert engine.quiet_until(p, "warning", T0 + timedelta(hours=16)) == T0 + timedelta(hours=21)  # 02:00
    assert engine.quiet_until(p, "major", T0 + timedelta(hours=13)) is None
    day = Policy(quiet_start="12:00", quiet_end="14:00", quiet_max_severity="info")
    assert engine.quiet_until(day, "info", T0 + timedelta(hours=3)) == T0 + timedelta(hours=4)
    assert engine.quiet_until(day, "warning", T0 + timedelta(hours=3)) is None


def test_unit_target_reaches_the_responsible_units_duty_desk(db, world, sim):
    from cityops.devices.models import Device
    from cityops.duty import service as duty
    from cityops.geo.models import ResponsibleUnit

    with db.session() as s:
        unit = s.scalars(select(ResponsibleUnit).order_by(ResponsibleUnit.id)).first()
        s.get(Device, world["device"]).unit_id = unit.id
        duty.create_team(s, code="unit-desk", name="街道值班室", unit_id=unit.id)
        desk = duty.create_contact(s, name="街道值班员", phone="13600004444", team_code="unit-desk")
        duty.create_shift(s, contact_id=desk.id, team_code="unit-desk", starts_at=T0 - timedelta(hours=1),
                          ends_at=T0 + timedelta(hours=1))
        notify.create_policy(s, name="责任单位", unit_id=unit.id, steps=[
            {"targets": [{"kind": "unit"}], "channels": [world["sms"]], "wait_minutes": 5}])
    aid = _raise(db, world)
    jobs.run(db, now=T0)
    assert [x["mobiles"] for x in sim.sms] == [["13600004444"]]
    assert _esc(db, aid).state == "done"


def test_escalations_api_shows_held_chains(client, auth_headers, db, world, sim):
    with db.session() as s:
        notify.create_policy(s, **chain(world, quiet_start="22:00", quiet_end="07:00"))
    night = T0 + timedelta(hours=13)
    aid = _raise(db, world, severity="warning", at=night, alarm_type="low_battery")
    jobs.run(db, now=night)
    [e] = client.get("/api/v1/notify/escalations", headers=auth_headers("duty")).json()
    assert e["alarm_id"] == aid and e["held_until"] == "2026-11-26T07:00:00+08:00" and e["step"] == 0
    assert client.get("/api/v1/notify/escalations", params={"state": "x"},
                      headers=auth_headers("duty")).status_code == 422
    assert client.get("/api/v1/notify/escalations", headers=auth_headers("street", "310105001")).status_code == 403


def test_an_unrouted_alarm_is_routed_when_a_policy_arrives(db, world, sim):
    aid = _raise(db, world)
    jobs.run(db, now=T0)
    assert _esc(db, aid).state == "unrouted" and sim.wecom == []
    with db.session() as s:
        notify.create_policy(s, **chain(world))
    jobs.run(db, now=T0 + timedelta(minutes=1))
    assert _esc(db, aid).state == "active" and len(sim.wecom) == 1
