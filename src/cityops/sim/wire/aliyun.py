"""Aliyun IoT server-side subscription / data forwarding messages (IOT-2 simulator).

Each builder returns (body, headers, query). `messy=True` sends numbers as strings, leaves
out optional fields and, for status, sends only the Beijing-local "time" (no utcTime).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

HEADERS = {"content-type": "application/json"}
BEIJING = timezone(timedelta(hours=8))


def _ms(ts: datetime | None) -> int:
    return int((ts or datetime.now(timezone.utc)).timestamp() * 1000)


def _num(value: Any, messy: bool) -> Any:
    return str(value) if messy and isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _iot_id(product_key: str, device_name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"aliyun:{product_key}/{device_name}").hex[:20]


def _wire(doc: dict) -> tuple[bytes, dict, dict]:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8"), dict(HEADERS), {}


def property_post(
    product_key: str,
    device_name: str,
    properties: dict[str, Any],
    ts: datetime | None = None,
    *,
    failed: dict[str, Any] | None = None,
    messy: bool = False,
) -> tuple[bytes, dict, dict]:
    """/thing/event/property/post as forwarded: items {Prop: {value, time}}."""
    doc: dict[str, Any] = {
        "iotId": _iot_id(product_key, device_name),
        "requestId": str(uuid.uuid4().int % 10**6),
        "productKey": product_key,
        "deviceName": device_name,
        "gmtCreate": _num(_ms(ts), messy),
        "items": {
            k: ({"value": _num(v, messy)} if messy else {"value": v, "time": _ms(ts)}) for k, v in properties.items()
        },
    }
    if not messy:
        doc["deviceType"] = "CustomCategory"
    if failed or not messy:  # the platform sends {} when nothing failed; messy leaves it out
        doc["checkFailedData"] = {k: {"value": v, "time": _ms(ts)} for k, v in (failed or {}).items()}
    return _wire(doc)


def event_post(
    product_key: str,
    device_name: str,
    identifier: str,
    value: dict[str, Any],
    ts: datetime | None = None,
    *,
    kind: str = "alert",
    name: str | None = None,
    messy: bool = False,
) -> tuple[bytes, dict, dict]:
    """/thing/event/{identifier}/post as forwarded; kind is Aliyun's "type": info | alert | error."""
    doc: dict[str, Any] = {
        "identifier": identifier,
        "name": name or identifier,
        "type": kind.upper() if messy else kind,
        "iotId": _iot_id(product_key, device_name),
        "productKey": product_key,
        "deviceName": device_name,
        "value": {k: _num(v, messy) for k, v in value.items()},
        "time": _num(_ms(ts), messy),
    }
    if not messy:
        doc["requestId"] = str(uuid.uuid4().int % 10**6)
        doc["gmtCreate"] = _ms(ts)
    return _wire(doc)


def status(
    product_key: str,
    device_name: str,
    online: bool,
    ts: datetime | None = None,
    *,
    client_ip: str = "58.247.0.18",
    messy: bool = False,
) -> tuple[bytes, dict, dict]:
    """/as/mqtt/status/{pk}/{dn}: local times as "yyyy-MM-dd HH:mm:ss.SSS", UTC as ISO with Z."""
    when = (ts or datetime.now(timezone.utc)).astimezone(timezone.utc)
    last = when - timedelta(seconds=30)

    def local(t: datetime) -> str:
        return t.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    def utc(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    doc: dict[str, Any] = {
        "status": "online" if online else "offline",
        "iotId": _iot_id(product_key, device_name),
        "productKey": product_key,
        "deviceName": device_name,
        "time": local(when),
        "lastTime": local(last),
        "clientIp": "" if messy else client_ip,
    }
    if not messy:
        doc["utcTime"] = utc(when)
        doc["utcLastTime"] = utc(last)
    return _wire(doc)
