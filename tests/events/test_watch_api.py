"""Flow-state watch API (IOT-6, issue #5 item 6): warnings with filters, acknowledging,
the board, settings for admin and manager only, and street scoping (404 elsewhere)."""

from __future__ import annotations

from datetime import timedelta

from cityops.core.timeutil import utcnow
from cityops.events import service, watch
from tests.events.helpers import street_point


def _breached(db, index=0):
    """A critical event reported an hour ago (accept limit 15 min) and a scan: one sla_breached warning."""
    now = utcnow()
    with db.session() as s:
        code, lon, lat = street_point(s, index)
        ev = service.create_event(s, category_code="010101", title=f"井盖缺失 {index}", lon=lon, lat=lat,
                                  severity="critical", reported_at=now - timedelta(hours=1), merge=False)
        watch.scan(s, now)
        w = next(w for w in watch.list_warnings(s) if w.event_id == ev.id)
        return code, ev.id, w.id


def test_warnings_filters_and_ack(client, auth_headers, db):
    _, eid, wid = _breached(db)
    h = auth_headers("technician")
    got = client.get("/api/v1/flow/warnings", headers=h).json()
    assert [(w["id"], w["kind"], w["event_id"], w["state"]) for w in got] == [(wid, "sla_breached", eid, "open")]
    assert got[0]["first_at"].endswith("+08:00") and got[0]["details"]["step"] == "accept"
    assert client.get("/api/v1/flow/warnings", params={"kind": "surge"}, headers=h).json() == []
    assert client.get("/api/v1/flow/warnings", params={"kind": "bogus"}, headers=h).status_code == 422
    assert client.post(f"/api/v1/flow/warnings/{wid}/ack", headers=h).status_code == 403  # technicians read only
    assert client.post(f"/api/v1/flow/warnings/{wid}/ack", headers=auth_headers("auditor")).status_code == 403
    d = auth_headers("duty")
    r = client.post(f"/api/v1/flow/warnings/{wid}/ack", headers=d)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["acked_by"].startswith("duty")
    assert client.get("/api/v1/flow/warnings", params={"state": "open"}, headers=h).json() == []
    assert len(client.get("/api/v1/flow/warnings", params={"state": "acknowledged"}, headers=h).json()) == 1
    assert client.post("/api/v1/flow/warnings/999999/ack", headers=d).status_code == 404


def test_street_users_see_their_own_street_only(client, auth_headers, db):
    own, _, mine = _breached(db, 0)
    other, _, theirs = _breached(db, 1)
    assert own != other
    st = auth_headers("street", own)
    assert [w["id"] for w in client.get("/api/v1/flow/warnings", headers=st).json()] == [mine]
    assert client.post(f"/api/v1/flow/warnings/{theirs}/ack", headers=st).status_code == 404
    assert client.post(f"/api/v1/flow/warnings/{mine}/ack", headers=st).status_code == 200
    board = client.get("/api/v1/flow/board", headers=st).json()
    assert sum(r["total"] for r in board["grid"]) == 1 and board["platforms"] == []
    assert board["warnings"]["sla_breached"] == {"open": 0, "acknowledged": 1}
    assert client.get("/api/v1/flow/settings", headers=st).status_code == 403


def test_board(client, auth_headers, db):
    _breached(db, 0)
    _breached(db, 1)
    b = client.get("/api/v1/flow/board", headers=auth_headers("duty")).json()
    reported = next(r for r in b["grid"] if r["state"] == "reported")
    assert reported == {"state": "reported", "label": "待立案", "total": 2, "ok": 0, "warning": 0, "breached": 2}
    assert b["warnings"]["sla_breached"]["open"] == 2
    assert b["outbox"] == {"pending": 0, "failed": 0, "oldest_pending_at": None, "oldest_pending_min": None}
    assert b["now"].endswith("+08:00") and b["surges"] == [] and b["result_missing"] == []


def test_settings_roles_and_validation(client, auth_headers, db):
    assert client.get("/api/v1/flow/settings", headers=auth_headers("duty")).status_code == 403
    assert client.put("/api/v1/flow/settings", json={"warn_pct": 70}, headers=auth_headers("duty")).status_code == 403
    m = auth_headers("manager")
    got = client.get("/api/v1/flow/settings", headers=m).json()
    assert got["warn_pct"] is None and got["result_hours"] == 24 and got["notify_channels"] == []
    r = client.put("/api/v1/flow/settings", json={"warn_pct": 70, "surge_factor": 2.5, "notify_team": ""}, headers=m)
    assert r.status_code == 200 and r.json()["warn_pct"] == 70 and r.json()["surge_factor"] == 2.5
    assert r.json()["updated_by"].startswith("manager") and r.json()["result_hours"] == 24
    r = client.put("/api/v1/flow/settings", json={"outbox_attempts": 0}, headers=m)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert client.put("/api/v1/flow/settings", json={"notify_team": "ghost"}, headers=m).status_code == 422
    r = client.put("/api/v1/flow/settings", json={"warn_pct": None}, headers=auth_headers("admin"))
    assert r.status_code == 200 and r.json()["warn_pct"] is None and r.json()["surge_factor"] == 2.5
    with db.session() as s:
        assert watch.get_settings(s).warn_pct is None
