"""Connections, stored device messages, dead letters and devices pending onboarding (IOT-2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType


class Connection(Audited, Base):
    """One configured instance of a connector kind: a carrier account, a vendor platform,
    an NVR group or an MQTT topic set."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, info={"audit": False})
    # Shared token for vendors that cannot sign (part of the push URL); never shown after creation.
    push_token: Mapped[str] = mapped_column(String(64), info={"audit": False})
    allowed_ips: Mapped[list[str]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    received: Mapped[int] = mapped_column(BigInteger, default=0, info={"audit": False})
    accepted: Mapped[int] = mapped_column(BigInteger, default=0, info={"audit": False})
    rejected: Mapped[int] = mapped_column(BigInteger, default=0, info={"audit": False})
    last_received_at: Mapped[datetime | None] = mapped_column(default=None, info={"audit": False})
    last_error: Mapped[str] = mapped_column(Text, default="", info={"audit": False})


class StoredMessage(Base):
    """A canonical device message, durably stored before the sender is answered."""

    __tablename__ = "device_messages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id"), default=None, index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), default=None,
                                                  index=True)
    external_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24))
    ts: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class DeadLetter(Base):
    """A message the platform could not accept, with the raw bytes and the reason, so that
    nothing is lost and it can be replayed once the cause is fixed."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id"), default=None, index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    reason: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int] = mapped_column(Integer, default=400)
    transport: Mapped[str] = mapped_column(String(8), default="http")  # http | mqtt
    topic: Mapped[str] = mapped_column(String(256), default="")
    headers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    query: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default="new", index=True)  # new | replayed | discarded
    handled_at: Mapped[datetime | None] = mapped_column(default=None)
    handled_by: Mapped[str] = mapped_column(String(64), default="")
    replay_result: Mapped[str] = mapped_column(Text, default="")


class PendingDevice(Base):
    """A device that reported but is not registered: held with what it said, not dropped."""

    __tablename__ = "pending_devices"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(128))
    product_key: Mapped[str] = mapped_column(String(128), default="")
    imei: Mapped[str] = mapped_column(String(32), default="")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    last_message: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | onboarded | ignored
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), default=None)
