"""The big screen's bearer API (SYS-SCREEN): every panel or one, any role, a street user
confined to their street; display keys managed by admins and managers, audited."""

from sqlalchemy import select

from cityops.audit.models import AuditEntry
from cityops.screen.panels import PANELS
from tests.screen.screen_seed import seed

PROBLEM = "application/problem+json"


def test_panels_api(client, db, auth_headers):
    sd = seed(db)
    r = client.get("/api/v1/screen/panels")
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM

    duty = auth_headers("duty")
    body = client.get("/api/v1/screen/panels", headers=duty).json()
    assert body["street"] is None and body["street_name"] and "+08:00" in body["generated_at"]
    assert list(body["panels"]) == list(PANELS)
    assert body["panels"]["devices"]["data"]["total"] == 4
    assert body["panels"]["alarms"]["name"] == "alarms" and body["panels"]["alarms"]["version"]

    one = client.get("/api/v1/screen/panels/devices", params={"street": sd.a}, headers=duty).json()
    assert one["name"] == "devices" and one["data"]["total"] == 3
    for path, params in (("/api/v1/screen/panels/nope", {}), ("/api/v1/screen/panels", {"street": "999999999"})):
        r = client.get(path, params=params, headers=duty)
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM, path
    assert "未知的大屏面板 'nope'" in client.get("/api/v1/screen/panels/nope", headers=duty).json()["detail"]
    r = client.get("/api/v1/screen/panels", params={"street": "999999999"}, headers=duty)
    assert r.json()["detail"] == "街镇 999999999 不存在"

    street = auth_headers("street", street_code=sd.b)
    mine = client.get("/api/v1/screen/panels", headers=street).json()
    assert mine["street"] == sd.b and mine["panels"]["devices"]["data"]["total"] == 1  # confined without asking
    r = client.get("/api/v1/screen/panels", params={"street": sd.a}, headers=street)
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    assert client.get("/api/v1/screen/panels/alarms", params={"street": sd.a}, headers=street).status_code == 403
    assert client.get("/api/v1/screen/panels/alarms", params={"street": sd.b}, headers=street).status_code == 200


def test_displays_api(client, db, auth_headers):
    manager = auth_headers("manager")
    assert client.get("/api/v1/screen/displays").status_code == 401
    assert client.get("/api/v1/screen/displays", headers=auth_headers("duty")).status_code == 403
    r = client.post("/api/v1/screen/displays", json={"name": "指挥大厅主屏"}, headers=manager)
    assert r.status_code == 201, r.text
    made = r.json()
    assert len(made["key"]) >= 40 and made["url"] == f"/screen/display/{made['key']}" and made["active"]
    assert client.post("/api/v1/screen/displays", json={"name": "x", "street_code": "999"},
                       headers=manager).status_code == 404
    assert client.post("/api/v1/screen/displays", json={"name": " "}, headers=manager).status_code == 422

    listed = client.get("/api/v1/screen/displays", headers=manager).json()
    assert [d["name"] for d in listed] == ["指挥大厅主屏"]
    assert "key" not in listed[0] and "key_hash" not in listed[0]  # the key is shown once

    r = client.post(f"/api/v1/screen/displays/{made['id']}/revoke", headers=manager)
    assert r.status_code == 200 and r.json()["revoked_at"] and not r.json()["active"]
    assert client.post(f"/api/v1/screen/displays/{made['id']}/revoke", headers=manager).status_code == 409
    assert client.post("/api/v1/screen/displays/999/revoke", headers=manager).status_code == 404

    with db.session() as s:
        trail = s.execute(select(AuditEntry.action, AuditEntry.after).where(
            AuditEntry.entity == "screen_displays").order_by(AuditEntry.seq)).all()
    assert [a for a, _ in trail] == ["create", "update"]
    assert trail[0][1]["name"] == "指挥大厅主屏" and "key_hash" not in trail[0][1]
    assert made["key"] not in str(trail)
