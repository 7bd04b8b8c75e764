"""Results coming back from the dispatch platform (IOT-7): by signed callback, by polling the
platform's update feed, and by asking for one work order's status when it has been quiet too
long. Every update is stored once per (platform, update id) — a repeated callback or an
overlapping poll changes nothing — and then applied to the event:

    accepted (受理)      → timeline only
    in progress (处置中)  → event dispatched → in_progress
    disposed (已处置)     → event → disposed, with the result text, unit, time and photos
    returned (退回) / closed without a result → event returned to accepted with the reason

Updates of an older work order of a re-dispatched event, and updates older than the last
one applied (out of order), are kept but change nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.core import http
from cityops.core.db import Database, savepoint
from cityops.core.timeutil import utcnow
from cityops.dispatch import outbox, service
from cityops.dispatch.adapters.base import DispatchError, ExternalState, Update
from cityops.dispatch.models import DispatchPlatform, DispatchUpdate, WorkOrder
from cityops.events import lifecycle
from cityops.events import service as events
from cityops.events.models import CityEvent

log = logging.getLogger(__name__)

POLL_OVERLAP = timedelta(minutes=2)  # platforms stamp updates a little late; the unique key absorbs repeats
FIRST_POLL_SPAN = timedelta(days=1)
OPEN_ORDER_STATES = ("submitted", "accepted", "in_progress")
PHOTO_MAX_BYTES = 20 * 1024 * 1024
PHOTO_GIVE_UP = timedelta(days=1)


# -- storing and applying ---------------------------------------------------------------------

def store(session: Session, platform: DispatchPlatform, u: Update, *, source: str,
          now: datetime | None = None) -> tuple[DispatchUpdate | None, str]:
    """Keep the update (once) and apply it. Returns (row, what it did); row None = seen before."""
    now = now or utcnow()
    order = session.scalar(select(WorkOrder).where(WorkOrder.platform_id == platform.id,
                                                   WorkOrder.external_id == u.external_id))
    row = DispatchUpdate(platform_id=platform.id, update_id=u.update_id[:96], external_id=u.external_id[:64],
                         order_id=order.id if order else None, event_id=order.event_id if order else None,
                         source=source, state=u.state.value, raw_status=(u.raw_status or "")[:48],
                         text=u.text or "", unit_code=(u.unit_code or "")[:32], unit_name=(u.unit_name or "")[:128],
                         photos=[p for p in u.photos if isinstance(p, str)], photos_fetched=False, at=u.at,
                         received_at=now, outcome="")
    try:
        with savepoint(session):
            session.add(row)
            session.flush()
    except IntegrityError:
        return None, "重复的更新，已忽略"
    if order is None:
        row.outcome = "尚未对应到工单（工单号未知或提交结果未入库），提交结果入库后补处理"
    else:
        row.outcome = apply(session, platform, row, order)
    session.flush()
    return row, row.outcome


def adopt(session: Session, order: WorkOrder) -> int:
    """Apply updates that arrived before the order's external id was known (a fast platform
    calls back before our submission's answer is committed)."""
    rows = list(session.scalars(select(DispatchUpdate).where(
        DispatchUpdate.platform_id == order.platform_id, DispatchUpdate.external_id == order.external_id,
        DispatchUpdate.order_id.is_(None)).order_by(DispatchUpdate.at, DispatchUpdate.id)))
    platform = session.get(DispatchPlatform, order.platform_id)
    for row in rows:
        row.order_id, row.event_id = order.id, order.event_id
        row.outcome = apply(session, platform, row, order)
    session.flush()
    return len(rows)


