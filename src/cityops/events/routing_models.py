"""Routing rules for smart assignment (SYS-DISPATCH): which responsible unit receives an
event of a category in an area, in the style of FixMyStreet's category + area contacts.

Rules are configuration people edit, so they are Audited. A rule names a category code
prefix rather than a category id, so it survives category edits. Decisions are runtime
history (one row per assignment) and keep their explanation even when the rule is
later changed or deleted, hence no foreign key to the rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow

AREA_KINDS = ("any", "street", "grid")
AREA_LABELS = {"any": "全区", "street": "街镇", "grid": "网格"}


class RoutingRule(Audited, Base):
    """Category prefix ("" = any) + area (any | street code | grid code) → unit.

    Among matching enabled rules the most specific area wins (grid > street > any), then
    the longest category prefix, then the higher ``priority``, then the older rule."""

    __tablename__ = "routing_rules"
    __table_args__ = (Index("ix_routing_rules_scope", "category_prefix", "area_kind", "area_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_prefix: Mapped[str] = mapped_column(String(16), default="")
    area_kind: Mapped[str] = mapped_column(String(8), default="any")
    area_code: Mapped[str] = mapped_column(String(24), default="")
    unit_id: Mapped[int] = mapped_column(ForeignKey("responsible_units.id"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RoutingDecision(Base):
    """One assignment of an event: the unit chosen, by which rule (None = fallback) and why."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_units.id"), default=None)
    rule_id: Mapped[int | None] = mapped_column(Integer, default=None)
    basis: Mapped[str] = mapped_column(String(12), default="rule")  # rule | fallback
    explanation: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), default="")
