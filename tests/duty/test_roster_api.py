"""Roster API and console (SVC-1): roles, problem+json on bad input, generation, coverage,
overrides, swaps, special periods, handovers; the 排班轮换 page and its forms."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from cityops.core.timeutil import SHANGHAI, utcnow
from cityops.duty import service
from tests.conftest import PASSWORD

API = "/api/v1/duty"


def _people(db):
    with db.session() as s:
        service.create_team(s, code="centre", name="城运中心值班组")
        service.create_team(s, code="support", name="技术支撑组")
        off = [service.create_contact(s, name=f"值班员{i}", phone=f"1380000001{i}", team_code="centre").id
               for i in range(4)]
        sup = [service.create_contact(s, name=f"技术{i}", phone=f"1380000002{i}", team_code="support").id
               for i in range(4)]
    return off, sup


def _rotation(client, h, off, start):
    r = client.post(f"{API}/rotations", headers=h, json={
        "name": "四班轮换", "team_code": "centre", "members": off, "start_date": start.isoformat(),
        "slots": [{"code": "D", "label": "白班", "start": "08:30", "end": "20:30"},
                  {"code": "N", "label": "夜班", "start": "20:30", "end": "08:30"}], "cycle": ["D", "N", "-", "-"]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_rotation_generate_and_coverage_over_the_api(client, db, auth_headers):
    off, sup = _people(db)
    mgr, tech, street = auth_headers("manager"), auth_headers("technician"), auth_headers("street", "310105002")
    today = (utcnow().astimezone(SHANGHAI)).date()
    rid = _rotation(client, mgr, off, today - timedelta(days=3))
    r = client.post(f"{API}/rotations", headers=mgr, json={"name": "周值守", "team_code": "support",
                                                          "role": "support", "kind": "weekly", "members": sup,
                                                          "start_date": (today - timedelta(days=3)).isoformat()})
    assert r.status_code == 201
    wid = r.json()["id"]
    end = today + timedelta(days=20)
    for i in (rid, wid):
        r = client.post(f"{API}/rotations/{i}/generate", headers=mgr,
                        json={"start": today.isoformat(), "end": end.isoformat()})
        assert r.status_code == 200 and r.json()["created"] > 0, r.text
    # technicians read, may not configure; street users see nothing
    assert client.get(f"{API}/rotations", headers=tech).status_code == 200
    assert client.post(f"{API}/rotations/{rid}/generate", headers=tech,
                       json={"start": today.isoformat(), "end": end.isoformat()}).status_code == 403
    assert client.get(f"{API}/coverage", headers=street).status_code == 403
    start = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
    r = client.get(f"{API}/coverage", headers=tech, params={"start": start.isoformat(),
                                                            "end": (start + timedelta(days=7)).isoformat()})
    assert r.status_code == 200 and r.json()["gaps"] == [] and r.json()["hours"] == 168
    assert r.json()["start"].endswith("+08:00")
    now = client.get(f"{API}/on-duty-now", headers=tech).json()
    assert {x["team"] for x in now} == {"centre", "support"} and all("****" in x["phone"] for x in now)
    bad = client.post(f"{API}/rotations", headers=mgr, json={"name": "x", "team_code": "centre", "members": off,
                                                            "start_date": "2026-05-01", "cycle": ["D"],
                                                            "slots": [{"code": "D", "start": "25:00", "end": "1"}]})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "HH:MM" in bad.json()["detail"]
    r = client.post(f"{API}/rotations/{rid}/generate", headers=mgr, json={"start": "2026-06-02", "end": "2026-06-01"})
    assert r.status_code == 422 and "不能早于" in r.json()["detail"]
    assert client.get(f"{API}/rotations/999", headers=mgr).status_code == 404
    assert client.get(f"{API}/coverage", headers=tech, params={"start": start.isoformat()}).status_code == 422


def test_override_swap_period_and_handover_over_the_api(client, db, auth_headers):
    off, _ = _people(db)
    mgr, duty, tech = auth_headers("manager"), auth_headers("duty"), auth_headers("technician")
    now = utcnow()
    r = client.post(f"{API}/overrides", headers=duty, json={
        "contact_id": off[0], "replacement_id": off[1], "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=4)).isoformat(), "reason": "病假"})
    assert r.status_code == 201, r.text
    assert client.post(f"{API}/overrides", headers=tech, json={
        "contact_id": off[0], "replacement_id": off[1], "starts_at": now.isoformat(),
        "ends_at": now.isoformat()}).status_code == 403
    r = client.post(f"{API}/overrides", headers=duty, json={
        "contact_id": off[2], "replacement_id": off[3], "starts_at": now.isoformat(), "ends_at": now.isoformat()})
    assert r.status_code == 422 and "晚于" in r.json()["detail"]
    # swap two future shifts: a technician asks, a manager approves
    with db.session() as s:
        a = service.create_shift(s, contact_id=off[0], team_code="centre", starts_at=now + timedelta(days=2),
                                 ends_at=now + timedelta(days=2, hours=12)).id
        b = service.create_shift(s, contact_id=off[1], team_code="centre", starts_at=now + timedelta(days=3),
                                 ends_at=now + timedelta(days=3, hours=12)).id
    r = client.post(f"{API}/swaps", headers=tech, json={"shift_a_id": a, "shift_b_id": b, "reason": "家中有事"})
    assert r.status_code == 201 and r.json()["state"] == "pending"
    sid = r.json()["id"]
    assert client.post(f"{API}/swaps/{sid}/approve", headers=duty, json={}).status_code == 403
    r = client.post(f"{API}/swaps/{sid}/approve", headers=mgr, json={"note": "同意"})
    assert r.status_code == 200 and r.json()["state"] == "approved"
    assert client.post(f"{API}/swaps/{sid}/reject", headers=mgr, json={}).status_code == 409
    shifts = {x["id"]: x["contact_id"] for x in client.get(f"{API}/shifts", headers=mgr).json()}
    assert (shifts[a], shifts[b]) == (off[1], off[0])
    # special periods and the holidays on offer
    holidays = client.get(f"{API}/special-periods/holidays", headers=tech).json()
    assert any(h["name"] == "国庆节" for h in holidays)  # 2027 is not published in the data yet
    r = client.post(f"{API}/special-periods", headers=mgr, json={
        "name": "城市测评", "kind": "evaluation", "starts_on": "2026-09-01", "ends_on": "2026-09-03",
        "requirements": [{"role": "duty", "count": 2}, {"post": "移动单兵", "role": "duty"},
                         {"post": "城区之眼", "role": "duty"}]})
    assert r.status_code == 201 and [q["label"] for q in r.json()["requirements"]] == ["值班员", "移动单兵", "城区之眼"]
    r = client.post(f"{API}/special-periods", headers=mgr, json={"name": "x", "starts_on": "2026-09-01",
                                                                "ends_on": "2026-09-01",
                                                                "requirements": [{"role": "boss"}]})
    assert r.status_code == 422
    # handover: written by one officer, acknowledged by another
    r = client.post(f"{API}/handovers", headers=duty, json={"team_code": "centre", "note": "3 号机柜风扇异响，已报修"})
    assert r.status_code == 201 and r.json()["summary"]["open_findings"] == 0
    hid = r.json()["id"]
    assert client.post(f"{API}/handovers/{hid}/ack", headers=duty, json={}).status_code == 422  # not oneself
    r = client.post(f"{API}/handovers/{hid}/ack", headers=mgr, json={"note": "已接班"})
    assert r.status_code == 200 and r.json()["acknowledged_at"].endswith("+08:00")
    assert client.post(f"{API}/handovers/{hid}/ack", headers=mgr, json={}).status_code == 409
    assert [h["id"] for h in client.get(f"{API}/handovers", headers=tech).json()] == [hid]


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    name = make_user(role, street)
    client.post("/login", data={"username": name, "password": PASSWORD})
    return name


def test_roster_page_forms(client, db, make_user):
    off, _ = _people(db)
    _login(client, make_user, "manager")
    html = client.get("/console/duty/roster").text
    assert "排班轮换" in html and "新建轮换" in html and "覆盖检查" in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    today = utcnow().astimezone(SHANGHAI).date()
    r = client.post("/console/duty/roster/rotations", data={
        "csrf": csrf, "name": "四班轮换", "team_code": "centre", "role": "member", "kind": "cycle",
        "members": [str(i) for i in off], "slots": "D 白班 08:30-20:30\nN 夜班 20:30-08:30", "cycle": "D,N,-,-",
        "start_date": today.isoformat(), "handover_at": "08:30"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    rid = re.search(r'/console/duty/roster/rotations/(\d+)/generate', client.get("/console/duty/roster").text)[1]
    r = client.post(f"/console/duty/roster/rotations/{rid}/generate", data={
        "csrf": csrf, "start": today.isoformat(), "end": (today + timedelta(days=6)).isoformat()})
    assert "已生成" in r.text and "值班员0" in r.text
    r = client.post("/console/duty/roster/rotations", data={"csrf": csrf, "name": "坏", "team_code": "centre",
                                                            "members": [str(off[0])], "slots": "D 白班 8点",
                                                            "cycle": "D", "start_date": today.isoformat()})
    assert r.status_code == 422 and "保存失败" in r.text and "班次行须形如" in r.text
    r = client.post("/console/duty/roster/periods", data={"csrf": csrf, "name": "城市测评", "kind": "evaluation",
                                                          "starts_on": "2026-09-01", "ends_on": "2026-09-02",
                                                          "duty_count": "2", "posts": "移动单兵,城区之眼"})
    assert "已添加特殊时段" in r.text and "移动单兵 1 人" in r.text
    r = client.post("/console/duty/roster/handovers", data={"csrf": csrf, "team_code": "centre", "note": "一切正常"})
    assert "已提交交接班记录" in r.text
    assert client.post("/console/duty/roster/periods", data={"csrf": "forged", "name": "x", "starts_on": "2026-01-01",
                                                             "ends_on": "2026-01-01"}).status_code == 403


def test_roster_page_roles(client, db, make_user):
    _people(db)
    _login(client, make_user, "technician")
    html = client.get("/console/duty/roster").text
    assert "申请换班" in html and "新建轮换" not in html and "登记替班" not in html
    _login(client, make_user, "auditor")
    html = client.get("/console/duty/roster").text
    assert "排班轮换" in html and "申请换班" not in html
    _login(client, make_user, "street", "310105002")
    assert client.get("/console/duty/roster").status_code == 403
    _login(client, make_user, "technician")
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/duty/roster").text)[1]
    assert client.post("/console/duty/roster/periods", data={"csrf": csrf, "name": "x", "starts_on": "2026-01-01",
                                                             "ends_on": "2026-01-01"}).status_code == 403
