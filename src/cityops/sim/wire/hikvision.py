"""Hikvision ISAPI EventNotificationAlert pushes, as cameras/NVRs send them (IOT-2 simulator).

`alert()` returns (body, headers, query): the XML alone or multipart (form-data or mixed) with
JPEG snapshots. Variants: namespace hikvision | isapi | prefixed | None, stray unescaped "&",
dynChannelID instead of channelID, a dateTime without offset, parts without Content-Length.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

BEIJING = timezone(timedelta(hours=8))
NAMESPACES = {
    "hikvision": "http://www.hikvision.com/ver20/XMLSchema",
    "isapi": "http://www.isapi.org/ver20/XMLSchema",
}


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def tiny_jpeg(comment: str = "") -> bytes:
    """A valid 1×1 grey baseline JPEG (~160 bytes), built by hand; `comment` makes copies differ."""
    one_code = bytes([1] + [0] * 15) + b"\x00"  # a Huffman table with the single 1-bit code "0" → symbol 0
    return (
        b"\xff\xd8"
        + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + (_segment(0xFE, comment.encode()) if comment else b"")
        + _segment(0xDB, b"\x00" + b"\x01" * 64)  # quantisation table 0, all ones
        + _segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")  # 8-bit, 1×1, one component
        + _segment(0xC4, b"\x00" + one_code)  # DC table 0
        + _segment(0xC4, b"\x10" + one_code)  # AC table 0
        + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"  # DC diff category 0 ("0"), end of block ("0"), padded with ones
        + b"\xff\xd9"
    )


def alert_xml(
    ip: str,
    channel: int | str | None,
    event_type: str,
    *,
    state: str = "active",
    ts: datetime | None = None,
    mac: str = "44:19:b6:6d:24:85",
    channel_name: str = "Camera 01",
    description: str | None = None,
    target_type: str | None = None,
    regions: bool = False,
    namespace: str | None = "hikvision",
    dyn_channel: bool = False,
    stray_amp: bool = False,
    local_time: bool = False,
    active_post_count: int = 1,
) -> bytes:
    """The EventNotificationAlert document."""
    when = (ts or datetime.now(timezone.utc)).astimezone(BEIJING)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") if local_time else when.isoformat(timespec="seconds")
    esc = (lambda s: s) if stray_amp else escape  # stray_amp: text goes out unescaped, as some firmware does

    fields = [("ipAddress", ip), ("portNo", "80"), ("protocol", "HTTP"), ("macAddress", mac)]
    if channel is not None:
        fields.append(("dynChannelID" if dyn_channel else "channelID", str(channel)))
    fields += [
        ("dateTime", stamp),
        ("activePostCount", str(active_post_count)),
        ("eventType", event_type),
        ("eventState", state),
        ("eventDescription", description or f"{event_type} alarm"),
        ("channelName", channel_name),
    ]
    if target_type:
        fields.append(("targetType", target_type))

    prefix = "hik:" if namespace == "prefixed" else ""
    lines = [f"<{prefix}{k}>{esc(v)}</{prefix}{k}>" for k, v in fields]
    if regions:
        lines.append(
            f"<{prefix}DetectionRegionList><{prefix}DetectionRegionEntry>"
            f"<{prefix}regionID>1</{prefix}regionID><{prefix}sensitivityLevel>50</{prefix}sensitivityLevel>"
            f"<{prefix}RegionCoordinatesList>"
            + "".join(
                f"<{prefix}RegionCoordinates><{prefix}positionX>{x}</{prefix}positionX>"
                f"<{prefix}positionY>{y}</{prefix}positionY></{prefix}RegionCoordinates>"
                for x, y in ((100, 200), (700, 220))
            )
            + f"</{prefix}RegionCoordinatesList>"
            f"<{prefix}detectionTarget>{target_type or 'human'}</{prefix}detectionTarget>"
            f"</{prefix}DetectionRegionEntry></{prefix}DetectionRegionList>"
        )
    if namespace == "prefixed":
        attrs = f' version="2.0" xmlns:hik="{NAMESPACES["hikvision"]}"'
    elif namespace:
        attrs = f' version="2.0" xmlns="{NAMESPACES[namespace]}"'
    else:
        attrs = ' version="1.0"'
    root = f"{prefix}EventNotificationAlert"
    doc = f'<?xml version="1.0" encoding="UTF-8"?>\r\n<{root}{attrs}>\r\n' + "\r\n".join(lines) + f"\r\n</{root}>\r\n"
    return doc.encode("utf-8")


def multipart(
    xml: bytes,
    images: list[bytes],
    *,
    subtype: str = "form-data",
    event_type: str = "alert",
    boundary: str = "MIME_boundary",
    content_length: bool = True,
    quoted: bool = False,
) -> tuple[bytes, dict, dict]:
    """The XML and JPEG parts in one multipart body, Hikvision style (per-part Content-Length)."""
    parts = [("application/xml; charset=\"UTF-8\"", f'form-data; name="{event_type}"', xml)]
    for n, image in enumerate(images, 1):
        parts.append(("image/jpeg", f'form-data; name="{event_type}Image"; filename="{event_type}_{n}.jpg"', image))
    body = b""
    for ctype, disposition, data in parts:
        head = f"--{boundary}\r\nContent-Type: {ctype}\r\n"
        if content_length:
            head += f"Content-Length: {len(data)}\r\n"
        if subtype == "form-data":
            head += f"Content-Disposition: {disposition}\r\n"
        body += head.encode() + b"\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    b = f'"{boundary}"' if quoted else boundary
    return body, {"content-type": f"multipart/{subtype}; boundary={b}"}, {}


def alert(
    ip: str,
    channel: int | str | None,
    event_type: str,
    *,
    jpegs: int = 0,
    subtype: str = "form-data",
    content_length: bool = True,
    **xml_options,
) -> tuple[bytes, dict, dict]:
    """One alarm push: plain XML when jpegs == 0, else multipart with `jpegs` snapshots."""
    xml = alert_xml(ip, channel, event_type, **xml_options)
    if not jpegs:
        return xml, {"content-type": "application/xml; charset=UTF-8"}, {}
    images = [tiny_jpeg(f"{event_type} {n}") for n in range(1, jpegs + 1)]
    return multipart(xml, images, subtype=subtype, event_type=event_type, content_length=content_length)


def heartbeat(ip: str, channel: int | str | None = 1, **xml_options) -> tuple[bytes, dict, dict]:
    """The periodic heartBeat alert (status: online)."""
    xml_options.setdefault("description", "heartBeat")
    return alert(ip, channel, "heartBeat", **xml_options)
