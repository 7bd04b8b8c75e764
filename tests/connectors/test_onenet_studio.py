"""OneNET Studio push connector (IOT-2): msg as a JSON string signed over its decoded text,
secure (AES-CBC) mode, URL verification, lifeCycle / property / event / reply, rejections,
and round trips through the simulator's wire builders."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import ValidationError

from cityops.connectors import registry
from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.onenet_studio import Settings, connector
from cityops.sim.wire import onenet_studio as wire

TOKEN = "studio-push-token"
KEY = "Cn2023ChangNing!"  # 16 characters
TS = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)  # 1700000000123 ms
PLAIN = Settings(token=TOKEN)
SECURE = Settings(token=TOKEN, aes_key=KEY)

PROPERTY = ('{"projectId":"Xm3aQd","productId":"q7Lk2mN8pZ","deviceName":"WL-CN-0012","messageType":"notify",'
            '"notifyType":"property","data":{"id":"101","params":{"water_level":{"value":35.2,"time":1700000000100},'
            '"battery":{"value":88,"time":1700000000123}}}}')
EVENT = ('{"projectId":"Xm3aQd","productId":"q7Lk2mN8pZ","deviceName":"MH-CN-0003","messageType":"notify",'
         '"notifyType":"event","data":{"id":"102","params":{"illegal_move":{"value":{"tilt":35.5,"battery":64},'
         '"time":1700000000123}}}}')
LIFE_CYCLE = ('{"projectId":"Xm3aQd","productId":"q7Lk2mN8pZ","deviceName":"WL-CN-0012","messageType":"lifeCycle",'
              '"data":{"status":"offline","time":1700000000123}}')
REPLY = ('{"projectId":"Xm3aQd","productId":"q7Lk2mN8pZ","deviceName":"WL-CN-0012","messageType":"reply",'
         '"data":{"id":"cmd-77","code":200,"msg":"success","data":{"interval":300}}}')


def sign(token: str, nonce: str, msg: str) -> str:
    return base64.b64encode(hashlib.md5((token + nonce + msg).encode()).digest()).decode()


def push(msg: str, nonce: str = "pZ8kQ2mW", token: str = TOKEN, **extra) -> bytes:
    body = {"msg": msg, "nonce": nonce, "signature": sign(token, nonce, msg), "time": 1700000000999,
            "id": "7a9c0e1b2d3f4a5b", **extra}
    return json.dumps(body, ensure_ascii=False).encode()


def encrypt(text: str, key: str = KEY) -> str:
    k = key.encode()
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(k), modes.CBC(k)).encryptor()
    data = padder.update(text.encode()) + padder.finalize()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def parse(body: bytes, settings=PLAIN):
    return connector.parse(PushRequest(body=body), settings)


def test_registry_and_flags():
    assert registry.get("onenet_studio") is connector
    assert connector.needs_shared_token is False


def test_property_notify():
    [m] = parse(push(PROPERTY.replace("1700000000100", "1700000000123")))
    assert m.kind == "telemetry"
    assert m.external_id == "WL-CN-0012"
    assert m.product_key == "q7Lk2mN8pZ"
    assert m.properties == {"water_level": 35.2, "battery": 88}
    assert m.ts == TS
    assert m.source_type == "notify/property"
    assert m.meta == {"productId": "q7Lk2mN8pZ", "projectId": "Xm3aQd", "notifyType": "property",
                      "message_id": "101", "push_id": "7a9c0e1b2d3f4a5b"}


def test_property_notify_split_by_time():
    first, second = parse(push(PROPERTY))
    assert (first.properties, first.ts) == ({"water_level": 35.2}, datetime(2023, 11, 14, 22, 13, 20, 100000, tzinfo=timezone.utc))
    assert (second.properties, second.ts) == ({"battery": 88}, TS)
    first.meta["x"] = 1
    assert "x" not in second.meta


def test_event_notify_one_message_per_identifier():
    [m] = parse(push(EVENT))
    assert (m.kind, m.event, m.properties, m.ts) == ("event", "illegal_move", {"tilt": 35.5, "battery": 64}, TS)
    two = EVENT.replace('"params":{', '"params":{"low_battery":{"value":12,"time":1700000000000},')
    msgs = parse(push(two))
    assert [(m.event, m.properties) for m in msgs] == [
        ("low_battery", {"value": 12}), ("illegal_move", {"tilt": 35.5, "battery": 64})]


def test_event_with_identifier_field():
    msg = ('{"productId":"p","deviceName":"d","messageType":"notify","notifyType":"event",'
           '"data":{"identifier":"smoke_alarm","time":1700000000123,"params":{"smoke":{"value":1},"battery":{"value":70}}}}')
    [m] = parse(push(msg))
    assert (m.event, m.properties, m.ts) == ("smoke_alarm", {"smoke": 1, "battery": 70}, TS)


def test_life_cycle():
    [m] = parse(push(LIFE_CYCLE))
    assert (m.kind, m.online, m.ts, m.source_type) == ("status", False, TS, "lifeCycle")
    [m] = parse(push(LIFE_CYCLE.replace('"offline"', '"online"')))
    assert m.online is True


def test_reply():
    [m] = parse(push(REPLY))
    assert m.kind == "command_response"
    assert m.command == {"task_id": "cmd-77", "status": "SUCCESSFUL",
                         "detail": {"code": 200, "msg": "success", "data": {"interval": 300}}}
    [m] = parse(push(REPLY.replace('"code":200', '"code":"500"').replace('"success"', '"device busy"')))
    assert m.command["status"] == "FAILED" and m.command["detail"]["code"] == 500


def test_messy_variants():
    # times and codes as strings, numeric ids, status as a number, "undefined" project
    msg = ('{"projectId":"undefined","productId":12345,"deviceName":"WL-7","messageType":"notify",'
           '"notifyType":"property","data":{"id":101,"params":{"level":{"value":"3.5","time":"1700000000123"},'
           '"flag":true}}}')
    timed, untimed = parse(push(msg, time="1700000000999"))
    assert timed.product_key == "12345" and "projectId" not in timed.meta
    assert (timed.properties, timed.ts) == ({"level": "3.5"}, TS)
    assert untimed.properties == {"flag": True}
    assert untimed.ts == datetime(2023, 11, 14, 22, 13, 20, 999000, tzinfo=timezone.utc)  # the push time
    msg = '{"productId":"p","deviceName":"d","messageType":"lifeCycle","data":{"status":1,"time":""}}'
    [m] = parse(push(msg))
    assert m.online is True
    assert m.ts == datetime(2023, 11, 14, 22, 13, 20, 999000, tzinfo=timezone.utc)  # falls back to the push time


def test_non_ascii_device_names_and_escapes():
    msg = json.dumps({"productId": "p", "deviceName": "长宁-井盖-01", "messageType": "lifeCycle",
                      "data": {"status": "online"}})  # \u escapes inside the string
    [m] = parse(push(msg))
    assert m.external_id == "长宁-井盖-01"


@pytest.mark.parametrize(
    "body",
    [
        push(PROPERTY, token="someone-else"),
        push(PROPERTY).replace(b"35.2", b"99.9"),
        push(PROPERTY).replace(b"pZ8kQ2mW", b"pZ8kQ2mX"),
        json.dumps({"msg": PROPERTY, "nonce": "n", "time": 1}).encode(),
        json.dumps({"msg": PROPERTY, "nonce": "n", "signature": "undefined"}).encode(),
    ],
    ids=["wrong-token", "tampered-msg", "tampered-nonce", "missing-signature", "undefined-signature"],
)
def test_bad_signature_is_401(body):
    with pytest.raises(Rejected) as exc:
        parse(body)
    assert exc.value.status == 401


@pytest.mark.parametrize(
    "msg, words",
    [
        ('{"productId":"p","deviceName":"d","messageType":"deviceLog"}', "unknown OneNET Studio messageType 'deviceLog'"),
        ('{"productId":"p","deviceName":"d"}', "unknown OneNET Studio messageType None"),
        ('{"productId":"p","deviceName":"d","messageType":"notify","notifyType":"service"}', "unknown OneNET Studio notifyType 'service'"),
        ('{"productId":"p","deviceName":"","messageType":"lifeCycle","data":{"status":"online"}}', "without deviceName"),
        ('{"productId":"p","deviceName":"d","messageType":"lifeCycle","data":{"status":"sleeping"}}', "status 'sleeping'"),
        ('{"productId":"p","deviceName":"d","messageType":"notify","notifyType":"property","data":{}}', "without data.params"),
        ('{"productId":"p","deviceName":"d","messageType":"notify","notifyType":"event","data":{}}', "without data.params"),
        ('{"productId":"p","deviceName":"d","messageType":"reply","data":{"code":200}}', "without data.id"),
        ('{"productId":"p","deviceName":"d","messageType":"reply","data":{"id":"1","code":"ok"}}', "code 'ok'"),
        ('{"productId":"p", "deviceName":', "not JSON"),
        ("[1]", "msg 0: msg must hold a JSON object"),
    ],
)
def test_unusable_messages_are_rejected_with_reason(msg, words):
    with pytest.raises(Rejected) as exc:
        parse(push(msg))
    assert words in exc.value.reason
    assert exc.value.status == 400


@pytest.mark.parametrize(
    "body, words",
    [
        (b'{"msg": "abc', "not JSON"),
        (b'["msg"]', "must be a JSON object"),
        (json.dumps({"msg": json.loads(PROPERTY), "nonce": "n", "signature": "s"}).encode(), "JSON string"),
    ],
)
def test_malformed_bodies(body, words):
    with pytest.raises(Rejected) as exc:
        parse(body)
    assert words in exc.value.reason and exc.value.status == 400


# --- secure mode ------------------------------------------------------------------------

def test_secure_mode():
    msgs = parse(push(encrypt(PROPERTY)), SECURE)
    assert [m.properties for m in msgs] == [{"water_level": 35.2}, {"battery": 88}]


def test_secure_mode_wrong_key():
    with pytest.raises(Rejected) as exc:
        parse(push(encrypt(PROPERTY, key="0123456789abcdef")), SECURE)
    assert "decrypt" in exc.value.reason and exc.value.status == 400


def test_secure_mode_signature_covers_the_ciphertext():
    enc = encrypt(PROPERTY)
    body = json.dumps({"msg": enc, "nonce": "n", "signature": sign(TOKEN, "n", PROPERTY)}).encode()
    with pytest.raises(Rejected) as exc:
        parse(body, SECURE)
    assert exc.value.status == 401


def test_encrypted_msg_without_key_is_rejected():
    with pytest.raises(Rejected, match="not JSON"):
        parse(push(encrypt(PROPERTY)), PLAIN)


def test_plain_msg_accepted_when_key_set():
    assert parse(push(LIFE_CYCLE), SECURE)[0].online is False


def test_settings_validation():
    with pytest.raises(ValidationError, match="16"):
        Settings(token=TOKEN, aes_key="short")
    with pytest.raises(ValidationError, match="empty"):
        Settings(token="")


# --- URL verification -------------------------------------------------------------------

def test_verify_get():
    q = {"msg": "Hk3jd92", "nonce": "Ab12Cd34", "signature": sign(TOKEN, "Ab12Cd34", "Hk3jd92")}
    assert connector.verify_get(PushRequest(body=b"", method="GET", query=q), PLAIN) == b"Hk3jd92"
    q["signature"] = sign("wrong", "Ab12Cd34", "Hk3jd92")
    with pytest.raises(Rejected) as exc:
        connector.verify_get(PushRequest(body=b"", method="GET", query=q), PLAIN)
    assert exc.value.status == 401


# --- round trips through the simulator's wire builders ----------------------------------

def _parse_wire(w, settings=PLAIN):
    body, headers, query = w
    return connector.parse(PushRequest(body=body, headers=headers, query=query), settings)


CASES = [(False, None), (True, None), (False, KEY), (True, KEY)]


@pytest.mark.parametrize("messy, key", CASES)
def test_round_trip_property(messy, key):
    w = wire.property_post("q7Lk2mN8pZ", "WL-CN-0012", {"water_level": 35.2, "状态": "正常"},
                           token=TOKEN, ts=TS, aes_key=key, messy=messy)
    [m] = _parse_wire(w, SECURE if key else PLAIN)
    assert (m.external_id, m.product_key, m.ts) == ("WL-CN-0012", "q7Lk2mN8pZ", TS)
    assert m.properties == {"water_level": 35.2, "状态": "正常"}
    assert m.meta["projectId"] == "cn01"


@pytest.mark.parametrize("messy, key", CASES)
def test_round_trip_event_life_cycle_reply(messy, key):
    settings = SECURE if key else PLAIN
    [m] = _parse_wire(wire.event("p", "MH-1", "illegal_move", {"tilt": 40.0}, token=TOKEN, ts=TS,
                                 aes_key=key, messy=messy), settings)
    assert (m.kind, m.event, m.properties, m.ts) == ("event", "illegal_move", {"tilt": 40.0}, TS)
    [m] = _parse_wire(wire.life_cycle("p", "MH-1", True, token=TOKEN, ts=TS, aes_key=key, messy=messy), settings)
    assert (m.online, m.ts) == (True, TS)
    [m] = _parse_wire(wire.reply("p", "MH-1", "task-9", 404, "no such service", token=TOKEN,
                                 aes_key=key, messy=messy), settings)
    assert m.command["task_id"] == "task-9" and m.command["status"] == "FAILED"
    assert m.command["detail"] == {"code": 404, "msg": "no such service"}


def test_round_trip_wrong_token_and_verification():
    with pytest.raises(Rejected) as exc:
        _parse_wire(wire.life_cycle("p", "d", True, token="not-ours"))
    assert exc.value.status == 401
    body, headers, query = wire.verification(TOKEN)
    assert connector.verify_get(PushRequest(body=body, method="GET", query=query), PLAIN) == query["msg"].encode()
