"""Lines API (CALL-3): registry CRUD with roles, secrets never returned, checks and test calls run
now against the SIP gateway simulator, manual and service marking, history filters, health."""

from __future__ import annotations

import pytest

from cityops.sim.marking import MarkingSim
from cityops.sim.marking import serve as serve_marking
from cityops.sim.sip_gateway import Script, SipGatewaySim, serve

API = "/api/v1/callout/lines"


@pytest.fixture
def gateway():
    sim = SipGatewaySim(hangup_after_s=0.4, http=True, scripts={"13900000001": Script(dtmf="5")})
    with serve(sim) as served:
        yield sim, served


def test_gateway_crud_roles_and_masking(client, auth_headers):
    admin, duty, tech = auth_headers("admin"), auth_headers("duty"), auth_headers("technician")
    body = {"name": "SMG-1", "model": "SMG1000-D40", "host": "10.1.2.3", "ports": 30, "line_group": "hotline",
            "username": "trunk", "password": "s3cret", "test_number": "13900000001"}
    assert client.post(f"{API}/gateways", json=body, headers=duty).status_code == 403
    r = client.post(f"{API}/gateways", json=body, headers=admin)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["password"] == "******" and "s3cret" not in r.text and d["state"] == "unknown"
    assert d["test_number"] == "13900000001" and d["sip_port"] == 5060
    assert client.get(f"{API}/gateways", headers=tech).json()[0]["test_number"] == "139****0001"  # no PII role
    r = client.post(f"{API}/gateways", json={**body, "ports": 500, "name": "x"}, headers=admin)
    assert r.status_code == 422 and "1～480" in r.json()["detail"]
    assert client.post(f"{API}/gateways", json=body, headers=admin).status_code == 409
    r = client.patch(f"{API}/gateways/{d['id']}", json={"password": "******", "ports": 16}, headers=auth_headers("manager"))
    assert r.status_code == 200 and r.json()["ports"] == 16 and r.json()["password"] == "******"
    assert client.get(f"{API}/gateways/999", headers=admin).status_code == 404
    assert client.delete(f"{API}/gateways/{d['id']}", headers=duty).status_code == 403
    assert client.delete(f"{API}/gateways/{d['id']}", headers=admin).status_code == 204
    assert client.get(f"{API}/gateways", headers=admin).json() == []
    assert client.get(f"{API}/gateways", headers=auth_headers("street", "310105001")).status_code == 403


def test_check_and_test_call_now(client, auth_headers, gateway):
    _sim, gw = gateway
    admin, duty = auth_headers("admin"), auth_headers("duty")
    d = client.post(f"{API}/gateways", json={"name": "SMG-1", "host": gw.host, "sip_port": gw.port,
                                             "http_status_url": gw.status_url, "test_number": "13900000001"},
                    headers=admin).json()
    r = client.post(f"{API}/gateways/{d['id']}/check", headers=duty)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["state"] == "up" and got["sip_ok"] and got["http_ok"] and got["status_page"]["model"] == "SMG1000-D40"
    assert got["last_checked_at"].endswith(("Z", "+00:00"))
    assert client.post(f"{API}/gateways/{d['id']}/check", headers=auth_headers("technician")).status_code == 403
    client.put(f"{API}/marking-service", json={"test_max_call_s": 1}, headers=admin)
    r = client.post(f"{API}/gateways/{d['id']}/test-call", headers=duty)
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["ok"] and t["kind"] == "test_call" and t["data"]["result"] == "answered" and t["data"]["sip_code"] == 200
    assert t["data"]["dtmf"] == "5" and t["data"]["number"] == "13900000001"
    hist = client.get(f"{API}/history", params={"device_id": d["id"]}, headers=duty).json()
    assert hist["total"] == 3 and hist["items"][0]["kind"] == "test_call"
    assert sorted(i["kind"] for i in hist["items"]) == ["http", "options", "test_call"]
    assert client.get(f"{API}/history", params={"kind": "test_call", "ok": "false"}, headers=duty).json()["total"] == 0
    assert client.get(f"{API}/history", params={"kind": "bogus"}, headers=duty).status_code == 422
    h = client.get(f"{API}/health", headers=auth_headers("auditor")).json()
    assert h["counts"]["up"] == 1 and h["devices"][0]["pass_rate_7d"] == 1.0
    assert h["devices"][0]["test_call"]["data"]["number"] == "139****0001"  # auditors see no PII
    client.patch(f"{API}/gateways/{d['id']}", json={"test_number": ""}, headers=admin)
    r = client.post(f"{API}/gateways/{d['id']}/test-call", headers=duty)
    assert r.status_code == 422 and "测试号码" in r.json()["detail"]


def test_caller_ids_marking_manual_and_service(client, auth_headers):
    admin, duty = auth_headers("admin"), auth_headers("duty")
    r = client.post(f"{API}/caller-ids", json={"number": "021-6238 0002", "line_group": "hotline", "carrier": "电信"},
                    headers=admin)
    assert r.status_code == 201 and r.json()["number"] == "02162380002" and r.json()["marking"] == "unknown"
    cid = r.json()["id"]
    assert client.post(f"{API}/caller-ids", json={"number": "02162380002"}, headers=admin).status_code == 409
    assert client.post(f"{API}/caller-ids", json={"number": "110"}, headers=admin).status_code == 422
    r = client.post(f"{API}/caller-ids/{cid}/marking", json={"marked": True, "label": "诈骗", "count": 3,
                                                             "app": "360手机卫士"}, headers=duty)
    assert r.status_code == 200 and r.json()["marking"] == "marked" and r.json()["label"] == "诈骗"
    assert r.json()["marked_since"] is not None
    r = client.post(f"{API}/caller-ids/{cid}/query", headers=duty)
    assert r.status_code == 422 and "尚未配置" in r.json()["detail"]

    sim = MarkingSim(api_key="key-1")
    with serve_marking(sim) as url:
        assert client.put(f"{API}/marking-service", json={"marking_base_url": url, "marking_api_key": "key-1"},
                          headers=auth_headers("manager")).status_code == 403
        r = client.put(f"{API}/marking-service", json={"marking_base_url": url, "marking_api_key": "key-1"},
                       headers=admin)
        assert r.status_code == 200 and r.json()["marking_api_key"] == "******" and "key-1" not in r.text
        got = client.get(f"{API}/marking-service", headers=duty).json()
        assert got["marking_base_url"] == url and got["marking_api_key"] == "******" and got["updated_by"]
        r = client.post(f"{API}/caller-ids/{cid}/query", headers=duty)
        assert r.status_code == 200 and r.json()["marking"] == "clean" and r.json()["marked_since"] is None
        sim.fail("5xx")
        r = client.post(f"{API}/caller-ids/{cid}/query", headers=duty)
        assert r.status_code == 502 and "503" in r.json()["detail"]
    hist = client.get(f"{API}/history", params={"caller_id": cid}, headers=duty).json()
    assert hist["total"] == 3 and hist["items"][0]["detail"].startswith("查询失败")
    assert client.get(f"{API}/caller-ids", params={"marking": "clean"}, headers=duty).json()[0]["id"] == cid
    r = client.put(f"{API}/marking-service", json={"notify_team": "nobody"}, headers=admin)
    assert r.status_code == 422
    assert client.delete(f"{API}/caller-ids/{cid}", headers=admin).status_code == 204
    assert client.get(f"{API}/caller-ids/{cid}", headers=admin).status_code == 404
