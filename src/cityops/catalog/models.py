"""Maintained systems and modules (SYS-*) and the machine-room hardware (HW)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow

CRITICALITY = ("high", "medium", "low")
ASSET_STATUS = ("in_service", "spare", "faulty", "under_repair", "retired")
MAINTENANCE_KINDS = ("inspection", "preventive", "repair", "replacement", "firmware", "configuration", "other")


class System(Audited, Base):
    __tablename__ = "systems"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)  # SYS-DUTY …
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64), default="")
    criticality: Mapped[str] = mapped_column(String(8), default="medium")
    description: Mapped[str] = mapped_column(Text, default="")
    modules: Mapped[list[Module]] = relationship(back_populates="system", order_by="Module.seq")


class Module(Audited, Base):
    __tablename__ = "modules"
    __table_args__ = (UniqueConstraint("system_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # the row number in the seed's table
    section: Mapped[str] = mapped_column(String(64), default="")  # e.g. 场景算法, 安全运营
    name: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(64), default="")
    criticality: Mapped[str] = mapped_column(String(8), default="medium")
    health_check_url: Mapped[str] = mapped_column(String(512), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    system: Mapped[System] = relationship(back_populates="modules")


class HardwareLine(Audited, Base):
    """One row of the seed's hardware table (HW): a product, model and quantity."""

    __tablename__ = "hardware_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    product: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(8), default="台")
    location: Mapped[str] = mapped_column(String(64))


class Asset(Audited, Base):
    """One physical unit of a hardware line, with its own tag, serial and warranty."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_tag: Mapped[str] = mapped_column(String(32), unique=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("hardware_lines.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64))
    serial: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    location: Mapped[str] = mapped_column(String(64))
    rack: Mapped[str] = mapped_column(String(32), default="")
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="in_service")
    warranty_start: Mapped[date | None] = mapped_column(Date, default=None)
    warranty_end: Mapped[date | None] = mapped_column(Date, default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    line: Mapped[HardwareLine] = relationship()


class MaintenanceRecord(Audited, Base):
    __tablename__ = "maintenance_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    performed_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    performed_by: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(128), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    ticket_id: Mapped[int | None] = mapped_column(Integer, default=None)  # service-desk ticket (plain id)
