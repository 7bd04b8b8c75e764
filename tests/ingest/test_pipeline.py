"""The ingest pipeline through the API (IOT-2): connections, push, dead letters, pending onboarding."""

import json

from cityops.sim.wire import ctwing


def _connection(client, h, kind="ctwing", **settings):
    r = client.post("/api/v1/connections", json={"kind": kind, "name": f"{kind}-test", "settings": settings},
                    headers=h)
    assert r.status_code == 201, r.text
    return r.json()


def _device(client, h, external_id, code="SMOKE-NB-CTW"):
    pid = next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == code)
    r = client.post("/api/v1/devices", json={"name": "烟感", "product_id": pid, "external_id": external_id,
                                             "lon": 121.420, "lat": 31.222}, headers=h)
    assert r.status_code == 201
    return r.json()


def test_connection_contract(client, auth_headers):
    h = auth_headers("admin")
    c = _connection(client, h)
    assert set(c) >= {"id", "push_url"}
    assert c["push_url"].startswith(f"/ingest/{c['id']}?token=")
    listed = client.get("/api/v1/connections", headers=h).json()
    assert listed[0]["push_url"] == f"/ingest/{c['id']}", "the token is shown only at creation"
    r = client.post("/api/v1/connections", json={"kind": "nope", "name": "x"}, headers=h)
    assert r.status_code == 422 and "未知的连接类型 'nope'" in r.json()["detail"]
    r = client.post("/api/v1/connections", json={"kind": "onenet", "name": "y", "settings": {}}, headers=h)
    assert r.status_code == 422 and "token" in r.json()["detail"]
    assert client.post("/api/v1/connections", json={"kind": "ctwing", "name": "z"},
                       headers=auth_headers("technician")).status_code == 403


def test_onenet_secret_is_never_returned(client, auth_headers):
    h = auth_headers("admin")
    c = _connection(client, h, "onenet", token="s3cret-push-token")
    assert c["settings"]["token"] == "******"
    assert "s3cret" not in json.dumps(client.get(f"/api/v1/connections/{c['id']}", headers=h).json())
    # sending the mask back keeps the stored secret
    r = client.patch(f"/api/v1/connections/{c['id']}", json={"settings": {"token": "******"}}, headers=h)
    assert r.status_code == 200


def test_push_updates_device_and_is_stored(client, auth_headers):
    h = auth_headers("admin")
    c = _connection(client, h, decoders={"15012345": "smoke-v1"})
    d = _device(client, h, "ctw-smoke-1")
    body, headers, _ = ctwing.data_report("ctw-smoke-1", {"status": "normal", "battery": 87,
                                                          "temperature": 23.5, "rsrp": -92},
                                          decoder="smoke-v1", product_id="15012345", imei="861234567890123")
    r = client.post(c["push_url"], content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"accepted": 1, "pending": 0}
    dev = client.get(f"/api/v1/devices/{d['id']}", headers=h).json()
    assert dev["online"] is True and dev["last_values"]["battery"]["value"] == 87
    assert dev["last_values"]["status"]["value"] == "normal" and dev["last_values"]["rsrp"]["value"] == -92
    msgs = client.get(f"/api/v1/devices/{d['id']}/messages", headers=h).json()
    assert msgs[0]["kind"] == "telemetry" and msgs[0]["body"]["imei"] == "861234567890123"
    body, headers, _ = ctwing.online("ctw-smoke-1", False)
    assert client.post(c["push_url"], content=body, headers=headers).status_code == 200
    assert client.get(f"/api/v1/devices/{d['id']}", headers=h).json()["online"] is False


