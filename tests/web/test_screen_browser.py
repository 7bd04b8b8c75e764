"""The big screen in headless Chromium against a living demo district (SYS-SCREEN).

The app under test runs its background jobs (monitoring, intake, dispatch, call-out, the screen
cache) and the demo's own seeding and simulators: a fleet of a few hundred devices pushes real
HTTP to the live server, the dispatch and notification simulators answer, the call-out campaign
dials the telephony simulator. The screen must fill every panel, name the ten streets on its
map, stay quiet in the console and on the network, and show a NEW alarm — raised by a device
message pushed to its connection's push URL — in the ticker within 3 s without a reload."""

from __future__ import annotations

import time
from contextlib import ExitStack

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select

from cityops.app import create_app
from tests.web.conftest import login, screenshot

pytestmark = pytest.mark.browser

PANELS = ("map", "devices", "alarms", "events", "dispatch", "callout", "systems", "duty")
FLEET = 300


@pytest.fixture
def app(settings, db_url):
    """The default app runs no jobs; the wall needs them (live data), as `cityops demo` has."""
    if db_url.startswith("postgresql"):  # as every browser test (tests/conftest.py): the pages' data is
        pytest.skip("browser tests run on SQLite; the screen's data is tested on both databases")
    live = settings.model_copy(update={"jobs_enabled": True, "callout_telephony": "sim", "demo_mode": True,
                                       "mqtt_url": None})
    app = create_app(live, start_jobs=True, migrate=False)
    yield app
    app.state.ctx.db.dispose()


@pytest.fixture
def demo(app, live_server):
    """What `cityops demo` seeds and starts (src/cityops/cli/main.py), with a smaller fleet that
    reports faster so the test's few minutes look like a busy afternoon."""
    from cityops.demo import (DEMO_DISPATCH_KEY, DEMO_DISPATCH_SCALE, DEMO_SEED, configure_callout, prepare_demo,
                              seed_callback_campaign, seed_dispatch, seed_notifications, seed_operations,
                              shorten_scene, start_simulators)
    from cityops.sim.dispatch import DispatchSim
    from cityops.sim.dispatch import serve as serve_dispatch_sim
    from cityops.sim.notify import NotifySim
    from cityops.sim.notify import serve as serve_notify_sim
    from cityops.sim.serve import free_port

    db = app.state.ctx.db
    with ExitStack() as stack:
        prepare_demo(db)
        seed_notifications(db, stack.enter_context(serve_notify_sim(NotifySim())))
        shorten_scene(db)
        dport = free_port()
        secret = seed_dispatch(db, f"http://127.0.0.1:{dport}", live_server)
        dsim = DispatchSim(api_key=DEMO_DISPATCH_KEY, seed=DEMO_SEED, time_scale=DEMO_DISPATCH_SCALE,
                           return_rate=0.1, failure_rate=0.02, callback_secret=secret)
        stack.enter_context(serve_dispatch_sim(dsim, port=dport))
        configure_callout(db)
        seed_callback_campaign(db)
        seed_operations(db, live_server)
        runner = start_simulators(app, live_server, size=FLEET, period_s=8.0, mqtt_url="", event_rate=0.03)
        stack.callback(runner.stop)
        runner.trigger("water_level")
        yield runner


def _context(browser, width, height):
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = ctx.new_page()
    page.console_errors, page.external_requests = [], []
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else page.external_requests.append(r.url))
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    return ctx, page


def _login(page, base, username, path="/screen"):
    page.goto(f"{base}{path}")
    assert page.url.startswith(f"{base}/login?next="), page.url  # the screen asks for a login first
    login(page, base, username, path)


ALL_FILLED = """panels => {
  const s = window.cityopsScreen;
  if (!s || !panels.every(p => (s.updates[p] || 0) > 0)) return false;
  return !document.querySelector('.sub-empty, .state-overlay');
}"""


def _quiet_smoke_device(runner, db):
    """A registered CTWing smoke detector without an active alarm, silenced in the simulator so
    its next routine report cannot clear what the test raises."""
    from cityops.monitoring.models import Alarm

    with db.session() as s:
        busy = set(s.scalars(select(Alarm.device_id).where(Alarm.state != "cleared")))
    for st in runner.states:
        d = st.d
        device_id = runner.setup.device_ids.get(d.key)
        if d.platform == "ctwing" and d.device_type == "smoke" and not d.malformed and device_id and device_id not in busy:
            st.outage = 10 ** 6
            return st, device_id
    raise AssertionError("the fleet has no quiet CTWing smoke detector")


