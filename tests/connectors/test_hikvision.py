"""IOT-2: Hikvision ISAPI EventNotificationAlert pushes (XML and multipart) → DeviceMessage."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cityops.connectors import registry
from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.hikvision import HikvisionSettings, connector
from cityops.sim.wire import hikvision as wire

TS = datetime(2024, 5, 1, 2, 30, 15, tzinfo=timezone.utc)

LINE_DETECTION = b"""<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<ipAddress>10.17.133.46</ipAddress>
<portNo>80</portNo>
<protocol>HTTP</protocol>
<macAddress>44-19-B6-6D-24-85</macAddress>
<channelID>1</channelID>
<dateTime>2017-05-04T11:20:02+08:00</dateTime>
<activePostCount>1</activePostCount>
<eventType>linedetection</eventType>
<eventState>active</eventState>
<eventDescription>linedetection alarm</eventDescription>
<DetectionRegionList>
<DetectionRegionEntry>
<regionID>1</regionID>
<sensitivityLevel>50</sensitivityLevel>
<RegionCoordinatesList>
<RegionCoordinates><positionX>100</positionX><positionY>200</positionY></RegionCoordinates>
<RegionCoordinates><positionX>700</positionX><positionY>220</positionY></RegionCoordinates>
</RegionCoordinatesList>
<detectionTarget>human</detectionTarget>
</DetectionRegionEntry>
</DetectionRegionList>
<channelName>Gate 1</channelName>
<targetType>human</targetType>
</EventNotificationAlert>
"""

HEARTBEAT_ISAPI = b"""<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<ipAddress>172.6.64.7</ipAddress>
<portNo>80</portNo>
<protocol>HTTP</protocol>
<macAddress>01:17:24:45:D9:F4</macAddress>
<channelID>1</channelID>
<dateTime>2009-11-14T15:27Z</dateTime>
<activePostCount>1</activePostCount>
<eventType>heartBeat</eventType>
<eventState>active</eventState>
<eventDescription>heartBeat</eventDescription>
</EventNotificationAlert>"""

VIDEOLOSS_NO_NS_STRAY_AMP = b"""<EventNotificationAlert version="1.0">
<ipAddress>192.168.1.64</ipAddress>
<dynChannelID>3</dynChannelID>
<dateTime>2024-05-01T10:30:15</dateTime>
<eventType>videoloss</eventType>
<eventState>inactive</eventState>
<eventDescription>videoloss alarm & recovery</eventDescription>
<channelName>Road A&B &amp; C</channelName>
</EventNotificationAlert>"""

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def parse(body, content_type="application/xml", settings=None, remote_addr=""):
    req = PushRequest(body=body, headers={"content-type": content_type}, remote_addr=remote_addr)
    return connector.parse(req, settings)


def test_registry_and_contract():
    """IOT-2: registered under "hikvision"; cameras cannot sign → shared token."""
    assert registry.get("hikvision") is connector
    assert connector.needs_shared_token is True
    assert connector.Settings().id_by == "ip_channel"
    assert connector.verify_get(PushRequest(body=b""), None) is None


def test_line_detection_event():
    """IOT-2: an alert → event with type, state, severity, ts and meta."""
    [msg] = parse(LINE_DETECTION)
    assert msg.kind == "event"
    assert msg.external_id == "10.17.133.46:1"
    assert (msg.event, msg.event_state, msg.severity) == ("linedetection", "active", "warning")
    assert msg.ts == datetime(2017, 5, 4, 3, 20, 2, tzinfo=timezone.utc)
    assert msg.meta["channel_name"] == "Gate 1"
    assert msg.meta["event_description"] == "linedetection alarm"
    assert msg.meta["target_type"] == "human"
    assert msg.meta["mac_address"] == "44:19:b6:6d:24:85"
    assert msg.meta["active_post_count"] == "1"
    [region] = msg.meta["regions"]
    assert region["regionID"] == "1" and region["detectionTarget"] == "human"
    assert region["RegionCoordinatesList"]["RegionCoordinates"][1] == {"positionX": "700", "positionY": "220"}
    assert msg.attachments == []


def test_heartbeat_is_status_online():
    """IOT-2: heartBeat → status online (isapi.org namespace, minute-precision time)."""
    [msg] = parse(HEARTBEAT_ISAPI)
    assert msg.kind == "status" and msg.online is True and msg.event is None
    assert msg.external_id == "172.6.64.7:1"
    assert msg.ts == datetime(2009, 11, 14, 15, 27, tzinfo=timezone.utc)


def test_no_namespace_stray_ampersand_dyn_channel_local_time():
    """IOT-2: no namespace, stray '&' escaped, dynChannelID, dateTime without offset = Beijing."""
    [msg] = parse(VIDEOLOSS_NO_NS_STRAY_AMP, content_type="text/xml")
    assert msg.external_id == "192.168.1.64:3"
    assert (msg.event, msg.event_state, msg.severity) == ("videoloss", "inactive", "warning")
    assert msg.meta["channel_name"] == "Road A&B & C"
    assert msg.meta["event_description"] == "videoloss alarm & recovery"
    assert msg.ts == TS


def test_prefixed_namespace():
    """IOT-2: prefixed elements are read the same way."""
    body = (b'<h:EventNotificationAlert xmlns:h="http://www.hikvision.com/ver20/XMLSchema">'
            b"<h:ipAddress>10.0.0.9</h:ipAddress><h:channelID>2</h:channelID>"
            b"<h:eventType>VMD</h:eventType><h:eventState>active</h:eventState></h:EventNotificationAlert>")
    [msg] = parse(body)
    assert (msg.external_id, msg.event, msg.severity, msg.ts) == ("10.0.0.9:2", "VMD", "info", None)


@pytest.mark.parametrize("event_type, severity", [("shelteralarm", "warning"), ("fielddetection", "warning"),
                                                  ("vmd", "info"), ("diskfull", None)])
def test_severity_table(event_type, severity):
    """IOT-2: documented severity mapping; unknown types carry no severity."""
    body = (f"<EventNotificationAlert><ipAddress>1.2.3.4</ipAddress><channelID>1</channelID>"
            f"<eventType>{event_type}</eventType><eventState>active</eventState></EventNotificationAlert>").encode()
    [msg] = parse(body)
    assert msg.severity == severity and msg.event == event_type


def test_id_by_mac_and_fallbacks():
    """IOT-2: id_by mac → normalised MAC; no ipAddress → sender address; no channel → IP alone."""
    [msg] = parse(LINE_DETECTION, settings=HikvisionSettings(id_by="mac"))
    assert msg.external_id == "44:19:b6:6d:24:85"
    [msg] = parse(LINE_DETECTION, settings={"id_by": "mac"})
    assert msg.external_id == "44:19:b6:6d:24:85"
    body = b"<EventNotificationAlert><eventType>heartBeat</eventType></EventNotificationAlert>"
    [msg] = parse(body, remote_addr="58.1.2.3")
    assert msg.external_id == "58.1.2.3" and msg.online is True
    with pytest.raises(Rejected, match="macAddress"):
        parse(body, settings={"id_by": "mac"})
    with pytest.raises(Rejected, match="ipAddress"):
        parse(body)


def test_gbk_channel_name():
    """IOT-2: older firmware may send GBK bytes under a UTF-8 (or GB2312) declaration."""
    body = ('<?xml version="1.0" encoding="GB2312"?><EventNotificationAlert><ipAddress>1.2.3.4</ipAddress>'
            "<channelID>1</channelID><eventType>VMD</eventType><channelName>长宁路口</channelName>"
            "</EventNotificationAlert>").encode("gbk")
    [msg] = parse(body)
    assert msg.meta["channel_name"] == "长宁路口"


def _multipart(boundary: bytes, xml: bytes, images: list[bytes], content_length=True, newline=b"\r\n"):
    out = b""
    parts = [(b"application/xml; charset=\"UTF-8\"", b'form-data; name="linedetection"', xml)]
    parts += [(b"image/jpeg", b'form-data; name="linedetectionImage"; filename="snap%d.jpg"' % n, img)
              for n, img in enumerate(images, 1)]
    for ctype, disp, data in parts:
        out += b"--" + boundary + newline + b"Content-Type: " + ctype + newline
        if content_length:
            out += b"Content-Length: %d" % len(data) + newline
        out += b"Content-Disposition: " + disp + newline + newline + data + newline
    return out + b"--" + boundary + b"--" + newline


def test_multipart_form_data_with_two_jpegs():
    """IOT-2: multipart/form-data with the XML and two JPEG parts → attachments."""
    second = JPEG[:-2] + b"\r\n--boundary\r\n" + JPEG[-2:]  # image bytes that contain the delimiter
    body = _multipart(b"boundary", LINE_DETECTION, [JPEG, second])
    [msg] = parse(body, content_type="multipart/form-data; boundary=boundary")
    assert msg.event == "linedetection"
    assert [(a.content_type, a.name) for a in msg.attachments] == [("image/jpeg", "snap1.jpg"),
                                                                    ("image/jpeg", "snap2.jpg")]
    assert msg.attachments[0].data == JPEG and msg.attachments[1].data == second


def test_multipart_mixed_without_lengths_or_boundary_param():
    """IOT-2: multipart/mixed, no Content-Length, LF line ends, boundary taken from the body."""
    body = b"\r\n" + _multipart(b"MIME_boundary", HEARTBEAT_ISAPI, [JPEG], content_length=False, newline=b"\n")
    [msg] = parse(body, content_type="multipart/mixed")
    assert msg.kind == "status"
    assert [a.data for a in msg.attachments] == [JPEG]


def test_multipart_wrong_content_length_falls_back_to_delimiters():
    """IOT-2: a part whose Content-Length is off is cut at the next delimiter instead."""
    body = (b"--b\r\nContent-Type: application/xml\r\nContent-Length: 99999\r\n\r\n" + LINE_DETECTION
            + b"\r\n--b\r\nContent-Type: image/jpeg\r\nContent-Length: 5\r\n\r\n" + JPEG + b"\r\n--b--\r\n")
    [msg] = parse(body, content_type="multipart/form-data; boundary=b")
    assert msg.event == "linedetection" and [a.data for a in msg.attachments] == [JPEG]


def test_multipart_two_alerts_image_first():
    """IOT-2: several XML parts → several messages; an image before any alert goes to the first."""
    body = (b'--b\r\nContent-Type: image/jpeg\r\n\r\n' + JPEG + b"\r\n"
            b"--b\r\nContent-Type: application/xml\r\n\r\n" + LINE_DETECTION + b"\r\n"
            b"--b\r\nContent-Type: application/xml\r\n\r\n" + HEARTBEAT_ISAPI + b"\r\n"
            b"--b\r\nContent-Type: application/octet-stream\r\n\r\n" + JPEG + b"\r\n--b--\r\n")
    first, second = parse(body, content_type='multipart/mixed; boundary="b"')
    assert [a.data for a in first.attachments] == [JPEG]
    assert [a.content_type for a in second.attachments] == ["image/jpeg"]


@pytest.mark.parametrize(
    "body, content_type, reason",
    [
        (b"<EventNotificationAlert><ipAddress>1.2.3.4</ipAddress", "application/xml", "malformed XML"),
        (b"<Other><eventType>VMD</eventType></Other>", "application/xml", "not EventNotificationAlert"),
        (b"<EventNotificationAlert><ipAddress>1.2.3.4</ipAddress></EventNotificationAlert>",
         "application/xml", "eventType"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><EventNotificationAlert/>',
         "application/xml", "DTD"),
        (b'{"eventType": "VMD"}', "application/json", "no EventNotificationAlert"),
        (b" \r\n", "application/xml", "empty body"),
        (b"--b\r\nContent-Type: image/jpeg\r\n\r\n" + JPEG + b"\r\n--b--\r\n",
         "multipart/form-data; boundary=b", "no EventNotificationAlert"),
    ],
)
def test_rejected(body, content_type, reason):
    """IOT-2: malformed or unusable pushes are rejected with a reason."""
    with pytest.raises(Rejected, match=reason):
        parse(body, content_type=content_type)


# --- round trips through the simulator's wire builders ---


def _request(wire_tuple):
    body, headers, query = wire_tuple
    return PushRequest(body=body, headers=headers, query=query)


@pytest.mark.parametrize("namespace", ["hikvision", "isapi", "prefixed", None])
@pytest.mark.parametrize("stray_amp", [False, True])
def test_round_trip_plain_xml(namespace, stray_amp):
    """IOT-2: sim/wire alert (plain XML) across namespace variants and stray '&'."""
    w = wire.alert("10.20.0.5", 2, "fielddetection", ts=TS, namespace=namespace, stray_amp=stray_amp,
                   channel_name="东门 A&B", target_type="vehicle", regions=True)
    [msg] = connector.parse(_request(w), None)
    assert (msg.external_id, msg.event, msg.event_state, msg.ts) == ("10.20.0.5:2", "fielddetection", "active", TS)
    assert msg.meta["channel_name"] == "东门 A&B" and msg.meta["target_type"] == "vehicle"
    assert msg.meta["regions"][0]["detectionTarget"] == "vehicle"


@pytest.mark.parametrize("subtype", ["form-data", "mixed"])
@pytest.mark.parametrize("content_length", [True, False])
def test_round_trip_multipart_two_jpegs(subtype, content_length):
    """IOT-2: sim/wire alert with two JPEG snapshots as multipart."""
    w = wire.alert("10.20.0.6", 1, "shelteralarm", jpegs=2, subtype=subtype, content_length=content_length,
                   ts=TS, dyn_channel=True, local_time=True)
    [msg] = connector.parse(_request(w), None)
    assert (msg.external_id, msg.severity, msg.ts) == ("10.20.0.6:1", "warning", TS)
    assert len(msg.attachments) == 2
    assert all(a.data.startswith(b"\xff\xd8") and a.data.endswith(b"\xff\xd9") for a in msg.attachments)
    assert msg.attachments[0].data != msg.attachments[1].data


def test_round_trip_quoted_boundary_and_heartbeat():
    """IOT-2: sim/wire multipart with a quoted boundary; heartbeat builder → status."""
    xml = wire.alert_xml("10.20.0.7", 1, "VMD", ts=TS, state="inactive")
    [msg] = connector.parse(_request(wire.multipart(xml, [wire.tiny_jpeg()], quoted=True)), None)
    assert (msg.event, msg.event_state, msg.severity) == ("VMD", "inactive", "info")
    [hb] = connector.parse(_request(wire.heartbeat("10.20.0.7", ts=TS, namespace="isapi")), None)
    assert (hb.kind, hb.online, hb.external_id, hb.ts) == ("status", True, "10.20.0.7:1", TS)


def test_tiny_jpeg_is_a_jpeg():
    """IOT-2: the simulator's snapshot is a well-formed JPEG marker sequence."""
    data = wire.tiny_jpeg("x")
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    pos, markers = 2, []
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        markers.append(data[pos + 1])
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    assert markers == [0xE0, 0xFE, 0xDB, 0xC0, 0xC4, 0xC4]
