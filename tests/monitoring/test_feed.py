"""The monitoring feed and leadership (IOT-5): the leader reads every stored message in id
order, finds rows committed out of order, resumes from its saved position, and only one
process leads at a time."""

from datetime import timedelta

from sqlalchemy import text

from cityops.core.bus import Bus
from cityops.core.leader import Leadership
from cityops.core.timeutil import utcnow
from cityops.devices import service as devices
from cityops.ingest.models import StoredMessage
from cityops.monitoring import service
from cityops.monitoring.clock import ManualClock
from cityops.monitoring.feed import MessageFeed
from cityops.monitoring.runtime import MonitoringRuntime


def _store(db, device_id=None, id_=None, kind="telemetry", body=None, at=None):
    with db.session() as s:
        row = StoredMessage(device_id=device_id, external_id="x", kind=kind, ts=at or utcnow(),
                            received_at=at or utcnow(), body=body or {})
        if id_ is not None:
            row.id = id_
        s.add(row)
        s.flush()
        return row.id


def test_feed_reads_in_order_and_finds_rows_committed_late(db):
    feed = MessageFeed(db, batch=100)
    feed.start_at_end()
    first = _store(db)
    # a transaction that took id first+1 commits after first+2 was read
    _store(db, id_=first + 2)
    assert [r.id for r in feed.read()] == [first, first + 2]
    assert first + 1 in feed.gaps
    _store(db, id_=first + 1)
    assert [r.id for r in feed.read()] == [first + 1]
    assert not feed.gaps and feed.late_total == 1
    assert feed.read() == []


def test_feed_position_round_trips(db):
    feed = MessageFeed(db)
    feed.start_at_end()
    a = _store(db)
    feed.read()
    pos = feed.position()
    b = _store(db)
    again = MessageFeed(db)
    again.restore(pos)
    assert [r.id for r in again.read()] == [b] and a < b


def test_runtime_consumes_stored_messages_and_resumes_after_restart(db):
    """Rules fire from what is stored; a restarted runtime replays exactly what its saved
    position has not seen (no double count, nothing missed)."""
    with db.session() as s:
        p = devices.product_by_code(s, "SMOKE-NB-CTW")
        did = devices.create_device(s, name="烟感", product_id=p.id, external_id="feed-1", lon=121.42,
                                    lat=31.22).id

    def runtime():
        rt = MonitoringRuntime(db, clock=ManualClock(), bus=Bus())
        rt.load()
        rt.restore_state()
        return rt

    rt = runtime()
    _store(db, did, body={"properties": {"battery": 15}})
    assert rt.poll_feed() == 1
    rt.flush()
    rt.save_state()
    _store(db, did, body={"properties": {"battery": 30}})  # stored while the runtime is "down"
    rt2 = runtime()
    assert rt2.poll_feed() == 1
    rt2.flush()
    with db.session() as s:
        alarms, _ = service.list_alarms(s, device_id=did)
        low = [a for a in alarms if a.alarm_type == "低电量"]
        assert len(low) == 1 and low[0].state == "cleared" and low[0].count == 1


def test_old_messages_replayed_after_downtime_do_not_revive_a_device(db):
    with db.session() as s:
        p = devices.product_by_code(s, "SMOKE-NB-CTW")
        did = devices.create_device(s, name="烟感", product_id=p.id, external_id="feed-2", lon=121.42,
                                    lat=31.22).id
        devices.update_device(s, did, report_interval_s=60, reason="测试")
    rt = MonitoringRuntime(db, clock=ManualClock(), bus=Bus())
    rt.load()
    rt.restore_state()
    _store(db, did, body={"properties": {"battery": 90}}, at=utcnow() - timedelta(hours=2))
    rt.poll_feed()
    rt.engine.poll()
    assert rt.engine.state(did) != "online"


def test_one_leader_at_a_time(db):
    a, b = Leadership(db, "test-lead"), Leadership(db, "test-lead")
    assert a.try_acquire() and a.held()
    assert not b.try_acquire()
    a.release()
    assert b.try_acquire()
    b.release()


