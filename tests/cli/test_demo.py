"""`cityops demo` as a newcomer runs it: a living district on the embedded defaults."""

import os
import re
import socket
import subprocess
import sys
import time

import httpx


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _occupy(port: int) -> socket.socket | None:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:  # taken already: just as good for this test
        s.close()
        return None
    s.listen()
    return s


def test_demo_serves_a_living_district(tmp_path):
    port = _port()
    # Something else listens on port + 1: the notification simulator must move, not kill the demo.
    blocker = _occupy(port + 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env["CITYOPS_LOG_JSON"] = "false"
    out = (tmp_path / "out.txt").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "cityops.cli.main", "demo", "--port", str(port),
                             "--var-dir", str(tmp_path / "var")], stdout=out, stderr=subprocess.STDOUT, env=env,
                            cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # generous: CI runs this beside a full parallel suite
        password = None
        while time.monotonic() < deadline and password is None:
            assert proc.poll() is None, open(out.name).read()
            m = re.search(r"password: (\S+)", open(out.name).read())
            password = m.group(1) if m else None
            time.sleep(0.3)
        assert password, "the demo prints the admin password once"
        healthy = False
        while time.monotonic() < deadline and not healthy:
            assert proc.poll() is None, open(out.name).read()
            try:
                healthy = httpx.get(base + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.3)
        assert healthy, open(out.name).read()
        printed = open(out.name).read()
        assert f"notification simulator (WeCom robot, SMS, voice): http://127.0.0.1:{port + 1}" not in printed
        token = httpx.post(base + "/api/v1/auth/token", data={"username": "admin", "password": password}).json()
        h = {"Authorization": f"Bearer {token['access_token']}"}
        online = 0
        while time.monotonic() < deadline and online < 20:
            assert proc.poll() is None, open(out.name).read()
            online = httpx.get(base + "/api/v1/devices?online=true&limit=1", headers=h).json()["total"]
            time.sleep(1)
        assert online >= 20, "simulated devices report over real HTTP"
        total = httpx.get(base + "/api/v1/devices?limit=1", headers=h).json()["total"]
        assert total > 2500
        channels = httpx.get(base + "/api/v1/notify/channels", headers=h).json()
        assert {c["kind"] for c in channels} >= {"wecom", "sms"}, "demo alarms reach the notification simulator"
        assert "Traceback" not in open(out.name).read()
    finally:
        proc.terminate()
        proc.wait(20)
        if blocker is not None:
            blocker.close()
