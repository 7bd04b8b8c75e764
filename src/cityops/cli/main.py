"""The `cityops` command line (contract in ARCHITECTURE.md)."""

from __future__ import annotations

import getpass
import json

import sys
from pathlib import Path

import click

from cityops.audit.context import acting_as
from cityops.core.errors import Problem
from cityops.core.settings import Settings, get_settings


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _context(settings: Settings | None = None):
    from cityops.core.context import AppContext

    return AppContext.build(settings or get_settings())


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group()
@click.version_option(package_name="cityops")
def cli() -> None:
    """长宁区“一网统管”城运平台 — Changning city-operations platform."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--role", type=click.Choice(["all", "api", "worker", "scheduler"]), default=None,
              help="Process role in a scaled deployment (default: CITYOPS_ROLE or all).")
def serve(host: str, port: int, role: str | None) -> None:
    """Run the platform (schema is migrated at start)."""
    import uvicorn

    from cityops.app import create_app
    from cityops.core import logging as logsetup

    settings = get_settings()
    if role:
        settings.role = role
    logsetup.setup(settings.log_level, settings.log_json)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--var-dir", default="./var", show_default=True, type=click.Path(file_okay=False))
@click.option("--notify-sim-port", default=None, type=int, help="notification simulator port [default: port + 1, or a free one]")
@click.option("--dispatch-sim-port", default=None, type=int, help="dispatch platform simulator port [default: port + 2, or a free one]")
def demo(host: str, port: int, var_dir: str, notify_sim_port: int | None, dispatch_sim_port: int | None) -> None:
    """A living demo district on the embedded defaults (./var/demo.db)."""
    from contextlib import ExitStack

    import uvicorn

    from cityops.app import create_app
    from cityops.core import logging as logsetup
    from cityops.demo import DEMO_DISPATCH_KEY, DEMO_DISPATCH_SCALE, DEMO_SEED, prepare_demo, seed_dispatch
    from cityops.demo import configure_callout, seed_callback_campaign, seed_notifications, shorten_scene
    from cityops.demo import DEMO_CALLER_IDS, DEMO_GATEWAYS, seed_lines, seed_operations, start_simulators
    from cityops.sim.marking import MarkingSim
    from cityops.sim.marking import serve as serve_marking_sim
    from cityops.sim.sip_gateway import SipGatewaySim
    from cityops.sim.sip_gateway import serve as serve_sip_gateway
    from cityops.sim.dispatch import DispatchSim
    from cityops.sim.dispatch import serve as serve_dispatch_sim
    from cityops.sim.notify import NotifySim, serve as serve_notify_sim
    from cityops.sim.serve import port_or_free

    vdir = Path(var_dir)
    vdir.mkdir(parents=True, exist_ok=True)
    # The demo dials the telephony simulator: its made-up numbers must never reach a real line.
    settings = get_settings().model_copy(update={"var_dir": vdir, "callout_telephony": "sim", "demo_mode": True,
                                                 "database_url": f"sqlite:///{(vdir / 'demo.db').resolve()}"})
    logsetup.setup(settings.log_level, settings.log_json)
    app = create_app(settings)
    password = prepare_demo(app.state.ctx.db)
    url = f"http://{host}:{port}/"
    click.echo("")
    click.echo("cityops demo — 长宁区“一网统管”城运平台（演示）")
    click.echo(f"  console:  {url}console/   (login page {url}login)")
    click.echo(f"  API docs: {url}api/docs   health: {url}healthz")
    if password:
        click.echo(f"  admin user: admin   password: {password}   (shown once; keep it)")
    else:
        click.echo("  admin user: admin (created earlier; reset with `cityops user passwd admin --password-stdin`)")
    click.echo(f"  database: {settings.database_url}")
    click.echo("  simulated district: 3,000 devices on 7 carrier/vendor connections pushing real HTTP"
               + (" and MQTT" if settings.mqtt_url else "") + " (device list at /console/devices)")
    click.echo("")
    sys.stdout.flush()
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    with ExitStack() as stack:
        # The simulators sit next to the console unless that port is taken; their addresses are
        # written into the demo's channels and platform on every start.
        try:
            sim_url = stack.enter_context(serve_notify_sim(NotifySim(), port=notify_sim_port or port_or_free(port + 1)))
        except RuntimeError as exc:
            _fail(f"{exc}: the port is taken; choose another with --notify-sim-port")
        seed_notifications(app.state.ctx.db, sim_url)
        click.echo(f"  notification simulator (WeCom robot, SMS, voice): {sim_url}  — see /console/notifications")
        dport = dispatch_sim_port or port_or_free(port + 2)
        shorten_scene(app.state.ctx.db)
        secret = seed_dispatch(app.state.ctx.db, f"http://127.0.0.1:{dport}", f"http://{local}:{port}")
        dsim = DispatchSim(api_key=DEMO_DISPATCH_KEY, seed=DEMO_SEED, time_scale=DEMO_DISPATCH_SCALE,
                           return_rate=0.1, failure_rate=0.02, callback_secret=secret)
        try:
            dispatch_url = stack.enter_context(serve_dispatch_sim(dsim, port=dport)).url
        except RuntimeError as exc:
            _fail(f"{exc}: the port is taken; choose another with --dispatch-sim-port")
        click.echo(f"  dispatch platform simulator (Open311): {dispatch_url}  — see /console/dispatch")
        gateways = []
        for _ in range(DEMO_GATEWAYS):
            gw = stack.enter_context(serve_sip_gateway(SipGatewaySim(http=not gateways)))
            gateways.append((gw.host, gw.port, gw.status_url))
        msim = MarkingSim(marked={n: (label, 37) for n, _, label in DEMO_CALLER_IDS if label})
        marking_url = stack.enter_context(serve_marking_sim(msim))
        if seed_lines(app.state.ctx.db, gateways, marking_url, msim.api_key):
            click.echo(f"  lines: {DEMO_GATEWAYS} simulated SMG1000-D40 voice gateways (SIP on loopback) and a"
                       " caller-ID marking simulator (/console/callout/lines)")
        if configure_callout(app.state.ctx.db):
            click.echo("  热线回访: calls at any hour in the demo (a district keeps 9:00–12:00, 14:00–20:00);"
                       " the 回访 trigger is on (/console/callout/scenarios)")
        if seed_callback_campaign(app.state.ctx.db) is not None:
            click.echo("  回访 campaign: 10 disposed hotline reports, their callers phoned through the telephony"
                       " simulator; answers close or return the events (/console/callout/campaigns)")
        if seed_operations(app.state.ctx.db, f"http://{local}:{port}"):
            click.echo("  运维保障: the team of nine on a day/night rotation, probes of the platform itself, the daily"
                       " machine-room round, maintenance plans, a hotline ticket, a 三级 fault and a visit"
                       " (/console/ops)")
        runner = start_simulators(app, f"http://{local}:{port}")  # waits for /healthz by itself
        stack.callback(runner.stop)
        scene = runner.trigger("water_level")
        if scene is not None:
            click.echo(f"  guided scene: {scene.name}（{scene.address}）will report rising water within a few"
                       " minutes → alarm → city event → work order → result → verification → closed"
                       " (/console/events)")
        click.echo(f"  城运大屏 (SYS-SCREEN): {url}screen   (log in as admin; a wall display gets its own key at"
                   f" {url}console/screen/displays)")
        click.echo(f"  应急监测 (EMRG-4): {url}screen/mode/flood   (switch 防汛防台 on at {url}console/screen/modes)")
        click.echo(f"  导览演示 (VISIT-2): {url}screen/tour   (presenter page; scenarios run only on this demo instance)")
        uvicorn.run(app, host=host, port=port, log_config=None)


@cli.group()
def db() -> None:
    """Database schema and reference data."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the schema to the latest version and load missing reference data."""
    from cityops.bootstrap import prepare_database
    from cityops.core import migrate

    ctx = _context()
    prepare_database(ctx.db)
    click.echo(json.dumps({"database": ctx.db.engine.dialect.name, "revision": migrate.current(ctx.db)}))


