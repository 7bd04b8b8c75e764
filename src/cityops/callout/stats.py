"""Call statistics (CALL-5). Placeholder interface, filled in by its owner in issue #6."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cityops.callout.campaign_models import CallRecord


def record_call(session: Session, record: CallRecord) -> None:
    """Adds one stored call record to the rollups, in the caller's transaction."""
