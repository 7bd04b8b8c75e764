"""Visits API (VISIT-1): roles, problem+json, default freeze, the freeze query, manual check, record."""

from __future__ import annotations


def test_visits_over_the_api(client, auth_headers, db):
    mgr, duty, tech, auditor = (auth_headers(r) for r in ("manager", "duty", "technician", "auditor"))
    body = {"title": "兄弟区考察", "organisation": "徐汇区城运中心", "visitor_count": 6, "host": "王主任",
            "starts_at": "2026-12-10T14:00:00+08:00", "ends_at": "2026-12-10T16:00:00+08:00", "system_codes": ["SYS-EYE"]}
    assert client.post("/api/v1/visits", headers=duty, json=body).status_code == 403
    r = client.post("/api/v1/visits", headers=mgr, json={**body, "system_codes": ["SYS-NONE"]})
    assert r.status_code == 422 and "未知的系统编码" in r.json()["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/api/v1/visits", headers=mgr, json=body)
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["freeze_from"] == "2026-12-10T08:00:00+08:00" and v["freeze_until"] == "2026-12-10T16:00:00+08:00"
    assert v["check_hours"] == [24, 2] and v["state"] == "planned"
    f = client.get("/api/v1/visits/freeze?at=2026-12-10T09:00:00%2B08:00", headers=auditor).json()
    assert f["frozen"] is True and f["visit"]["id"] == v["id"]
    assert client.get("/api/v1/visits/freeze?at=2026-12-10T07:00:00%2B08:00", headers=auditor).json()["frozen"] is False
    r = client.post(f"/api/v1/visits/{v['id']}/checks", headers=tech)
    assert r.status_code == 201 and r.json()["hours_before"] is None
    assert client.post(f"/api/v1/visits/{v['id']}/checks", headers=auditor).status_code == 403
    assert client.get(f"/api/v1/visits/{v['id']}", headers=auditor).json()["checks"][0]["id"] == r.json()["id"]
    r = client.post(f"/api/v1/visits/{v['id']}/state", headers=mgr, json={"state": "done"})
    assert r.status_code == 422
    r = client.post(f"/api/v1/visits/{v['id']}/record", headers=duty, json={"outcome": "顺利"})
    assert r.status_code == 409 and "尚未开始" in r.json()["detail"]  # the record comes after the visit
    assert client.post(f"/api/v1/visits/{v['id']}/record", headers=tech, json={"outcome": "x"}).status_code == 403
    assert client.get("/api/v1/visits?first=2026-12-01&last=2026-12-31", headers=auditor).json()[0]["id"] == v["id"]
    assert client.get("/api/v1/visits/424242", headers=auditor).status_code == 404
