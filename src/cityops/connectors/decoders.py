"""APPdata decoders for devices without a platform profile (IOT-2).

CTWing hands such devices' uplinks over as `{"APPdata": "<base64>"}`; the bytes are whatever
the firmware sends. A connection maps each productId to one of these decoders by name. Every
decoder has an encoder too, used by the device simulator and the tests.

"json"       the bytes are a UTF-8 JSON object.
"hex-json"   the bytes are ASCII hex digits of a UTF-8 JSON object (common on AT-command modules
             that can only send hex).

Binary layouts defined here for the NB-IoT devices deployed in Changning (all big-endian):

"smoke-v1"   independent smoke detector, 7 bytes
    0     layout id, 0x01
    1     status: 0 normal, 1 smoke_alarm, 2 self_test, 3 tamper
    2     battery, percent 0..100
    3-4   temperature, °C × 10, signed
    5-6   signal RSRP, dBm, signed (about -140..-44)
  → {"status": "smoke_alarm", "battery": 87, "temperature": 23.5, "rsrp": -95}

"manhole-v1" manhole-cover monitor, 5 bytes
    0     layout id, 0x02
    1     status: 0 normal, 1 authorised_open, 2 illegal_move
    2-3   tilt angle, degrees × 10, unsigned 0..1800
    4     battery, percent 0..100
  → {"status": "illegal_move", "tilt": 12.5, "battery": 64}

The layout id byte makes a product mapped to the wrong decoder fail loudly instead of
producing plausible nonsense.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Callable

from cityops.connectors.base import Rejected


@dataclass(frozen=True)
class Codec:
    name: str
    decode: Callable[[bytes], dict[str, Any]]  # raises ValueError on bad bytes
    encode: Callable[[dict[str, Any]], bytes]


def _json_decode(data: bytes) -> dict[str, Any]:
    value = json.loads(data.decode("utf-8-sig"))
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _json_encode(props: dict[str, Any]) -> bytes:
    return json.dumps(props, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _hex_json_decode(data: bytes) -> dict[str, Any]:
    return _json_decode(bytes.fromhex(data.decode("ascii")))


def _hex_json_encode(props: dict[str, Any]) -> bytes:
    return _json_encode(props).hex().upper().encode("ascii")


def _code(table: tuple[str, ...], value: int) -> str:
    if value >= len(table):
        raise ValueError(f"unknown status code {value}")
    return table[value]


def _index(table: tuple[str, ...], value: Any) -> int:
    if value not in table:
        raise ValueError(f"status must be one of {', '.join(table)}")
    return table.index(value)


def _percent(value: int) -> int:
    if not 0 <= value <= 100:
        raise ValueError(f"battery {value}% out of range")
    return value


SMOKE_STATUS = ("normal", "smoke_alarm", "self_test", "tamper")
_SMOKE = struct.Struct(">BBBhh")


def _smoke_decode(data: bytes) -> dict[str, Any]:
    if len(data) != _SMOKE.size:
        raise ValueError(f"expected {_SMOKE.size} bytes, got {len(data)}")
    layout, status, battery, temp, rsrp = _SMOKE.unpack(data)
    if layout != 0x01:
        raise ValueError(f"layout id 0x{layout:02x} is not smoke-v1")
    return {
        "status": _code(SMOKE_STATUS, status),
        "battery": _percent(battery),
        "temperature": temp / 10,
        "rsrp": rsrp,
    }


def _smoke_encode(props: dict[str, Any]) -> bytes:
    return _SMOKE.pack(
        0x01,
        _index(SMOKE_STATUS, props.get("status", "normal")),
        _percent(int(props.get("battery", 100))),
        round(float(props.get("temperature", 0)) * 10),
        int(props.get("rsrp", -90)),
    )


MANHOLE_STATUS = ("normal", "authorised_open", "illegal_move")
_MANHOLE = struct.Struct(">BBHB")


def _manhole_decode(data: bytes) -> dict[str, Any]:
    if len(data) != _MANHOLE.size:
        raise ValueError(f"expected {_MANHOLE.size} bytes, got {len(data)}")
    layout, status, tilt, battery = _MANHOLE.unpack(data)
    if layout != 0x02:
        raise ValueError(f"layout id 0x{layout:02x} is not manhole-v1")
    if tilt > 1800:
        raise ValueError(f"tilt {tilt / 10}° out of range")
    return {"status": _code(MANHOLE_STATUS, status), "tilt": tilt / 10, "battery": _percent(battery)}


def _manhole_encode(props: dict[str, Any]) -> bytes:
    tilt = round(float(props.get("tilt", 0)) * 10)
    if not 0 <= tilt <= 1800:
        raise ValueError(f"tilt {tilt / 10}° out of range")
    return _MANHOLE.pack(
        0x02,
        _index(MANHOLE_STATUS, props.get("status", "normal")),
        tilt,
        _percent(int(props.get("battery", 100))),
    )


DECODERS: dict[str, Codec] = {
    c.name: c
    for c in (
        Codec("json", _json_decode, _json_encode),
        Codec("hex-json", _hex_json_decode, _hex_json_encode),
        Codec("smoke-v1", _smoke_decode, _smoke_encode),
        Codec("manhole-v1", _manhole_decode, _manhole_encode),
    )
}


def names() -> list[str]:
    return list(DECODERS)


def get(name: str) -> Codec:
    try:
        return DECODERS[name]
    except KeyError:
        raise Rejected(f"unknown APPdata decoder {name!r}") from None


def decode(name: str, data: bytes) -> dict[str, Any]:
    codec = get(name)
    try:
        return codec.decode(data)
    except (ValueError, struct.error) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise Rejected(f"APPdata decoder {name!r} cannot read {data[:32].hex()}: {exc}") from exc


def encode(name: str, props: dict[str, Any]) -> bytes:
    """Raises KeyError for an unknown decoder and ValueError for values the layout cannot hold."""
    try:
        return DECODERS[name].encode(props)
    except struct.error as exc:
        raise ValueError(f"{name}: value out of range: {exc}") from exc
