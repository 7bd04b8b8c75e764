"""Aliyun IoT platform: server-side subscription / data forwarding messages (IOT-2).

The message kind follows from the body (the topic, when the consumer passes it, only breaks ties):
- "items" → property post → telemetry, one message per distinct item time (gmtCreate when an
  item has none). Items that failed the thing-model check ("checkFailedData") are not
  telemetry; they are kept in meta["check_failed"].
- "identifier" → event post → event; properties = the event's "value" object. Severity from
  "type": info → info, alert → warning, error → critical (Aliyun's "alert" is an ordinary
  alarm; "error" means the device reports a fault).
- "status" online|offline (topic /as/mqtt/status/{pk}/{dn}) → status. "utcTime" is UTC;
  "time"/"lastTime" are Beijing local time without an offset.

external_id = "productKey/deviceName": the pair is an Aliyun device's identity (deviceName is
only unique within its product); meta keeps iotId, the platform's own opaque id.
Aliyun forwarding is not signed in a way we can check here, so the shared token guards it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.util import CHINA_TZ, any_time, load_json, text, timed_values
from cityops.ingest.message import DeviceMessage

SEVERITY = {"info": "info", "alert": "warning", "error": "critical"}


class AliyunSettings(BaseModel):
    """Nothing to configure: the shared token is handled by the pipeline."""


class AliyunConnector:
    kind: ClassVar[str] = "aliyun"
    label: ClassVar[str] = "阿里云物联网平台"
    needs_shared_token: ClassVar[bool] = True
    Settings: ClassVar[type[BaseModel]] = AliyunSettings

    def parse(self, request: PushRequest, settings: Any) -> list[DeviceMessage]:
        doc = load_json(request.body)
        if not isinstance(doc, dict):
            raise Rejected("Aliyun message is not a JSON object")
        pk, dn = text(doc.get("productKey")), text(doc.get("deviceName"))
        if not pk or not dn:
            raise Rejected("productKey or deviceName missing")
        ident = f"{pk}/{dn}"
        meta = {k: doc[k] for k in ("iotId", "requestId", "deviceType") if text(doc.get(k))}
        if request.topic:
            meta["topic"] = request.topic

        topic = request.topic or ""
        if isinstance(doc.get("items"), dict):
            return self._properties(doc, ident, pk, meta)
        if text(doc.get("identifier")):
            return [self._event(doc, ident, pk, meta)]
        if text(doc.get("status")) or "/as/mqtt/status/" in topic:
            return [self._status(doc, ident, pk, meta)]
        raise Rejected("not an Aliyun property post (items), event (identifier) or status message")

    def verify_get(self, request: PushRequest, settings: Any) -> bytes | None:
        return None

    def _properties(self, doc, ident, pk, meta) -> list[DeviceMessage]:
        failed = doc.get("checkFailedData")
        if isinstance(failed, dict) and failed:
            meta["check_failed"] = failed
        groups = timed_values(doc["items"], any_time(doc.get("gmtCreate")))
        if not groups:
            raise Rejected("property post without items")
        return [
            DeviceMessage(
                kind="telemetry",
                external_id=ident,
                ts=ts,
                properties=props,
                product_key=pk,
                source_type="thing.property.post",
                meta=dict(meta),
            )
            for ts, props in groups
        ]

    def _event(self, doc, ident, pk, meta) -> DeviceMessage:
        value = doc.get("value")
        kind = (text(doc.get("type")) or "").lower()
        if text(doc.get("name")):
            meta["name"] = doc["name"]
        if kind:
            meta["type"] = kind
        return DeviceMessage(
            kind="event",
            external_id=ident,
            ts=any_time(doc.get("time")) or any_time(doc.get("gmtCreate")),
            properties=value if isinstance(value, dict) else ({} if value is None else {"value": value}),
            event=text(doc["identifier"]),
            severity=SEVERITY.get(kind),
            product_key=pk,
            source_type="thing.event.post",
            meta=meta,
        )

    def _status(self, doc, ident, pk, meta) -> DeviceMessage:
        status = (text(doc.get("status")) or "").lower()
        if status not in ("online", "offline"):
            raise Rejected(f"unknown Aliyun device status {doc.get('status')!r}")
        last = any_time(doc.get("utcLastTime")) or any_time(doc.get("lastTime"), CHINA_TZ)
        if last:
            meta["last_time"] = last.isoformat()
        if text(doc.get("clientIp")):
            meta["client_ip"] = doc["clientIp"]
        return DeviceMessage(
            kind="status",
            external_id=ident,
            ts=any_time(doc.get("utcTime")) or any_time(doc.get("time"), CHINA_TZ),
            online=status == "online",
            product_key=pk,
            source_type="status",
            meta=meta,
        )


connector = AliyunConnector()
