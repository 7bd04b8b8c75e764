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


def current_actor(session=None) -> Actor:
    """The session's actor when a request bound one, else the context's (CLI, jobs).

    Request code binds the actor to the session because FastAPI runs sync dependencies
    and handlers in different worker threads, so a context variable set in one is not
    seen by the other."""
    if session is not None:
        bound = session.info.get("actor")
        if bound is not None:
            return bound
    return _current.get()


def bind_actor(session, actor: Actor) -> None:
    session.info["actor"] = actor


@contextmanager
def acting_as(name: str, ip: str = ""):
    token = _current.set(Actor(name, ip))
    try:
        yield
    finally:
        _current.reset(token)
