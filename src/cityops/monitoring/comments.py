"""Comments on alarms (IOT-5): what the duty officer found, who was called, what is pending.

Scoped like the alarms themselves: a street user reaches only their street's alarms, and
comments stay allowed on cleared alarms (the follow-up is often written afterwards)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid
from cityops.core.timeutil import utcnow
from cityops.monitoring.models import AlarmComment
from cityops.monitoring.service import get_alarm

MAX_TEXT = 2000


def add_comment(session: Session, alarm_id: int, *, author: str, text: str, scope: str | None = None,
                at: datetime | None = None) -> AlarmComment:
    text = (text or "").strip()
    if not text:
        raise Invalid("备注内容不能为空")
    if len(text) > MAX_TEXT:
        raise Invalid(f"备注最多 {MAX_TEXT} 字")
    get_alarm(session, alarm_id, scope=scope)
    c = AlarmComment(alarm_id=alarm_id, author=author, text=text, at=at or utcnow())
    session.add(c)
    session.flush()
    return c


def list_comments(session: Session, alarm_id: int, *, scope: str | None = None) -> list[AlarmComment]:
    """Oldest first, as a conversation reads."""
    get_alarm(session, alarm_id, scope=scope)
    return list(session.scalars(select(AlarmComment).where(AlarmComment.alarm_id == alarm_id)
                                .order_by(AlarmComment.at, AlarmComment.id)))


def comment_counts(session: Session, alarm_ids: list[int]) -> dict[int, int]:
    if not alarm_ids:
        return {}
    rows = session.execute(select(AlarmComment.alarm_id, func.count()).where(AlarmComment.alarm_id.in_(alarm_ids))
                           .group_by(AlarmComment.alarm_id))
    return {a: n for a, n in rows}


def comments_for(session: Session, alarm_ids: list[int], *, per_alarm: int = 20) -> dict[int, list[AlarmComment]]:
    """The latest comments of several alarms (the board's expandable rows), oldest first each."""
    out: dict[int, list[AlarmComment]] = {}
    if not alarm_ids:
        return out
    for c in session.scalars(select(AlarmComment).where(AlarmComment.alarm_id.in_(alarm_ids))
                             .order_by(AlarmComment.at.desc(), AlarmComment.id.desc())):
        lst = out.setdefault(c.alarm_id, [])
        if len(lst) < per_alarm:
            lst.append(c)
    return {a: list(reversed(cs)) for a, cs in out.items()}
