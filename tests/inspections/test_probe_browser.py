"""自动巡检 and 巡检发现 in headless Chromium (OPS-1): the form's options follow the kind, a probe
is added and run now, the detail page draws the latency chart, a finding is resolved."""

from __future__ import annotations

import pytest

from cityops.inspections import findings, probe_service as svc
from tests.inspections import probe_servers as ps
from tests.web.conftest import screenshot
from tests.web.test_console_browser import _login

pytestmark = pytest.mark.browser


def test_probe_pages(live_server, page, make_user, db):
    make_user("manager", username="pm")
    _login(page, live_server, "pm")
    with ps.http_server() as base:
        page.goto(f"{live_server}/console/probes")
        assert page.locator("h1").first.inner_text() == "自动巡检"
        page.select_option("#p-kind", "redis")
        assert page.locator("#opts-redis").is_visible() and not page.locator("#opts-http").is_visible()
        page.select_option("#p-kind", "http")
        assert page.locator("#opts-http").is_visible()
        page.fill("#p-name", "门户首页")
        page.fill("#p-target", f"{base}/ok")
        page.fill("#o-http-keyword", "ok")
        page.select_option("#p-policy", "never")
        page.click("#probe-form button[type=submit]")
        page.wait_for_selector("#flash")
        assert "已添加探针" in page.locator("#flash").inner_text()
        row = page.locator("tr.probe-row", has_text="门户首页")
        assert row.get_attribute("data-state") == "unknown"
        row.locator("button", has_text="立即执行").click()
        page.wait_for_selector("#flash")
        assert "正常" in page.locator("#flash").inner_text()
        row = page.locator("tr.probe-row", has_text="门户首页")
        assert row.get_attribute("data-state") == "ok" and "ms" in row.locator(".latency").inner_text()
        screenshot(page, "console-probes")
        row.locator("a", has_text="门户首页").click()
        page.wait_for_selector("#probe-chart[data-ready='1']", timeout=10_000)
        assert page.locator("#probe-chart canvas").count() >= 1
        assert page.locator("#probe-results tr").count() == 2
        screenshot(page, "console-probe-detail")
    assert page.console_errors == [] and page.external_requests == []


def test_findings_page_resolves(live_server, page, make_user, db):
    with db.session() as s:
        p = svc.create_probe(s, {"name": "数据库端口", "kind": "tcp", "target": f"127.0.0.1:{ps.free_port()}",
                                 "fail_after": 1, "ticket_policy": "never"})
        svc.run_probe_now(s, p.id)
        fid = findings.open_finding(s, f"probe:{p.id}").id
    make_user("duty", username="night")
    _login(page, live_server, "night")
    page.goto(f"{live_server}/console/findings")
    row = page.locator(f"#finding-{fid}")
    assert "数据库端口 巡检异常" in row.inner_text() and row.get_attribute("data-state") == "open"
    row.locator("input[name=note]").fill("端口已恢复")
    row.locator("button", has_text="解决").click()
    page.wait_for_selector("#flash")
    assert "已解决" in page.locator("#flash").inner_text()
    assert page.locator(f"#finding-{fid}").count() == 0
    page.goto(f"{live_server}/console/probes/{p.id}")
    assert page.locator("#probe-state").inner_text() == "异常"
    assert page.console_errors == [] and page.external_requests == []
