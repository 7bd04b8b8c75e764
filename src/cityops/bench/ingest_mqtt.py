"""`cityops bench ingest-mqtt` (IOT-5 §6): device messages through a real Mosquitto broker
into cityops, end to end, on this machine.

One run measures:

* ceiling – what a bare MQTT subscriber (QoS 1, acknowledging each message, nothing else)
  receives per second from the same publisher through the same broker;
* rate – what cityops stores per second at saturation: the production MQTT consumer
  (batched transactions, acknowledged after commit) with the monitoring runtime leading
  (liveness + product rules fed from the stored messages, transitions and alarms written);
* p50/p99 – publish → committed in the database, at a paced load (the target rate, or 80 %
  of the saturation rate when that is lower), and alarm_p99 – publish of an out-of-range
  reading → its alarm committed;
* bytes_per_device – tracemalloc over the runtime's and intake's per-device state
  (liveness record and deadline, rule state, device-id cache) for every device;
* offline_lag_s – the liveness engine at 100,000 devices (`cityops bench liveness`).

The broker is a private Mosquitto started with the settings cityops ships
(`data/mosquitto-cityops.conf`) unless --broker-url is given. The publisher runs in its own
process so it does not share the consumer's interpreter.
"""

from __future__ import annotations

import collections
import gc
import json
import math
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityops.bench.common import database as _database
from cityops.bench.common import machine
from cityops.bench.common import pct as _pct

TARGET_RATE = 10_000
TARGET_RATIO = 0.5
TARGET_P99_MS = 250.0
TARGET_BYTES = 2048
TARGET_LAG_S = 2.0
TRIGGER = b'"avg_speed":1}'


def _port(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    return host, int(port)


def _publish(url: str, root: str, devices: int, messages: int, rate: float, triggers: list[int], out) -> None:
    """Publisher process: QoS 1, `rate` messages/s (0 = as fast as it can)."""
    host, port = _port(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}",
                    protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(host, port)
    c.loop_start()
    trig = set(triggers)
    topics = [f"/{root}/traffic/b{d:06d}/report" for d in range(devices)]
    t0 = time.time()
    info = None
    pending = collections.deque()
    for i in range(messages):
        speed = 1 if i in trig else 30
        payload = b'{"ts":%d,"vehicles":%d,"avg_speed":%d}' % (int(time.time() * 1000), i, speed)
        info = c.publish(topics[i % devices], payload, qos=1)
        pending.append(info)
        while len(pending) > 30_000:  # packet ids wrap at 65,535: never have that many unacknowledged
            pending.popleft().wait_for_publish(60)
        if rate and i % 50 == 49:
            ahead = t0 + (i + 1) / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
    if info is not None:
        info.wait_for_publish(120)
    out.put(time.time() - t0)
    c.loop_stop()
    c.disconnect()


def _run_publisher(url, root, devices, messages, rate=0.0, triggers=()) -> multiprocessing.Process:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_publish, args=(url, root, devices, messages, rate, list(triggers), q), daemon=True)
    p.start()
    p.result = q  # type: ignore[attr-defined]
    return p


def _ceiling(url: str, root: str, devices: int, messages: int) -> float:
    """A bare subscriber: receive, acknowledge, count."""
    host, port = _port(url)
    got = [0]
    first = [0.0]
    last = [0.0]
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{uuid.uuid4().hex[:6]}",
                    protocol=mqtt.MQTTv5, manual_ack=True)

    def on_message(client, _u, msg):
        client.ack(msg.mid, msg.qos)
        now = time.perf_counter()
        if not got[0]:
            first[0] = now
        got[0] += 1
        last[0] = now
        if got[0] >= messages:
            done.set()

    c.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 1000
    c.connect(host, port, properties=props, clean_start=True)
    c.loop_start()
    c.subscribe(f"$share/bare//{root}/#", qos=1)  # topics start with "/"
    time.sleep(0.5)
    pub = _run_publisher(url, root, devices, messages)
    done.wait(300)
    pub.join(30)
    c.loop_stop()
    c.disconnect()
    return (got[0] - 1) / (last[0] - first[0]) if got[0] > 1 and last[0] > first[0] else 0.0


