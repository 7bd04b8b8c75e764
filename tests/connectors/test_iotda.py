"""IOT-2: Huawei Cloud IoTDA v5 push and OceanConnect notifications → DeviceMessage."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from cityops.connectors import registry
from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.iotda import connector
from cityops.sim.wire import iotda as wire

TS = datetime(2024, 5, 1, 2, 30, 15, tzinfo=timezone.utc)


def parse(body, settings=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    return connector.parse(PushRequest(body=body, headers={"content-type": "application/json"}), settings)


PROPERTY_PUSH = {
    "resource": "device.property",
    "event": "report",
    "event_time": "20151212T121212Z",
    "notify_data": {
        "header": {
            "app_id": "d4922d8a6d1",
            "device_id": "64f0c2a1e8b7_manhole-0001",
            "node_id": "868474050000001",
            "product_id": "64f0c2a1e8b7",
            "gateway_id": "64f0c2a1e8b7_manhole-0001",
            "tags": [{"tag_key": "district", "tag_value": "changning"}],
        },
        "body": {
            "services": [
                {"service_id": "Cover", "properties": {"tilt": 3.5, "state": "normal", "battery": 87},
                 "event_time": "20151212T121000Z"},
                {"service_id": "Power", "properties": {"battery": 3.6}, "event_time": "20151212T121100Z"},
            ]
        },
    },
}


def test_registry_and_contract():
    """IOT-2: registered under "iotda"; unsigned pushes need the shared token; no settings."""
    assert registry.get("iotda") is connector
    assert connector.needs_shared_token is True
    connector.Settings()
    assert connector.verify_get(PushRequest(body=b"", method="GET"), None) is None


def test_property_report_one_message_per_service():
    """IOT-2: one telemetry message per service; service_id in meta; ts from the service."""
    cover, power = parse(PROPERTY_PUSH)
    assert cover.kind == power.kind == "telemetry"
    assert cover.external_id == "64f0c2a1e8b7_manhole-0001"
    assert cover.product_key == "64f0c2a1e8b7"
    assert cover.ts == datetime(2015, 12, 12, 12, 10, tzinfo=timezone.utc)
    assert power.ts == datetime(2015, 12, 12, 12, 11, tzinfo=timezone.utc)
    assert cover.meta["service_id"] == "Cover" and power.meta["service_id"] == "Power"
    assert cover.meta["node_id"] == "868474050000001"
    assert cover.meta["tags"] == [{"tag_key": "district", "tag_value": "changning"}]
    assert cover.source_type == "device.property/report"


def test_identifier_reported_by_two_services_is_prefixed():
    """IOT-2: only clashing identifiers get the "service_id." prefix."""
    cover, power = parse(PROPERTY_PUSH)
    assert cover.properties == {"tilt": 3.5, "state": "normal", "Cover.battery": 87}
    assert power.properties == {"Power.battery": 3.6}


def test_messy_property_report():
    """IOT-2: numbers as strings stay as sent; missing optional header fields and service
    times fall back to the push's event_time."""
    doc = {
        "resource": "device.property",
        "event": "report",
        "event_time": "20240501T023015Z",
        "notify_data": {
            "header": {"device_id": "dev-1", "product_id": "", "app_id": "undefined"},
            "body": {"services": [{"service_id": "Water", "properties": {"level": "42.5"}},
                                  {"service_id": "Empty", "properties": {}}, "junk"]},
        },
    }
    [msg] = parse(doc)
    assert msg.properties == {"level": "42.5"}
    assert msg.ts == TS
    assert msg.product_key is None
    assert "app_id" not in msg.meta


@pytest.mark.parametrize(
    "status, online",
    [("ONLINE", True), ("OFFLINE", False), ("ABNORMAL", False), ("online", True)],
)
def test_status_update(status, online):
    """IOT-2: device.status/update → status; ABNORMAL is offline with meta status ABNORMAL."""
    doc = {
        "resource": "device.status",
        "event": "update",
        "event_time": "20151212T121212Z",
        "notify_data": {
            "header": {"device_id": "dev-9", "product_id": "p1"},
            "body": {"status": status, "last_online_time": "20151212T120000Z",
                     "status_update_time": "20151212T121210Z"},
        },
    }
    [msg] = parse(doc)
    assert msg.kind == "status" and msg.online is online
    assert msg.meta["status"] == status.upper()
    assert msg.ts == datetime(2015, 12, 12, 12, 12, 10, tzinfo=timezone.utc)
    assert msg.meta["last_online_time"] == "2015-12-12T12:00:00+00:00"


def test_unknown_status_rejected():
    """IOT-2: statuses other than ONLINE/OFFLINE/ABNORMAL are not guessed."""
    doc = {"resource": "device.status", "event": "update",
           "notify_data": {"header": {"device_id": "d"}, "body": {"status": "FROZEN"}}}
    with pytest.raises(Rejected, match="FROZEN"):
        parse(doc)


@pytest.mark.parametrize("resource, event", [("device.message", "report"), ("device.event", "report"),
                                             ("device", "create"), ("device.property", "delete")])
