"""维护计划 and 维护日志 in headless Chromium (OPS-2, SVC-2): a manager loads the default plans and
generates today's tasks, a technician completes one with ticked steps and finds the line in the
maintenance log, adds a free entry, searches, and downloads the half-year book."""

from __future__ import annotations

import pytest

from tests.web.conftest import screenshot
from tests.web.test_console_browser import _login

pytestmark = pytest.mark.browser


def test_plans_tasks_and_log_in_the_browser(live_server, page, make_user, db):
    make_user("manager", username="pm")
    make_user("technician", username="tech")
    _login(page, live_server, "pm")
    page.goto(f"{live_server}/console/maintenance-plans")
    assert "维护计划" in page.locator("h1").inner_text()
    page.click("#seed-plans")
    page.wait_for_selector("#flash")
    assert "已载入 7 个默认维护计划" in page.locator("#flash").inner_text()
    assert page.locator("#plans tr[id^=plan-]").count() == 7
    assert page.locator("#plans .preview").first.locator(".slot").count() == 5, "next five slots shown"
    # a plan due later today, so the task list has something whatever the time of day
    page.fill("#p-name", "证书抽查")
    page.fill("#p-title", "门户证书抽查")
    page.fill("#p-steps", "打开门户\n查看证书到期日")
    page.fill("#p-at", "23:59")
    page.check("#p-enabled")
    page.click("#save-plan")
    page.wait_for_selector("#flash")
    assert "已添加维护计划「证书抽查」" in page.locator("#flash").inner_text()
    page.click("#generate-now")
    page.wait_for_selector("#flash")
    assert "已生成" in page.locator("#flash").inner_text()
    screenshot(page, "maintenance-plans")

    page.context.clear_cookies()
    _login(page, live_server, "tech")
    page.goto(f"{live_server}/console/maintenance-plans")
    row = page.locator("#due-tasks tr", has_text="门户证书抽查")
    row.locator("summary", has_text="完成").click()
    row.locator("input[name=ticks]").first.check()
    row.locator("textarea[name=result]").fill("证书 2027-03 到期，已提醒更换")
    row.locator("input[name=actual_minutes]").fill("10")
    row.locator("button", has_text="完成并记入日志").click()
    page.wait_for_selector("#flash")
    assert "已完成「门户证书抽查」" in page.locator("#flash").inner_text()
    assert page.locator("#recent-tasks", has_text="证书 2027-03 到期").count() == 1

    page.goto(f"{live_server}/console/maintenance-log")
    assert "完成维护任务「门户证书抽查」" in page.locator("#group-task").inner_text()
    page.fill("#f-summary", "配合移动单兵厂商升级网关")
    page.select_option("#f-system", "SYS-MOBILE")
    page.click("#add-entry")
    page.wait_for_selector("#flash")
    assert "配合移动单兵厂商升级网关" in page.locator("#group-free").inner_text()
    page.fill("#search-form input[name=q]", "网关")
    page.click("#search-form button[type=submit]")
    assert "找到 1 条" in page.locator("#search-total").inner_text()
    with page.expect_download() as dl:
        page.click("#download-book")
    assert dl.value.suggested_filename.endswith(".pdf")
    screenshot(page, "maintenance-log")
    assert page.console_errors == [], page.console_errors
    assert page.external_requests == []
