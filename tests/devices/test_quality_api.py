"""Device metadata quality through the API and the console (IOT-1 设备元数据纠错): findings
with filters and street scope, bulk accept/reject, runs, scores, the gazetteer, and the
role checks on every route."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cityops.audit.context import acting_as
from cityops.devices import checks, service
from cityops.devices.models import Device
from cityops.devices.quality_models import GazetteerEntry, MetadataFinding
from tests.conftest import PASSWORD
from tests.devices.test_checks import build_fleet, finding_of

API = "/api/v1/devices/quality"


def ensure_quality_routes(app) -> None:
    """Until registry.py includes them."""
    from cityops.devices import quality_api, quality_pages

    if any(getattr(r, "original_router", None) is quality_api.router for r in app.router.routes) or any(
            getattr(r, "path", "") == f"{API}/findings" for r in app.router.routes):
        return
    app.include_router(quality_api.router)
    app.include_router(quality_pages.router)


@pytest.fixture
def app(app):
    ensure_quality_routes(app)
    return app


@pytest.fixture
def fleet(db):
    with acting_as("tester"), db.session() as s:
        f = build_fleet(s, per_grid=3)
        checks.run_checks(s)
        return f


def _street_of(db, device_id: int) -> str:
    with db.session() as s:
        return s.get(Device, device_id).street_code


def test_findings_are_filtered_paginated_and_scoped(client, auth_headers, db, fleet):
    h = auth_headers("auditor")
    r = client.get(f"{API}/findings", params={"state": "open", "limit": 5}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(fleet.expected_pairs()) and len(body["items"]) == 5
    r = client.get(f"{API}/findings", params={"check": "datum"}, headers=h).json()
    datum = {fleet.ids[k] for k in ("datum_outside", "datum_street", "datum_grid")}
    assert {i["device_id"] for i in r["items"]} == datum
    item = r["items"][0]
    assert item["check_label"] == "坐标系疑似错误（WGS-84）" and item["severity"] == "high"
    assert {c["field"] for c in item["changes"]} == {"lon", "lat"} and item["created_at"].endswith("+08:00")
    assert client.get(f"{API}/findings", params={"check": "nope"}, headers=h).status_code == 422
    # a street user sees the findings of their street's devices only
    street = _street_of(db, fleet.ids["point_street"])
    hs = auth_headers("street", street)
    items = client.get(f"{API}/findings", params={"limit": 1000}, headers=hs).json()["items"]
    assert items and {i["street_code"] for i in items} == {street}
    other = next(i for i in client.get(f"{API}/findings", params={"limit": 1000}, headers=h).json()["items"]
                 if i["street_code"] != street)
    assert client.get(f"{API}/findings/{other['id']}", headers=hs).status_code == 404
    assert client.get(f"{API}/findings/{items[0]['id']}", headers=hs).status_code == 200
    checks_list = client.get(f"{API}/checks", headers=hs).json()
    assert [c["code"] for c in checks_list] == list(checks.CHECKS)


def test_accept_and_reject_in_bulk_through_the_api(client, auth_headers, db, fleet):
    ids = fleet.ids
    with db.session() as s:
        accept_ids = [finding_of(s, ids["grid_missing"], "grid").id,
                      finding_of(s, ids["grid_wrong_street"], "grid").id]
        no_proposal = finding_of(s, ids["outside"], "outside_district").id
        to_reject = finding_of(s, ids["address_conflict"], "address_street").id
    h = auth_headers("technician")
    r = client.post(f"{API}/findings/accept", json={"ids": accept_ids + [no_proposal]}, headers=h)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert f"#{no_proposal}" in r.json()["detail"]
    r = client.post(f"{API}/findings/accept", json={"ids": accept_ids, "note": "按坐标补正网格"}, headers=h)
    assert r.status_code == 200 and sorted(r.json()["accepted"]) == sorted(accept_ids)
    with db.session() as s:
        assert s.get(Device, ids["grid_missing"]).grid_code == fleet.info["grid_missing"]["grid"]
        v = service.versions(s, ids["grid_wrong_street"])[0]
        assert v.source == "correction" and v.reason.startswith(f"元数据纠错 #{accept_ids[1]}")
    r = client.post(f"{API}/findings/reject", json={"ids": [to_reject], "note": "门牌无误"}, headers=h)
    assert r.status_code == 200 and r.json() == {"rejected": [to_reject]}
    assert client.post(f"{API}/findings/reject", json={"ids": [to_reject]}, headers=h).status_code == 409
    assert client.post(f"{API}/findings/reject", json={"ids": []}, headers=h).status_code == 422
    assert client.post(f"{API}/findings/accept", json={"ids": [999999]}, headers=h).status_code == 404
    run = client.post(f"{API}/run", headers=h).json()
    assert run["opened"] == 0 and run["suppressed"] == 1
    got = client.get(f"{API}/findings/{to_reject}", headers=h).json()
    assert got["state"] == "rejected" and got["decision_note"] == "门牌无误" and got["decided_by"].startswith("technician")


def test_roles_on_decisions_runs_and_gazetteer(client, auth_headers, db, fleet):
    with db.session() as s:
        fid = finding_of(s, fleet.ids["grid_missing"], "grid").id
    street = _street_of(db, fleet.ids["grid_missing"])
    for role, street_code in (("street", street), ("duty", None), ("auditor", None)):
        h = auth_headers(role, street_code)
        assert client.post(f"{API}/findings/accept", json={"ids": [fid]}, headers=h).status_code == 403
        assert client.post(f"{API}/findings/reject", json={"ids": [fid]}, headers=h).status_code == 403
        assert client.post(f"{API}/run", headers=h).status_code == 403
        assert client.post(f"{API}/gazetteer", json={"name": "测试路", "street_codes": [street]},
                           headers=h).status_code == 403
        assert client.get(f"{API}/scores", headers=h).status_code == 200
        assert client.get(f"{API}/gazetteer", headers=h).status_code == 200
    tech = auth_headers("technician")
    assert client.post(f"{API}/gazetteer", json={"name": "测试路", "street_codes": [street]},
                       headers=tech).status_code == 403
    assert client.post(f"{API}/run", json={"device_ids": [fleet.ids["grid_missing"]]}, headers=tech).json()[
        "devices"] >= 1
    mgr = auth_headers("manager")
    r = client.post(f"{API}/gazetteer", json={"name": "测试路", "street_codes": [street, "310105009"],
                                               "kind": "road", "note": "测试"}, headers=mgr)
    assert r.status_code == 201 and {e["street_code"] for e in r.json()} == {street, "310105009"}
    assert all(e["source"] == "operator" and e["active"] for e in r.json())
    assert client.post(f"{API}/gazetteer", json={"name": "测试路", "street_codes": [street]},
                       headers=mgr).status_code == 409
    assert client.post(f"{API}/gazetteer", json={"name": "测试路", "street_codes": ["999"]},
                       headers=mgr).status_code == 422
    entry = r.json()[0]["id"]
    assert client.delete(f"{API}/gazetteer/{entry}", headers=tech).status_code == 403
    r = client.delete(f"{API}/gazetteer/{entry}", headers=mgr)
    assert r.status_code == 200 and r.json()["active"] is False
    names = [e["name"] for e in client.get(f"{API}/gazetteer", params={"q": "测试", "active": True},
                                           headers=mgr).json()]
    assert names == ["测试路"]  # the other street's row is still active
    seeded = client.get(f"{API}/gazetteer", params={"q": "长宁路"}, headers=mgr).json()
    assert len({e["street_code"] for e in seeded if e["name"] == "长宁路"}) >= 2  # a road across streets


def test_scores_api_is_scoped(client, auth_headers, fleet):
    full = client.get(f"{API}/scores", headers=auth_headers("manager")).json()
    assert len([r for r in full["streets"] if r["key"]]) == 10 and full["vendors"]
    assert full["weights"] == {"high": 1.0, "medium": 0.6, "low": 0.3}
    mine = client.get(f"{API}/scores", headers=auth_headers("street", "310105002")).json()
    assert [r["key"] for r in mine["streets"]] == ["310105002"]
    assert mine["overall"]["devices"] == mine["streets"][0]["devices"]


# -- console ---------------------------------------------------------------------------------

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


def test_findings_page_bulk_accept_and_reject(client, login, db, fleet):
    login("manager")
    r = client.get("/console/device-quality")
    assert r.status_code == 200 and 'id="findings-table"' in r.text
    assert r.text.count('name="ids"') == len(fleet.expected_pairs())
    assert f'href="/console/devices/{fleet.ids["point_street"]}"' in r.text
    assert "→" in r.text and "采纳所选建议" in r.text
    with db.session() as s:
        a = finding_of(s, fleet.ids["near_b"], "duplicate_nearby").id
        b = finding_of(s, fleet.ids["imei_b"], "duplicate_imei").id
        c = finding_of(s, fleet.ids["outside"], "outside_district").id
    token = _csrf(r.text)
    assert client.post("/console/device-quality/accept", data={"ids": [a], "csrf": "bad"}).status_code == 403
    r = client.post("/console/device-quality/accept", data={"ids": [a, b], "csrf": token, "note": "核实重复",
                                                            "check": "", "state": "open"}, follow_redirects=False)
    assert r.status_code == 303 and "state=open" in r.headers["location"]
    page = client.get(r.headers["location"])
    assert "已采纳 2 条纠错建议" in page.text
    r = client.post("/console/device-quality/accept", data={"ids": [c], "csrf": token}, follow_redirects=True)
    assert "操作失败" in r.text
    r = client.post("/console/device-quality/reject", data={"ids": [c], "csrf": token, "note": "设备临时外借"},
                    follow_redirects=True)
    assert "已驳回 1 条" in r.text
    with db.session() as s:
        assert s.get(Device, fleet.ids["near_b"]).status == "retired"
        assert s.get(MetadataFinding, c).state == "rejected"
    r = client.get("/console/device-quality", params={"state": "rejected"})
    assert "设备临时外借" in r.text
    r = client.post("/console/device-quality/run", data={"csrf": token}, follow_redirects=True)
    assert "检查完成" in r.text


def test_street_users_read_their_street_and_cannot_decide(client, login, db, fleet):
    street = _street_of(db, fleet.ids["point_street"])
    login("street", street)
    r = client.get("/console/device-quality", params={"state": ""})
    assert r.status_code == 200 and 'name="ids"' not in r.text and "采纳所选建议" not in r.text
    with db.session() as s:
        mine = {i for (i,) in s.execute(select(Device.id).where(Device.street_code == street))}
        expected = {d for d, _ in fleet.expected_pairs() if d in mine}
    shown = set(int(x) for x in re.findall(r'href="/console/devices/(\d+)"', r.text))
    assert shown == expected
    assert client.post("/console/device-quality/reject", data={"ids": [1], "csrf": _csrf(r.text)}).status_code == 403
    assert client.get("/console/device-quality/scores").status_code == 200


def test_scores_and_gazetteer_pages(client, login, db, fleet):
    login("auditor")
    r = client.get("/console/device-quality/scores")
    assert r.status_code == 200
    assert 'id="street-score-chart"' in r.text and 'id="quality-scores-data"' in r.text
    assert "/static/vendor/echarts.min.js" in r.text and "/static/device-quality.js" in r.text
    assert "华阳路街道" in r.text and 'id="vendor-scores"' in r.text
    assert client.get("/static/device-quality.js").status_code == 200
    r = client.get("/console/device-quality/gazetteer", params={"q": "延安西路"})
    assert r.status_code == 200 and "延安西路" in r.text and 'id="gazetteer-form"' not in r.text
    login("admin")
    r = client.get("/console/device-quality/gazetteer")
    token = _csrf(r.text)
    r = client.post("/console/device-quality/gazetteer", data={"csrf": token, "name": "示例路", "kind": "road",
                                                              "street_codes": ["310105001", "310105005"]},
                    follow_redirects=True)
    assert "已添加：示例路（2 个街镇）" in r.text
    with db.session() as s:
        entry = s.scalars(select(GazetteerEntry).where(GazetteerEntry.name == "示例路")).first()
    r = client.post(f"/console/device-quality/gazetteer/{entry.id}/deactivate", data={"csrf": token},
                    follow_redirects=True)
    assert "已停用：示例路" in r.text
    with db.session() as s:
        assert s.get(GazetteerEntry, entry.id).active is False
    r = client.post("/console/device-quality/gazetteer", data={"csrf": token, "name": "示例路", "kind": "road"},
                    follow_redirects=True)
    assert "添加失败" in r.text
