"""The compliance gate (CALL-4), one test per rule: invalid number, global and per-scenario
do-not-call, opt-out, list expiry, calling window, daily cap; an emergency broadcast bypasses
the window (and DNC/cap) but never an invalid number; every decision is logged."""

from datetime import UTC, datetime, time, timedelta

import pytest

from cityops.callout import compliance, lists
from cityops.callout.list_models import CallListEntry, GateLog
from cityops.core.errors import Invalid
from cityops.core.timeutil import SHANGHAI

NUM = "13912345678"
E164 = "+8613912345678"
# 10:00 and 13:00 Beijing time on a Wednesday.
MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
LUNCH = datetime(2026, 11, 25, 13, 0, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 11, 25, 23, 30, tzinfo=SHANGHAI)


def _check(s, number=NUM, scenario="hotline_callback", at=MORNING, **kw):
    return compliance.check(s, number=number, scenario=scenario, at=at, **kw)


def test_allowed_call_is_logged(db):
    with db.session() as s:
        d = _check(s)
        assert d.allowed and d.rules == [] and d.reasons == [] and d.number_e164 == E164
    with db.session() as s:
        log = s.query(GateLog).one()
        assert log.allowed and log.number == E164 and log.scenario == "hotline_callback"
        assert log.at.astimezone(UTC) == MORNING.astimezone(UTC)


@pytest.mark.parametrize("number", ["4008123123", "95588", "12345", "1391234567"])
def test_invalid_number_is_refused(db, number):
    with db.session() as s:
        d = _check(s, number=number)
        assert not d.allowed and d.rules == ["invalid_number"] and d.reasons[0].startswith("号码无效")


def test_global_dnc_blocks_every_scenario(db):
    with db.session() as s:
        lists.add_dnc(s, NUM, None, reason="投诉")
        for sc in ("hotline_callback", "notice", "workorder_reminder"):
            d = _check(s, scenario=sc, at=datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
            assert not d.allowed and d.rules == ["dnc_global"] and "全局免打扰" in d.reasons[0]


def test_scenario_dnc_blocks_only_that_scenario(db):
    with db.session() as s:
        lists.add_dnc(s, NUM, "notice")
        d = _check(s, scenario="notice")
        assert not d.allowed and d.rules == ["dnc_scenario"] and "信息提醒" in d.reasons[0]
        assert _check(s, scenario="hotline_callback").allowed


def test_opt_out_is_honoured_on_the_next_check(db):
    with db.session() as s:
        assert _check(s).allowed
        lists.opt_out(s, NUM, "hotline_callback", via="key_press")
        d = _check(s)
        assert not d.allowed and d.rules == ["opt_out"] and "退订" in d.reasons[0]
        assert _check(s, scenario="notice").allowed


def test_expired_list_is_refused(db):
    with db.session() as s:
        r = lists.import_list(s, f"电话\n{NUM}\n".encode(), "x.csv", name="旧名单", scenario="hotline_callback",
                              valid_until=MORNING - timedelta(minutes=30))
        entry = s.query(CallListEntry).filter_by(list_id=r.list_id).one()
        d = _check(s, list_entry=entry)
        assert not d.allowed and d.rules == ["list_expired"] and "旧名单" in d.reasons[0]
        assert _check(s, list_entry=entry, at=MORNING - timedelta(minutes=45)).allowed


def test_calling_window(db):
    with db.session() as s:
        for at in (LUNCH, NIGHT, datetime(2026, 11, 25, 8, 59, tzinfo=SHANGHAI)):
            d = _check(s, at=at)
            assert not d.allowed and d.rules == ["outside_window"] and "09:00–12:00" in d.reasons[0]
        assert _check(s, at=datetime(2026, 11, 25, 14, 0, tzinfo=SHANGHAI)).allowed
        # The window is local time: 02:00 UTC is 10:00 in Shanghai.
        assert _check(s, at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC)).allowed
        # A caller-supplied window overrides the scenario default; duty checks have none.
        assert _check(s, at=LUNCH, windows=((time(12), time(14)),)).allowed
        assert _check(s, at=NIGHT, scenario="duty_check").allowed
        assert _check(s, at=NIGHT, priority="highest").allowed


def test_daily_cap_across_campaigns(db):
    with db.session() as s:
        compliance.record_dial(s, E164, "hotline_callback", MORNING - timedelta(hours=1))
        compliance.record_dial(s, E164, "notice", MORNING - timedelta(minutes=30))
        compliance.record_dial(s, "+8613800001111", "notice", MORNING)  # someone else
        compliance.record_dial(s, E164, "notice", MORNING - timedelta(days=1))  # yesterday
        assert _check(s).allowed
        compliance.record_dial(s, E164, "workorder_reminder", MORNING - timedelta(minutes=5))
        d = _check(s)
        assert not d.allowed and d.rules == ["daily_cap"] and "3 次" in d.reasons[0]
        assert _check(s, daily_cap=4).allowed
        # The next Beijing day starts afresh.
        assert _check(s, at=MORNING + timedelta(days=1)).allowed


def test_emergency_bypasses_window_dnc_and_cap_but_not_an_invalid_number(db):
    with db.session() as s:
        lists.add_dnc(s, NUM, None)
        lists.opt_out(s, NUM, "emergency")
        for i in range(5):
            compliance.record_dial(s, E164, "emergency", NIGHT - timedelta(minutes=i + 1))
        d = _check(s, scenario="emergency", at=NIGHT)
        assert d.allowed and d.rules == []
        bad = _check(s, number="110", scenario="emergency", at=NIGHT)
        assert not bad.allowed and bad.rules == ["invalid_number"]


def test_several_failures_are_all_reported_and_logged(db):
    with db.session() as s:
        lists.add_dnc(s, NUM, None)
        d = _check(s, at=NIGHT)
        assert d.rules == ["dnc_global", "outside_window"] and len(d.reasons) == 2
    with db.session() as s:
        log = s.query(GateLog).one()
        assert not log.allowed and log.rules == ["dnc_global", "outside_window"] and log.reasons == d.reasons


def test_unknown_scenario(db):
    with db.session() as s, pytest.raises(Invalid):
        _check(s, scenario="marketing")
