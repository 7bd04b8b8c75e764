"""Shared helpers for the Open311 intake tests (IOT-7, SYS-DISPATCH)."""

from __future__ import annotations

import json
from importlib import resources
from xml.etree import ElementTree as ET

import jsonschema

from cityops.geo.coords import gcj02_to_wgs84
from cityops.open311 import service
from tests.events.helpers import offset_m, street_point

CODE = "010101"  # 市容环境 / 环境卫生 / 暴露垃圾


def schema(name: str) -> dict:
    return json.loads(resources.files("cityops.open311").joinpath("data", name).read_text("utf-8"))


def valid(doc, name: str):
    """Validate against our transcription of the spec's field tables; returns the doc."""
    jsonschema.validate(doc, schema(name), cls=jsonschema.Draft202012Validator,
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return doc


def xml(response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def make_client(db, name: str = "随申办", token_mode: bool = False) -> str:
    with db.session() as s:
        _, key = service.create_client(s, name=name, created_by="test", token_mode=token_mode)
    return key


def wgs_point(db, index: int = 0, east_m: float = 0.0) -> tuple[str, float, float]:
    """A street code and a WGS-84 (lat, long) whose GCJ-02 position lies in that street."""
    with db.session() as s:
        code, lon, lat = street_point(s, index)
    lon, lat = offset_m(lon, lat, east_m)
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    return code, float(wlat), float(wlon)


def post_form(db, key: str, lat: float, long: float, **extra) -> dict:
    """The spec's example request, moved to Changning."""
    return {"api_key": key, "jurisdiction_id": service.JURISDICTION_ID, "service_code": CODE, "lat": f"{lat:.8f}",
            "long": f"{long:.8f}", "address_string": "长宁区愚园路1000号", "email": "smit333@example.cn",
            "device_id": "tt222111", "account_id": "123456", "first_name": "小明", "last_name": "王",
            "phone": "13912341111", "description": "小区门口有一大堆垃圾无人清运\n已经两天了",
            "media_url": "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg",
            "attribute[WHISPAWN]": "123456", "attribute[WHISDORN]": "COISL001", **extra}