@cli.group()
def user() -> None:
    """User accounts."""


def _read_password(stdin: bool) -> str:
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password:
        _fail("empty password")
    return password


@user.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "manager", "duty", "technician", "street",
                                                           "auditor"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--street", "street_code", default=None, help="Street code (required for role street).")
@click.option("--display-name", default="")
@click.option("--phone", default=None)
def user_create(name: str, role: str, password_stdin: bool, street_code: str | None, display_name: str,
                phone: str | None) -> None:
    """Create a user."""
    from cityops.auth import service

    password = _read_password(password_stdin)
    ctx = _context()
    try:
        with acting_as(_actor()), ctx.db.session() as s:
            u = service.create_user(s, username=name, role=role, password=password, street_code=street_code,
                                    display_name=display_name, phone=phone)
            out = {"id": u.id, "username": u.username, "role": u.role, "street_code": u.street_code}
    except Problem as exc:
        _fail(exc.detail)
    click.echo(json.dumps(out, ensure_ascii=False))


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True)
def user_passwd(name: str, password_stdin: bool) -> None:
    """Set a user's password."""
    from sqlalchemy import select

    from cityops.auth import service
    from cityops.auth.models import User

    password = _read_password(password_stdin)
    ctx = _context()
    try:
        with acting_as(_actor()), ctx.db.session() as s:
            uid = s.scalar(select(User.id).where(User.username == name))
            if uid is None:
                _fail(f"no user {name!r}")
            service.set_password(s, uid, password)
    except Problem as exc:
        _fail(exc.detail)
    click.echo(json.dumps({"username": name, "password": "changed"}))


