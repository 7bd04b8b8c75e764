"""GeoReport v2 answers in JSON or XML (IOT-7). XML follows the spec's examples: no
namespace, an XML declaration with UTF-8, list elements named after their items
(<services><service>, <service_requests><request>, <errors><error>); JSON is the same data
(the spec's Spark convention), null where the XML element is empty."""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import Response

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# the element name of one item inside each list element
ITEMS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
         "values": "value", "endpoints": "endpoint", "formats": "format"}
# Characters XML 1.0 cannot carry at all; a client's description may contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(el: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(ET.SubElement(el, k), v)
    elif isinstance(value, list):
        for v in value:
            _fill(ET.SubElement(el, ITEMS[el.tag]), v)
    else:
        el.text = _text(value)


def xml_bytes(root: str, data: Any) -> bytes:
    el = ET.Element(root)
    _fill(el, data)
    ET.indent(el)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(el, encoding="utf-8", xml_declaration=False)


def respond(fmt: str, root: str, data: Any, status: int = 200) -> Response:
    """`root` names the XML root element; `data` is a list (of items) or a dict."""
    if fmt == "xml":
        body = xml_bytes(root, data)
    else:
        body = json.dumps(data, ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=FORMATS[fmt])


def errors(fmt: str, status: int, description: str, code: int | None = None) -> Response:
    return respond(fmt, "errors", [{"code": code or status, "description": description}], status)
