"""IOT-2: generic MQTT JSON deliveries matched against topic templates → DeviceMessage."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from cityops.connectors import registry
from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.mqtt_json import (
    DEFAULT_TEMPLATES,
    MqttJsonSettings,
    connector,
    match,
    subscription_filters,
    template_kind,
)
from cityops.sim.wire import mqtt_json as wire

TS = datetime(2024, 5, 1, 2, 30, 15, tzinfo=timezone.utc)
MS = int(TS.timestamp() * 1000)


def parse(topic, payload, settings=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return connector.parse(PushRequest(body=body, topic=topic), settings)


def test_registry_and_contract():
    """IOT-2: registered under "mqtt_json"; the broker authenticates, so no shared token."""
    assert registry.get("mqtt_json") is connector
    assert connector.needs_shared_token is False
    assert connector.Settings().topic_templates == list(DEFAULT_TEMPLATES)
    assert connector.verify_get(PushRequest(body=b""), None) is None


@pytest.mark.parametrize(
    "template, kind",
    [
        ("/{product}/{device}/properties/report", "telemetry"),
        ("/{product}/{device}/event/{event}", "event"),
        ("/{product}/{device}/online", "online"),
        ("/{product}/{device}/offline", "offline"),
        ("$sys/{product}/{device}/thing/property/post", "telemetry"),
        ("$sys/{product}/{device}/thing/event/post", "event"),
        ("/sys/{product}/{device}/thing/event/property/post", "telemetry"),
        ("/sys/{product}/{device}/thing/event/{event}/post", "event"),
        ("$oc/devices/{device}/sys/properties/report", "telemetry"),
        ("site/{device}/alarm/{event}", "event"),
    ],
)
def test_template_kind(template, kind):
    """IOT-2: a template's meaning follows from its shape."""
    assert template_kind(template) == kind


def test_match():
    """IOT-2: placeholders match exactly one non-empty segment."""
    assert match("/{product}/{device}/online", "/p1/d1/online") == {"product": "p1", "device": "d1"}
    assert match("/{product}/{device}/online", "/p1/d1/offline") is None
    assert match("/{product}/{device}/online", "/p1/x/d1/online") is None
    assert match("/{product}/{device}/online", "//d1/online") is None
    assert match("$oc/devices/{device}/sys/properties/report", "$oc/devices/abc_1/sys/properties/report") == {
        "device": "abc_1"}


def test_subscription_filters():
    """IOT-2: the consumer subscribes to each template with '+' for placeholders, once each."""
    settings = MqttJsonSettings(topic_templates=["/{product}/{device}/online", "/{product}/{device}/offline",
                                                 "/sys/{product}/{device}/thing/event/{event}/post",
                                                 "/sys/{product}/{device}/thing/event/property/post"])
    assert subscription_filters(settings) == ["/+/+/online", "/+/+/offline", "/sys/+/+/thing/event/+/post",
                                              "/sys/+/+/thing/event/property/post"]
    assert connector.subscription_filters({"topic_templates": ["a/{device}", "a/{device}"]}) == ["a/+"]
    assert "$oc/devices/+/sys/properties/report" in subscription_filters(None)


@pytest.mark.parametrize(
    "settings",
    [
        {"topic_templates": []},
        {"topic_templates": ["/{product}/online"]},  # no {device}
        {"topic_templates": ["/{device}/{device}/x"]},
        {"topic_templates": ["/+/{device}/x"]},
        {"topic_templates": ["/p/dev-{device}/x"]},  # placeholder not a whole segment
        {"topic_templates": ["/{product}/{device}/{sensor}"]},
        {"topic_templates": ["$oc/devices/{device}/sys/properties/report"], "id_with_product": True},
    ],
)
def test_settings_validation(settings):
    """IOT-2: bad templates are refused when the connection is configured."""
    with pytest.raises(ValidationError):
        MqttJsonSettings.model_validate(settings)


def test_flat_telemetry():
    """IOT-2: a flat payload; "ts" gives the time and is not a property."""
    [msg] = parse("/smoke/sd-001/properties/report", {"temp": 21.5, "battery": "87", "ts": MS})
    assert msg.kind == "telemetry" and msg.external_id == "sd-001" and msg.product_key == "smoke"
    assert msg.properties == {"temp": 21.5, "battery": "87"} and msg.ts == TS
    assert msg.meta["topic"] == "/smoke/sd-001/properties/report"
    assert msg.source_type == "/{product}/{device}/properties/report"


