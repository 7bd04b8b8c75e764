"""The fleet runner (IOT-2): the simulated devices talk to the platform over real HTTP and MQTT.

A scheduler thread walks the fleet at a demo-accelerated pace — every device reports once per
`period_s` (jittered ±10 %, phases spread evenly, so 3,000 devices at 60 s push ~50 msg/s) —
and hands the encoded pushes to a few sender threads (httpx to `base_url` + the connection's
push URL, paho-mqtt to the broker for the mqtt_json devices when `mqtt_url` is given).

What each device says is deterministic from the seed (one `random.Random` per device): its
periodic reports (values drifting inside the product's normal ranges), occasional events
(a smoke alarm, a waterlogging episode, a manhole illegal move, an electrical leakage, a
camera line crossing with a JPEG …), and online/offline transitions (a few devices announce
they go offline, or just fall silent, for a few periods). A fraction of messages uses the wire
builders' messy variants; the fleet's `malformed` devices send a broken push on their first
report and every fifth after it, and its unregistered devices report like the others (pending onboarding).

Vendors whose push format has no event message (OneNET classic data points, IoTDA property
reports) signal alarms the way such devices do: out-of-range values plus an "alarm" property.

A failed push never stops the runner: it is logged (rate-limited) and counted. `stop()` joins
within a few seconds.
"""

from __future__ import annotations

import heapq
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from cityops.sim.fleet import FleetSetup, SimDevice, summary
from cityops.sim.wire import aliyun, ctwing, hikvision, iotda, mqtt_json, onenet, onenet_studio

log = logging.getLogger(__name__)

# Platforms whose wire format has an online/offline message (cameras just stop heartbeating).
STATUS_PLATFORMS = {"ctwing", "onenet", "onenet_studio", "iotda", "aliyun", "mqtt_json"}
LEVEL = {"info": 1, "warning": 2, "critical": 3}
ALIYUN_KIND = {"info": "info", "warning": "alert", "critical": "error"}
MALFORMED_EVERY = 5  # a malformed device breaks its 1st, 6th, 11th … report


@dataclass
class Outgoing:
    """One encoded push: HTTP (body, headers, query) or MQTT (topic set, body = payload)."""

    device: SimDevice
    label: str  # telemetry | event | status | malformed
    body: bytes
    headers: dict[str, str]
    query: dict[str, str]
    topic: str | None = None


def _clip(value: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, value))


