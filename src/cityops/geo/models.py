"""District, streets (街镇), responsibility grids (责任网格) and responsible units (IOT-1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow

# Where a boundary came from: the generated partition, or an operator's GeoJSON import.
APPROXIMATE = "approximate"
IMPORTED = "imported"


class District(Audited, Base):
    __tablename__ = "districts"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    outline: Mapped[str] = mapped_column(Text, info={"audit": False})  # GeoJSON geometry, GCJ-02


class Street(Audited, Base):
    __tablename__ = "streets"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # 街道 | 镇
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"))
    approx_lon: Mapped[float] = mapped_column(Float)
    approx_lat: Mapped[float] = mapped_column(Float)
    boundary: Mapped[str] = mapped_column(Text, info={"audit": False})  # GeoJSON geometry, GCJ-02
    boundary_source: Mapped[str] = mapped_column(String(16), default=APPROXIMATE)
    boundary_updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    area_km2: Mapped[float] = mapped_column(Float, default=0.0)


class Grid(Audited, Base):
    __tablename__ = "grids"

    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    street_code: Mapped[str] = mapped_column(ForeignKey("streets.code"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    boundary: Mapped[str] = mapped_column(Text, info={"audit": False})
    boundary_source: Mapped[str] = mapped_column(String(16), default=APPROXIMATE)
    area_km2: Mapped[float] = mapped_column(Float, default=0.0)


class ResponsibleUnit(Audited, Base):
    __tablename__ = "responsible_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # street_office | department | enterprise
    street_code: Mapped[str | None] = mapped_column(ForeignKey("streets.code"), default=None, index=True)
    contact_name: Mapped[str] = mapped_column(String(32), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    duty_phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(128), default="")
    address: Mapped[str] = mapped_column(String(128), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
