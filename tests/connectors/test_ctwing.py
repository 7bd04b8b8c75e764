"""CTWing (AEP) subscription push connector (IOT-2): literal pushes in the documented shapes,
messy variants, rejections, and round trips through the simulator's wire builders."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from cityops.connectors import registry
from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.ctwing import Settings, connector
from cityops.sim.wire import ctwing as wire

TS = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)  # 1700000000123 ms
SETTINGS = Settings(decoders={"15012345": "smoke-v1", "15099999": "manhole-v1", "15077777": "hex-json"})


def parse(body: bytes | str, settings=SETTINGS):
    if isinstance(body, str):
        body = body.encode()
    return connector.parse(PushRequest(body=body, headers={"content-type": "application/json"}), settings)


def one(body, settings=SETTINGS):
    msgs = parse(body, settings)
    assert len(msgs) == 1
    return msgs[0]


PROFILE_REPORT = """{"upPacketSN":"","upDataSN":"","topic":"v1/up/ad19","timestamp":1700000000123,
"tenantId":"2000123","serviceId":"","protocol":"lwm2m","productId":"15000001",
"payload":{"water_level":35.2,"battery":88},"messageType":"dataReport","deviceType":"",
"deviceId":"a1b2c3d4e5f6477e8a9b0c1d2e3f4a5b","assocAssetId":"","IMSI":"460111234567890",
"IMEI":"868888048123456","iccid":"89860321234567890123"}"""


def test_registry_and_flags():
    assert registry.get("ctwing") is connector
    assert connector.kind == "ctwing"
    assert connector.needs_shared_token is True
    assert connector.verify_get(PushRequest(body=b"", method="GET"), SETTINGS) is None


def test_profile_data_report():
    m = one(PROFILE_REPORT)
    assert m.kind == "telemetry"
    assert m.external_id == "a1b2c3d4e5f6477e8a9b0c1d2e3f4a5b"
    assert m.properties == {"water_level": 35.2, "battery": 88}
    assert m.ts == TS
    assert (m.imei, m.imsi, m.iccid) == ("868888048123456", "460111234567890", "89860321234567890123")
    assert m.product_key == "15000001"
    assert m.source_type == "dataReport"
    assert m.meta == {"tenantId": "2000123", "protocol": "lwm2m", "topic": "v1/up/ad19"}


def test_profile_payload_wrapped_in_service_data():
    body = json.loads(PROFILE_REPORT)
    body["payload"] = {"serviceData": {"water_level": 12.0}, "serviceId": 1}
    assert one(json.dumps(body)).properties == {"water_level": 12.0}


def test_appdata_json_is_the_default_decoder():
    body = """{"timestamp":1700000000123,"tenantId":"2000123","productId":"15000002",
    "deviceId":"dev-json-1","messageType":"dataReport","protocol":"lwm2m","serviceId":"",
    "topic":"v1/up/ad","upPacketSN":17,"upDataSN":3,
    "payload":{"APPdata":"eyJsZXZlbF9jbSI6MTIsImFsYXJtIjpmYWxzZX0="}}"""
    m = one(body)
    assert m.properties == {"level_cm": 12, "alarm": False}
    assert m.meta["upPacketSN"] == 17 and m.meta["upDataSN"] == 3


def test_appdata_smoke_v1_by_product():
    body = """{"timestamp":1700000000123,"productId":"15012345","deviceId":"smoke-0001",
    "messageType":"dataReport","IMEI":"868888048000001","payload":{"APPdata":"AQFXAOv/oQ=="}}"""
    assert one(body).properties == {"status": "smoke_alarm", "battery": 87, "temperature": 23.5, "rsrp": -95}


def test_appdata_manhole_v1_by_numeric_product_id():
    body = """{"timestamp":1700000000123,"productId":15099999,"deviceId":"mh-0007",
    "messageType":"dataReport","payload":{"APPdata":"AgIAfUA="}}"""
    m = one(body)
    assert m.product_key == "15099999"
    assert m.properties == {"status": "illegal_move", "tilt": 12.5, "battery": 64}


def test_appdata_hex_json():
    body = """{"timestamp":1700000000123,"productId":"15077777","deviceId":"wl-1",
    "messageType":"dataReport","payload":{"APPdata":"N0IyMjZDNjU3NjY1NkM1RjYzNkQyMjNBMzEzMjdE"}}"""
    assert one(body).properties == {"level_cm": 12}


def test_default_decoder_setting():
    body = """{"productId":"15000002","deviceId":"x","messageType":"dataReport",
    "payload":{"APPdata":"AgIAfUA="}}"""
    assert one(body, Settings(default_decoder="manhole-v1")).properties["status"] == "illegal_move"
    assert one(body, {"default_decoder": "manhole-v1"}).properties["tilt"] == 12.5  # plain dict settings


def test_messy_data_report():
    # numbers where strings are expected and the reverse, "undefined", "", -1, lower-case imei
    body = """{"upPacketSN":-1,"upDataSN":-1,"topic":"undefined","timestamp":"1700000000123",
    "tenantId":2000123,"serviceId":"","protocol":"","productId":15012345,
    "payload":{"APPdata":"AQFXAOv/oQ=="},"messageType":"dataReport","deviceType":"undefined",
    "deviceId":"smoke-0002","assocAssetId":"","imsi":"undefined","imei":868888048000002,"iccid":""}"""
    m = one(body)
    assert m.properties["status"] == "smoke_alarm"
    assert m.ts == TS
    assert m.imei == "868888048000002"
    assert m.imsi is None and m.iccid is None
    assert m.product_key == "15012345"
    assert m.meta == {"tenantId": "2000123"}


def test_data_report_tup_union():
    body = """{"messageType":"dataReportTupUnion","deviceId":"tup-1","productId":"15000001",
    "timestamp":1700000000123,"payload":{"temperature":19.5}}"""
    m = one(body)
    assert m.kind == "telemetry" and m.source_type == "dataReportTupUnion"
    assert m.properties == {"temperature": 19.5}


@pytest.mark.parametrize("event_type, online", [(1, True), (0, False), ("1", True), ("0", False)])
def test_online_offline(event_type, online):
    body = json.dumps({"timestamp": 1700000000123, "tenantId": "2000123", "productId": "15000001",
                       "deviceId": "dev-9", "messageType": "deviceOnlineOfflineReport",
                       "eventType": event_type, "IMEI": "868888048000009", "IMSI": "460111234567899"})
    m = one(body)
    assert m.kind == "status" and m.online is online
    assert m.imsi == "460111234567899"


def test_online_offline_with_bad_event_type_is_rejected():
    body = '{"messageType":"deviceOnlineOfflineReport","deviceId":"dev-9","eventType":"undefined"}'
    with pytest.raises(Rejected, match="eventType"):
        parse(body)


def test_event_report_fault_uses_content_identifier():
    body = """{"timestamp":1700000000123,"tenantId":"2000123","productId":"15000001","deviceId":"smoke-3",
    "messageType":"eventReport","serviceId":1001,"eventType":3,"protocol":"lwm2m",
    "IMEI":"868888048000003","eventContent":{"identifier":"smoke_alarm","smoke_state":1,"battery":77}}"""
    m = one(body)
    assert m.kind == "event"
    assert m.event == "smoke_alarm"
    assert m.severity == "critical"
    assert m.properties == {"smoke_state": 1, "battery": 77}
    assert m.meta["serviceId"] == "1001"


@pytest.mark.parametrize("event_type, severity", [(1, "info"), ("2", "warning"), (3, "critical"), (9, None), ("", None)])
def test_event_report_severity_and_service_id_fallback(event_type, severity):
    body = json.dumps({"messageType": "eventReport", "deviceId": "mh-1", "serviceId": "1002",
                       "eventType": event_type, "eventContent": {"tilt": 35.5}})
    m = one(body)
    assert m.severity == severity
    assert m.event == "1002"
    assert m.properties == {"tilt": 35.5}


def test_event_report_with_appdata_content():
    body = """{"messageType":"eventReport","deviceId":"smoke-4","productId":"15012345","serviceId":"",
    "eventType":2,"eventContent":{"APPdata":"AQFXAOv/oQ=="}}"""
    m = one(body)
    assert m.event == "eventReport"  # no identifier, serviceId ""
    assert m.properties["status"] == "smoke_alarm"


@pytest.mark.parametrize("code", ["SENT", "DELIVERED", "SUCCESSFUL", "FAILED"])
def test_command_response(code):
    body = json.dumps({"timestamp": 1700000000123, "tenantId": "2000123", "productId": "15000001",
                       "deviceId": "dev-5", "messageType": "commandResponse", "taskId": 31,
                       "result": {"resultCode": code, "resultDetail": {"ack": "ok"} if code == "SUCCESSFUL" else ""}})
    m = one(body)
    assert m.kind == "command_response"
    assert m.command["task_id"] == "31"
    assert m.command["status"] == code
    assert m.command["detail"] == ({"ack": "ok"} if code == "SUCCESSFUL" else None)


def test_command_response_lower_case_code_and_missing_task():
    body = '{"messageType":"commandResponse","deviceId":"d","taskId":"77","result":{"resultCode":"successful"}}'
    assert one(body).command["status"] == "SUCCESSFUL"
    with pytest.raises(Rejected, match="taskId"):
        parse('{"messageType":"commandResponse","deviceId":"d","taskId":"","result":{"resultCode":"SENT"}}')
    with pytest.raises(Rejected, match="resultCode"):
        parse('{"messageType":"commandResponse","deviceId":"d","taskId":5,"result":{}}')


def test_array_body_gives_several_messages():
    body = """[{"messageType":"deviceOnlineOfflineReport","deviceId":"d1","eventType":1,"timestamp":1700000000123},
    {"messageType":"dataReport","deviceId":"d1","payload":{"t":1},"timestamp":1700000000124}]"""
    msgs = parse(body)
    assert [m.kind for m in msgs] == ["status", "telemetry"]
    assert parse("[]") == []


def test_bad_message_in_array_is_named_by_index():
    body = '[{"messageType":"dataReport","deviceId":"d1","payload":{"t":1}},{"messageType":"alarmReport","deviceId":"d1"}]'
    with pytest.raises(Rejected, match=r"message 1: unknown CTWing messageType 'alarmReport'"):
        parse(body)
    with pytest.raises(Rejected, match="message 0: expected a JSON object"):
        parse("[42]")


def test_unknown_message_type_is_rejected_with_reason():
    with pytest.raises(Rejected) as exc:
        parse('{"messageType":"deviceLifeCycle","deviceId":"d1"}')
    assert exc.value.status == 400
    assert "unknown CTWing messageType 'deviceLifeCycle'" in exc.value.reason
    assert "dataReport" in exc.value.reason  # says what was expected


@pytest.mark.parametrize(
    "body, words",
    [
        ('{"deviceId":"d1","payload":{}}', "without messageType"),
        ('{"messageType":"undefined","deviceId":"d1"}', "without messageType"),
        ('{"messageType":"dataReport","deviceId":"undefined","payload":{"t":1}}', "without deviceId"),
        ('{"messageType":"dataReport","deviceId":"","payload":{"t":1}}', "without deviceId"),
        ('{"messageType":"dataReport","deviceId":"d1"}', "without a payload"),
        ('{"messageType":"dataReport","deviceId":"d1","payload":{"APPdata":""}}', "APPdata is missing"),
        ('{"messageType":"dataReport","deviceId":"d1","payload":{"APPdata":"***"}}', "not base64"),
        ('{"messageType":"dataReport","deviceId":"d1","productId":"15012345","payload":{"APPdata":"AQE="}}', "'smoke-v1'"),
        ('{"messageType":"dataReport","deviceId":"d1","payload":{"APPdata":"AQFXAOv/oQ=="}}', "'json'"),
        ('{"messageType": "dataReport", "deviceId": ', "not JSON"),
        ('"dataReport"', "expected a JSON object"),
    ],
)
def test_rejections(body, words):
    with pytest.raises(Rejected) as exc:
        parse(body)
    assert words in exc.value.reason
    assert exc.value.status == 400


def test_settings_refuse_unknown_decoder_names():
    with pytest.raises(ValidationError, match="unknown decoder"):
        Settings(decoders={"15012345": "smoke-v9"})
    with pytest.raises(ValidationError):
        Settings(default_decoder="protobuf")


# --- round trips through the simulator's wire builders ----------------------------------

def _parse_wire(w, settings=SETTINGS):
    body, headers, query = w
    return connector.parse(PushRequest(body=body, headers=headers, query=query), settings)


@pytest.mark.parametrize("messy", [False, True])
def test_round_trip_smoke_data_report(messy):
    props = {"status": "tamper", "battery": 41, "temperature": -3.5, "rsrp": -118}
    w = wire.data_report("smoke-0009", props, decoder="smoke-v1", product_id="15012345",
                         imei="868888048000009", imsi="460111234500009", seq=5, ts=TS, messy=messy)
    [m] = _parse_wire(w)
    assert m.properties == props
    assert (m.external_id, m.imei, m.ts, m.product_key) == ("smoke-0009", "868888048000009", TS, "15012345")
    assert m.meta.get("upPacketSN") == 5


@pytest.mark.parametrize("messy", [False, True])
def test_round_trip_manhole_and_profile(messy):
    props = {"status": "authorised_open", "tilt": 88.8, "battery": 12}
    [m] = _parse_wire(wire.data_report("mh-3", props, decoder="manhole-v1", product_id="15099999", messy=messy))
    assert m.properties == props
    [m] = _parse_wire(wire.data_report("wl-3", {"water_level": 4.5}, decoder=None, tup_union=True, messy=messy))
    assert m.properties == {"water_level": 4.5} and m.source_type == "dataReportTupUnion"


@pytest.mark.parametrize("messy", [False, True])
def test_round_trip_status_event_command(messy):
    [m] = _parse_wire(wire.online("d7", False, ts=TS, messy=messy))
    assert m.online is False and m.ts == TS
    [m] = _parse_wire(wire.event("d7", 2, {"identifier": "low_battery", "battery": 9}, messy=messy))
    assert (m.event, m.severity, m.properties) == ("low_battery", "warning", {"battery": 9})
    [m] = _parse_wire(wire.command_response("d7", 4242, "FAILED", "timeout", messy=messy))
    assert m.command == {"task_id": "4242", "status": "FAILED", "detail": "timeout"}


def test_round_trip_batch():
    w = wire.batch(wire.online("d8", True), wire.data_report("d8", {"t": 1}), wire.event("d8", 1, {"x": 1}))
    assert [m.kind for m in _parse_wire(w)] == ["status", "telemetry", "event"]


def test_messy_wire_really_is_messy():
    body, headers, _ = wire.data_report("d9", {"t": 1}, imei="868888048000010", messy=True)
    raw = json.loads(body)
    assert headers["content-type"] == "application/json"
    assert raw["upPacketSN"] == -1 and raw["imsi"] == "undefined" and isinstance(raw["timestamp"], str)
    assert "imei" in raw and "IMEI" not in raw
