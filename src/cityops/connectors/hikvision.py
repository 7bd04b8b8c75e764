"""Hikvision ISAPI EventNotificationAlert pushed by cameras/NVRs to an alarm server (IOT-2).

The body is the XML alone, or multipart (form-data or mixed) with one or more XML parts and
JPEG parts; images become attachments of the alert that precedes them (or of the first alert).
Parsing ignores namespaces (hikvision.com, isapi.org or none) and escapes stray "&".
DTDs are refused outright: a camera never sends one, and they are the XML attack surface.

- eventType heartBeat → status, online.
- any other eventType → event: event = eventType, event_state active|inactive,
  severity: videoloss, shelteralarm (tamper), linedetection, fielddetection → warning;
  VMD (motion) → info; other types → None (no level known; later rules decide).
- external_id = "{ipAddress}:{channelID}" (dynChannelID when channelID is missing; the IP
  alone for device-level alerts without a channel), or the MAC address (lower case, colons)
  when settings.id_by == "mac". ipAddress falls back to the sender's address.
- dateTime without an offset is read as Beijing time (the cameras run on local time).
Cameras cannot sign their pushes: the shared token guards the URL.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.util import CHINA_TZ, any_time, as_settings, text
from cityops.ingest.message import Attachment, DeviceMessage

SEVERITY = {
    "videoloss": "warning",
    "shelteralarm": "warning",
    "linedetection": "warning",
    "fielddetection": "warning",
    "vmd": "info",
}
_STRAY_AMP = re.compile(r"&(?!(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);)")
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


class HikvisionSettings(BaseModel):
    id_by: Literal["ip_channel", "mac"] = "ip_channel"


# --- multipart -------------------------------------------------------------


def _boundary(content_type: str, body: bytes) -> bytes | None:
    m = re.search(r'boundary\s*=\s*"?([^";,\s]+)"?', content_type, re.I)
    if m:
        return m.group(1).encode("latin-1")
    # some firmwares omit the parameter: take the body's first delimiter line
    first = body.lstrip(b"\r\n").split(b"\n", 1)[0].strip()
    return first[2:] if first.startswith(b"--") and len(first) > 2 else None


def _head_end(chunk: bytes, start: int) -> tuple[int, int]:
    """(end of the part's headers, start of its data)."""
    ends = [(i, i + len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := chunk.find(sep, start)) >= 0]
    return min(ends) if ends else (len(chunk), len(chunk))


def _parts(body: bytes, boundary: bytes) -> list[tuple[dict[str, str], bytes]]:
    """[(lower-case headers, data)]. Walks with a cursor and honours each part's
    Content-Length, so image bytes that happen to contain the delimiter do no harm."""
    delim = b"--" + boundary
    parts = []
    pos = body.find(delim)
    while pos >= 0:
        pos += len(delim)
        if body[pos : pos + 2] == b"--":  # closing delimiter
            break
        line_end = body.find(b"\n", pos)
        if line_end < 0:
            break
        # search from the delimiter's own line end, so a part without headers works too
        head_end, data_start = _head_end(body, line_end - 1)
        headers = {}
        for line in body[line_end + 1 : max(head_end, line_end + 1)].splitlines():
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        length = text(headers.get("content-length"))
        end = data_start + int(length) if length and length.isdigit() else -1
        # trust Content-Length only when the next delimiter follows right after it
        if 0 <= end <= len(body) and body[end : end + len(delim) + 2].lstrip(b"\r\n").startswith(delim):
            data = body[data_start:end]
            nxt = body.find(delim, end)
        else:
            nxt = body.find(delim, data_start)
            data = body[data_start : nxt if nxt >= 0 else len(body)]
            data = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
        parts.append((headers, data))
        pos = nxt
    return parts


def _param(header: str, name: str) -> str | None:
    m = re.search(rf'\b{name}\s*=\s*"?([^";]+)"?', header or "", re.I)
    return m.group(1).strip() if m else None


# --- XML -------------------------------------------------------------------


def _xml(data: bytes) -> ET.Element:
    if re.search(rb"<!(DOCTYPE|ENTITY)", data, re.I):
        raise Rejected("XML with a DTD is not accepted")
    try:
        doc = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        doc = data.decode("gb18030", errors="replace")  # Chinese channel names from older firmware
    doc = _STRAY_AMP.sub("&amp;", _DECLARATION.sub("", doc))
    try:
        root = ET.fromstring(doc)
    except ET.ParseError as exc:
        raise Rejected(f"malformed XML: {exc}") from exc
    for el in root.iter():
        if isinstance(el.tag, str):
            el.tag = el.tag.rsplit("}", 1)[-1]
    if root.tag.lower() != "eventnotificationalert":
        raise Rejected(f"XML root is {root.tag!r}, not EventNotificationAlert")
    return root


def _find(root: ET.Element, name: str) -> ET.Element | None:
    name = name.lower()
    for el in list(root) + list(root.iter()):  # direct children first
        if isinstance(el.tag, str) and el.tag.lower() == name:
            return el
    return None


def _field(root: ET.Element, *names: str) -> str | None:
    for name in names:
        el = _find(root, name)
        if el is not None and text(el.text):
            return text(el.text)
    return None


def _plain(el: ET.Element) -> Any:
    """An element as plain data: text for leaves, dicts (lists for repeats) otherwise."""
    if len(el) == 0:
        return text(el.text)
    out: dict[str, Any] = {}
    for child in el:
        value = _plain(child)
        if child.tag in out:
            if not isinstance(out[child.tag], list):
                out[child.tag] = [out[child.tag]]
            out[child.tag].append(value)
        else:
            out[child.tag] = value
    return out


# --- connector -------------------------------------------------------------


class HikvisionConnector:
    kind: ClassVar[str] = "hikvision"
    label: ClassVar[str] = "海康威视 ISAPI 报警推送"
    needs_shared_token: ClassVar[bool] = True
    Settings: ClassVar[type[BaseModel]] = HikvisionSettings

    def parse(self, request: PushRequest, settings: Any) -> list[DeviceMessage]:
        settings = as_settings(HikvisionSettings, settings)
        body = request.body or b""
        if not body.strip():
            raise Rejected("empty body")
        ctype = request.content_type
        boundary = _boundary(ctype, body) if "multipart" in ctype.lower() or body.lstrip().startswith(b"--") else None
        parts = _parts(body, boundary) if boundary else [({"content-type": ctype}, body)]

        messages: list[DeviceMessage] = []
        pending: list[Attachment] = []  # images seen before any alert
        for headers, data in parts:
            part_type = headers.get("content-type", "").lower()
            if data[:2] == b"\xff\xd8" or part_type.startswith("image/"):
                disposition = headers.get("content-disposition", "")
                name = _param(disposition, "filename") or _param(disposition, "name") or ""
                image_type = part_type.split(";")[0].strip() if part_type.startswith("image/") else "image/jpeg"
                image = Attachment(image_type, data, name)
                (messages[-1].attachments if messages else pending).append(image)
            elif "xml" in part_type or data.lstrip()[:1] == b"<":
                messages.append(self._alert(_xml(data), settings, request.remote_addr))
        if not messages:
            raise Rejected("no EventNotificationAlert XML in the body")
        messages[0].attachments[:0] = pending
        return messages

    def verify_get(self, request: PushRequest, settings: Any) -> bytes | None:
        return None

    def _alert(self, root: ET.Element, settings: HikvisionSettings, remote_addr: str) -> DeviceMessage:
        event_type = _field(root, "eventType")
        if not event_type:
            raise Rejected("eventType missing")
        ip = _field(root, "ipAddress", "ipv6Address") or text(remote_addr)
        channel = _field(root, "channelID", "dynChannelID")
        mac = _field(root, "macAddress")
        mac = mac.lower().replace("-", ":") if mac else None
        if settings.id_by == "mac":
            if not mac:
                raise Rejected("id_by is 'mac' but the alert has no macAddress")
            external_id = mac
        else:
            if not ip:
                raise Rejected("ipAddress missing")
            external_id = f"{ip}:{channel}" if channel else ip

        meta: dict[str, Any] = {"ip_address": ip, "channel": channel}
        for key, name in (
            ("channel_name", "channelName"),
            ("event_description", "eventDescription"),
            ("target_type", "targetType"),
            ("port", "portNo"),
            ("protocol", "protocol"),
            ("active_post_count", "activePostCount"),
        ):
            value = _field(root, name)
            if value is not None:
                meta[key] = value
        if mac:
            meta["mac_address"] = mac
        regions = _find(root, "DetectionRegionList")
        if regions is not None and len(regions):
            meta["regions"] = [_plain(entry) for entry in regions]

        ts = any_time(_field(root, "dateTime"), CHINA_TZ)
        if event_type.lower() == "heartbeat":
            return DeviceMessage(
                kind="status", external_id=external_id, ts=ts, online=True,
                source_type=event_type, meta=meta,
            )
        state = (_field(root, "eventState") or "").lower()
        if state and state not in ("active", "inactive"):
            meta["event_state"] = state
        return DeviceMessage(
            kind="event",
            external_id=external_id,
            ts=ts,
            event=event_type,
            event_state=state if state in ("active", "inactive") else None,
            severity=SEVERITY.get(event_type.lower()),
            source_type=event_type,
            meta=meta,
        )


connector = HikvisionConnector()
