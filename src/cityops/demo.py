"""What `cityops demo` adds on top of the reference data: an admin account and demo
contacts, all clearly fictional, and the simulated device fleet (IOT-2)."""

from __future__ import annotations

import secrets
import string
from datetime import datetime, timedelta

from sqlalchemy import select

from cityops.audit.context import acting_as
from cityops.auth import service as users
from cityops.auth.models import User
from cityops.core.db import Database
from cityops.core.timeutil import utcnow
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
    from cityops.monitoring.kpi_history import SAMPLE_JOB
    from cityops.sim.fleet import plan_fleet, register_fleet
    from cityops.sim.runner import FleetRunner

    ctx = getattr(getattr(app_or_ctx, "state", None), "ctx", None) or app_or_ctx
    if mqtt_url is None:
        mqtt_url = ctx.settings.mqtt_url
    fleet = plan_fleet(seed, size)
    setup = register_fleet(ctx.db, fleet, base_url, actor="system:demo")
    runner = FleetRunner(fleet, setup, base_url, seed=seed, period_s=period_s, mqtt_url=mqtt_url or None,
                         **runner_options)
    # A just-registered fleet has not reported yet and never-seen devices count as offline: a
    # sample taken now would put a 30 % day into the 30-day online-rate history.
    ctx.scheduler.postpone(SAMPLE_JOB, period_s + 15)
    return runner.start()


DEMO_CALLBACK_CAMPAIGN = "12345 热线回访（演示）"
# (细类, title, address, lon, lat): citizens' hotline reports the units have already disposed of.
DEMO_HOTLINE_CASES = (
    ("暴露垃圾", "天山路 600 弄门口垃圾堆放两天未清运", "天山路600弄", 121.4035, 31.2130),
    ("噪声扰民", "愚园路一餐厅排风机夜间噪声扰民", "愚园路1107号", 121.4268, 31.2208),
    ("井盖破损", "长宁路人行道井盖破损有绊倒风险", "长宁路1018号", 121.4180, 31.2220),
    ("路灯故障", "仙霞路虹古路口路灯连续三晚不亮", "仙霞路虹古路口", 121.3905, 31.2045),
    ("非机动车乱停放", "地铁威宁路站出口共享单车堆积", "天山西路威宁路口", 121.3880, 31.2185),
    ("油烟扰民", "古北路小区底商油烟直排", "古北路1699弄", 121.4055, 31.2010),
    ("占道堆物", "新华路弄堂口装修垃圾占道", "新华路329弄", 121.4290, 31.2065),
    ("道路破损", "延安西路辅路路面坑洼积水", "延安西路1882号", 121.4125, 31.2110),
    ("乱张贴", "北新泾街道小区外墙小广告", "北新泾街道平塘路", 121.3700, 31.2200),
    ("树木倒伏", "虹桥路行道树倾斜压住电线", "虹桥路1386号", 121.4075, 31.1975),
)


def configure_callout(db: Database) -> bool:
    """The demo's 热线回访 template, once (while it is still at its defaults): callbacks go out
    at any hour, so whoever opens the demo sees the calls happen — a real district keeps the
    9:00–12:00, 14:00–20:00 window — and the 回访 trigger is on, one minute after 处置完成."""
    from cityops.callout import templates

    with acting_as("system:demo"), db.session() as s:
        if templates.effective(s, "hotline_callback").customised:
            return False
        templates.update(s, "hotline_callback", windows=[], actor="system:demo",
                         triggers={"event_closed": {"enabled": True, "delay_min": 1}})
        return True


