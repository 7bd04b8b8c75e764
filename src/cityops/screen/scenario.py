"""Simulated scenarios for the guided demonstration (VISIT-2).

A presenter injects a scenario into the demo district and the wall watches it go through the
platform's REAL path. The only scenario so far, `waterlogging` (积水):

1. pick a simulated OneNET water-level sensor of the demo fleet (one with no open alarm and no
   open 积水 event nearby, so nothing merges into an unrelated event);
2. make sure the demo's intake takes that sensor's alarms at once: a tag "导览演示" on the
   sensor and an intake policy on that tag (立案 and 派遣 at once, no verification hold).
   The demo's default 积水 policy waits 60 s before 立案 and 5 min before 结案 — too slow for
   a one-minute demonstration. The monitoring rules need nothing: the water-level product's
   default range rule (积水深度 ≥ 15 cm → "积水深度超上限") already raises the alarm.
   When the run ends, closed or not, the tag comes off the sensor again;
3. push a 28.6 cm reading as the sensor's OneNET platform would (the signed wire bytes through
   `ingest.service.handle_push`: connector, storage, bus) — the monitoring runtime raises the
   alarm by its rules, event intake makes it a city event and dispatches it, the dispatch
   outbox submits the work order to the platform (the demo's dispatch simulator);
4. act as the responsible unit: the demo's simulated units take minutes, so the scenario feeds
   受理 / 处置中 / 已处置 through `dispatch.results.store` — the service the platform's
   callbacks go through;
5. push a 0 cm reading: monitoring clears the alarm;
6. request the verification as the duty officer's "立即核查" does (`events.verify.verify_event`,
   kind manual): alarm cleared, device online → verified and closed.

Nothing here writes another domain's tables: every write goes through that domain's service
(ingest, devices, intake, monitoring comments, dispatch results, verification).

Refused unless `Settings.demo_mode` (only `cityops demo` sets it): a production instance never
runs a scenario. What the scenario writes itself is marked: actor / created_by "system:tour"
(tag, policy, device version, alarm note, verification), and the dispatch updates' ids and the
alarm note carry the run's "TOUR-…" reference. The alarm, event and work order are written by monitoring, intake
and dispatch as for any alarm; they are recognisable by the tag on the device, the policy that
took the alarm (`event_alarm_links.policy_id`) and the TOUR- notes (`tour_marks`).

Runs live in memory (`ScenarioEngine`, one per app): a run is a demo artefact and a restart
forgets it; what it caused stays in the database like any other event.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from cityops.audit.context import acting_as
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.schemas import iso
from cityops.core.timeutil import aware, utcnow

log = logging.getLogger(__name__)

ACTOR = "system:tour"
REF_PREFIX = "TOUR-"
NOT_DEMO = "演示场景只能在演示环境中运行"
TOUR_TAG = "导览演示"  # custom tag on the sensors a scenario uses
TOUR_POLICY = "导览演示：道路积水即时立案"
WATER_CATEGORY = "040101"  # the 积水 leaf the default 积水 policy files under
HIGH_LEVEL_CM = 28.6
KEEP_RUNS = 20

STATE_LABELS = {"running": "进行中", "closed": "已结案", "failed": "已中止"}
STEP_STATES = ("pending", "running", "done", "failed")


class ScenarioFailed(Exception):
    """A step could not go on; the message is shown to the presenter (Chinese)."""


@dataclass
class Step:
    name: str
    label: str
    state: str = "pending"
    at: datetime | None = None
    ref: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "state": self.state, "at": iso(self.at),
                "ref": self.ref, "detail": self.detail}


@dataclass
class Run:
    id: str
    name: str
    label: str
    started_by: str
    steps: list[Step]
    state: str = "running"
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    reason: str = ""
    refs: dict[str, Any] = field(default_factory=dict)  # ids of what the run caused (tests, the page)

    @property
    def marker(self) -> str:
        return REF_PREFIX + self.id.upper()

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def as_dict(self) -> dict[str, Any]:
        end = self.finished_at or utcnow()
        return {"id": self.id, "name": self.name, "label": self.label, "marker": self.marker,
                "state": self.state, "state_label": STATE_LABELS[self.state], "started_by": self.started_by,
                "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
                "elapsed_s": round((end - self.started_at).total_seconds(), 1), "reason": self.reason,
                "refs": dict(self.refs), "steps": [s.as_dict() for s in self.steps]}


# -- scenarios ----------------------------------------------------------------------------------

WATERLOGGING_STEPS = (
    ("device", "选取演示积水监测点"),
    ("policy", "准备演示立案策略"),
    ("reading", "传感器上报水位超限"),
    ("alarm", "监测规则触发积水告警"),
    ("event", "告警自动立案为城市事件"),
    ("dispatch", "智能派单：工单推送派单平台"),
    ("accepted", "责任单位受理"),
    ("in_progress", "现场处置中"),
    ("disposed", "处置完成，反馈结果"),
    ("recovered", "水位回落，告警消除"),
    ("closed", "核查通过，事件结案"),
)


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    steps: tuple[tuple[str, str], ...]
    body: Callable[..., None]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label,
                "steps": [{"name": n, "label": lbl} for n, lbl in self.steps]}


class _Runner:
    """Helpers a scenario body uses: marks steps, waits for the platform, paces the show."""

    def __init__(self, engine: ScenarioEngine, run: Run):
        self.engine, self.run = engine, run
        self.db = engine.ctx.db
        self.cleanups: list[Callable[[], None]] = []  # run by the engine when the body ends, however

    def on_exit(self, fn: Callable[[], None]) -> None:
        self.cleanups.append(fn)

    def begin(self, name: str) -> Step:
        st = self.run.step(name)
        with self.engine.lock:
            st.state, st.at = "running", utcnow()
        return st

    def done(self, name: str, ref: str = "", detail: str = "") -> None:
        st = self.run.step(name)
        with self.engine.lock:
            st.state, st.at, st.ref, st.detail = "done", utcnow(), ref, detail

    def wait(self, what: str, probe: Callable[[], Any], timeout_s: float) -> Any:
        """Poll `probe` (a fresh session each time) until it returns something truthy."""
        deadline = time.monotonic() + timeout_s * self.engine.patience
        while True:
            got = probe()
            if got:
                return got
            if time.monotonic() > deadline or self.engine.stopping.is_set():
                raise ScenarioFailed(what)
            time.sleep(0.25)

    def pause(self) -> None:
        """A beat between the unit's steps, so the audience sees each one land."""
        self.engine.stopping.wait(self.engine.pace_s)


