"""Device API: roles, scoping, filters, versions, tags (IOT-1..IOT-3)."""


def _product_id(client, h, code="WATER-ONENET"):
    return next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == code)


def test_create_list_filter_and_version(client, auth_headers):
    h = auth_headers("technician")
    pid = _product_id(client, h)
    r = client.post("/api/v1/devices", json={"name": "延安西路积水点", "product_id": pid, "external_id": "wl-001",
                                             "lon": 121.41, "lat": 31.198, "reason": "新装"}, headers=h)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["platform"] == "onenet" and d["street_code"] and d["online"] is None
    assert d["created_at"].endswith("+08:00")
    listed = client.get(f"/api/v1/devices?street={d['street_code']}&device_type=water_level", headers=h).json()
    assert listed["total"] == 1 and listed["items"][0]["code"] == d["code"]
    assert client.get("/api/v1/devices?device_type=smoke", headers=h).json()["total"] == 0
    r = client.patch(f"/api/v1/devices/{d['id']}", json={"address": "延安西路2000号", "reason": "补录地址"}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2
    versions = client.get(f"/api/v1/devices/{d['id']}/versions", headers=h).json()
    assert versions[0]["reason"] == "补录地址" and versions[0]["changes"]["address"] == ["", "延安西路2000号"]


def test_roles_and_scope(client, auth_headers):
    admin = auth_headers("admin")
    pid = _product_id(client, admin)
    d = client.post("/api/v1/devices", json={"name": "x", "product_id": pid, "external_id": "wl-9",
                                             "lon": 121.420, "lat": 31.222}, headers=admin).json()
    own = auth_headers("street", "310105001")
    other = auth_headers("street", "310105004")
    assert client.get(f"/api/v1/devices/{d['id']}", headers=own).status_code == 200
    assert client.get(f"/api/v1/devices/{d['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/devices", headers=other).json()["total"] == 0
    assert client.patch(f"/api/v1/devices/{d['id']}", json={"name": "y"}, headers=own).status_code == 403
    auditor = auth_headers("auditor")
    assert client.post("/api/v1/devices", json={"name": "z", "product_id": pid, "external_id": "z"},
                       headers=auditor).status_code == 403


def test_errors_are_problem_json(client, auth_headers):
    h = auth_headers("manager")
    pid = _product_id(client, h)
    body = {"name": "a", "product_id": pid, "external_id": "e1"}
    assert client.post("/api/v1/devices", json=body, headers=h).status_code == 201
    r = client.post("/api/v1/devices", json=body, headers=h)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    r = client.post("/api/v1/devices", json={**body, "external_id": "e2", "imei": "12"}, headers=h)
    assert r.status_code == 422 and "IMEI" in r.json()["detail"]


def test_error_details_are_chinese(client, auth_headers):
    h = auth_headers("manager")
    r = client.get("/api/v1/devices/999999", headers=h)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Not Found" and r.json()["detail"] == "设备 999999 不存在"
    pid = _product_id(client, h)
    body = {"name": "a", "product_id": pid, "external_id": "e1"}
    assert client.post("/api/v1/devices", json=body, headers=h).status_code == 201
    r = client.post("/api/v1/devices", json=body, headers=h)
    assert r.status_code == 409 and r.json()["detail"] == "设备 onenet/e1 已存在"
    r = client.post("/api/v1/devices", json={**body, "external_id": "e2", "imei": "12"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"] == "IMEI 应为 15 位数字，实际为“12”"


def test_tags_and_stats(client, auth_headers):
    h = auth_headers("manager")
    pid = _product_id(client, h, "SMOKE-NB-CTW")
    ids = [client.post("/api/v1/devices", json={"name": f"s{i}", "product_id": pid, "external_id": f"s{i}",
                                                "lon": 121.420, "lat": 31.222}, headers=h).json()["id"]
           for i in range(3)]
    r = client.post("/api/v1/tags", json={"category": "custom", "name": "重点单位"}, headers=h)
    assert r.status_code == 201
    tag = r.json()["id"]
    assert client.post(f"/api/v1/tags/{tag}/devices", json={"device_ids": ids[:2]}, headers=h).json() == {"changed": 2}
    assert client.get(f"/api/v1/devices?tag={tag}", headers=h).json()["total"] == 2
    stats = client.get(f"/api/v1/devices/stats?by=device_type&tag={tag}", headers=h).json()
    assert stats == {"smoke": 2}
    assert client.post("/api/v1/tags", json={"category": "custom", "name": "重点单位"}, headers=h).status_code == 409
    assert client.get("/api/v1/devices/stats?by=password_hash", headers=h).status_code == 422


def test_metadata_checks_run_on_change(client, auth_headers):
    """IOT-1: a device saved with a street that contradicts its point gets a finding at once."""
    h = auth_headers("manager")
    pid = _product_id(client, h)
    d = client.post("/api/v1/devices", json={"name": "错街镇", "product_id": pid, "external_id": "chk-1",
                                             "lon": 121.420, "lat": 31.222, "street_code": "310105102",
                                             "address": "长宁路1号"}, headers=h).json()
    findings = client.get("/api/v1/devices/quality/findings?state=open", headers=h).json()["items"]
    mine = [f for f in findings if f["device_id"] == d["id"]]
    assert any(f["check"] == "point_street" for f in mine), mine