def seed_callback_campaign(db: Database, now: datetime | None = None) -> int | None:
    """The demo's 回访 campaign (CALL-1, issue #6): ten hotline reports that the units have
    disposed of, a call list of their reporters built from them and a started 热线回访 campaign
    over it, once. The telephony simulator answers; each 满意/不满意 reaches the event
    (verified and closed, or returned). Returns the campaign id, or None when it exists.

    The reporters' numbers are made up (139 0000 01xx); the demo dials only the simulator."""
    from cityops.callout import campaigns, lists
    from cityops.callout.campaign_models import Campaign
    from cityops.events import lifecycle
    from cityops.events import service as events
    from cityops.events.models import EventCategory

    now = now or utcnow()
    with acting_as("system:demo"), db.session() as s:
        if s.scalar(select(Campaign.id).where(Campaign.name == DEMO_CALLBACK_CAMPAIGN)) is not None:
            return None
        rows = ["姓名,电话,业务编号"]
        for i, (leaf, title, address, lon, lat) in enumerate(DEMO_HOTLINE_CASES, start=1):
            cat = s.scalar(select(EventCategory).where(EventCategory.name == leaf))
            if cat is None:
                continue
            at = now - timedelta(hours=30 - 2 * i)
            ev = events.create_event(s, category_id=cat.id, title=title, address=address, lon=lon, lat=lat,
                                     source_kind="hotline", source_ref=f"12345-DEMO-{i:03d}",
                                     reporter_name=f"市民{i}（演示）", reporter_phone=f"139000001{i:02d}",
                                     reported_at=at, created_by="system:demo", merge=False)
            for step, state in enumerate(("accepted", "dispatched", "in_progress", "disposed"), start=1):
                lifecycle.transition(s, ev.id, state, actor="system:demo", at=at + timedelta(hours=step),
                                     details={"demo": "历史工单（演示数据）"})
            rows.append(f"市民{i}（演示）,139000001{i:02d},event:{ev.id}")
        res = lists.import_list(s, "\n".join(rows).encode(), "callback.csv", name="12345 回访名单（演示）",
                                scenario="hotline_callback", source="12345 热线工单",
                                consent_basis="来电人同意回访（演示数据）", created_by="system:demo")
        c = campaigns.create_campaign(s, name=DEMO_CALLBACK_CAMPAIGN, list_id=res.list_id,
                                      created_by="system:demo", now=now)
        campaigns.start(s, c.id, now=now)
        return c.id


DEMO_GATEWAYS = 12  # the district's SMG1000-D40 voice gateways, each simulated on loopback
DEMO_CALLER_IDS = (("02155570001", "外呼一组", ""), ("02155570002", "外呼一组", ""),
                   ("02155570003", "外呼二组", "骚扰电话"))  # made up; the third is shown as marked


def seed_lines(db: Database, gateways: list[tuple[str, int, str]], marking_url: str, marking_key: str) -> bool:
    """The demo's lines (CALL-3), once; addresses refreshed on every start: twelve voice gateways
    (`gateways`: host, SIP port, status page of each simulator), three caller IDs and the marking
    service (the marking simulator), alerts to the demo duty team's robot. Returns True when created."""
    from cityops.callout import lines
    from cityops.callout.line_models import LineDevice
    from cityops.duty.service import DEMO_TEAM
    from cityops.notify import service as notify

    with acting_as("system:demo"), db.session() as s:
        existing = {d.name: d for d in s.scalars(select(LineDevice))}
        created = not existing
        for i, (host, port, status_url) in enumerate(gateways, start=1):
            name = f"语音网关-{i:02d}"
            data = {"host": host, "sip_port": port, "http_status_url": status_url}
            if name in existing:
                d = existing[name]
                if (d.host, d.sip_port, d.http_status_url) != (host, port, status_url):
                    lines.update_device(s, d.id, data=data)
                continue
            lines.create_device(s, data={**data, "kind": "gateway", "name": name, "model": "SMG1000-D40",
                                         "ports": 30, "line_group": "外呼一组" if i <= 8 else "外呼二组",
                                         "test_number": "13900000999", "note": "演示：模拟网关（本机回环）"})
        if created:
            for number, group, _ in DEMO_CALLER_IDS:
                lines.create_caller_id(s, data={"number": number, "line_group": group, "carrier": "中国电信",
                                                "note": "演示号码"})
        wecom = next((c.id for c in notify.list_channels(s) if c.kind == "wecom"), None)
        lines.update_settings(s, by="system:demo", changes={
            "marking_base_url": marking_url, "marking_api_key": marking_key, "notify_team": DEMO_TEAM,
            "notify_channels": [wecom] if wecom else []})
    return created


