"""The fleet runner (IOT-2): deterministic device behaviour, wire bytes every connector accepts,
real HTTP pushes to a live server, real MQTT publishes to the Mosquitto broker."""

import socket
import threading
import time
from collections import Counter

import pytest

from cityops.connectors import registry
from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.mqtt_json import MqttJsonSettings
from cityops.sim.fleet import HTTP_PLATFORMS, ConnectionInfo, FleetSetup, plan_fleet, register_fleet
from cityops.sim.runner import DeviceState, FleetRunner, encode
from tests.conftest import IN_CI

BROKER = ("127.0.0.1", 1883)
SETTINGS = {
    "ctwing": {"decoders": {"15012345": "smoke-v1", "15023456": "manhole-v1"}},
    "onenet": {"token": "sim-token"},
    "onenet_studio": {"token": "sim-token-2", "aes_key": "0123456789abcdef"},
    "iotda": {},
    "aliyun": {},
    "hikvision": {},
    "mqtt_json": {},
}


def _offline_setup() -> FleetSetup:
    return FleetSetup({k: ConnectionInfo(0, k, k, "/ingest/0", v) for k, v in SETTINGS.items()}, {})


def _ticks(fleet, seed, n=15, **rates):
    out = []
    for d in fleet:
        st = DeviceState(d, seed, **{"event_rate": 0.2, "offline_rate": 0.05, **rates})
        out.append([st.tick() for _ in range(n)])
    return out


def test_behaviour_is_deterministic_from_the_seed():
    fleet = plan_fleet(5, 120)
    assert _ticks(fleet, 5) == _ticks(fleet, 5)
    assert _ticks(fleet, 5) != _ticks(fleet, 6)


def test_behaviour_covers_reports_events_and_transitions():
    fleet = plan_fleet(5, 600)
    kinds: Counter = Counter()
    events: set = set()
    alarms: set = set()
    for d, ticks in zip(fleet, _ticks(fleet, 5, n=40), strict=True):
        for msgs in ticks:
            for m in msgs:
                kinds[m[0]] += 1
                if m[0] == "event":
                    events.add((d.device_type, m[1]))
                elif m[0] == "telemetry" and "alarm" in m[1]:
                    alarms.add((d.device_type, m[1]["alarm"]))
    assert kinds["telemetry"] > kinds["event"] > 0 and kinds["status"] > 0 and kinds["malformed"] > 0
    assert {("smoke", "smoke_alarm"), ("manhole", "illegal_move"), ("camera", "linedetection"),
            ("garbage_bin", "full"), ("traffic_counter", "congestion"), ("civil_defence", "immersion")} <= events
    assert {("water_level", "high_level"), ("water_level", "recovered"), ("electrical_fire", "leakage"),
            ("hydrant", "low_pressure")} <= alarms


def test_every_message_is_what_its_connector_parses():
    """All encoded pushes (with messy variants) parse with the device's connector to the device's
    external id; the malformed ones are rejected, as the dead-letter store expects."""
    fleet = plan_fleet(8, 1200)  # 6 malformed devices: one per HTTP platform
    setup = _offline_setup()
    accepted: Counter = Counter()
    rejected: Counter = Counter()
    jpegs = 0
    for d in fleet:
        st = DeviceState(d, 8, event_rate=0.2, offline_rate=0.05)
        connector = registry.get(d.platform)
        settings = connector.Settings.model_validate(SETTINGS[d.platform])
        for _ in range(12):
            for msg in st.tick():
                o = encode(st, msg, setup, messy=st.rng.random() < 0.4)
                req = PushRequest(body=o.body, headers={k.lower(): v for k, v in o.headers.items()}, query=o.query,
                                  topic=o.topic)
                assert (o.topic is not None) == (d.platform == "mqtt_json")
                try:
                    parsed = connector.parse(req, settings)
                except Rejected:
                    assert o.label == "malformed", (d, o)
                    rejected[d.platform] += 1
                    continue
                assert o.label != "malformed", (d, o.body[:200])
                assert parsed and {m.external_id for m in parsed} == {d.external_id}
                accepted[(d.platform, o.label)] += 1
                jpegs += sum(len(m.attachments) for m in parsed)
    for platform in registry.kinds():
        assert accepted[(platform, "telemetry")] > 0, platform
        assert accepted[(platform, "event")] > 0, platform
    assert set(rejected) == {d.platform for d in fleet if d.malformed}
    assert jpegs > 0  # camera line/field detections carry a snapshot


