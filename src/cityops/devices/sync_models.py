"""Upstream device sync (IOT-4 设备升级维护): sync sources, change sets and their items.

A *sync source* says where a connection's vendor/carrier platform publishes its device list
(and its product list) and how often to pull it. Every pull that finds differences is
written down as a *change set* of *items* (one per created, changed or retired device, per
new model and per changed model); a person reviews it, applies or rejects it, and can roll
an applied set back. Applying and rolling back go through `devices.service`, so every
device change is a `DeviceVersion` (source "sync" / "sync-rollback") and an audit entry.

Change set life: proposed → applied | rejected | superseded (a newer pull replaced it before
anyone decided); applied → rolled_back; a pull that could not read the upstream is recorded
as failed (no items, nothing changed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

SET_STATES = ("proposed", "applied", "rejected", "rolled_back", "failed", "superseded")
SET_STATE_LABELS = {"proposed": "待审核", "applied": "已应用", "rejected": "已驳回", "rolled_back": "已回滚",
                    "failed": "失败", "superseded": "已被取代"}
# Apply order: models first (devices refer to them), then devices.
ACTIONS = ("new_product", "product_update", "create", "update", "retire")
ACTION_LABELS = {"new_product": "新增型号", "product_update": "型号物模型变更", "create": "新增设备",
                 "update": "设备元数据变更", "retire": "设备退役"}
TRIGGERS = ("manual", "schedule")


class SyncSource(Audited, Base):
    """Where and how often a connection's device list is pulled (one per connection)."""

    __tablename__ = "sync_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), unique=True)
    adapter: Mapped[str] = mapped_column(String(32), default="http_json")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_s: Mapped[int] = mapped_column(Integer, default=3600)
    # Apply a pulled change set without review when it retires nothing and nothing in it is blocked.
    auto_apply: Mapped[bool] = mapped_column(Boolean, default=False)
    # The adapter's settings without its secret: base_url, paths, paging, field mapping …
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The API token; never returned by the API, never written to the audit log.
    secret: Mapped[str] = mapped_column(String(1024), default="", info={"audit": False})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    # Run state, written by every pull; kept out of the audit log.
    last_run_at: Mapped[datetime | None] = mapped_column(default=None, info={"audit": False})
    last_outcome: Mapped[str] = mapped_column(String(32), default="", info={"audit": False})
    last_error: Mapped[str] = mapped_column(Text, default="", info={"audit": False})
    failures: Mapped[int] = mapped_column(Integer, default=0, info={"audit": False})  # consecutive


class ChangeSet(Audited, Base):
    """The differences one pull found, applied (or not) as one reviewed unit."""

    __tablename__ = "change_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # manual | schedule
    state: Mapped[str] = mapped_column(String(16), default="proposed", index=True)
    # {"create": n, "update": n, "retire": n, "new_product": n, "product_update": n, "renamed_fields": n,
    #  "upstream_devices": n, "upstream_products": n, "blocked": n, "applied": n, "errors": n}
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Hash of what the set would change: an identical pull does not make a second set.
    fingerprint: Mapped[str] = mapped_column(String(64), default="", index=True)
    error: Mapped[str] = mapped_column(Text, default="")  # why a pull failed
    decided_by: Mapped[str] = mapped_column(String(64), default="")  # applied or rejected by
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    note: Mapped[str] = mapped_column(String(512), default="")
    rolled_back_by: Mapped[str] = mapped_column(String(64), default="")
    rolled_back_at: Mapped[datetime | None] = mapped_column(default=None)


class ChangeItem(Base):
    """One change of a set. `before`/`after` hold only the fields that differ; `details`
    says what a reviewer needs beyond that (renamed fields, added/removed/renamed model
    properties, warnings, why an item is blocked). `applied_changes` is what applying
    really changed (field → [before, after], derived fields such as the street included):
    rollback restores from it."""

    __tablename__ = "change_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_set_id: Mapped[int] = mapped_column(ForeignKey("change_sets.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # create | update | retire | new_product | product_update
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), default=None,
                                                  index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), default=None)
    external_id: Mapped[str] = mapped_column(String(128), default="")
    product_key: Mapped[str] = mapped_column(String(128), default="")
    before: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    applied_changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
