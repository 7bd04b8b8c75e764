"""参观接待 in headless Chromium (VISIT-1): a manager books a visit, it shows in the month
calendar, the manual pre-visit check runs and the freeze window is shown."""

from datetime import timedelta

import pytest

from cityops.core.timeutil import local, utcnow
from tests.inspections.test_checklist_browser import login
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def test_manager_books_a_visit_and_runs_the_check(live_server, page, make_user):
    make_user("manager", username="mgr-visit")
    login(page, live_server, "mgr-visit", "/console/visits")
    start = local(utcnow() + timedelta(days=1)).replace(hour=14, minute=0)
    page.fill("#v-title", "市城运中心调研")
    page.fill("#v-org", "市城运中心")
    page.fill("#v-count", "10")
    page.fill("#v-start", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#v-end", (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.locator("#visit-form label", has_text="城区之眼").first.click()
    page.click("#save-visit")
    page.wait_for_selector("#visit-info")
    assert f"{start.strftime('%Y-%m-%d')} 08:00" in page.locator("#freeze-window").inner_text()
    page.click("#run-check")
    page.wait_for_selector(".flash")
    assert "参观前检查" in page.locator(".flash").first.inner_text()
    assert page.locator("#checks tr").count() == 2
    page.goto(f"{live_server}/console/visits?month={start.strftime('%Y-%m')}")
    assert "市城运中心调研" in page.locator("#visit-calendar").inner_text()
    screenshot(page, "visits-calendar")
    assert page.console_errors == [] and page.external_requests == []
