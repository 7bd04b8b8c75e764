"""What a notification channel is (IOT-5 / OPS-3): one module per delivery channel, behind
a registry, the same style as the connectors (IOT-2).

A channel is stateless: given one `Notification` and its channel settings it delivers the
message once and returns a `SendResult`. It never retries by itself — a later outbox does,
and it decides from `SendResult.retryable`:

* retryable (`RetryableError`): the provider is busy or unreachable — timeouts, connection
  errors, HTTP 429/5xx, WeCom errcode 45009 (rate limit) / -1 (busy), SMTP 4xx replies;
  the same request may succeed later.
* permanent (`PermanentError`): retrying the same request cannot help — invalid webhook
  key (WeCom 93000), bad credentials or signature, HTTP 4xx, SMTP 5xx, no usable
  recipient; someone must fix the settings or the data.

Adapters raise these internally; `send` turns them into a failed `SendResult` (it does
not raise for delivery failures). Phone numbers are personal data: channels log them
only masked (`mask_phone`, 138****5678), never in full.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:  # pragma: no cover
    import httpx


class Severity(str, enum.Enum):
    """The alarms' four levels (`monitoring.models.SEVERITIES`), lowest first."""

    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def label(self) -> str:
        return {"info": "提示", "warning": "警告", "major": "重要", "critical": "紧急"}[self.value]

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass
class Recipient:
    """One person to reach; each channel uses the address it understands."""

    name: str
    phone: str | None = None  # mainland mobile, for SMS / voice / WeCom @-mentions
    email: str | None = None
    wecom_userid: str | None = None  # 企业微信 / 政务微信 userid, for @-mentions


@dataclass
class Link:
    title: str
    url: str


@dataclass
class Notification:
    """One message to deliver (IOT-5 / OPS-3). `text` is Chinese plain text; `dedup_key`
    identifies the event so an outbox can send each once per channel."""

    title: str
    text: str
    severity: Severity | str = Severity.INFO
    recipients: list[Recipient] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    dedup_key: str | None = None

    def __post_init__(self) -> None:
        self.severity = Severity(self.severity)


@dataclass
class SendResult:
    """The outcome of one delivery attempt. `retryable` is only meaningful when not ok."""

    ok: bool
    provider_message_id: str | None = None
    status_code: int | None = None  # HTTP status or SMTP reply code
    error: str | None = None
    retryable: bool = False
    detail: dict[str, Any] = field(default_factory=dict)  # channel extras (e.g. SMS segments)

    @classmethod
    def failed(cls, exc: "ChannelError", detail: dict[str, Any] | None = None) -> "SendResult":
        return cls(ok=False, status_code=exc.status_code, error=str(exc), retryable=exc.retryable,
                   detail={**exc.detail, **(detail or {})})


class ChannelError(Exception):
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, status_code: int | None = None, detail: dict[str, Any] | None = None):
        super().__init__(mask_text(message))  # provider answers may echo phone numbers
        self.status_code = status_code
        self.detail = detail or {}


class RetryableError(ChannelError):
    """Temporary: the same request may succeed later (rate limit, busy, timeout, 5xx)."""

    retryable = True


class PermanentError(ChannelError):
    """Retrying the same request cannot succeed (bad settings, credentials, recipients)."""

    retryable = False


class Channel(Protocol):
    kind: ClassVar[str]  # registry key, e.g. "wecom"
    label: ClassVar[str]  # Chinese display name, e.g. "企业微信/政务微信群机器人"
    Settings: ClassVar[type[BaseModel]]  # secrets as pydantic SecretStr

    def send(self, notification: Notification, settings: Any) -> SendResult:
        """Deliver once; failures come back as a SendResult with `retryable` set."""
        ...


# -- helpers shared by the channels --

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def normalize_mobile(phone: str | None) -> str | None:
    """A mainland 11-digit mobile number (spaces, dashes and a +86/86/0086 prefix removed),
    or None when it is not one."""
    if not phone:
        return None
    digits = re.sub(r"[\s\-()]", "", str(phone))
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    return digits if _MOBILE.match(digits) else None


def mask_phone(phone: str | None) -> str:
    """138****5678 — the only form in which phone numbers may appear in logs."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", str(phone))
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "****"


def mask_text(text: str) -> str:
    """Mask every mainland mobile number inside free text (error messages, provider answers)."""
    return _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def as_settings(model: type[BaseModel], settings: Any) -> BaseModel:
    return settings if isinstance(settings, model) else model.model_validate(settings)


def truncate_utf8(text: str, max_bytes: int, marker: str = "…") -> str:
    """Cut `text` so that its UTF-8 encoding fits in `max_bytes`, never inside a character,
    ending with `marker` when something was cut."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    room = max_bytes - len(marker.encode("utf-8"))
    if room <= 0:
        return raw[:max_bytes].decode("utf-8", "ignore")
    return raw[:room].decode("utf-8", "ignore") + marker


def post_http(url: str, *, timeout_s: float, what: str, **kwargs: Any) -> "httpx.Response":
    """POST through the shared client (`core/http.py`): timeouts, connection errors,
    408/425/429/5xx → RetryableError; other 4xx → PermanentError (body masked). A 2xx/3xx
    response is returned for the channel to read."""
    from cityops.core import http

    return http.call("POST", url, timeout_s=timeout_s, what=what, retryable=RetryableError,
                     permanent=PermanentError, describe=lambda r: mask_text(r.text[:200]), **kwargs)


def json_body(response: "httpx.Response", what: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; a non-JSON answer (a proxy's HTML page) is retryable."""
    try:
        body = response.json()
    except ValueError as exc:
        raise RetryableError(f"{what}: answer is not JSON", status_code=response.status_code) from exc
    if not isinstance(body, dict):
        raise RetryableError(f"{what}: answer is not a JSON object", status_code=response.status_code)
    return body
