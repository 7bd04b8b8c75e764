"""The guided demonstration's scenario engine (VISIT-2): refused outside the demo, and in a demo
instance the waterlogging scenario runs the real path — a OneNET push through ingest, the
monitoring runtime's alarm, intake's event, the dispatch outbox to the dispatch simulator,
the unit's results through the dispatch results service, the clear and the verification —
to `closed` within 60 s."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import func, select

from cityops.app import create_app
from cityops.auth import service as users
from cityops.core.settings import Settings
from cityops.devices.models import Device, DeviceVersion
from cityops.demo import DEMO_DISPATCH_KEY, DEMO_DISPATCH_SCALE, DEMO_SEED, seed_dispatch
from cityops.dispatch.models import DispatchUpdate, WorkOrder
from cityops.events.intake_models import EventAlarmLink, EventVerification, IntakePolicy
from cityops.events.models import CityEvent, EventTransition
from cityops.monitoring.models import Alarm, AlarmComment
from cityops.screen import scenario as sc
from cityops.sim.dispatch import DispatchSim
from cityops.sim.dispatch import serve as serve_dispatch_sim
from cityops.sim.fleet import plan_fleet, register_fleet
from cityops.sim.serve import free_port, serve_app
from tests.conftest import PASSWORD, TEST_AUDIT_KEY, TEST_SECRET

FLEET_SIZE = 300  # 13 water-level sensors on OneNET among them


def _token(base: str, db, role: str = "duty") -> dict[str, str]:
    name = f"tour-{role}-{time.monotonic_ns()}"
    with db.session() as s:
        users.create_user(s, username=name, role=role, password=PASSWORD)
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": name, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _counts(db) -> dict[str, int]:
    with db.session() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (Alarm, CityEvent, WorkOrder, DispatchUpdate, IntakePolicy, AlarmComment)}


@pytest.fixture
def demo_instance(db_url, tmp_path):
    """A demo-mode instance served on loopback with its jobs and monitoring running, the demo
    fleet registered (not running) and the dispatch simulator as its platform."""
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var", secret_key=TEST_SECRET,
                        audit_key=TEST_AUDIT_KEY, log_json=False, demo_mode=True, callout_telephony="sim")
    app = create_app(settings, migrate=False, start_jobs=True)
    db = app.state.ctx.db
    port = free_port()
    register_fleet(db, plan_fleet(DEMO_SEED, FLEET_SIZE), f"http://127.0.0.1:{port}", actor="system:demo")
    dport = free_port()
    secret = seed_dispatch(db, f"http://127.0.0.1:{dport}", f"http://127.0.0.1:{port}")
    dsim = DispatchSim(api_key=DEMO_DISPATCH_KEY, seed=DEMO_SEED, time_scale=DEMO_DISPATCH_SCALE, return_rate=0.0,
                       failure_rate=0.0, callback_secret=secret)
    with serve_dispatch_sim(dsim, port=dport), serve_app(app, port=port, name="tour-demo") as base:
        yield app, base
        sc.engine_of(app).stop(10)
    db.dispose()


def test_outside_the_demo_a_scenario_is_refused_and_nothing_is_written(client, auth_headers, db, app):
    """VISIT-2: a production instance (demo_mode False) answers 409 and writes nothing."""
    assert app.state.ctx.settings.demo_mode is False
    before = _counts(db)
    r = client.post("/api/v1/screen/tour/scenarios", json={"name": "waterlogging"}, headers=auth_headers("admin"))
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "演示场景只能在演示环境中运行"
    assert _counts(db) == before
    assert sc.engine_of(app).runs == {}


def test_scenario_api_roles_and_unknown_names(client, auth_headers, app):
    app.state.ctx.settings.demo_mode = True  # this test app only: the checks before any run
    try:
        r = client.post("/api/v1/screen/tour/scenarios", json={"name": "waterlogging"},
                        headers=auth_headers("technician"))
        assert r.status_code == 403
        r = client.post("/api/v1/screen/tour/scenarios", json={"name": "typhoon"}, headers=auth_headers("manager"))
        assert r.status_code == 422 and "typhoon" in r.json()["detail"]
        r = client.get("/api/v1/screen/tour/scenarios/nope", headers=auth_headers("duty"))
        assert r.status_code == 404 and "内存" in r.json()["detail"]
    finally:
        app.state.ctx.settings.demo_mode = False


def test_without_a_water_sensor_the_run_stops_with_a_reason(client, auth_headers, app):
    """No fleet registered (the demo's simulators are not running): the run fails at its first
    step and says why."""
    app.state.ctx.settings.demo_mode = True
    try:
        h = auth_headers("duty")
        r = client.post("/api/v1/screen/tour/scenarios", json={"name": "waterlogging"}, headers=h)
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        assert sc.engine_of(app).wait(10)
        run = client.get(f"/api/v1/screen/tour/scenarios/{run_id}", headers=h).json()
        assert run["state"] == "failed" and "cityops demo" in run["reason"]
        assert run["steps"][0]["state"] == "failed" and run["steps"][1]["state"] == "pending"
    finally:
        app.state.ctx.settings.demo_mode = False


def test_waterlogging_runs_to_closed_within_a_minute(demo_instance):
    """VISIT-2 end to end over HTTP: 202, the second start 409, closed within 60 s, and the
    alarm, event and work order exist, are linked and carry the tour's marks."""
    app, base = demo_instance
    db = app.state.ctx.db
    api = httpx.Client(base_url=f"{base}/api/v1/screen/tour", headers=_token(base, db), timeout=30)
    started = time.monotonic()
    r = api.post("/scenarios", json={"name": "waterlogging"})
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["state"] == "running" and run["marker"].startswith("TOUR-")
    assert [s["name"] for s in run["steps"]][:3] == ["device", "policy", "reading"]
    again = api.post("/scenarios", json={"name": "waterlogging"})
    assert again.status_code == 409 and "正在进行" in again.json()["detail"]

    while time.monotonic() - started < 60:
        run = api.get(f"/scenarios/{run['id']}").json()
        if run["state"] != "running":
            break
        time.sleep(0.5)
    assert run["state"] == "closed", run
    assert time.monotonic() - started < 60
    assert all(s["state"] == "done" and s["at"] for s in run["steps"])
    ats = [s["at"] for s in run["steps"]]
    assert ats == sorted(ats) and ats[0].endswith("+08:00")

    refs = run["refs"]
    with db.session() as s:
        alarm = s.get(Alarm, refs["alarm_id"])
        assert alarm.device_id == refs["device_id"] and alarm.alarm_type.startswith("积水")
        assert alarm.state == "cleared" and alarm.source == "rule"
        note = s.scalar(select(AlarmComment).where(AlarmComment.alarm_id == alarm.id))
        assert note.author == "system:tour" and note.text.startswith(run["marker"])
        link = s.scalar(select(EventAlarmLink).where(EventAlarmLink.alarm_id == alarm.id))
        policy = s.get(IntakePolicy, link.policy_id)
        assert policy.name == sc.TOUR_POLICY and policy.created_by == "system:tour"
        ev = s.get(CityEvent, refs["event_id"])
        assert ev.number == refs["event_number"] and ev.state == "closed" and ev.source_kind == "iot_alarm"
        assert link.event_id == ev.id
        order = s.get(WorkOrder, refs["order_id"])
        assert order.event_id == ev.id and order.state == "disposed" and order.external_id == refs["order_external_id"]
        ups = list(s.scalars(select(DispatchUpdate).where(DispatchUpdate.order_id == order.id,
                                                          DispatchUpdate.source == "tour")
                             .order_by(DispatchUpdate.at)))
        assert [u.update_id for u in ups] == [f"{run['marker']}-{i}" for i in (1, 2, 3)]
        ver = s.get(EventVerification, refs["verification_id"])
        assert ver.passed is True and ver.actor == "system:tour" and ver.kind == "manual"
        states = [t.to_state for t in s.scalars(select(EventTransition).where(EventTransition.event_id == ev.id)
                                                .order_by(EventTransition.id))]
        assert states == ["reported", "accepted", "dispatched", "in_progress", "disposed", "verified", "closed"]
        marks = sc.tour_marks(s)
        # the tag came off again: the sensor's next alarms go through the demo's own 积水 policy
        device = s.get(Device, refs["device_id"])
        assert sc.TOUR_TAG not in [t.name for t in device.tags]
        assert s.scalar(select(DeviceVersion.reason).where(DeviceVersion.device_id == device.id)
                        .order_by(DeviceVersion.version.desc()).limit(1)) == "导览演示场景结束（演示环境）"
    assert marks == {"alarms": [alarm.id], "events": [ev.id], "orders": [order.id]}
    assert sc.at_of(run, "closed") is not None
    # "再次注入": once the run has ended the presenter may start the next one
    r = api.post("/scenarios", json={"name": "waterlogging"})
    assert r.status_code == 202 and r.json()["id"] != run["id"]
    listed = api.get("/scenarios").json()["runs"]
    assert [x["id"] for x in listed] == [r.json()["id"], run["id"]]


def test_cleanups_run_however_the_run_ends(monkeypatch):
    """What a scenario set up for itself is undone when it fails too; a cleanup that breaks is
    logged and does not change the run's outcome."""
    from types import SimpleNamespace

    undone: list[str] = []

    def body(r):
        r.on_exit(lambda: undone.append("tag"))
        r.on_exit(lambda: 1 / 0)
        raise sc.ScenarioFailed("第二步失败")

    monkeypatch.setitem(sc.SCENARIOS, "broken", sc.Scenario("broken", "测试", (("one", "第一步"),), body))
    eng = sc.ScenarioEngine(SimpleNamespace(settings=SimpleNamespace(demo_mode=True), db=None))
    run = eng.start("broken", started_by="tester")
    assert eng.wait(5)
    snap = eng.snapshot(run.id)
    assert snap["state"] == "failed" and snap["reason"] == "第二步失败"
    assert undone == ["tag"]
