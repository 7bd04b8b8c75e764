"""Hardware maintenance API and console (HW, ROOM-2): roles, problem+json, schedules and the
due list, work with a ticket and spare parts, stock movements, warranty buckets; the 硬件维保 page."""

from __future__ import annotations

import re

from sqlalchemy import select

from cityops.catalog.models import Asset, HardwareLine
from tests.conftest import PASSWORD

API = "/api/v1/catalog/hardware"


def _ids(db):
    with db.session() as s:
        line = s.scalar(select(HardwareLine.id).where(HardwareLine.seq == 2))
        asset = s.scalar(select(Asset.id).where(Asset.asset_tag == "CN-HW-02-001"))
    return line, asset


def test_schedule_spares_and_work_over_the_api(client, db, auth_headers):
    line, asset = _ids(db)
    mgr, tech, auditor = auth_headers("manager"), auth_headers("technician"), auth_headers("auditor")
    street = auth_headers("street", "310105002")
    body = {"line_id": line, "interval": 6, "unit": "month", "checklist": "清灰", "first_due": "2026-01-01"}
    assert client.post(f"{API}/schedules", headers=tech, json=body).status_code == 403  # managers plan
    r = client.post(f"{API}/schedules", headers=mgr, json=body)
    assert r.status_code == 201, r.text
    assert client.post(f"{API}/schedules", headers=mgr, json=body).status_code == 409
    bad = client.post(f"{API}/schedules", headers=mgr, json={**body, "unit": "day", "line_id": 99999})
    assert bad.status_code == 404 and bad.headers["content-type"].startswith("application/problem+json")
    due = client.get(f"{API}/due", headers=auditor).json()
    assert asset in [d["asset"]["id"] for d in due] and all(d["overdue"] for d in due)
    assert client.get(f"{API}/due", headers=street).status_code == 403
    r = client.post(f"{API}/spares", headers=tech, json={"name": "电源模块", "model": "PSU-550", "line_id": line,
                                                         "quantity": 2, "min_stock": 2, "location": "备件柜 A"})
    assert r.status_code == 201 and r.json()["quantity"] == 2 and r.json()["low"] is False
    pid = r.json()["id"]
    r = client.post(f"{API}/work", headers=tech, json={"asset_id": asset, "kind": "replacement", "summary": "更换电源",
                                                       "ticket_id": 12, "parts": [{"part_id": pid, "quantity": 1}]})
    assert r.status_code == 201 and r.json()["ticket_id"] == 12, r.text
    rid = r.json()["id"]
    r = client.post(f"{API}/work", headers=tech, json={"asset_id": asset, "kind": "preventive", "summary": "半年维护"})
    assert r.status_code == 201
    assert asset not in [d["asset"]["id"] for d in client.get(f"{API}/due", headers=tech).json()]
    spares = client.get(f"{API}/spares", headers=auditor, params={"low": True}).json()
    assert [(p["id"], p["quantity"], p["low"]) for p in spares] == [(pid, 1, True)]
    moves = client.get(f"{API}/spares/{pid}/movements", headers=auditor).json()
    assert [(m["delta"], m["record_id"]) for m in moves] == [(-1, rid), (2, None)]
    r = client.post(f"{API}/spares/{pid}/movements", headers=tech, json={"delta": -5, "reason": "scrap"})
    assert r.status_code == 409 and "不足" in r.json()["detail"]
    r = client.post(f"{API}/spares/{pid}/movements", headers=tech, json={"delta": 3, "reason": "purchase"})
    assert r.status_code == 201 and r.json()["quantity_after"] == 4 and r.json()["at"].endswith("+08:00")
    assert client.post(f"{API}/spares/{pid}/movements", headers=auditor,
                       json={"delta": 1, "reason": "purchase"}).status_code == 403
    r = client.post(f"{API}/work", headers=tech, json={"asset_id": asset, "kind": "repair", "summary": "x",
                                                       "ticket_id": 0})
    assert r.status_code == 422
    w = client.get(f"{API}/warranty", headers=auditor).json()
    assert set(w) == {"expired", "d30", "d60"}


def _login(client, make_user, role):
    client.cookies.clear()
    client.post("/login", data={"username": make_user(role), "password": PASSWORD})


def test_maintenance_page_forms(client, db, make_user):
    line, asset = _ids(db)
    _login(client, make_user, "manager")
    html = client.get("/console/hardware/maintenance").text
    assert "硬件维保" in html and "维保计划" in html and "保修跟踪" in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)[1]
    r = client.post("/console/hardware/maintenance/schedules", data={"csrf": csrf, "line_id": str(line),
                                                                     "interval": "3", "unit": "month",
                                                                     "first_due": "2026-01-01"})
    assert "已添加维保计划" in r.text and "CN-HW-02-001" in r.text and "逾期" in r.text
    r = client.post("/console/hardware/maintenance/spares", data={"csrf": csrf, "name": "风扇", "quantity": "1",
                                                                  "min_stock": "2"})
    assert "已添加备件" in r.text and "低于最低库存" in r.text
    pid = re.search(r'/console/hardware/maintenance/spares/(\d+)/movements', r.text)[1]
    r = client.post(f"/console/hardware/maintenance/spares/{pid}/movements",
                    data={"csrf": csrf, "direction": "in", "quantity": "2", "reason": "purchase"})
    assert "已入库 2，结存 3" in r.text
    r = client.post("/console/hardware/maintenance/work", data={
        "csrf": csrf, "asset_id": str(asset), "kind": "repair", "summary": "更换风扇", "ticket_id": "31",
        "part_id": pid, "part_qty": "1"})
    assert "已记录维修" in r.text and 'href="/console/tickets/31"' in r.text
    r = client.post("/console/hardware/maintenance/work", data={
        "csrf": csrf, "asset_id": str(asset), "kind": "repair", "summary": "更换风扇", "part_id": pid,
        "part_qty": "9"})
    assert r.status_code == 409 and "保存失败" in r.text and "不足" in r.text and 'value="更换风扇"' in r.text


def test_maintenance_page_roles(client, db, make_user):
    _login(client, make_user, "auditor")
    html = client.get("/console/hardware/maintenance").text
    assert "保修跟踪" in html and "保存记录" not in html and "添加维保计划" not in html
    _login(client, make_user, "technician")
    html = client.get("/console/hardware/maintenance").text
    assert "保存记录" in html and "添加维保计划" not in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)[1]
    assert client.post("/console/hardware/maintenance/schedules",
                       data={"csrf": csrf, "line_id": "1", "interval": "1", "first_due": "2026-01-01"}).status_code == 403
    client.cookies.clear()
    client.post("/login", data={"username": make_user("street", "310105002"), "password": PASSWORD})
    assert client.get("/console/hardware/maintenance").status_code == 403
