"""The alarm board and KPI dashboard in headless Chromium (IOT-5): colours by severity, the
sound switch (WebAudio after a user gesture), a beep on a NEW critical alarm, comments,
acknowledge, a refresh that keeps a half-written form, the daily online-rate chart."""

from datetime import timedelta

import pytest

from cityops.core.timeutil import utcnow
from cityops.devices import service as devices
from cityops.devices.models import Device
from cityops.monitoring import kpi_history, service
from tests.web.conftest import login, screenshot

pytestmark = pytest.mark.browser


def _device(s, ext):
    return devices.create_device(s, name=f"烟感{ext}", product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                                 external_id=ext, lon=121.420, lat=31.222)



def _refresh(page):
    """What the 10 s timer does, now."""
    page.evaluate("htmx.trigger('#alarm-board', 'board-refresh')")


def test_duty_officer_handles_a_critical_alarm(live_server, page, make_user, db):
    with db.session() as s:
        d1, d2, d3 = _device(s, "b1"), _device(s, "b2"), _device(s, "b3")
        crit = service.raise_alarm(s, device_id=d1.id, alarm_type="smoke_alarm", severity="critical",
                                   source="vendor", message="烟雾报警：浓度 0.35 dB/m").id
        warn = service.raise_alarm(s, device_id=d2.id, alarm_type="low_battery", severity="warning",
                                   source="rule", message="电量低于 20%").id
    make_user("duty", username="night")
    login(page, live_server, "night", "/console/alarms")

    row = page.locator(f"#alarm-{crit}")
    assert "紧急" in row.inner_text() and "sev-row-critical" in row.get_attribute("class")
    assert row.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(253, 236, 236)"
    assert page.locator(f"#alarm-{crit} .badge.sev-critical").evaluate(
        "e => getComputedStyle(e).backgroundColor") == "rgb(198, 40, 40)"
    assert page.locator(f"#alarm-{warn} td").first.evaluate(
        "e => getComputedStyle(e).backgroundColor") == "rgb(255, 251, 224)"
    assert page.locator(f"#alarm-{crit} td").first.evaluate(
        "e => getComputedStyle(e).borderLeftColor") == "rgb(198, 40, 40)"

    # sound: needs a gesture; the button creates and resumes the AudioContext
    assert page.evaluate("window.cityopsAlarmBoard.audioCreated") is False
    page.click("#sound-enable")
    page.wait_for_function("window.cityopsAlarmBoard.audioCreated && window.cityopsAlarmBoard.audioState === 'running'")
    assert "声音已开启" in page.locator("#sound-state").inner_text()
    assert page.locator("#sound-enable").is_hidden()

    # a NEW critical alarm beeps on the next refresh; the old ones do not
    with db.session() as s:
        new = service.raise_alarm(s, device_id=d3.id, alarm_type="smoke_alarm", severity="critical",
                                  source="vendor", message="烟雾报警").id
    _refresh(page)
    page.wait_for_selector(f"#alarm-{new}")
    page.wait_for_function("window.cityopsAlarmBoard.beeps === 1")
    assert "alarm-new" in page.locator(f"#alarm-{new}").get_attribute("class")
    assert page.evaluate("window.cityopsAlarmBoard.lastBeep") == "critical"
    _refresh(page)
    page.wait_for_function("window.cityopsAlarmBoard.refreshes >= 2")
    assert page.evaluate("window.cityopsAlarmBoard.beeps") == 1
    # an alarm escalated to critical rings as well
    with db.session() as s:
        service.raise_alarm(s, device_id=d2.id, alarm_type="low_battery", severity="critical", source="rule")
    _refresh(page)
    page.wait_for_selector(f"#alarm-{warn}[data-severity=critical]")
    page.wait_for_function("window.cityopsAlarmBoard.beeps === 2")
    # ... but not when it calms down again
    with db.session() as s:
        service.change_severity(s, device_id=d2.id, alarm_type="low_battery", severity="major", reason="电量回升")
    before = page.evaluate("window.cityopsAlarmBoard.refreshes")
    _refresh(page)
    page.wait_for_function(f"window.cityopsAlarmBoard.refreshes > {before}")
    assert page.locator(f"#alarm-{warn}").get_attribute("data-severity") == "major"
    assert page.evaluate("window.cityopsAlarmBoard.beeps") == 2

    # mute is remembered
    page.click("#sound-mute")
    assert page.evaluate("localStorage.getItem('cityops.alarmBoard.muted')") == "1"
    page.click("#sound-mute")

    # a half-written comment survives the refresh (the board waits), an open panel stays open
    page.click(f"#notes-{warn} summary")
    page.fill(f"#notes-{warn} textarea", "正在联系厂商")
    _refresh(page)
    page.wait_for_function("window.cityopsAlarmBoard.held >= 1")
    assert page.locator(f"#notes-{warn} textarea").input_value() == "正在联系厂商"
    page.fill(f"#notes-{warn} textarea", "")
    page.locator("h1").click()  # focus leaves the form: refreshing is allowed again
    before = page.evaluate("window.cityopsAlarmBoard.refreshes")
    _refresh(page)
    page.wait_for_function(f"window.cityopsAlarmBoard.refreshes > {before}")
    page.wait_for_selector(f"#notes-{warn}[open]")

    # comment on the critical alarm (an empty one is refused by the form itself)
    page.click(f"#notes-{crit} summary")
    page.fill(f"#notes-{crit} textarea", "已通知网格员现场核查")
    page.click(f"#notes-{crit} button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "已添加备注" in page.locator(".flash.ok").inner_text()
    assert "备注（1）" in page.locator(f"#notes-{crit} summary").inner_text()
    page.wait_for_selector(f"#notes-{crit}[open]")  # reopened after the swap
    assert "已通知网格员现场核查" in page.locator(f"#notes-{crit} .notes").inner_text()

    # acknowledge: the board shows it
    page.fill(f"#alarm-{crit} input[name=text][aria-label=确认备注]", "网格员已出发")
    page.click(f"#alarm-{crit} button:has-text('确认')")
    page.wait_for_selector(f"#alarm-{crit}[data-state=acknowledged]")
    assert "已确认" in page.locator(f"#alarm-{crit} .state-cell").inner_text()
    assert "网格员已出发" in page.locator(f"#alarm-{crit} .state-cell").inner_text()
    # the actions swapped the board in place: same page, the sound stays on
    assert page.evaluate("window.cityopsAlarmBoard.audioState") == "running"
    assert page.evaluate("window.cityopsAlarmBoard.beeps") == 2
    assert page.locator("#board-error").is_hidden()
    screenshot(page, f"alarm-board-{db.engine.dialect.name}")

    # the alarm's own page tells the story
    page.click(f"#alarm-{crit} a.alarm-link")
    page.wait_for_selector("#alarm-timeline")
    story = page.locator("#alarm-timeline").inner_text()
    assert "紧急告警产生" in story and "已通知网格员现场核查" in story and "网格员已出发" in story
    screenshot(page, f"alarm-detail-{db.engine.dialect.name}")

    page.goto(f"{live_server}/console/alarms")
    page.click("#night-toggle")
    assert page.evaluate("document.body.classList.contains('night')")
    screenshot(page, f"alarm-board-night-{db.engine.dialect.name}")
    assert page.console_errors == [], page.console_errors
    assert page.external_requests == []


def test_kpi_dashboard_draws_the_daily_chart(live_server, page, make_user, db):
    with db.session() as s:
        ids = [_device(s, f"k{i}").id for i in range(3)]
        s.execute(Device.__table__.update().where(Device.id.in_(ids[:2])).values(online=True))
        now = utcnow()
        for days in (2, 1, 0):
            kpi_history.sample_online_rate(s, now=now - timedelta(days=days))
    make_user("manager", username="kpi-mgr")
    login(page, live_server, "kpi-mgr", "/console/kpi")
    page.wait_for_selector("#kpi-history-chart[data-ready='1']", timeout=10_000)
    page.wait_for_selector("#kpi-street-chart[data-ready='1']", timeout=10_000)
    assert page.locator("#kpi-history-chart canvas").count() >= 1
    page.select_option("#kpi-dim", "vendor")
    page.wait_for_url("**dim=vendor**")
    page.wait_for_selector("#kpi-history-chart[data-ready='1']", timeout=10_000)
    with page.expect_download() as dl:
        page.click("#kpi-export-daily a:has-text('Excel') >> nth=0")
    assert dl.value.suggested_filename.endswith(".xlsx")
    screenshot(page, f"kpi-dashboard-{db.engine.dialect.name}")
    assert page.console_errors == [], page.console_errors
    assert page.external_requests == []
