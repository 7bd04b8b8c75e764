"""The registry of dispatch platform adapters (IOT-7 / SYS-DISPATCH)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from cityops.dispatch.adapters.base import DispatchPlatform

# kind → module; each module defines `Adapter`, a DispatchPlatform class built from settings.
MODULES = {
    "open311": "cityops.dispatch.adapters.open311",
}

_loaded: dict[str, type] = {}


def get(kind: str) -> type:
    """The adapter class of `kind` (its `Settings` and `label` describe the configuration form)."""
    if kind not in MODULES:
        raise KeyError(kind)
    if kind not in _loaded:
        _loaded[kind] = import_module(MODULES[kind]).Adapter
    return _loaded[kind]


def create(kind: str, settings: Any) -> DispatchPlatform:
    """An adapter of `kind`; `settings` is its Settings model or a dict validated into one."""
    cls = get(kind)
    return cls(settings if isinstance(settings, cls.Settings) else cls.Settings.model_validate(settings))


def kinds() -> list[str]:
    return list(MODULES)
