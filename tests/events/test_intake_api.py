"""API of event intake and verification (IOT-6, IOT-7, SYS-DISPATCH): policies, vision
mappings, the AI-vision intake (snapshot, confidence threshold, idempotency, roles) and the
verification endpoints."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cityops.devices import service as devices
from cityops.events import intake, lifecycle, service
from cityops.events.intake_models import VisionDetection
from cityops.events.models import CityEvent
from tests.events.helpers import street_point

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
AT = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def camera(db):
    with db.session() as s:
        intake.seed_intake(s)
        _, lon, lat = street_point(s)
        cam = devices.create_device(s, name="长宁路口球机", product_id=devices.product_by_code(s, "CAMERA-HIK").id,
                                    external_id="10.0.0.8:1", lon=lon, lat=lat, address="长宁路 1 号")
        return cam.id, cam.code


def _body(camera, detection_id="det-1", **kw):
    return {"detection_id": detection_id, "camera": camera, "detection_type": "暴露垃圾", "confidence": 0.91,
            "detected_at": AT.isoformat(), "bbox": [120, 80, 64, 48],
            "snapshot": base64.b64encode(PNG).decode(), **kw}


def _count(db, model=CityEvent):
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_vision_detection_becomes_an_event_with_its_snapshot(client, auth_headers, camera, settings):
    h = auth_headers("duty")
    r = client.post("/api/v1/events/vision", json=_body(camera[1]), headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["created"] is True and out["category_code"] == "010101" and out["state"] == "reported"
    ev = client.get(f"/api/v1/events/{out['event_id']}", headers=h).json()
    assert ev["source_kind"] == "vision" and ev["source_ref"] == "vision:det-1" and ev["street_code"]
    assert "置信度 0.91" in ev["description"]
    [att] = ev["attachments"]
    assert att["content_type"] == "image/png"
    got = client.get(f"/api/v1/events/{ev['id']}/attachments/{att['id']}", headers=h)
    assert got.status_code == 200 and got.content == PNG
    assert any(p.read_bytes() == PNG for p in Path(settings.var_dir, "attachments", "events").rglob("*.png"))


def test_repeat_detection_id_returns_the_same_event(client, auth_headers, camera, db):
    h = auth_headers("duty")
    first = client.post("/api/v1/events/vision", json=_body(camera[0]), headers=h).json()
    before = _count(db)
    again = client.post("/api/v1/events/vision", json=_body(camera[0], confidence=0.99), headers=h)
    assert again.status_code == 200 and again.json()["event_id"] == first["event_id"]
    assert again.json()["created"] is False and _count(db) == before


def test_same_camera_and_type_merges(client, auth_headers, camera):
    h = auth_headers("duty")
    first = client.post("/api/v1/events/vision", json=_body(camera[0]), headers=h).json()
    later = (AT + timedelta(minutes=20)).isoformat()
    second = client.post("/api/v1/events/vision", json=_body(camera[0], "det-2", detected_at=later), headers=h)
    assert second.status_code == 201
    assert second.json()["state"] == "merged" and second.json()["merged_into_id"] == first["event_id"]
    parent = client.get(f"/api/v1/events/{first['event_id']}", headers=h).json()
    assert parent["report_count"] == 2 and len(parent["attachments"]) == 2  # the new picture joins the parent


def test_low_confidence_is_refused_and_nothing_stored(client, auth_headers, camera, db):
    h = auth_headers("manager")
    before = _count(db)
    r = client.post("/api/v1/events/vision", json=_body(camera[0], confidence=0.42), headers=h)
    assert r.status_code == 422 and "低于“暴露垃圾”的最低置信度 0.60" in r.json()["detail"]
    assert _count(db) == before and _count(db, VisionDetection) == 0
    bad = [({"detection_type": "打架斗殴"}, "没有启用的映射"), ({"snapshot": "!!notbase64"}, "base64"),
           ({"snapshot": base64.b64encode(b"plain text").decode()}, "图片")]
    for change, words in bad:
        r = client.post("/api/v1/events/vision", json=_body(camera[0], "det-x", **change), headers=h)
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    # a mapping change moves the threshold
    mid = next(m["id"] for m in client.get("/api/v1/vision-mappings", headers=h).json()
               if m["detection_type"] == "暴露垃圾")
    assert client.patch(f"/api/v1/vision-mappings/{mid}", json={"min_confidence": 0.4}, headers=h).status_code == 200
    assert client.post("/api/v1/events/vision", json=_body(camera[0], confidence=0.42), headers=h).status_code == 201


def test_vision_roles(client, auth_headers, camera, db):
    for role in ("technician", "auditor", "street"):
        r = client.post("/api/v1/events/vision", json=_body(camera[0]), headers=auth_headers(role, "310105001"
                                                                                             if role == "street"
                                                                                             else None))
        assert r.status_code == 403
    assert client.post("/api/v1/events/vision", json=_body(camera[0])).status_code == 401
    assert _count(db, VisionDetection) == 0


def test_not_a_camera(client, auth_headers, db):
    with db.session() as s:
        intake.seed_intake(s)
        _, lon, lat = street_point(s)
        smoke = devices.create_device(s, name="烟感", product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                                      external_id="sm-9", lon=lon, lat=lat)
        sid = smoke.id
    r = client.post("/api/v1/events/vision", json=_body(sid), headers=auth_headers("duty"))
    assert r.status_code == 422 and "不是摄像机" in r.json()["detail"]


def test_policy_crud_and_roles(client, auth_headers, db):
    with db.session() as s:
        intake.seed_intake(s)
    m, d = auth_headers("manager"), auth_headers("duty")
    rows = client.get("/api/v1/event-intake-policies", headers=d).json()
    assert rows[0]["name"] == "设备离线/静默不立案" and rows[0]["action"] == "ignore"  # tried first
    assert [r["priority"] for r in rows] == sorted((r["priority"] for r in rows), reverse=True)
    body = {"name": "路灯杆倾斜", "alarm_type": "倾角*", "device_type": "garbage_bin", "category_code": "030302",
            "auto_dispatch": True}
    assert client.post("/api/v1/event-intake-policies", json=body, headers=d).status_code == 403
    r = client.post("/api/v1/event-intake-policies", json=body, headers=m)
    assert r.status_code == 201 and r.json()["auto_accept"] is True
    pid = r.json()["id"]
    assert client.post("/api/v1/event-intake-policies", json=body, headers=m).status_code == 409
    r = client.patch(f"/api/v1/event-intake-policies/{pid}", json={"category_code": "0303"}, headers=m)
    assert r.status_code == 422 and "细类" in r.json()["detail"]
    r = client.patch(f"/api/v1/event-intake-policies/{pid}", json={"enabled": False, "min_active_s": 120}, headers=m)
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["min_active_s"] == 120
    assert client.delete(f"/api/v1/event-intake-policies/{pid}", headers=m).status_code == 204
    assert client.get(f"/api/v1/event-intake-policies/{pid}", headers=m).status_code == 404
    assert client.get("/api/v1/event-intake-policies", headers=auth_headers("street", "310105001")).status_code == 403


def _disposed_hotline_event(db, street_index=0):
    with db.session() as s:
        _, lon, lat = street_point(s, street_index)
        ev = service.create_event(s, category_code="010101", title="热线：暴露垃圾", lon=lon, lat=lat,
                                  source_kind="hotline", created_by="hotline")
        for to in ("accepted", "dispatched", "in_progress", "disposed"):
            lifecycle.transition(s, ev.id, to, actor="duty1", role="duty")
        return ev.id, ev.street_code


def test_callback_result_and_verifications_api(client, auth_headers, db):
    eid, street = _disposed_hotline_event(db)
    d = auth_headers("duty")
    r = client.post(f"/api/v1/events/{eid}/verify-now", headers=d)
    assert r.status_code == 409 and "不是设备告警" in r.json()["detail"]
    assert client.post(f"/api/v1/events/{eid}/callback-result", json={"satisfied": True},
                       headers=auth_headers("technician")).status_code == 403
    r = client.post(f"/api/v1/events/{eid}/callback-result", json={"satisfied": False, "note": "垃圾还在"}, headers=d)
    assert r.status_code == 200 and r.json()["passed"] is False and r.json()["kind"] == "callback"
    assert client.get(f"/api/v1/events/{eid}", headers=d).json()["state"] == "accepted"
    rows = client.get(f"/api/v1/events/{eid}/verifications", headers=auth_headers("street", street)).json()
    assert [(v["kind"], v["passed"], v["reason"]) for v in rows] == [("callback", False, "回访不满意：垃圾还在")]
    other = next(c for c in ("310105001", "310105002", "310105003") if c != street)
    assert client.get(f"/api/v1/events/{eid}/verifications",
                      headers=auth_headers("street", other)).status_code == 404
    assert client.post(f"/api/v1/events/{eid}/callback-result", json={"satisfied": True},
                       headers=d).status_code == 409  # no longer disposed


def test_verify_now_runs_the_automatic_check(client, auth_headers, db):
    from tests.events.test_verify import _disposed_alarm_event

    eid, _, _ = _disposed_alarm_event(db, "api-v")
    assert client.post(f"/api/v1/events/{eid}/verify-now", headers=auth_headers("street", "310105001")
                       ).status_code == 403
    r = client.post(f"/api/v1/events/{eid}/verify-now", headers=auth_headers("duty"))
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "manual" and r.json()["passed"] is True  # cleared long ago, device online
    ev = client.get(f"/api/v1/events/{eid}", headers=auth_headers("duty")).json()
    assert ev["state"] == "closed" and ev["transitions"][-1]["actor"] == "system:verify"
    links = client.get("/api/v1/event-alarm-links", params={"event_id": eid}, headers=auth_headers("auditor")).json()
    assert [ln["outcome"] for ln in links] == ["event"]
