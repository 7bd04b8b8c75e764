"""Alarm API: list, acknowledge, clear, street scope, state history (IOT-5)."""

from cityops.monitoring import service


def _alarm(db, client, h, lon=121.420, lat=31.222):
    pid = next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == "SMOKE-NB-CTW")
    d = client.post("/api/v1/devices", json={"name": "烟感", "product_id": pid, "external_id": f"al-{lon}",
                                             "lon": lon, "lat": lat}, headers=h).json()
    with db.session() as s:
        a = service.raise_alarm(s, device_id=d["id"], alarm_type="smoke_alarm", severity="critical",
                                source="vendor", message="烟雾报警")
        service.record_transition(s, device_id=d["id"], old="never_seen", new="online", reason="data")
        return d, a.id


def test_list_ack_clear(client, auth_headers, db):
    h = auth_headers("admin")
    d, aid = _alarm(db, client, h)
    duty = auth_headers("duty")
    page = client.get("/api/v1/alarms?open=true", headers=duty).json()
    assert page["total"] == 1 and page["items"][0]["severity"] == "critical"
    r = client.post(f"/api/v1/alarms/{aid}/ack", json={"note": "已派人核查"}, headers=duty)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert client.post(f"/api/v1/alarms/{aid}/ack", json={}, headers=duty).status_code == 409
    assert client.post(f"/api/v1/alarms/{aid}/clear", json={"reason": ""}, headers=duty).status_code == 422
    r = client.post(f"/api/v1/alarms/{aid}/clear", json={"reason": "误报：厨房油烟"}, headers=duty)
    assert r.json()["state"] == "cleared" and r.json()["cleared_by"].startswith("duty")
    hist = client.get(f"/api/v1/devices/{d['id']}/state-history", headers=duty).json()
    assert hist[0]["new"] == "online" and hist[0]["at"].endswith("+08:00")
    assert client.post(f"/api/v1/alarms/{aid}/ack", json={}, headers=auth_headers("auditor")).status_code == 403


def test_street_scope(client, auth_headers, db):
    h = auth_headers("admin")
    _, aid = _alarm(db, client, h)  # 华阳路街道
    other = auth_headers("street", "310105004")
    assert client.get("/api/v1/alarms", headers=other).json()["total"] == 0
    assert client.post(f"/api/v1/alarms/{aid}/ack", json={}, headers=other).status_code == 404
    own = auth_headers("street", "310105001")
    assert client.get("/api/v1/alarms", headers=own).json()["total"] == 1