def test_wrong_token_and_garbage_go_to_dead_letters(client, auth_headers):
    h = auth_headers("admin")
    c = _connection(client, h)
    body, headers, _ = ctwing.online("dev-x", True)
    r = client.post(f"/ingest/{c['id']}?token=wrong", content=body, headers=headers)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = client.post(c["push_url"], content=b"{not json", headers=headers)
    assert r.status_code == 400 and r.json()["dead_letter_id"]
    r = client.post("/ingest/99999", content=body, headers=headers)
    assert r.status_code == 404
    dls = client.get("/api/v1/dead-letters", headers=h).json()
    reasons = [d["reason"] for d in dls["items"]]
    assert dls["total"] == 3 and any("token" in x for x in reasons) and any("JSON" in x for x in reasons)
    garbage = next(d for d in dls["items"] if "JSON" in d["reason"])
    detail = client.get(f"/api/v1/dead-letters/{garbage['id']}", headers=h).json()
    assert detail["preview"] == "{not json"
    r = client.post(f"/api/v1/dead-letters/{garbage['id']}/discard", json={"note": "test junk"}, headers=h)
    assert r.json()["state"] == "discarded"


def test_replay_after_the_cause_is_fixed(client, auth_headers):
    """A push for a disabled connection is dead-lettered; once re-enabled, replay accepts it."""
    h = auth_headers("admin")
    c = _connection(client, h)
    _device(client, h, "ctw-2")
    client.patch(f"/api/v1/connections/{c['id']}", json={"enabled": False}, headers=h)
    body, headers, _ = ctwing.online("ctw-2", True)
    assert client.post(c["push_url"], content=body, headers=headers).status_code == 403
    dl = client.get("/api/v1/dead-letters", headers=h).json()["items"][0]
    r = client.post(f"/api/v1/dead-letters/{dl['id']}/replay", headers=h).json()
    assert r["status"] == 403  # still disabled: kept, not duplicated
    assert client.get("/api/v1/dead-letters", headers=h).json()["total"] == 1
    client.patch(f"/api/v1/connections/{c['id']}", json={"enabled": True}, headers=h)
    r = client.post(f"/api/v1/dead-letters/{dl['id']}/replay", headers=h).json()
    assert r == {"status": 200, "accepted": 1, "reason": ""}
    assert client.get("/api/v1/dead-letters", headers=h).json()["total"] == 0
    assert client.get("/api/v1/dead-letters?state=replayed", headers=h).json()["total"] == 1


def test_unknown_device_is_held_pending_then_onboarded(client, auth_headers):
    h = auth_headers("admin")
    c = _connection(client, h)
    body, headers, _ = ctwing.data_report("new-dev-7", {"battery": 90}, decoder=None, product_id="15012345",
                                          imei="861234567890777")
    for _ in range(2):
        assert client.post(c["push_url"], content=body, headers=headers).json() == {"accepted": 1, "pending": 1}
    pending = client.get("/api/v1/pending-devices", headers=h).json()
    assert len(pending) == 1 and pending[0]["messages"] == 2 and pending[0]["imei"] == "861234567890777"
    pid = next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == "SMOKE-NB-CTW")
    r = client.post(f"/api/v1/pending-devices/{pending[0]['id']}/onboard",
                    json={"name": "新烟感", "product_id": pid, "lon": 121.420, "lat": 31.222}, headers=h)
    assert r.status_code == 201, r.text
    device = r.json()
    assert device["external_id"] == "new-dev-7" and device["imei"] == "861234567890777"
    msgs = client.get(f"/api/v1/devices/{device['id']}/messages", headers=h).json()
    assert len(msgs) == 2, "held messages now belong to the device"
    assert client.get("/api/v1/pending-devices", headers=h).json() == []


def test_ip_allow_list(client, auth_headers):
    h = auth_headers("admin")
    r = client.post("/api/v1/connections", json={"kind": "ctwing", "name": "ip", "allowed_ips": ["10.9.0.0/16"]},
                    headers=h)
    c = r.json()
    body, headers, _ = ctwing.online("d", True)
    r = client.post(c["push_url"], content=body, headers=headers)  # TestClient's address is "testclient"
    assert r.status_code == 403
    assert client.post("/api/v1/connections", json={"kind": "ctwing", "name": "bad", "allowed_ips": ["x"]},
                       headers=h).status_code == 422


def test_missing_ids_answer_in_chinese(client, auth_headers):
    h = auth_headers("admin")
    r = client.get("/api/v1/connections/999999", headers=h)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "接入连接 999999 不存在"
    r = client.get("/api/v1/dead-letters/999999", headers=h)
    assert r.status_code == 404 and r.json()["detail"] == "死信 999999 不存在"
