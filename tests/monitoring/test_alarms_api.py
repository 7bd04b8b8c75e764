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


def test_alarm_board_page(client, auth_headers, make_user, db):
    import re

    from tests.conftest import PASSWORD

    h = auth_headers("admin")
    d, aid = _alarm(db, client, h)
    client.cookies.clear()
    name = make_user("duty")
    client.post("/login", data={"username": name, "password": PASSWORD})
    html = client.get("/console/alarms").text
    assert "烟雾报警" in html and "紧急" in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    r = client.post(f"/console/alarms/{aid}/ack", data={"csrf": csrf, "text": "已通知物业"}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/console/alarms/{aid}/clear", data={"csrf": csrf, "text": ""})
    assert "操作失败" in r.text  # a manual clear needs a reason
    r = client.post(f"/console/alarms/{aid}/clear", data={"csrf": csrf, "text": "误报"}, follow_redirects=False)
    assert r.status_code == 303
    assert "误报" in client.get("/console/alarms?state=cleared").text
    detail = client.get(f"/console/devices/{d['id']}").text
    assert "从未上报 → 在线" in detail


def test_online_rate_kpi(client, auth_headers, db):
    from cityops.devices.models import Device

    h = auth_headers("manager")
    pid = next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == "SMOKE-NB-CTW")
    ids = [client.post("/api/v1/devices", json={"name": f"k{i}", "product_id": pid, "external_id": f"k{i}",
                                                "lon": 121.420, "lat": 31.222}, headers=h).json()["id"]
           for i in range(4)]
    with db.session() as s:
        s.execute(Device.__table__.update().where(Device.id.in_(ids[:3])).values(online=True))
        s.execute(Device.__table__.update().where(Device.id == ids[3]).values(status="retired"))
    body = client.get("/api/v1/kpi/online-rate?by=street_code", headers=h).json()
    assert body["overall"]["devices"] == 3 and body["overall"]["rate"] == 1.0
    assert body["groups"] == [{"key": "310105001", "devices": 3, "online": 3, "rate": 1.0}]
    assert client.get("/api/v1/kpi/online-rate?by=password", headers=h).status_code == 422
    assert client.get("/api/v1/kpi/alarm-times", headers=h).json()["alarms"] == 0