def _water_sensor(session, now: datetime):
    """A simulated OneNET water-level sensor with no open alarm and no open 积水 event nearby."""
    from cityops.devices.models import Device
    from cityops.events import service as events
    from cityops.ingest.models import Connection
    from cityops.monitoring.models import Alarm

    cat = events.category_by_code(session, WATER_CATEGORY)
    busy = set(session.scalars(select(Alarm.device_id).where(Alarm.state != "cleared")))
    candidates = session.scalars(select(Device).join(Connection, Connection.id == Device.connection_id)
                                 .where(Device.device_type == "water_level", Device.platform == "onenet",
                                        Device.status == "active", Connection.kind == "onenet",
                                        Connection.enabled.is_(True))
                                 .order_by(Device.id.desc()))
    for d in candidates:
        if not (d.extra or {}).get("simulated") or d.id in busy or d.lon is None:
            continue
        if events.find_merge_target(session, cat, d.lon, d.lat, now) is not None:
            continue
        return d
    return None


def _ensure_policy(session, device_id: int) -> tuple[int, int]:
    """The tour tag on the sensor and the intake policy on that tag (created once)."""
    from cityops.devices import service as devices
    from cityops.devices.models import Tag
    from cityops.events import intake

    tag = session.scalar(select(Tag).where(Tag.category == "custom", Tag.name == TOUR_TAG))
    if tag is None:
        tag = devices.create_tag(session, category="custom", name=TOUR_TAG, color="#7c3aed",
                                 description="导览演示场景使用的模拟设备（VISIT-2，仅演示环境）")
    devices.tag_devices(session, tag.id, device_ids=[device_id], reason="导览演示场景（演示环境）")
    policy = next((p for p in intake.list_policies(session) if p.name == TOUR_POLICY), None)
    wanted = dict(priority=1000, alarm_type="积水*", device_type="water_level", tag_id=tag.id, action="event",
                  category_code=WATER_CATEGORY, auto_accept=True, auto_dispatch=True, min_active_s=0,
                  verify_hold_min=0, enabled=True)
    if policy is None:
        policy = intake.create_policy(session, name=TOUR_POLICY, created_by=ACTOR, min_severity="info",
                                      note="演示环境：导览场景的积水告警即时立案并派遣，核查不设观察期（VISIT-2）",
                                      **wanted)
    elif any(getattr(policy, k) != v for k, v in wanted.items()):
        intake.update_policy(session, policy.id, **wanted)
    return tag.id, policy.id