class DeviceState:
    """One device's behaviour: deterministic from (seed, device key)."""

    def __init__(self, device: SimDevice, seed: int, *, event_rate: float, offline_rate: float):
        self.d = device
        self.rng = random.Random(f"{seed}:{device.key}")
        self.n = 0  # reports made
        self.outage = 0  # reports still to skip while offline/silent
        flaky = self.rng.random() < 0.03  # poor coverage: drops off now and then
        self.offline_rate = offline_rate * (15 if flaky else 1)
        self.event_rate = event_rate * (3 if device.device_type == "camera" else 1)
        r = self.rng
        self.battery = r.uniform(55, 100)
        self.base = r.uniform(0, 1)  # a per-device offset for its typical values
        self.episode: list[float] = []  # water level / gas values of an ongoing event
        self.alarm_on = False
        self.fill = r.uniform(0, 60)
        self.full_sent = False
        self.uptime = r.randint(3600, 30 * 86400)
        self.force_event = False  # the next report starts an event (a guided demo scene)

    # -- one report ------------------------------------------------------------------------

    def tick(self) -> list[tuple]:
        """Abstract messages for this report: ("telemetry", props) | ("event", name, data,
        severity) | ("status", online) | ("malformed",)."""
        self.n += 1
        out: list[tuple] = []
        supports_status = self.d.platform in STATUS_PLATFORMS
        if self.outage > 0:
            self.outage -= 1
            if self.outage > 0:
                return []
            if supports_status:
                out.append(("status", True))
        elif self.rng.random() < self.offline_rate:
            self.outage = self.rng.randint(2, 6)
            if supports_status and self.rng.random() < 0.75:
                return [("status", False)]
            return []  # falls silent (flat battery, lost coverage)
        if self.d.malformed and self.n % MALFORMED_EVERY == 1:
            return out + [("malformed",)]
        event = self.rng.random() < self.event_rate or self.force_event
        self.force_event = False
        return out + getattr(self, f"_{self.d.device_type}")(event)

    def _drain(self, per_report: float = 0.02) -> int:
        self.battery = max(5.0, self.battery - self.rng.uniform(0, per_report))
        return int(self.battery)

    def _smoke(self, event: bool) -> list[tuple]:
        r = self.rng
        props = {"status": "normal", "battery": self._drain(),
                 "temperature": round(20 + 5 * self.base + r.gauss(0, 0.8), 1),
                 "rsrp": int(_clip(-85 - 25 * self.base + r.gauss(0, 3), -125, -60))}
        if not event:
            return [("telemetry", props)]
        name = r.choices(("smoke_alarm", "self_test", "tamper"), weights=(2, 2, 1))[0]
        severity = {"smoke_alarm": "critical", "self_test": "info", "tamper": "warning"}[name]
        props["status"] = name
        if name == "smoke_alarm":
            props["temperature"] = round(props["temperature"] + r.uniform(4, 12), 1)
        return [("telemetry", props), ("event", name, {"status": name, "temperature": props["temperature"]}, severity)]

    def _manhole(self, event: bool) -> list[tuple]:
        r = self.rng
        props = {"status": "normal", "tilt": round(_clip(1 + 2 * self.base + r.gauss(0, 0.4), 0, 10), 1),
                 "battery": self._drain(0.01)}
        if not event:
            return [("telemetry", props)]
        name = r.choices(("illegal_move", "tilt_alarm", "authorised_open"), weights=(3, 1, 1))[0]
        if name == "authorised_open":  # maintenance: a state, not an alarm
            props["status"] = "authorised_open"
            return [("telemetry", props)]
        props["tilt"] = round(r.uniform(25, 85) if name == "illegal_move" else r.uniform(16, 24), 1)
        if name == "illegal_move":
            props["status"] = "illegal_move"
        severity = "critical" if name == "illegal_move" else "warning"
        return [("telemetry", props), ("event", name, {"status": props["status"], "tilt": props["tilt"]}, severity)]

    def _episode_value(self, alarm_from: float, names: tuple[str, str]) -> tuple[float | None, str | None]:
        """The next value of an ongoing episode and the alarm word when it crosses the limit."""
        if not self.episode:
            return None, None
        value = self.episode.pop(0)
        alarm = None
        if value >= alarm_from and not self.alarm_on:
            self.alarm_on, alarm = True, names[0]
        elif value < alarm_from and self.alarm_on:
            self.alarm_on, alarm = False, names[1]
        return value, alarm

    def _water_level(self, event: bool) -> list[tuple]:
        r = self.rng
        if event and not self.episode:  # a downpour: the water rises past 15 cm and recedes
            peak = r.uniform(18, 40)
            up = [peak * f for f in (0.25, 0.5, 0.8, 1.0)]
            self.episode = [round(v, 1) for v in up + [peak * 0.7, peak * 0.4, peak * 0.15, 0.0]]
        level, alarm = self._episode_value(15.0, ("high_level", "recovered"))
        if level is None:
            level = round(max(0.0, r.gauss(0.3, 0.5)), 1) if r.random() < 0.3 else 0.0
        props: dict[str, Any] = {"water_level": level, "battery": self._drain(0.01)}
        if alarm:
            props["alarm"] = alarm
        return [("telemetry", props)]

    def _gas(self, event: bool) -> list[tuple]:
        r = self.rng
        if event and not self.episode:
            peak = r.uniform(12, 20) if r.random() < 0.6 else r.uniform(25, 60)
            self.episode = [round(peak * f, 1) for f in (0.6, 1.0, 0.5, 0.1)]
        value, alarm = self._episode_value(10.0, ("gas_alarm", "recovered"))
        if alarm == "gas_alarm":
            alarm = "high_alarm" if max([value] + self.episode) >= 25 else "low_alarm"
        props: dict[str, Any] = {"gas_lel": value if value is not None else round(max(0.0, r.gauss(0.4, 0.4)), 1)}
        if alarm:
            props["alarm"] = alarm
        return [("telemetry", props)]

    def _electrical_fire(self, event: bool) -> list[tuple]:
        r = self.rng
        props: dict[str, Any] = {
            "leakage_ma": int(_clip(40 + 80 * self.base + r.gauss(0, 15), 5, 280)),
            "cable_temp": round(_clip(28 + 12 * self.base + r.gauss(0, 2), 10, 65), 1),
            "voltage": round(r.gauss(220, 3), 1),
            "current": round(_clip(8 + 30 * self.base + r.gauss(0, 4), 0.5, 60), 1),
        }
        if event:
            name = r.choices(("leakage", "over_temp", "overload"), weights=(3, 2, 1))[0]
            if name == "leakage":
                props["leakage_ma"] = r.randint(320, 650)
            elif name == "over_temp":
                props["cable_temp"] = round(r.uniform(75, 95), 1)
            else:
                props["current"] = round(r.uniform(66, 85), 1)
            props["alarm"] = name
        return [("telemetry", props)]

    def _hydrant(self, event: bool) -> list[tuple]:
        r = self.rng
        props: dict[str, Any] = {"pressure": round(_clip(0.28 + 0.1 * self.base + r.gauss(0, 0.01), 0.15, 0.6), 3),
                                 "battery": self._drain(0.01)}
        if event:
            name = "low_pressure" if r.random() < 0.8 else "knock_over"
            props["pressure"] = round(r.uniform(0.05, 0.12), 3) if name == "low_pressure" else 0.0
            props["alarm"] = name
        return [("telemetry", props)]

    def _garbage_bin(self, event: bool) -> list[tuple]:
        r = self.rng
        out: list[tuple] = []
        if self.full_sent and (event or r.random() < 0.15):  # the truck came
            self.fill, self.full_sent = r.uniform(0, 5), False
            out.append(("event", "emptied", {"fill_pct": int(self.fill)}, "info"))
        else:  # fills up steadily; an event is a bulk dump (a shop clearing out, a festival)
            self.fill = min(100.0, self.fill + (r.uniform(35, 60) if event else r.uniform(0.5, 4)))
        fill = int(self.fill)
        props = {"fill_pct": fill, "distance": int(round(120 * (1 - fill / 100))),
                 "tilt": round(_clip(r.gauss(1, 0.5), 0, 5), 1)}
        out.insert(0, ("telemetry", props))
        if fill >= 90 and not self.full_sent:
            self.full_sent = True
            out.append(("event", "full", {"fill_pct": fill}, "warning"))
        return out

    def _noise(self, event: bool) -> list[tuple]:
        r = self.rng
        base = 62 if "龙之梦" in self.d.tags else 50
        laeq = base + 8 * self.base + r.gauss(0, 2.5)
        if event:  # a street performance, a horn concert, night construction
            laeq = r.uniform(75, 88)
        return [("telemetry", {"laeq": round(laeq, 1)})]

    def _traffic_counter(self, event: bool) -> list[tuple]:
        r = self.rng
        props = {"vehicles": int(_clip(60 + 140 * self.base + r.gauss(0, 20), 0, 400)),
                 "avg_speed": round(_clip(22 + 18 * self.base + r.gauss(0, 4), 5, 60), 1)}
        if not event:
            return [("telemetry", props)]
        props["avg_speed"] = round(r.uniform(4, 9), 1)
        data = {"level": r.choice((2, 3)), "queue_m": r.randint(80, 320)}
        return [("telemetry", props), ("event", "congestion", data, "warning")]

    def _gateway(self, event: bool) -> list[tuple]:
        r = self.rng
        self.uptime += r.randint(55, 65)
        return [("telemetry", {"cpu_pct": r.randint(3, 35), "mem_pct": r.randint(30, 65), "uptime_s": self.uptime})]

    def _civil_defence(self, event: bool) -> list[tuple]:
        r = self.rng
        props: dict[str, Any] = {"temperature": round(17 + 6 * self.base + r.gauss(0, 0.5), 1),
                                 "humidity": round(_clip(62 + 15 * self.base + r.gauss(0, 2), 20, 95), 1),
                                 "water_immersion": False, "door_open": False}
        if not event:
            return [("telemetry", props)]
        if r.random() < 0.4:
            props["water_immersion"] = True
            return [("telemetry", props), ("event", "immersion", {"level": 1}, "critical")]
        props["door_open"] = True
        return [("telemetry", props), ("event", "door_open", {"door": "主防护门"}, "warning")]

    def _camera(self, event: bool) -> list[tuple]:
        if not event:
            return [("telemetry", {})]  # heartBeat
        name = self.rng.choices(("VMD", "linedetection", "fielddetection", "videoloss", "shelteralarm"),
                                weights=(4, 3, 2, 1, 1))[0]
        return [("event", name, {}, "warning")]

    def _nvr(self, event: bool) -> list[tuple]:
        if event and self.rng.random() < 0.3:
            return [("telemetry", {}), ("event", "hdfull", {}, "warning")]
        return [("telemetry", {})]


