"""Call-list, do-not-call and gate API (CALL-4): roles, dry run, masked numbers, problem+json."""

from datetime import datetime

from cityops.callout.list_models import GateLog
from cityops.core.timeutil import SHANGHAI

CSV = "姓名,电话,业务编号\n张三,13912345678,EV-1\n李四,13912345678,EV-2\n王五,95588,EV-3\n".encode()


def _upload(client, headers, dry_run=False, **fields):
    data = {"name": "回访名单", "scenario": "hotline_callback", "source": "12345", "consent_basis": "来电同意",
            "dry_run": str(dry_run).lower(), **fields}
    return client.post("/api/v1/callout/lists", headers=headers, data=data,
                       files={"file": ("list.csv", CSV, "text/csv")})


def test_import_dry_run_then_save_and_read(client, auth_headers):
    duty = auth_headers("duty")
    r = _upload(client, duty, dry_run=True)
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"total": 3, "ok": 1, "invalid": 1, "duplicate": 1, "dnc": 0}
    assert r.json()["list_id"] is None
    assert client.get("/api/v1/callout/lists", headers=duty).json() == []

    r = _upload(client, duty, valid_until="2099-12-31")
    assert r.status_code == 201, r.text
    list_id = r.json()["list_id"]
    [row] = client.get("/api/v1/callout/lists", headers=duty).json()
    assert row["id"] == list_id and row["scenario_label"] == "热线回访" and row["created_by"].startswith("duty")
    assert row["counts"]["ok"] == 1 and not row["expired"] and not row["stale"]
    # Valid through the whole Beijing day 2099-12-31.
    assert datetime.fromisoformat(row["valid_until"]) == datetime(2100, 1, 1, tzinfo=SHANGHAI)

    detail = client.get(f"/api/v1/callout/lists/{list_id}", headers=duty, params={"limit": 2}).json()
    assert detail["entries"]["total"] == 3 and len(detail["entries"]["items"]) == 2
    first = detail["entries"]["items"][0]
    assert first["number"] == "13912345678" and first["business_ref"] == "EV-1" and first["kind"] == "mobile"
    only_invalid = client.get(f"/api/v1/callout/lists/{list_id}", headers=duty, params={"status": "invalid"}).json()
    assert [e["row"] for e in only_invalid["entries"]["items"]] == [4]


def test_numbers_are_masked_for_roles_without_pii(client, auth_headers):
    list_id = _upload(client, auth_headers("manager")).json()["list_id"]
    tech = auth_headers("technician")
    detail = client.get(f"/api/v1/callout/lists/{list_id}", headers=tech).json()
    assert detail["entries"]["items"][0]["number"] == "139****5678"
    client.post("/api/v1/callout/dnc", headers=auth_headers("admin"), json={"number": "13800001111"})
    assert client.get("/api/v1/callout/dnc", headers=tech).json()["items"][0]["number"] == "138****1111"


def test_roles(client, auth_headers):
    tech = auth_headers("technician")
    assert _upload(client, tech).status_code == 403
    assert client.post("/api/v1/callout/dnc", headers=tech, json={"number": "13912345678"}).status_code == 403
    assert client.post("/api/v1/callout/check", headers=tech,
                       json={"number": "13912345678", "scenario": "notice"}).status_code == 403
    assert client.get("/api/v1/callout/lists", headers=auth_headers("street", "310105001")).status_code == 403
    assert client.get("/api/v1/callout/lists").status_code == 401


def test_dnc_crud_and_check(client, auth_headers, db):
    duty = auth_headers("duty")
    r = client.post("/api/v1/callout/check", headers=duty,
                    json={"number": "13912345678", "scenario": "notice", "at": "2026-11-25T10:00:00+08:00"})
    assert r.status_code == 200 and r.json() == {"allowed": True, "rules": [], "reasons": []}

    r = client.post("/api/v1/callout/dnc", headers=duty, json={"number": "139 1234 5678", "reason": "投诉"})
    assert r.status_code == 201 and r.json()["number"] == "13912345678" and r.json()["scenario"] is None
    dnc_id = r.json()["id"]
    dup = client.post("/api/v1/callout/dnc", headers=duty, json={"number": "13912345678"})
    assert dup.status_code == 409 and dup.headers["content-type"] == "application/problem+json"
    bad = client.post("/api/v1/callout/dnc", headers=duty, json={"number": "4008123123"})
    assert bad.status_code == 422 and "400/800" in bad.json()["detail"]
    body = {"number": "13912345678", "scenario": "notice", "at": "2026-11-25T23:00:00+08:00"}
    r = client.post("/api/v1/callout/check", headers=duty, json=body)
    assert r.json()["allowed"] is False and r.json()["rules"] == ["dnc_global", "outside_window"]

    assert client.delete(f"/api/v1/callout/dnc/{dnc_id}", headers=duty).status_code == 204
    assert client.delete(f"/api/v1/callout/dnc/{dnc_id}", headers=duty).status_code == 404
    assert client.get("/api/v1/callout/dnc", headers=duty).json()["total"] == 0
    r = client.post("/api/v1/callout/check", headers=duty, json={**body, "scenario": "emergency"})
    assert r.json()["allowed"] is True
    # An operator's time without an offset is Beijing time: 07:00 is before the window
    # (read as UTC it would be 15:00 in Shanghai, inside it).
    r = client.post("/api/v1/callout/check", headers=duty, json={**body, "at": "2026-11-25T07:00:00"})
    assert r.json()["rules"] == ["outside_window"]
    with db.session() as s:
        assert [g.allowed for g in s.query(GateLog).order_by(GateLog.id)] == [True, False, True, False]


def test_import_errors_are_problems(client, auth_headers):
    duty = auth_headers("duty")
    r = _upload(client, duty, scenario="marketing")
    assert r.status_code == 422 and "未知场景" in r.json()["detail"]
    r = client.post("/api/v1/callout/lists", headers=duty, data={"name": "x", "scenario": "notice"},
                    files={"file": ("x.csv", b"name\nA\n", "text/csv")})
    assert r.status_code == 422 and "电话列" in r.json()["detail"]


def test_missing_list_and_dnc_entry_are_chinese_404s(client, auth_headers):
    duty = auth_headers("duty")
    r = client.get("/api/v1/callout/lists/99999", headers=duty)
    assert r.status_code == 404 and r.json()["detail"] == "外呼名单 99999 不存在"
    r = client.delete("/api/v1/callout/dnc/99999", headers=duty)
    assert r.status_code == 404 and r.json()["detail"] == "免打扰记录 99999 不存在"
