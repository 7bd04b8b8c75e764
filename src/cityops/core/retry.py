"""Retry spacing shared by the outboxes (notifications, dispatch)."""

from __future__ import annotations

import random
from datetime import timedelta


def backoff(attempts: int, base: timedelta, cap: timedelta, *, jitter: float = 0.0) -> timedelta:
    """base, 2·base, 4·base … capped at `cap`; `jitter` (0–1) spreads retries of many
    messages that failed together by up to that share of the delay."""
    delay = min(base * (2 ** max(attempts - 1, 0)), cap)
    if jitter:
        delay *= 1 + random.uniform(0, jitter)
    return delay