def seed_operations(db: Database, base_url: str, now: datetime | None = None) -> bool:
    """The O&M side of the demo (issue #7), once; False when it is there already:
    - login accounts for the demo team of nine (unusable random passwords; an admin can reset
      them), so the service desk can assign tickets to the person on duty (OPS-3);
    - probes of the platform itself and of the catalog modules (OPS-1), the machine-room
      checklists and the daily inspection plan (ROOM-1, OPS-1), the default maintenance plans and
      today's tasks (OPS-2), the hardware schedules and spares (HW);
    - a hotline ticket, a fault of grade 三级 and a visit in two days (OPS-3, OPS-4, VISIT-1)."""
    from cityops.catalog.hw_service import seed_demo as seed_hardware
    from cityops.core.timeutil import local
    from cityops.duty.models import Contact
    from cityops.duty.service import DEMO_SUPPORT_TEAM, DEMO_TEAM
    from cityops.inspections import plan_service
    from cityops.inspections.plan_service import seed_plans as seed_inspection_plans
    from cityops.inspections.probe_seed import seed_demo as seed_demo_probes
    from cityops.inspections.probe_seed import seed_module_probes
    from cityops.maintenance import plans as maintenance_plans
    from cityops.maintenance import tasks as maintenance_tasks
    from cityops.servicedesk import fault_service, service as desk
    from cityops.servicedesk.fault_models import FaultGrade
    from cityops.servicedesk.models import Ticket
    from cityops.visits.service import create_visit

    now = now or utcnow()
    with acting_as("system:demo"), db.session() as s:
        if s.scalar(select(Ticket.id).limit(1)) is not None:
            return False
        for c in s.scalars(select(Contact).where(Contact.username.is_(None), Contact.note.like("演示数据%"))):
            role = {DEMO_TEAM: "duty", DEMO_SUPPORT_TEAM: "technician"}.get(c.team_code, "manager")
            name = c.wecom_userid or f"demo{c.id}"
            if s.scalar(select(User.id).where(User.username == name)) is None:
                users.create_user(s, username=name, role=role, password=generate_password(24), display_name=c.name)
            c.username = name
        s.flush()
        desk.update_settings(s, actor="system:demo", team_code=DEMO_TEAM)
        seed_module_probes(s)
        probes = seed_demo_probes(s, base_url=base_url)
        seed_inspection_plans(s)
        for plan in plan_service.list_plans(s):  # the default daily round runs the demo's probes too
            plan_service.update_plan(s, plan.id, {"probe_ids": [p.id for p in probes]})
        maintenance_plans.seed_plans(s, now=now - timedelta(days=1))  # active since yesterday: today's tasks show
        maintenance_tasks.generate(s, now=now)
        seed_hardware(s, today=local(now).date())
        desk.open_ticket(s, title="热线：网格化平台登录后白屏", source="hotline", nature="incident", impact=1, urgency=2,
                         system_code="SYS-DUTY", reporter="华阳路街道 周女士（演示）",
                         description="上午十点起全街道无法登录（演示数据）", actor="system:demo", now=now)
        grade = s.scalar(select(FaultGrade).where(FaultGrade.level == 3))
        if grade is not None:
            fault_service.open_fault(s, title="城区之眼视频调阅中断（演示）", grade_id=grade.id,
                                     occurred_at=now - timedelta(minutes=40), system_codes=["SYS-EYE"],
                                     description="部分街道视频调阅超时（演示数据）", actor="system:demo", now=now)
        start = local(now + timedelta(days=2)).replace(hour=9, minute=30, second=0, microsecond=0)
        create_visit(s, {"title": "市城运中心调研“一网统管”建设（演示）", "organisation": "市城运中心", "visitor_count": 12,
                         "host": "王建国（演示）", "starts_at": start, "ends_at": start + timedelta(hours=2),
                         "system_codes": ["SYS-SCREEN", "SYS-EYE", "SYS-DISPATCH"]}, actor="system:demo", now=now)
    return True
