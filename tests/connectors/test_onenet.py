"""OneNET classic push connector (IOT-2): signatures over the msg text as received (never
re-serialised), encrypted mode, URL verification, rejections, the raw-member scanner, and
round trips through the simulator's wire builders."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import ValidationError

from cityops.connectors import registry
from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.onenet import Settings, connector
from cityops.connectors.util import raw_member
from cityops.sim.wire import onenet as wire

TOKEN = "cityops-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # EncodingAESKey, 43 chars
TS = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)  # 1700000000123 ms
PLAIN = Settings(token=TOKEN)
ENCRYPTED = Settings(token=TOKEN, aes_key=AES_KEY)


def sign(token: str, nonce: str, msg: bytes) -> str:
    return base64.b64encode(hashlib.md5(token.encode() + nonce.encode() + msg).digest()).decode()


def body_with(msg_text: str, nonce: str = "Xk3p9QaZ", token: str = TOKEN) -> bytes:
    """A body whose msg member is `msg_text` verbatim, signed over exactly that text."""
    sig = sign(token, nonce, msg_text.encode())
    return ('{"msg":' + msg_text + ',"msg_signature":"' + sig + '","nonce":"' + nonce + '"}').encode()


def parse(body: bytes, settings=PLAIN):
    return connector.parse(PushRequest(body=body), settings)


def encrypt(msg_text: bytes, encoding_aes_key: str = AES_KEY) -> str:
    key = base64.b64decode(encoding_aes_key + "=")
    plain = os.urandom(16) + len(msg_text).to_bytes(4, "big") + msg_text
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()).decode()


def test_registry_and_flags():
    assert registry.get("onenet") is connector
    assert connector.needs_shared_token is False


def test_known_answer_signature():
    # computed once by hand: base64(md5("cityops-token" + "Xk3p9QaZ" + msg))
    body = (b'{"msg":{"type":1,"dev_id":5123456,"ds_id":"temp","at":1700000000123,"value":23.5},'
            b'"msg_signature":"fp9whc/mwzp5Up7L49wx2w==","nonce":"Xk3p9QaZ"}')
    [m] = parse(body)
    assert m.kind == "telemetry"
    assert m.external_id == "5123456"
    assert m.properties == {"temp": 23.5}
    assert m.ts == TS
    assert m.source_type == "type1"


def test_signature_is_over_the_text_as_received():
    # spaces, key order, \u escapes and raw Chinese: re-serialising would change the hash
    msg = '{ "at" : 1700000000123,  "value": {"lon": 121.42, "lat": 31.22},\n "ds_id": "\\u4f4d\\u7f6e", "type": 1, "dev_id": "5123456" }'
    [m] = parse(body_with(msg))
    assert m.properties == {"位置": {"lon": 121.42, "lat": 31.22}}


def test_scanner_survives_escaped_quotes_and_brackets_in_strings():
    msg = r'{"type":1,"dev_id":7,"ds_id":"note","at":1700000000123,"value":"a \"quoted\" }{ ] [ \\ text"}'
    [m] = parse(body_with(msg))
    assert m.properties == {"note": 'a "quoted" }{ ] [ \\ text'}


def test_nb_iot_data_point_with_imei():
    msg = '{"at":1700000000123,"imei":"868888048123456","type":1,"ds_id":"3303_0_5700","value":21.5,"dev_id":600001}'
    [m] = parse(body_with(msg))
    assert m.imei == "868888048123456"
    assert m.properties == {"3303_0_5700": 21.5}


@pytest.mark.parametrize("status, online", [("1", True), ("0", False)])
def test_online_offline(status, online):
    msg = '{"at":1700000000123,"login_type":7,"type":2,"dev_id":5123456,"status":' + status + "}"
    [m] = parse(body_with(msg))
    assert m.kind == "status" and m.online is online
    assert m.meta == {"login_type": 7}
    assert m.source_type == "type2"


def test_messy_values_as_strings():
    msg = '{"at":"1700000000123","login_type":"1","type":"2","dev_id":"5123456","status":"1"}'
    [m] = parse(body_with(msg))
    assert (m.online, m.ts, m.meta["login_type"]) == (True, TS, 1)
    msg = '{"at":"","type":"1","dev_id":5123456,"ds_id":"temp","value":"23.5","imei":"undefined"}'
    [m] = parse(body_with(msg))
    assert m.ts is None and m.imei is None and m.properties == {"temp": "23.5"}


def test_array_msg_gives_several_messages():
    msg = ('[{"type":1,"dev_id":1,"ds_id":"temp","at":1700000000123,"value":20},'
           ' {"type":1,"dev_id":1,"ds_id":"hum","at":1700000000123,"value":55},'
           ' {"type":2,"dev_id":1,"status":0,"login_type":3,"at":1700000000123}]')
    msgs = parse(body_with(msg))
    assert [(m.kind, m.properties) for m in msgs] == [
        ("telemetry", {"temp": 20}), ("telemetry", {"hum": 55}), ("status", {})]


def test_msg_member_after_the_others():
    msg = '{"type":1,"dev_id":1,"ds_id":"t","at":1700000000123,"value":1}'
    nonce = "n0nce"
    body = ('{"nonce":"n0nce", "msg_signature":"' + sign(TOKEN, nonce, msg.encode()) + '", "msg": ' + msg + "}").encode()
    assert parse(body)[0].properties == {"t": 1}


@pytest.mark.parametrize(
    "body",
    [
        body_with('{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":1}', token="someone-else"),
        body_with('{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":1}').replace(b'"value":1', b'"value":9'),
        body_with('{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":1}').replace(b"Xk3p9QaZ", b"Xk3p9Qa0"),
        body_with('{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":1}').replace(b'"value":1', b'"value" : 1'),
        b'{"msg":{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":1},"nonce":"abc"}',
        b'{"msg":{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":1},"msg_signature":"","nonce":"abc"}',
    ],
    ids=["wrong-token", "tampered-value", "tampered-nonce", "reformatted", "missing-signature", "empty-signature"],
)
def test_bad_signature_is_401(body):
    with pytest.raises(Rejected) as exc:
        parse(body)
    assert exc.value.status == 401


def test_duplicate_msg_member_is_rejected():
    good = '{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":1}'
    body = body_with(good)[:-1] + b',"msg":{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":666}}'
    with pytest.raises(Rejected, match="twice"):
        parse(body)


@pytest.mark.parametrize(
    "msg, words",
    [
        ('{"type":7,"dev_id":1,"at":1}', "unknown OneNET msg type 7"),
        ('{"dev_id":1,"at":1}', "unknown OneNET msg type None"),
        ('{"type":1,"dev_id":"undefined","ds_id":"t","value":1}', "without dev_id"),
        ('{"type":1,"dev_id":1,"ds_id":"","value":1}', "without ds_id"),
        ('{"type":2,"dev_id":1,"status":5}', "status 5"),
        ('[{"type":1,"dev_id":1,"ds_id":"t","value":1}, {"type":9,"dev_id":1}]', "msg 1: unknown OneNET msg type 9"),
        ("[1]", "msg 0: expected a JSON object"),
    ],
)
def test_unusable_messages_are_rejected_with_reason(msg, words):
    with pytest.raises(Rejected) as exc:
        parse(body_with(msg))
    assert words in exc.value.reason
    assert exc.value.status == 400


@pytest.mark.parametrize(
    "body, words",
    [
        (b'{"msg": {"type":1,', "not JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"msg_signature":"x","nonce":"y"}', "without msg"),
    ],
)
def test_malformed_bodies(body, words):
    with pytest.raises(Rejected) as exc:
        parse(body)
    assert words in exc.value.reason and exc.value.status == 400


# --- encrypted mode ---------------------------------------------------------------------

def enc_body(msg_text: bytes, nonce: str = "r4nd0m", token: str = TOKEN, key: str = AES_KEY) -> bytes:
    enc = encrypt(msg_text, key)
    return json.dumps({"enc_msg": enc, "msg_signature": sign(token, nonce, enc.encode()), "nonce": nonce}).encode()


def test_encrypted_push():
    body = enc_body(b'{"type":1,"dev_id":5123456,"ds_id":"temp","at":1700000000123,"value":23.5}')
    [m] = parse(body, ENCRYPTED)
    assert (m.external_id, m.properties, m.ts) == ("5123456", {"temp": 23.5}, TS)


def test_encrypted_array_with_chinese():
    text = '[{"type":1,"dev_id":9,"ds_id":"井盖状态","at":1700000000123,"value":"正常"}]'.encode()
    [m] = parse(enc_body(text), ENCRYPTED)
    assert m.properties == {"井盖状态": "正常"}


def test_encrypted_with_wrong_key_is_rejected():
    other = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
    body = enc_body(b'{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":1}', key=other)
    with pytest.raises(Rejected) as exc:
        parse(body, ENCRYPTED)
    assert "decrypt" in exc.value.reason and exc.value.status == 400


def test_encrypted_with_bad_signature_is_401():
    body = json.loads(enc_body(b'{"type":1,"dev_id":1,"ds_id":"t","at":1,"value":1}'))
    body["msg_signature"] = sign("wrong", body["nonce"], body["enc_msg"].encode())
    with pytest.raises(Rejected) as exc:
        parse(json.dumps(body).encode(), ENCRYPTED)
    assert exc.value.status == 401


def test_encrypted_push_without_configured_key():
    with pytest.raises(Rejected, match="no aes_key"):
        parse(enc_body(b'{"type":1}'), PLAIN)


def test_encrypted_garbage_is_rejected():
    enc = base64.b64encode(b"short").decode()
    body = json.dumps({"enc_msg": enc, "msg_signature": sign(TOKEN, "n", enc.encode()), "nonce": "n"}).encode()
    with pytest.raises(Rejected, match="decrypt"):
        parse(body, ENCRYPTED)


def test_settings_validation():
    with pytest.raises(ValidationError, match="43"):
        Settings(token=TOKEN, aes_key="tooshort")
    with pytest.raises(ValidationError, match="empty"):
        Settings(token="")
    assert Settings(token=TOKEN, aes_key="").aes_key is None
    assert "cityops-token" not in repr(ENCRYPTED)


# --- URL verification -------------------------------------------------------------------

def get(query):
    return connector.verify_get(PushRequest(body=b"", method="GET", query=query), PLAIN)


def test_verify_get_echoes_msg():
    q = {"msg": "Gd7uFhkR2bQ", "nonce": "abcdefgh", "signature": sign(TOKEN, "abcdefgh", b"Gd7uFhkR2bQ")}
    assert get(q) == b"Gd7uFhkR2bQ"


def test_verify_get_tolerates_url_decoded_plus():
    nonce = next(n for n in (f"n{i}" for i in range(1000)) if "+" in sign(TOKEN, n, b"hello"))
    q = {"msg": "hello", "nonce": nonce, "signature": sign(TOKEN, nonce, b"hello").replace("+", " ")}
    assert get(q) == b"hello"


@pytest.mark.parametrize(
    "query, status",
    [
        ({"msg": "hello", "nonce": "abc", "signature": "AAAAAAAAAAAAAAAAAAAAAA=="}, 401),
        ({"msg": "hello", "nonce": "abc"}, 401),
        ({"nonce": "abc", "signature": "x"}, 400),
    ],
)
def test_verify_get_rejections(query, status):
    with pytest.raises(Rejected) as exc:
        get(query)
    assert exc.value.status == status


# --- raw member scanner -----------------------------------------------------------------

@pytest.mark.parametrize(
    "body, raw",
    [
        (b'{"msg":{"a":[1,{"b":"}"}]},"x":1}', b'{"a":[1,{"b":"}"}]}'),
        (b'{ "x" : "msg", "msg" : [ 1 , 2 ] }', b"[ 1 , 2 ]"),
        (b'{"msg":"a\\"b"}', b'"a\\"b"'),
        (b'{"msg":-1.5e3}', b"-1.5e3"),
        (b'\xef\xbb\xbf{"msg":null}', b"null"),
        (b'{"m\\u0073g":true}', b"true"),  # the name is compared decoded
        (b'{"other":{"msg":1}}', None),  # only top-level members count
        (b"{}", None),
    ],
)
def test_raw_member(body, raw):
    assert raw_member(body, "msg") == raw


@pytest.mark.parametrize("body", [b"[1]", b'{"msg":{"a":1}', b'{"msg":"abc}', b'{"msg" 1}', b'{"msg":1,"msg":2}'])
def test_raw_member_errors(body):
    with pytest.raises(ValueError):
        raw_member(body, "msg")


# --- round trips through the simulator's wire builders ----------------------------------

def _parse_wire(w, settings=PLAIN):
    body, headers, query = w
    return connector.parse(PushRequest(body=body, headers=headers, query=query), settings)


@pytest.mark.parametrize("messy", [False, True])
@pytest.mark.parametrize("aes", [None, AES_KEY])
def test_round_trip_data_points(messy, aes):
    settings = ENCRYPTED if aes else PLAIN
    w = wire.data_points(5123456, {"温度": 21.5, "湿度": 40}, token=TOKEN, at=TS, imei="868888048123456",
                         aes_key=aes, messy=messy)
    msgs = _parse_wire(w, settings)
    assert [m.external_id for m in msgs] == ["5123456", "5123456"]
    values = {k: v for m in msgs for k, v in m.properties.items()}
    assert values == ({"温度": "21.5", "湿度": "40"} if messy else {"温度": 21.5, "湿度": 40})
    assert all(m.ts == TS and m.imei == "868888048123456" for m in msgs)


@pytest.mark.parametrize("messy", [False, True])
@pytest.mark.parametrize("aes", [None, AES_KEY])
def test_round_trip_status(messy, aes):
    w = wire.status("600001", False, token=TOKEN, login_type=5, at=TS, aes_key=aes, messy=messy)
    [m] = _parse_wire(w, ENCRYPTED if aes else PLAIN)
    assert (m.online, m.meta["login_type"], m.ts) == (False, 5, TS)


def test_round_trip_single_data_point_and_wrong_token():
    w = wire.data_point(1, "ds", {"lon": 121.4}, token=TOKEN)
    assert _parse_wire(w)[0].properties == {"ds": {"lon": 121.4}}
    with pytest.raises(Rejected) as exc:
        _parse_wire(wire.data_point(1, "ds", 1, token="not-ours"))
    assert exc.value.status == 401


def test_round_trip_verification():
    body, headers, query = wire.verification(TOKEN, msg="verify-me")
    assert connector.verify_get(PushRequest(body=body, method="GET", headers=headers, query=query), PLAIN) == b"verify-me"


def test_messy_wire_is_not_compact():
    body, _, _ = wire.data_point(1, "温度", 1.5, token=TOKEN, messy=True)
    assert b"\n" in body and "温度".encode() in body and body.index(b'"msg"') > body.index(b'"nonce"')
