"""MQTT intake (IOT-2, IOT-5): one consumer per worker process, on shared subscriptions.

Every worker subscribes to `$share/cityops/<filter>` for each MQTT connection's topic
filters, so the broker spreads device traffic over the workers. Messages arrive with
QoS 1 and are acknowledged only after the pipeline has stored them (or dead-lettered
them): a crash before that makes the broker deliver the message again.

Throughput comes from batching: the network thread only queues what arrives; a batch
thread stores up to `batch_max` messages in one transaction and then acknowledges them,
in arrival order. MQTT 5 with a persistent session (clean start off, a session expiry)
and a stable client id: what arrives while a worker is down waits at the broker for it,
and `receive_maximum` lets the broker keep enough messages in flight to fill a batch.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityops.connectors import registry
from cityops.connectors.base import PushRequest
from cityops.core.db import Database
from cityops.ingest import service
from cityops.ingest.service import BatchItem
from cityops.ingest.models import Connection

log = logging.getLogger(__name__)
SHARE_GROUP = "cityops"


def parse_url(url: str) -> tuple[str, int, str | None, str | None, bool]:
    u = urlsplit(url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = u.scheme in ("mqtts", "ssl")
    return u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883), u.username, u.password, tls


def mqtt_kinds() -> list[str]:
    """Connector kinds that are fed by MQTT (they say which topics to subscribe)."""
    return [k for k in registry.kinds() if hasattr(registry.get(k), "subscription_filters")]


def wanted_subscriptions(db: Database) -> dict[str, int]:
    """topic filter → connection id, for every enabled MQTT connection."""
    from sqlalchemy import select

    out: dict[str, int] = {}
    kinds = mqtt_kinds()
    with db.session() as s:
        for conn in s.scalars(select(Connection).where(Connection.kind.in_(kinds), Connection.enabled.is_(True))
                              .order_by(Connection.id)):
            connector = registry.get(conn.kind)
            try:
                settings = connector.Settings.model_validate(conn.settings)
                filters = connector.subscription_filters(settings)
            except Exception as exc:  # a bad configuration must not stop the other connections
                log.error("mqtt connection misconfigured", extra={"connection": conn.id, "error": str(exc)})
                continue
            for f in filters:
                out.setdefault(f, conn.id)  # the first connection owns an overlapping filter
    return out


def default_client_id(role: str = "all") -> str:
    """Stable across restarts (the broker keeps the session under it); two workers on one
    host must be given different ids (CITYOPS_MQTT_CLIENT_ID)."""
    return f"cityops-{socket.gethostname()}-{role}"[:64]


class MqttConsumer:
    def __init__(self, db: Database, url: str, *, var_dir=None, client_id: str = "", refresh_s: float = 15.0,
                 shared: bool = True, batch_max: int = 500, linger_s: float = 0.005,
                 session_expiry_s: int = 7 * 24 * 3600):
        self.db = db
        self.host, self.port, user, password, tls = parse_url(url)
        self.var_dir = var_dir
        self.refresh_s = refresh_s
        self.shared = shared
        self.batch_max = batch_max
        self.linger_s = linger_s
        self.client_id = client_id or default_client_id()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                                  manual_ack=True)
        self._connect_props = Properties(PacketTypes.CONNECT)
        self._connect_props.SessionExpiryInterval = session_expiry_s
        self._connect_props.ReceiveMaximum = min(65535, batch_max * 2)
        if user:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 30)
        self._subs: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._batcher: threading.Thread | None = None
        # (generation, topic, payload, mid, qos); the generation changes with every (re)connect
        self._inbox: deque[tuple[int, str, bytes, int, int]] = deque()
        self._arrived = threading.Event()
        self._generation = 0
        self.connected = threading.Event()
        self.handled = 0
        self.failed = 0
        self.batches = 0
        self.on_stored = None  # optional callback(list of (topic, payload), committed monotonic time), for benchmarks

    def _topic(self, f: str) -> str:
        return f"$share/{SHARE_GROUP}/{f}" if self.shared else f

    def _on_connect(self, client, _userdata, _flags, reason_code, _props):
        if reason_code.is_failure:
            log.error("mqtt connect refused", extra={"reason": str(reason_code)})
            return
        with self._lock:
            self._generation += 1
            for f in self._subs:
                client.subscribe(self._topic(f), qos=1)
        self.connected.set()
        log.info("mqtt connected", extra={"broker": f"{self.host}:{self.port}", "filters": len(self._subs),
                                          "client_id": self.client_id})

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props):
        # Unacknowledged messages come again on the next connection; drop the queued copies.
        with self._lock:
            self._generation += 1
            self._inbox.clear()
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("mqtt disconnected", extra={"reason": str(reason_code)})

    def _connection_for(self, topic: str) -> int | None:
        with self._lock:
            for f, conn_id in self._subs.items():
                if mqtt.topic_matches_sub(f, topic):
                    return conn_id
        return None

    def _on_message(self, _client, _userdata, msg):
        self._inbox.append((self._generation, msg.topic, bytes(msg.payload), msg.mid, msg.qos))
        self._arrived.set()

    def _take(self) -> list[tuple[int, str, bytes, int, int]]:
        """Up to batch_max messages; waits `linger_s` for a batch to fill when few arrived."""
        if not self._inbox and not self._arrived.wait(0.5):
            return []
        if len(self._inbox) < self.batch_max and self.linger_s:
            time.sleep(self.linger_s)
        self._arrived.clear()  # before draining: anything appended after this sets it again
        batch = []
        with self._lock:
            while self._inbox and len(batch) < self.batch_max:
                batch.append(self._inbox.popleft())
        return batch

    def _batch_loop(self) -> None:
        while not self._stop.is_set():
            batch = self._take()
            if batch:
                self._store(batch)

    def _store(self, batch) -> None:
        items = [BatchItem(self._connection_for(topic), PushRequest(body=payload, topic=topic,
                                                                     remote_addr=f"mqtt:{self.host}"))
                 for _, topic, payload, _, _ in batch]
        delay = 0.5
        while True:
            try:
                outcomes = service.handle_batch(self.db, items, var_dir=self.var_dir, transport="mqtt")
                break
            except Exception:
                # Nothing could be stored (database down): keep them unacknowledged and try again.
                log.exception("mqtt batch not stored; retrying", extra={"messages": len(batch)})
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 30.0)
        committed = time.monotonic()
        self.batches += 1
        self.handled += len(batch)
        self.failed += sum(1 for o in outcomes if o.status != 200)
        if self.on_stored is not None:
            self.on_stored([(b[1], b[2]) for b in batch], committed)
        with self._lock:
            generation = self._generation
        for gen, _, _, mid, qos in batch:
            # A message from before a reconnect will come again; its old packet id now means another message.
            if gen == generation and qos > 0:
                self.client.ack(mid, qos)

    def refresh(self) -> None:
        """Follow connection changes: subscribe new filters, drop removed ones."""
        wanted = wanted_subscriptions(self.db)
        with self._lock:
            added = [f for f in wanted if f not in self._subs]
            removed = [f for f in self._subs if f not in wanted]
            self._subs = wanted
        if self.client.is_connected():
            for f in added:
                self.client.subscribe(self._topic(f), qos=1)
            for f in removed:
                self.client.unsubscribe(self._topic(f))

    def start(self) -> None:
        self.refresh()
        self._batcher = threading.Thread(target=self._batch_loop, name="cityops-mqtt-batch", daemon=True)
        self._batcher.start()
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                                  properties=self._connect_props)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._watch, name="cityops-mqtt-refresh", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except Exception:
                log.exception("mqtt subscription refresh failed")

    def stop(self) -> None:
        """Finish the batch in hand (it is acknowledged), then disconnect; queued messages
        not yet stored stay unacknowledged and come again with the next session."""
        self._stop.set()
        if self._batcher:
            self._batcher.join(10)
        self.client.disconnect()
        self.client.loop_stop()
        if self._thread:
            self._thread.join(5)

    def wait_connected(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected.wait(0.1):
                return True
        return False
