"""Upstream device sync API and console pages (IOT-4 设备升级维护): roles, the write-only
token, pulling, reviewing, applying, rolling back, a failing upstream — against the carrier
simulator over real HTTP."""

from __future__ import annotations

import re

import pytest

from cityops.devices.seed import PRODUCTS
from cityops.sim.carrier_api import SETTINGS_FOR_SYNC, CarrierPlatform, free_port, serve
from tests.conftest import PASSWORD

TOKEN = "carrier-api-token"
SMOKE_KEY = "15012345"




@pytest.fixture
def carrier():
    p = CarrierPlatform(token=TOKEN)
    smoke = next(x for x in PRODUCTS if x["code"] == "SMOKE-NB-CTW")
    p.add_product(SMOKE_KEY, "NB烟感", properties=[(x["identifier"], x["name"]) for x in smoke["properties"]])
    p.add_device("ctw-a1", product_id=SMOKE_KEY, name="华阳路1号烟感", imei="861234567890011",
                 address="华阳路1号", longitude=121.4201, latitude=31.2221, floor="2F")
    with serve(p) as url:
        p.url = url
        yield p


def source_body(url: str, token: str = TOKEN, **extra) -> dict:
    return {"interval_s": 600, "settings": {"base_url": url, "token": token, **SETTINGS_FOR_SYNC, "retries": 1,
                                            "backoff_s": 0.01, "timeout_s": 3}, **extra}