def test_jetlinks_wrapped_properties():
    """IOT-2: JetLinks {"properties": {...}, "timestamp"} payloads."""
    [msg] = parse("/smoke/sd-001/properties/report",
                  {"messageId": "m1", "deviceId": "sd-001", "timestamp": MS, "properties": {"temp": 20}})
    assert msg.properties == {"temp": 20} and msg.ts == TS


def test_onenet_studio_params_grouped_by_time():
    """IOT-2: OneNET Studio {id, version, params: {ident: {value, time}}}."""
    payload = {"id": "1", "version": "1.0",
               "params": {"level": {"value": 35.2, "time": MS}, "battery": {"value": 90, "time": MS + 1000},
                          "alarm": {"value": 0, "time": MS}}}
    first, second = parse("$sys/p1/wl-9/thing/property/post", payload)
    assert first.properties == {"level": 35.2, "alarm": 0} and first.ts == TS
    assert second.properties == {"battery": 90} and second.ts.timestamp() == TS.timestamp() + 1


def test_alink_property_post_prefers_specific_template():
    """IOT-2: /thing/event/property/post is telemetry even though an {event} template also fits."""
    [msg] = parse("/sys/a1Pk/dn1/thing/event/property/post",
                  {"id": "123", "version": "1.0", "params": {"LEL": 12}, "method": "thing.event.property.post"})
    assert msg.kind == "telemetry" and msg.properties == {"LEL": 12} and msg.ts is None


def test_huawei_services():
    """IOT-2: Huawei {services: [...]} → one message per service; clashing identifiers prefixed."""
    payload = {"services": [{"service_id": "Cover", "properties": {"tilt": 3, "battery": 80},
                             "event_time": "20240501T023015Z"},
                            {"service_id": "Power", "properties": {"battery": 3.6}}]}
    cover, power = parse("$oc/devices/p1_mh-1/sys/properties/report", payload)
    assert cover.external_id == "p1_mh-1" and cover.product_key is None
    assert cover.properties == {"tilt": 3, "Cover.battery": 80} and cover.ts == TS
    assert power.properties == {"Power.battery": 3.6} and power.meta["service_id"] == "Power"


def test_events():
    """IOT-2: event names from the topic, the payload, or one per OneNET Studio params key."""
    [jl] = parse("/smoke/sd-1/event/smoke_alarm", {"event": "smoke_alarm", "timestamp": MS, "data": {"level": 2}})
    assert (jl.kind, jl.event, jl.properties, jl.ts) == ("event", "smoke_alarm", {"level": 2}, TS)

    [alink] = parse("/sys/pk/dn/thing/event/HighLevel/post",
                    {"id": "1", "params": {"value": {"level": 120}, "time": MS},
                     "method": "thing.event.HighLevel.post"})
    assert (alink.event, alink.properties, alink.ts) == ("HighLevel", {"level": 120}, TS)

    a, b = parse("$sys/p/d/thing/event/post",
                 {"id": "2", "version": "1.0", "params": {"tamper": {"value": {"state": 1}, "time": MS},
                                                          "lowBattery": {"value": 9}}})
    assert (a.event, a.properties, a.ts) == ("tamper", {"state": 1}, TS)
    assert (b.event, b.properties, b.ts) == ("lowBattery", {"value": 9}, None)

    [named] = parse("site/d7/alarm/{event}".replace("{event}", "fire"), {"level": "2"},
                    {"topic_templates": ["site/{device}/alarm/{event}"]})
    assert (named.event, named.properties, named.product_key) == ("fire", {"level": "2"}, None)


def test_status_topics():
    """IOT-2: …/online and …/offline → status, whatever the payload."""
    [on] = parse("/smoke/sd-1/online", {"timestamp": MS})
    assert (on.kind, on.online, on.ts) == ("status", True, TS)
    [off] = parse("/smoke/sd-1/offline", b"")
    assert (off.online, off.ts) == (False, None)
    [off] = parse("/smoke/sd-1/offline", b"offline")
    assert off.online is False


def test_id_with_product():
    """IOT-2: external_id "product/device" when the settings ask for it."""
    settings = {"topic_templates": ["/{product}/{device}/properties/report"], "id_with_product": True}
    [msg] = parse("/smoke/sd-1/properties/report", {"t": 1}, settings)
    assert msg.external_id == "smoke/sd-1"


