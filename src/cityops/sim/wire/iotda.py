"""Huawei Cloud IoTDA v5 push and older OceanConnect notification bodies (IOT-2 simulator).

Each builder returns (body, headers, query). `messy=True` sends numbers as strings, drops the
optional header fields and per-service times, and adds fields a receiver must ignore.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

HEADERS = {"content-type": "application/json; charset=UTF-8"}


def compact_time(ts: datetime | None) -> str:
    """IoTDA's yyyyMMdd'T'HHmmss'Z' (UTC)."""
    return (ts or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _stringify(props: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in props.items()}


def _wire(doc: dict) -> tuple[bytes, dict, dict]:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8"), dict(HEADERS), {}


def _header(device_id: str, product_id: str, node_id: str | None, gateway_id: str | None, messy: bool) -> dict:
    if messy:
        return {"device_id": device_id, "product_id": product_id, "app_id": ""}
    return {
        "app_id": "d4922d8a6d104e4f8c4a7b2d2a1f0c11",
        "device_id": device_id,
        "node_id": node_id or device_id.rsplit("_", 1)[-1],
        "product_id": product_id,
        "gateway_id": gateway_id or device_id,
        "tags": [{"tag_key": "district", "tag_value": "changning"}],
    }


def property_report(
    device_id: str,
    services: dict[str, dict[str, Any]],
    ts: datetime | None = None,
    *,
    product_id: str = "64f0c2a1e8b7",
    node_id: str | None = None,
    gateway_id: str | None = None,
    messy: bool = False,
) -> tuple[bytes, dict, dict]:
    """resource device.property / event report; `services` maps service_id → properties."""
    body_services = []
    for service_id, props in services.items():
        entry: dict[str, Any] = {"service_id": service_id, "properties": _stringify(props) if messy else props}
        if not messy:
            entry["event_time"] = compact_time(ts)
        body_services.append(entry)
    doc = {
        "resource": "device.property",
        "event": "report",
        "event_time": compact_time(ts),
        "request_id": str(uuid.uuid4()),
        "notify_data": {"header": _header(device_id, product_id, node_id, gateway_id, messy),
                        "body": {"services": body_services}},
    }
    if messy:
        doc["event_time_ms"] = (ts or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z")
    return _wire(doc)


def status_update(
    device_id: str,
    status: str = "ONLINE",
    ts: datetime | None = None,
    *,
    product_id: str = "64f0c2a1e8b7",
    last_online: datetime | None = None,
    messy: bool = False,
) -> tuple[bytes, dict, dict]:
    """resource device.status / event update; status ONLINE | OFFLINE | ABNORMAL."""
    body = {"status": status.lower() if messy else status, "last_online_time": compact_time(last_online or ts)}
    if not messy:
        body["status_update_time"] = compact_time(ts)
    doc = {
        "resource": "device.status",
        "event": "update",
        "event_time": compact_time(ts),
        "notify_data": {"header": _header(device_id, product_id, None, None, messy), "body": body},
    }
    return _wire(doc)


def ocean_data_changed(
    device_id: str,
    service_id: str,
    data: dict[str, Any],
    ts: datetime | None = None,
    *,
    gateway_id: str | None = None,
    messy: bool = False,
) -> tuple[bytes, dict, dict]:
    """OceanConnect notifyType deviceDataChanged (one service)."""
    doc = {
        "notifyType": "deviceDataChanged",
        "requestId": None if messy else str(uuid.uuid4()),
        "deviceId": device_id,
        "gatewayId": "" if messy else (gateway_id or device_id),
        "service": {"serviceId": service_id, "serviceType": service_id,
                    "data": _stringify(data) if messy else data, "eventTime": compact_time(ts)},
    }
    return _wire(doc)


def ocean_datas_changed(
    device_id: str,
    services: dict[str, dict[str, Any]],
    ts: datetime | None = None,
    *,
    messy: bool = False,
) -> tuple[bytes, dict, dict]:
    """OceanConnect notifyType deviceDatasChanged (services[])."""
    doc = {
        "notifyType": "deviceDatasChanged",
        "requestId": str(uuid.uuid4()),
        "deviceId": device_id,
        "gatewayId": device_id,
        "services": [
            {"serviceId": sid, "serviceType": sid, "data": _stringify(d) if messy else d, "eventTime": compact_time(ts)}
            for sid, d in services.items()
        ],
    }
    return _wire(doc)
