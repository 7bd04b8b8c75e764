"""Products (物模型), devices, topology, metadata versions and tags (IOT-1..IOT-4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (Boolean, Date, Float, ForeignKey, Integer, String, Table, Column, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

LIFECYCLE = ("planned", "active", "maintenance", "retired")
LIFECYCLE_LABELS = {"planned": "规划", "active": "在用", "maintenance": "维护中", "retired": "已退役"}

# Changning's device types (IOT-2); labels are what operators read.
DEVICE_TYPES = {
    "smoke": "烟感",
    "manhole": "井盖",
    "water_level": "积水/水位",
    "gas": "可燃气体",
    "electrical_fire": "电气火灾",
    "hydrant": "消火栓水压",
    "garbage_bin": "垃圾桶满溢",
    "noise": "噪声",
    "traffic_counter": "交通流量",
    "civil_defence": "民防工程",
    "camera": "摄像机",
    "gateway": "网关",
    "nvr": "NVR",
}
TAG_CATEGORIES = {"scenario": "应用场景", "unit": "责任单位", "custom": "自定义"}


class Product(Audited, Base):
    """A device model: what it reports (properties, events), units, normal ranges and how
    often it is expected to report (the liveness baseline for IOT-5)."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    device_type: Mapped[str] = mapped_column(String(32), index=True)
    vendor: Mapped[str] = mapped_column(String(64), default="")
    platform: Mapped[str] = mapped_column(String(32), default="")  # connector kind that carries it
    vendor_product_key: Mapped[str] = mapped_column(String(128), default="", index=True)  # productId/productKey
    model_no: Mapped[str] = mapped_column(String(64), default="")
    report_interval_s: Mapped[int] = mapped_column(Integer, default=3600)
    # [{"identifier","name","type","unit","min","max"}]
    properties: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # [{"identifier","name","severity"}]
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    decoder: Mapped[str] = mapped_column(String(32), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


device_tags = Table(
    "device_tags", Base.metadata,
    Column("device_id", ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(Audited, Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("category", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    color: Mapped[str] = mapped_column(String(16), default="")
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_units.id"), default=None)
    description: Mapped[str] = mapped_column(Text, default="")


class Device(Audited, Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # our own number, e.g. CN-IOT-000123
    name: Mapped[str] = mapped_column(String(128))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    device_type: Mapped[str] = mapped_column(String(32), index=True)
    vendor: Mapped[str] = mapped_column(String(64), default="", index=True)
    platform: Mapped[str] = mapped_column(String(32), index=True)  # ctwing, onenet, iotda, aliyun, hikvision …
    external_id: Mapped[str] = mapped_column(String(128))  # the vendor's own id (deviceId, pk/dn, ip:channel …)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id"), default=None, index=True)
    imei: Mapped[str] = mapped_column(String(32), default="", index=True)
    iccid: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[str] = mapped_column(String(256), default="")
    lon: Mapped[float | None] = mapped_column(Float, default=None)  # GCJ-02
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    street_code: Mapped[str | None] = mapped_column(ForeignKey("streets.code"), default=None, index=True)
    grid_code: Mapped[str | None] = mapped_column(String(24), default=None, index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_units.id"), default=None, index=True)
    install_date: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), default=None, index=True)
    report_interval_s: Mapped[int | None] = mapped_column(Integer, default=None)  # overrides the product's
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # vendor metadata we keep as is
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Runtime state, written by ingest; kept out of versions and the audit log.
    online: Mapped[bool | None] = mapped_column(Boolean, default=None, info={"audit": False, "runtime": True})
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None, info={"audit": False, "runtime": True})
    last_data_at: Mapped[datetime | None] = mapped_column(default=None, info={"audit": False, "runtime": True})
    last_values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict,
                                                        info={"audit": False, "runtime": True})

    product: Mapped[Product] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=device_tags, order_by="Tag.category, Tag.name")
    parent: Mapped[Device | None] = relationship(remote_side=[id])


class DeviceVersion(Base):
    """Every metadata change of a device: who, when, why, what (IOT-1, IOT-4)."""

    __tablename__ = "device_versions"
    __table_args__ = (UniqueConstraint("device_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(256), default="")
    source: Mapped[str] = mapped_column(String(32), default="manual")  # manual, import, correction, sync, ingest
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # field → [before, after]
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