def test_runner_pushes_over_http_to_a_live_server(live_server, db, client, auth_headers):
    fleet = plan_fleet(21, 60)
    setup = register_fleet(db, fleet, live_server)
    runner = FleetRunner(fleet, setup, seed=21, period_s=0.8, event_rate=0.05, offline_rate=0.0, messy_rate=0.3)
    runner.start()
    try:
        assert runner.ready.wait(15), "runner never saw the server ready"
        deadline = time.monotonic() + 30  # a few seconds on a quiet machine; CI may be busy
        while runner.stats()["sent"] <= 100 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        started = time.monotonic()
        runner.stop()
        assert time.monotonic() - started < 5, "stop() must join within a few seconds"
    assert not runner.running and not any(t.is_alive() for t in runner._threads)
    stats = runner.stats()
    mqtt_devices = sum(d.platform == "mqtt_json" for d in fleet)
    assert stats["skipped_mqtt_devices"] == mqtt_devices and stats["devices"] == len(fleet) - mqtt_devices
    assert stats["sent"] > 100, stats
    assert stats["failed"] == 0 and stats["unexpected_rejections"] == 0, stats
    assert stats["rejected"] >= 1 and stats["by_label"]["malformed"] == stats["rejected"]
    assert set(stats["by_platform"]) == set(HTTP_PLATFORMS)

    h = auth_headers("admin")
    online = client.get("/api/v1/devices", params={"online": "true", "limit": 1000}, headers=h).json()["items"]
    assert {d["platform"] for d in online} == set(HTTP_PLATFORMS)
    by_platform = {}
    for d in online:
        by_platform.setdefault(d["platform"], d)
    for platform, dev in by_platform.items():
        msgs = client.get(f"/api/v1/devices/{dev['id']}/messages", headers=h).json()
        assert msgs, platform
        if dev["device_type"] in ("smoke", "water_level", "electrical_fire", "garbage_bin", "civil_defence"):
            assert dev["last_values"], platform
    smoke = next(d for d in online if d["device_type"] == "smoke")
    assert {"status", "battery", "temperature", "rsrp"} <= set(smoke["last_values"])

    pending = client.get("/api/v1/pending-devices", headers=h).json()
    unregistered = {d.external_id for d in fleet if not d.registered}
    assert unregistered and unregistered <= {p["external_id"] for p in pending}

    dls = client.get("/api/v1/dead-letters", params={"limit": 500}, headers=h).json()
    bad = {setup.connections[d.platform].id for d in fleet if d.malformed}
    assert dls["total"] == stats["rejected"] >= 1
    assert {dl["connection_id"] for dl in dls["items"]} == bad


def test_runner_counts_failures_and_keeps_going():
    """A platform that is down: every push fails, nothing raises, stop() is prompt."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once the socket is closed
    fleet = [d for d in plan_fleet(3, 60) if d.platform == "ctwing"][:10]
    runner = FleetRunner(fleet, _offline_setup(), f"http://127.0.0.1:{port}", seed=3, period_s=0.3,
                         ready_timeout_s=0.5, http_timeout_s=1.0)
    runner.start()
    time.sleep(1.5)
    started = time.monotonic()
    runner.stop()
    assert time.monotonic() - started < 5
    stats = runner.stats()
    assert stats["failed"] > 0 and stats["sent"] == 0 and "ConnectError" in stats["last_error"]


# -- MQTT ------------------------------------------------------------------------------------

@pytest.fixture
def broker():
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"the MQTT broker is required in CI and is not reachable at {BROKER}: {exc}")
        pytest.skip(f"no MQTT broker at {BROKER} (outside CI): {exc}")
    return "mqtt://%s:%d" % BROKER


def test_mqtt_publishes_what_the_mqtt_json_connector_parses(broker):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    fleet = [d for d in plan_fleet(31, 400) if d.platform == "mqtt_json"]
    ours = {d.external_id: d for d in fleet}
    settings = MqttJsonSettings()  # what register_fleet configures: the default topic templates
    setup = FleetSetup({"mqtt_json": ConnectionInfo(0, "mqtt_json", "t", "/ingest/0", settings.model_dump())}, {})

    received: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, m: received.append((m.topic, bytes(m.payload)))
    sub.on_subscribe = lambda *_a: subscribed.set()
    # Subscribe once connected: a SUBSCRIBE sent before the CONNACK is refused (no connection yet).
    sub.on_connect = lambda c, *_a: c.subscribe([("/traffic/#", 1), ("/gateway/#", 1)])
    sub.connect(*BROKER)
    sub.loop_start()
    try:
        assert subscribed.wait(20)
        runner = FleetRunner(fleet, setup, seed=31, period_s=0.4, mqtt_url=broker, event_rate=0.5,
                             offline_rate=0.05)
        with runner:
            assert runner.ready.wait(10)
            time.sleep(2.5)
        stats = runner.stats()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sum(1 for t, _ in received if t.split("/")[2] in ours) < stats["sent"]:
            time.sleep(0.1)
    finally:
        sub.loop_stop()
        sub.disconnect()

    assert stats["sent"] > 20 and stats["failed"] == 0, stats
    assert stats["by_platform"] == {"mqtt_json": {"sent": stats["sent"]}}
    connector = registry.get("mqtt_json")
    mine = [(t, p) for t, p in received if t.split("/")[2] in ours]
    assert len(mine) >= stats["sent"]  # QoS 1: at least once
    kinds: Counter = Counter()
    seen = set()
    for topic, payload in mine:
        parsed = connector.parse(PushRequest(body=payload, topic=topic), settings)
        for m in parsed:
            assert m.external_id in ours and m.product_key == ours[m.external_id].wire["product"]
            kinds[m.kind] += 1
            seen.add(m.external_id)
            if m.kind == "telemetry" and ours[m.external_id].device_type == "traffic_counter":
                assert {"vehicles", "avg_speed"} <= set(m.properties)
            if m.kind == "event":
                assert m.event == "congestion" and "level" in m.properties
    assert seen == set(ours)
    assert kinds["telemetry"] > 0 and kinds["event"] > 0
