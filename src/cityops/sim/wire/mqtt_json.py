"""MQTT JSON deliveries in the topic conventions seen in the field (IOT-2 simulator).

Each builder returns (topic, payload bytes). `messy=True` sends numbers as strings and leaves
out optional envelope fields (id, version, per-item times).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

When = datetime | None  # None = now

def _ms(ts: datetime | None) -> int:
    return int((ts or datetime.now(timezone.utc)).timestamp() * 1000)


def _num(value: Any, messy: bool) -> Any:
    return str(value) if messy and isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _timed(props: dict[str, Any], ts: datetime | None, messy: bool) -> dict[str, Any]:
    if messy:
        return {k: {"value": _num(v, True)} for k, v in props.items()}
    return {k: {"value": v, "time": _ms(ts)} for k, v in props.items()}


# JetLinks style: /{productId}/{deviceId}/properties/report, /event/{eventId}, /online, /offline
def jetlinks_properties(product: str, device: str, props: dict, ts: When = None, *, messy: bool = False):
    doc = {"timestamp": _num(_ms(ts), messy), "properties": {k: _num(v, messy) for k, v in props.items()}}
    if not messy:
        doc = {"messageId": uuid.uuid4().hex, "deviceId": device, **doc}
    return f"/{product}/{device}/properties/report", _dump(doc)


def jetlinks_event(product: str, device: str, event: str, data: dict, ts: When = None, *, messy: bool = False):
    doc = {"event": event, "timestamp": _ms(ts), "data": {k: _num(v, messy) for k, v in data.items()}}
    return f"/{product}/{device}/event/{event}", _dump(doc)


def jetlinks_status(product: str, device: str, online: bool, ts: When = None, *, messy: bool = False):
    topic = f"/{product}/{device}/{'online' if online else 'offline'}"
    return topic, (b"" if messy else _dump({"deviceId": device, "timestamp": _ms(ts)}))


def flat_properties(product: str, device: str, props: dict, ts: When = None, *, messy: bool = False):
    """The simplest devices: a flat object on the JetLinks report topic."""
    doc = {k: _num(v, messy) for k, v in props.items()}
    if ts is not None:
        doc["ts"] = _ms(ts)
    return f"/{product}/{device}/properties/report", _dump(doc)


# OneNET Studio: $sys/{pid}/{dev}/thing/property/post, …/thing/event/post
def onenet_studio_property(product: str, device: str, props: dict, ts: When = None, *, messy: bool = False):
    doc: dict[str, Any] = {"params": _timed(props, ts, messy)}
    if not messy:
        doc = {"id": str(uuid.uuid4().int % 10**6), "version": "1.0", **doc}
    return f"$sys/{product}/{device}/thing/property/post", _dump(doc)


def onenet_studio_event(product: str, device: str, event: str, value: dict, ts: When = None, *, messy: bool = False):
    doc = {"id": "1", "version": "1.0",
           "params": {event: {"value": {k: _num(v, messy) for k, v in value.items()}, "time": _ms(ts)}}}
    return f"$sys/{product}/{device}/thing/event/post", _dump(doc)


# Aliyun Alink: /sys/{pk}/{dn}/thing/event/property/post, /sys/{pk}/{dn}/thing/event/{id}/post
def alink_property(product: str, device: str, props: dict, ts: When = None, *, messy: bool = False):
    params = {k: _num(v, True) for k, v in props.items()} if messy else _timed(props, ts, False)
    doc = {"id": "123", "version": "1.0", "params": params, "method": "thing.event.property.post"}
    return f"/sys/{product}/{device}/thing/event/property/post", _dump(doc)


def alink_event(product: str, device: str, event: str, value: dict, ts: When = None, *, messy: bool = False):
    doc = {"id": "124", "version": "1.0", "method": f"thing.event.{event}.post",
           "params": {"value": {k: _num(v, messy) for k, v in value.items()}, "time": _ms(ts)}}
    return f"/sys/{product}/{device}/thing/event/{event}/post", _dump(doc)


# Huawei IoTDA device side: $oc/devices/{device_id}/sys/properties/report
def huawei_properties(device: str, services: dict[str, dict], ts: When = None, *, messy: bool = False):
    stamp = (ts or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    doc = {"services": [
        {"service_id": sid, "properties": {k: _num(v, messy) for k, v in props.items()},
         **({} if messy else {"event_time": stamp})}
        for sid, props in services.items()
    ]}
    return f"$oc/devices/{device}/sys/properties/report", _dump(doc)
