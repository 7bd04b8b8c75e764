"""Outgoing HTTP to outside systems (notification providers, dispatch platforms): one shared
connection-pooling client, secrets kept out of the logs, and failures sorted into "try
again later" and "will never work".

A client per call would build a TLS context every time (~20 ms of CPU on this machine's
class of hardware) and open a new connection; the shared client is thread-safe and keeps
connections alive. Timeouts are per request.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import httpx

_SECRET_QUERY = re.compile(r"([?&](?:key|api_key|access_token|token|secret)=)[^&\s\"']+", re.IGNORECASE)
_lock = threading.Lock()
_client: httpx.Client | None = None


class _RedactSecrets(logging.Filter):
    """httpx logs every request URL at INFO; query values such as the WeCom robot's key= or
    Open311's api_key= are secrets and become ***."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1***", record.msg)
        return True


def redact(value: Any) -> Any:
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return _SECRET_QUERY.sub(r"\1***", text) if _SECRET_QUERY.search(text) else value


def client() -> httpx.Client:
    global _client
    with _lock:
        if _client is None:
            log = logging.getLogger("httpx")
            if not any(isinstance(f, _RedactSecrets) for f in log.filters):
                log.addFilter(_RedactSecrets())
            _client = httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=50))
        return _client


def call(method: str, url: str, *, timeout_s: float, what: str, retryable: type[Exception],
         permanent: type[Exception], describe=None, **kwargs: Any) -> httpx.Response:
    """One request. Timeouts, connection errors, 408/425/429 and 5xx raise `retryable`;
    other 4xx raise `permanent` (with `describe(response)` as detail, default the start of
    the body). A 2xx/3xx response is returned for the caller to read. Both exception
    classes take (message, status_code=None)."""
    try:
        response = client().request(method, url, timeout=httpx.Timeout(timeout_s), **kwargs)
    except httpx.TimeoutException as exc:
        raise retryable(f"{what}: timed out after {timeout_s}s ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise retryable(f"{what}: connection failed ({type(exc).__name__})") from exc
    status = response.status_code
    detail = (describe or (lambda r: r.text[:200]))(response)
    if status in (408, 425, 429) or status >= 500:
        raise retryable(f"{what}: HTTP {status} {detail}".rstrip(), status_code=status)
    if status >= 400:
        raise permanent(f"{what}: HTTP {status} {detail}".rstrip(), status_code=status)
    return response