@pytest.mark.parametrize(
    "topic, payload, reason",
    [
        (None, {"t": 1}, "without a topic"),
        ("/a/b/c/d/e", {"t": 1}, "matches no topic template"),
        ("/smoke/sd-1/properties/report", b"{broken", "not JSON"),
        ("/smoke/sd-1/properties/report", b"[1]", "not a JSON object"),
        ("/smoke/sd-1/properties/report", {"ts": MS}, "no properties"),
        ("/smoke/sd-1/properties/report", {"params": {}}, "no properties"),
        ("$sys/p/d/thing/event/post", {"id": "1"}, "event without an identifier"),
        ("/smoke/sd-1/event/x", b"42", "not a JSON object"),
    ],
)
def test_rejected(topic, payload, reason):
    """IOT-2: unusable deliveries are rejected with a reason."""
    with pytest.raises(Rejected, match=reason):
        parse(topic, payload)


# --- round trips through the simulator's wire builders ---


def _parse(wire_pair, settings=None):
    topic, payload = wire_pair
    return connector.parse(PushRequest(body=payload, topic=topic), settings)


@pytest.mark.parametrize("messy", [False, True])
@pytest.mark.parametrize("builder", [wire.jetlinks_properties, wire.flat_properties,
                                     wire.onenet_studio_property, wire.alink_property])
def test_round_trip_properties(builder, messy):
    """IOT-2: every property builder → one telemetry message with the same values."""
    [msg] = _parse(builder("wl", "wl-3", {"level": 35, "battery": 3.6}, TS, messy=messy))
    assert msg.kind == "telemetry" and msg.external_id == "wl-3" and msg.product_key == "wl"
    assert msg.properties == ({"level": "35", "battery": "3.6"} if messy else {"level": 35, "battery": 3.6})
    untimed = messy and builder in (wire.onenet_studio_property, wire.alink_property)  # messy drops item times
    assert msg.ts == (None if untimed else TS)


@pytest.mark.parametrize("messy", [False, True])
def test_round_trip_huawei(messy):
    """IOT-2: sim/wire huawei_properties → one message per service."""
    msgs = _parse(wire.huawei_properties("p_dev", {"A": {"x": 1}, "B": {"y": 2}}, TS, messy=messy))
    assert [m.properties for m in msgs] == ([{"x": "1"}, {"y": "2"}] if messy else [{"x": 1}, {"y": 2}])
    assert all(m.ts == (None if messy else TS) for m in msgs)


@pytest.mark.parametrize("builder", [wire.jetlinks_event, wire.onenet_studio_event, wire.alink_event])
def test_round_trip_events(builder):
    """IOT-2: every event builder → one event with its name and data."""
    [msg] = _parse(builder("gas", "g-1", "high_gas", {"lel": 25}, TS))
    assert (msg.kind, msg.event, msg.properties, msg.ts) == ("event", "high_gas", {"lel": 25}, TS)


@pytest.mark.parametrize("online, messy", [(True, False), (False, False), (True, True), (False, True)])
def test_round_trip_status(online, messy):
    """IOT-2: sim/wire jetlinks_status → status."""
    [msg] = _parse(wire.jetlinks_status("gas", "g-1", online, TS, messy=messy))
    assert msg.online is online and msg.ts == (None if messy else TS)


def test_round_trip_subscription_filters_cover_builders():
    """IOT-2: every builder's topic falls under one of the default subscription filters."""
    filters = [f.split("/") for f in subscription_filters(None)]
    topics = [
        wire.jetlinks_properties("p", "d", {"a": 1})[0], wire.jetlinks_event("p", "d", "e", {})[0],
        wire.jetlinks_status("p", "d", True)[0], wire.jetlinks_status("p", "d", False)[0],
        wire.onenet_studio_property("p", "d", {"a": 1})[0], wire.onenet_studio_event("p", "d", "e", {})[0],
        wire.alink_property("p", "d", {"a": 1})[0], wire.alink_event("p", "d", "e", {})[0],
        wire.huawei_properties("d", {"s": {"a": 1}})[0],
    ]
    for topic in topics:
        parts = topic.split("/")
        assert any(len(f) == len(parts) and all(x in ("+", y) for x, y in zip(f, parts)) for f in filters), topic
