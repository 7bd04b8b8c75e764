"""Console pages for devices, connections, dead letters and pending onboarding (IOT-1..IOT-3)."""

import re

from cityops.sim.wire import ctwing
from tests.conftest import PASSWORD


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    name = make_user(role, street)
    r = client.post("/login", data={"username": name, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    html = client.get("/console/devices").text
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1) if 'name="csrf"' in html else None


def _setup(client, auth_headers):
    h = auth_headers("admin")
    conn = client.post("/api/v1/connections", json={"kind": "ctwing", "name": "页面测试"}, headers=h).json()
    pid = next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == "SMOKE-NB-CTW")
    dev = client.post("/api/v1/devices", json={"name": "仙霞路烟感", "product_id": pid, "external_id": "pg-1",
                                               "lon": 121.385, "lat": 31.205}, headers=h).json()
    body, headers, _ = ctwing.data_report("pg-1", {"battery": 77}, decoder=None)
    client.post(conn["push_url"], content=body, headers=headers)
    body, headers, _ = ctwing.data_report("pg-unknown", {"battery": 1}, decoder=None)
    client.post(conn["push_url"], content=body, headers=headers)
    client.post(conn["push_url"], content=b"garbage", headers=headers)
    return conn, dev, pid


def test_pages_show_devices_messages_and_problems(client, auth_headers, make_user):
    conn, dev, _ = _setup(client, auth_headers)
    _login(client, make_user, "duty")
    html = client.get("/console/devices").text
    assert "仙霞路烟感" in html and "在线" in html
    assert "\\u4ed9\\u971e\\u8def" in client.get("/console/devices?view=map").text  # JSON-escaped name in the map data
    assert client.get("/console/devices?device_type=gas").text.count("仙霞路烟感") == 0
    detail = client.get(f"/console/devices/{dev['id']}").text
    assert "battery" in detail and "v1" in detail
    assert "页面测试" in client.get("/console/connections").text
    assert "pg-unknown" in client.get("/console/pending").text
    dl = client.get("/console/dead-letters").text
    assert "garbage" in dl and "JSON" in dl


def test_edit_device_from_console_leaves_a_version(client, auth_headers, make_user):
    _, dev, _ = _setup(client, auth_headers)
    csrf = _login(client, make_user, "technician")
    r = client.post(f"/console/devices/{dev['id']}", data={
        "csrf": csrf, "name": "仙霞路300弄烟感", "address": "仙霞路300弄", "lon": "121.385", "lat": "31.205",
        "status": "active", "reason": "现场核实"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/console/devices/{dev['id']}").text
    assert "仙霞路300弄烟感" in page and "现场核实" in page
    r = client.post(f"/console/devices/{dev['id']}", data={"csrf": "forged", "name": "x"})
    assert r.status_code == 403


def test_onboard_pending_from_console(client, auth_headers, make_user):
    _, _, pid = _setup(client, auth_headers)
    csrf = _login(client, make_user, "manager")
    html = client.get("/console/pending").text
    pending_id = re.search(r'action="/console/pending/(\d+)"', html).group(1)
    r = client.post(f"/console/pending/{pending_id}", data={"csrf": csrf, "action": "onboard", "name": "新登记烟感",
                                                            "product_id": str(pid), "lon": "121.42", "lat": "31.222"},
                    follow_redirects=False)
    assert r.status_code == 303 and "/console/devices/" in r.headers["location"]
    assert "新登记烟感" in client.get(r.headers["location"]).text


def test_street_user_sees_only_own_devices_and_no_connections(client, auth_headers, make_user):
    _, dev, _ = _setup(client, auth_headers)  # device is in 仙霞新村街道 (310105008)
    _login(client, make_user, "street", "310105001")
    assert "仙霞路烟感" not in client.get("/console/devices").text
    assert client.get(f"/console/devices/{dev['id']}").status_code == 404
    assert client.get("/console/connections").status_code == 403