# -- encoding ---------------------------------------------------------------------------------

def _cut(body: bytes, rng: random.Random) -> bytes:
    """A push cut short (a proxy timeout, a module's buffer overrun)."""
    return body[: max(1, int(len(body) * rng.uniform(0.3, 0.8)))]


def encode(state: DeviceState, msg: tuple, setup: FleetSetup, messy: bool) -> Outgoing:
    """One abstract message → the exact bytes the device's platform sends, via the wire builders."""
    d, rng, kind = state.d, state.rng, msg[0]
    label = kind
    if kind == "telemetry" and "alarm" in msg[1]:
        label = "event"
    conn = setup.connections.get(d.platform)
    settings = conn.settings if conn else {}
    w = d.wire

    def out(wire: tuple) -> Outgoing:  # HTTP: (body, headers, query)
        body, headers, query = wire
        return Outgoing(d, label, body, dict(headers), dict(query))

    def mq(wire: tuple) -> Outgoing:  # MQTT: (topic, payload)
        return Outgoing(d, label, wire[1], {}, {}, topic=wire[0])

    p = d.platform
    if p == "ctwing":
        common = {"product_id": w["product_id"], "tenant_id": w["tenant_id"], "imei": d.imei or None,
                  "iccid": d.iccid or None, "messy": messy}
        if kind == "telemetry":
            return out(ctwing.data_report(d.external_id, msg[1], decoder=w["decoder"], seq=state.n, **common))
        if kind == "event":
            content = {"identifier": msg[1], **msg[2]}
            return out(ctwing.event(d.external_id, LEVEL[msg[3]], content, **common))
        if kind == "status":
            return out(ctwing.online(d.external_id, msg[1], **common))
        other = "manhole-v1" if w["decoder"] == "smoke-v1" else "smoke-v1"
        if rng.random() < 0.5:  # firmware of another model flashed on this product: wrong byte layout
            return out(ctwing.data_report(d.external_id, {"status": "normal", "battery": 50}, decoder=other,
                                          **common))
        body, headers, query = ctwing.data_report(d.external_id, {"status": "normal"}, decoder=w["decoder"], **common)
        return Outgoing(d, label, _cut(body, rng), headers, query)

    if p == "onenet":
        token = settings.get("token", "")
        if kind == "telemetry":
            return out(onenet.data_points(w["dev_id"], msg[1], token=token, imei=d.imei or None, messy=messy))
        if kind == "status":
            return out(onenet.status(w["dev_id"], msg[1], token=token, messy=messy))
        if rng.random() < 0.5:  # signed with the token from before it was rotated
            return out(onenet.data_point(w["dev_id"], "battery", 50, token=token + "-old"))
        body, headers, query = onenet.data_point(w["dev_id"], "battery", 50, token=token)
        return Outgoing(d, label, _cut(body, rng), headers, query)

    if p == "onenet_studio":
        keys = {"token": settings.get("token", ""), "aes_key": settings.get("aes_key") or None}
        pid, dn = w["product_id"], w["device_name"]
        if kind == "telemetry":
            return out(onenet_studio.property_post(pid, dn, msg[1], messy=messy, **keys))
        if kind == "event":
            return out(onenet_studio.event(pid, dn, msg[1], msg[2], messy=messy, **keys))
        if kind == "status":
            return out(onenet_studio.life_cycle(pid, dn, msg[1], messy=messy, **keys))
        return out(onenet_studio.property_post(pid, dn, {"temperature": 20}, token=keys["token"] + "-old",
                                               aes_key=keys["aes_key"]))

    if p == "iotda":
        if kind == "telemetry":
            return out(iotda.property_report(d.external_id, {w["service_id"]: msg[1]}, product_id=w["product_id"],
                                             node_id=w["node_id"], messy=messy))
        if kind == "status":
            return out(iotda.status_update(d.external_id, "ONLINE" if msg[1] else "OFFLINE",
                                           product_id=w["product_id"], messy=messy))
        body, headers, query = iotda.property_report(d.external_id, {w["service_id"]: {"battery": 50}},
                                                     product_id=w["product_id"], node_id=w["node_id"])
        if rng.random() < 0.5:  # a message type the platform was never told about
            doc = json.loads(body)
            doc["resource"], doc["event"] = "device.message", "report"
            return Outgoing(d, label, json.dumps(doc, ensure_ascii=False).encode(), headers, query)
        return Outgoing(d, label, _cut(body, rng), headers, query)

    if p == "aliyun":
        pk, dn = w["product_key"], w["device_name"]
        if kind == "telemetry":
            return out(aliyun.property_post(pk, dn, msg[1], messy=messy))
        if kind == "event":
            return out(aliyun.event_post(pk, dn, msg[1], msg[2], kind=ALIYUN_KIND[msg[3]], messy=messy))
        if kind == "status":
            return out(aliyun.status(pk, dn, msg[1], messy=messy))
        body, headers, query = aliyun.property_post(pk, dn, {"fill_pct": 50})
        doc = json.loads(body)
        doc.pop("deviceName")  # a forwarding rule whose SQL forgot a column
        return Outgoing(d, label, json.dumps(doc, ensure_ascii=False).encode(), headers, query)

    if p == "hikvision":
        opts: dict[str, Any] = {"mac": w["mac"], "channel_name": w.get("channel_name") or "NVR"}
        if messy:  # firmware differences seen in the field
            opts.update(namespace=rng.choice(("isapi", "prefixed", None)), dyn_channel=rng.random() < 0.3,
                        local_time=rng.random() < 0.5)
        if kind == "telemetry":
            return out(hikvision.heartbeat(w["ip"], w["channel"], **opts))
        if kind == "event":
            name = msg[1]
            jpegs = 1 if name in ("linedetection", "fielddetection") else 0
            if jpegs:
                opts.update(target_type=rng.choice(("human", "vehicle")), regions=True)
            return out(hikvision.alert(w["ip"], w["channel"], name, jpegs=jpegs,
                                       subtype="mixed" if messy and rng.random() < 0.5 else "form-data",
                                       content_length=not messy, **opts))
        body, headers, query = hikvision.alert(w["ip"], w["channel"], "VMD", mac=w["mac"])
        return Outgoing(d, label, _cut(body, rng), headers, query)

    if p == "mqtt_json":
        product, device = w["product"], w["device"]
        if kind == "telemetry":
            if messy and rng.random() < 0.5:
                return mq(mqtt_json.flat_properties(product, device, msg[1], messy=True))
            return mq(mqtt_json.jetlinks_properties(product, device, msg[1], messy=messy))
        if kind == "event":
            return mq(mqtt_json.jetlinks_event(product, device, msg[1], msg[2], messy=messy))
        if kind == "status":
            return mq(mqtt_json.jetlinks_status(product, device, msg[1], messy=messy))
        topic, _ = mqtt_json.jetlinks_properties(product, device, {"vehicles": 1})
        return Outgoing(d, label, b"\xff\xfe\x00garbled", {}, {}, topic=topic)
    raise ValueError(f"no encoder for platform {p!r}")


