"""Catalog API: systems and modules (SYS-*) readable by every role, hardware (HW) by district
staff only; edits by the writer roles, audited with before/after (SVC-3)."""

from datetime import timedelta

from cityops.core.errors import PROBLEM
from cityops.core.timeutil import local, utcnow

API = "/api/v1/catalog"


def _asset(client, h, tag: str) -> dict:
    items = client.get(f"{API}/assets", params={"q": tag}, headers=h).json()["items"]
    return next(a for a in items if a["asset_tag"] == tag)


def test_every_role_reads_the_systems(client, auth_headers):
    """SYS-*: the ten systems with their modules, for street users too."""
    h = auth_headers("street", "310105002")
    body = client.get(f"{API}/systems", headers=h).json()
    assert [s["code"] for s in body][:3] == ["SYS-DUTY", "SYS-MOBILE", "SYS-EYE"] and len(body) == 10
    vision = client.get(f"{API}/systems/SYS-VISION", headers=h).json()
    assert len(vision["modules"]) == 25 and vision["criticality"] == "high"
    assert vision["modules"][24] | {"id": 0} == {
        "id": 0, "system_code": "SYS-VISION", "seq": 25, "section": "对外接口服务", "name": "对外接口服务",
        "owner": "", "criticality": "high", "health_check_url": "", "notes": ""}
    r = client.get(f"{API}/systems/SYS-NOPE", headers=h)
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    assert r.json()["detail"] == "系统 SYS-NOPE 不存在"


def test_modules_filter_and_edit(client, auth_headers):
    """SYS-SEC modules by section; managers edit a module; a bad URL is a 422 problem."""
    h = auth_headers("manager")
    rows = client.get(f"{API}/modules", params={"system": "SYS-SEC", "section": "安全舆情"}, headers=h).json()
    assert [m["name"] for m in rows] == ["舆情数据服务"]
    mid = rows[0]["id"]
    r = client.patch(f"{API}/modules/{mid}", json={"health_check_url": "https://yq.example/health", "owner": "赵工"},
                     headers=h)
    assert r.status_code == 200 and r.json()["health_check_url"] == "https://yq.example/health"
    assert client.get(f"{API}/modules/{mid}", headers=h).json()["owner"] == "赵工"
    r = client.patch(f"{API}/modules/{mid}", json={"health_check_url": "ftp://yq.example"}, headers=h)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["detail"] == "health_check_url 须为 http(s) 地址或留空，而不是 'ftp://yq.example'"


def test_only_reference_writers_edit_systems(client, auth_headers):
    """SYS-DISPATCH: admin/manager may edit; a technician may not."""
    r = client.patch(f"{API}/systems/SYS-DISPATCH", json={"owner": "李工", "criticality": "medium"},
                     headers=auth_headers("admin"))
    assert r.status_code == 200 and (r.json()["owner"], r.json()["criticality"]) == ("李工", "medium")
    r = client.patch(f"{API}/systems/SYS-DISPATCH", json={"owner": "x"}, headers=auth_headers("technician"))
    assert r.status_code == 403
    mid = client.get(f"{API}/modules", headers=auth_headers("duty")).json()[0]["id"]
    assert client.patch(f"{API}/modules/{mid}", json={"notes": "x"}, headers=auth_headers("duty")).status_code == 403


def test_street_users_see_no_hardware(client, auth_headers):
    """HW is district staff only: street users get 403 on every hardware route."""
    h = auth_headers("street", "310105002")
    for path in ("/hardware/lines", "/assets", "/assets/warranty", "/assets/1", "/assets/1/maintenance"):
        assert client.get(API + path, headers=h).status_code == 403, path
    assert client.get(f"{API}/hardware/lines").status_code == 401


def test_hardware_lines_and_asset_pages(client, auth_headers):
    """HW: 19 lines, 54 assets, filtered by line and status, paged."""
    h = auth_headers("auditor")
    lines = client.get(f"{API}/hardware/lines", headers=h).json()
    assert len(lines) == 19 and lines[0]["model"] == "SC200-VCI-MTH(A）" and lines[18]["quantity"] == 12
    page = client.get(f"{API}/assets", params={"limit": 5, "offset": 5}, headers=h).json()
    assert page["total"] == 54 and page["limit"] == 5 and [a["asset_tag"] for a in page["items"]][0] == "CN-HW-03-001"
    phones = client.get(f"{API}/assets", params={"line": 18, "status": "in_service"}, headers=h).json()
    assert phones["total"] == 12 and {a["model"] for a in phones["items"]} == {"T-28"}
    r = client.get(f"{API}/assets", params={"status": "lost"}, headers=h)
    assert r.status_code == 422


