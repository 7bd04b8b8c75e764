"""The monitoring runtime's input (IOT-5): stored device messages, read back from the
database in id order. Every ingest process (HTTP API, MQTT workers) only stores; the one
leading monitoring process reads what all of them stored, so liveness and rules see every
message of a device whichever process received it, and a restart continues from the saved
position instead of missing what arrived meanwhile.

PostgreSQL hands out ids when rows are inserted, not when they commit: a transaction that
commits later can make a lower id appear after higher ones were read. Ids skipped over are
kept as gaps and looked for again until they show up or `GAP_TTL_S` passes (a rolled-back
insert leaves a gap that never fills).

Rows this process stored are handed over after their commit (`offer`): a run of them right
after the cursor is consumed without a query, so a single-process deployment never reads its
own messages back; the database read remains for what other processes stored.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from cityops.core.db import Database
from cityops.ingest.models import StoredMessage

GAP_TTL_S = 60.0
MAX_GAPS = 100_000
MAX_OFFERED = 200_000  # beyond this, offered rows are dropped: the database read finds them
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
        self.offered_total = 0  # rows taken from this process's intake without a query
        self._offered: dict[int, FeedRow] = {}
        self._lock = threading.Lock()

    def offer(self, rows: list[dict[str, Any]]) -> None:
        """Rows this process has just committed (dicts with id, device_id, kind, external_id,
        received_at, body). Called on the intake's thread."""
        with self._lock:
            if len(self._offered) + len(rows) > MAX_OFFERED:
                return
            for r in rows:
                if "id" in r:
                    self._offered[r["id"]] = FeedRow(r["id"], r["device_id"], r["kind"], r["external_id"],
                                                     r["received_at"], r["body"])

    def _take_offered(self) -> list[FeedRow]:
        """Offered rows that continue the cursor or fill a gap; stale offers are dropped."""
        out: list[FeedRow] = []
        with self._lock:
            if not self._offered:
                return out
            for g in [g for g in self.gaps if g in self._offered]:
                out.append(self._offered.pop(g))
                del self.gaps[g]
            while self.cursor + 1 in self._offered:
                self.cursor += 1
                out.append(self._offered.pop(self.cursor))
            for stale in [i for i in self._offered if i <= self.cursor and i not in self.gaps]:
                del self._offered[stale]  # already read from the database
        return out

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
        taken = self._take_offered()
        self.offered_total += len(taken)
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
        with self._lock:  # what the query returned is not taken again from the offers
            for r in late:
                self._offered.pop(r.id, None)
            for r in rows:
                self._offered.pop(r.id, None)
        if len(self.gaps) > MAX_GAPS:  # never grow without bound; the oldest go first
            for g in sorted(self.gaps)[:len(self.gaps) - MAX_GAPS]:
                del self.gaps[g]
        self.read_total += len(rows) + len(late)
        self.late_total += len(late)
        return taken + [FeedRow(*r) for r in late] + [FeedRow(*r) for r in rows]
