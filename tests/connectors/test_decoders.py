"""APPdata decoders (IOT-2): literal byte vectors for each layout, bad bytes rejected with the
decoder's name, encoders' range checks, and encode → decode round trips."""

from __future__ import annotations

import pytest

from cityops.connectors import decoders
from cityops.connectors.base import Rejected


def test_known_names():
    assert set(decoders.names()) == {"json", "hex-json", "smoke-v1", "manhole-v1"}


def test_json_decoder_reads_utf8_object():
    assert decoders.decode("json", '{"水位":12,"alarm":false}'.encode()) == {"水位": 12, "alarm": False}


def test_json_decoder_tolerates_bom():
    assert decoders.decode("json", b'\xef\xbb\xbf{"a":1}') == {"a": 1}


def test_hex_json_decoder_reads_hex_text():
    assert decoders.decode("hex-json", b"7B2261223A317D") == {"a": 1}
    assert decoders.decode("hex-json", b"7b2261223a317d") == {"a": 1}


def test_smoke_v1_literal_alarm_frame():
    # layout 01, status 01 smoke_alarm, battery 0x57=87 %, temperature 0x00EB=23.5 °C, RSRP 0xFFA1=-95 dBm
    assert decoders.decode("smoke-v1", bytes.fromhex("01015700EBFFA1")) == {
        "status": "smoke_alarm",
        "battery": 87,
        "temperature": 23.5,
        "rsrp": -95,
    }


def test_smoke_v1_negative_temperature_and_other_statuses():
    assert decoders.decode("smoke-v1", bytes.fromhex("010064FFE7FF9B")) == {
        "status": "normal",
        "battery": 100,
        "temperature": -2.5,
        "rsrp": -101,
    }
    assert decoders.decode("smoke-v1", bytes.fromhex("01020A0000FF88"))["status"] == "self_test"
    assert decoders.decode("smoke-v1", bytes.fromhex("01030A0000FF88"))["status"] == "tamper"


def test_manhole_v1_literal_frame():
    # layout 02, status 02 illegal_move, tilt 0x007D=12.5°, battery 0x40=64 %
    assert decoders.decode("manhole-v1", bytes.fromhex("0202007D40")) == {
        "status": "illegal_move",
        "tilt": 12.5,
        "battery": 64,
    }
    assert decoders.decode("manhole-v1", bytes.fromhex("0201000064"))["status"] == "authorised_open"


@pytest.mark.parametrize(
    "name, data, words",
    [
        ("json", b"not json", "json"),
        ("json", b"[1, 2]", "JSON object"),
        ("json", b"\xff\xfe", "json"),
        ("hex-json", b"7B22zz", "hex-json"),
        ("hex-json", "汉字".encode(), "hex-json"),
        ("smoke-v1", bytes.fromhex("01015700EB"), "expected 7 bytes"),
        ("smoke-v1", bytes.fromhex("0202007D40FFFF"), "not smoke-v1"),
        ("smoke-v1", bytes.fromhex("01095700EBFFA1"), "unknown status"),
        ("smoke-v1", bytes.fromhex("0101C800EBFFA1"), "battery"),
        ("manhole-v1", bytes.fromhex("01015700EBFFA1"), "expected 5 bytes"),
        ("manhole-v1", bytes.fromhex("0102007D40"), "not manhole-v1"),
        ("manhole-v1", bytes.fromhex("02020FA040"), "tilt"),
        ("manhole-v1", b"", "expected 5 bytes"),
    ],
)
def test_bad_bytes_are_rejected_naming_the_decoder(name, data, words):
    with pytest.raises(Rejected) as exc:
        decoders.decode(name, data)
    assert f"'{name}'" in exc.value.reason
    assert words.lower() in exc.value.reason.lower()
    assert exc.value.status == 400


def test_unknown_decoder_is_rejected():
    with pytest.raises(Rejected, match="unknown APPdata decoder 'smoke-v9'"):
        decoders.decode("smoke-v9", b"\x01")


def test_smoke_encoder_literal_bytes():
    props = {"status": "smoke_alarm", "battery": 87, "temperature": 23.5, "rsrp": -95}
    assert decoders.encode("smoke-v1", props) == bytes.fromhex("01015700EBFFA1")


def test_manhole_encoder_literal_bytes():
    props = {"status": "illegal_move", "tilt": 12.5, "battery": 64}
    assert decoders.encode("manhole-v1", props) == bytes.fromhex("0202007D40")


def test_hex_json_encoder_writes_hex_text():
    assert decoders.encode("hex-json", {"a": 1}) == b"7B2261223A317D"


@pytest.mark.parametrize(
    "name, props",
    [
        ("smoke-v1", {"status": "fire"}),
        ("smoke-v1", {"battery": 120}),
        ("smoke-v1", {"temperature": 4000}),
        ("smoke-v1", {"rsrp": -40000}),
        ("manhole-v1", {"status": "stolen"}),
        ("manhole-v1", {"tilt": 190}),
        ("manhole-v1", {"tilt": -1}),
    ],
)
def test_encoders_refuse_values_the_layout_cannot_hold(name, props):
    with pytest.raises(ValueError):
        decoders.encode(name, props)


@pytest.mark.parametrize(
    "name, props",
    [
        ("json", {"level_cm": 12, "名称": "长宁路积水点", "ok": True, "nested": {"a": [1, 2]}}),
        ("hex-json", {"ppm": 3.5, "alarm": "high"}),
        ("smoke-v1", {"status": "tamper", "battery": 5, "temperature": -12.3, "rsrp": -140}),
        ("smoke-v1", {"status": "normal", "battery": 0, "temperature": 60.0, "rsrp": -44}),
        ("manhole-v1", {"status": "authorised_open", "tilt": 180.0, "battery": 100}),
        ("manhole-v1", {"status": "normal", "tilt": 0.0, "battery": 0}),
    ],
)
def test_round_trip(name, props):
    assert decoders.decode(name, decoders.encode(name, props)) == props