def _release(db, device_id: int, tag_id: int) -> None:
    """Take the tour tag off the sensor again, so its later alarms go through the demo's own
    积水 policy (the tour policy matches only tagged devices and stays for the next run)."""
    from cityops.devices import service as devices

    with acting_as(ACTOR), db.session() as s:
        devices.tag_devices(s, tag_id, device_ids=[device_id], remove=True, reason="导览演示场景结束（演示环境）")


def _push_level(db, device_id: int, level: float) -> int:
    """One water-level reading as the sensor's OneNET platform pushes it, through the ingest
    pipeline (connector, storage, bus). Returns the number of stored messages."""
    from cityops.connectors.base import PushRequest
    from cityops.devices.models import Device
    from cityops.ingest import service as ingest
    from cityops.ingest.models import Connection
    from cityops.sim.wire import onenet

    with db.session() as s:
        d = s.get(Device, device_id)
        conn = s.get(Connection, d.connection_id)
        token, aes_key, conn_id, dev_id, imei = (conn.settings.get("token", ""), conn.settings.get("aes_key"),
                                                 conn.id, d.external_id, d.imei or None)
    body, headers, query = onenet.data_points(dev_id, {"water_level": level, "battery": 86}, token=token,
                                              aes_key=aes_key, imei=imei)
    req = PushRequest(body=body, headers={k.lower(): v for k, v in headers.items()}, query=dict(query),
                      remote_addr="127.0.0.1")
    out = ingest.handle_push(db, conn_id, req, transport="http")
    if out.status != 200 or out.accepted < 1:
        raise ScenarioFailed(f"读数未被接入：{out.reason or out.status}")
    return out.accepted


