"""Call statistics rollups and queries (CALL-5): record_call upserts the daily and monthly
rollups (also when two writers add to the same row at once), rebuild gives the same rollups as
the incremental path, and the year / months / days queries read them."""

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from cityops.callout import stats
from cityops.callout.campaign_models import CallRecord
from cityops.callout.stats_models import CallStatDaily, CallStatMonthly
from cityops.core.errors import Invalid


def utc(*a):
    return datetime(*a, tzinfo=UTC)


def add_call(s, at, scenario="hotline_callback", result="answered", satisfaction=None, outcome="", duration=30.0):
    rec = CallRecord(scenario=scenario, number_e164="+8613912345678", started_at=at, result=result,
                     satisfaction=satisfaction, outcome=outcome, duration_s=duration, adapter="sim")
    s.add(rec)
    s.flush()
    stats.record_call(s, rec)
    return rec


CALLS = [
    # 2025-12-31 16:30 UTC is 2026-01-01 00:30 in Beijing: it counts on New Year's day.
    (utc(2025, 12, 31, 16, 30), "hotline_callback", "answered", "满意", "hangup", 40.0),
    (utc(2025, 12, 31, 15, 59), "hotline_callback", "answered", "不满意", "hangup", 20.0),
    (utc(2026, 1, 1, 2), "hotline_callback", "answered", "满意", "hangup", 35.5),
    (utc(2026, 1, 1, 3), "hotline_callback", "no_answer", None, "", 0.0),
    (utc(2026, 1, 2, 3), "hotline_callback", "answered", None, "opt_out", 12.0),
    (utc(2026, 1, 2, 4), "notice", "busy", None, "", 0.0),
    (utc(2026, 2, 10, 4), "notice", "answered", None, "hangup", 25.0),
    (utc(2026, 2, 10, 5), "notice", "power_off", None, "", 0.0),  # a result the code does not list: kept
    (utc(2026, 3, 5, 1), "emergency", "suspended", None, "", 0.0),
    (utc(2026, 3, 5, 2), "emergency", "answered", None, "hangup", 60.0),
]


@pytest.fixture
def calls(db):
    with db.session() as s:
        for at, sc, res, sat, out, dur in CALLS:
            add_call(s, at, sc, res, sat, out, dur)


def _rollups(db):
    with db.session() as s:
        daily = sorted((r.day, r.scenario, r.result, r.calls, r.satisfied, r.dissatisfied, r.opt_outs,
                        round(r.duration_s, 3)) for r in s.scalars(select(CallStatDaily)))
        monthly = sorted((r.month, r.scenario, r.result, r.calls, r.satisfied, r.dissatisfied, r.opt_outs,
                          round(r.duration_s, 3)) for r in s.scalars(select(CallStatMonthly)))
    return daily, monthly


def test_record_call_upserts_beijing_day_rows(db, calls):
    daily, monthly = _rollups(db)
    # New Year's day in Beijing: the 16:30 UTC call of Dec 31 plus two calls on Jan 1 UTC morning
    jan1 = [r for r in daily if r[0] == date(2026, 1, 1) and r[1] == "hotline_callback"]
    assert (date(2026, 1, 1), "hotline_callback", "answered", 2, 2, 0, 0, 75.5) in jan1
    assert (date(2026, 1, 1), "hotline_callback", "no_answer", 1, 0, 0, 0, 0.0) in jan1
    assert (date(2025, 12, 31), "hotline_callback", "answered", 1, 0, 1, 0, 20.0) in daily
    assert (date(2026, 1, 1), "hotline_callback", "answered", 3, 2, 0, 1, 87.5) in monthly
    assert sum(r[3] for r in daily) == sum(r[3] for r in monthly) == len(CALLS)


def test_rebuild_equals_incremental(db, calls):
    before = _rollups(db)
    with db.session() as s:
        built = stats.rebuild(s)
    assert built == {"since": "2025-12-31", "rows": len(before[0]), "calls": len(CALLS)}
    assert _rollups(db) == before
    # a partial rebuild from a day on leaves the earlier days as they were
    with db.session() as s:
        stats.rebuild(s, since=date(2026, 2, 10))
    assert _rollups(db) == before


def test_rebuild_keeps_days_whose_records_are_gone(db, calls):
    """Statistics survive retention (CALL-2): rebuilding after old records are deleted keeps them."""
    before = _rollups(db)
    with db.session() as s:
        for rec in s.scalars(select(CallRecord).where(CallRecord.started_at < utc(2026, 1, 31, 16))):
            s.delete(rec)
    with db.session() as s:
        assert stats.rebuild(s)["since"] == "2026-02-10"
    assert _rollups(db) == before


def test_rebuild_repairs_damaged_rollups(db, calls):
    before = _rollups(db)
    with db.session() as s:
        for r in s.scalars(select(CallStatDaily)):
            r.calls += 5
        s.query(CallStatMonthly).delete()
    with db.session() as s:
        stats.rebuild(s)
    assert _rollups(db) == before


