"""City events API (IOT-6, SYS-DISPATCH): roles, street scope, PII masking, transitions,
merge/unmerge, attachments and the category tree."""

from cityops.events import service
from tests.events.helpers import offset_m, street_point


def _point(db, index=0):
    with db.session() as s:
        return street_point(s, index)


def _leaf_id(db, code="010101"):
    with db.session() as s:
        return service.category_by_code(s, code).id


def _create(client, h, db, point=None, **kw):
    body = {"category_id": _leaf_id(db, kw.pop("code", "010101")), "title": "暴露垃圾", **kw}
    if point:
        body["lon"], body["lat"] = point
    r = client.post("/api/v1/events", json=body, headers=h)
    assert r.status_code == 201, r.text
    return r.json()


def test_requires_auth_and_roles(client, auth_headers, db):
    assert client.get("/api/v1/events").status_code == 401
    assert client.post("/api/v1/events", json={}).status_code == 401
    tech = auth_headers("technician")
    aud = auth_headers("auditor")
    body = {"category_id": _leaf_id(db), "title": "x"}
    assert client.post("/api/v1/events", json=body, headers=tech).status_code == 403
    assert client.post("/api/v1/events", json=body, headers=aud).status_code == 403
    ev = _create(client, auth_headers("duty"), db)
    assert client.get(f"/api/v1/events/{ev['id']}", headers=tech).status_code == 200
    assert client.get("/api/v1/events", headers=aud).json()["total"] == 1
    r = client.post(f"/api/v1/events/{ev['id']}/transition", json={"to": "accepted"}, headers=tech)
    assert r.status_code == 403
    assert client.post("/api/v1/event-categories", json={"name": "x"}, headers=auth_headers("duty")).status_code == 403


def test_create_detail_and_pii_masking(client, auth_headers, db):
    street, lon, lat = _point(db)
    duty = auth_headers("duty")
    ev = _create(client, duty, db, point=(lon, lat), reporter_name="李女士", reporter_phone="13812345678",
                 source_kind="hotline", source_ref="GD-20261125-88")
    assert ev["street_code"] == street and ev["grid_code"]
    assert ev["reporter_phone"] == "13812345678"  # duty sees PII
    assert ev["number"].startswith("CN") and ev["category_path"] == "市容环境 / 环境卫生 / 暴露垃圾"
    assert ev["allowed_next"] == ["accepted", "rejected"]
    assert ev["transitions"][0]["action"] == "report" and ev["reported_at"].endswith("+08:00")
    tech = client.get(f"/api/v1/events/{ev['id']}", headers=auth_headers("technician")).json()
    assert tech["reporter_phone"] == "138****5678"
    assert tech["allowed_next"] == []
    listed = client.get("/api/v1/events", headers=auth_headers("auditor")).json()["items"][0]
    assert listed["reporter_phone"] == "138****5678"
    r = client.post("/api/v1/events", json={"category_id": _leaf_id(db, "0101"), "title": "x"}, headers=duty)
    assert r.status_code == 422 and "不是细类" in r.json()["detail"]


def test_transitions_and_conflict_message(client, auth_headers, db):
    h = auth_headers("manager")
    ev = _create(client, h, db)
    url = f"/api/v1/events/{ev['id']}/transition"
    r = client.post(url, json={"to": "closed"}, headers=h)
    assert r.status_code == 409
    assert "reported" in r.json()["detail"] and "accepted" in r.json()["detail"]
    for to in ("accepted", "dispatched", "in_progress"):
        assert client.post(url, json={"to": to}, headers=h).status_code == 200
    r = client.post(url, json={"to": "returned"}, headers=h)
    assert r.status_code == 422 and "原因" in r.json()["detail"]
    r = client.post(url, json={"to": "returned", "reason": "非我单位职责"}, headers=h)
    body = r.json()
    assert r.status_code == 200 and body["state"] == "accepted"
    assert body["transitions"][-1]["action"] == "return" and body["transitions"][-1]["reason"] == "非我单位职责"
    assert [t["to_state"] for t in body["transitions"]] == ["reported", "accepted", "dispatched", "in_progress",
                                                           "accepted"]


