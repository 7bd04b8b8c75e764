"""Checklist, photo and room-access API (ROOM-1..3): roles, problem+json on bad input,
findings from readings, sign-off immutability, photo refusal, ID masking."""

from __future__ import annotations

from cityops.inspections import findings
from cityops.inspections.checklist_seed import seed_checklists

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
ROOM = "长宁区城运中心机房"


def _template(client, h, code="room-daily"):
    return next(t for t in client.get("/api/v1/checklist-templates", headers=h).json() if t["code"] == code)


def test_templates_runs_readings_and_sign_off(client, auth_headers, db):
    with db.session() as s:
        seed_checklists(s)
    duty, mgr, tech, auditor = (auth_headers(r) for r in ("duty", "manager", "technician", "auditor"))
    t = _template(client, auditor)
    assert t["version"] == 1 and t["items"][0] == {**t["items"][0], "code": "temperature", "max_value": 27.0}
    assert client.post("/api/v1/checklist-templates", headers=duty, json={"code": "x", "name": "x", "items": []}).status_code == 403
    r = client.post("/api/v1/checklist-templates", headers=mgr, json={"code": "x", "name": "X", "items": []})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "至少需要一个检查项" in r.json()["detail"]
    r = client.post("/api/v1/checklist-runs", headers=duty, json={"template_id": t["id"], "room": ROOM})
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["state"] == "draft" and run["started_at"].endswith("+08:00")
    assert client.post("/api/v1/checklist-runs", headers=auditor, json={"template_id": t["id"]}).status_code == 403
    r = client.post(f"/api/v1/checklist-runs/{run['id']}/readings", headers=tech,
                    json=[{"item_code": "temperature", "value": 31}, {"item_code": "humidity", "value": "55"}])
    assert r.status_code == 200 and r.json()["abnormal_count"] == 1
    with db.session() as s:
        assert findings.open_finding(s, f"checklist:{ROOM}:temperature") is not None
    r = client.post(f"/api/v1/checklist-runs/{run['id']}/readings", headers=tech, json=[{"item_code": "humidity", "value": "wet"}])
    assert r.status_code == 422 and "须为数字" in r.json()["detail"]
    r = client.post(f"/api/v1/checklist-runs/{run['id']}/submit", headers=duty, json={"signature": "张三"})
    assert r.status_code == 422 and "必填项" in r.json()["detail"]
    values = {"temperature": "22", "mains": "正常", "ups_state": "市电供电", "ups_load": "40", "battery": "45",
              "crac": "正常", "fire": "正常（自动）", "leds": "正常", "cabling": "正常", "access": "正常", "leak": "无漏水"}
    client.post(f"/api/v1/checklist-runs/{run['id']}/readings", headers=duty,
                json=[{"item_code": k, "value": v} for k, v in values.items()])
    with db.session() as s:
        assert findings.open_finding(s, f"checklist:{ROOM}:temperature") is None
    assert client.post(f"/api/v1/checklist-runs/{run['id']}/submit", headers=duty, json={"signature": "张三"}).status_code == 200
    assert client.post(f"/api/v1/checklist-runs/{run['id']}/sign-off", headers=tech, json={}).status_code == 403
    r = client.post(f"/api/v1/checklist-runs/{run['id']}/sign-off", headers=mgr, json={"note": "ok"})
    assert r.status_code == 200 and r.json()["state"] == "signed"
    r = client.post(f"/api/v1/checklist-runs/{run['id']}/readings", headers=duty, json=[{"item_code": "temperature", "value": 23}])
    assert r.status_code == 409
    page = client.get("/api/v1/checklist-runs?state=signed", headers=auditor).json()
    assert page["total"] == 1 and page["items"][0]["id"] == run["id"]
    # editing answers a new version
    r = client.patch(f"/api/v1/checklist-templates/{t['id']}", headers=mgr, json={"name": "机房日常巡检（新）"})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["id"] != t["id"]
    assert client.get(f"/api/v1/checklist-runs/{run['id']}", headers=auditor).json()["template_id"] == t["id"]


def test_photo_upload_refuses_other_types_and_big_files(client, auth_headers, db):
    duty, auditor = auth_headers("duty"), auth_headers("auditor")
    r = client.post("/api/v1/photos", headers=duty, files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")})
    assert r.status_code == 422 and "JPEG 或 PNG" in r.json()["detail"]
    big = b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024)
    r = client.post("/api/v1/photos", headers=duty, files={"file": ("big.jpg", big, "image/jpeg")})
    assert r.status_code == 422 and "10 MB" in r.json()["detail"]
    r = client.post("/api/v1/photos", headers=duty, files={"file": ("room.png", PNG, "image/png")})
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"
    got = client.get(r.json()["url"], headers=auditor)
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    assert client.get(r.json()["url"]).status_code == 401
    assert client.get("/api/v1/photos/999999", headers=auditor).status_code == 404


def test_room_access_api_masks_ids_for_roles_without_pii(client, auth_headers, db):
    duty, tech = auth_headers("duty"), auth_headers("technician")
    body = {"person": "赵工", "organisation": "海康威视", "id_number": "310105199001011234", "phone": "13912345678",
            "purpose": "更换硬盘", "room": ROOM}
    assert client.post("/api/v1/room-access", headers=tech, json=body).status_code == 403
    r = client.post("/api/v1/room-access", headers=duty, json={**body, "id_number": "12345678901234567Z"})
    assert r.status_code == 422 and "18 位" in r.json()["detail"]
    r = client.post("/api/v1/room-access", headers=duty, json=body)
    assert r.status_code == 201 and r.json()["id_number"] == "310105199001011234"
    aid = r.json()["id"]
    now = client.get("/api/v1/room-access?present=true", headers=tech).json()
    assert now["total"] == 1 and now["items"][0]["id_number"] == "3101**********1234"
    assert now["items"][0]["phone"] == "139****5678"
    csv_text = client.get("/api/v1/room-access.csv", headers=tech).content.decode("utf-8-sig")
    assert "3101**********1234" in csv_text and "13912345678" not in csv_text
    r = client.post(f"/api/v1/room-access/{aid}/check-out", headers=duty, json={"items_out": "旧硬盘"})
    assert r.status_code == 200 and r.json()["in_room"] is False
    assert client.post(f"/api/v1/room-access/{aid}/check-out", headers=duty, json={}).status_code == 409
    assert client.get("/api/v1/room-access?present=true", headers=tech).json()["total"] == 0
    audit = client.get("/api/v1/audit?entity=room_access", headers=auth_headers("auditor"))
    assert "310105199001011234" not in audit.text
