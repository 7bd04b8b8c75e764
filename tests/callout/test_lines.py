"""Lines service (CALL-3): gateway / IP phone and caller-ID registry with validation, the
settings, line health and `dial_targets` (what the dialer sends calls to)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.audit.models import AuditEntry
from cityops.callout import lines
from cityops.callout.line_models import LineCheck
from cityops.core.errors import Conflict, Invalid, Problem

T0 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def gw(s, name="SMG-1", **extra):
    data = {"name": name, "model": "SMG1000-D40", "host": "10.1.2.3", "sip_port": 5060, "ports": 30,
            "line_group": "hotline", "username": "trunk", "password": "pw", **extra}
    return lines.create_device(s, data=data)


def test_create_validates_in_chinese(db):
    with db.session() as s:
        d = gw(s, test_number="139 0000 0001")
        assert d.kind == "gateway" and d.test_number == "+8613900000001" and d.state == "unknown"
        for bad, words in [({"host": "10.1.2"}, "不是有效"), ({"host": "http://x"}, "不是有效"),
                           ({"host": ""}, "网关地址"), ({"ports": 0}, "1～480"), ({"ports": 481}, "1～480"),
                           ({"sip_port": 70000}, "SIP 端口"), ({"test_number": "110"}, "测试号码无效"),
                           ({"kind": "pbx"}, "设备类型"), ({"http_status_url": "ftp://x"}, "http://"),
                           ({"name": ""}, "名称"), ({"ports": "x"}, "整数")]:
            with pytest.raises(Invalid) as e:
                gw(s, name=f"n{len(words)}{bad}", **bad) if "name" not in bad else lines.create_device(
                    s, data={"host": "10.0.0.1", **bad})
            assert words in e.value.detail, (bad, e.value.detail)
        with pytest.raises(Conflict):
            gw(s)
        phone = lines.create_device(s, data={"kind": "ip_phone", "name": "值班室话机", "host": "gw.changning.local"})
        assert phone.host == "gw.changning.local" and phone.ports == 1


def test_update_keeps_password_and_resets_state_on_new_address(db):
    with db.session() as s:
        d = gw(s)
        d.state, d.sip_ok = "up", True
        lines.update_device(s, d.id, data={"password": "******", "note": "机房 A"})
        assert d.password == "pw" and d.note == "机房 A" and d.state == "up"
        lines.update_device(s, d.id, data={"host": "10.1.2.4"})
        assert d.state == "unknown" and d.sip_ok is None
        lines.update_device(s, d.id, data={"password": "new", "test_number": ""})
        assert d.password == "new" and d.test_number == ""
        gw(s, name="SMG-2")
        with pytest.raises(Conflict):
            lines.update_device(s, d.id, data={"name": "SMG-2"})
        with pytest.raises(Problem) as e:
            lines.update_device(s, 999, data={})
        assert e.value.status == 404 and "不存在" in e.value.detail


def test_password_stays_out_of_the_audit_chain(db):
    with db.session() as s:
        d = gw(s, password="very-secret")
        d.state, d.last_checked_at = "up", T0  # status writes are not audited
        s.flush()
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "callout_line_devices")))
        assert len(entries) == 1 and entries[0].action == "create"
        assert "very-secret" not in str(entries[0].after) and "password" not in entries[0].after


def test_caller_ids_normalised_unique_and_reset_on_new_number(db):
    with db.session() as s:
        c = lines.create_caller_id(s, data={"number": "021-6238 0001", "line_group": "hotline", "carrier": "电信"})
        assert c.number_e164 == "+862162380001" and c.marking == "unknown"
        with pytest.raises(Conflict):
            lines.create_caller_id(s, data={"number": "02162380001"})
        with pytest.raises(Invalid) as e:
            lines.create_caller_id(s, data={"number": "12345"})
        assert "外显号码无效" in e.value.detail
        c.marking, c.label = "marked", "骚扰电话"
        lines.update_caller_id(s, c.id, data={"carrier": "联通"})
        assert c.marking == "marked"
        lines.update_caller_id(s, c.id, data={"number": "02162380002"})
        assert c.marking == "unknown" and c.label == ""
        lines.delete_caller_id(s, c.id)
        assert lines.list_caller_ids(s) == []


def test_dial_targets_enabled_not_down_best_first(db):
    """CALL-1/CALL-3: the dialer gets healthy gateways of the group; down or disabled ones never."""
    with db.session() as s:
        a = gw(s, "A", ports=8)
        b = gw(s, "B", ports=30)
        c = gw(s, "C", ports=30)
        down = gw(s, "D")
        off = gw(s, "E", enabled=False)
        other = gw(s, "F", line_group="notice")
        lines.create_device(s, data={"kind": "ip_phone", "name": "话机", "host": "10.0.0.9", "line_group": "hotline"})
        for d, state in ((a, "up"), (b, "up"), (c, "unknown"), (down, "down"), (off, "up"), (other, "up")):
            d.state = state
        b.last_test_ok = False
        s.flush()
        got = lines.dial_targets(s, "hotline")
        assert [t.name for t in got] == ["A", "B", "C"]
        assert got[0] == lines.GatewayTarget(id=a.id, name="A", host="10.1.2.3", port=5060, ports=8, username="trunk",
                                             password="pw", line_group="hotline", state="up")
        assert {t.name for t in lines.dial_targets(s)} == {"A", "B", "C", "F"}
        assert lines.dial_targets(s, "none") == []


def test_health_summary_with_pass_rate(db):
    with db.session() as s:
        d = gw(s)
        d.state = "up"
        for i, ok in enumerate([True, True, False, True]):
            s.add(LineCheck(kind="test_call", subject=d.name, device_id=d.id, ok=ok, at=T0 - timedelta(hours=i)))
        s.add(LineCheck(kind="test_call", subject=d.name, device_id=d.id, ok=False, at=T0 - timedelta(days=8)))
        s.add(LineCheck(kind="options", subject=d.name, device_id=d.id, ok=True, detail="ok", at=T0))
        lines.create_caller_id(s, data={"number": "02162380001"}).marking = "marked"
        s.flush()
        h = lines.health(s, now=T0)
        [row] = h["devices"]
        assert row["tests_7d"] == 4 and row["passed_7d"] == 3 and row["pass_rate_7d"] == 0.75
        assert row["options"].detail == "ok" and row["test_call"].at == T0 and row["http"] is None
        assert h["counts"] == {"devices": 1, "up": 1, "down": 0, "unknown": 0, "disabled": 0, "ports_up": 30,
                               "caller_ids": 1, "marked": 1}
        rows, total = lines.history(s, kind="test_call", ok=False)
        assert total == 2 and rows[0].at == T0 - timedelta(hours=2)
        with pytest.raises(Invalid):
            lines.history(s, kind="ping")


def test_settings_mask_the_api_key_and_check_recipients(db):
    from cityops.duty import service as duty

    with db.session() as s:
        assert lines.get_settings(s)["test_interval_h"] == 6
        lines.update_settings(s, by="admin", changes={"marking_base_url": "http://mark.example/api/",
                                                      "marking_api_key": "k-1"})
        pub = lines.public_settings(s)
        assert pub["marking_api_key"] == "******" and pub["marking_base_url"] == "http://mark.example/api"
        lines.update_settings(s, by="admin", changes={"marking_api_key": "******", "test_interval_h": 12})
        assert lines.get_settings(s)["marking_api_key"] == "k-1" and lines.get_settings(s)["test_interval_h"] == 12
        with pytest.raises(Invalid):
            lines.update_settings(s, by="admin", changes={"notify_team": "ghost"})
        with pytest.raises(Invalid):
            lines.update_settings(s, by="admin", changes={"notify_channels": [999]})
        with pytest.raises(Invalid):
            lines.update_settings(s, by="admin", changes={"marking_base_url": "mark.example"})
        duty.create_team(s, code="centre", name="城运中心值班组")
        assert lines.update_settings(s, by="admin", changes={"notify_team": "centre"})["notify_team"] == "centre"
        assert lines.alert(s, title="t", text="x", severity="major", dedup_prefix="p") == 0  # no channel configured
