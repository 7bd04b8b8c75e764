"""The big screen's live stream (SYS-SCREEN) over real HTTP: Server-Sent Events with every
panel first, then only what changed — a new alarm reaches the wall within 3 s — and the
stream stops when the screen goes away."""

import json
import time

import httpx

from cityops.monitoring import service as monitoring
from cityops.screen.cache import cache_of
from cityops.screen.panels import PANELS
from tests.screen.screen_seed import seed


def _events(lines, until, deadline):
    """Read SSE lines into (event, data) pairs until `until(pairs)` or the deadline."""
    pairs, event, data = [], None, []
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and event:
            pairs.append((event, json.loads("\n".join(data))))
            event, data = None, []
            if until(pairs):
                break
        if time.monotonic() > deadline:
            break
    return pairs


def test_stream_sends_all_panels_then_changes(app, db, live_server, auth_headers):
    sd = seed(db)
    headers = auth_headers("duty")
    cache = cache_of(app)
    calls = []
    real_all = cache.all

    def counting_all(street=None):
        calls.append(time.monotonic())
        return real_all(street)

    cache.all = counting_all
    with httpx.Client(base_url=live_server, timeout=httpx.Timeout(30.0)) as http:
        assert http.get("/screen/stream").status_code == 401
        with http.stream("GET", "/screen/stream", headers=headers) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["cache-control"] == "no-cache" and r.headers["x-accel-buffering"] == "no"
            lines = r.iter_lines()
            assert next(lines) == "retry: 3000"
            first = _events(lines, lambda p: len(p) == len(PANELS), time.monotonic() + 30)
            assert [e for e, _ in first] == ["panel"] * len(PANELS)
            snaps = {d["name"]: d for _, d in first}
            assert set(snaps) == set(PANELS) and snaps["alarms"]["data"]["active"] == 1

            with db.session() as s:  # a new alarm, raised through the monitoring service
                monitoring.raise_alarm(s, device_id=sd.device_a, alarm_type="smoke", severity="critical",
                                       source="rule", message="烟雾浓度超限")
            raised = time.monotonic()
            got = _events(lines, lambda p: any(d["name"] == "alarms" for _, d in p), raised + 3)
            assert time.monotonic() - raised < 3
            alarms = next(d for _, d in got if d["name"] == "alarms")
            assert alarms["version"] != snaps["alarms"]["version"]
            assert alarms["data"]["active"] == 2 and alarms["data"]["by_severity"]["critical"] == 1
            assert all(d["name"] != "duty" for _, d in got)  # unchanged panels are not sent again
        closed = time.monotonic()
        time.sleep(2.5)
        assert not [t for t in calls if t > closed + 1.5]  # the generator stopped with the client


def test_stream_for_a_street_user(app, db, live_server, auth_headers):
    sd = seed(db)
    headers = auth_headers("street", street_code=sd.b)
    with httpx.Client(base_url=live_server, timeout=httpx.Timeout(30.0)) as http:
        r = http.get("/screen/stream", params={"street": sd.a}, headers=headers)
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        with http.stream("GET", "/screen/stream", headers=headers) as r:
            lines = r.iter_lines()
            assert next(lines) == "retry: 3000"
            got = _events(lines, lambda p: len(p) == len(PANELS), time.monotonic() + 30)
            devices = next(d for _, d in got if d["name"] == "devices")
            assert devices["data"]["total"] == 1