def test_concurrent_upserts_on_one_row_all_count(db):
    """Two writers adding to the same (day, scenario, result) row at once: none is lost."""
    n, workers = 25, 2
    barrier = threading.Barrier(workers)
    errors = []

    def work():
        try:
            barrier.wait()
            for _ in range(n):
                with db.session() as s:
                    add_call(s, utc(2026, 5, 1, 3), "notice", "answered", duration=1.0)
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    daily, monthly = _rollups(db)
    assert daily == [(date(2026, 5, 1), "notice", "answered", n * workers, 0, 0, 0, float(n * workers))]
    assert monthly == [(date(2026, 5, 1), "notice", "answered", n * workers, 0, 0, 0, float(n * workers))]


def test_record_call_rolls_back_with_the_caller(db):
    with pytest.raises(RuntimeError), db.session() as s:
        add_call(s, utc(2026, 5, 1, 3))
        raise RuntimeError("dial failed after the record")
    assert _rollups(db) == ([], [])


def test_year_query(db, calls):
    with db.session() as s:
        y = stats.year(s, year=2026)
        empty = stats.year(s, year=2024)
    rows = {r["scenario"]: r for r in y["scenarios"]}
    assert [r["scenario"] for r in y["scenarios"]] == ["hotline_callback", "emergency", "notice"]
    cb = rows["hotline_callback"]
    assert (cb["calls"], cb["answered"], cb["satisfied"], cb["dissatisfied"], cb["opt_outs"]) == (4, 3, 2, 0, 1)
    assert cb["answered_rate"] == 0.75 and cb["satisfaction_rate"] == 1.0
    assert cb["results"]["no_answer"] == 1 and cb["results"]["answered"] == 3
    assert rows["notice"]["satisfaction_rate"] is None and rows["notice"]["results"]["power_off"] == 1
    assert y["results"] == ["answered", "no_answer", "busy", "power_off", "suspended"]
    assert y["result_labels"]["power_off"] == "关机"
    assert y["total"]["calls"] == 9 and y["total"]["answered"] == 5 and y["total"]["label"] == "合计"
    assert empty["scenarios"] == [] and empty["total"]["calls"] == 0 and empty["total"]["answered_rate"] is None


def test_months_and_days_queries(db, calls):
    with db.session() as s:
        m = stats.months(s, year=2026)
        d = stats.days(s, year=2026, month=1)
        feb = stats.days(s, year=2026, month=2)
        assert stats.years_with_data(s) == [2026, 2025]
    assert len(m["months"]) == 12 and m["total"] == 9
    assert m["months"][0] == {"month": 1, "total": 5, "by_scenario": {"hotline_callback": 4, "emergency": 0,
                                                                        "notice": 1}}
    assert m["months"][2]["by_scenario"]["emergency"] == 2 and m["months"][11]["total"] == 0
    assert m["labels"]["hotline_callback"] == "热线回访"
    assert len(d["days"]) == 31 and d["days"][0]["day"] == "2026-01-01" and d["days"][0]["total"] == 3
    assert d["days"][1]["by_scenario"] == {"hotline_callback": 1, "notice": 1}
    assert len(feb["days"]) == 28 and feb["total"] == 2


def test_query_arguments_are_checked(db):
    with db.session() as s:
        with pytest.raises(Invalid):
            stats.days(s, year=2026, month=13)
        with pytest.raises(Invalid):
            stats.year(s, year=1900)


def test_dialled_calls_reach_the_rollups(db):
    """The dialer adds every stored record to the rollups in its own transaction (CALL-5)."""
    from cityops.callout import dialer
    from cityops.callout.telephony import SimCall, SimTelephony
    from tests.callout.test_dialer import MORNING, make_campaign

    sim = SimTelephony(scripted={"+8613900000001": SimCall(["answered"], ["1"]),
                                 "+8613900000002": SimCall(["answered"], ["9"]),
                                 "+8613900000003": SimCall(["busy"])})
    make_campaign(db, [("13900000001", ""), ("13900000002", ""), ("13900000003", "")], max_attempts=1)
    dialer.run_due(db, telephony=sim, now=MORNING)
    incremental = _rollups(db)
    with db.session() as s:
        y = stats.year(s, year=MORNING.year)
        assert sum(r[3] for r in incremental[0]) == s.query(CallRecord).count() == 3
        stats.rebuild(s)
    assert _rollups(db) == incremental
    cb = y["scenarios"][0]
    assert (cb["scenario"], cb["calls"], cb["answered"], cb["satisfied"], cb["opt_outs"]) == (
        "hotline_callback", 3, 2, 1, 1)
    assert cb["results"]["busy"] == 1 and cb["satisfaction_rate"] == 1.0