def _prepare(url: str, devices: int, root: str) -> None:
    from cityops.audit import service as audit
    from cityops.audit.context import acting_as
    from cityops.bootstrap import prepare_database
    from cityops.core.db import Database
    from cityops.devices import service as dev
    from cityops.devices.models import Device
    from cityops.ingest import service as ingest

    audit.configure("bench-audit-key")
    db = Database(url)
    prepare_database(db)
    with acting_as("bench"), db.session() as s:
        conn = ingest.create_connection(s, kind="mqtt_json", name="bench-mqtt",
                                        settings={"topic_templates": [f"/{root}/{{product}}/{{device}}/report"]})
        product = dev.product_by_code(s, "TRAFFIC-MQTT")
        codes = dev.next_codes(s, devices)
        s.add_all(Device(code=codes[i], name=f"bench-{i}", product_id=product.id, device_type=product.device_type,
                         vendor=product.vendor, platform="mqtt_json", external_id=f"b{i:06d}",
                         connection_id=conn.id) for i in range(devices))
    db.dispose()


def _memory_per_device(db, devices: int) -> float:
    """Per-device state of a leading runtime and the intake's id cache, one message each."""
    from cityops.core.timeutil import utcnow
    from cityops.ingest.service import DeviceIndex
    from cityops.monitoring.feed import FeedRow
    from cityops.monitoring.runtime import MonitoringRuntime

    ext = {f"b{i:06d}" for i in range(devices)}
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rt = MonitoringRuntime(db)
    rt.load()
    index = DeviceIndex()
    with db.engine.connect() as conn:
        ids = index.lookup(conn, "mqtt_json", ext)
    now = utcnow()
    rows = [FeedRow(i, did, "telemetry", e, now, {"properties": {"vehicles": 1, "avg_speed": 30}})
            for i, (e, did) in enumerate(ids.items())]
    for k in range(0, len(rows), 5000):
        rt.consume(rows[k:k + 5000])
        while rt.queue.qsize():
            rt.queue.get_nowait()  # transitions are written by the writer; not per-device state
    del rows
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del rt, index
    gc.collect()
    return used / devices


