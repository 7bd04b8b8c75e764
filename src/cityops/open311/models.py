"""Open311 GeoReport v2 intake (IOT-7, SYS-DISPATCH): the API clients allowed to post
service requests, and the requests they created (with the token handed out for each).

The API key is shown once at creation; only its SHA-256 is stored. Usage counters are
runtime data, kept out of the audit chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType


class Open311Client(Audited, Base):
    """A citizen app or third-party system that may POST requests with its api_key."""

    __tablename__ = "open311_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True, info={"audit": False})
    key_prefix: Mapped[str] = mapped_column(String(8))  # first characters, to recognise a key
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Batch-style clients get a token in the POST answer and resolve it via GET tokens/{token}.
    token_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(256), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None, info={"audit": False})
    requests_count: Mapped[int] = mapped_column(Integer, default=0, info={"audit": False})


class Open311Request(Base):
    """One request a client POSTed: the event it became, the token handed out for it, and
    the GeoReport fields the event has no column for. A merged report's token resolves to
    the event it was merged into."""

    __tablename__ = "open311_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("open311_clients.id", ondelete="SET NULL"), default=None,
                                                  index=True)
    client_name: Mapped[str] = mapped_column(String(64))  # kept when the client is deleted
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str] = mapped_column(String(128), default="")
    device_id: Mapped[str] = mapped_column(String(128), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address_id: Mapped[str] = mapped_column(String(128), default="")
    media_url: Mapped[str] = mapped_column(String(1024), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