def apply(session: Session, platform: DispatchPlatform, row: DispatchUpdate, order: WorkOrder) -> str:
    ev = session.get(CityEvent, order.event_id, with_for_update=True)
    current = service.current_order(session, ev.id)
    if current is None or current.id != order.id:
        return "事件已重新派单，旧工单的更新仅作记录"
    if order.last_update_at is not None and row.at < order.last_update_at:
        return "早于已处理的更新（乱序到达），仅作记录"
    state = ExternalState(row.state)
    order.raw_status, order.last_update_at = row.raw_status, row.at
    if row.unit_code or row.unit_name:
        order.result_unit_code, order.result_unit_name = row.unit_code, row.unit_name
    actor = f"platform:{platform.name}"[:64]
    at = max(row.at, ev.dispatched_at or row.at)
    if order.state in ("disposed", "returned", "cancelled") and state is not ExternalState.DISPOSED:
        return f"工单已{order.state}，该更新仅作记录"
    order.state = state.value if state is not ExternalState.SUBMITTED else order.state
    if state in (ExternalState.SUBMITTED, ExternalState.ACCEPTED):
        return f"平台{state.label}"
    if state is ExternalState.IN_PROGRESS:
        if ev.state == "dispatched":
            lifecycle.transition(session, ev.id, "in_progress", actor=actor, role="system", at=at,
                                 reason=row.text, details={"dispatch_update": row.id})
            return "事件进入处置中"
        return f"事件状态为 {ev.state}，仅作记录"
    if state is ExternalState.DISPOSED:
        order.result_text, order.disposed_at = row.text, row.at
        if ev.state == "dispatched":
            lifecycle.transition(session, ev.id, "in_progress", actor=actor, role="system", at=at,
                                 details={"dispatch_update": row.id})
        if ev.state == "in_progress":
            lifecycle.transition(session, ev.id, "disposed", actor=actor, role="system", at=at, reason=row.text,
                                 details={"dispatch_update": row.id, "unit": row.unit_name, "photos": row.photos})
            return "事件处置完成，待核查"
        return f"事件状态为 {ev.state}，处置结果已记录"
    # returned, or closed without a result: someone here must decide again
    if ev.state in ("dispatched", "in_progress"):
        why = row.text or row.raw_status or "未说明原因"
        order.state = "returned"
        lifecycle.transition(session, ev.id, "returned", actor=actor, role="system", at=at,
                             reason=f"派单平台退回：{why}", details={"dispatch_update": row.id})
        return "事件退回待重新派遣"
    return f"事件状态为 {ev.state}，仅作记录"


# -- polling ------------------------------------------------------------------------------------

def poll(db: Database, *, now: datetime | None = None, force: bool = False) -> dict[str, int]:
    """Read every due platform's update feed, then ask about quiet work orders."""
    now = now or utcnow()
    counts = {"platforms": 0, "updates": 0, "new": 0, "status_checks": 0, "errors": 0}
    with db.session() as s:
        due = []
        for p in s.scalars(select(DispatchPlatform).where(DispatchPlatform.enabled.is_(True))):
            st = service.state_of(s, p.id)
            if not force and st.last_poll_at and st.last_poll_at > now - timedelta(seconds=p.poll_interval_s):
                continue
            if outbox.allowance(st, now, 1) == 0:
                continue  # the breaker is open: leave the platform alone
            due.append((p.id, p.kind, dict(p.settings), st.poll_cursor))
    for pid, kind, settings, cursor in due:
        counts["platforms"] += 1
        adapter = service.registry.create(kind, settings)
        since = (cursor or now - FIRST_POLL_SPAN) - POLL_OVERLAP
        try:
            updates = adapter.updates(since)
        except DispatchError as exc:
            counts["errors"] += 1
            outbox.record_call(db, pid, ok=not exc.retryable, error=str(exc), now=now)
            with db.session() as s:
                st = service.state_of(s, pid)
                st.last_poll_at, st.last_poll_error = now, str(exc)[:2000]
            continue
        outbox.record_call(db, pid, ok=True, now=now)
        with db.session() as s:
            platform = s.get(DispatchPlatform, pid)
            for u in updates:
                row, _ = store(s, platform, u, source="poll", now=now)
                counts["updates"] += 1
                counts["new"] += row is not None
            st = service.state_of(s, pid)
            newest = max((u.at for u in updates), default=None)
            if newest is not None and (st.poll_cursor is None or newest > st.poll_cursor):
                st.poll_cursor = newest
            st.last_poll_at, st.last_poll_error = now, ""
        counts["status_checks"] += check_quiet(db, pid, adapter, now=now)
    return counts