@user.command("list")
def user_list() -> None:
    """List users (one JSON object per line)."""
    from cityops.auth import service

    ctx = _context()
    with ctx.db.session() as s:
        rows, _ = service.list_users(s, limit=10_000)
        for u in rows:
            click.echo(json.dumps({"username": u.username, "role": u.role, "street_code": u.street_code,
                                   "active": u.active}, ensure_ascii=False))


@cli.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Verify the hash chain; exit 1 and name the first broken entry if it is broken."""
    from cityops.audit import service

    ctx = _context()
    with ctx.db.session() as s:
        result = service.verify(s)
    click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    if not result.ok:
        sys.exit(1)


@cli.group()
def geo() -> None:
    """Streets, grids and point lookup."""


def _load_geojson(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text("utf-8-sig"))
    except (OSError, ValueError) as exc:
        _fail(f"cannot read GeoJSON from {path}: {exc}")


def _import(path: str, what: str) -> None:
    from cityops.geo import service

    doc = _load_geojson(path)
    ctx = _context()
    do = service.import_streets if what == "streets" else service.import_grids
    try:
        with acting_as(_actor()), ctx.db.session() as s:
            click.echo(json.dumps(do(s, doc), ensure_ascii=False))
    except Problem as exc:
        _fail(exc.detail)


@geo.command("import-streets")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def geo_import_streets(path: str) -> None:
    """Replace the approximate street boundaries with real ones (GeoJSON, GCJ-02)."""
    _import(path, "streets")


@geo.command("import-grids")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def geo_import_grids(path: str) -> None:
    """Load real responsibility grids (GeoJSON with code, name, optional street_code)."""
    _import(path, "grids")


@geo.command("locate")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
def geo_locate(lon: float, lat: float) -> None:
    """Which street and grid a GCJ-02 point lies in."""
    from dataclasses import asdict

    from cityops.geo import service

    ctx = _context()
    with ctx.db.session() as s:
        try:
            click.echo(json.dumps(asdict(service.locate(s, lon, lat)), ensure_ascii=False))
        except Problem as exc:
            _fail(exc.detail)


class _CalloutGroup(click.Group):
    """Loads the SIP agent (asyncio, numpy: ~0.1 s) only when one of its commands runs,
    not on every `cityops` invocation."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return ["backup", "rebuild-stats", "restore", "test-call"]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "test-call":
            from cityops.callout.sip.cli import test_call

            return test_call
        if name in ("backup", "rebuild-stats", "restore"):
            from cityops.callout import backup_cli

            return getattr(backup_cli, name.replace("-", "_"))
        return None


@cli.group(cls=_CalloutGroup)
def callout() -> None:
    """The outbound-call system (CALL-1..CALL-5)."""


class _MaintenanceGroup(click.Group):
    """Loads the document renderers (reportlab) only when a maintenance command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return ["compile-log", "generate", "seed-plans"]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from cityops.maintenance.cli import maintenance as group

        return group.get_command(ctx, name)


@cli.group(cls=_MaintenanceGroup)
def maintenance() -> None:
    """Daily maintenance and the maintenance log (OPS-2, SVC-2)."""


@cli.command("probe")
@click.argument("kind")
@click.argument("target")
@click.option("--option", "-o", "options", multiple=True, metavar="K=V", help="a probe option, repeatable")
@click.option("--timeout", default=10.0, show_default=True, help="seconds")
def probe(kind: str, target: str, options: tuple[str, ...], timeout: float) -> None:
    """Run one inspection probe now and print one JSON object: ok, latency_ms, detail (OPS-1)."""
    from cityops.inspections.probe_cli import main

    main(kind, target, options, timeout)


@cli.group()
def bench() -> None:
    """Benchmarks; each prints one JSON object as its last line."""


@bench.command("callout-stats")
@click.option("--database", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", show_default=True)
@click.option("--records", default=10_000_000, show_default=True)
@click.option("--queries", default=200, show_default=True)
def bench_callout_stats(database: str, records: int, queries: int) -> None:
    """Call statistics by year/month/day over seeded call records (CALL-5; target p95 < 100 ms)."""
    from cityops.bench.callout_stats import run

    click.echo(json.dumps(run(database=database, records=records, queries=queries)))


@bench.command("roster-coverage")
@click.option("--database", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", show_default=True)
@click.option("--extra", default=2000, show_default=True, help="manual shifts on top of the year's rotations")
def bench_roster_coverage(database: str, extra: int) -> None:
    """The roster coverage check over the service period (SVC-1; target p95 < 1 s)."""
    from cityops.bench.ops import roster_coverage

    click.echo(json.dumps(roster_coverage(database=database, extra=extra)))


@bench.command("sla-board")
@click.option("--database", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", show_default=True)
@click.option("--tickets", default=2000, show_default=True, help="open tickets")
def bench_sla_board(database: str, tickets: int) -> None:
    """The duty home page's ticket board and counters (OPS-3; target p95 < 1 s at 2,000 open tickets)."""
    from cityops.bench.ops import sla_board

    click.echo(json.dumps(sla_board(database=database, tickets=tickets)))


