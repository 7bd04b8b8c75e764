"""Working calendar for event time limits (IOT-6): 7×24, or working hours on working days
with Chinese public holidays off and make-up working days (调休) on.

Pure Python, no database: ``events.sla.calendar_for`` builds one with the office's overrides.
Times go in and come out timezone-aware in UTC; the arithmetic runs in Asia/Shanghai (no DST,
so a day is always 24 h). Loops step by working interval and by day, never by minute.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources

from cityops.core.timeutil import SHANGHAI

log = logging.getLogger(__name__)

MODES = ("24x7", "workdays")
DEFAULT_HOURS = ("09:00-12:00", "13:00-17:30")
MAX_DAYS = 3 * 366  # a limit no real deadline reaches; guards against a calendar with no working time
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_warned_years: set[int] = set()


@dataclass(frozen=True)
class DayInfo:
    """Why a day is (not) worked: kind is weekday | weekend | holiday | makeup | allday (7×24), source is
    data (the shipped State Council file), override (the office's table) or default."""

    day: date
    working: bool
    kind: str
    name: str = ""
    source: str = "default"

    @property
    def reason(self) -> str:
        label = {"weekday": "工作日", "weekend": "周末休息", "holiday": "法定节假日", "makeup": "调休上班",
                 "allday": "7×24 全天计时"}[self.kind]
        return f"{label}（{self.name}）" if self.name else label


@lru_cache(maxsize=1)
def cn_holidays() -> tuple[dict[date, str], dict[date, str], frozenset[int]]:
    """The shipped arrangement: (days off → name, make-up working days → name, years covered)."""
    raw = json.loads(resources.files("cityops.events").joinpath("data/holidays_cn.json").read_text("utf-8"))
    off: dict[date, str] = {}
    on: dict[date, str] = {}
    for year in raw["years"].values():
        for h in year["holidays"]:
            d, end = date.fromisoformat(h["from"]), date.fromisoformat(h["to"])
            while d <= end:
                off[d] = h["name"]
                d += timedelta(days=1)
        for w in year["workdays"]:
            on[date.fromisoformat(w["date"])] = w["name"]
    return off, on, frozenset(int(y) for y in raw["years"])


def parse_hours(spans: list[str] | tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """["09:00-12:00", …] → ((540, 720), …) minutes after midnight; sorted, non-overlapping."""
    out = []
    for s in spans:
        m = _SPAN.match(s.strip())
        if not m:
            raise ValueError(f"working hours must look like 09:00-12:00, not {s!r}")
        a, b = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
        if b > 1440 or b <= a:
            raise ValueError(f"working hours {s!r} must end after they start, within the day")
        out.append((a, b))
    out.sort()
    if not out:
        raise ValueError("a workdays calendar needs at least one working-hours span")
    for (_, b1), (a2, _) in itertools.pairwise(out):
        if a2 < b1:
            raise ValueError("working-hours spans overlap")
    return tuple(out)


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("give times with their UTC offset")
    return dt.astimezone(UTC)


class WorkCalendar:
    """``mode`` 24x7 (every minute counts) or workdays (``hours`` on working days).

    ``overrides``: date → ("holiday" | "workday", name), applied over the shipped data."""

    def __init__(self, mode: str = "workdays", *, hours: list[str] | tuple[str, ...] = DEFAULT_HOURS,
                 overrides: dict[date, tuple[str, str]] | None = None):
        if mode not in MODES:
            raise ValueError(f"calendar mode must be one of {', '.join(MODES)}")
        self.mode = mode
        self.hours = parse_hours(hours)
        self.overrides = dict(overrides or {})

    # -- days ---------------------------------------------------------------------------
    def day_info(self, d: date) -> DayInfo:
        if self.mode == "24x7":
            return DayInfo(d, True, "allday")
        if d in self.overrides:
            kind, name = self.overrides[d]
            return DayInfo(d, kind == "workday", "makeup" if kind == "workday" else "holiday", name, "override")
        off, on, years = cn_holidays()
        if d in off:
            return DayInfo(d, False, "holiday", off[d], "data")
        if d in on:
            return DayInfo(d, True, "makeup", on[d], "data")
        if d.year not in years and d.year not in _warned_years:
            _warned_years.add(d.year)
            log.warning("no public-holiday data for %s: counting Monday-Friday as working days; "
                        "add the State Council arrangement to events/data/holidays_cn.json", d.year)
        return DayInfo(d, d.weekday() < 5, "weekday" if d.weekday() < 5 else "weekend")

    def _spans(self, d: date):
        """The working spans of a local day as aware Shanghai datetimes."""
        if not self.day_info(d).working:
            return
        midnight = datetime.combine(d, time(0), SHANGHAI)
        for a, b in self.hours:
            yield midnight + timedelta(minutes=a), midnight + timedelta(minutes=b)

    # -- instants -----------------------------------------------------------------------
    def is_working_time(self, t: datetime) -> bool:
        t = _utc(t)
        if self.mode == "24x7":
            return True
        lt = t.astimezone(SHANGHAI)
        return any(a <= lt < b for a, b in self._spans(lt.date()))

    def next_working_start(self, t: datetime) -> datetime:
        """``t`` itself when it is working time, else the start of the next working span."""
        t = _utc(t)
        if self.mode == "24x7":
            return t
        lt = t.astimezone(SHANGHAI)
        d = lt.date()
        for _ in range(MAX_DAYS):
            for a, b in self._spans(d):
                if lt < b:
                    return max(a, lt).astimezone(UTC)
            d += timedelta(days=1)
        raise ValueError("the calendar has no working time in the next three years")

    def add_working(self, start: datetime, duration: timedelta) -> datetime:
        """The deadline: the instant at which ``duration`` of working time after ``start`` has passed.

        A deadline that lands exactly on the end of a span stays there (12:00, not 13:00)."""
        start = _utc(start)
        if duration < timedelta(0):
            raise ValueError("a time limit cannot be negative")
        if self.mode == "24x7" or not duration:
            return start + duration
        left = duration
        lt = start.astimezone(SHANGHAI)
        d = lt.date()
        for _ in range(MAX_DAYS):
            for a, b in self._spans(d):
                if b <= lt:
                    continue
                a = max(a, lt)
                if left <= b - a:
                    return (a + left).astimezone(UTC)
                left -= b - a
            d += timedelta(days=1)
        raise ValueError("the time limit does not end within three years on this calendar")

    def working_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time elapsed from ``a`` to ``b`` (zero when b is not after a)."""
        a, b = _utc(a), _utc(b)
        if b <= a:
            return timedelta(0)
        if self.mode == "24x7":
            return b - a
        la, lb = a.astimezone(SHANGHAI), b.astimezone(SHANGHAI)
        total = timedelta(0)
        d = la.date()
        while d <= lb.date():
            for s, e in self._spans(d):
                lo, hi = max(s, la), min(e, lb)
                if hi > lo:
                    total += hi - lo
            d += timedelta(days=1)
        return total

    def days(self, first: date, last: date) -> list[DayInfo]:
        out, d = [], first
        while d <= last:
            out.append(self.day_info(d))
            d += timedelta(days=1)
        return out

    def hours_label(self) -> str:
        if self.mode == "24x7":
            return "00:00-24:00（7×24）"
        return "、".join(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in self.hours)
