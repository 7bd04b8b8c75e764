"""Device metadata quality (IOT-1): the road/place gazetteer and the findings of the checks.

A finding is one problem of one device found by one check, with a proposed correction
when one can be derived. Its life: open → accepted (the correction was applied through
devices.service.update_device, source "correction") | rejected (a person judged it wrong;
never reopened while the checked data stay the same) | superseded (the problem went away,
or changed, before anyone decided). At most one finding per (device, check) is open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

GAZETTEER_KINDS = ("road", "place", "area")
GAZETTEER_KIND_LABELS = {"road": "道路", "place": "地名/地标", "area": "小区/片区"}
GAZETTEER_SOURCES = ("seed", "operator")
FINDING_STATES = ("open", "accepted", "rejected", "superseded")
FINDING_STATE_LABELS = {"open": "待处理", "accepted": "已采纳", "rejected": "已驳回", "superseded": "已失效"}
SEVERITIES = ("high", "medium", "low")
SEVERITY_LABELS = {"high": "高", "medium": "中", "low": "低"}


class GazetteerEntry(Audited, Base):
    """A road or place name and one street it lies in. A road crossing several streets has
    one row per street; `note` says which section (e.g. 东段)."""

    __tablename__ = "gazetteer_entries"
    __table_args__ = (UniqueConstraint("name", "street_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("streets.code"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="road")
    note: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(String(16), default="operator")  # seed | operator
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetadataFinding(Audited, Base):
    __tablename__ = "metadata_findings"
    __table_args__ = (
        # At most one open finding per (device, check): a partial unique index on both backends.
        Index("uq_metadata_findings_open", "device_id", "check", unique=True,
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    check: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(String(512))  # Chinese, for operators
    # Hash of the values the check read (also in details); a rejected finding is not reopened
    # while it stays the same.
    fingerprint: Mapped[str] = mapped_column(String(40), default="")
    # What the check saw: {"fingerprint", "checked": {field: value}, …check specific}
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    proposed: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # {field: value}; {} = none
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decision_note: Mapped[str] = mapped_column(String(512), default="")
