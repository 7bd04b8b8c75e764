"""Generic MQTT JSON: a delivery's topic is matched against the connection's topic templates (IOT-2).

A template is a topic with whole-segment placeholders {product}, {device} (required) and
{event}, e.g. "/{product}/{device}/properties/report". When several templates match, the one
with the most literal segments wins (then the first listed).

What a template means follows from its shape:
- last segment "online" / "offline" → status;
- contains {event} or "/event/" but not "propert…" → event;
- anything else → telemetry.

Payloads are normalised to properties: flat {"temp": 21.5}; wrapped in "params" (Aliyun
Alink, OneNET Studio), "properties" (JetLinks) or "data"; items as {"value", "time"} or plain
values; Huawei {"services": [{service_id, properties, event_time}]} (one message per service,
clashing identifiers prefixed "service_id."). "timestamp"/"ts" give the time; envelope keys
(id, version, method, messageId, deviceId) are not properties.
Events take their name from {event}, else the payload's "event"/"identifier", else one event
per key of "params" (OneNET Studio thing/event/post).

external_id = device, or "product/device" with settings.id_with_product. The broker
authenticates the devices, so no shared token.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, ClassVar

from pydantic import BaseModel, Field, field_validator, model_validator

from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.util import any_time, as_settings, pick, text, timed_values
from cityops.ingest.message import DeviceMessage

PLACEHOLDERS = ("{product}", "{device}", "{event}")
DEFAULT_TEMPLATES = (
    "/{product}/{device}/properties/report",
    "/{product}/{device}/event/{event}",
    "/{product}/{device}/online",
    "/{product}/{device}/offline",
    "$sys/{product}/{device}/thing/property/post",
    "$sys/{product}/{device}/thing/event/post",
    "/sys/{product}/{device}/thing/event/property/post",
    "/sys/{product}/{device}/thing/event/{event}/post",
    "$oc/devices/{device}/sys/properties/report",
)
ENVELOPE = {"id", "version", "method", "messageid", "deviceid", "timestamp", "ts"}


def template_kind(template: str) -> str:
    """"online" | "offline" | "event" | "telemetry" — see the module docstring."""
    last = template.rstrip("/").rsplit("/", 1)[-1]
    if last in ("online", "offline"):
        return last
    if ("{event}" in template or "/event/" in template) and "propert" not in template.lower():
        return "event"
    return "telemetry"


def match(template: str, topic: str) -> dict[str, str] | None:
    """The placeholder values if `topic` fits `template`, else None."""
    t_parts, parts = template.split("/"), topic.split("/")
    if len(t_parts) != len(parts):
        return None
    found = {}
    for t, p in zip(t_parts, parts):
        if t in PLACEHOLDERS:
            if not p:
                return None
            found[t[1:-1]] = p
        elif t != p:
            return None
    return found


class MqttJsonSettings(BaseModel):
    topic_templates: list[str] = Field(default_factory=lambda: list(DEFAULT_TEMPLATES), min_length=1)
    id_with_product: bool = False

    @field_validator("topic_templates")
    @classmethod
    def _check_templates(cls, templates: list[str]) -> list[str]:
        for t in templates:
            segments = t.split("/")
            for seg in segments:
                if seg in ("+", "#") or (("{" in seg or "}" in seg) and seg not in PLACEHOLDERS):
                    raise ValueError(f"{t!r}: use whole-segment {{product}}/{{device}}/{{event}}, not {seg!r}")
            if segments.count("{device}") != 1 or any(segments.count(p) > 1 for p in PLACEHOLDERS):
                raise ValueError(f"{t!r}: needs exactly one {{device}} and each placeholder at most once")
        return templates

    @model_validator(mode="after")
    def _product_everywhere(self) -> "MqttJsonSettings":
        if self.id_with_product:
            missing = [t for t in self.topic_templates if "{product}" not in t.split("/")]
            if missing:
                raise ValueError(f"id_with_product needs {{product}} in every template: {missing}")
        return self


def subscription_filters(settings: Any) -> list[str]:
    """The MQTT topic filters to subscribe to: each template with its placeholders as '+'."""
    settings = as_settings(MqttJsonSettings, settings)
    filters = ["/".join("+" if s in PLACEHOLDERS else s for s in t.split("/")) for t in settings.topic_templates]
    return list(dict.fromkeys(filters))


def _unwrap(payload: dict) -> tuple[dict, Any]:
    """(property items, default time) from a wrapped or flat payload."""
    when = pick(payload, "timestamp", "ts")
    for key in ("params", "properties", "data"):
        if isinstance(payload.get(key), dict):
            return payload[key], when or payload.get("time")
    flat = {k: v for k, v in payload.items() if k.lower() not in ENVELOPE | {"event", "identifier"}}
    return flat, when


def _groups(payload: Any) -> list[tuple[Any, dict, dict]]:
    """[(ts, properties, meta)] — one per Huawei service or per distinct item time."""
    if not isinstance(payload, dict):
        raise Rejected("payload is not a JSON object")
    if isinstance(payload.get("services"), list):
        services = [s for s in payload["services"] if isinstance(s, dict) and isinstance(s.get("properties"), dict)]
        seen = Counter(k for s in services for k in s["properties"])
        out = []
        for s in services:
            sid = text(s.get("service_id"))
            props = {(f"{sid}.{k}" if sid and seen[k] > 1 else k): v for k, v in s["properties"].items()}
            out.append((any_time(s.get("event_time")), props, {"service_id": sid}))
        return out
    items, when = _unwrap(payload)
    default_ts = any_time(when)
    if isinstance(items.get("value"), dict) and set(items) <= {"value", "time"}:  # Alink event params
        return [(any_time(items.get("time")) or default_ts, items["value"], {})]
    return [(ts, props, {}) for ts, props in timed_values(items, default_ts)]


class MqttJsonConnector:
    kind: ClassVar[str] = "mqtt_json"
    label: ClassVar[str] = "通用 MQTT JSON"
    needs_shared_token: ClassVar[bool] = False
    Settings: ClassVar[type[BaseModel]] = MqttJsonSettings

    def subscription_filters(self, settings: Any) -> list[str]:
        return subscription_filters(settings)

    def verify_get(self, request: PushRequest, settings: Any) -> bytes | None:
        return None

    def parse(self, request: PushRequest, settings: Any) -> list[DeviceMessage]:
        settings = as_settings(MqttJsonSettings, settings)
        topic = request.topic
        if not topic:
            raise Rejected("MQTT delivery without a topic")
        best = None
        for t in settings.topic_templates:
            found = match(t, topic)
            literal = sum(1 for s in t.split("/") if s and s not in PLACEHOLDERS)
            if found is not None and (best is None or literal > best[0]):
                best = (literal, t, found)
        if best is None:
            raise Rejected(f"topic {topic!r} matches no topic template")
        _, template, found = best
        device, product = found["device"], found.get("product")
        base = {
            "external_id": f"{product}/{device}" if settings.id_with_product else device,
            "product_key": product,
            "source_type": template,
        }
        meta = {"topic": topic}
        kind = template_kind(template)

        if kind in ("online", "offline"):
            try:
                payload = json.loads(request.body.decode("utf-8-sig")) if request.body.strip() else {}
            except (UnicodeDecodeError, ValueError):
                payload = {}  # status payloads are often empty or a bare word; the topic says it all
            when = pick(payload, "timestamp", "ts", "time") if isinstance(payload, dict) else None
            return [DeviceMessage(kind="status", ts=any_time(when), online=kind == "online", meta=meta, **base)]

        try:
            payload = json.loads(request.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise Rejected(f"payload is not JSON: {exc}") from exc
        if kind == "event":
            return self._events(payload, found.get("event"), base, meta)
        messages = [
            DeviceMessage(kind="telemetry", ts=ts, properties=props, meta={**meta, **extra}, **base)
            for ts, props, extra in _groups(payload)
            if props
        ]
        if not messages:
            raise Rejected("payload carries no properties")
        return messages

    def _events(self, payload: Any, name: str | None, base: dict, meta: dict) -> list[DeviceMessage]:
        if not isinstance(payload, dict):
            raise Rejected("payload is not a JSON object")
        name = name or text(pick(payload, "event", "identifier"))
        if name:
            groups = _groups(payload)
            props: dict = {}
            for _, p, _ in groups:
                props.update(p)
            ts = groups[0][0] if groups else None
            return [DeviceMessage(kind="event", ts=ts, event=name, properties=props, meta=meta, **base)]
        params = payload.get("params")
        if not isinstance(params, dict) or not params:
            raise Rejected("event without an identifier (no {event} in the topic, no event/params in the payload)")
        default_ts = any_time(pick(payload, "timestamp", "ts"))
        messages = []
        for ident, item in params.items():  # OneNET Studio: {ident: {value: {...}, time}}
            ts = default_ts
            if isinstance(item, dict) and "value" in item and set(item) <= {"value", "time"}:
                ts, item = any_time(item.get("time")) or default_ts, item["value"]
            props = item if isinstance(item, dict) else {"value": item}
            messages.append(DeviceMessage(kind="event", ts=ts, event=ident, properties=props, meta=dict(meta), **base))
        return messages


connector = MqttJsonConnector()
