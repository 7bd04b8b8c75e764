"""Findings API (OPS-1): list with filters (open first, most severe first), get, resolve with a
note; roles and problem+json."""

from __future__ import annotations

from cityops.inspections import findings


def _raise(db, key, severity, source="probe"):
    with db.session() as s:
        return findings.raise_finding(s, key=key, source=source, title=f"{key} 异常", severity=severity,
                                      ticket_policy="never").id


def test_list_filters_and_resolve(client, auth_headers, db):
    warn = _raise(db, "probe:1", "warning")
    crit = _raise(db, "probe:2", "critical")
    chk = _raise(db, "checklist:1:temp", "info", source="checklist")
    auditor, duty, street = auth_headers("auditor"), auth_headers("duty"), auth_headers("street", "310105002")
    assert client.get("/api/v1/findings", headers=street).status_code == 403
    page = client.get("/api/v1/findings", headers=auditor).json()
    assert [f["id"] for f in page["items"]] == [crit, warn, chk] and page["total"] == 3
    assert page["items"][0]["first_seen_at"].endswith("+08:00")
    assert [f["id"] for f in client.get("/api/v1/findings?source=checklist", headers=auditor).json()["items"]] == [chk]
    assert client.get("/api/v1/findings?severity=critical", headers=auditor).json()["total"] == 1
    assert client.get(f"/api/v1/findings/{crit}", headers=auditor).json()["severity"] == "critical"
    assert client.post(f"/api/v1/findings/{crit}/resolve", json={"note": "重启"}, headers=auditor).status_code == 403
    r = client.post(f"/api/v1/findings/{crit}/resolve", json={"note": " "}, headers=duty)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = client.post(f"/api/v1/findings/{crit}/resolve", json={"note": "重启服务"}, headers=duty)
    assert r.status_code == 200 and r.json()["state"] == "resolved" and r.json()["resolution"] == "重启服务"
    assert client.post(f"/api/v1/findings/{crit}/resolve", json={"note": "again"}, headers=duty).status_code == 409
    assert client.get("/api/v1/findings", headers=auditor).json()["total"] == 2
    everything = client.get("/api/v1/findings?state=all", headers=auditor).json()
    assert everything["total"] == 3 and everything["items"][-1]["id"] == crit  # resolved last
    assert client.get("/api/v1/findings?severity=fatal", headers=auditor).status_code == 422
    assert client.get("/api/v1/findings/9999", headers=auditor).status_code == 404
