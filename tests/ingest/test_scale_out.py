"""Scale-out (IOT-5 §7): two worker processes on PostgreSQL share the MQTT load through a
shared subscription, exactly one of them runs monitoring, and no alarm is raised twice —
also when the leader is killed, the other takes over, and the killed one is restarted."""

import time
import uuid

import pytest
from sqlalchemy import func, select

from cityops.devices import service as devices
from cityops.ingest import service
from cityops.ingest.models import StoredMessage
from cityops.monitoring.models import Alarm
from tests.ingest.workers import Publisher, Worker, private_broker, wait_for

DEVICES = 30


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_split_the_load_and_never_double_raise(db, settings, tmp_path):
    root = f"so{uuid.uuid4().hex[:6]}"
    with db.session() as s:
        conn_id = service.create_connection(s, kind="mqtt_json", name=f"mqtt-{root}", settings={
            "topic_templates": [f"/{root}/{{product}}/{{device}}/report"]}).id
        p = devices.product_by_code(s, "TRAFFIC-MQTT")
        ids = [devices.create_device(s, name=f"路口{i}", product_id=p.id, external_id=f"s{i}", platform="mqtt_json",
                                     lon=121.43, lat=31.22).id for i in range(DEVICES)]
    broker = private_broker()
    workers = [Worker(settings, broker.url, f"cityops-{root}-{n}", tmp_path / f"w{n}.log") for n in range(2)]
    publisher = None
    try:
        for w in workers:
            w.wait_ready()
        assert wait_for(lambda: sum(bool(w.health().get("monitoring", {}).get("leader")) for w in workers) == 1, 10)
        time.sleep(0.5)
        publisher = Publisher(broker.url)
        seq = 0

        def burst(speed):
            nonlocal seq
            for _ in range(10):  # every device reports a too-low average speed ten times
                for i in range(DEVICES):
                    publisher.publish(f"/{root}/traffic/s{i}/report", {"avg_speed": speed, "vehicles": seq}, seq)
                    seq += 1

        burst(2)  # below the product's minimum of 5 km/h
        assert wait_for(lambda: _stored(db, conn_id) == seq, 30)
        handled = [w.health()["mqtt"]["handled"] for w in workers]
        assert all(h > 0 for h in handled), f"the broker should share the load: {handled}"

        def open_alarms():
            with db.session() as s:
                return s.execute(select(Alarm.device_id, func.count()).where(Alarm.state != "cleared")
                                 .group_by(Alarm.device_id)).all()

        assert wait_for(lambda: len(open_alarms()) == DEVICES, 60), open_alarms()  # generous: CI runs 2 suites' worth beside it
        assert all(n == 1 for _, n in open_alarms()), "one open alarm per device"

        # the leader dies; the other takes over and clears the alarms when speeds recover
        leader = next(w for w in workers if w.health().get("monitoring", {}).get("leader"))
        other = next(w for w in workers if w is not leader)
        leader.kill()
        assert wait_for(lambda: other.health().get("monitoring", {}).get("leader"), 60), "no takeover"
        # Mosquitto keeps routing the dead member's share into its persistent session: its
        # supervisor restarts it under the same client id, and it drains that share.
        burst(30)
        restarted = Worker(settings, broker.url, leader.client_id, tmp_path / "w-restarted.log")
        workers.append(restarted)
        restarted.wait_ready()
        assert wait_for(lambda: _stored(db, conn_id) == seq, 30), f"stored {_stored(db, conn_id)} of {seq}"
        assert wait_for(lambda: len(open_alarms()) == 0, 30), (open_alarms(), other.health())
        with db.session() as s:
            per_device = s.execute(select(Alarm.device_id, func.count()).where(Alarm.device_id.in_(ids))
                                   .group_by(Alarm.device_id)).all()
        assert sorted(n for _, n in per_device) == [1] * DEVICES, "never raised twice"
        assert not restarted.health()["monitoring"]["leader"], "the restarted worker stands by"
    finally:
        if publisher:
            publisher.close()
        for w in workers:
            w.stop()
        broker.stop()


def _stored(db, conn_id) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(func.distinct(StoredMessage.body["properties"]["vehicles"].as_integer())))
                        .where(StoredMessage.connection_id == conn_id))
