"""The registry of connector kinds (IOT-2)."""

from __future__ import annotations

from importlib import import_module

from cityops.connectors.base import Connector

# kind → module; each module defines `connector`, an instance of its Connector class.
MODULES = {
    "ctwing": "cityops.connectors.ctwing",
    "onenet": "cityops.connectors.onenet",
    "onenet_studio": "cityops.connectors.onenet_studio",
    "iotda": "cityops.connectors.iotda",
    "aliyun": "cityops.connectors.aliyun",
    "hikvision": "cityops.connectors.hikvision",
    "mqtt_json": "cityops.connectors.mqtt_json",
}

_loaded: dict[str, Connector] = {}


def get(kind: str) -> Connector:
    if kind not in MODULES:
        raise KeyError(kind)
    if kind not in _loaded:
        _loaded[kind] = import_module(MODULES[kind]).connector
    return _loaded[kind]


def kinds() -> list[str]:
    return list(MODULES)
