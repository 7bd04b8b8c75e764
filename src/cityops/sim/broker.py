"""A private Mosquitto broker with the settings cityops ships (`data/mosquitto-cityops.conf`),
for the durability tests and `cityops bench ingest-mqtt`: the machine's shared broker keeps
its defaults (1,000 queued messages per client), which are wrong for a platform that must
not lose device messages while a worker restarts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

from cityops.sim.serve import free_port


class Broker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="cityops-mosquitto-"))
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def binary() -> str | None:
        found = shutil.which("mosquitto")
        return found or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)

    def start(self, timeout: float = 10.0) -> Broker:
        exe = self.binary()
        if exe is None:
            raise RuntimeError("mosquitto is not installed (Debian package 'mosquitto')")
        shipped = resources.files("cityops.data").joinpath("mosquitto-cityops.conf").read_text(encoding="utf-8")
        conf = self._dir / "mosquitto.conf"
        conf.write_text(shipped + f"\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        f"persistence_location {self._dir}/\nlog_dest file {self._dir}/mosquitto.log\n",
                        encoding="utf-8")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode(errors='replace')[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
