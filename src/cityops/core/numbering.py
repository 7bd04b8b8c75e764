"""Day-numbered records (city events, tickets, faults): `<prefix><yyyymmdd><sep><seq>` by
Beijing day. The next number is the day's highest plus one; two writers may pick the same one,
so the unique index on `number` decides and the loser takes the next (inside a savepoint)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.core.db import savepoint
from cityops.core.errors import Conflict
from cityops.core.timeutil import local

T = TypeVar("T")


def next_number(session: Session, model: Any, *, prefix: str, at: datetime, width: int, sep: str = "") -> str:
    day = f"{prefix}{local(at):%Y%m%d}{sep}"
    last = session.scalar(select(func.max(model.number)).where(model.number.like(f"{day}%")))
    return f"{day}{int(last[len(day):]) + 1 if last else 1:0{width}d}"


def insert_numbered(session: Session, model: type[T], fields: dict[str, Any], *, prefix: str, at: datetime,
                    width: int, sep: str = "", conflict: str = "编号分配冲突，请重试", tries: int = 5) -> T:
    for _ in range(tries):
        row = model(number=next_number(session, model, prefix=prefix, at=at, width=width, sep=sep), **fields)
        try:
            with savepoint(session):
                session.add(row)
                session.flush()
            return row
        except IntegrityError as exc:
            if "number" not in str(exc.orig).lower():
                raise
    raise Conflict(conflict)
