"""Working calendar (IOT-6 time limits): 7×24 arithmetic, working hours with lunch break,
weekends, the 2026 国庆 holiday with its make-up Saturday, overrides, unknown years, and
working_between as the inverse of add_working."""

from __future__ import annotations

import logging
import random
import time as clock
from datetime import UTC, date, datetime, timedelta

import pytest

from cityops.core.timeutil import SHANGHAI
from cityops.events import calendar as calmod
from cityops.events.calendar import WorkCalendar, cn_holidays, parse_hours


def sh(y, mo, d, h=0, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def local(t: datetime) -> datetime:
    assert t.tzinfo is not None and t.utcoffset() == timedelta(0), "results are in UTC"
    return t.astimezone(SHANGHAI).replace(tzinfo=None)


W = WorkCalendar("workdays")
A = WorkCalendar("24x7")


def test_24x7_is_plain_arithmetic_in_utc():
    start = sh(2026, 10, 1, 23, 50)
    due = A.add_working(start, timedelta(minutes=15))
    assert due == datetime(2026, 10, 1, 16, 5, tzinfo=UTC) and due.tzinfo == UTC
    assert A.working_between(start, due) == timedelta(minutes=15)
    assert A.is_working_time(sh(2026, 10, 3, 3)) and A.next_working_start(start) == start
    assert A.day_info(date(2026, 10, 1)).working


def test_working_hours_and_lunch_break():
    assert W.is_working_time(sh(2026, 11, 25, 9)) and not W.is_working_time(sh(2026, 11, 25, 8, 59))
    assert not W.is_working_time(sh(2026, 11, 25, 12, 30)) and not W.is_working_time(sh(2026, 11, 25, 17, 30))
    # 11:30 + 1 h = 30 min before lunch, 30 min after
    assert local(W.add_working(sh(2026, 11, 25, 11, 30), timedelta(hours=1))) == datetime(2026, 11, 25, 13, 30)
    # ending exactly at a span's end stays there
    assert local(W.add_working(sh(2026, 11, 25, 11), timedelta(hours=1))) == datetime(2026, 11, 25, 12, 0)
    assert W.working_between(sh(2026, 11, 25, 8), sh(2026, 11, 25, 20)) == timedelta(hours=7, minutes=30)


def test_start_outside_hours_begins_at_next_working_start():
    assert local(W.next_working_start(sh(2026, 11, 25, 7))) == datetime(2026, 11, 25, 9)
    assert local(W.next_working_start(sh(2026, 11, 25, 12, 10))) == datetime(2026, 11, 25, 13)
    assert local(W.next_working_start(sh(2026, 11, 25, 18))) == datetime(2026, 11, 26, 9)
    assert local(W.add_working(sh(2026, 11, 25, 19), timedelta(minutes=30))) == datetime(2026, 11, 26, 9, 30)
    assert local(W.add_working(sh(2026, 11, 25, 12, 15), timedelta(minutes=30))) == datetime(2026, 11, 25, 13, 30)


def test_across_a_weekend():
    # Friday 2026-11-27 17:00 + 1 h → 30 min Friday, weekend skipped, Monday 09:30
    assert local(W.add_working(sh(2026, 11, 27, 17), timedelta(hours=1))) == datetime(2026, 11, 30, 9, 30)
    assert local(W.next_working_start(sh(2026, 11, 28, 10))) == datetime(2026, 11, 30, 9)
    assert W.day_info(date(2026, 11, 28)).kind == "weekend"
    assert W.working_between(sh(2026, 11, 27, 17), sh(2026, 11, 30, 9, 30)) == timedelta(hours=1)


def test_2026_national_day_with_make_up_saturday():
    off = [W.day_info(date(2026, 10, d)) for d in range(1, 8)]
    assert all(not i.working and i.kind == "holiday" and i.source == "data" for i in off)
    sat = W.day_info(date(2026, 10, 10))
    assert sat.working and sat.kind == "makeup" and "调休" in sat.reason
    assert W.day_info(date(2026, 9, 20)).kind == "makeup"  # Sunday worked before the break
    # Wed 9/30 16:00 + 2 h: 1.5 h that day, 10/1-10/7 off, Thu 10/8 09:30
    assert local(W.add_working(sh(2026, 9, 30, 16), timedelta(hours=2))) == datetime(2026, 10, 8, 9, 30)
    # Fri 10/9 17:00 + 1 h: the make-up Saturday 10/10 counts
    assert local(W.add_working(sh(2026, 10, 9, 17), timedelta(hours=1))) == datetime(2026, 10, 10, 9, 30)
    # a plain Saturday does not: 10/17 is skipped
    assert local(W.add_working(sh(2026, 10, 16, 17), timedelta(hours=1))) == datetime(2026, 10, 19, 9, 30)
    assert W.working_between(sh(2026, 9, 30, 17), sh(2026, 10, 8, 9)) == timedelta(minutes=30)


def test_shipped_data_covers_2025_and_2026_with_weekend_make_up_days():
    off, on, years = cn_holidays()
    assert {2025, 2026} <= years
    assert all(d.weekday() >= 5 for d in on), "make-up working days fall on weekends"
    assert date(2026, 2, 15) in off and date(2026, 2, 23) in off and date(2026, 2, 14) in on
    assert date(2025, 10, 8) in off and date(2025, 10, 11) in on and date(2025, 1, 1) in off


def test_overrides_beat_the_data_file():
    cal = WorkCalendar("workdays", overrides={date(2026, 10, 10): ("holiday", "区内调整"),
                                              date(2026, 11, 28): ("workday", "防台值守")})
    assert not cal.day_info(date(2026, 10, 10)).working and cal.day_info(date(2026, 10, 10)).source == "override"
    assert cal.day_info(date(2026, 11, 28)).working and cal.day_info(date(2026, 11, 28)).name == "防台值守"
    assert local(cal.add_working(sh(2026, 11, 27, 17), timedelta(hours=1))) == datetime(2026, 11, 28, 9, 30)


def test_unknown_year_is_plain_weekdays_and_warns_once(caplog, monkeypatch):
    monkeypatch.setattr(calmod, "_warned_years", set())
    with caplog.at_level(logging.WARNING, logger="cityops.events.calendar"):
        assert W.day_info(date(2031, 1, 1)).working  # a Wednesday; no 元旦 data for 2031
        assert not W.day_info(date(2031, 1, 4)).working  # Saturday
        W.add_working(sh(2031, 3, 3, 9), timedelta(days=10))
    warnings = [r for r in caplog.records if "2031" in r.getMessage()]
    assert len(warnings) == 1


def test_custom_hours_and_invalid_configuration():
    cal = WorkCalendar("workdays", hours=["08:30-11:30", "13:30-18:00"])
    assert local(cal.add_working(sh(2026, 11, 25, 11), timedelta(hours=1))) == datetime(2026, 11, 25, 14)
    assert parse_hours(["13:00-17:30", "09:00-12:00"]) == ((540, 720), (780, 1050))
    assert parse_hours(["00:00-24:00"]) == ((0, 1440),)
    for bad in (["9-12"], ["12:00-09:00"], ["09:00-12:00", "11:00-14:00"], []):
        with pytest.raises(ValueError):
            parse_hours(bad)
    with pytest.raises(ValueError):
        WorkCalendar("sometimes")
    with pytest.raises(ValueError, match="UTC offset"):
        W.add_working(datetime(2026, 11, 25, 9), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        W.add_working(sh(2026, 11, 25, 9), timedelta(minutes=-1))


def test_thirty_working_days_is_fast():
    t0 = clock.perf_counter()
    for _ in range(200):
        due = W.add_working(sh(2026, 9, 1, 9), timedelta(hours=7.5 * 30))
    assert clock.perf_counter() - t0 < 1.0
    # September: 22 weekdays - 9/25 (中秋) + Sunday 9/20 (调休) = 22 working days; the other 8 are
    # 10/8, 10/9, Saturday 10/10 (调休), 10/12-10/16
    assert W.working_between(sh(2026, 9, 1, 9), due) == timedelta(hours=7.5 * 30)
    assert local(due) == datetime(2026, 10, 16, 17, 30)


@pytest.mark.parametrize("cal", [W, A], ids=["workdays", "24x7"])
def test_working_between_inverts_add_working(cal):
    rng = random.Random(20261001)
    base = sh(2025, 1, 1)
    for _ in range(400):
        start = base + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))
        dur = timedelta(minutes=rng.choice([1, 15, 30, 90, 450, 1350, rng.randrange(1, 20000)]))
        due = cal.add_working(start, dur)
        assert cal.working_between(start, due) == dur, (start, dur, due)
        assert due >= start
        # one minute earlier there was not yet enough working time
        assert cal.working_between(start, due - timedelta(minutes=1)) < dur