@bench.command("screen")
@click.option("--devices", default=100_000, show_default=True)
@click.option("--events", default=1_000_000, show_default=True)
@click.option("--calls", default=10_000_000, show_default=True)
@click.option("--screens", default=10, show_default=True, help="connected screens (live streams) during the run")
@click.option("--requests", default=200, show_default=True, help="requests per panel")
def bench_screen(devices: int, events: int, calls: int, screens: int, requests: int) -> None:
    """The big screen's panels at district scale on PostgreSQL (SYS-SCREEN; target p95 < 200 ms per panel)."""
    from cityops.bench.screen import run

    click.echo(json.dumps(run(devices=devices, events=events, calls=calls, screens=screens, requests=requests)))


@bench.command("documents")
@click.option("--pages", default=500, show_default=True)
def bench_documents(pages: int) -> None:
    """A ~N-page document (cover, contents, tables) to PDF and DOCX: seconds and peak memory (OPS-4, SVC-2)."""
    from cityops.bench.ops import documents

    click.echo(json.dumps(documents(pages=pages)))


@bench.command("geo")
@click.option("--lookups", default=50_000, show_default=True)
def bench_geo(lookups: int) -> None:
    """Point → street/grid lookups per second (target ≥ 10,000/s)."""
    from cityops.bench.geo import run

    click.echo(json.dumps(run(lookups)))


@bench.command("ingest-http")
@click.option("--database", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", show_default=True)
@click.option("--messages", default=10_000, show_default=True)
@click.option("--concurrency", default=16, show_default=True)
@click.option("--devices", default=1000, show_default=True)
def bench_ingest_http(database: str, messages: int, concurrency: int, devices: int) -> None:
    """HTTP push throughput: messages/s accepted and durably stored (server in its own process)."""
    from cityops.bench.ingest_http import run

    click.echo(json.dumps(run(database, messages, concurrency, devices)))


@bench.command("ingest-mqtt")
@click.option("--database", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", show_default=True)
@click.option("--devices", default=10_000, show_default=True)
@click.option("--messages", default=100_000, show_default=True, help="messages in the saturation phase")
@click.option("--paced-seconds", "paced_s", default=10.0, show_default=True)
@click.option("--broker-url", default=None, help="an existing broker (default: a private Mosquitto)")
@click.option("--lag-devices", default=100_000, show_default=True)
@click.option("--batch", "batch_max", default=500, show_default=True)
def bench_ingest_mqtt(database: str, devices: int, messages: int, paced_s: float, broker_url: str | None,
                      lag_devices: int, batch_max: int) -> None:
    """IOT-5: MQTT through Mosquitto into cityops with rules on (prints JSON)."""
    from cityops.bench import ingest_mqtt

    click.echo(json.dumps(ingest_mqtt.run(database, devices, messages, paced_s, broker_url, lag_devices, batch_max),
                          ensure_ascii=False))


@bench.command("events")
@click.option("--database", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", show_default=True)
@click.option("--paced", default=300, show_default=True, help="alarms raised one by one (latency phase)")
@click.option("--rate", default=20.0, show_default=True, help="alarms per second in the latency phase")
@click.option("--burst", default=2000, show_default=True, help="alarms raised together (throughput phase)")
def bench_events(database: str, paced: int, rate: float, burst: int) -> None:
    """IOT-6/IOT-7: alarm → event → routing → work order at the simulated dispatch platform."""
    from cityops.bench.events import run

    click.echo(json.dumps(run(database, paced, rate, burst), ensure_ascii=False))


@bench.command("liveness")
@click.option("--devices", default=100_000, show_default=True)
@click.option("--tick", "tick_s", default=0.2, show_default=True)
def bench_liveness(devices: int, tick_s: float) -> None:
    """Device liveness (IOT-5): offline detection lag (target < 2 s), bytes/device, observe/s."""
    from cityops.bench.liveness import run

    click.echo(json.dumps(run(devices, tick_s=tick_s)))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()