def test_leadership_is_lost_with_its_connection(db):
    if not db.is_postgres:
        return  # SQLite: a file lock that lives as long as the process
    a = Leadership(db, "test-lost")
    assert a.try_acquire()
    pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar()
    a._conn.commit()
    with db.engine.connect() as c:
        c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        c.commit()
    assert not a.held()
    b = Leadership(db, "test-lost")
    assert b.try_acquire(), "the lock went with the dead connection"
    b.release()


def test_second_runtime_stands_by_and_takes_over(db, monkeypatch):
    import cityops.monitoring.runtime as rt_mod

    monkeypatch.setattr(rt_mod, "LEADER_CHECK_S", 0.2)
    first = MonitoringRuntime(db, bus=Bus()).start()
    second = MonitoringRuntime(db, bus=Bus()).start()
    try:
        assert first.active and not second.active
        first.stop()
        import time

        deadline = time.monotonic() + 5
        while not second.active and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.active, "the standby took over"
    finally:
        first.stop()
        second.stop()


def test_device_override_with_levels_escalates_and_deescalates_the_stored_alarm(db):
    """IOT-5 end to end: a device override adds two severity levels; readings stored by ingest
    reach the leader's feed and the one open alarm goes warning → critical → warning → cleared."""
    from cityops.audit.context import acting_as
    from cityops.monitoring.rule_table import create_override
    from cityops.monitoring.rules import level_rules

    with acting_as("test"), db.session() as s:
        p = devices.product_by_code(s, "SMOKE-NB-CTW")
        did = devices.create_device(s, name="烟感", product_id=p.id, external_id="lv-1", lon=121.42, lat=31.22).id
        for rule in level_rules("hot", "温度过高", "temperature", ">=", [(60, "warning", 55), (80, "critical", 75)]):
            create_override(s, scope_kind="device", scope_value=str(did), mode="add",
                            rule=rule.model_dump(mode="json"))
    rt = MonitoringRuntime(db, clock=ManualClock(), bus=Bus())
    rt.load()
    rt.restore_state()

    def reading(t):
        _store(db, did, body={"properties": {"temperature": t}})
        rt.poll_feed()
        rt.flush()
        with db.session() as s:
            a = service.open_alarm(s, did, "温度过高")
            return a.severity if a else None

    assert [reading(t) for t in (65, 85, 70, 50)] == ["warning", "critical", "warning", None]
    with db.session() as s:
        alarms, _ = service.list_alarms(s, device_id=did, alarm_type="温度过高")
        assert len(alarms) == 1
        history = alarms[0].details["severity_history"]
        assert [(h["from"], h["to"]) for h in history] == [("warning", "critical"), ("critical", "warning")]


def test_rows_this_process_stored_are_taken_without_reading_them_back(db, settings):
    """The intake hands its committed rows to the leader's feed (STORED_TOPIC); rows stored by
    another process in between are still read from the database, and nothing comes twice."""
    import json as _json

    from cityops.connectors.base import PushRequest
    from cityops.core.bus import bus as global_bus
    from cityops.ingest import service as ingest
    from cityops.ingest.service import STORED_TOPIC, BatchItem

    with db.session() as s:
        conn = ingest.create_connection(s, kind="mqtt_json", name="feed-mqtt",
                                        settings={"topic_templates": ["/{product}/{device}/report"]})
        conn_id = conn.id
    feed = MessageFeed(db)
    feed.start_at_end()
    got = []
    unsubscribe = global_bus.subscribe(STORED_TOPIC, lambda _t, e: got.append(e))
    try:
        item = BatchItem(conn_id, PushRequest(body=_json.dumps({"v": 1}).encode(), topic="/p/dev-1/report"))
        ingest.handle_batch(db, [item, item])
        other = _store(db)  # "another process"
        ingest.handle_batch(db, [item])
    finally:
        unsubscribe()
    mine = [e for e in got if e["db"] == db.url]
    assert [e["messages"] for e in mine] == [2, 1]
    for e in mine:
        feed.offer(e["rows"])
    rows = feed.read()
    ids = [r.id for r in rows]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 4 and other in ids
    assert feed.offered_total >= 2 and feed.read_total <= 2, "own rows were not read back"
    assert feed.read() == []
