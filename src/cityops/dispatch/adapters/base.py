"""What a dispatch platform adapter is (IOT-7 / SYS-DISPATCH): one module per platform
protocol, behind a registry, in the style of the notification channels (`notify/base.py`).

An adapter is built from its settings and is otherwise stateless. It never retries by
itself — the outbox does, and it decides from the exception class:

* `RetryableError`: the platform is busy or unreachable — timeouts, connection errors,
  HTTP 408/425/429/5xx, an answer that is not the expected JSON (a proxy's error page);
  the same call may succeed later. Resubmitting a work order is safe because every
  submission carries the order's idempotency key: the platform answers a repeated key with
  the work order it already created.
* `PermanentError`: retrying the same call cannot help — bad api_key or jurisdiction
  (401/403/404), a request the platform rejects as invalid (400 with Open311 error list),
  an unknown external id; someone must fix the settings or the data.

Unlike the notification channels, adapters raise these errors (they do not wrap them in a
result): `submit` has a meaningful return value only on success.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel


class ExternalState(str, enum.Enum):
    """Where a work order stands on the platform, in our own words (the platform's raw status
    is kept next to it). `returned` (退回) means the unit refused it — not its duty, wrong
    address — and someone here must re-dispatch it."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    DISPOSED = "disposed"
    RETURNED = "returned"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {"submitted": "已派发", "accepted": "已受理", "in_progress": "处置中", "disposed": "已处置",
                "returned": "已退回", "closed": "已关闭"}[self.value]

    @property
    def final(self) -> bool:
        return self in (ExternalState.DISPOSED, ExternalState.RETURNED, ExternalState.CLOSED)


@dataclass
class WorkOrder:
    """One event pushed to the platform. Coordinates are GCJ-02 like everything stored here;
    an adapter converts them to what its protocol wants (Open311: WGS-84).

    `idempotency_key` is stable for the event's dispatch: the outbox sends the same key on
    every retry, and the platform must not create a second work order for it."""

    idempotency_key: str
    event_no: str
    category_code: str
    category_name: str
    title: str
    description: str
    lon: float | None = None
    lat: float | None = None
    address: str | None = None
    street_code: str | None = None
    unit_code: str | None = None  # responsible unit (责任单位), e.g. "ST-310105001", "DEPT-LHSR"
    severity: str = "info"
    reported_at: datetime | None = None
    attachments: list[str] = field(default_factory=list)  # photo / video URLs
    callback_url: str | None = None

    def __post_init__(self) -> None:
        if not self.idempotency_key or not self.idempotency_key.strip():
            raise ValueError("work order needs an idempotency key")
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat go together")
        if self.lon is None and not self.address:
            raise ValueError("work order needs coordinates or an address")


@dataclass
class SubmitResult:
    external_id: str  # the platform's work-order id (Open311 service_request_id)
    notice: str | None = None  # the platform's answer for people (Open311 service_notice)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExternalStatus:
    external_id: str
    state: ExternalState
    raw_status: str  # the platform's own value, e.g. Open311 "open"/"closed"
    text: str | None = None  # status notes / result text
    unit_code: str | None = None
    unit_name: str | None = None
    updated_at: datetime | None = None
    expected_at: datetime | None = None
    photos: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Update:
    """One step reported back: state change, result text, photos (URLs or bytes), unit, time.
    `update_id` is unique per platform, so a consumer can drop updates seen before."""

    update_id: str
    external_id: str
    state: ExternalState
    raw_status: str
    at: datetime
    text: str | None = None
    photos: list[str | bytes] = field(default_factory=list)
    unit_code: str | None = None
    unit_name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class DispatchError(Exception):
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, status_code: int | None = None, detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail or {}


class RetryableError(DispatchError):
    """Temporary: the same call may succeed later (busy, unreachable, timeout, 5xx)."""

    retryable = True


class PermanentError(DispatchError):
    """Retrying the same call cannot succeed (settings, credentials, invalid data, unknown id)."""

    retryable = False


class DispatchPlatform(Protocol):
    kind: ClassVar[str]  # registry key, e.g. "open311"
    label: ClassVar[str]  # Chinese display name
    Settings: ClassVar[type[BaseModel]]  # secrets as pydantic SecretStr

    def submit(self, work_order: WorkOrder) -> SubmitResult:
        """Create the work order (or find the one already created for its idempotency key)."""
        ...

    def status(self, external_id: str) -> ExternalStatus:
        ...

    def updates(self, since: datetime) -> list[Update]:
        """Every update made at or after `since` (aware datetime), oldest first."""
        ...

    def callback_update(self, payload: dict[str, Any]) -> Update:
        """The update a (signature-checked) callback body carries; ValueError if it is not one."""
        ...
