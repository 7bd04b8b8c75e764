"""MQTT intake (IOT-2): one consumer per worker process, on shared subscriptions.

Every worker subscribes to `$share/cityops/<filter>` for each MQTT connection's topic
filters, so the broker spreads device traffic over the workers. Messages arrive with
QoS 1 and are acknowledged only after the pipeline has stored them (or dead-lettered
them): a crash before that makes the broker deliver the message again.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cityops.connectors import registry
from cityops.connectors.base import PushRequest
from cityops.core.db import Database
from cityops.ingest import service
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


class MqttConsumer:
    def __init__(self, db: Database, url: str, *, var_dir=None, client_id: str = "", refresh_s: float = 15.0,
                 shared: bool = True):
        self.db = db
        self.host, self.port, user, password, tls = parse_url(url)
        self.var_dir = var_dir
        self.refresh_s = refresh_s
        self.shared = shared
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                                  manual_ack=True)
        if user:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 30)
        self._subs: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.handled = 0
        self.failed = 0

    def _topic(self, f: str) -> str:
        return f"$share/{SHARE_GROUP}/{f}" if self.shared else f

    def _on_connect(self, client, _userdata, _flags, reason_code, _props):
        if reason_code.is_failure:
            log.error("mqtt connect refused", extra={"reason": str(reason_code)})
            return
        with self._lock:
            for f in self._subs:
                client.subscribe(self._topic(f), qos=1)
        self.connected.set()
        log.info("mqtt connected", extra={"broker": f"{self.host}:{self.port}", "filters": len(self._subs)})

    def _connection_for(self, topic: str) -> int | None:
        with self._lock:
            for f, conn_id in self._subs.items():
                if mqtt.topic_matches_sub(f, topic):
                    return conn_id
        return None

    def _on_message(self, client, _userdata, msg):
        conn_id = self._connection_for(msg.topic)
        req = PushRequest(body=bytes(msg.payload), topic=msg.topic, remote_addr=f"mqtt:{self.host}")
        try:
            if conn_id is None:
                service.dead_letter(self.db, connection_id=None, req=req, transport="mqtt", status=404,
                                    reason=f"no connection subscribes to topic {msg.topic!r}")
            else:
                outcome = service.handle_push(self.db, conn_id, req, var_dir=self.var_dir, transport="mqtt")
                if outcome.status != 200:
                    self.failed += 1
            self.handled += 1
        except Exception:
            # Not stored anywhere: do not acknowledge, the broker will deliver it again.
            log.exception("mqtt message not handled", extra={"topic": msg.topic})
            return
        client.ack(msg.mid, msg.qos)

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
        self.client.connect_async(self.host, self.port, keepalive=30)
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
        self._stop.set()
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