def check_quiet(db: Database, platform_id: int, adapter, *, now: datetime, limit: int = 50) -> int:
    """Ask the platform about open work orders without news for `status_check_after_min`; a
    changed status becomes an update like any other (source "status")."""
    with db.session() as s:
        p = s.get(DispatchPlatform, platform_id)
        quiet = now - timedelta(minutes=p.status_check_after_min)
        orders = [(o.id, o.external_id) for o in s.scalars(select(WorkOrder).where(
            WorkOrder.platform_id == platform_id, WorkOrder.state.in_(OPEN_ORDER_STATES),
            WorkOrder.external_id.is_not(None),
            (WorkOrder.last_update_at.is_(None) & (WorkOrder.submitted_at < quiet)) | (WorkOrder.last_update_at < quiet),
            WorkOrder.last_status_check_at.is_(None) | (WorkOrder.last_status_check_at < quiet))
            .order_by(WorkOrder.id).limit(limit))]
    done = 0
    for order_id, external_id in orders:
        try:
            st = adapter.status(external_id)
        except DispatchError as exc:
            outbox.record_call(db, platform_id, ok=not exc.retryable, error=str(exc), now=now)
            if exc.retryable:
                break
            continue
        with db.session() as s:
            order = s.get(WorkOrder, order_id)
            order.last_status_check_at = now
            if st.state.value != order.state:
                stamp = st.updated_at or now
                u = Update(update_id=f"status:{external_id}:{st.raw_status}:{st.state.value}:{stamp.isoformat()}",
                           external_id=external_id, state=st.state, raw_status=st.raw_status, at=stamp,
                           text=st.text, photos=list(st.photos), unit_code=st.unit_code, unit_name=st.unit_name)
                store(s, s.get(DispatchPlatform, platform_id), u, source="status", now=now)
        done += 1
    return done


# -- disposal photos ------------------------------------------------------------------------------

def fetch_photos(db: Database, *, var_dir: Path, now: datetime | None = None, limit: int = 20) -> int:
    """Copy the photos of disposal results into the event's attachments, so they stay when
    the platform's links expire. A photo that cannot be fetched for a day is given up
    (its link stays on the update)."""
    now = now or utcnow()
    with db.session() as s:
        rows = [(r.id, r.event_id, list(r.photos), r.received_at) for r in s.scalars(select(DispatchUpdate).where(
            DispatchUpdate.photos_fetched.is_(False), DispatchUpdate.event_id.is_not(None),
            DispatchUpdate.state == ExternalState.DISPOSED.value).order_by(DispatchUpdate.id).limit(limit))]
    fetched = 0
    for row_id, event_id, photos, received_at in rows:
        notes, pending = [], False
        got: list[tuple[str, str, bytes]] = []
        for i, url in enumerate(photos, 1):
            try:
                r = http.client().get(url, timeout=10.0)
                kind = r.headers.get("content-type", "").split(";")[0].strip()
                if r.status_code >= 500:
                    raise httpx.HTTPError(f"HTTP {r.status_code}")
                if r.status_code >= 400 or not kind.startswith("image/") or len(r.content) > PHOTO_MAX_BYTES:
                    notes.append(f"照片{i}不可用（HTTP {r.status_code}，{kind or '未知类型'}）")
                    continue
                got.append((f"处置照片{i}{Path(url).suffix[:8]}", kind, r.content))
            except httpx.HTTPError as exc:
                pending = now - received_at < PHOTO_GIVE_UP
                notes.append(f"照片{i}下载失败：{type(exc).__name__}")
        if pending:
            continue  # try the whole update again next time
        with db.session() as s:
            for name, kind, data in got:
                events.add_attachment(s, event_id, var_dir=var_dir, name=name, content_type=kind, data=data,
                                      by="dispatch")
            row = s.get(DispatchUpdate, row_id)
            row.photos_fetched = True
            if notes:
                row.outcome = (row.outcome + "；" + "；".join(notes)).strip("；")
        fetched += len(got)
    return fetched
