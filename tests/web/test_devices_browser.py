"""Device pages in headless Chromium: list, map view, detail, import page (IOT-1..IOT-3)."""

import pytest

from cityops.sim.wire import ctwing
from tests.web.conftest import screenshot
from tests.web.test_console_browser import _login

pytestmark = pytest.mark.browser


def test_device_list_map_and_detail(live_server, page, make_user, client, auth_headers, db):
    h = auth_headers("admin")
    conn = client.post("/api/v1/connections", json={"kind": "ctwing", "name": "浏览器测试"}, headers=h).json()
    pid = next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == "SMOKE-NB-CTW")
    ids = []
    for i, (lon, lat) in enumerate([(121.420, 31.222), (121.385, 31.205), (121.352, 31.215)]):
        d = client.post("/api/v1/devices", json={"name": f"烟感{i}", "product_id": pid, "external_id": f"b{i}",
                                                 "lon": lon, "lat": lat}, headers=h).json()
        ids.append(d["id"])
    body, headers, _ = ctwing.data_report("b0", {"battery": 66}, decoder=None)
    client.post(conn["push_url"], content=body, headers=headers)
    make_user("manager", username="mgr")
    _login(page, live_server, "mgr")
    for path in ["/console/devices", "/console/connections", "/console/pending", "/console/dead-letters",
                 "/console/devices/import", "/console/device-quality", "/console/sync",
                 "/console/alarms", "/console/kpi", "/console/maintenance"]:
        assert page.goto(f"{live_server}{path}").status == 200, path
    page.goto(f"{live_server}/console/devices")
    assert page.locator("#device-total").inner_text() == "3"
    page.select_option("#f-street", "310105001")
    page.click("#device-filters button[type=submit]")
    assert page.locator("#device-total").inner_text() == "1"
    page.goto(f"{live_server}/console/devices?view=map")
    page.wait_for_selector("#devices-map[data-ready='1']", timeout=10_000)
    screenshot(page, f"devices-map-{db.engine.dialect.name}")
    page.goto(f"{live_server}/console/kpi")
    page.wait_for_selector("#kpi-street-chart[data-ready='1']", timeout=10_000)
    page.goto(f"{live_server}/console/devices/{ids[0]}")
    assert "66" in page.locator("#last-values").inner_text()
    assert "v1" in page.locator("#versions").inner_text()
    assert page.console_errors == [] and page.external_requests == []
