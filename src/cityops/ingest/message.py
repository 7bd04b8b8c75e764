"""The canonical device message every connector produces (IOT-2).

Whatever the wire format (CTWing, OneNET, IoTDA, Aliyun, Hikvision, MQTT), the rest of the
platform sees only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Kind = Literal["telemetry", "event", "status", "command_response"]
KINDS: tuple[str, ...] = ("telemetry", "event", "status", "command_response")


@dataclass
class Attachment:
    """A binary part that came with a message (e.g. a Hikvision JPEG snapshot)."""

    content_type: str
    data: bytes
    name: str = ""


@dataclass
class DeviceMessage:
    kind: Kind
    external_id: str  # the device's id on the sending platform (deviceId, dev_id, iotId, pk/dn, ip:channel …)
    ts: datetime | None = None  # device/platform time, UTC-aware; None = use the receive time
    properties: dict[str, Any] = field(default_factory=dict)  # telemetry: identifier → value
    event: str | None = None  # event/alarm identifier as the vendor names it (e.g. "smoke_alarm", "VMD")
    event_state: str | None = None  # "active" | "inactive" (cleared) where the vendor says so
    severity: str | None = None  # vendor's own level, normalised: "info" | "warning" | "critical"
    online: bool | None = None  # status messages: True online, False offline
    product_key: str | None = None  # the vendor's product/model id
    imei: str | None = None
    imsi: str | None = None
    iccid: str | None = None
    command: dict[str, Any] | None = None  # command responses: {"task_id", "status", "detail"}
    attachments: list[Attachment] = field(default_factory=list)
    source_type: str = ""  # the vendor's own message type, for tracing (e.g. "dataReport")
    meta: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping (tenantId, topic …)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown message kind {self.kind!r}")
        if not self.external_id:
            raise ValueError("a device message needs the device's id")
