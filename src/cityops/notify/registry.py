"""The registry of notification channel kinds (IOT-5 / OPS-3)."""

from __future__ import annotations

from importlib import import_module

from cityops.notify.base import Channel

# kind → module; each module defines `channel`, an instance of its Channel class.
MODULES = {
    "wecom": "cityops.notify.wecom",
    "sms": "cityops.notify.sms",
    "email": "cityops.notify.email",
    "voice": "cityops.notify.voice",
}

_loaded: dict[str, Channel] = {}


def get(kind: str) -> Channel:
    if kind not in MODULES:
        raise KeyError(kind)
    if kind not in _loaded:
        _loaded[kind] = import_module(MODULES[kind]).channel
    return _loaded[kind]


def kinds() -> list[str]:
    return list(MODULES)
