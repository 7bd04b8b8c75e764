"""Console pages for the systems catalog (SYS-*) and the hardware assets (HW): reading,
role checks, CSRF, editing a unit and adding a maintenance record."""

import re

import pytest
from sqlalchemy import select

from cityops.catalog.models import Asset, MaintenanceRecord
from tests.conftest import PASSWORD


@pytest.fixture
def login(client, make_user):
    def do(role: str, street_code: str | None = None) -> None:
        client.cookies.clear()
        username = make_user(role, street_code)
        r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303, r.text

    return do


def _asset_id(db, tag: str) -> int:
    with db.session() as s:
        return s.scalar(select(Asset.id).where(Asset.asset_tag == tag))


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_pages_need_a_login(client):
    r = client.get("/console/hardware", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_systems_page_groups_modules_by_section(client, login):
    """SYS-*: every role sees the ten systems, their modules by seed group and criticality badges."""
    login("street", "310105002")
    r = client.get("/console/systems")
    assert r.status_code == 200
    for name in ("智慧勤务", "智能视觉中枢(扩容)", "龙之梦数智治理平台", "场景算法", "安全舆情", "舆情数据服务"):
        assert name in r.text
    assert 'class="badge high"' in r.text and r.text.count('<section class="card"') == 10


def test_street_users_get_403_on_hardware_pages(client, login, db):
    """HW is district staff only."""
    login("street", "310105002")
    assert client.get("/console/hardware").status_code == 403
    assert client.get(f"/console/hardware/assets/{_asset_id(db, 'CN-HW-01-001')}").status_code == 403


def test_hardware_page_lists_lines_and_filters_assets(client, login):
    """HW: 19 lines and the unit table, filtered by line and status through the query string."""
    login("auditor")
    r = client.get("/console/hardware")
    assert r.status_code == 200 and "SC200-VCI-MTH(A）" in r.text and "设备台账（54 台）" in r.text
    r = client.get("/console/hardware", params={"line": 18})
    assert "设备台账（12 台）" in r.text and "CN-HW-18-012" in r.text and "CN-HW-01-001" not in r.text
    r = client.get("/console/hardware", params={"status": "faulty"})
    assert "设备台账（0 台）" in r.text


def test_technician_edits_an_asset_and_logs_maintenance(client, login, db):
    """HW: the edit form and the maintenance form post, then redirect (303) to the detail page."""
    login("technician")
    aid = _asset_id(db, "CN-HW-16-001")
    page = client.get(f"/console/hardware/assets/{aid}")
    assert page.status_code == 200 and 'id="asset-form"' in page.text
    csrf = _csrf(page.text)
    r = client.post(f"/console/hardware/assets/{aid}", follow_redirects=False,
                    data={"csrf": csrf, "serial": "MTN-0001", "rack": "C-02", "ip_address": "10.1.1.16",
                          "status": "faulty", "warranty_start": "2026-05-01", "warranty_end": "2027-04-30",
                          "notes": "风扇异响"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/console/hardware/assets/{aid}")
    r = client.post(f"/console/hardware/assets/{aid}/maintenance", follow_redirects=False,
                    data={"csrf": csrf, "kind": "repair", "summary": "更换风扇", "performed_at": "2026-11-02T10:15",
                          "result": "正常"})
    assert r.status_code == 303
    with db.session() as s:
        a = s.get(Asset, aid)
        assert (a.serial, a.rack, a.ip_address, a.status, a.notes) == (
            "MTN-0001", "C-02", "10.1.1.16", "faulty", "风扇异响")
        rec = s.scalar(select(MaintenanceRecord).where(MaintenanceRecord.asset_id == aid))
        assert rec.summary == "更换风扇" and rec.created_by.startswith("technician")
    detail = client.get(f"/console/hardware/assets/{aid}").text
    assert "更换风扇" in detail and "2026-11-02 10:15" in detail and "MTN-0001" in detail


def test_asset_form_errors_rerender_with_the_reason(client, login, db):
    """HW: a duplicate serial or a bad IP re-renders the form with the error; nothing is saved."""
    login("duty")
    first, second = _asset_id(db, "CN-HW-18-001"), _asset_id(db, "CN-HW-18-002")
    csrf = _csrf(client.get(f"/console/hardware/assets/{first}").text)
    base = {"csrf": csrf, "rack": "", "ip_address": "", "status": "in_service", "warranty_start": "2026-05-01",
            "warranty_end": "2027-04-30", "notes": ""}
    assert client.post(f"/console/hardware/assets/{first}", data={**base, "serial": "T28-A"},
                       follow_redirects=False).status_code == 303
    r = client.post(f"/console/hardware/assets/{second}", data={**base, "serial": "T28-A", "rack": "R1"})
    assert r.status_code == 409 and "保存失败" in r.text and "CN-HW-18-001" in r.text
    r = client.post(f"/console/hardware/assets/{second}", data={**base, "serial": "T28-B", "ip_address": "300.1.1.1"})
    assert r.status_code == 422 and "ip_address" in r.text
    with db.session() as s:
        assert (s.get(Asset, second).serial, s.get(Asset, second).rack) == (None, "")


def test_console_writes_check_role_and_csrf(client, login, db):
    """HW writes need an asset-writer role and the form's CSRF value."""
    aid = _asset_id(db, "CN-HW-17-001")
    login("auditor")
    page = client.get(f"/console/hardware/assets/{aid}").text
    assert 'id="asset-form"' not in page
    r = client.post(f"/console/hardware/assets/{aid}", data={"csrf": _csrf(page), "serial": "X", "status": "spare"})
    assert r.status_code == 403
    r = client.post(f"/console/hardware/assets/{aid}/maintenance", data={"csrf": _csrf(page), "kind": "repair",
                                                                         "summary": "x"})
    assert r.status_code == 403
    login("manager")
    r = client.post(f"/console/hardware/assets/{aid}", data={"csrf": "forged", "serial": "X", "status": "spare"})
    assert r.status_code == 403
    with db.session() as s:
        assert s.get(Asset, aid).serial is None
