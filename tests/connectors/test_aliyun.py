"""IOT-2: Aliyun IoT server-side subscription / data forwarding → DeviceMessage."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from cityops.connectors import registry
from cityops.connectors.aliyun import connector
from cityops.connectors.base import PushRequest, Rejected
from cityops.sim.wire import aliyun as wire

TS = datetime(2024, 5, 1, 2, 30, 15, 123000, tzinfo=timezone.utc)
MS = int(TS.timestamp() * 1000)


def parse(body, topic=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    return connector.parse(PushRequest(body=body, topic=topic), None)


def test_registry_and_contract():
    """IOT-2: registered under "aliyun"; shared token required; no settings."""
    assert registry.get("aliyun") is connector
    assert connector.needs_shared_token is True
    connector.Settings()
    assert connector.verify_get(PushRequest(body=b""), {}) is None


def test_property_post():
    """IOT-2: items → telemetry; external_id productKey/deviceName; iotId kept in meta."""
    doc = {
        "iotId": "4z819VQHk6VSLmmBJfrf00107e",
        "requestId": "2",
        "productKey": "a1FlqIQ****",
        "deviceName": "smoke-001",
        "gmtCreate": 1510799670074,
        "deviceType": "SmokeDetector",
        "items": {"Temperature": {"value": 25, "time": 1510799670074},
                  "Battery": {"value": 87, "time": 1510799670074}},
        "checkFailedData": {},
    }
    [msg] = parse(doc)
    assert msg.kind == "telemetry"
    assert msg.external_id == "a1FlqIQ****/smoke-001"
    assert msg.product_key == "a1FlqIQ****"
    assert msg.properties == {"Temperature": 25, "Battery": 87}
    assert msg.ts == datetime(2017, 11, 16, 2, 34, 30, 74000, tzinfo=timezone.utc)
    assert msg.meta["iotId"] == "4z819VQHk6VSLmmBJfrf00107e"
    assert msg.meta["deviceType"] == "SmokeDetector"
    assert "check_failed" not in msg.meta


def test_property_post_split_by_item_time_and_check_failed():
    """IOT-2: items with different times → one message per time; failed items go to meta only."""
    doc = {
        "productKey": "pk", "deviceName": "dn", "gmtCreate": "1700000002000",
        "items": {"a": {"value": 1, "time": 1700000000000}, "b": {"value": 2, "time": "1700000001000"},
                  "c": {"value": 3}},
        "checkFailedData": {"d": {"value": "x", "time": 1700000000000}},
    }
    msgs = parse(doc)
    assert [(m.properties, int(m.ts.timestamp())) for m in msgs] == [
        ({"a": 1}, 1700000000), ({"b": 2}, 1700000001), ({"c": 3}, 1700000002)]
    assert msgs[0].meta["check_failed"] == {"d": {"value": "x", "time": 1700000000000}}


@pytest.mark.parametrize("kind, severity", [("alert", "warning"), ("error", "critical"), ("info", "info"),
                                            ("ALERT", "warning"), ("other", None)])
def test_event_post(kind, severity):
    """IOT-2: event → event; alert → warning, error → critical, info → info."""
    doc = {"identifier": "SmokeAlarm", "name": "烟雾报警", "type": kind,
           "iotId": "iot-1", "requestId": "9", "productKey": "pk", "deviceName": "smoke-2",
           "gmtCreate": 1510799670074, "value": {"SmokeState": 1, "Concentration": "12.5"},
           "time": 1510799670074}
    [msg] = parse(doc)
    assert msg.kind == "event" and msg.event == "SmokeAlarm" and msg.severity == severity
    assert msg.properties == {"SmokeState": 1, "Concentration": "12.5"}
    assert msg.external_id == "pk/smoke-2" and msg.meta["iotId"] == "iot-1" and msg.meta["name"] == "烟雾报警"
    assert msg.ts is not None


def test_event_with_scalar_value():
    """IOT-2: a non-object event value is kept under "value"."""
    [msg] = parse({"identifier": "Tamper", "type": "alert", "productKey": "pk", "deviceName": "d", "value": 1})
    assert msg.properties == {"value": 1} and msg.ts is None


def test_status_online_offline():
    """IOT-2: status messages; utcTime preferred, the Beijing-local "time" otherwise."""
    doc = {"status": "online", "iotId": "iot-3", "productKey": "pk", "deviceName": "level-1",
           "time": "2018-08-31 15:32:28.205", "utcTime": "2018-08-31T07:32:28.205Z",
           "lastTime": "2018-08-31 15:32:28.195", "utcLastTime": "2018-08-31T07:32:28.195Z",
           "clientIp": "123.123.123.123"}
    [msg] = parse(doc, topic="/as/mqtt/status/pk/level-1")
    assert msg.kind == "status" and msg.online is True
    assert msg.ts == datetime(2018, 8, 31, 7, 32, 28, 205000, tzinfo=timezone.utc)
    assert msg.meta["client_ip"] == "123.123.123.123"
    assert msg.meta["last_time"] == "2018-08-31T07:32:28.195000+00:00"
    assert msg.meta["topic"] == "/as/mqtt/status/pk/level-1"

    local_only = {"status": "OFFLINE", "productKey": "pk", "deviceName": "level-1",
                  "time": "2018-08-31 15:32:28.205", "clientIp": ""}
    [msg] = parse(local_only)
    assert msg.online is False
    assert msg.ts == datetime(2018, 8, 31, 7, 32, 28, 205000, tzinfo=timezone.utc)
    assert "client_ip" not in msg.meta


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"\x00\x01", "not JSON"),
        (b'"text"', "not a JSON object"),
        ({"items": {"a": {"value": 1}}, "deviceName": "d"}, "productKey or deviceName"),
        ({"productKey": "pk", "deviceName": "undefined", "items": {}}, "productKey or deviceName"),
        ({"productKey": "pk", "deviceName": "d", "items": {}}, "without items"),
        ({"productKey": "pk", "deviceName": "d", "status": "sleeping"}, "sleeping"),
        ({"productKey": "pk", "deviceName": "d", "foo": 1}, "not an Aliyun"),
    ],
)
def test_rejected(body, reason):
    """IOT-2: malformed or unknown messages are rejected with a reason."""
    with pytest.raises(Rejected, match=reason):
        parse(body)


# --- round trips through the simulator's wire builders ---


def _request(wire_tuple, topic=None):
    body, headers, query = wire_tuple
    return PushRequest(body=body, headers=headers, query=query, topic=topic)


@pytest.mark.parametrize("messy", [False, True])
def test_round_trip_property(messy):
    """IOT-2: sim/wire property_post → connector."""
    w = wire.property_post("a1Pk", "bin-7", {"FillLevel": 80, "Tilt": 1.5}, TS, failed={"Bad": -1}, messy=messy)
    [msg] = connector.parse(_request(w), None)
    assert msg.external_id == "a1Pk/bin-7" and msg.ts == TS
    assert msg.properties == ({"FillLevel": "80", "Tilt": "1.5"} if messy else {"FillLevel": 80, "Tilt": 1.5})
    assert "Bad" in msg.meta["check_failed"] and msg.meta["iotId"]


@pytest.mark.parametrize("messy", [False, True])
def test_round_trip_event(messy):
    """IOT-2: sim/wire event_post → connector."""
    w = wire.event_post("a1Pk", "gas-2", "HighGas", {"LEL": 25}, TS, kind="error", messy=messy)
    [msg] = connector.parse(_request(w), None)
    assert (msg.kind, msg.event, msg.severity, msg.ts) == ("event", "HighGas", "critical", TS)


@pytest.mark.parametrize("online, messy", [(True, False), (False, True)])
def test_round_trip_status(online, messy):
    """IOT-2: sim/wire status → connector (messy: only Beijing-local times)."""
    w = wire.status("a1Pk", "gas-2", online, TS, messy=messy)
    [msg] = connector.parse(_request(w, topic="/as/mqtt/status/a1Pk/gas-2"), None)
    assert msg.online is online and msg.ts == TS
    assert msg.meta["last_time"]
