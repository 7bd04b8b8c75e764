"""Delivering the dispatch outbox (IOT-7): retries with exponential back-off, per-event
ordering, a circuit breaker per platform, and leases so that a crash mid-send never loses
or doubles a work order.

* **Idempotency.** Every submission carries its order's key; after a lost answer (timeout)
  the retry makes the platform answer with the work order it already created.
* **Ordering.** Only the oldest pending message of an event is ever claimed; later ones
  wait behind it, so a re-dispatch never overtakes the first submission.
* **Circuit breaker.** BREAKER_THRESHOLD consecutive retryable failures open it: nothing is
  sent (and no attempt is used up) until the cool-down ends; then one message probes
  (half-open) — success closes it, failure opens it again for twice as long.
* **Leases.** Claiming pushes `next_attempt_at` by LEASE; a process that dies mid-send
  leaves the message to be claimed again when the lease runs out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core import retry
from cityops.core.db import Database
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.dispatch import service
from cityops.dispatch.adapters.base import DispatchError, SubmitResult
from cityops.dispatch.models import (
    DispatchOutbox,
    DispatchPlatform,
    PlatformState,
    WorkOrder,
)
from cityops.events.models import CityEvent

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=5)  # a work order waits at most this long once the platform is back
LEASE = timedelta(minutes=2)  # longer than any adapter timeout
BREAKER_THRESHOLD = 5
COOL_DOWN = timedelta(seconds=30)
COOL_DOWN_MAX = timedelta(minutes=5)
SENDABLE_EVENT_STATES = ("dispatched", "in_progress")


@dataclass
class Claimed:
    outbox_id: int
    order_id: int
    platform_id: int
    payload: dict[str, Any]


# -- the breaker ------------------------------------------------------------------------------

def allowance(st: PlatformState, now: datetime, limit: int) -> int:
    """How many messages may be tried now: 0 while open, 1 to probe, else `limit`."""
    if st.breaker == "open":
        if st.open_until and now < st.open_until:
            return 0
        st.breaker = "half_open"
    return 1 if st.breaker == "half_open" else limit


def _success(st: PlatformState, now: datetime) -> None:
    st.breaker, st.failures, st.opened_count, st.open_until = "closed", 0, 0, None
    st.last_success_at = now


def _failure(st: PlatformState, now: datetime, error: str) -> None:
    st.failures += 1
    st.last_failure_at, st.last_error = now, error[:2000]
    if st.breaker == "half_open" or st.failures >= BREAKER_THRESHOLD:
        st.open_until = now + min(COOL_DOWN * (2 ** st.opened_count), COOL_DOWN_MAX)
        st.opened_count += 1
        st.breaker = "open"


def record_call(db: Database, platform_id: int, *, ok: bool, error: str = "", now: datetime | None = None) -> None:
    """Polling and status checks count towards the breaker like submissions do."""
    now = now or utcnow()
    with db.session() as s:
        st = service.state_of(s, platform_id)
        _success(st, now) if ok else _failure(st, now, error)


# -- claiming and recording -------------------------------------------------------------------

def claim(session: Session, platform: DispatchPlatform, *, now: datetime, limit: int) -> list[Claimed]:
    """Lease up to `limit` due messages of `platform`, each the oldest pending one of its
    event. Messages whose event was returned or finished meanwhile are cancelled here."""
    oldest = (select(func.min(DispatchOutbox.id)).where(DispatchOutbox.state == "pending")
              .group_by(DispatchOutbox.event_id))
    q = (select(DispatchOutbox).where(DispatchOutbox.platform_id == platform.id, DispatchOutbox.state == "pending",
                                      DispatchOutbox.next_attempt_at <= now, DispatchOutbox.id.in_(oldest))
         .order_by(DispatchOutbox.next_attempt_at, DispatchOutbox.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    out = []
    for m in session.scalars(q).all():
        order = session.get(WorkOrder, m.order_id)
        ev = session.get(CityEvent, m.event_id)
        current = service.current_order(session, m.event_id)
        if ev.state not in SENDABLE_EVENT_STATES or current is None or current.id != order.id:
            m.state, m.next_attempt_at = "cancelled", None
            m.last_error = f"未发送：事件已{ev.state}，该工单不再需要"
            order.state = "cancelled"
            continue
        m.next_attempt_at = now + LEASE
        out.append(Claimed(m.id, m.order_id, m.platform_id, dict(m.payload)))
    session.flush()
    return out


def send(adapter: Any, c: Claimed) -> SubmitResult | DispatchError:
    """One submission, outside any transaction; an adapter bug counts as a permanent error."""
    try:
        return adapter.submit(service.wire_from_payload(c.payload))
    except DispatchError as exc:
        return exc
    except Exception as exc:
        log.exception("dispatch: adapter raised")
        return DispatchError(f"{type(exc).__name__}: {exc}")


def record(session: Session, c: Claimed, outcome: SubmitResult | DispatchError, *, now: datetime) -> str:
    """Store the outcome of one send; returns the message's new state."""
    m = session.get(DispatchOutbox, c.outbox_id)
    if m is None or m.state != "pending":
        return m.state if m else "gone"
    order = session.get(WorkOrder, c.order_id)
    st = service.state_of(session, c.platform_id)
    m.attempts += 1
    if isinstance(outcome, SubmitResult):
        m.state, m.sent_at, m.next_attempt_at, m.last_error, m.last_status_code = "sent", now, None, "", None
        order.external_id = outcome.external_id
        order.notice = (outcome.notice or "")[:2000]
        order.submitted_at = order.submitted_at or now
        if order.state == "pending":
            order.state = "submitted"
        _success(st, now)
        session.flush()
        from cityops.dispatch import results

        results.adopt(session, order)
    elif outcome.retryable:
        m.next_attempt_at = now + retry.backoff(m.attempts, BACKOFF_BASE, BACKOFF_MAX, jitter=0.2)
        m.last_error, m.last_status_code = str(outcome)[:2000], outcome.status_code
        _failure(st, now, str(outcome))
    else:
        m.state, m.next_attempt_at = "failed", None
        m.last_error, m.last_status_code = str(outcome)[:2000], outcome.status_code
        order.state = "failed"
        st.last_error = str(outcome)[:2000]
    session.flush()
    return m.state


