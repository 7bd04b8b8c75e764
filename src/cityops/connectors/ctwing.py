"""China Telecom CTWing (AEP) HTTP subscription push (IOT-2).

CTWing POSTs one JSON message (or a JSON array of them) per push and signs nothing: the
pipeline protects the endpoint with the connection's shared token / IP allow-list
(`needs_shared_token`). Devices without a profile send raw bytes (`payload.APPdata`, base64),
read by the decoder the connection's settings name for the product (see `decoders`).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from pydantic import BaseModel, Field, field_validator

from cityops.connectors import decoders
from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.util import as_settings, b64decode, epoch_ms, integer, load_json, pick, text
from cityops.ingest.message import DeviceMessage

SEVERITY = {1: "info", 2: "warning", 3: "critical"}
_META_TEXT = ("tenantId", "protocol", "topic", "serviceId", "deviceType", "assocAssetId")
_META_SEQ = ("upPacketSN", "upDataSN")


class Settings(BaseModel):
    decoders: dict[str, str] = Field(default_factory=dict)  # productId → APPdata decoder name
    default_decoder: str = "json"

    @field_validator("decoders")
    @classmethod
    def _known_decoders(cls, value: dict[str, str]) -> dict[str, str]:
        for product, name in value.items():
            if name not in decoders.DECODERS:
                raise ValueError(f"product {product}: unknown decoder {name!r} (known: {', '.join(decoders.names())})")
        return value

    @field_validator("default_decoder")
    @classmethod
    def _known_default(cls, value: str) -> str:
        if value not in decoders.DECODERS:
            raise ValueError(f"unknown decoder {value!r} (known: {', '.join(decoders.names())})")
        return value


def _object(value: Any) -> Any:
    """Some pushes carry a nested object as a JSON string."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _appdata_key(payload: dict) -> str | None:
    return next((k for k in payload if isinstance(k, str) and k.lower() == "appdata"), None)


def _properties(payload: dict, product: str | None, settings: Settings) -> dict[str, Any]:
    key = _appdata_key(payload)
    if key is not None:
        name = settings.decoders.get(product or "", settings.default_decoder)
        return decoders.decode(name, b64decode(payload[key], "APPdata"))
    # profile products: accept the properties bare or wrapped in serviceData
    service_data = _object(payload.get("serviceData"))
    if isinstance(service_data, dict):
        return dict(service_data)
    return dict(payload)


def _data_report(msg: dict, common: dict, settings: Settings) -> DeviceMessage:
    payload = _object(pick(msg, "payload"))
    if not isinstance(payload, dict):
        raise Rejected(f"{common['source_type']} without a payload object")
    props = _properties(payload, common["product_key"], settings)
    return DeviceMessage(kind="telemetry", properties=props, **common)


def _online_offline(msg: dict, common: dict, settings: Settings) -> DeviceMessage:
    raw = pick(msg, "eventType")
    state = integer(raw)
    if state not in (0, 1):
        raise Rejected(f"deviceOnlineOfflineReport with eventType {raw!r} (expected 1 online or 0 offline)")
    return DeviceMessage(kind="status", online=state == 1, **common)


def _event_report(msg: dict, common: dict, settings: Settings) -> DeviceMessage:
    content = _object(pick(msg, "eventContent"))
    if isinstance(content, dict) and _appdata_key(content) is not None:
        content = _properties(content, common["product_key"], settings)
    if isinstance(content, dict):
        props = {k: v for k, v in content.items() if k != "identifier"}
        identifier = text(content.get("identifier"))
    else:
        props = {} if text(content) is None else {"eventContent": content}
        identifier = None
    event = identifier or text(pick(msg, "serviceId")) or "eventReport"
    severity = SEVERITY.get(integer(pick(msg, "eventType")))  # type: ignore[arg-type]
    return DeviceMessage(kind="event", event=event, severity=severity, properties=props, **common)


def _command_response(msg: dict, common: dict, settings: Settings) -> DeviceMessage:
    task_id = text(pick(msg, "taskId"))
    if task_id is None:
        raise Rejected("commandResponse without taskId")
    result = _object(pick(msg, "result"))
    result = result if isinstance(result, dict) else {}
    code = text(pick(result, "resultCode")) or text(pick(msg, "resultCode"))
    if code is None:
        raise Rejected("commandResponse without result.resultCode")
    detail = pick(result, "resultDetail")
    command = {"task_id": task_id, "status": code.upper(), "detail": detail}
    return DeviceMessage(kind="command_response", command=command, **common)


HANDLERS: dict[str, Callable[[dict, dict, Settings], DeviceMessage]] = {
    "dataReport": _data_report,
    "dataReportTupUnion": _data_report,
    "deviceOnlineOfflineReport": _online_offline,
    "eventReport": _event_report,
    "commandResponse": _command_response,
}


def _meta(msg: dict) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in _META_TEXT:
        value = text(pick(msg, key))
        if value is not None:
            meta[key] = value
    for key in _META_SEQ:
        n = integer(pick(msg, key))
        if n is not None and n >= 0:  # -1 means "no sequence number"
            meta[key] = n
    return meta


def _one(msg: Any, settings: Settings) -> DeviceMessage:
    if not isinstance(msg, dict):
        raise Rejected(f"expected a JSON object, got {type(msg).__name__}")
    mtype = text(pick(msg, "messageType"))
    if mtype is None:
        raise Rejected("CTWing push without messageType")
    handler = HANDLERS.get(mtype)
    if handler is None:
        raise Rejected(f"unknown CTWing messageType {mtype!r} (expected one of {', '.join(HANDLERS)})")
    device_id = text(pick(msg, "deviceId"))
    if device_id is None:
        raise Rejected(f"{mtype} without deviceId")
    common = {
        "external_id": device_id,
        "ts": epoch_ms(pick(msg, "timestamp")),
        "product_key": text(pick(msg, "productId")),
        "imei": text(pick(msg, "IMEI", "imei")),
        "imsi": text(pick(msg, "IMSI", "imsi")),
        "iccid": text(pick(msg, "iccid", "ICCID")),
        "source_type": mtype,
        "meta": _meta(msg),
    }
    return handler(msg, common, settings)


class CTWingConnector:
    kind = "ctwing"
    label = "中国电信 CTWing (AEP)"
    needs_shared_token = True
    Settings = Settings

    def parse(self, request: PushRequest, settings: Any) -> list[DeviceMessage]:
        settings = as_settings(Settings, settings)
        body = load_json(request.body)
        if not isinstance(body, list):
            return [_one(body, settings)]
        out = []
        for n, msg in enumerate(body):
            try:
                out.append(_one(msg, settings))
            except Rejected as exc:
                raise Rejected(f"message {n}: {exc.reason}", exc.status) from exc
        return out

    def verify_get(self, request: PushRequest, settings: Any) -> bytes | None:
        return None


connector = CTWingConnector()