# -- the runner -------------------------------------------------------------------------------

def _mqtt_address(url: str) -> tuple[str, int, str | None, str | None, bool]:
    u = urlsplit(url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = u.scheme in ("mqtts", "ssl")
    return u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883), u.username, u.password, tls


class FleetRunner:
    """Runs a registered fleet against a live platform (IOT-2). Thread-based; `start()` returns
    at once, `stop()` joins within a few seconds; `stats()` gives the counters."""

    def __init__(self, fleet: list[SimDevice], setup: FleetSetup, base_url: str | None = None, *, seed: int = 0,
                 period_s: float = 60.0, mqtt_url: str | None = None, event_rate: float = 0.004,
                 messy_rate: float = 0.15, offline_rate: float = 0.002, workers: int = 4,
                 queue_size: int = 5000, ready_timeout_s: float = 30.0, http_timeout_s: float = 5.0):
        if period_s <= 0:
            raise ValueError("period_s must be positive")
        self.base_url = (base_url or setup.base_url or "").rstrip("/")
        self.fleet, self.setup, self.seed = fleet, setup, seed
        self.period_s, self.mqtt_url, self.messy_rate = period_s, mqtt_url, messy_rate
        self.ready_timeout_s, self.http_timeout_s = ready_timeout_s, http_timeout_s
        active = [d for d in fleet if d.platform != "mqtt_json" or mqtt_url]
        self.uses_http = any(d.platform != "mqtt_json" for d in active)
        if self.uses_http and not self.base_url:
            raise ValueError("the runner needs the platform's base URL for its HTTP devices")
        self.skipped = len(fleet) - len(active)
        self.states = [DeviceState(d, seed, event_rate=event_rate, offline_rate=offline_rate) for d in active]
        self._queue: queue.Queue[Outgoing | None] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._n_workers = max(1, workers)
        self._lock = threading.Lock()
        self._counts: dict[str, Any] = {"sent": 0, "failed": 0, "rejected": 0, "unexpected": 0, "dropped": 0,
                                        "by_platform": defaultdict(lambda: defaultdict(int)),
                                        "by_label": defaultdict(int)}
        self.last_error = ""
        self.ready = threading.Event()
        self._mqtt = None
        self._mqtt_connected = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FleetRunner:
        if self._threads:
            raise RuntimeError("runner already started")
        if self.mqtt_url:
            self._mqtt_start()
        self._threads = [threading.Thread(target=self._schedule, name="cityops-sim-scheduler", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"cityops-sim-sender-{i}", daemon=True)
                          for i in range(self._n_workers)]
        for t in self._threads:
            t.start()
        log.info("fleet runner started", extra={"devices": len(self.states), "period_s": self.period_s,
                                                "mqtt": bool(self.mqtt_url), "skipped_mqtt": self.skipped})
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        if self._threads:
            self._threads[0].join(max(0.1, deadline - time.monotonic()))
        try:  # drop what is still queued, then wake every sender
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        for _ in self._threads[1:]:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break
        for t in self._threads[1:]:
            t.join(max(0.1, deadline - time.monotonic()))
        if self._mqtt is not None:
            try:
                self._mqtt.disconnect()
                self._mqtt.loop_stop()
            except Exception:  # never let shutdown raise
                log.exception("mqtt publisher did not stop cleanly")
        log.info("fleet runner stopped", extra={"stats": self.stats()})

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads) and not self._stop.is_set()

    def __enter__(self) -> FleetRunner:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def trigger(self, device_type: str, *, platform: str | None = None) -> SimDevice | None:
        """Make one device of `device_type` (the first in the plan, so the same one every run)
        start an event at its next report — a downpour for a water-level sensor. Returns it,
        or None when the fleet has no such running device."""
        for st in self.states:
            if st.d.device_type == device_type and (platform is None or st.d.platform == platform):
                st.force_event = True
                return st.d
        return None

    def fleet_summary(self) -> dict[str, Any]:
        """Counts of the fleet per type, platform and street (for a banner or a log line)."""
        return summary(self.fleet)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            c = self._counts
            return {"sent": c["sent"], "failed": c["failed"], "rejected": c["rejected"],
                    "unexpected_rejections": c["unexpected"], "dropped": c["dropped"],
                    "by_platform": {k: dict(v) for k, v in c["by_platform"].items()},
                    "by_label": dict(c["by_label"]), "queued": self._queue.qsize(),
                    "devices": len(self.states), "skipped_mqtt_devices": self.skipped,
                    "last_error": self.last_error}

    # -- internals ---------------------------------------------------------------------------

    def _count(self, platform: str, outcome: str, label: str | None = None) -> None:
        with self._lock:
            if outcome in ("sent", "failed", "rejected", "unexpected", "dropped"):
                self._counts[outcome] += 1
            self._counts["by_platform"][platform][outcome] += 1
            if label:
                self._counts["by_label"][label] += 1

    def _problem(self, text: str) -> None:
        with self._lock:
            self.last_error = text
            n = self._counts["failed"] + self._counts["unexpected"]
        if n <= 5 or n % 100 == 0:
            log.warning("simulated push failed", extra={"error": text, "failures": n})

    def _wait_ready(self) -> bool:
        """Wait (up to ready_timeout_s) for the platform to answer /healthz; False when stopped."""
        if not self.uses_http:
            return not self._stop.is_set()
        deadline = time.monotonic() + self.ready_timeout_s
        with httpx.Client(timeout=2.0) as c:
            while not self._stop.is_set():
                try:
                    if c.get(self.base_url + "/healthz").status_code < 500:
                        return True
                except httpx.HTTPError:
                    pass
                if time.monotonic() >= deadline:
                    self._problem(f"platform not ready at {self.base_url} after {self.ready_timeout_s:.0f}s; "
                                  "sending anyway")
                    return True
                self._stop.wait(0.2)
        return False

    def _schedule(self) -> None:
        try:
            if not self._wait_ready():
                return
            if self._mqtt is not None:
                self._mqtt_connected.wait(5)
            self.ready.set()
            start = time.monotonic()
            n = max(len(self.states), 1)
            order = list(range(len(self.states)))
            random.Random(self.seed).shuffle(order)  # even spread over one period, in a seeded order
            heap = [(start + (k + 0.5) / n * self.period_s, i) for k, i in enumerate(order)]
            heapq.heapify(heap)
            jitter = [random.Random(f"{self.seed}:{st.d.key}:t") for st in self.states]
            while heap and not self._stop.is_set():
                due, i = heap[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._stop.wait(min(delay, 0.25))
                    continue
                heapq.heappop(heap)
                st = self.states[i]
                try:
                    for msg in st.tick():
                        item = encode(st, msg, self.setup, st.rng.random() < self.messy_rate)
                        try:
                            self._queue.put_nowait(item)
                        except queue.Full:
                            self._count(st.d.platform, "dropped")
                except Exception as exc:  # a bug in one device's model must not stop the fleet
                    self._problem(f"{st.d.key}: {type(exc).__name__}: {exc}")
                    log.exception("simulated device failed", extra={"device": st.d.key})
                heapq.heappush(heap, (due + self.period_s * jitter[i].uniform(0.9, 1.1), i))
        except Exception:
            log.exception("fleet scheduler crashed")

    def _work(self) -> None:
        client = httpx.Client(timeout=httpx.Timeout(self.http_timeout_s, connect=2.0))
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                if self._stop.is_set():
                    continue
                try:
                    if item.topic is not None:
                        self._publish(item)
                    else:
                        self._post(client, item)
                except Exception as exc:
                    self._count(item.device.platform, "failed", item.label)
                    self._problem(f"{item.device.platform} {item.device.external_id}: {type(exc).__name__}: {exc}")
        finally:
            client.close()

    def _post(self, client: httpx.Client, item: Outgoing) -> None:
        d = item.device
        url = self.base_url + self.setup.connections[d.platform].push_path
        r = client.post(url, content=item.body, headers=item.headers, params=item.query or None)
        if r.status_code < 300:
            self._count(d.platform, "sent", item.label)
        elif r.status_code < 500:
            self._count(d.platform, "rejected", item.label)
            if item.label != "malformed":
                self._count(d.platform, "unexpected")
                self._problem(f"{d.platform} {d.external_id}: HTTP {r.status_code}: {r.text[:300]}")
        else:
            self._count(d.platform, "failed", item.label)
            self._problem(f"{d.platform} {d.external_id}: HTTP {r.status_code}: {r.text[:300]}")

    def _mqtt_start(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        host, port, user, password, tls = _mqtt_address(self.mqtt_url or "")
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cityops-sim-{uuid.uuid4().hex[:8]}")
        if user:
            client.username_pw_set(user, password)
        if tls:
            client.tls_set()

        def on_connect(_c, _u, _f, reason_code, _p):
            if not reason_code.is_failure:
                self._mqtt_connected.set()
            else:
                self._problem(f"mqtt connect refused: {reason_code}")

        def on_disconnect(*_args):
            self._mqtt_connected.clear()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.reconnect_delay_set(1, 30)
        client.max_queued_messages_set(10000)
        client.connect_async(host, port, keepalive=30)
        client.loop_start()
        self._mqtt = client

    def _publish(self, item: Outgoing) -> None:
        import paho.mqtt.client as mqtt

        d = item.device
        if self._mqtt is None:
            raise RuntimeError("no MQTT broker configured")
        info = self._mqtt.publish(item.topic, item.body, qos=1)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._count(d.platform, "sent", item.label)
        else:
            self._count(d.platform, "failed", item.label)
            self._problem(f"mqtt publish to {item.topic}: {mqtt.error_string(info.rc)}")
