"""What `cityops demo` adds on top of the reference data: an admin account and demo
contacts, all clearly fictional, and the simulated device fleet (IOT-2)."""

from __future__ import annotations

import secrets
import string

from sqlalchemy import select

from cityops.audit.context import acting_as
from cityops.auth import service as users
from cityops.auth.models import User
from cityops.core.db import Database
from cityops.geo.models import ResponsibleUnit

DEMO_SEED = 20240601  # the demo district's fleet; same seed, same devices on every start
DEMO_FLEET_SIZE = 3000


def generate_password(length: int = 16) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


def prepare_demo(db: Database) -> str | None:
    """Returns the new admin password, or None when the admin already existed."""
    password = None
    with acting_as("system:demo"), db.session() as s:
        if s.scalar(select(User.id).where(User.username == "admin")) is None:
            password = generate_password()
            users.create_user(s, username="admin", role="admin", password=password, display_name="系统管理员（演示）")
        for i, unit in enumerate(s.scalars(select(ResponsibleUnit).order_by(ResponsibleUnit.code)), start=1):
            if not unit.contact_name:
                # 021-5555xxxx is not an assigned Shanghai range: demo data must not ring a real phone.
                unit.contact_name = "演示联系人"
                unit.contact_phone = f"021-5555{i:04d}"
                unit.duty_phone = f"021-5556{i:04d}"
    return password


def seed_notifications(db: Database, sim_url: str) -> bool:
    """The demo duty team, its shifts, the notification simulator's channels and one routing
    policy (IOT-5), once; False when they exist already."""
    from cityops.duty.service import seed_demo

    with acting_as("system:demo"), db.session() as s:
        return seed_demo(s, sim_url=sim_url)


DEMO_DISPATCH_KEY = "demo-dispatch-key"
DEMO_DISPATCH_SCALE = 0.05  # the simulated units work 20× faster: a work order comes back in minutes


def seed_dispatch(db: Database, sim_url: str, callback_base_url: str) -> str:
    """The demo's dispatch platform (IOT-7) pointing at the dispatch simulator, once; its
    address is refreshed on every start. Returns the callback secret the simulator signs with."""
    from cityops.dispatch import service as dispatch

    settings = {"base_url": sim_url, "api_key": DEMO_DISPATCH_KEY, "jurisdiction_id": "changning.sh.gov.cn",
                "timeout_s": 5.0}
    with acting_as("system:demo"), db.session() as s:
        existing = next((p for p in dispatch.list_platforms(s) if p.name == "区智能派单平台（模拟）"), None)
        if existing is None:
            existing = dispatch.create_platform(s, name="区智能派单平台（模拟）", kind="open311", settings=settings,
                                                callback_base_url=callback_base_url, poll_interval_s=30,
                                                status_check_after_min=10, is_default=True)
        elif existing.settings.get("base_url") != sim_url or existing.callback_base_url != callback_base_url:
            dispatch.update_platform(s, existing.id, settings=settings, callback_base_url=callback_base_url)
        return existing.callback_secret


DEMO_VERIFY_HOLD_MIN = 5


def shorten_scene(db: Database) -> None:
    """The guided waterlogging scene should end within a quarter of an hour: the demo's
    积水 policy waits 5 minutes (not 30) of dry road before closing the event. Only a policy
    still at its default is changed, once."""
    from cityops.events import intake

    with acting_as("system:demo"), db.session() as s:
        for p in intake.list_policies(s):
            if p.name == "道路积水超限" and p.verify_hold_min == 30:
                intake.update_policy(s, p.id, verify_hold_min=DEMO_VERIFY_HOLD_MIN,
                                     note=p.note + "（演示环境：核查观察期缩短为 5 分钟）")


def start_simulators(app_or_ctx, base_url: str, *, seed: int = DEMO_SEED, size: int = DEMO_FLEET_SIZE,
                     period_s: float = 60.0, mqtt_url: str | None = None, **runner_options):
    """Register the simulated Changning fleet (once; idempotent) and start it against the
    running platform at `base_url` (IOT-2). Returns the started `FleetRunner`; call its
    `stop()` at shutdown.

    `app_or_ctx` is the FastAPI app (its `state.ctx`) or the AppContext. `mqtt_url` defaults to
    the settings' CITYOPS_MQTT_URL (pass "" to keep the MQTT devices quiet); without a broker
    the mqtt_json devices are not run. The runner waits (up to 30 s) for /healthz before it
    sends, so it may be started just before the server listens."""
    from cityops.sim.fleet import plan_fleet, register_fleet
    from cityops.sim.runner import FleetRunner

    ctx = getattr(getattr(app_or_ctx, "state", None), "ctx", None) or app_or_ctx
    if mqtt_url is None:
        mqtt_url = ctx.settings.mqtt_url
    fleet = plan_fleet(seed, size)
    setup = register_fleet(ctx.db, fleet, base_url, actor="system:demo")
    runner = FleetRunner(fleet, setup, base_url, seed=seed, period_s=period_s, mqtt_url=mqtt_url or None,
                         **runner_options)
    return runner.start()
