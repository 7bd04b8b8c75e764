"""Machine-room checklists (ROOM-1, ROOM-2): versioned templates with ordered typed items, runs
filled by a performer and signed off by a reviewer, readings and photos.

A template edit creates a new version (same `code`, version + 1) so signed runs keep the items
they were filled against."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

ITEM_TYPES = {"number": "数值", "bool": "正常/异常", "choice": "选项", "text": "文字", "photo": "照片"}
TEMPLATE_KINDS = {"room": "机房", "asset": "设备"}
RUN_STATES = {"draft": "填写中", "submitted": "待复核", "signed": "已签字"}


class ChecklistTemplate(Audited, Base):
    __tablename__ = "checklist_templates"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48))
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="room")
    ticket_policy: Mapped[str] = mapped_column(String(16), default="major")
    current: Mapped[bool] = mapped_column(Boolean, default=True)  # the newest version of its code
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChecklistItem(Audited, Base):
    __tablename__ = "checklist_items"
    __table_args__ = (UniqueConstraint("template_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("checklist_templates.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(48))
    label: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(16), default="")
    min_value: Mapped[float | None] = mapped_column(Float, default=None)
    max_value: Mapped[float | None] = mapped_column(Float, default=None)
    # choice items: [{"value": "正常", "abnormal": false}, …]
    options: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    hint: Mapped[str] = mapped_column(String(200), default="")


class ChecklistRun(Audited, Base):
    __tablename__ = "checklist_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("checklist_templates.id"), index=True)
    room: Mapped[str] = mapped_column(String(64), default="")
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"), default=None)
    plan_run_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    state: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    performer: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    performer_signature: Mapped[str] = mapped_column(String(64), default="")
    reviewer: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    review_note: Mapped[str] = mapped_column(Text, default="")
    abnormal_count: Mapped[int] = mapped_column(Integer, default=0)


class ChecklistReading(Audited, Base):
    __tablename__ = "checklist_readings"
    __table_args__ = (UniqueConstraint("run_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("checklist_runs.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_items.id"))
    value: Mapped[str] = mapped_column(Text, default="")
    ok: Mapped[bool | None] = mapped_column(Boolean, default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("checklist_photos.id", ondelete="SET NULL"), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ChecklistPhoto(Audited, Base):
    __tablename__ = "checklist_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("checklist_runs.id", ondelete="SET NULL"), default=None)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(100))  # under var/uploads/checklists/
    uploaded_by: Mapped[str] = mapped_column(String(64), default="")
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


# Machine-room access lives in its own module; imported here so core.models sees its table.
from cityops.inspections import room_models  # noqa: E402,F401
