"""Probe API (OPS-1): roles, validation as problem+json, secrets never returned, run now,
history, probe kinds and the public push endpoint."""

from __future__ import annotations

from tests.inspections import probe_servers as ps

BODY = {"name": "门户", "kind": "http", "target": "http://127.0.0.1:1/", "ticket_policy": "never",
        "options": {"keyword": "ok", "password": "s3cret", "username": "u"}}


def test_roles_and_crud(client, auth_headers):
    mgr, duty, tech, auditor = (auth_headers(r) for r in ("manager", "duty", "technician", "auditor"))
    street = auth_headers("street", "310105002")
    assert client.post("/api/v1/probes", json=BODY, headers=duty).status_code == 403
    r = client.post("/api/v1/probes", json=BODY, headers=mgr)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["options"] == {"keyword": "ok", "username": "u"} and p["secrets_set"] == ["password"]
    assert "s3cret" not in r.text and p["state"] == "unknown" and p["created_at"].endswith("+08:00")
    assert client.get("/api/v1/probes", headers=street).status_code == 403
    listed = client.get("/api/v1/probes", headers=auditor).json()
    assert listed["total"] == 1 and "s3cret" not in str(listed)
    r = client.patch(f"/api/v1/probes/{p['id']}", json={"interval_s": 120, "options": {"password": "******"}},
                     headers=mgr)
    assert r.status_code == 200 and r.json()["interval_s"] == 120 and r.json()["secrets_set"] == ["password"]
    assert client.patch(f"/api/v1/probes/{p['id']}", json={"name": "x"}, headers=tech).status_code == 403
    assert client.delete(f"/api/v1/probes/{p['id']}", headers=duty).status_code == 403
    assert client.delete(f"/api/v1/probes/{p['id']}", headers=mgr).status_code == 204
    assert client.get(f"/api/v1/probes/{p['id']}", headers=mgr).status_code == 404


def test_bad_input_is_problem_json(client, auth_headers):
    mgr = auth_headers("manager")
    for body, text in (({**BODY, "kind": "gopher"}, "未知的探针类型"),
                       ({**BODY, "options": {"cert_warn_days": "soon"}}, "cert_warn_days"),
                       ({**BODY, "target": "not a url"}, "URL"),
                       ({**BODY, "kind": "tcp", "target": "h:1", "options": {"keyword": "x"}}, "没有选项"),
                       ({**BODY, "severity": "fatal"}, "严重程度")):
        r = client.post("/api/v1/probes", json=body, headers=mgr)
        assert r.status_code == 422, body
        assert r.headers["content-type"] == "application/problem+json" and text in r.json()["detail"]
    assert client.post("/api/v1/probes", json={**BODY, "interval_s": "often"}, headers=mgr).status_code == 422
    assert client.get("/api/v1/probes?state=bogus", headers=mgr).status_code == 422
    assert client.post("/api/v1/probes/999/run", headers=mgr).status_code == 404


def test_run_now_and_history(client, auth_headers):
    mgr, tech, auditor = auth_headers("manager"), auth_headers("technician"), auth_headers("auditor")
    with ps.http_server() as base:
        p = client.post("/api/v1/probes", json={**BODY, "target": f"{base}/ok", "options": {"keyword": "ok"}},
                        headers=mgr).json()
        assert client.post(f"/api/v1/probes/{p['id']}/run", headers=auditor).status_code == 403
        r = client.post(f"/api/v1/probes/{p['id']}/run", headers=tech)
        assert r.status_code == 200 and r.json()["ok"] is True and r.json()["data"]["status"] == 200
        client.patch(f"/api/v1/probes/{p['id']}", json={"options": {"keyword": "missing"}}, headers=mgr)
        r = client.post(f"/api/v1/probes/{p['id']}/run", headers=tech).json()
        assert r["ok"] is False and "missing" in r["detail"]
    h = client.get(f"/api/v1/probes/{p['id']}/history?limit=1", headers=auditor).json()
    assert h["total"] == 2 and len(h["items"]) == 1 and h["items"][0]["ok"] is False
    assert client.get(f"/api/v1/probes/{p['id']}/history?from=2030-01-01T00:00:00%2B08:00",
                      headers=auditor).json()["total"] == 0
    got = client.get(f"/api/v1/probes/{p['id']}", headers=auditor).json()
    assert got["state"] == "failing" and got["last_run_at"].endswith("+08:00")
    assert client.get("/api/v1/probes?state=failing", headers=auditor).json()["total"] == 1


def test_probe_kinds(client, auth_headers):
    kinds = client.get("/api/v1/probe-kinds", headers=auth_headers("duty")).json()
    byname = {k["kind"]: k for k in kinds}
    assert {"http", "tcp", "reach", "dns", "postgres", "mysql", "redis", "mqtt", "sip", "host", "push"} == set(byname)
    assert byname["http"]["label"] and any(o["name"] == "cert_warn_days" and o["default"] == 14
                                           for o in byname["http"]["options"])


def test_public_push_endpoint(client, auth_headers):
    mgr, duty = auth_headers("manager"), auth_headers("duty")
    p = client.post("/api/v1/probes", json={"name": "备份", "kind": "push", "target": "backup",
                                            "ticket_policy": "never", "fail_after": 1}, headers=mgr).json()
    path = p["push_path"]
    assert path.startswith("/api/v1/probes/push/")
    assert client.get(f"/api/v1/probes/{p['id']}", headers=duty).json()["push_path"] is None
    r = client.post(path)  # no token header: the path's token authenticates
    assert r.status_code == 200 and r.json() == {"accepted": True, "probe": "备份", "status": "ok"}
    assert client.post(f"{path}?status=fail&msg=磁盘已满").status_code == 200
    run = client.post(f"/api/v1/probes/{p['id']}/run", headers=duty).json()
    assert run["ok"] is False and "磁盘已满" in run["detail"]
    bad = client.post("/api/v1/probes/push/not-a-token")
    assert bad.status_code == 401 and bad.headers["content-type"] == "application/problem+json"
    assert client.post(f"{path}?status=maybe").status_code == 422


def test_ssh_host_key_pinned_by_the_first_run_shows_in_the_probe(client, auth_headers):
    """OPS-1: the host probe pins the SSH host key it first met; the API shows it, and a wrong
    fingerprint is refused as problem+json."""
    mgr, tech = auth_headers("manager"), auth_headers("technician")
    body = {"name": "应用服务器", "kind": "host", "ticket_policy": "never", "timeout_s": 5,
            "options": {"mode": "ssh", "username": "ops", "password": "pw", "disk_max": 95}}
    bad = client.post("/api/v1/probes", json={**body, "target": "10.0.0.1",
                                              "options": {**body["options"], "host_key": "ab:cd:ef"}}, headers=mgr)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "SHA256" in bad.json()["detail"]
    with ps.ssh_server() as (port, _commands, server):
        p = client.post("/api/v1/probes", json={**body, "target": f"127.0.0.1:{port}"}, headers=mgr).json()
        assert "host_key" not in p["options"] or not p["options"]["host_key"]
        r = client.post(f"/api/v1/probes/{p['id']}/run", headers=tech).json()
        assert r["ok"] is True and server.fingerprint in r["detail"]
    got = client.get(f"/api/v1/probes/{p['id']}", headers=mgr).json()
    assert got["options"]["host_key"] == server.fingerprint and "password" not in got["options"]