def test_screen_on_a_living_district(db_url, browser, demo, live_server, make_user, db):
    from cityops.devices.models import Device
    from cityops.monitoring.models import Alarm
    from cityops.sim.runner import encode

    make_user("duty", username="wall")
    ctx, page = _context(browser, 1920, 1080)
    try:
        _login(page, live_server, "wall")
        assert page.title() == "长宁区“一网统管”城运大屏"
        page.wait_for_function("() => window.cityopsScreen && window.cityopsScreen.connected", timeout=20000)
        assert page.locator("#conn-state").inner_text() == "实时"
        # The district fills up: the fleet reports, alarms become events and work orders, the
        # campaign calls, the KPI sampler runs. Every panel has data — no 暂无数据 left anywhere.
        page.wait_for_function(ALL_FILLED, arg=list(PANELS), timeout=240000, polling=500)
        assert "更新于" in page.locator("#conn-time").inner_text()
        names = page.evaluate("window.cityopsScreen.mapStreets")
        assert len(names) == 10 and "华阳路街道" in names and "新泾镇" in names
        series = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('chart-map')).getOption().series
          .map(x => ({name: x.name, labels: !!(x.label && x.label.show), names: x.data.map(d => d.name), n: x.data.length}))""")
        by_name = {x["name"]: x for x in series}
        assert by_name["街道"]["labels"] and sorted(by_name["街道"]["names"]) == sorted(names)  # the names ride on top
        clusters = by_name["设备"]["n"]
        assert 0 < clusters < FLEET, "devices are clustered, not one point each"
        assert page.locator("#sys-tiles .sys-tile").count() >= 5
        assert page.locator("#duty-list li").count() >= 1
        assert float(page.locator("#dev-rate").inner_text()) > 50
        assert page.locator("text=暂无数据").count() == 0

        # A NEW critical alarm: a smoke detector's event pushed to its connection's push URL.
        st, device_id = _quiet_smoke_device(demo, db)
        with db.session() as s:
            device_name = s.get(Device, device_id).name
        page.evaluate("window.__beforeAlarm = 'still-here'")
        before = page.evaluate("window.cityopsScreen.updates.alarms")
        item = encode(st, ("event", "smoke_alarm", {"status": "smoke_alarm", "temperature": 48.5}, "critical"),
                      demo.setup, False)
        url = live_server + demo.setup.connections[st.d.platform].push_path
        started = time.monotonic()
        r = httpx.post(url, content=item.body, headers=item.headers, params=item.query or None, timeout=5)
        assert r.status_code < 300, r.text
        page.wait_for_function(
            """name => [...document.querySelectorAll('#ticker-list li')].some(li => li.textContent.includes(name))""",
            arg=device_name, timeout=3000, polling=100)
        elapsed = time.monotonic() - started
        assert elapsed < 3.0
        with db.session() as s:
            alarm = s.scalar(select(Alarm).where(Alarm.device_id == device_id, Alarm.state != "cleared"))
        assert alarm is not None and alarm.severity == "critical"
        row = page.locator(f'#ticker-list li[data-alarm-id="{alarm.id}"]')
        assert row.count() == 1 and device_name in row.inner_text()
        assert "flash" in row.get_attribute("class")  # a new critical alarm flashes
        # no reload: the marker set before the push survives, one navigation, more alarm updates
        assert page.evaluate("window.__beforeAlarm") == "still-here"
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        assert page.evaluate("window.cityopsScreen.updates.alarms") > before

        assert page.console_errors == []
        assert page.external_requests == []
        page.wait_for_timeout(1500)  # let the charts' entry animations finish for the picture
        screenshot(page, "screen-1920x1080")  # test-artifacts/; docs/img/screen.png is a chosen copy

        # Drill-down: the alarm opens in the console in a new tab; a click on 华阳路's column of
        # the by-street chart opens that street's screen; 返回全区 comes back.
        with ctx.expect_page() as opened:
            row.click()
        opened.value.wait_for_load_state()
        assert opened.value.url == f"{live_server}/console/alarms/{alarm.id}"
        opened.value.close()
        code = page.evaluate("window.cityopsScreen.streetCodes['华阳路街道']")
        street_url = f"{live_server}/screen/street/{code}"
        for attempt in range(3):
            # The column's position is read just before the click: a stream update may redraw
            # the chart (with a 600 ms animation) between a read and a click on a loaded machine.
            page.wait_for_timeout(700)
            x, y = page.evaluate("""() => {
              const el = document.getElementById('chart-dev-street'), c = echarts.getInstanceByDom(el), o = c.getOption();
              const i = o.xAxis[0].data.indexOf('华阳路'), v = o.series[0].data[i];
              const [x, y] = c.convertToPixel({seriesIndex: 0}, [i, v / 2]), r = el.getBoundingClientRect();
              return [r.left + x, r.top + y];
            }""")
            page.mouse.click(x, y)
            try:
                page.wait_for_url(street_url, wait_until="commit", timeout=10_000)
                break
            except PlaywrightTimeout:
                assert attempt < 2, f"a click on 华阳路's column did not open its screen (at {page.url})"
                assert page.url == f"{live_server}/screen", page.url  # a miss, not another street
        page.wait_for_function(ALL_FILLED, arg=list(PANELS), timeout=60000, polling=500)
        assert page.title() == "华阳路街道城运大屏"
        assert page.evaluate("window.cityopsScreen.mapStreets") == ["华阳路街道"]
        page.wait_for_timeout(1500)
        screenshot(page, "screen-street-1920x1080")
        page.click("#back-district")
        page.wait_for_url(f"{live_server}/screen")
        cookies = ctx.cookies()
    finally:
        ctx.close()

    # The same wall at 3840×2160: the canvas scales ×2, nothing reflows.
    ctx, page = _context(browser, 3840, 2160)
    try:
        ctx.add_cookies(cookies)
        page.goto(f"{live_server}/screen")
        page.wait_for_function(ALL_FILLED, arg=list(PANELS), timeout=60000, polling=500)
        box = page.locator("#stage").bounding_box()
        assert abs(box["width"] - 3840) < 2 and abs(box["height"] - 2160) < 2
        panel = page.locator("#panel-map").bounding_box()
        assert panel["width"] > 1500  # the 1080 canvas's ~800 px map, doubled
        page.wait_for_timeout(800)
        screenshot(page, "screen-3840x2160")
        assert page.console_errors == [] and page.external_requests == []
    finally:
        ctx.close()


def test_empty_district_says_so_and_polls_when_the_stream_fails(db_url, browser, app, live_server, make_user):
    """No demo: panels without data say 暂无数据 (never an empty box). The stream is refused
    every time, so after its retries the screen polls /screen/data and says 已断开（轮询中）.
    An emergency monitoring mode is on (EMRG-4): its banner links to the mode's screen."""
    from cityops.screen import modes

    make_user("duty", username="quiet")
    spec = modes.DEFAULT_MODES[0]  # and an emergency mode is on: the banner takes its row, nothing spills
    with app.state.ctx.db.session() as s:
        if not any(m.code == spec["code"] for m in modes.list_modes(s)):
            modes.create_mode(s, by="test", **spec)
        modes.activate(s, spec["code"], by="test")
    ctx, page = _context(browser, 1920, 1080)
    try:
        page.route("**/screen/stream*", lambda route: route.abort())
        _login(page, live_server, "quiet")
        page.wait_for_function("() => window.cityopsScreen.transport === 'poll' && window.cityopsScreen.polls > 0"
                               " && window.cityopsScreen.updates.devices > 0", timeout=45000, polling=250)
        assert page.evaluate("window.cityopsScreen.connected") is False
        assert page.locator("#conn-state").inner_text() == "已断开（轮询中）"
        assert "更新于" in page.locator("#conn-time").inner_text()
        for panel in ("devices", "dispatch"):  # no devices, no work orders
            assert page.locator(f"#panel-{panel} > .state-overlay").inner_text() == "暂无数据"
        for box in ("#ticker", "#chart-ev-category", "#chart-callout", "#chart-map"):
            assert page.locator(f"{box} > .sub-empty").inner_text() == "暂无数据", box
        assert page.locator("#duty-list + .sub-empty, #panel-duty .sub-empty").count() == 1
        assert page.locator("#sys-tiles .sys-tile").count() >= 5  # the catalog is there from the start
        assert len(page.evaluate("window.cityopsScreen.mapStreets")) == 10
        assert page.locator("text=加载中…").count() == 0
        banner = page.locator("#mode-banner a")
        assert banner.inner_text() == f"应急监测模式：{spec['name']}"
        assert banner.get_attribute("href") == f"/screen/mode/{spec['code']}"
        bottom = page.evaluate("Math.max(...[...document.querySelectorAll('.panel')].map(p => p.getBoundingClientRect().bottom))")
        assert bottom <= 1080
        # the only console errors are the refused stream requests themselves
        assert all("ERR_FAILED" in e for e in page.console_errors), page.console_errors
        assert page.external_requests == []
        screenshot(page, "screen-empty-1920x1080")
    finally:
        ctx.close()
