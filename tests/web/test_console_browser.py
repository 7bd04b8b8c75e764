"""The console in headless Chromium: log in, open every page, no console errors (foundation)."""

import pytest

from tests.conftest import PASSWORD
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser

PAGES = [
    ("/console/", "总览"),
    ("/console/geo", "街镇与责任网格"),
    ("/console/units", "责任单位"),
    ("/console/systems", "系统目录"),
    ("/console/hardware", "硬件"),
    ("/console/users", "用户管理"),
    ("/console/audit", "审计日志"),
]


def _login(page, base, username):
    page.goto(f"{base}/console/geo")
    assert "/login" in page.url, "anonymous visitors are sent to the login page"
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/geo")


def test_admin_logs_in_and_sees_every_page(live_server, page, make_user, db):
    make_user("admin", username="boss")
    _login(page, live_server, "boss")
    for path, heading in PAGES:
        resp = page.goto(f"{live_server}{path}")
        assert resp.status == 200, path
        assert heading in page.locator("h1").first.inner_text(), path
        if path == "/console/":
            page.wait_for_selector("#street-chart[data-ready='1']", timeout=10_000)
        if path == "/console/geo":
            page.wait_for_selector("#geo-map[data-ready='1']", timeout=10_000)
            assert page.locator("#geo-map canvas").count() >= 1, "the map is drawn"
            assert page.locator("#streets-table tr").count() == 11
            assert "近似" in page.locator("#approx-note").inner_text()
            screenshot(page, f"console-geo-{db.engine.dialect.name}")
    assert page.console_errors == [], page.console_errors
    assert page.external_requests == [], "everything is served locally (no CDN on the intranet)"


def test_api_docs_load_without_internet(live_server, page):
    # Swagger's bundle is large: wait for the rendered title, not for every asset's load event.
    page.goto(f"{live_server}/api/docs", wait_until="domcontentloaded")
    page.wait_for_selector(".swagger-ui .info", timeout=30_000)
    assert "cityops" in page.locator(".swagger-ui .info").inner_text()
    assert page.external_requests == []
    assert page.console_errors == []


def test_wrong_password_shows_a_message(live_server, page, make_user):
    make_user("duty", username="d1")
    page.goto(f"{live_server}/login")
    page.fill("#username", "d1")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.locator(".flash.err").inner_text()


def test_street_user_sees_only_own_street_on_the_map_page(live_server, page, make_user):
    make_user("street", "310105010", username="cjq")
    _login(page, live_server, "cjq")
    rows = page.locator("#streets-table tr")
    assert rows.count() == 2 and "程家桥街道" in rows.nth(1).inner_text()
    assert page.locator("nav a[href='/console/users']").count() == 0
    assert page.goto(f"{live_server}/console/users").status == 403


def test_admin_creates_a_user_and_verifies_the_audit_chain(live_server, page, make_user):
    make_user("admin", username="boss2")
    _login(page, live_server, "boss2")
    page.goto(f"{live_server}/console/users")
    page.fill("#nu", "newtech")
    page.select_option("#nr", "technician")
    page.fill("#npw", "Tech-pass-2026")
    page.click("form[action='/console/users'] button[type=submit]")
    assert "已创建用户 newtech" in page.locator(".flash").inner_text()
    assert "newtech" in page.locator("#users-table").inner_text()
    page.goto(f"{live_server}/console/audit")
    page.fill("#entity", "users")  # htmx filters the table in place as one types
    page.wait_for_function("location.search.includes('entity=users')")
    page.wait_for_function("""() => {
        const cells = [...document.querySelectorAll('#audit-table tr td:nth-child(5)')];
        return cells.length > 0 && cells.every(td => td.innerText.startsWith('users/'));
    }""")
    assert "newtech" in page.locator("#audit-table").inner_text()
    page.click("#verify-chain")
    assert "校验通过" in page.locator("#verify-result").inner_text()
    assert page.console_errors == []
