"""Machine-room access and visitors (ROOM-3): who entered which room, why, with whom, what
they carried in and out, and when they left."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow


class RoomAccess(Audited, Base):
    __tablename__ = "room_access"

    id: Mapped[int] = mapped_column(primary_key=True)
    person: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(100), default="")
    # Kept out of the audit chain: the chain is read by auditors who must not see ID numbers.
    id_number: Mapped[str] = mapped_column(String(32), default="", info={"audit": False})
    phone: Mapped[str] = mapped_column(String(32), default="")
    purpose: Mapped[str] = mapped_column(String(200))
    escort: Mapped[str] = mapped_column(String(64), default="")
    room: Mapped[str] = mapped_column(String(64), index=True)
    items_in: Mapped[str] = mapped_column(Text, default="")
    items_out: Mapped[str] = mapped_column(Text, default="")
    in_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    out_at: Mapped[datetime | None] = mapped_column(default=None)
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    out_by: Mapped[str] = mapped_column(String(64), default="")
