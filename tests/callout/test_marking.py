"""Caller-ID spam marking (CALL-3, 标记查询): the HTTP adapter against the marking simulator over
real HTTP, manual entry, alerts when a number becomes marked and when it is cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.callout import lines, marking
from cityops.callout.line_models import LineCheck
from cityops.core.errors import Invalid
from cityops.notify.models import OutboxMessage
from cityops.sim.marking import MarkingSim, serve
from tests.callout.test_line_checks import on_duty  # noqa: F401 - fixture

T0 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


@pytest.fixture
def service():
    sim = MarkingSim(api_key="k-1", marked={"02162380002": ("广告推销", 12)})
    with serve(sim) as url:
        yield sim, url


def _alerts(s):
    return [m.payload["title"] for m in s.scalars(select(OutboxMessage).where(
        OutboxMessage.dedup_key.like("callout-marking:%")).order_by(OutboxMessage.id))]


def test_http_adapter_against_the_simulator(service):
    sim, url = service
    svc = marking.HttpMarking(url, "k-1", timeout_s=2)
    assert svc.query("02162380002") == marking.MarkingResult(True, "广告推销", 12, "模拟标记平台")
    assert svc.query("02162380001") == marking.MarkingResult(False, "", 0, "模拟标记平台")
    assert sim.queries == ["02162380002", "02162380001"]
    with pytest.raises(marking.MarkingUnavailable, match="401"):
        marking.HttpMarking(url, "wrong").query("02162380001")
    sim.fail("5xx")
    with pytest.raises(marking.MarkingUnavailable, match="503"):
        svc.query("02162380001")
    with pytest.raises(marking.MarkingUnavailable, match="connection failed"):
        marking.HttpMarking("http://127.0.0.1:9", "k").query("02162380001")


def test_query_marks_alerts_once_and_clears(db, service, on_duty):  # noqa: F811
    sim, url = service
    with db.session() as s:
        lines.update_settings(s, by="admin", changes={"marking_base_url": url, "marking_api_key": "k-1"})
        c = lines.create_caller_id(s, data={"number": "02162380002", "line_group": "hotline"})
        row = marking.query_now(s, c.id, now=T0)
        assert not row.ok and c.marking == "marked" and c.label == "广告推销" and c.mark_count == 12
        assert c.marked_since == T0 and c.source == "模拟标记平台" and "广告推销" in row.detail
        assert _alerts(s) == ["外呼线路·外显号码被标记"]
        marking.query_now(s, c.id, now=T0 + timedelta(days=1))  # still marked: no new alert
        assert _alerts(s) == ["外呼线路·外显号码被标记"] and c.marked_since == T0
        sim.clear("02162380002")
        row = marking.query_now(s, c.id, now=T0 + timedelta(days=2))
        assert row.ok and c.marking == "clean" and c.label == "" and c.marked_since is None
        assert _alerts(s) == ["外呼线路·外显号码被标记", "外呼线路·外显号码标记已解除"]
        text = s.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key.like("callout-marking:%"))).payload["text"]
        assert "02162380002" in text and "广告推销" in text


def test_failed_query_keeps_the_marking(db, service):
    sim, url = service
    with db.session() as s:
        lines.update_settings(s, by="admin", changes={"marking_base_url": url, "marking_api_key": "k-1"})
        c = lines.create_caller_id(s, data={"number": "02162380002"})
        marking.query_now(s, c.id, now=T0)
        sim.fail("rate_limit")
        row = marking.query_now(s, c.id, now=T0 + timedelta(hours=1))
        assert not row.ok and "429" in row.data["error"] and row.detail.startswith("查询失败")
        assert c.marking == "marked" and c.checked_at == T0


def test_query_all_daily(db, service):
    sim, url = service
    with db.session() as s:
        assert marking.query_all(s, now=T0) == {}  # not configured
        lines.update_settings(s, by="admin", changes={"marking_base_url": url, "marking_api_key": "k-1"})
        for n in ("02162380001", "02162380002", "13900000001"):
            lines.create_caller_id(s, data={"number": n})
        assert marking.query_all(s, now=T0) == {"checked": 3, "marked": 1, "failed": 0}
        assert marking.query_all(s, now=T0 + timedelta(hours=2)) == {"checked": 0, "marked": 0, "failed": 0}
        sim.fail("5xx")
        assert marking.query_all(s, now=T0 + timedelta(days=1)) == {"checked": 2, "marked": 1, "failed": 1}
        assert len(sim.queries) == 5  # the refused one is not counted by the service
        # The failed one was not marked as checked: the next hourly pass asks again.
        assert marking.query_all(s, now=T0 + timedelta(days=1, hours=1)) == {"checked": 1, "marked": 0, "failed": 0}
        lines.update_settings(s, by="admin", changes={"marking_base_url": ""})
        assert marking.query_all(s, now=T0 + timedelta(days=3)) == {}


def test_manual_entry(db, on_duty):  # noqa: F811
    with db.session() as s:
        c = lines.create_caller_id(s, data={"number": "13900000001"})
        row = marking.record_manual(s, c.id, marked=True, label="骚扰电话", count=37, app="腾讯手机管家", by="duty1",
                                    now=T0)
        assert c.marking == "marked" and c.mark_count == 37 and c.source == "人工录入·duty1·腾讯手机管家"
        assert row.kind == "marking" and not row.ok and _alerts(s) == ["外呼线路·外显号码被标记"]
        with pytest.raises(Invalid, match="标记类型"):
            marking.record_manual(s, c.id, marked=True, label="", by="duty1")
        marking.record_manual(s, c.id, marked=False, by="duty1", now=T0 + timedelta(days=1))
        assert c.marking == "clean" and len(_alerts(s)) == 2
        assert [r.ok for r in s.scalars(select(LineCheck).where(LineCheck.caller_id == c.id).order_by(LineCheck.id))] \
            == [False, True]
        with pytest.raises(Invalid, match="尚未配置"):
            marking.query_now(s, c.id)