def waterlogging(r: _Runner) -> None:
    """积水 → 告警 → 事件 → 派单 → 处置 → 核查 → 结案 (see the module docstring)."""
    from cityops.dispatch import results
    from cityops.dispatch import service as dispatch
    from cityops.dispatch.adapters.base import ExternalState, Update
    from cityops.events import verify
    from cityops.events.intake_models import EventAlarmLink
    from cityops.events.models import CityEvent
    from cityops.geo.models import ResponsibleUnit
    from cityops.monitoring import comments
    from cityops.monitoring.models import Alarm

    db, run = r.db, r.run
    mark = run.marker

    r.begin("device")
    with db.session() as s:
        d = _water_sensor(s, utcnow())
        if d is None:
            raise ScenarioFailed("没有可用的模拟积水监测设备：请在 `cityops demo` 启动的演示环境中运行"
                                 "（模拟设备群登记后才有积水传感器），或等候正在进行的积水告警结束")
        device_id, device_label = d.id, f"{d.code} {d.name}"
        last_alarm = s.scalar(select(func.max(Alarm.id))) or 0
    run.refs["device_id"] = device_id
    r.done("device", device_label)

    r.begin("policy")
    with acting_as(ACTOR), db.session() as s:
        tag_id, policy_id = _ensure_policy(s, device_id)
    r.on_exit(lambda: _release(db, device_id, tag_id))
    run.refs["policy_id"] = policy_id
    r.done("policy", TOUR_POLICY)

    r.begin("reading")
    _push_level(db, device_id, HIGH_LEVEL_CM)
    r.done("reading", f"积水深度 {HIGH_LEVEL_CM} cm", "OneNET 推送经接入管道入库（签名校验、解析、存储、发布）")

    r.begin("alarm")

    def alarm_raised():
        with db.session() as s:
            return s.scalar(select(Alarm.id).where(Alarm.device_id == device_id, Alarm.id > last_alarm,
                                                   Alarm.alarm_type.like("积水%")).order_by(Alarm.id).limit(1))

    alarm_id = r.wait("20 秒内没有产生积水告警：监测引擎未运行或积水规则已被停用（/console/rules）",
                      alarm_raised, 20)
    with acting_as(ACTOR), db.session() as s:
        a = s.get(Alarm, alarm_id)
        alarm_label = f"告警 #{a.id} {a.alarm_type}"
        comments.add_comment(s, alarm_id, author=ACTOR, text=f"{mark}：导览演示场景注入的模拟读数（演示环境）")
    run.refs["alarm_id"] = alarm_id
    r.done("alarm", alarm_label)

    r.begin("event")

    def linked():
        with db.session() as s:
            ln = s.scalar(select(EventAlarmLink).where(EventAlarmLink.alarm_id == alarm_id))
            return (ln.outcome, ln.event_id, ln.note) if ln is not None else None

    outcome, event_id, note = r.wait("20 秒内告警未立案：事件立案任务未运行", linked, 20)
    if outcome == "ignored" or event_id is None:
        raise ScenarioFailed(f"告警未立案：{note or '立案策略未接收该告警'}")
    with db.session() as s:
        number = s.get(CityEvent, event_id).number
    run.refs["event_id"], run.refs["event_number"] = event_id, number
    r.done("event", f"事件 {number}")

    r.begin("dispatch")

    def submitted():
        with db.session() as s:
            ev = s.get(CityEvent, event_id)
            order = dispatch.current_order(s, event_id)
            if order is None and ev.state not in ("reported", "accepted"):
                raise ScenarioFailed("事件已线下派遣（没有在用的派单平台），无法演示派单平台闭环")
            return (order.id, order.external_id, order.platform_id) if order and order.external_id else None

    try:
        order_id, external_id, platform_id = r.wait("30 秒内工单未送达派单平台（/console/dispatch 查看发件箱）",
                                                    submitted, 30)
    except ScenarioFailed:
        with db.session() as s:
            ln = s.scalar(select(EventAlarmLink).where(EventAlarmLink.alarm_id == alarm_id))
            if ln is not None and ln.note:
                raise ScenarioFailed(ln.note) from None
        raise
    run.refs["order_id"], run.refs["order_external_id"] = order_id, external_id
    r.done("dispatch", f"工单 {external_id}")

    with db.session() as s:
        ev = s.get(CityEvent, event_id)
        unit = s.get(ResponsibleUnit, ev.unit_id) if ev.unit_id else None
        unit_code, unit_name = (unit.code, unit.name) if unit else ("", "责任单位")

    def feed(step: str, n: int, state: ExternalState, raw: str, text: str) -> None:
        r.pause()
        r.begin(step)
        u = Update(update_id=f"{mark}-{n}", external_id=external_id, state=state, raw_status=raw, at=utcnow(),
                   text=text, unit_code=unit_code or None, unit_name=unit_name, raw={"tour": mark})
        with acting_as(ACTOR), db.session() as s:
            platform = dispatch.get_platform(s, platform_id)
            _row, outcome = results.store(s, platform, u, source="tour")
        r.done(step, unit_name, outcome)

    feed("accepted", 1, ExternalState.ACCEPTED, "accepted", "已受理，安排泵车前往（演示）")
    feed("in_progress", 2, ExternalState.IN_PROGRESS, "open", "现场排水作业中（演示）")
    feed("disposed", 3, ExternalState.DISPOSED, "closed", "雨水口已疏通，积水已排除（演示）")
    with db.session() as s:
        if s.get(CityEvent, event_id).state != "disposed":
            raise ScenarioFailed(f"事件未进入处置完成状态（当前：{s.get(CityEvent, event_id).state}）")

    r.pause()
    r.begin("recovered")
    _push_level(db, device_id, 0.0)

    def cleared():
        with db.session() as s:
            return s.scalar(select(Alarm.state).where(Alarm.id == alarm_id)) == "cleared"

    r.wait("20 秒内告警未消除：监测引擎未处理回落读数", cleared, 20)
    r.done("recovered", "积水深度 0.0 cm", f"告警 #{alarm_id} 已消除")

    r.begin("closed")
    with acting_as(ACTOR), db.session() as s:
        row = verify.verify_event(s, event_id, kind="manual", actor=ACTOR)
        passed, reason, vid = row.passed, row.reason, row.id
    run.refs["verification_id"] = vid
    if not passed:
        raise ScenarioFailed(f"核查未通过：{reason}")
    r.done("closed", f"事件 {number}", reason)


SCENARIOS: dict[str, Scenario] = {
    "waterlogging": Scenario("waterlogging", "道路积水：告警 → 立案 → 派单 → 处置 → 核查 → 结案",
                             WATERLOGGING_STEPS, waterlogging),
}


# -- the engine ---------------------------------------------------------------------------------

