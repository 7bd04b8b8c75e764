"""API shapes for products, devices, versions and tags."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from cityops.core.schemas import LocalTime, Out


class ProductOut(Out):
    id: int
    code: str
    name: str
    device_type: str
    vendor: str
    platform: str
    vendor_product_key: str
    model_no: str
    report_interval_s: int
    properties: list[dict[str, Any]]
    events: list[dict[str, Any]]
    decoder: str
    version: int


class ProductCreate(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    device_type: str
    vendor: str = ""
    platform: str = ""
    vendor_product_key: str = ""
    model_no: str = ""
    report_interval_s: int = 3600
    properties: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)
    decoder: str = ""


class ProductUpdate(BaseModel):
    name: str | None = None
    device_type: str | None = None
    vendor: str | None = None
    platform: str | None = None
    vendor_product_key: str | None = None
    model_no: str | None = None
    report_interval_s: int | None = None
    properties: list[dict[str, Any]] | None = None
    events: list[dict[str, Any]] | None = None
    decoder: str | None = None


class TagOut(Out):
    id: int
    category: str
    name: str
    color: str
    unit_id: int | None
    description: str


class TagCreate(BaseModel):
    category: str
    name: str = Field(min_length=1, max_length=64)
    color: str = ""
    unit_id: int | None = None
    description: str = ""


class DeviceOut(BaseModel):
    id: int
    code: str
    name: str
    product_id: int
    device_type: str
    vendor: str
    platform: str
    external_id: str
    connection_id: int | None
    imei: str
    iccid: str
    address: str
    lon: float | None
    lat: float | None
    street_code: str | None
    grid_code: str | None
    unit_id: int | None
    install_date: date | None
    status: str
    parent_id: int | None
    report_interval_s: int | None
    extra: dict[str, Any]
    version: int
    tags: list[str]
    online: bool | None
    last_seen_at: LocalTime | None
    last_data_at: LocalTime | None
    last_values: dict[str, Any]
    created_at: LocalTime
    updated_at: LocalTime

    @classmethod
    def of(cls, d) -> DeviceOut:
        data = {name: getattr(d, name) for name in cls.model_fields if name != "tags"}
        data["tags"] = [f"{t.category}:{t.name}" for t in d.tags]
        data["extra"] = d.extra or {}
        data["last_values"] = d.last_values or {}
        return cls(**data)


class DeviceCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    product_id: int
    external_id: str = Field(min_length=1, max_length=128)
    platform: str | None = None
    connection_id: int | None = None
    imei: str = ""
    iccid: str = ""
    address: str = ""
    lon: float | None = None
    lat: float | None = None
    street_code: str | None = None
    grid_code: str | None = None
    unit_id: int | None = None
    install_date: date | None = None
    status: str = "active"
    parent_id: int | None = None
    report_interval_s: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


class DeviceUpdate(BaseModel):
    name: str | None = None
    product_id: int | None = None
    external_id: str | None = None
    connection_id: int | None = None
    imei: str | None = None
    iccid: str | None = None
    address: str | None = None
    lon: float | None = None
    lat: float | None = None
    street_code: str | None = None
    grid_code: str | None = None
    unit_id: int | None = None
    install_date: date | None = None
    status: str | None = None
    parent_id: int | None = None
    report_interval_s: int | None = None
    extra: dict[str, Any] | None = None
    reason: str = Field(default="", max_length=256)


class VersionOut(Out):
    version: int
    at: LocalTime
    actor: str
    reason: str
    source: str
    changes: dict[str, Any]


class MessageOut(Out):
    id: int
    kind: str
    ts: LocalTime
    received_at: LocalTime
    body: dict[str, Any]


class TagRequest(BaseModel):
    """Tag the listed devices, or every device matching the filter (IOT-3)."""

    device_ids: list[int] | None = None
    remove: bool = False
    reason: str = ""
    street: str | None = None
    grid: str | None = None
    device_type: str | None = None
    vendor: str | None = None
    platform: str | None = None
    status: str | None = None
    q: str | None = None
