"""Service-desk tickets (OPS-3). INTERFACE STUB — the servicedesk engineer replaces the body;
the signature of `open_ticket` is used by inspections (findings) and must stay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


def open_ticket(session: Session, *, title: str, description: str = "", source: str = "hotline",
                nature: str = "incident", impact: int = 2, urgency: int = 2, system_code: str | None = None,
                module_id: int | None = None, asset_id: int | None = None, alarm_id: int | None = None,
                event_id: int | None = None, finding_id: int | None = None, reporter: str = "",
                assignee: str | None = None, actor: str = "system", now: datetime | None = None,
                **extra: Any) -> Any:
    """Open a ticket and return it (an object with `.id`). impact/urgency: 1 high, 2 medium,
    3 low. source: hotline | backup (WeCom/e-mail) | monitoring | inspection | manual."""
    raise NotImplementedError