class ScenarioEngine:
    """Runs scenarios one at a time on a background thread; keeps the last runs in memory."""

    def __init__(self, ctx, *, pace_s: float = 5.0, patience: float = 1.0):
        self.ctx = ctx
        self.pace_s = pace_s  # the beat between the simulated unit's steps
        self.patience = patience  # multiplies every wait (a slow CI machine may need more)
        self.lock = threading.Lock()
        self.runs: dict[str, Run] = {}
        self.current: Run | None = None
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.ctx.settings.demo_mode)

    def start(self, name: str, *, started_by: str) -> Run:
        if not self.enabled:
            raise Conflict(NOT_DEMO)
        scenario = SCENARIOS.get(name)
        if scenario is None:
            raise Invalid(f"没有名为“{name}”的演示场景（可用：{'、'.join(SCENARIOS)}）")
        with self.lock:
            if self.current is not None and self.current.state == "running":
                raise Conflict(f"演示场景“{SCENARIOS[self.current.name].label}”正在进行（{self.current.id}），"
                               "请等它结束后再注入")
            run = Run(id=secrets.token_hex(4), name=name, label=scenario.label, started_by=started_by,
                      steps=[Step(n, lbl) for n, lbl in scenario.steps])
            self.runs[run.id] = run
            for old in list(self.runs)[:-KEEP_RUNS]:
                self.runs.pop(old, None)
            self.current = run
            self._thread = threading.Thread(target=self._work, args=(scenario, run), name=f"tour-{run.id}",
                                            daemon=True)
        self._thread.start()
        return run

    def _work(self, scenario: Scenario, run: Run) -> None:
        log.info("tour scenario started", extra={"run": run.id, "scenario": run.name})
        runner = _Runner(self, run)
        try:
            scenario.body(runner)
            state, reason = "closed", ""
        except ScenarioFailed as exc:
            state, reason = "failed", str(exc)
        except Exception as exc:  # a bug or the database: say so on the presenter page, keep the trace in the log
            log.exception("tour scenario failed", extra={"run": run.id})
            state, reason = "failed", f"内部错误：{type(exc).__name__}: {exc}"
        for fn in reversed(runner.cleanups):
            try:
                fn()
            except Exception:  # the run's outcome stands; the log says what was left behind
                log.exception("tour scenario cleanup failed", extra={"run": run.id})
        with self.lock:
            for st in run.steps:
                if st.state == "running":
                    st.state, st.at, st.detail = "failed", utcnow(), reason
            run.state, run.reason, run.finished_at = state, reason, utcnow()
        log.info("tour scenario ended", extra={"run": run.id, "state": state, "reason": reason})

    def get(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise NotFound(f"演示场景运行记录 {run_id} 不存在（运行记录只保存在内存中，服务重启后清空）")
        return run

    def snapshot(self, run_id: str) -> dict[str, Any]:
        with self.lock:
            return self.get(run_id).as_dict()

    def recent(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.as_dict() for r in reversed(list(self.runs.values()))]

    def wait(self, timeout: float | None = None) -> bool:
        """Join the running scenario's thread (tests, shutdown). True when none is running."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.wait(timeout)


_engine_lock = threading.Lock()


def engine_of(app) -> ScenarioEngine:
    """The app's scenario engine (created on first use)."""
    with _engine_lock:
        eng = getattr(app.state, "tour_scenarios", None)
        if eng is None:
            eng = app.state.tour_scenarios = ScenarioEngine(app.state.ctx)
        return eng


def tour_marks(session, *, since: datetime | None = None) -> dict[str, list[int]]:
    """What scenarios left in the database, found by their marks: the alarms noted with a TOUR-
    reference, the events intake filed under the tour policy, their work orders."""
    from cityops.dispatch.models import WorkOrder
    from cityops.events.intake_models import EventAlarmLink, IntakePolicy
    from cityops.monitoring.models import AlarmComment

    since = since or utcnow() - timedelta(days=3650)
    alarms = sorted(set(session.scalars(select(AlarmComment.alarm_id).where(
        AlarmComment.author == ACTOR, AlarmComment.text.like(REF_PREFIX + "%"), AlarmComment.at >= since))))
    policy = session.scalar(select(IntakePolicy.id).where(IntakePolicy.name == TOUR_POLICY))
    events = sorted(set(session.scalars(select(EventAlarmLink.event_id).where(
        EventAlarmLink.policy_id == policy, EventAlarmLink.event_id.is_not(None),
        EventAlarmLink.at >= since)))) if policy is not None else []
    orders = sorted(session.scalars(select(WorkOrder.id).where(WorkOrder.event_id.in_(events)))) if events else []
    return {"alarms": alarms, "events": events, "orders": orders}


def at_of(run: dict[str, Any], step: str) -> datetime | None:
    """When a step of a run snapshot finished (tests)."""
    value = next((s["at"] for s in run["steps"] if s["name"] == step), None)
    return aware(datetime.fromisoformat(value)) if value else None
