"""巡检计划 in headless Chromium (OPS-1): the calendar shows today's run; the duty officer answers
the manual items, signs off, and opens the printable record."""

import pytest

from cityops.core.timeutil import local, utcnow
from cityops.inspections import plan_service
from tests.inspections.test_checklist_browser import login
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def test_duty_officer_completes_and_signs_a_run(live_server, page, make_user, db):
    with db.session() as s:
        plan = plan_service.create_plan(s, {"name": "早班巡检", "at_time": "00:00", "manual_items": ["大屏显示正常"]})
        run = plan_service.start_run(s, plan, plan_service.slot_of(plan, local(utcnow()).date()), now=utcnow())
        run_id = run.id
    make_user("duty", username="duty-plan", display_name="值班员乙")
    login(page, live_server, "duty-plan", "/console/inspection-plans")
    assert "早班巡检" in page.locator("#today-runs").inner_text()
    page.locator("#run-calendar a.run-chip", has_text="早班巡检").click()
    page.wait_for_url(f"{live_server}/console/inspection-plans/runs/{run_id}")
    page.locator("#manual-0 button", has_text="正常").click()
    page.wait_for_selector(".flash")
    page.select_option("#s-conclusion", "normal")
    page.click("#sign-run")
    page.wait_for_selector("#signed")
    assert "值班员乙" in page.locator("#signed").inner_text()
    screenshot(page, "inspection-run-signed")
    page.click("#print-link")
    page.wait_for_selector("h1")
    assert "例行巡检记录" in page.locator("h1").inner_text()
    assert "大屏显示正常" in page.content()
    assert page.console_errors == [] and page.external_requests == []
