"""Hardware preventive maintenance schedules and spare parts (HW, ROOM-2)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow

INTERVAL_UNITS = {"month": "月", "week": "周"}
MOVEMENT_REASONS = {"purchase": "采购入库", "return": "退回入库", "repair": "维修领用", "adjust": "盘点调整",
                    "scrap": "报废出库"}


class HwSchedule(Audited, Base):
    """Preventive maintenance of one hardware line: every `interval` months or weeks per unit,
    counted from the unit's last "preventive" maintenance record (else from `first_due`)."""

    __tablename__ = "hw_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("hardware_lines.id", ondelete="CASCADE"), unique=True)
    interval: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(8), default="month")
    checklist: Mapped[str] = mapped_column(Text, default="")
    first_due: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SparePart(Audited, Base):
    __tablename__ = "hw_spare_parts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64), default="")
    line_id: Mapped[int | None] = mapped_column(ForeignKey("hardware_lines.id", ondelete="SET NULL"), default=None,
                                                index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    location: Mapped[str] = mapped_column(String(64), default="")
    min_stock: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(Text, default="")


class StockMovement(Base):
    """One stock change (append-only): `delta` > 0 in, < 0 out; `record_id` the repair it served."""

    __tablename__ = "hw_stock_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("hw_spare_parts.id", ondelete="CASCADE"), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    record_id: Mapped[int | None] = mapped_column(ForeignKey("maintenance_records.id", ondelete="SET NULL"),
                                                  default=None, index=True)
    quantity_after: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(64), default="")
