"""The flow board in headless Chromium (IOT-6, issue #5 item 6): the night/big-screen switch
(remembered, shared with the alarm board), the htmx refresh that swaps in new warnings,
and acknowledging a warning from the board."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cityops.core.timeutil import utcnow
from cityops.events import service, watch
from tests.conftest import PASSWORD
from tests.events.helpers import street_point
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def _late_event(db, index=0, title="窨井盖缺失"):
    now = utcnow()
    with db.session() as s:
        _, lon, lat = street_point(s, index)
        ev = service.create_event(s, category_code="010101", title=title, lon=lon, lat=lat, severity="critical",
                                  reported_at=now - timedelta(hours=1), merge=False)
        watch.scan(s, now)
        return ev.number


def test_night_mode_refresh_and_ack(live_server, page, make_user, db):  # noqa: F811
    first = _late_event(db)
    make_user("duty", username="nightduty")
    page.goto(f"{live_server}/console/flow-board")
    page.fill("#username", "nightduty")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/console/flow-board")
    assert first in page.locator("#flow-warnings").inner_text()

    page.click("#night-toggle")
    assert page.evaluate("document.body.classList.contains('night')")
    assert page.evaluate("localStorage.getItem('cityops.alarmBoard.night')") == "1"
    assert page.locator("#flow-warnings td").first.evaluate("e => getComputedStyle(e).backgroundColor") == \
        "rgb(74, 16, 20)"  # the alarm board's night colour for 紧急 rows
    page.reload()
    assert page.evaluate("document.body.classList.contains('night')")  # remembered

    second = _late_event(db, 1, title="道路积水")
    assert second not in page.content()
    page.evaluate("htmx.ajax('GET', '/console/flow-board', {target: '#flow-board', select: '#flow-board', swap: 'outerHTML'})")
    page.wait_for_function(f"document.querySelector('#flow-warnings').innerText.includes('{second}')")
    assert page.evaluate("document.body.classList.contains('night')")
    screenshot(page, "flow-board-night")

    page.locator("#flow-warnings form button").first.click()
    page.wait_for_selector(".flash.ok")
    assert "已确认预警" in page.locator(".flash.ok").inner_text()
    assert page.console_errors == [] and page.external_requests == []
