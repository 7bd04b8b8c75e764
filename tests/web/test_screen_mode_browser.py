"""The emergency monitoring wall in headless Chromium at 1920×1080 (EMRG-4).

The duty officer switches 防汛防台 on in the console and opens its wall view; a waterlogging
sensor then reports 31 cm through the ingest path, the real scheduler runs `screen.mode_watch`,
and without a reload the 最大积水深度 tile turns 告急 (danger) and a log line says so."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow
from cityops.events import service as events
from cityops.monitoring import service as monitoring
from cityops.screen import mode_jobs, modes
from cityops.screen.mode_models import ScreenModeSample
from tests.conftest import PASSWORD
from tests.screen.test_modes import _devices, _report
from tests.web.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def _backfill(db, mode_code: str) -> None:
    """The hour before the test as earlier watch passes would have stored it (a rising flood),
    so the charts show a line with the thresholds instead of a single point."""
    now = utcnow()
    with db.session() as s:
        mode = modes.get_mode(s, mode_code)
        for i in range(60, 0, -1):
            at = now - timedelta(minutes=i)
            depth = round(2 + 10 * (60 - i) / 60, 1)  # up to the 12 cm reading the sensor has now
            values = {"max_water": depth, "water_over": 0.0,
                      "flood_alarms": 1.0 if i < 12 else 0.0, "flood_events": 1.0 if i < 25 else 0.0,
                      "water_online": 100.0}
            s.add_all(ScreenModeSample(mode_id=mode.id, key=k, at=at, value=v) for k, v in values.items())


def test_flood_mode_turns_danger_without_reload(live_server, browser, make_user, db):
    with db.session() as s:
        modes.seed_defaults(s)
        water, street = _devices(s, "water_level", 4, prefix="w")
        _report(s, "onenet", {"w-0": {"water_level": 12.0}, "w-1": {"water_level": 3.5},
                              "w-2": {"water_level": 0.0}, "w-3": {"water_level": 1.2}})
        lon, lat = water[0].lon, water[0].lat
        events.create_event(s, category_code="040101", title="延安西路积水", lon=lon, lat=lat, merge=False)
        monitoring.raise_alarm(s, device_id=water[1].id, alarm_type="积水超限", severity="critical", source="vendor",
                               message="积水超限")
    _backfill(db, "flood")
    make_user("duty", username="typhoon-duty")

    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = ctx.new_page()
    errors, external = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else external.append(r.url))
    scheduler = Scheduler(db)
    mode_jobs.register(scheduler)
    try:
        # 3 a.m.: the duty officer switches the typhoon mode on
        page.goto(f"{live_server}/console/screen/modes")
        page.fill("#username", "typhoon-duty")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/console/screen/modes")
        page.click("#activate-flood")
        page.wait_for_selector(".flash.ok")
        assert "已启用防汛防台" in page.locator(".flash.ok").inner_text()
        assert "启用中" in page.locator("#mode-flood").inner_text()
        # the editor checks the JSON as it is typed
        page.fill("#e-indicators", "[{")
        assert page.locator("#indicators-error").is_visible()
        assert "JSON 格式有误" in page.locator("#indicators-error").inner_text()

        scheduler.start()  # screen.mode_watch every 5 s, as in a worker process
        page.goto(f"{live_server}/screen/mode/flood")
        page.wait_for_function("window.cityopsModeWall && window.cityopsModeWall.refreshes >= 1")
        page.evaluate("window.__sameDocument = true")
        tile = page.locator("#tile-max_water")
        assert tile.get_attribute("data-level") == "normal"
        assert tile.locator("[data-role=value]").inner_text() == "12"
        assert page.locator("#tile-flood_alarms").get_attribute("data-level") == "warn"
        assert page.locator("#tile-water_online").get_attribute("data-level") == "normal"
        assert "监测中" in page.locator("#sm-state").inner_text()
        log = page.locator("#sm-log-list")
        assert "typhoon-duty 启用防汛防台" in log.inner_text()
        # the chart has the last hour and both threshold lines
        marks = page.evaluate("""() => {
            const c = echarts.getInstanceByDom(document.querySelector('#tile-max_water .sm-chart'));
            const s = c.getOption().series[0];
            return {points: s.data.length, lines: s.markLine.data.map(d => d.yAxis)};
        }""")
        assert marks["points"] >= 60 and marks["lines"] == [15, 25]

        # the water rises past the danger line at one sensor
        with db.session() as s:
            _report(s, "onenet", {"w-0": {"water_level": 31.0}})
        page.wait_for_selector("#tile-max_water[data-level=danger]", timeout=20_000)
        assert tile.locator("[data-role=value]").inner_text() == "31"
        assert tile.locator("[data-role=level]").inner_text() == "告急"
        page.wait_for_function(
            "document.querySelector('#sm-log-list').innerText.includes('最大积水深度升至告急：31 cm')", timeout=20_000)
        assert page.evaluate("window.__sameDocument") is True  # no reload
        assert tile.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(255, 77, 79)"
        assert page.locator("#tile-water_over").get_attribute("data-level") == "warn"
        assert page.locator("#sum-danger").inner_text() == "1" and page.locator("#sum-warn").inner_text() == "3"
        page.wait_for_timeout(600)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "screen-mode.png"))
        assert errors == [] and external == []

        # the console's change log has it too
        page.goto(f"{live_server}/console/screen/modes?code=flood")
        assert "最大积水深度升至告急" in page.locator("#mode-log").inner_text()
        assert page.locator("#ind-max_water .mc-level").inner_text() == "告急"
        page.screenshot(path=str(ARTIFACTS / "screen-modes-console.png"), full_page=True)
    finally:
        scheduler.stop()
        ctx.close()
