"""What a connector is (IOT-2): one module per vendor/carrier wire format, behind a registry.

A connector is stateless: given one received request and its connection's settings it
returns canonical `DeviceMessage`s, or raises `Rejected` with a reason (the pipeline then
stores the raw bytes in the dead-letter store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from cityops.ingest.message import DeviceMessage


class Rejected(Exception):
    """The message cannot be accepted. `status` is the HTTP answer to the sender
    (400 malformed, 401/403 failed sender verification)."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class PushRequest:
    """One received push (HTTP) or delivery (MQTT), as the connector sees it."""

    body: bytes
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    query: dict[str, str] = field(default_factory=dict)
    remote_addr: str = ""
    topic: str | None = None  # MQTT only

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class Connector(Protocol):
    kind: ClassVar[str]  # registry key, e.g. "ctwing"
    label: ClassVar[str]  # Chinese display name, e.g. "中国电信 CTWing (AEP)"
    # True when the vendor does not sign its pushes: the pipeline then requires the
    # connection's shared token (in the push URL) and honours an optional IP allow-list.
    needs_shared_token: ClassVar[bool]
    Settings: ClassVar[type[BaseModel]]  # secrets as pydantic SecretStr

    def parse(self, request: PushRequest, settings: Any) -> list[DeviceMessage]:
        """Verify the sender and turn one request into canonical messages; raise Rejected."""
        ...

    def verify_get(self, request: PushRequest, settings: Any) -> bytes | None:
        """Answer a vendor's URL-verification GET (OneNET); None when the kind has none."""
        ...