def test_unknown_resource_rejected(resource, event):
    """IOT-2: resources not in our vendor notes are rejected with the resource named."""
    doc = {"resource": resource, "event": event, "event_time": "20151212T121212Z",
           "notify_data": {"header": {"device_id": "d"}, "body": {"content": "x"}}}
    with pytest.raises(Rejected) as exc:
        parse(doc)
    assert resource in exc.value.reason and exc.value.status == 400


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        ({"hello": "world"}, "neither"),
        ({"resource": "device.property", "event": "report"}, "notify_data"),
        ({"resource": "device.property", "event": "report",
          "notify_data": {"header": {}, "body": {"services": []}}}, "device_id"),
        ({"resource": "device.property", "event": "report",
          "notify_data": {"header": {"device_id": "d"}, "body": {"services": []}}}, "no service"),
        ({"resource": "device.property", "event": "report",
          "notify_data": {"header": {"device_id": "d"}, "body": {"services": "x"}}}, "not a list"),
    ],
)
def test_malformed_rejected(body, reason):
    """IOT-2: malformed pushes are rejected with a reason."""
    with pytest.raises(Rejected, match=reason):
        parse(body)


def test_oceanconnect_device_data_changed():
    """IOT-2: OceanConnect deviceDataChanged → one telemetry message."""
    doc = {
        "notifyType": "deviceDataChanged",
        "requestId": "req-1",
        "deviceId": "a1b2c3d4-0001",
        "gatewayId": "a1b2c3d4-0001",
        "service": {"serviceId": "WaterLevel", "serviceType": "WaterLevel",
                    "data": {"level": 35, "alarm": 0}, "eventTime": "20170214T121212Z"},
    }
    [msg] = parse(doc)
    assert msg.kind == "telemetry" and msg.external_id == "a1b2c3d4-0001"
    assert msg.properties == {"level": 35, "alarm": 0}
    assert msg.ts == datetime(2017, 2, 14, 12, 12, 12, tzinfo=timezone.utc)
    assert msg.meta["service_id"] == "WaterLevel" and msg.meta["service_type"] == "WaterLevel"
    assert msg.source_type == "deviceDataChanged"


def test_oceanconnect_device_datas_changed():
    """IOT-2: OceanConnect deviceDatasChanged → one message per service."""
    doc = {"notifyType": "deviceDatasChanged", "deviceId": "dev-2", "gatewayId": "",
           "services": [{"serviceId": "Smoke", "data": {"alarm": 1}, "eventTime": "20170214T121212Z"},
                        {"serviceId": "Battery", "data": {"level": 80}, "eventTime": "20170214T121213Z"}]}
    msgs = parse(doc)
    assert [m.properties for m in msgs] == [{"alarm": 1}, {"level": 80}]
    assert "gateway_id" not in msgs[0].meta


@pytest.mark.parametrize("notify", ["deviceAdded", "deviceInfoChanged", "commandRsp", ""])
def test_unknown_notify_type_rejected(notify):
    """IOT-2: other OceanConnect notification types are rejected with a reason."""
    with pytest.raises(Rejected, match="notifyType"):
        parse({"notifyType": notify, "deviceId": "d"})


# --- round trips through the simulator's wire builders ---


def _request(wire_tuple):
    body, headers, query = wire_tuple
    return PushRequest(body=body, headers=headers, query=query)


@pytest.mark.parametrize("messy", [False, True])
def test_round_trip_property_report(messy):
    """IOT-2: sim/wire property_report → connector."""
    services = {"Smoke": {"alarm": 1, "temperature": 23.5}, "Battery": {"level": 90}}
    msgs = connector.parse(_request(wire.property_report("p1_smoke-7", services, TS, messy=messy)), None)
    assert [m.meta["service_id"] for m in msgs] == ["Smoke", "Battery"]
    assert all(m.external_id == "p1_smoke-7" and m.ts == TS for m in msgs)
    expected = {"alarm": "1", "temperature": "23.5"} if messy else {"alarm": 1, "temperature": 23.5}
    assert msgs[0].properties == expected


@pytest.mark.parametrize("status, messy", [("ONLINE", False), ("OFFLINE", True), ("ABNORMAL", False)])
def test_round_trip_status(status, messy):
    """IOT-2: sim/wire status_update → connector."""
    [msg] = connector.parse(_request(wire.status_update("dev-3", status, TS, messy=messy)), None)
    assert msg.online is (status == "ONLINE") and msg.ts == TS and msg.meta["status"] == status


@pytest.mark.parametrize("messy", [False, True])
def test_round_trip_oceanconnect(messy):
    """IOT-2: sim/wire OceanConnect builders → connector."""
    [one] = connector.parse(_request(wire.ocean_data_changed("dev-4", "Gas", {"lel": 12}, TS, messy=messy)), None)
    assert one.properties == {"lel": "12" if messy else 12} and one.ts == TS
    many = connector.parse(_request(wire.ocean_datas_changed("dev-4", {"A": {"x": 1}, "B": {"x": 2}}, TS)), None)
    assert [m.properties for m in many] == [{"A.x": 1}, {"B.x": 2}]