def run(database: str = "sqlite", devices: int = 10_000, messages: int = 100_000, paced_s: float = 10.0,
        broker_url: str | None = None, lag_devices: int = 100_000, batch_max: int = 500) -> dict:
    from cityops.bench import liveness
    from cityops.core.bus import bus
    from cityops.core.db import Database
    from cityops.ingest.mqtt import MqttConsumer
    from cityops.monitoring.runtime import MonitoringRuntime
    from cityops.sim.broker import Broker

    tmp = Path(tempfile.mkdtemp(prefix="cityops-bench-"))
    url, drop = _database(database, tmp)
    broker = None if broker_url else Broker().start()
    mqtt_url = broker_url or broker.url
    root = f"bench{uuid.uuid4().hex[:6]}"
    try:
        ceiling = _ceiling(mqtt_url, root + "x", devices, messages)
        _prepare(url, devices, root)
        db = Database(url)
        bytes_per_device = _memory_per_device(db, devices)

        runtime = MonitoringRuntime(db).start()
        consumer = MqttConsumer(db, mqtt_url, client_id=f"cityops-bench-{root}", var_dir=tmp, batch_max=batch_max)
        stored = [0]
        marks: dict[str, float] = {}
        lat: list[float] = []
        triggers_seen: dict[str, float] = {}  # topic device → publish time (s) of its out-of-range reading
        sample = [0]
        finished = threading.Event()
        expect = [messages]

        def on_stored(batch, _committed_mono):
            now = time.time()
            if not stored[0]:
                marks["first"] = time.perf_counter()
            stored[0] += len(batch)
            marks["last"] = time.perf_counter()
            for topic, payload in batch:
                sample[0] += 1
                if TRIGGER in payload:
                    triggers_seen.setdefault(topic.rsplit("/", 2)[-2], json.loads(payload)["ts"] / 1000)
                elif marks.get("paced") and sample[0] % 10 == 0:
                    lat.append(now - json.loads(payload)["ts"] / 1000)
            if stored[0] >= expect[0]:
                finished.set()

        consumer.on_stored = on_stored
        alarms: dict[int, float] = {}
        bus.subscribe("alarm.raise", lambda _t, p: alarms.setdefault(p["device_id"], time.time()))
        consumer.start()
        consumer.wait_connected()
        time.sleep(0.5)

        # -- saturation ------------------------------------------------------------------
        pub = _run_publisher(mqtt_url, root, devices, messages)
        finished.wait(600)
        pub.join(60)
        rate = (stored[0] - 1) / (marks["last"] - marks["first"]) if stored[0] > 1 else 0.0
        saturation_batches = consumer.batches

        # -- paced: latency and alarm latency ---------------------------------------------
        paced_rate = min(TARGET_RATE, 0.8 * rate)
        n_paced = int(paced_rate * paced_s)
        triggers, used = [], set()  # 200 out-of-range readings, each on a different device
        step = max(1, n_paced // 250)
        while math.gcd(step, devices) != 1:  # so the readings fall on different devices
            step -= 1
        for i in range(n_paced // 400, n_paced, step):
            if i % devices not in used and len(triggers) < 200:
                used.add(i % devices)
                triggers.append(i)
        finished.clear()
        expect[0] = stored[0] + n_paced
        marks["paced"] = 1.0
        pub = _run_publisher(mqtt_url, root, devices, n_paced, rate=paced_rate, triggers=triggers)
        finished.wait(600)
        pub.join(60)
        deadline = time.time() + 10
        with db.session() as s:
            from sqlalchemy import select

            from cityops.devices.models import Device

            by_ext = dict(s.execute(select(Device.external_id, Device.id)).all())
        want = {by_ext[e]: t for e, t in triggers_seen.items() if e in by_ext}
        while time.time() < deadline and not all(d in alarms for d in want):
            time.sleep(0.05)
        alarm_lat = [alarms[d] - t for d, t in want.items() if d in alarms]
        consumer.stop()
        runtime.stop()
        db.dispose()

        lag = liveness.run(devices=lag_devices)
        p99 = _pct(lat, 0.99)
        result = {
            "bench": "ingest-mqtt", "database": database, "devices": devices,
            "messages": messages + n_paced, "saturation_messages": messages,
            "rate_msgs_per_s": round(rate), "ceiling_msgs_per_s": round(ceiling),
            "ratio": round(rate / ceiling, 3) if ceiling else None,
            "paced_rate_msgs_per_s": round(paced_rate), "paced_messages": n_paced,
            "p50_ms": round(statistics.median(lat) * 1e3, 1) if lat else None,
            "p99_ms": round(p99 * 1e3, 1) if p99 is not None else None,
            "alarm_p50_ms": round(statistics.median(alarm_lat) * 1e3, 1) if alarm_lat else None,
            "alarm_p99_ms": round(_pct(alarm_lat, 0.99) * 1e3, 1) if alarm_lat else None,
            "alarms_expected": len(want), "alarms_seen": len(alarm_lat),
            "bytes_per_device": round(bytes_per_device),
            "offline_lag_s": round(lag["lag_max_ms"] / 1e3, 3), "offline_lag_devices": lag_devices,
            "batches": consumer.batches, "mean_batch": round(consumer.handled / max(1, consumer.batches), 1),
            "saturation_batches": saturation_batches, "monitoring_processed": runtime.processed,
            "targets": {"rate_msgs_per_s": TARGET_RATE, "ratio": TARGET_RATIO, "p99_ms": TARGET_P99_MS,
                        "bytes_per_device": TARGET_BYTES, "offline_lag_s": TARGET_LAG_S},
            "machine": machine(),
        }
        result["ok"] = bool(rate >= TARGET_RATE and result["ratio"] and result["ratio"] >= TARGET_RATIO
                            and p99 is not None and p99 * 1e3 < TARGET_P99_MS and bytes_per_device <= TARGET_BYTES
                            and lag["lag_max_ms"] / 1e3 < TARGET_LAG_S)
        return result
    finally:
        if broker:
            broker.stop()
        drop()
        if os.environ.get("CITYOPS_BENCH_KEEP") is None:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