def test_street_scope(client, auth_headers, db):
    own_code, lon, lat = _point(db, 0)
    other_code, olon, olat = _point(db, 1)
    assert own_code != other_code
    duty = auth_headers("duty")
    mine = _create(client, duty, db, point=(lon, lat))
    theirs = _create(client, duty, db, point=(olon, olat))
    st = auth_headers("street", own_code)
    listed = client.get("/api/v1/events", headers=st).json()
    assert [e["id"] for e in listed["items"]] == [mine["id"]]
    assert client.get(f"/api/v1/events/{theirs['id']}", headers=st).status_code == 404
    r = client.post(f"/api/v1/events/{theirs['id']}/transition", json={"to": "accepted"}, headers=st)
    assert r.status_code == 404
    r = client.post(f"/api/v1/events/{mine['id']}/transition", json={"to": "accepted"}, headers=st)
    assert r.status_code == 200 and r.json()["allowed_next"] == []  # dispatching is not the street's
    assert client.post("/api/v1/events", json={"category_id": _leaf_id(db), "title": "x"}, headers=st).status_code == 403


def test_list_filters_and_pagination(client, auth_headers, db):
    street, lon, lat = _point(db)
    h = auth_headers("duty")
    _create(client, h, db, point=(lon, lat), source_kind="patrol")
    _create(client, h, db, code="030101", point=offset_m(lon, lat, 20), source_kind="iot_alarm", source_ref="alarm-1")
    _create(client, h, db, code="080101", severity="major")
    get = lambda **q: client.get("/api/v1/events", params=q, headers=h).json()
    assert get()["total"] == 3
    assert get(source_kind="iot_alarm")["items"][0]["category_id"] == _leaf_id(db, "030101")
    assert get(category_code="03")["total"] == 1 and get(category_code="01")["total"] == 1
    assert get(severity="major")["total"] == 1 and get(severity="critical")["total"] == 1
    assert get(street=street)["total"] == 2
    assert get(state="reported")["total"] == 3 and get(state="closed")["total"] == 0
    page = get(limit=2, offset=2)
    assert page["total"] == 3 and len(page["items"]) == 1
    assert get(date_from="2000-01-01", date_to="2000-01-02")["total"] == 0
    r = client.get("/api/v1/events", params={"state": "nonsense"}, headers=h)
    assert r.status_code == 422


