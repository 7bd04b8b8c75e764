"""The dispatch link end to end against the simulated platform over real HTTP (IOT-7,
SYS-DISPATCH): transactional outbox, idempotent retries, per-event ordering, circuit breaker,
results by polling and status checks, returns, photos."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cityops.core.errors import Conflict
from cityops.core.timeutil import utcnow
from cityops.dispatch import outbox, results
from cityops.dispatch import service as dispatch
from cityops.dispatch.models import DispatchOutbox, DispatchUpdate, PlatformState, WorkOrder
from cityops.events import lifecycle
from cityops.events.models import CityEvent, EventAttachment

from .link_helpers import accepted_event, add_platform, dispatched


def _event(db, event_id):
    with db.session() as s:
        ev = s.get(CityEvent, event_id)
        s.expunge(ev)
        return ev


def _order(db, order_id):
    with db.session() as s:
        o = s.get(WorkOrder, order_id)
        s.expunge(o)
        return o


def _outbox(db, order_id):
    with db.session() as s:
        m = s.scalar(select(DispatchOutbox).where(DispatchOutbox.order_id == order_id))
        s.expunge(m)
        return m


def test_dispatch_writes_state_order_and_outbox_in_one_transaction(db, server):
    add_platform(db, server.url)
    eid = accepted_event(db)
    with pytest.raises(RuntimeError), db.session() as s:
        dispatch.dispatch_event(s, eid, actor="duty1", role="duty")
        raise RuntimeError("the caller fails after dispatching")
    with db.session() as s:
        assert s.get(CityEvent, eid).state == "accepted"
        assert s.scalar(select(func.count()).select_from(DispatchOutbox)) == 0
        assert s.scalar(select(func.count()).select_from(WorkOrder)) == 0
    oid = dispatched(db, eid)
    ev, order, msg = _event(db, eid), _order(db, oid), _outbox(db, oid)
    assert ev.state == "dispatched" and ev.unit_id is not None  # routed on the way
    assert order.idempotency_key == f"{ev.number}/1" and order.state == "pending"
    assert msg.state == "pending" and msg.payload["event_no"] == ev.number and msg.payload["unit_code"]


def test_only_accepted_events_can_be_dispatched(db, server):
    add_platform(db, server.url)
    eid = accepted_event(db)
    dispatched(db, eid)
    with pytest.raises(Conflict, match="只有已立案"), db.session() as s:
        dispatch.dispatch_event(s, eid, actor="duty1", role="duty")


def test_without_a_platform_the_dispatch_is_offline(db):
    eid = accepted_event(db)
    assert dispatched(db, eid) is None
    with db.session() as s:
        assert s.get(CityEvent, eid).state == "dispatched"
        tr = lifecycle_last(s, eid)
        assert tr.details["offline"] is True and "线下" in tr.reason


def lifecycle_last(s, eid):
    from cityops.events.service import transitions_of

    return transitions_of(s, eid)[-1]


def test_deliver_submits_once_and_stores_the_external_id(db, server, sim):
    add_platform(db, server.url)
    oid = dispatched(db, accepted_event(db))
    counts = outbox.deliver(db)
    assert counts["sent"] == 1
    order = _order(db, oid)
    assert order.state == "submitted" and order.external_id in sim.orders
    assert sim.submissions[order.idempotency_key] == 1
    assert outbox.deliver(db)["sent"] == 0  # nothing left
    assert _outbox(db, oid).state == "sent"


def test_lost_answer_is_retried_without_a_second_work_order(db, server, sim):
    add_platform(db, server.url, timeout_s=0.3)
    sim.slow_s = 1.0
    oid = dispatched(db, accepted_event(db))
    sim.fail("timeout")
    now = utcnow()
    assert outbox.deliver(db, now=now)["retry"] == 1
    msg = _outbox(db, oid)
    assert msg.state == "pending" and msg.attempts == 1 and "timed out" in msg.last_error
    assert msg.next_attempt_at >= now + timedelta(seconds=5)
    assert outbox.deliver(db, now=now + timedelta(seconds=1))["sent"] == 0  # backing off
    assert outbox.deliver(db, now=now + timedelta(seconds=10))["sent"] == 1
    order = _order(db, oid)
    assert sim.submissions[order.idempotency_key] == 2 and len(sim.orders) == 1
    assert order.external_id == sim.order_for_key(order.idempotency_key).id


def test_platform_down_for_minutes_loses_and_duplicates_nothing(db, server, sim):
    """Done-when of issue #5: stop the simulator for several (simulated) minutes while work
    orders keep coming; when it is back, every work order arrives exactly once."""
    pid = add_platform(db, server.url, timeout_s=0.5)
    server.stop()
    t0 = utcnow()
    orders = []
    for i in range(6):
        orders.append(dispatched(db, accepted_event(db, i)))
    opened = False
    for minute in range(8):  # eight minutes of outage, the deliverer running every 5 s
        for tick in range(12):
            now = t0 + timedelta(minutes=minute, seconds=5 * tick)
            outbox.deliver(db, now=now)
            with db.session() as s:
                opened = opened or s.get(PlatformState, pid).breaker == "open"
    assert opened, "the circuit breaker opened during the outage"
    with db.session() as s:
        msgs = list(s.scalars(select(DispatchOutbox)))
        assert all(m.state == "pending" for m in msgs)
        # the breaker kept attempts low: far fewer than one per message per run
        assert sum(m.attempts for m in msgs) < 40
        assert s.get(PlatformState, pid).last_error
    assert sim.orders == {}
    server.start()
    now = t0 + timedelta(minutes=20)
    for k in range(5):
        outbox.deliver(db, now=now + timedelta(seconds=k))
    with db.session() as s:
        assert {m.state for m in s.scalars(select(DispatchOutbox))} == {"sent"}
        keys = [o.idempotency_key for o in s.scalars(select(WorkOrder))]
        assert s.get(PlatformState, pid).breaker == "closed"
    assert len(sim.orders) == 6 and sorted(sim.by_key) == sorted(keys)
    assert all(sim.submissions[k] == 1 for k in keys)


def test_per_event_order_and_cancel_when_event_returned_before_sending(db, server, sim):
    add_platform(db, server.url)
    eid = accepted_event(db)
    first = dispatched(db, eid)
    with db.session() as s:
        lifecycle.transition(s, eid, "returned", actor="duty1", role="duty", reason="地址有误，改派")
    second = dispatched(db, eid)
    with db.session() as s:
        ids = [m.id for m in s.scalars(select(DispatchOutbox).order_by(DispatchOutbox.id))]
    assert len(ids) == 2
    outbox.deliver(db)  # first is cancelled at claim, the second waits behind it until the next batch
    outbox.deliver(db)
    assert _outbox(db, first).state == "cancelled" and _order(db, first).state == "cancelled"
    assert _outbox(db, second).state == "sent"
    assert list(sim.by_key) == [_order(db, second).idempotency_key]


def test_permanent_error_fails_and_retry_after_fixing_settings(db, server, sim):
    pid = add_platform(db, server.url)
    with db.session() as s:
        dispatch.update_platform(s, pid, settings={**s.get(dispatch.DispatchPlatform, pid).settings,
                                                   "api_key": "wrong"})
    oid = dispatched(db, accepted_event(db))
    assert outbox.deliver(db)["failed"] == 1
    msg = _outbox(db, oid)
    assert msg.state == "failed" and msg.last_status_code == 403 and _order(db, oid).state == "failed"
    with db.session() as s:
        assert [m.id for m in dispatch.stuck(s)] == [msg.id]
        dispatch.update_platform(s, pid, settings={**s.get(dispatch.DispatchPlatform, pid).settings,
                                                   "api_key": "cn-dispatch-key"})
        outbox.retry_now(s, msg.id)
    assert outbox.deliver(db)["sent"] == 1
    assert _order(db, oid).state == "submitted"


def _run_to_end(db, sim, oid):
    order = _order(db, oid)
    for _ in range(3):
        sim.advance(order.external_id)
    results.poll(db, force=True)


def test_poll_brings_progress_and_result_back(db, server, sim):
    add_platform(db, server.url)
    eid = accepted_event(db)
    oid = dispatched(db, eid)
    outbox.deliver(db)
    _run_to_end(db, sim, oid)
    ev, order = _event(db, eid), _order(db, oid)
    assert ev.state == "disposed" and order.state == "disposed" and order.result_text
    assert order.result_unit_name
    with db.session() as s:
        actions = [t.action for t in lifecycle_all(s, eid)]
        ups = list(s.scalars(select(DispatchUpdate).where(DispatchUpdate.event_id == eid)))
    assert actions[-3:] == ["dispatch", "start", "dispose"]
    assert [u.state for u in ups] == ["accepted", "in_progress", "disposed"]
    n = len(ups)
    results.poll(db, force=True)  # the overlap re-reads them: stored once
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DispatchUpdate)) == n


def lifecycle_all(s, eid):
    from cityops.events.service import transitions_of

    return transitions_of(s, eid)


def test_platform_return_sends_the_event_back_with_the_reason(db, server, sim):
    sim.return_rate = 1.0
    add_platform(db, server.url)
    eid = accepted_event(db)
    oid = dispatched(db, eid)
    outbox.deliver(db)
    _run_to_end(db, sim, oid)
    ev = _event(db, eid)
    assert ev.state == "accepted" and _order(db, oid).state == "returned"
    with db.session() as s:
        last = lifecycle_all(s, eid)[-1]
    assert last.action == "return" and last.reason.startswith("派单平台退回：")
    # dispatched again: a new order with the next key
    second = dispatched(db, eid)
    assert _order(db, second).idempotency_key.endswith("/2")


def test_quiet_order_is_resynced_by_a_status_check(db, server, sim):
    pid = add_platform(db, server.url, status_check_after_min=5)
    eid = accepted_event(db)
    oid = dispatched(db, eid)
    outbox.deliver(db)
    order = _order(db, oid)
    sim.advance(order.external_id)
    sim.advance(order.external_id)
    adapter = dispatch.adapter_of(_platform(db, pid))
    assert results.check_quiet(db, pid, adapter, now=utcnow()) == 0  # not quiet yet
    assert results.check_quiet(db, pid, adapter, now=utcnow() + timedelta(minutes=6)) == 1
    assert _order(db, oid).state == "in_progress" and _event(db, eid).state == "in_progress"
    with db.session() as s:
        assert s.scalar(select(DispatchUpdate.source).where(DispatchUpdate.order_id == oid)) == "status"


def _platform(db, pid):
    with db.session() as s:
        p = s.get(dispatch.DispatchPlatform, pid)
        s.expunge(p)
        return p


def test_disposal_photos_are_copied_into_the_event(db, server, sim, tmp_path):
    add_platform(db, server.url)
    eid = accepted_event(db)
    oid = dispatched(db, eid)
    outbox.deliver(db)
    _run_to_end(db, sim, oid)
    assert results.fetch_photos(db, var_dir=tmp_path) == 1
    with db.session() as s:
        atts = list(s.scalars(select(EventAttachment).where(EventAttachment.event_id == eid)))
        assert [a.content_type for a in atts] == ["image/png"] and atts[0].name.startswith("处置照片")
        assert (tmp_path / atts[0].path).read_bytes().startswith(b"\x89PNG")
    assert results.fetch_photos(db, var_dir=tmp_path) == 0  # once


def test_breaker_opens_then_probes_with_one_message(db, server, sim):
    pid = add_platform(db, server.url)
    for i in range(3):
        dispatched(db, accepted_event(db, i))
    now = utcnow()
    sim.down = True
    for k in range(outbox.BREAKER_THRESHOLD):
        outbox.deliver(db, now=now + timedelta(minutes=k))
    with db.session() as s:
        st = s.get(PlatformState, pid)
        assert st.breaker == "open" and st.failures == outbox.BREAKER_THRESHOLD
        until = st.open_until
    assert outbox.deliver(db, now=until - timedelta(seconds=1))["skipped_open"] == 1
    sim.down = False
    counts = outbox.deliver(db, now=until + timedelta(hours=1))
    assert counts["sent"] == 3  # the probe succeeded, the breaker closed, the rest followed
