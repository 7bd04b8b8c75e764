"""外呼统计 in headless Chromium (CALL-5): the ECharts charts render from the local bundle with
the page's figures, and the year selector reloads the page."""

import pytest

from tests.callout.test_stats import calls  # noqa: F401  (the shared fixture)
from tests.web.conftest import screenshot
from tests.web.test_console_browser import _login

pytestmark = pytest.mark.browser

OPTION = "(id) => echarts.getInstanceByDom(document.getElementById(id)).getOption().series.map(s => [s.name, s.data])"


def test_charts_render(live_server, page, make_user, calls, db):  # noqa: F811
    make_user("auditor", username="statsviewer")
    _login(page, live_server, "statsviewer")
    assert page.goto(f"{live_server}/console/callout/stats?year=2026&month=1").status == 200
    page.wait_for_selector("#chart-rates[data-ready='1']", timeout=10_000)
    rates = dict(page.evaluate(OPTION, "chart-rates"))
    assert rates["接通率"] == [75, 50, 33.3] and rates["满意率（回访）"][0] == 100
    months = dict(page.evaluate(OPTION, "chart-months"))
    assert months["热线回访"][0] == 4 and months["信息提醒"][1] == 2 and months["应急指挥"][2] == 2
    days = dict(page.evaluate(OPTION, "chart-days"))
    assert days["热线回访"][:2] == [3, 1] and len(days["热线回访"]) == 31
    assert page.locator("#chart-months canvas").count() == 1
    screenshot(page, f"callout-stats-{db.engine.dialect.name}")
    page.select_option("#s-year", "2025")
    page.click("#stats-filters button")
    page.wait_for_url("**year=2025**")
    page.wait_for_selector("#chart-rates[data-ready='1']", timeout=10_000)
    assert page.locator("#year-total td").nth(1).inner_text() == "1"
    assert page.console_errors == [] and page.external_requests == []