def test_merge_and_unmerge_via_api(client, auth_headers, db):
    _, lon, lat = _point(db)
    h = auth_headers("duty")
    parent = _create(client, h, db, point=(lon, lat))
    child = _create(client, h, db, point=offset_m(lon, lat, 30), reporter_phone="13900001111")
    assert child["state"] == "merged" and child["merged_into_id"] == parent["id"]
    p = client.get(f"/api/v1/events/{parent['id']}", headers=h).json()
    assert p["report_count"] == 2 and [c["id"] for c in p["merged_children"]] == [child["id"]]
    masked = client.get(f"/api/v1/events/{parent['id']}", headers=auth_headers("auditor")).json()
    assert masked["merged_children"][0]["reporter_phone"] == "139****1111"
    assert client.post(f"/api/v1/events/{child['id']}/unmerge", json={}, headers=auth_headers("technician")) \
        .status_code == 403
    r = client.post(f"/api/v1/events/{child['id']}/unmerge", json={"reason": "两处不同垃圾点"}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "reported" and r.json()["merged_into_id"] is None
    assert client.get(f"/api/v1/events/{parent['id']}", headers=h).json()["report_count"] == 1
    assert client.post(f"/api/v1/events/{child['id']}/unmerge", json={}, headers=h).status_code == 409


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_attachments_upload_and_download(client, auth_headers, db, settings):
    street, lon, lat = _point(db)
    h = auth_headers("duty")
    ev = _create(client, h, db, point=(lon, lat))
    url = f"/api/v1/events/{ev['id']}/attachments"
    r = client.post(url, files={"file": ("../../现场照片.png", PNG, "image/png")}, headers=h)
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["name"] == "现场照片.png" and att["size"] == len(PNG)
    stored = list((settings.var_dir / "attachments" / "events" / str(ev["id"])).iterdir())
    assert len(stored) == 1 and stored[0].read_bytes() == PNG
    r = client.post(url, files={"file": ("run.sh", b"#!/bin/sh", "application/x-sh")}, headers=h)
    assert r.status_code == 422 and "不受支持" in r.json()["detail"]
    r = client.post(url, files={"file": ("empty.png", b"", "image/png")}, headers=h)
    assert r.status_code == 422
    assert client.post(url, files={"file": ("a.png", PNG, "image/png")},
                       headers=auth_headers("auditor")).status_code == 403
    dl = client.get(f"{url}/{att['id']}", headers=auth_headers("technician"))
    assert dl.status_code == 200 and dl.content == PNG and dl.headers["content-type"] == "image/png"
    assert client.get(f"{url}/{att['id']}").status_code == 401
    other = auth_headers("street", _point(db, 1)[0])
    assert client.get(f"{url}/{att['id']}", headers=other).status_code == 404
    assert client.get(f"{url}/{att['id']}", headers=auth_headers("street", street)).status_code == 200
    assert client.get(f"/api/v1/events/{ev['id']}", headers=h).json()["attachments"][0]["id"] == att["id"]


def test_category_api(client, auth_headers, db):
    h = auth_headers("manager")
    cats = client.get("/api/v1/event-categories", headers=auth_headers("street", "310105001")).json()
    assert len([c for c in cats if c["level"] == 3]) >= 60
    parent = next(c for c in cats if c["code"] == "0101")
    r = client.post("/api/v1/event-categories", json={"name": "共享单车停放点垃圾", "parent_id": parent["id"],
                                                      "default_severity": "info"}, headers=h)
    assert r.status_code == 201
    new = r.json()
    assert new["level"] == 3 and new["code"].startswith("0101") and len(new["code"]) == 6
    r = client.post("/api/v1/event-categories", json={"name": "x", "parent_id": new["id"]}, headers=h)
    assert r.status_code == 422  # no fourth level
    r = client.post("/api/v1/event-categories", json={"name": "x", "parent_id": parent["id"],
                                                      "code": parent["code"] + "01"}, headers=h)
    assert r.status_code == 409
    r = client.patch(f"/api/v1/event-categories/{new['id']}", json={"enabled": False, "merge_radius_m": 50},
                     headers=h)
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["merge_radius_m"] == 50
    r = client.patch(f"/api/v1/event-categories/{new['id']}", json={"default_severity": "huge"}, headers=h)
    assert r.status_code == 422
    r = client.patch(f"/api/v1/event-categories/{new['id']}", json={"enabled": None}, headers=h)
    assert r.status_code == 422 and "enabled" in r.json()["detail"]
    r = client.patch(f"/api/v1/event-categories/{new['id']}", json={"merge_radius_m": None}, headers=h)
    assert r.status_code == 200 and r.json()["merge_radius_m"] is None  # back to the default
    enabled = client.get("/api/v1/event-categories", params={"enabled_only": True}, headers=h).json()
    assert new["id"] not in [c["id"] for c in enabled]
    with db.session() as s:
        from sqlalchemy import select

        from cityops.audit.models import AuditEntry

        assert s.scalar(select(AuditEntry).where(AuditEntry.entity == "event_categories",
                                                 AuditEntry.entity_id == str(new["id"]))) is not None


def test_problem_details_are_chinese(client, auth_headers, db):
    h = auth_headers("manager")
    r = client.get("/api/v1/events/999999", headers=h)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == "Not Found" and r.json()["detail"] == "事件 999999 不存在"
    assert client.get("/api/v1/sla-policies/999999", headers=h).json()["detail"] == "时限策略 #999999 不存在"
    r = client.get("/api/v1/calendar", headers=h, params={"from": "2026-10-08", "to": "2026-10-01"})
    assert r.status_code == 422 and r.json()["detail"] == "to 不能早于 from"
    r = client.patch(f"/api/v1/event-categories/{_leaf_id(db)}", json={}, headers=h)
    assert r.status_code == 422 and r.json()["detail"] == "没有要修改的内容"
