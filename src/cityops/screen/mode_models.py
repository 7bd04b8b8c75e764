"""Emergency and holiday monitoring modes of the big screen (EMRG-4).

A mode is configuration people edit (Audited): which indicators, their thresholds, how often
the wall view refreshes, and whether it is switched on. Samples and the change log are runtime
history written by the `screen.mode_watch` job: samples are kept 48 h (the wall view charts the
last hour), log rows stay (they are the record of what happened during the typhoon night)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

MODE_KINDS = ("emergency", "holiday")
KIND_LABELS = {"emergency": "应急", "holiday": "节假日"}
LOG_KINDS = ("activated", "deactivated", "level", "edited")
LEVELS = ("normal", "warn", "danger", "unknown")
LEVEL_LABELS = {"normal": "正常", "warn": "预警", "danger": "告急", "unknown": "无数据"}


class ScreenMode(Audited, Base):
    __tablename__ = "screen_modes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(Text, default="")
    refresh_s: Mapped[int] = mapped_column(Integer, default=5)
    # [{"key","label","unit","source":{...},"thresholds":{"warn","danger"},"direction"}] (validated by modes.py)
    indicators: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    street_code: Mapped[str | None] = mapped_column(ForeignKey("streets.code"), default=None, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    activated_at: Mapped[datetime | None] = mapped_column(default=None)
    activated_by: Mapped[str] = mapped_column(String(64), default="")
    deactivated_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Runtime: each indicator's level at the watch job's last pass ({key: level}); the job
    # compares against it to log a change once. Kept out of the audit chain.
    levels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, info={"audit": False})


class ScreenModeSample(Base):
    """One indicator value per watch pass (every 5 s while the mode is active), kept 48 h."""

    __tablename__ = "screen_mode_samples"
    __table_args__ = (Index("ix_screen_mode_samples_series", "mode_id", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mode_id: Mapped[int] = mapped_column(ForeignKey("screen_modes.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(index=True)  # the pruning scan
    value: Mapped[float | None] = mapped_column(Float, default=None)


class ScreenModeLog(Base):
    """What changed: switched on/off, edited, an indicator crossing a threshold (message in Chinese)."""

    __tablename__ = "screen_mode_log"
    __table_args__ = (Index("ix_screen_mode_log_mode_at", "mode_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mode_id: Mapped[int] = mapped_column(ForeignKey("screen_modes.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(12))
    key: Mapped[str] = mapped_column(String(32), default="")
    from_level: Mapped[str] = mapped_column(String(8), default="")
    to_level: Mapped[str] = mapped_column(String(8), default="")
    value: Mapped[float | None] = mapped_column(Float, default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64), default="")
