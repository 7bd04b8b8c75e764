"""The in-process event bus: domains publish facts, others subscribe.

Handlers run synchronously in the publisher's thread, after its commit; a failing
handler is logged and never breaks the publisher.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
Handler = Callable[[str, dict[str, Any]], None]


class Bus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """`topic` is exact or a prefix ending in '*' ('device.*'). Returns an unsubscribe function."""
        self._handlers[topic].append(handler)
        return lambda: self._handlers[topic].remove(handler)

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        for pattern, handlers in list(self._handlers.items()):
            if pattern == topic or (pattern.endswith("*") and topic.startswith(pattern[:-1])):
                for handler in list(handlers):
                    try:
                        handler(topic, payload)
                    except Exception:
                        log.exception("bus handler failed", extra={"topic": topic})


bus = Bus()
