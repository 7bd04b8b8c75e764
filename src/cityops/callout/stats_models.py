"""Daily and monthly call-statistics rollups (CALL-5).

One row per (Beijing day, scenario, result) — and per (month, scenario, result), the sum of
the month's daily rows, so a year query reads at most 12 × scenarios × results rows. The result stays an open string set
(answered, no_answer, busy, power_off, …), so a new result needs no schema change; answered
calls are the `calls` of the rows whose result is "answered". Rows are written by
`stats.record_call` (upsert, in the dialer's transaction) and recomputed by `stats.rebuild`;
retention deletes call records but never these rows, so statistics outlive the records."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cityops.core.db import Base


class CallStatDaily(Base):
    __tablename__ = "callout_stats_daily"
    __table_args__ = (Index("uq_callout_stats_daily_key", "day", "scenario", "result", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column()  # Asia/Shanghai date of started_at
    scenario: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(24))
    calls: Mapped[int] = mapped_column(Integer, default=0)
    satisfied: Mapped[int] = mapped_column(Integer, default=0)  # satisfaction 满意 (回访)
    dissatisfied: Mapped[int] = mapped_column(Integer, default=0)  # satisfaction 不满意
    opt_outs: Mapped[int] = mapped_column(Integer, default=0)  # outcome opt_out (key press)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)


class CallStatMonthly(Base):
    """The same counters per (first day of the Beijing month, scenario, result)."""

    __tablename__ = "callout_stats_monthly"
    __table_args__ = (Index("uq_callout_stats_monthly_key", "month", "scenario", "result", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column()  # the 1st of the month
    scenario: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(24))
    calls: Mapped[int] = mapped_column(Integer, default=0)
    satisfied: Mapped[int] = mapped_column(Integer, default=0)
    dissatisfied: Mapped[int] = mapped_column(Integer, default=0)
    opt_outs: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
