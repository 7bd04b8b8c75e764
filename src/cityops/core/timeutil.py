"""Time: stored in UTC, shown in Asia/Shanghai, serialised as ISO 8601 with offset."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def local(dt: datetime | None) -> datetime | None:
    dt = aware(dt)
    return dt.astimezone(SHANGHAI) if dt else None


def fmt_local(dt: datetime | None, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    dt = local(dt)
    return dt.strftime(pattern) if dt else ""


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) Asia/Shanghai, in UTC: Beijing days start..end inclusive."""
    return (datetime.combine(start, time(), SHANGHAI).astimezone(timezone.utc),
            datetime.combine(end + timedelta(days=1), time(), SHANGHAI).astimezone(timezone.utc))
