"""Rule overrides API (IOT-5): CRUD, readable 422s, roles, street scope, effective rules per
device with their layer, product defaults, and no clash with the device routes."""

from __future__ import annotations

HUAYANG = "310105001"  # the street of (121.420, 31.222)
OTHER = "310105004"


def _product(client, h, code="SMOKE-NB-CTW") -> int:
    return next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == code)


def _device(client, h, ext: str) -> dict:
    r = client.post("/api/v1/devices", json={"name": "烟感", "product_id": _product(client, h), "external_id": ext,
                                             "lon": 121.420, "lat": 31.222}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()


def _temp_rule(value: float, rule_id: str = "range:temperature:max") -> dict:
    return {"id": rule_id, "alarm_type": "温度超上限", "severity": "major",
            "condition": {"kind": "threshold", "property": "temperature", "op": ">=", "value": value,
                          "clear_below": value - 5}}


def test_crud_and_effective_rules(client, auth_headers):
    tech = auth_headers("technician")
    d = _device(client, tech, "api-r1")
    r = client.post("/api/v1/rule-overrides", json={"scope_kind": "device", "scope_value": str(d["id"]),
                                                    "mode": "replace", "rule": _temp_rule(45), "note": "机房旁"},
                    headers=tech)
    assert r.status_code == 201, r.text
    ov = r.json()
    assert ov["rule_id"] == "range:temperature:max" and ov["created_by"].startswith("technician")
    assert ov["scope_label"].startswith("CN-IOT-") and ov["created_at"].endswith("+08:00")
    eff = {e["rule_id"]: e for e in client.get(f"/api/v1/devices/{d['id']}/rules", headers=tech).json()}
    assert eff["range:temperature:max"]["layer"] == "device" and eff["range:temperature:max"]["severity"] == "major"
    assert eff["range:temperature:max"]["override_id"] == ov["id"] and eff["low_battery"]["layer"] == "default"
    r = client.patch(f"/api/v1/rule-overrides/{ov['id']}", json={"enabled": False}, headers=tech)
    assert r.status_code == 200 and r.json()["enabled"] is False
    eff = {e["rule_id"]: e for e in client.get(f"/api/v1/devices/{d['id']}/rules", headers=tech).json()}
    assert eff["range:temperature:max"]["layer"] == "default"  # a switched-off override does not apply
    listed = client.get("/api/v1/rule-overrides?scope_kind=device", headers=tech).json()
    assert [o["id"] for o in listed] == [ov["id"]]
    assert client.delete(f"/api/v1/rule-overrides/{ov['id']}", headers=tech).status_code == 204
    assert client.delete(f"/api/v1/rule-overrides/{ov['id']}", headers=tech).status_code == 404
    assert client.get("/api/v1/rule-overrides", headers=tech).json() == []


def test_readable_422s(client, auth_headers):
    h = auth_headers("manager")
    bad = _temp_rule(45)
    bad["condition"]["op"] = "~"
    r = client.post("/api/v1/rule-overrides", json={"scope_kind": "product", "scope_value": "SMOKE-NB-CTW",
                                                    "mode": "replace", "rule": bad}, headers=h)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "规则定义无效" in r.json()["detail"] and "condition.threshold.op" in r.json()["detail"]
    r = client.post("/api/v1/rule-overrides", json={"scope_kind": "product", "scope_value": "SMOKE-NB-CTW",
                                                    "mode": "disable", "rule_id": "no-such-rule"}, headers=h)
    assert r.status_code == 422 and "no-such-rule" in r.json()["detail"]
    r = client.post("/api/v1/rule-overrides", json={"scope_kind": "tag", "scope_value": "scenario:无此标签",
                                                    "mode": "disable", "rule_id": "low_battery"}, headers=h)
    assert r.status_code == 422 and "未知标签" in r.json()["detail"]
    ok = {"scope_kind": "product", "scope_value": "SMOKE-NB-CTW", "mode": "disable", "rule_id": "event:tamper"}
    assert client.post("/api/v1/rule-overrides", json=ok, headers=h).status_code == 201
    assert client.post("/api/v1/rule-overrides", json=ok, headers=h).status_code == 409
    assert client.patch("/api/v1/rule-overrides/99999", json={"note": "x"}, headers=h).status_code == 404


def test_roles(client, auth_headers):
    admin = auth_headers("admin")
    d = _device(client, admin, "api-r2")
    body = {"scope_kind": "device", "scope_value": str(d["id"]), "mode": "disable", "rule_id": "weak_signal"}
    assert client.post("/api/v1/rule-overrides", json=body).status_code == 401
    for role in ("duty", "auditor"):
        h = auth_headers(role)
        assert client.post("/api/v1/rule-overrides", json=body, headers=h).status_code == 403
        assert client.get("/api/v1/rule-overrides", headers=h).status_code == 200
        assert client.get(f"/api/v1/devices/{d['id']}/rules", headers=h).status_code == 200
    assert client.post("/api/v1/rule-overrides", json=body, headers=auth_headers("street", HUAYANG)).status_code == 403
    ov = client.post("/api/v1/rule-overrides", json=body, headers=admin).json()
    duty = auth_headers("duty")
    assert client.patch(f"/api/v1/rule-overrides/{ov['id']}", json={"note": "x"}, headers=duty).status_code == 403
    assert client.delete(f"/api/v1/rule-overrides/{ov['id']}", headers=duty).status_code == 403


def test_street_scope(client, auth_headers):
    admin = auth_headers("admin")
    d = _device(client, admin, "api-r3")  # 华阳路街道
    client.post("/api/v1/rule-overrides", json={"scope_kind": "device", "scope_value": str(d["id"]),
                                                "mode": "disable", "rule_id": "weak_signal"}, headers=admin)
    client.post("/api/v1/rule-overrides", json={"scope_kind": "product", "scope_value": "SMOKE-NB-CTW",
                                                "mode": "disable", "rule_id": "event:tamper"}, headers=admin)
    own, other = auth_headers("street", HUAYANG), auth_headers("street", OTHER)
    assert client.get(f"/api/v1/devices/{d['id']}/rules", headers=own).status_code == 200
    assert client.get(f"/api/v1/devices/{d['id']}/rules", headers=other).status_code == 404
    assert {o["scope_kind"] for o in client.get("/api/v1/rule-overrides", headers=own).json()} == {"device",
                                                                                                  "product"}
    assert {o["scope_kind"] for o in client.get("/api/v1/rule-overrides", headers=other).json()} == {"product"}
    dev_ov = next(o for o in client.get("/api/v1/rule-overrides", headers=own).json() if o["scope_kind"] == "device")
    assert client.get(f"/api/v1/rule-overrides/{dev_ov['id']}", headers=own).json()["rule_id"] == "weak_signal"
    assert client.get(f"/api/v1/rule-overrides/{dev_ov['id']}", headers=other).status_code == 404


def test_product_defaults_and_no_route_clash(client, auth_headers):
    h = auth_headers("auditor")
    pid = _product(client, h)
    rules = client.get(f"/api/v1/products/{pid}/rules", headers=h).json()
    assert {r["rule_id"] for r in rules} >= {"low_battery", "status:smoke_alarm", "event:smoke_alarm"}
    assert all(r["layer"] == "default" for r in rules)
    assert client.get("/api/v1/products/99999/rules", headers=h).status_code == 404
    assert client.get("/api/v1/devices/99999/rules", headers=h).status_code == 404
    # the device routes still answer as before
    assert client.get(f"/api/v1/products/{pid}", headers=h).json()["code"] == "SMOKE-NB-CTW"
    assert client.get("/api/v1/devices/stats", headers=h).status_code == 200
    d = _device(client, auth_headers("admin"), "api-r4")
    assert client.get(f"/api/v1/devices/{d['id']}", headers=h).json()["id"] == d["id"]
