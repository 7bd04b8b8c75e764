"""Notifications (IOT-5 / OPS-3).

Channels: WeCom/政务微信 group robot, HTTP SMS gateway, e-mail over SMTP and the voice-call
hook, as stateless adapters behind a registry (simulators in `cityops.sim.notify`).
On top: configured channels and routing policies with escalation chains (`service`), the
DB-driven engine that walks the chains and drains the outbox (`engine`, `jobs`), the API
(`api`) and console pages (`pages`). Who is on duty comes from `cityops.duty`."""

from cityops.notify.base import (
    Channel,
    ChannelError,
    Link,
    Notification,
    PermanentError,
    Recipient,
    RetryableError,
    SendResult,
    Severity,
)

__all__ = ["Channel", "ChannelError", "Link", "Notification", "PermanentError", "Recipient",
           "RetryableError", "SendResult", "Severity"]
