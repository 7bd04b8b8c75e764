"""Duty roster (IOT-5 / OPS-3): contacts, teams, shifts, who is on duty now; masked phone
numbers for roles without access to personal data; role checks; the console page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from cityops.core.errors import Conflict, Invalid
from cityops.duty import service
from tests.conftest import PASSWORD

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 10:00 Beijing


def _roster(s):
    service.create_team(s, code="centre", name="城运中心值班组")
    service.create_team(s, code="tech", name="技术支撑组")
    a = service.create_contact(s, name="张三", phone="+86 138-0000-1111", team_code="centre")
    b = service.create_contact(s, name="李四", phone="13900002222", team_code="centre")
    c = service.create_contact(s, name="陈工", email="chen@cn.gov.cn", team_code="tech")
    service.create_shift(s, contact_id=a.id, team_code="centre", role="member", starts_at=T0 - timedelta(hours=2),
                         ends_at=T0 + timedelta(hours=10))
    service.create_shift(s, contact_id=b.id, team_code="centre", role="leader", starts_at=T0 - timedelta(hours=2),
                         ends_at=T0 + timedelta(hours=10))
    service.create_shift(s, contact_id=c.id, team_code="tech", role="support", starts_at=T0 + timedelta(hours=10),
                         ends_at=T0 + timedelta(hours=22))
    return a, b, c


def test_on_duty_now_by_team_and_time(db):
    with db.session() as s:
        a, b, _ = _roster(s)
        assert a.phone == "13800001111"  # normalised
        now = [(sh.role, ct.name) for sh, ct in service.on_duty(s, team="centre", at=T0)]
        assert now == [("leader", "李四"), ("member", "张三")]  # leaders first
        assert service.on_duty(s, team="tech", at=T0) == []
        later = service.on_duty(s, at=T0 + timedelta(hours=11))
        assert [ct.name for _, ct in later] == ["陈工"]
        assert service.on_duty(s, at=T0 + timedelta(hours=10), team="centre") == []  # ends_at is exclusive
        service.update_contact(s, b.id, active=False)
        assert [ct.name for _, ct in service.on_duty(s, team="centre", at=T0)] == ["张三"]
        service.update_team(s, "centre", active=False)
        assert service.on_duty(s, team="centre", at=T0) == []


def test_shift_and_contact_validation(db):
    with db.session() as s:
        a, _, _ = _roster(s)
        with pytest.raises(Conflict):  # overlaps his own shift
            service.create_shift(s, contact_id=a.id, team_code="centre", starts_at=T0, ends_at=T0 + timedelta(hours=1))
        with pytest.raises(Invalid):
            service.create_shift(s, contact_id=a.id, team_code="centre", starts_at=T0, ends_at=T0)
        with pytest.raises(Invalid):
            service.create_shift(s, contact_id=a.id, team_code="centre", starts_at=T0.replace(tzinfo=None),
                                 ends_at=T0.replace(tzinfo=None) + timedelta(hours=1))
        with pytest.raises(Invalid):
            service.create_shift(s, contact_id=a.id, team_code="centre", role="boss", starts_at=T0 + timedelta(days=1),
                                 ends_at=T0 + timedelta(days=1, hours=1))
        with pytest.raises(Invalid):
            service.create_contact(s, name="王五", phone="12345")
        with pytest.raises(Invalid):
            service.create_contact(s, name="王五")  # no way to reach him
        with pytest.raises(Invalid):
            service.create_contact(s, name="王五", phone="13700001111", username="nobody")
        with pytest.raises(Conflict):
            service.create_team(s, code="centre", name="again")


def test_deleting_the_manager_clears_the_team(db):
    with db.session() as s:
        a, _, _ = _roster(s)
        service.update_team(s, "centre", manager_id=a.id)
        assert service.team_manager(s, "centre").id == a.id
        service.delete_contact(s, a.id)
        assert service.get_team(s, "centre").manager_id is None and service.team_manager(s, "centre") is None


def test_changes_land_in_the_audit_chain_with_masked_phones(db):
    from cityops.audit import service as audit

    with db.session() as s:
        _roster(s)
        rows, _ = audit.list_entries(s, entity="duty_contacts")
        assert rows and all("13800001111" not in str(r.after) for r in rows)
        assert any("138****1111" in str(r.after) for r in rows)
        assert audit.verify(s).ok


def test_api_roles_and_masking(client, auth_headers, make_user):
    admin = auth_headers("admin")
    r = client.post("/api/v1/duty/teams", json={"code": "centre", "name": "城运中心值班组"}, headers=admin)
    assert r.status_code == 201, r.text
    user = make_user("duty")
    r = client.post("/api/v1/duty/contacts", json={"name": "张三", "phone": "13800001111", "team_code": "centre",
                                                   "username": user}, headers=admin)
    assert r.status_code == 201 and r.json()["phone"] == "13800001111"
    cid = r.json()["id"]
    now = datetime.now(timezone.utc)
    r = client.post("/api/v1/duty/shifts", json={"contact_id": cid, "team_code": "centre", "role": "leader",
                                                 "starts_at": (now - timedelta(hours=1)).isoformat(),
                                                 "ends_at": (now + timedelta(hours=1)).isoformat()}, headers=admin)
    assert r.status_code == 201 and r.json()["starts_at"].endswith("+08:00")
    bad = client.post("/api/v1/duty/shifts", json={"contact_id": cid, "team_code": "centre",
                                                   "starts_at": now.isoformat(), "ends_at": now.isoformat()},
                      headers=admin)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"

    duty = auth_headers("duty")
    [row] = client.get("/api/v1/duty/on-duty", headers=duty).json()
    assert row["contact"]["name"] == "张三" and row["contact"]["phone"] == "13800001111"
    auditor = auth_headers("auditor")
    assert client.get("/api/v1/duty/contacts", headers=auditor).json()[0]["phone"] == "138****1111"
    tech = auth_headers("technician")
    assert client.get("/api/v1/duty/on-duty", headers=tech).json()[0]["contact"]["phone"] == "138****1111"
    assert client.get("/api/v1/duty/contacts", headers=tech).status_code == 403
    assert client.get("/api/v1/duty/on-duty", headers=auth_headers("street", "310105001")).status_code == 403
    assert client.post("/api/v1/duty/teams", json={"code": "x", "name": "x"}, headers=duty).status_code == 403
    assert client.get("/api/v1/duty/on-duty").status_code == 401
    [shift] = client.get("/api/v1/duty/shifts", params={"start": (now - timedelta(hours=2)).isoformat()},
                         headers=duty).json()
    assert shift["contact_id"] == cid
    r = client.patch(f"/api/v1/duty/shifts/{shift['id']}", json={"role": "member", "note": "与李四换班"},
                     headers=admin)
    assert r.status_code == 200 and r.json()["role"] == "member" and r.json()["note"] == "与李四换班"
    r = client.patch(f"/api/v1/duty/shifts/{shift['id']}", json={"ends_at": (now - timedelta(hours=3)).isoformat()},
                     headers=admin)
    assert r.status_code == 422
    assert client.patch(f"/api/v1/duty/shifts/{shift['id']}", json={"note": "x"}, headers=duty).status_code == 403
    naive = client.get("/api/v1/duty/on-duty", params={"at": "2026-11-25T10:00:00"}, headers=duty)
    assert naive.status_code == 422
    assert client.delete(f"/api/v1/duty/contacts/{cid}", headers=admin).status_code == 204
    assert client.get("/api/v1/duty/on-duty", headers=duty).json() == []


def test_console_page_and_forms(client, make_user):
    name = make_user("manager")
    client.post("/login", data={"username": name, "password": PASSWORD})
    html = client.get("/console/duty").text
    assert "当前无人在岗" in html and "值班排班" in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    r = client.post("/console/duty/teams", data={"csrf": csrf, "code": "centre", "name": "城运中心值班组"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/console/duty/contacts", data={"csrf": csrf, "name": "张三", "phone": "13800001111",
                                                    "team_code": "centre"}, follow_redirects=False)
    assert r.status_code == 303
    html = client.get("/console/duty").text
    cid = re.search(r'<option value="(\d+)">张三', html).group(1)
    now = datetime.now(timezone.utc).astimezone(timezone(timedelta(hours=8)))
    start = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    end = (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    r = client.post("/console/duty/shifts", data={"csrf": csrf, "contact_id": cid, "team_code": "centre",
                                                  "role": "leader", "starts_at": start, "ends_at": end},
                    follow_redirects=False)
    assert r.status_code == 303
    html = client.get("/console/duty").text
    on_duty = html.split('id="on-duty"')[1].split("</table>")[0]
    assert "张三" in on_duty and "值班长" in on_duty and "13800001111" in on_duty
    r = client.post("/console/duty/shifts", data={"csrf": csrf, "contact_id": cid, "team_code": "centre",
                                                  "starts_at": end, "ends_at": start})
    assert "保存失败" in r.text
    assert client.post("/console/duty/teams", data={"csrf": "forged", "code": "x", "name": "x"}).status_code == 403


def test_console_masks_for_technicians_and_refuses_street(client, make_user, db):
    with db.session() as s:
        _roster(s)
    tech = make_user("technician")
    client.post("/login", data={"username": tech, "password": PASSWORD})
    html = client.get("/console/duty").text
    assert "138****1111" in html and "13800001111" not in html and "新增班次" not in html
    client.cookies.clear()
    street = make_user("street", "310105001")
    client.post("/login", data={"username": street, "password": PASSWORD})
    assert client.get("/console/duty").status_code == 403


def test_problem_details_are_chinese(client, auth_headers):
    admin = auth_headers("admin")
    r = client.get("/api/v1/duty/contacts/999999", headers=admin)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "联系人 999999 不存在"
    r = client.post("/api/v1/duty/contacts", json={"name": "张三", "phone": "12345"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"] == "phone 须为中国大陆 11 位手机号码（如 13800001111）"
