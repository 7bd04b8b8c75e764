"""Line checks (CALL-3) against the SIP gateway simulator: OPTIONS up / down (timeout, closed
port), the status page, test calls with pass/fail history, and alerts once per change."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.callout import line_checks, line_jobs, lines
from cityops.callout.line_models import LineCheck
from cityops.core.errors import Invalid
from cityops.core.jobs import Scheduler
from cityops.duty import service as duty
from cityops.notify import service as notify
from cityops.notify.models import OutboxMessage
from cityops.sim.sip_gateway import Script, SipGatewaySim, serve

T0 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


@pytest.fixture
def gateway():
    sim = SipGatewaySim(hangup_after_s=0.5, http=True, scripts={"13900000001": Script(dtmf="1"),
                                                                "13900000002": Script(code=486)})
    with serve(sim) as served:
        yield sim, served


@pytest.fixture
def on_duty(db):
    """Team "centre" with 张三 on duty around T0 and an SMS channel; configured as line alert recipients."""
    with db.session() as s:
        duty.create_team(s, code="centre", name="城运中心值班组")
        zhang = duty.create_contact(s, name="张三", phone="13800001111", team_code="centre")
        duty.create_shift(s, contact_id=zhang.id, team_code="centre", role="member", starts_at=T0 - timedelta(hours=2),
                          ends_at=T0 + timedelta(hours=10))
        sms = notify.create_channel(s, kind="sms", name="政务短信", settings={
            "url": "http://127.0.0.1:9/sms/send", "account": "cn-acc", "secret": "cn-secret",
            "signature": "长宁城运", "timeout_s": 2})
        lines.update_settings(s, by="admin", changes={"notify_team": "centre", "notify_channels": [sms.id]})
        return {"zhang": zhang.id, "sms": sms.id}


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _outbox(s, prefix="callout-line:"):
    return list(s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like(prefix + "%"))
                          .order_by(OutboxMessage.id)))


def test_options_up_with_status_page(db, gateway):
    sim, gw = gateway
    with db.session() as s:
        d = lines.create_device(s, data={"name": "SMG-1", "host": gw.host, "sip_port": gw.port, "ports": 30,
                                         "http_status_url": gw.status_url})
        line_checks.check_device(s, d.id, now=T0)
        assert d.state == "up" and d.sip_ok is True and d.http_ok is True and d.state_since == T0
        assert d.status_page["model"] == "SMG1000-D40" and d.status_page["ports_total"] == 30
        rows = {r.kind: r for r in s.scalars(select(LineCheck).where(LineCheck.device_id == d.id))}
        assert rows["options"].ok and rows["options"].data["sip_code"] == 200 and "正常" in rows["options"].detail
        assert rows["http"].ok and rows["http"].data["page"]["ports_in_use"] == 0
        assert sim.options == 1


def test_closed_port_is_down(db):
    with db.session() as s:
        d = lines.create_device(s, data={"name": "SMG-X", "host": "127.0.0.1", "sip_port": closed_udp_port()})
        line_checks.check_device(s, d.id, now=T0, timeout_s=1)
        assert d.state == "down" and d.sip_ok is False and "不可达" in d.last_detail


def test_silent_gateway_times_out_and_http_failure_is_kept(db, gateway):
    sim, gw = gateway
    sim.down = True
    with db.session() as s:
        d = lines.create_device(s, data={"name": "SMG-1", "host": gw.host, "sip_port": gw.port,
                                         "http_status_url": gw.status_url})
        line_checks.check_device(s, d.id, now=T0, timeout_s=0.6)
        assert d.state == "down" and "超时" in d.last_detail and d.http_ok is False and "503" in d.last_detail


def test_alerts_once_per_change(db, gateway, on_duty):
    """A gateway going down is alerted once however many checks fail; coming back once too."""
    sim, gw = gateway
    with db.session() as s:
        d = lines.create_device(s, data={"name": "SMG-1", "host": gw.host, "sip_port": gw.port, "ports": 30})
        assert line_checks.check_all(s, now=T0) == {"up": 1, "down": 0, "alerts": 0}  # unknown → up: quiet
        sim.down = True
        out = line_checks.check_all(s, now=T0 + timedelta(minutes=1), timeout_s=0.6)
        assert out == {"up": 0, "down": 1, "alerts": 1}
        line_checks.check_all(s, now=T0 + timedelta(minutes=2), timeout_s=0.6)
        line_checks.check_all(s, now=T0 + timedelta(minutes=3), timeout_s=0.6)
        [down] = _outbox(s)
        assert down.payload["title"] == "外呼线路·语音网关离线" and "SMG-1" in down.payload["text"]
        assert down.payload["severity"] == "major" and down.contact_id == on_duty["zhang"]
        assert "/console/callout/lines" in down.payload["links"][0]["url"]
        assert d.state == "down" and d.state_since == T0 + timedelta(minutes=1)
        sim.down = False
        assert line_checks.check_all(s, now=T0 + timedelta(minutes=4))["alerts"] == 1
        line_checks.check_all(s, now=T0 + timedelta(minutes=5))
        rows = _outbox(s)
        assert [r.payload["title"] for r in rows] == ["外呼线路·语音网关离线", "外呼线路·语音网关恢复"]
        assert d.state == "up" and lines.dial_targets(s)[0].id == d.id
        assert s.scalar(select(LineCheck).where(LineCheck.kind == "options").order_by(LineCheck.id.desc())).ok
        assert len(lines.history(s, kind="options", device_id=d.id)[0]) == 6


def test_test_call_passes_when_answered(db, gateway):
    sim, gw = gateway
    with db.session() as s:
        d = lines.create_device(s, data={"name": "SMG-1", "host": gw.host, "sip_port": gw.port, "line_group": "hotline",
                                         "test_number": "13900000001"})
        lines.create_caller_id(s, data={"number": "02162380001", "line_group": "hotline"})
        row = line_checks.test_call(s, d.id, now=T0, max_call_s=2)
        assert row.ok and row.kind == "test_call" and row.data["result"] == "answered" and row.data["dtmf"] == "1"
        assert row.detail.startswith("接通（SIP 200）") and "收到按键 1" in row.detail
        assert d.last_test_ok is True and d.last_test_at == T0 and d.last_test_result == "answered"
        assert "02162380001" in sim.calls[-1]["from"]  # the group's caller ID is presented
        lines.update_device(s, d.id, data={"test_number": "13900000002"})
        row = line_checks.test_call(s, d.id, now=T0 + timedelta(hours=6))
        assert not row.ok and row.data["sip_code"] == 486 and row.detail.startswith("忙（SIP 486）")
        assert d.last_test_ok is False
        h = lines.health(s, now=T0 + timedelta(hours=7))["devices"][0]
        assert (h["tests_7d"], h["passed_7d"], h["pass_rate_7d"]) == (2, 1, 0.5)
        lines.update_device(s, d.id, data={"test_number": ""})
        with pytest.raises(Invalid):
            line_checks.test_call(s, d.id)


def test_test_call_to_a_dead_gateway_is_unreachable(db):
    with db.session() as s:
        d = lines.create_device(s, data={"name": "SMG-X", "host": "127.0.0.1", "sip_port": closed_udp_port(),
                                         "test_number": "13900000001"})
        lines.update_settings(s, by="t", changes={"test_ring_timeout_s": 5})
        row = line_checks.test_call(s, d.id, now=T0)
        assert not row.ok and row.data["result"] in ("unreachable", "failed")


def test_jobs_registered_and_run(db, gateway):
    _sim, gw = gateway
    sch = Scheduler(db)
    line_jobs.register(sch)
    assert {n: (j.interval_s, j.singleton) for n, j in sch.jobs.items()} == {
        "callout.lines.check": (60, True), "callout.lines.test_call": (600, True), "callout.lines.marking": (3600, True)}
    with db.session() as s:
        d = lines.create_device(s, data={"name": "SMG-1", "host": gw.host, "sip_port": gw.port,
                                         "test_number": "13900000001"})
        lines.create_device(s, data={"name": "off", "host": gw.host, "sip_port": gw.port, "enabled": False,
                                     "test_number": "13900000001"})
        lines.update_settings(s, by="t", changes={"test_max_call_s": 1})
        device_id = d.id
    assert line_jobs.check(db, now=T0) == {"up": 1, "down": 0, "alerts": 0}
    assert line_jobs.test_calls(db, now=T0) == {"passed": 1, "failed": 0}
    assert line_jobs.test_calls(db, now=T0 + timedelta(hours=5)) == {"passed": 0, "failed": 0}  # not due yet
    assert line_jobs.test_calls(db, now=T0 + timedelta(hours=6)) == {"passed": 1, "failed": 0}
    assert line_jobs.markings(db, now=T0) == {}  # no marking service configured
    with db.session() as s:
        d = lines.get_device(s, device_id)
        assert d.last_test_at == T0 + timedelta(hours=6)
        d.state = "down"
        assert line_checks.due_tests(s, T0 + timedelta(days=1)) == []  # a down gateway is not test-called


def test_checks_work_from_inside_a_running_event_loop(db, gateway):
    """An async caller (or a test thread with a loop running) must not break the checks."""
    import asyncio

    _sim, gw = gateway

    async def inside():
        with db.session() as s:
            d = lines.create_device(s, data={"name": "SMG-1", "host": gw.host, "sip_port": gw.port,
                                             "test_number": "13900000001"})
            line_checks.check_device(s, d.id, now=T0)
            row = line_checks.test_call(s, d.id, now=T0, max_call_s=1)
            return d.state, row.ok

    assert asyncio.run(inside()) == ("up", True)