@pytest.fixture
def conn_id(client, auth_headers):
    h = auth_headers("admin")
    r = client.post("/api/v1/connections", json={"kind": "ctwing", "name": "电信AEP"}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_roles(client, auth_headers, carrier, conn_id):
    """Staff read; only admin/manager configure, pull and decide; street users see nothing."""
    manager = auth_headers("manager")
    assert client.put(f"/api/v1/sync/sources/{conn_id}", json=source_body(carrier.url),
                      headers=manager).status_code == 200
    cs_id = client.post(f"/api/v1/sync/sources/{conn_id}/run", headers=manager).json()["change_set"]["id"]
    for role in ("auditor", "duty", "technician"):
        h = auth_headers(role)
        assert client.get("/api/v1/sync/sources", headers=h).status_code == 200
        assert client.get(f"/api/v1/sync/change-sets/{cs_id}", headers=h).status_code == 200
        assert client.put(f"/api/v1/sync/sources/{conn_id}", json=source_body(carrier.url),
                          headers=h).status_code == 403
        assert client.post(f"/api/v1/sync/sources/{conn_id}/run", headers=h).status_code == 403
        for action in ("apply", "reject", "rollback"):
            assert client.post(f"/api/v1/sync/change-sets/{cs_id}/{action}", headers=h).status_code == 403
    street = auth_headers("street", "310105001")
    assert client.get("/api/v1/sync/change-sets", headers=street).status_code == 403
    r = client.get("/api/v1/sync/change-sets")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_the_token_is_write_only(client, auth_headers, carrier, conn_id):
    h = auth_headers("admin")
    r = client.put(f"/api/v1/sync/sources/{conn_id}", json=source_body(carrier.url), headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["token"] == "******" and TOKEN not in r.text
    got = client.get(f"/api/v1/sync/sources/{conn_id}", headers=h)
    assert got.json()["settings"]["token"] == "******" and TOKEN not in got.text
    # Sending the mask back keeps the stored token: the pull still authenticates.
    body = source_body(carrier.url, token="******", auto_apply=True)
    assert client.put(f"/api/v1/sync/sources/{conn_id}", json=body, headers=h).json()["auto_apply"] is True
    r = client.post(f"/api/v1/sync/sources/{conn_id}/run", headers=h)
    assert r.status_code == 200 and r.json()["outcome"] == "applied"
    r = client.put(f"/api/v1/sync/sources/{conn_id}", json={"settings": {"base_url": carrier.url, "x": 1}},
                   headers=h)
    assert r.status_code == 422 and "未知的同步源设置：x" in r.json()["detail"]
    assert client.put("/api/v1/sync/sources/999999", json=source_body(carrier.url), headers=h).status_code == 404


def test_pull_review_apply_and_roll_back(client, auth_headers, carrier, conn_id):
    """IOT-4 end to end through the API: pull → proposed set with items → apply (device
    registered, version source "sync") → apply again refused → roll back → rolled back."""
    h = auth_headers("manager")
    client.put(f"/api/v1/sync/sources/{conn_id}", json=source_body(carrier.url), headers=h)
    r = client.post(f"/api/v1/sync/sources/{conn_id}/run", headers=h)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["outcome"] == "proposed" and run["change_set"]["summary"]["create"] == 1
    cs_id = run["change_set"]["id"]
    assert client.post(f"/api/v1/sync/sources/{conn_id}/run", headers=h).json()["outcome"] == "unchanged"
    listed = client.get("/api/v1/sync/change-sets", params={"state": "proposed", "connection_id": conn_id},
                        headers=h).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == cs_id
    assert listed["items"][0]["created_at"].endswith("+08:00")
    detail = client.get(f"/api/v1/sync/change-sets/{cs_id}", headers=h).json()
    (item,) = detail["items"]
    assert detail["needs_review"] == []
    assert item["action"] == "create" and item["after"]["extra"] == {"floor": "2F"} and not item["applied"]

    r = client.post(f"/api/v1/sync/change-sets/{cs_id}/apply", json={"note": "核对无误"}, headers=h)
    assert r.status_code == 200, r.text
    applied = r.json()
    assert applied["state"] == "applied" and applied["note"] == "核对无误" and applied["items"][0]["applied"]
    device_id = applied["items"][0]["device_id"]
    assert applied["items"][0]["device_code"].startswith("CN-IOT-")
    versions = client.get(f"/api/v1/devices/{device_id}/versions", headers=h).json()
    assert versions[0]["source"] == "sync" and versions[0]["reason"] == f"同步变更集 #{cs_id}"

    again = client.post(f"/api/v1/sync/change-sets/{cs_id}/apply", headers=h)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert "applied" in again.json()["detail"]

    carrier.rename_field("floor", "installFloor")
    second = client.post(f"/api/v1/sync/sources/{conn_id}/run", headers=h).json()["change_set"]
    assert second["summary"]["renamed_fields"] == 1
    client.post(f"/api/v1/sync/change-sets/{second['id']}/apply", headers=h)
    assert client.get(f"/api/v1/devices/{device_id}", headers=h).json()["extra"] == {"installFloor": "2F"}
    r = client.post(f"/api/v1/sync/change-sets/{second['id']}/rollback", json={"note": "暂不采用"}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "rolled_back"
    assert client.get(f"/api/v1/devices/{device_id}", headers=h).json()["extra"] == {"floor": "2F"}
    versions = client.get(f"/api/v1/devices/{device_id}/versions", headers=h).json()
    assert [v["source"] for v in versions] == ["sync-rollback", "sync", "sync"]
    assert client.post(f"/api/v1/sync/change-sets/{second['id']}/rollback", headers=h).status_code == 409


def test_a_failing_upstream_is_a_502_and_a_kept_failed_set(client, auth_headers, carrier, conn_id):
    h = auth_headers("admin")
    dead = f"http://127.0.0.1:{free_port()}"
    client.put(f"/api/v1/sync/sources/{conn_id}", json=source_body(dead), headers=h)
    r = client.post(f"/api/v1/sync/sources/{conn_id}/run", headers=h)
    assert r.status_code == 502 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert "无法读取上游设备清单" in body["detail"] and "无法连接" in body["detail"] and body["change_set_id"]
    failed = client.get(f"/api/v1/sync/change-sets/{body['change_set_id']}", headers=h).json()
    assert failed["state"] == "failed" and failed["items"] == []
    src = client.get(f"/api/v1/sync/sources/{conn_id}", headers=h).json()
    assert src["last_outcome"] == "failed" and src["failures"] == 1 and src["next_run_at"]
    assert client.get("/api/v1/devices", headers=h).json()["total"] == 0
    assert client.get("/api/v1/sync/change-sets?state=bogus", headers=h).status_code == 422


# -- console ------------------------------------------------------------------------------------

@pytest.fixture
def login(client, make_user):
    def do(role: str, street_code: str | None = None) -> None:
        client.cookies.clear()
        username = make_user(role, street_code)
        r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303, r.text

    return do


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_console_configure_pull_review_and_apply(client, login, carrier, conn_id):
    login("manager")
    page = client.get(f"/console/sync/sources/{conn_id}")
    assert page.status_code == 200 and "配置同步源" in page.text
    csrf = _csrf(page.text)
    import json

    other = {k: v for k, v in SETTINGS_FOR_SYNC.items()}
    r = client.post(f"/console/sync/sources/{conn_id}", data={
        "csrf": csrf, "base_url": carrier.url, "token": TOKEN, "settings": json.dumps(other), "interval_s": "900",
        "enabled": "1"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(f"/console/sync/sources/{conn_id}")
    assert "已设置，留空不变" in page.text and TOKEN not in page.text
    bad = client.post(f"/console/sync/sources/{conn_id}", data={
        "csrf": csrf, "base_url": carrier.url, "settings": "{not json", "interval_s": "900"})
    assert bad.status_code == 422 and "保存失败" in bad.text

    r = client.post(f"/console/sync/sources/{conn_id}/run", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "/console/sync/change-sets/" in r.headers["location"]
    cs_url = r.headers["location"].split("?")[0]
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "待审核" in page.text and "华阳路1号烟感" in page.text
    assert 'id="btn-apply"' in page.text and "extra.floor" not in page.text
    r = client.post(cs_url + "/apply", data={"csrf": csrf, "note": ""}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "已应用" in page.text and 'id="btn-rollback"' in page.text and "CN-IOT-" in page.text
    again = client.post(cs_url + "/apply", data={"csrf": csrf})
    assert again.status_code == 409 and "操作失败" in again.text

    carrier.update_device("ctw-a1", address="华阳路3号")
    carrier.rename_field("floor", "installFloor")
    r = client.post(f"/console/sync/sources/{conn_id}/run", data={"csrf": csrf}, follow_redirects=False)
    page = client.get(r.headers["location"])
    assert "华阳路1号" in page.text and "华阳路3号" in page.text and "extra.installFloor" in page.text
    lst = client.get("/console/sync")
    assert lst.status_code == 200 and "电信AEP" in lst.text and 'id="change-sets-table"' in lst.text
    assert client.post(cs_url + "/apply", data={"csrf": "forged"}).status_code == 403


def test_console_roles_and_a_failed_pull(client, login, carrier, conn_id):
    login("admin")
    csrf = _csrf(client.get(f"/console/sync/sources/{conn_id}").text)
    client.post(f"/console/sync/sources/{conn_id}", data={
        "csrf": csrf, "base_url": f"http://127.0.0.1:{free_port()}", "token": TOKEN,
        "settings": '{"retries": 0}', "interval_s": "600", "enabled": "1"})
    r = client.post(f"/console/sync/sources/{conn_id}/run", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "flash_kind=err" in r.headers["location"]
    page = client.get(r.headers["location"])
    assert "失败" in page.text and "无法连接" in page.text and 'id="btn-apply"' not in page.text
    cs_url = r.headers["location"].split("?")[0]

    login("auditor")
    assert client.get("/console/sync").status_code == 200
    page = client.get(f"/console/sync/sources/{conn_id}")
    assert page.status_code == 200 and 'id="source-form"' not in page.text and TOKEN not in page.text
    csrf = _csrf(client.get("/console/sync").text)
    assert client.post(cs_url + "/reject", data={"csrf": csrf}).status_code == 403
    assert client.post(f"/console/sync/sources/{conn_id}/run", data={"csrf": csrf}).status_code == 403
    login("street", "310105001")
    assert client.get("/console/sync").status_code == 403
