"""Real worker processes (`cityops serve --role worker`) and a private broker for the
durability and scale-out tests (IOT-2, IOT-5)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cityops.sim.broker import Broker, free_port
from tests.conftest import IN_CI


def private_broker() -> Broker:
    if Broker.binary() is None:
        if IN_CI:
            pytest.fail("mosquitto must be installed in CI (the durability tests start their own broker)")
        pytest.skip("mosquitto is not installed (outside CI)")
    return Broker().start()


class Worker:
    def __init__(self, settings, broker_url: str, client_id: str, log_path: Path) -> None:
        self.port = free_port()
        self.client_id = client_id
        env = {**os.environ, "CITYOPS_DATABASE_URL": settings.database_url, "CITYOPS_VAR_DIR": str(settings.var_dir),
               "CITYOPS_SECRET_KEY": settings.secret_key.get_secret_value(),
               "CITYOPS_AUDIT_KEY": settings.audit_key.get_secret_value(), "CITYOPS_MQTT_URL": broker_url,
               "CITYOPS_MQTT_CLIENT_ID": client_id, "CITYOPS_LOG_JSON": "false", "CITYOPS_LOG_LEVEL": "WARNING"}
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "cityops.cli.main", "serve", "--role", "worker",
                                      "--port", str(self.port)], env=env, stdout=self.log, stderr=self.log)

    def health(self) -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return {}

    def wait_ready(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}; see {self.log.name}")
            h = self.health()
            if h.get("mqtt", {}).get("connected"):
                return h
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout} s; see {self.log.name}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Publisher:
    """Publishes QoS 1 messages and tells which the broker acknowledged (PUBACK)."""

    def __init__(self, broker_url: str, client_id: str = "test-publisher") -> None:
        port = int(broker_url.rsplit(":", 1)[1])
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self._sent: list[tuple[int, mqtt.MQTTMessageInfo]] = []
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: dict, seq: int) -> None:
        self._sent.append((seq, self.client.publish(topic, json.dumps(payload).encode(), qos=1)))

    def acked(self) -> set[int]:
        return {seq for seq, info in self._sent if info.is_published()}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_for(pred, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()
