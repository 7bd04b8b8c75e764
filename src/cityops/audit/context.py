"""Who is acting: set per request (or CLI command), read by the audit hook."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    name: str
    ip: str = ""


SYSTEM = Actor("system")
_current: ContextVar[Actor] = ContextVar("cityops_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _current.get()


def set_actor(actor: Actor):
    return _current.set(actor)


@contextmanager
def acting_as(name: str, ip: str = ""):
    token = _current.set(Actor(name, ip))
    try:
        yield
    finally:
        _current.reset(token)
