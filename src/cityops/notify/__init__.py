"""Notification channels (IOT-5 / OPS-3): WeCom/政务微信 group robot, HTTP SMS gateway,
e-mail over SMTP and the voice-call hook, as stateless adapters behind a registry.
Simulators for all of them live in `cityops.sim.notify`."""

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
