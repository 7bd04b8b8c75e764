"""Management API for Open311 clients under /api/v1/open311/clients (IOT-7, SVC-3): admin
and manager only, the key shown once and stored hashed, disable/delete take effect at once."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from cityops.audit.models import AuditEntry
from cityops.open311.models import Open311Client, Open311Request
from tests.open311.helpers import post_form, wgs_point

URL = "/api/v1/open311/clients"


def test_create_list_disable_delete(client, db, auth_headers):
    h = auth_headers("manager")
    r = client.post(URL, json={"name": "随申办市民云", "note": "市大数据中心"}, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["api_key"]
    assert key.startswith("o311_") and created["key_prefix"] == key[:8] and created["enabled"] is True
    assert created["created_at"].endswith("+08:00")
    with db.session() as s:
        row = s.get(Open311Client, created["id"])
        assert row.api_key_hash == hashlib.sha256(key.encode()).hexdigest()
        entry = s.scalar(select(AuditEntry).where(AuditEntry.entity == "open311_clients"))
        assert entry.action == "create" and entry.actor.startswith("manager")
        assert "api_key_hash" not in entry.after and key not in str(entry.after)
    listed = client.get(URL, headers=h).json()
    assert [c["name"] for c in listed] == ["随申办市民云"] and "api_key" not in listed[0]
    assert client.post(URL, json={"name": "随申办市民云"}, headers=h).status_code == 409

    _, lat, lon = wgs_point(db)
    assert client.post("/open311/v2/requests.json", data=post_form(db, key, lat, lon)).status_code == 200
    assert client.get(URL, headers=h).json()[0]["requests_count"] == 1

    r = client.patch(f"{URL}/{created['id']}", json={"enabled": False}, headers=h)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert client.post("/open311/v2/requests.json", data=post_form(db, key, lat, lon)).status_code == 403

    assert client.delete(f"{URL}/{created['id']}", headers=h).status_code == 204
    assert client.get(URL, headers=h).json() == []
    with db.session() as s:
        req = s.scalar(select(Open311Request))
        assert req.client_id is None and req.client_name == "随申办市民云"  # history kept
    assert client.delete(f"{URL}/{created['id']}", headers=h).status_code == 404


def test_roles(client, auth_headers):
    admin = auth_headers("admin")
    assert client.post(URL, json={"name": "a"}, headers=admin).status_code == 201
    for role, street in (("duty", None), ("street", "310105001"), ("technician", None), ("auditor", None)):
        h = auth_headers(role, street)
        assert client.get(URL, headers=h).status_code == 403, role
        assert client.post(URL, json={"name": f"x-{role}"}, headers=h).status_code == 403, role
    assert client.get(URL).status_code == 401
    assert client.post(URL, json={"name": ""}, headers=admin).status_code == 422
