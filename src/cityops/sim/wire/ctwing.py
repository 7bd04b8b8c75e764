"""CTWing (AEP) subscription pushes as the platform sends them (IOT-2).

`messy=True` produces what real pushes look like on a bad day: numbers as strings, "" and
"undefined" placeholders, -1 sequence numbers, lower-case imei keys.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from cityops.connectors import decoders
from cityops.sim.wire import JSON_HEADERS, Wire, ms

Ts = datetime | int | None


def _common(
    message_type: str,
    device_id: str,
    *,
    product_id: str,
    tenant_id: str,
    imei: str | None,
    imsi: str | None,
    iccid: str | None,
    ts: Ts,
    messy: bool,
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "messageType": message_type,
        "timestamp": ms(ts),
        "tenantId": tenant_id,
        "productId": product_id,
        "deviceId": device_id,
        "protocol": "lwm2m",
    }
    if messy:
        msg["timestamp"] = str(msg["timestamp"])
        if product_id.isdigit():
            msg["productId"] = int(product_id)
        msg["imei"] = imei if imei else "undefined"
        msg["imsi"] = imsi if imsi else "undefined"
        msg["iccid"] = iccid if iccid else ""
    else:
        msg.update({k: v for k, v in (("IMEI", imei), ("IMSI", imsi), ("iccid", iccid)) if v})
    return msg


def _wire(msg: dict[str, Any] | list[dict[str, Any]]) -> Wire:
    return json.dumps(msg, ensure_ascii=False).encode("utf-8"), dict(JSON_HEADERS), {}


def data_report(
    device_id: str,
    properties: dict[str, Any],
    *,
    decoder: str | None = "json",
    product_id: str = "15000001",
    tenant_id: str = "2000001",
    imei: str | None = None,
    imsi: str | None = None,
    iccid: str | None = None,
    seq: int | None = None,
    ts: Ts = None,
    tup_union: bool = False,
    messy: bool = False,
) -> Wire:
    """`decoder` names the APPdata encoding of a product without profile; None sends the
    properties as a profile product's decoded payload."""
    mtype = "dataReportTupUnion" if tup_union else "dataReport"
    msg = _common(mtype, device_id, product_id=product_id, tenant_id=tenant_id,
                  imei=imei, imsi=imsi, iccid=iccid, ts=ts, messy=messy)
    if decoder is None:
        msg["payload"] = dict(properties)
    else:
        msg["payload"] = {"APPdata": base64.b64encode(decoders.encode(decoder, properties)).decode()}
    msg["serviceId"] = ""
    msg["topic"] = "v1/up/ad" if decoder else "v1/up/ad19"
    msg["deviceType"] = ""
    msg["assocAssetId"] = ""
    if messy:
        msg["upPacketSN"] = -1 if seq is None else str(seq)
        msg["upDataSN"] = -1
    else:
        msg["upPacketSN"] = seq if seq is not None else ""
        msg["upDataSN"] = ""
    return _wire(msg)


def online(
    device_id: str,
    is_online: bool,
    *,
    product_id: str = "15000001",
    tenant_id: str = "2000001",
    imei: str | None = None,
    imsi: str | None = None,
    iccid: str | None = None,
    ts: Ts = None,
    messy: bool = False,
) -> Wire:
    msg = _common("deviceOnlineOfflineReport", device_id, product_id=product_id, tenant_id=tenant_id,
                  imei=imei, imsi=imsi, iccid=iccid, ts=ts, messy=messy)
    state = 1 if is_online else 0
    msg["eventType"] = str(state) if messy else state
    return _wire(msg)


def event(
    device_id: str,
    event_type: int,
    content: dict[str, Any],
    *,
    service_id: int | str = 1001,
    product_id: str = "15000001",
    tenant_id: str = "2000001",
    imei: str | None = None,
    imsi: str | None = None,
    iccid: str | None = None,
    ts: Ts = None,
    messy: bool = False,
) -> Wire:
    """event_type: 1 info, 2 warning, 3 fault."""
    msg = _common("eventReport", device_id, product_id=product_id, tenant_id=tenant_id,
                  imei=imei, imsi=imsi, iccid=iccid, ts=ts, messy=messy)
    msg["serviceId"] = str(service_id) if messy else service_id
    msg["eventType"] = str(event_type) if messy else event_type
    msg["eventContent"] = dict(content)
    return _wire(msg)


def command_response(
    device_id: str,
    task_id: int | str,
    result_code: str,
    detail: Any = None,
    *,
    product_id: str = "15000001",
    tenant_id: str = "2000001",
    imei: str | None = None,
    imsi: str | None = None,
    iccid: str | None = None,
    ts: Ts = None,
    messy: bool = False,
) -> Wire:
    """result_code: SENT | DELIVERED | SUCCESSFUL | FAILED."""
    msg = _common("commandResponse", device_id, product_id=product_id, tenant_id=tenant_id,
                  imei=imei, imsi=imsi, iccid=iccid, ts=ts, messy=messy)
    msg["taskId"] = str(task_id) if messy else task_id
    msg["result"] = {"resultCode": result_code, "resultDetail": detail if detail is not None else ""}
    return _wire(msg)


def batch(*wires: Wire) -> Wire:
    """Several pushes in one body, as a JSON array."""
    return _wire([json.loads(body) for body, _, _ in wires])
