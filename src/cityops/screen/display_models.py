"""Wall displays of the big screen (SYS-SCREEN): a display key lets a screen stay signed in
for months (console tokens last 60 minutes) and grants the screen routes only. The key is
shown once at creation; only its SHA-256 is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow


class ScreenDisplay(Audited, Base):
    __tablename__ = "screen_displays"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, info={"audit": False})
    street_code: Mapped[str | None] = mapped_column(ForeignKey("streets.code"), default=None)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Runtime: touched when the display reads the screen; kept out of the audit chain.
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None, info={"audit": False})
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