def test_technician_edits_an_asset_and_the_change_is_audited(client, auth_headers):
    """HW edit by a technician; the audit log shows who changed what, before and after (SVC-3)."""
    h = auth_headers("technician")
    a = _asset(client, h, "CN-HW-15-001")
    r = client.patch(f"{API}/assets/{a['id']}", headers=h,
                     json={"serial": "CMN-2022-0815", "rack": "B-07", "ip_address": "10.20.30.40", "status": "spare"})
    assert r.status_code == 200, r.text
    assert (r.json()["serial"], r.json()["status"]) == ("CMN-2022-0815", "spare")
    assert client.get(f"{API}/assets/{a['id']}", headers=h).json()["rack"] == "B-07"
    log = client.get("/api/v1/audit", params={"entity": "assets"}, headers=auth_headers("auditor")).json()
    entry = next(e for e in log["items"] if e["entity_id"] == str(a["id"]) and e["action"] == "update")
    assert entry["actor"].startswith("technician")
    assert entry["before"] == {"serial": None, "rack": "", "ip_address": "", "status": "in_service"}
    assert entry["after"] == {"serial": "CMN-2022-0815", "rack": "B-07", "ip_address": "10.20.30.40",
                              "status": "spare"}


def test_auditor_and_street_cannot_edit_assets(client, auth_headers):
    """HW writes are for admin, manager, technician and duty only."""
    a = _asset(client, auth_headers("admin"), "CN-HW-01-001")
    for role, street in (("auditor", None), ("street", "310105002")):
        r = client.patch(f"{API}/assets/{a['id']}", json={"rack": "X"}, headers=auth_headers(role, street))
        assert r.status_code == 403, role


def test_duplicate_serial_is_409_problem(client, auth_headers):
    """HW: one serial, one unit."""
    h = auth_headers("duty")
    first, second = _asset(client, h, "CN-HW-19-001"), _asset(client, h, "CN-HW-19-002")
    assert client.patch(f"{API}/assets/{first['id']}", json={"serial": "SMG-42"}, headers=h).status_code == 200
    r = client.patch(f"{API}/assets/{second['id']}", json={"serial": "SMG-42"}, headers=h)
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert r.json()["status"] == 409 and "CN-HW-19-001" in r.json()["detail"]
    assert client.get(f"{API}/assets/{second['id']}", headers=h).json()["serial"] is None


def test_invalid_asset_edits_are_422(client, auth_headers):
    """HW: IP address, status and warranty order are checked."""
    h = auth_headers("manager")
    aid = _asset(client, h, "CN-HW-10-001")["id"]
    for body in ({"ip_address": "10.0.0"}, {"status": "gone"}, {"warranty_end": "2026-01-01"}):
        r = client.patch(f"{API}/assets/{aid}", json=body, headers=h)
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, body
    assert client.get(f"{API}/assets/999999", headers=h).status_code == 404


def test_maintenance_records_api(client, auth_headers):
    """HW maintenance log: writers add records (created_by is the caller); staff read them."""
    h = auth_headers("duty", display_name="值班员甲")
    aid = _asset(client, h, "CN-HW-09-004")["id"]
    r = client.post(f"{API}/assets/{aid}/maintenance", headers=h,
                    json={"kind": "repair", "summary": "更换电源模块", "result": "恢复"})
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["performed_by"] == "值班员甲" and rec["created_by"].startswith("duty") and rec["kind"] == "repair"
    assert rec["performed_at"].endswith("+08:00")
    r = client.post(f"{API}/assets/{aid}/maintenance", headers=h,
                    json={"kind": "inspection", "summary": "巡检", "performed_by": "钱工",
                          "performed_at": "2026-06-01T09:00:00+08:00"})
    assert r.status_code == 201
    rows = client.get(f"{API}/assets/{aid}/maintenance", headers=auth_headers("auditor")).json()
    assert [x["summary"] for x in rows] == ["更换电源模块", "巡检"]
    assert rows[1]["performed_at"] == "2026-06-01T09:00:00+08:00"
    bad = client.post(f"{API}/assets/{aid}/maintenance", headers=h, json={"kind": "polish", "summary": "x"})
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    denied = client.post(f"{API}/assets/{aid}/maintenance", headers=auth_headers("auditor"),
                         json={"kind": "repair", "summary": "x"})
    assert denied.status_code == 403


def test_warranty_report_api(client, auth_headers):
    """HW: assets whose warranty has ended or ends within `days` days."""
    h = auth_headers("technician")
    today = local(utcnow()).date()
    ended, later = _asset(client, h, "CN-HW-12-001"), _asset(client, h, "CN-HW-13-001")
    client.patch(f"{API}/assets/{ended['id']}", headers=h, json={
        "warranty_start": str(today - timedelta(days=365)), "warranty_end": str(today - timedelta(days=1))})
    client.patch(f"{API}/assets/{later['id']}", headers=h,
                 json={"warranty_start": str(today), "warranty_end": str(today + timedelta(days=30))})
    rows = client.get(f"{API}/assets/warranty", params={"days": 60}, headers=h).json()
    by_tag = {r["asset_tag"]: r for r in rows}
    assert (by_tag["CN-HW-12-001"]["expired"], by_tag["CN-HW-12-001"]["days_left"]) == (True, -1)
    assert (by_tag["CN-HW-13-001"]["expired"], by_tag["CN-HW-13-001"]["days_left"]) == (False, 30)
    rows = client.get(f"{API}/assets/warranty", params={"days": 0}, headers=h).json()
    assert "CN-HW-13-001" not in {r["asset_tag"] for r in rows} and "CN-HW-12-001" in {r["asset_tag"] for r in rows}
