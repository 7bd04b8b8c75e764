"""Batched intake (IOT-2, IOT-5): many MQTT messages in one transaction, bad ones dead-lettered
in it, last values merged by the database, and a failed batch retried message by message."""

import json

import pytest
from sqlalchemy import func, select

from cityops.connectors.base import PushRequest
from cityops.devices import service as devices
from cityops.devices.models import Device
from cityops.ingest import service
from cityops.ingest.models import DeadLetter, PendingDevice, StoredMessage
from cityops.ingest.service import BatchItem

TOPIC = "/traffic/{dev}/properties/report"


@pytest.fixture
def setup(db):
    with db.session() as s:
        conn = service.create_connection(s, kind="mqtt_json", name="mqtt",
                                         settings={"topic_templates": ["/{product}/{device}/properties/report",
                                                                       "/{product}/{device}/online"]})
        product = devices.product_by_code(s, "TRAFFIC-MQTT")
        ids = [devices.create_device(s, name=f"路口{i}", product_id=product.id, external_id=f"tc-{i}",
                                     platform="mqtt_json", lon=121.43, lat=31.22).id for i in range(3)]
        return conn.id, ids


def _item(conn_id, dev, payload, topic=TOPIC):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return BatchItem(conn_id, PushRequest(body=body, topic=topic.format(dev=dev)))


def test_batch_stores_all_in_one_go_and_keeps_outcomes_in_order(db, setup):
    conn_id, ids = setup
    items = [_item(conn_id, "tc-0", {"vehicles": 10}), _item(conn_id, "tc-1", {"vehicles": 20}),
             _item(conn_id, "tc-0", b"\xff not json"), _item(conn_id, "tc-9", {"vehicles": 5}),
             _item(None, "tc-1", {"vehicles": 1}, topic="/nobody/listens"),
             _item(conn_id, "tc-0", {"avg_speed": 31.5})]
    out = service.handle_batch(db, items)
    assert [o.status for o in out] == [200, 200, 400, 200, 404, 200]
    assert out[3].pending == 1 and out[2].dead_letter_id and out[4].dead_letter_id
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(StoredMessage)) == 4
        stored = s.scalars(select(StoredMessage).order_by(StoredMessage.id)).all()
        assert [m.external_id for m in stored] == ["tc-0", "tc-1", "tc-9", "tc-0"], "arrival order kept"
        d0 = s.get(Device, ids[0])
        # both readings of tc-0 in one batch are kept: merged, not overwritten
        assert d0.last_values["vehicles"]["value"] == 10 and d0.last_values["avg_speed"]["value"] == 31.5
        assert d0.online is True and d0.last_data_at is not None
        dls = {d.status_code: d for d in s.scalars(select(DeadLetter))}
        assert dls[404].connection_id is None and "nobody" in dls[404].reason
        assert dls[400].raw == b"\xff not json" and dls[400].transport == "mqtt"
        assert s.scalar(select(PendingDevice.external_id)) == "tc-9"


def test_later_batches_merge_last_values_in_the_database(db, setup):
    conn_id, ids = setup
    service.handle_batch(db, [_item(conn_id, "tc-2", {"vehicles": 7, "avg_speed": 20})])
    service.handle_batch(db, [_item(conn_id, "tc-2", {"vehicles": 9})])
    service.handle_batch(db, [_item(conn_id, "tc-2", {"x": 1}, topic="/traffic/{dev}/online")])
    with db.session() as s:
        d = s.get(Device, ids[2])
        assert d.last_values["vehicles"]["value"] == 9 and d.last_values["avg_speed"]["value"] == 20


def test_a_failing_batch_is_stored_message_by_message(db, setup, monkeypatch):
    conn_id, _ = setup
    real = service.ingest
    calls = {"n": 0}

    def flaky(session, conn, msgs, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")
        return real(session, conn, msgs, **kw)

    monkeypatch.setattr(service, "ingest", flaky)
    out = service.handle_batch(db, [_item(conn_id, "tc-0", {"vehicles": 1}), _item(conn_id, "tc-1", {"vehicles": 2})])
    assert [o.status for o in out] == [200, 200]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(StoredMessage)) == 2
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 0


def test_unknown_device_ids_are_not_cached(db, setup):
    """A device registered after its first message is found at once (no stale negative cache)."""
    conn_id, _ = setup
    service.handle_batch(db, [_item(conn_id, "tc-new", {"vehicles": 1})])
    with db.session() as s:
        product = devices.product_by_code(s, "TRAFFIC-MQTT")
        new_id = devices.create_device(s, name="新路口", product_id=product.id, external_id="tc-new",
                                       platform="mqtt_json", lon=121.43, lat=31.22).id
    out = service.handle_batch(db, [_item(conn_id, "tc-new", {"vehicles": 2})])
    assert out[0].pending == 0
    with db.session() as s:
        assert s.get(Device, new_id).last_values["vehicles"]["value"] == 2