def release(session: Session, claimed: list[Claimed], *, now: datetime) -> None:
    """Give back leased messages that were not tried (the platform just failed)."""
    for c in claimed:
        m = session.get(DispatchOutbox, c.outbox_id)
        if m is not None and m.state == "pending":
            m.next_attempt_at = now
    session.flush()


def deliver(db: Database, *, now: datetime | None = None, batch: int = 50, max_batches: int = 20) -> dict[str, int]:
    """Drain what is due, platform by platform. A retryable failure ends that platform's turn
    (it is probably down); the breaker decides when the next one is tried."""
    now = now or utcnow()
    counts = {"sent": 0, "retry": 0, "failed": 0, "cancelled": 0, "skipped_open": 0}
    with db.session() as s:
        platforms = [(p.id, p.kind, dict(p.settings)) for p in s.scalars(
            select(DispatchPlatform).where(DispatchPlatform.enabled.is_(True)))]
    for pid, kind, settings in platforms:
        adapter = service.registry.create(kind, settings)
        for _ in range(max_batches):
            with db.session() as s:
                platform = s.get(DispatchPlatform, pid)
                allowed = allowance(service.state_of(s, pid), now, batch)
                claimed = claim(s, platform, now=now, limit=allowed) if allowed else []
            if not allowed:
                counts["skipped_open"] += 1
                break
            stop = False
            for i, c in enumerate(claimed):
                outcome = send(adapter, c)
                with db.session() as s:
                    state = record(s, c, outcome, now=now)
                    if state == "pending":
                        release(s, claimed[i + 1:], now=now)
                counts["sent" if state == "sent" else "retry" if state == "pending" else "failed"] += 1
                if state == "pending":
                    stop = True
                    break
            if stop or len(claimed) < allowed:
                break
    return counts


# -- people's actions ---------------------------------------------------------------------------

def retry_now(session: Session, outbox_id: int, *, now: datetime | None = None) -> DispatchOutbox:
    """Send a failed or waiting message again at once (after fixing settings or data)."""
    m = session.get(DispatchOutbox, outbox_id)
    if m is None:
        raise NotFound(f"派单消息 {outbox_id} 不存在")
    if m.state not in ("failed", "pending"):
        raise Conflict(f"消息状态为 {m.state}，不能重试")
    m.state, m.next_attempt_at = "pending", now or utcnow()
    order = session.get(WorkOrder, m.order_id)
    if order.state == "failed":
        order.state = "pending"
    session.flush()
    service.queued_after_commit(session)
    return m


def cancel(session: Session, outbox_id: int, *, actor: str, reason: str) -> DispatchOutbox:
    """Give up a message (the work order was placed by phone, or is no longer wanted)."""
    m = session.get(DispatchOutbox, outbox_id)
    if m is None:
        raise NotFound(f"派单消息 {outbox_id} 不存在")
    if m.state not in ("failed", "pending"):
        raise Conflict(f"消息状态为 {m.state}，不能取消")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("取消派单消息需要填写原因")
    m.state, m.next_attempt_at = "cancelled", None
    m.last_error = f"{actor} 取消：{reason}"[:2000]
    order = session.get(WorkOrder, m.order_id)
    if order.state in ("pending", "failed"):
        order.state = "cancelled"
    session.flush()
    return m


def act(session: Session, outbox_id: int, action: str, *, actor: str, reason: str = "") -> str:
    """A console button: "retry" or "cancel" one message; returns what was done, in Chinese."""
    if action == "retry":
        retry_now(session, outbox_id)
        return "已安排立即重发"
    if action == "cancel":
        cancel(session, outbox_id, actor=actor, reason=reason)
        return "已取消"
    raise Invalid(f"未知操作 {action!r}；应为 retry 或 cancel")
