"""The monitoring runtime's input (IOT-5): stored device messages, read back from the
database in id order. Every ingest process (HTTP API, MQTT workers) only stores; the one
leading monitoring process reads what all of them stored, so liveness and rules see every
message of a device whichever process received it, and a restart continues from the saved
position instead of missing what arrived meanwhile.

PostgreSQL hands out ids when rows are inserted, not when they commit: a transaction that
commits later can make a lower id appear after higher ones were read. Ids skipped over are
kept as gaps and looked for again until they show up or `GAP_TTL_S` passes (a rolled-back
insert leaves a gap that never fills).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from cityops.core.db import Database
from cityops.ingest.models import StoredMessage

GAP_TTL_S = 60.0
MAX_GAPS = 100_000
_M = StoredMessage.__table__.c
_COLUMNS = (_M.id, _M.device_id, _M.kind, _M.external_id, _M.received_at, _M.body)


@dataclass(slots=True)
class FeedRow:
    id: int
    device_id: int | None
    kind: str
    external_id: str
    received_at: datetime
    body: dict[str, Any]


class MessageFeed:
    def __init__(self, db: Database, *, batch: int = 5000) -> None:
        self.db = db
        self.batch = batch
        self.cursor: int | None = None
        self.gaps: dict[int, float] = {}  # id → monotonic time first missed
        self.read_total = 0
        self.late_total = 0  # rows found in a gap (committed out of id order)

    def start_at_end(self) -> None:
        with self.db.session() as s:
            self.cursor = s.scalar(select(func.max(_M.id))) or 0

    def position(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "gaps": sorted(self.gaps)}

    def restore(self, pos: dict[str, Any]) -> None:
        self.cursor = int(pos["cursor"])
        now = time.monotonic()
        self.gaps = {int(g): now for g in pos.get("gaps", [])}

    def read(self) -> list[FeedRow]:
        """The next rows (and any gap rows that have appeared), in id order."""
        if self.cursor is None:
            self.start_at_end()
        now = time.monotonic()
        for g in [g for g, t in self.gaps.items() if now - t > GAP_TTL_S]:
            del self.gaps[g]
        with self.db.session() as s:
            rows = s.execute(select(*_COLUMNS).where(_M.id > self.cursor).order_by(_M.id).limit(self.batch)).all()
            late = []
            if self.gaps:
                wanted = sorted(self.gaps)
                for i in range(0, len(wanted), 1000):
                    late += s.execute(select(*_COLUMNS).where(_M.id.in_(wanted[i:i + 1000]))).all()
        expected = self.cursor + 1
        for r in rows:
            if r.id > expected:
                for missing in range(expected, min(r.id, expected + MAX_GAPS)):
                    self.gaps.setdefault(missing, now)
            expected = r.id + 1
        for r in late:
            self.gaps.pop(r.id, None)
        if rows:
            self.cursor = rows[-1].id
        if len(self.gaps) > MAX_GAPS:  # never grow without bound; the oldest go first
            for g in sorted(self.gaps)[:len(self.gaps) - MAX_GAPS]:
                del self.gaps[g]
        self.read_total += len(rows) + len(late)
        self.late_total += len(late)
        out = [FeedRow(*r) for r in late] + [FeedRow(*r) for r in rows]
        return out
