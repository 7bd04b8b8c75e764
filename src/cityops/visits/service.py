"""Visits (VISIT-1). INTERFACE STUB — the visits engineer replaces the body; `active_freeze`
is used by the service desk to refuse changes during a visit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


def active_freeze(session: Session, at: datetime) -> Any | None:
    """The visit whose change freeze covers `at` (an object with `.id`, `.title`,
    `.freeze_from`, `.freeze_until`), or None."""
    return None
