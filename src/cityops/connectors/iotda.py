"""Huawei Cloud IoTDA (v5) HTTP push, and the older OceanConnect notifications (IOT-2).

v5: {"resource", "event", "event_time", "notify_data": {"header": {...}, "body": {...}}}
- device.property / report → one telemetry message per service; service_id goes to meta.
  Property identifiers are kept as the device reports them; only when two services of one
  push report the same identifier is it prefixed "service_id." (in every such service).
- device.status / update → status; ONLINE → online, OFFLINE and ABNORMAL → offline
  (meta["status"] keeps the platform's word).
- any other resource/event (device.message, device.event, lifecycle …) → Rejected: their
  shapes are not in our vendor notes yet.
OceanConnect: notifyType deviceDataChanged (service) / deviceDatasChanged (services[]).

IoTDA signs nothing we can check, so the connection's shared token guards the push URL.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from pydantic import BaseModel

from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.util import any_time, load_json, pick, text
from cityops.ingest.message import DeviceMessage

STATUS_ONLINE = {"ONLINE": True, "OFFLINE": False, "ABNORMAL": False}


class IotdaSettings(BaseModel):
    """Nothing to configure: the shared token is handled by the pipeline."""


def _services(raw: Any) -> list[tuple[str | None, dict, Any]]:
    """[(service_id, properties, event_time)] from v5 or OceanConnect service objects."""
    if not isinstance(raw, list):
        raise Rejected("services is not a list")
    out = []
    for s in raw:
        if not isinstance(s, dict):
            continue
        props = pick(s, "properties", "data")
        if not isinstance(props, dict) or not props:
            continue
        out.append((text(pick(s, "service_id", "serviceId")), props, pick(s, "event_time", "eventTime")))
    if not out:
        raise Rejected("no service with properties in the push")
    return out


def _telemetry(services, external_id: str, product_key, default_ts, source_type, meta) -> list[DeviceMessage]:
    seen = Counter(k for _, props, _ in services for k in props)
    messages = []
    for service_id, props, event_time in services:
        if service_id:
            props = {(f"{service_id}.{k}" if seen[k] > 1 else k): v for k, v in props.items()}
        messages.append(
            DeviceMessage(
                kind="telemetry",
                external_id=external_id,
                ts=any_time(event_time) or default_ts,
                properties=props,
                product_key=product_key,
                source_type=source_type,
                meta={**meta, "service_id": service_id},
            )
        )
    return messages


class IotdaConnector:
    kind: ClassVar[str] = "iotda"
    label: ClassVar[str] = "华为云 IoTDA"
    needs_shared_token: ClassVar[bool] = True
    Settings: ClassVar[type[BaseModel]] = IotdaSettings

    def parse(self, request: PushRequest, settings: Any) -> list[DeviceMessage]:
        doc = load_json(request.body)
        if not isinstance(doc, dict):
            raise Rejected("IoTDA push is not a JSON object")
        if "notifyType" in doc:
            return self._oceanconnect(doc)
        if "resource" in doc:
            return self._v5(doc)
        raise Rejected("neither an IoTDA v5 push (resource) nor an OceanConnect one (notifyType)")

    def verify_get(self, request: PushRequest, settings: Any) -> bytes | None:
        return None

    def _v5(self, doc: dict) -> list[DeviceMessage]:
        resource, event = text(doc.get("resource")), text(doc.get("event"))
        data = doc.get("notify_data")
        if not isinstance(data, dict):
            raise Rejected("notify_data missing")
        header = data.get("header") if isinstance(data.get("header"), dict) else {}
        body = data.get("body") if isinstance(data.get("body"), dict) else {}
        device_id = text(header.get("device_id"))
        if not device_id:
            raise Rejected("notify_data.header.device_id missing")
        product_key = text(header.get("product_id"))
        push_ts = any_time(doc.get("event_time")) or any_time(doc.get("event_time_ms"))
        source = f"{resource}/{event}"
        meta = {k: header[k] for k in ("app_id", "node_id", "gateway_id") if text(header.get(k))}
        if header.get("tags"):
            meta["tags"] = header["tags"]
        if text(doc.get("request_id")):
            meta["request_id"] = doc["request_id"]

        if resource == "device.property" and event in ("report", None):
            services = _services(body.get("services"))
            return _telemetry(services, device_id, product_key, push_ts, source, meta)
        if resource == "device.status" and event in ("update", None):
            status = (text(body.get("status")) or "").upper()
            if status not in STATUS_ONLINE:
                raise Rejected(f"unknown IoTDA device status {body.get('status')!r}")
            meta["status"] = status
            for key in ("last_online_time", "status_update_time"):
                when = any_time(body.get(key))
                if when:
                    meta[key] = when.isoformat()
            ts = any_time(body.get("status_update_time")) or push_ts
            return [
                DeviceMessage(
                    kind="status",
                    external_id=device_id,
                    ts=ts,
                    online=STATUS_ONLINE[status],
                    product_key=product_key,
                    source_type=source,
                    meta=meta,
                )
            ]
        raise Rejected(f"unsupported IoTDA resource/event {resource!r}/{event!r}")

    def _oceanconnect(self, doc: dict) -> list[DeviceMessage]:
        notify = text(doc.get("notifyType"))
        device_id = text(doc.get("deviceId"))
        if notify == "deviceDataChanged":
            raw = [doc.get("service")]
        elif notify == "deviceDatasChanged":
            raw = doc.get("services")
        else:
            raise Rejected(f"unsupported OceanConnect notifyType {notify!r}")
        if not device_id:
            raise Rejected("deviceId missing")
        meta = {"gateway_id": text(doc.get("gatewayId"))} if text(doc.get("gatewayId")) else {}
        if text(doc.get("requestId")):
            meta["request_id"] = doc["requestId"]
        messages = _telemetry(_services(raw), device_id, None, None, notify, meta)
        # OceanConnect also names the service type (the profile's service kind)
        types = {text(pick(s, "serviceId")): text(pick(s, "serviceType")) for s in raw if isinstance(s, dict)}
        for m in messages:
            if types.get(m.meta["service_id"]):
                m.meta["service_type"] = types[m.meta["service_id"]]
        return messages


connector = IotdaConnector()
