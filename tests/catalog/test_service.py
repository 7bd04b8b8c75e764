"""Catalog service: operator edits and their validation (SYS-*), asset records, maintenance
records and the warranty report (HW)."""

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cityops.catalog import service
from cityops.catalog.models import Asset
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow


def _asset_id(s, tag: str) -> int:
    return s.scalar(select(Asset.id).where(Asset.asset_tag == tag))


def test_update_system_and_its_validation(db):
    """SYS-DISPATCH: owner, criticality and description are editable; nothing else is."""
    with db.session() as s:
        sys_ = service.update_system(s, "SYS-DISPATCH", owner=" 李工 ", criticality="high", description="派单")
        assert (sys_.owner, sys_.criticality, sys_.description) == ("李工", "high", "派单")
        with pytest.raises(Invalid):
            service.update_system(s, "SYS-DISPATCH", criticality="urgent")
        with pytest.raises(Invalid):
            service.update_system(s, "SYS-DISPATCH", name="改名")
        with pytest.raises(NotFound):
            service.get_system(s, "SYS-NOPE")


def test_list_modules_filters_by_system_and_section(db):
    """SYS-VISION has 16 scene algorithms; SYS-SEC has three 安全运营 modules."""
    with db.session() as s:
        assert len(service.list_modules(s)) == 68
        assert len(service.list_modules(s, system_code="SYS-VISION", section="场景算法")) == 16
        rows = service.list_modules(s, system_code="SYS-SEC", section="安全运营")
        assert [m.name for m in rows] == ["安全运维监控系统", "渗透测试", "安全评估检测"]


@pytest.mark.parametrize("url", ["http://10.1.2.3:8080/health", "https://eye.cn.gov/ping", ""])
def test_module_health_check_url_accepts_http_or_empty(db, url):
    """SYS-EYE modules take an http(s) health-check URL, or none."""
    with db.session() as s:
        m = service.list_modules(s, system_code="SYS-EYE")[0]
        assert service.update_module(s, m.id, health_check_url=url, owner="王工").health_check_url == url


@pytest.mark.parametrize("url", ["ftp://10.1.2.3/x", "not a url", "http://", "javascript:alert(1)",
                                 "http://a b/"])
def test_module_health_check_url_rejects_other_urls(db, url):
    """SYS-EYE: anything but an http(s) URL with a host is refused and nothing changes."""
    with db.session() as s:
        m = service.list_modules(s, system_code="SYS-EYE")[0]
        with pytest.raises(Invalid):
            service.update_module(s, m.id, health_check_url=url, notes="should not be saved")
        assert m.notes == ""


def test_list_assets_filters_search_and_pages(db):
    """HW: by line, by status, by a search in tag/serial/name/model, with a total."""
    with db.session() as s:
        rows, total = service.list_assets(s, limit=10)
        assert total == 54 and len(rows) == 10
        assert service.list_assets(s, line_seq=9)[1] == 10
        assert service.list_assets(s, q="t-28")[1] == 12
        assert service.list_assets(s, q="语音网关")[1] == 12
        assert service.list_assets(s, q="CN-HW-01")[1] == 4
        service.update_asset(s, _asset_id(s, "CN-HW-02-001"), serial="MBH-778899", status="faulty")
        assert [a.asset_tag for a in service.list_assets(s, q="mbh-7788")[0]] == ["CN-HW-02-001"]
        assert service.list_assets(s, status="faulty")[1] == 1
        with pytest.raises(Invalid):
            service.list_assets(s, status="lost")


def test_update_asset_fields(db):
    """HW: serial, rack, IP (normalised), status, warranty and notes of one unit."""
    with db.session() as s:
        a = service.update_asset(s, _asset_id(s, "CN-HW-19-001"), serial=" SMG-0001 ", rack="A-03",
                                 ip_address="2001:DB8::0:1", status="under_repair",
                                 warranty_start="2026-05-01", warranty_end=date(2027, 10, 31), notes="返修")
        assert (a.serial, a.rack, a.ip_address, a.status) == ("SMG-0001", "A-03", "2001:db8::1", "under_repair")
        assert a.warranty_end == date(2027, 10, 31)
        assert service.update_asset(s, a.id, serial="").serial is None


def test_duplicate_serial_is_a_conflict(db):
    """HW: a serial number identifies one unit only."""
    with db.session() as s:
        service.update_asset(s, _asset_id(s, "CN-HW-18-001"), serial="T28-0001")
        other = _asset_id(s, "CN-HW-18-002")
        with pytest.raises(Conflict):
            service.update_asset(s, other, serial="T28-0001")
        service.update_asset(s, _asset_id(s, "CN-HW-18-001"), serial="T28-0001")  # same unit: fine


@pytest.mark.parametrize("fields", [{"ip_address": "10.0.0.300"}, {"status": "lost"},
                                    {"warranty_end": "2026-04-30"}, {"warranty_start": "2026-13-01"},
                                    {"rack": "x" * 33}, {"asset_tag": "CN-HW-99-001"}])
def test_rejected_asset_edit_changes_nothing(db, fields):
    """HW: a bad field refuses the whole edit, so the other fields stay as they were."""
    with db.session() as s:
        aid = _asset_id(s, "CN-HW-03-001")
        with pytest.raises(Invalid):
            service.update_asset(s, aid, notes="should not be saved", **fields)
    with db.session() as s:
        a = s.get(Asset, aid)
        assert a.rack == "" and a.notes == "" and a.status == "in_service" and a.warranty_end == date(2027, 4, 30)


def test_maintenance_records(db):
    """HW: records per unit, newest first; a time without zone is Shanghai time."""
    with db.session() as s:
        aid = _asset_id(s, "CN-HW-09-001")
        service.add_maintenance_record(s, aid, kind="inspection", summary="月度巡检，指示灯正常", performed_by="值班员",
                                       performed_at=datetime(2026, 6, 1, 9, 30), created_by="duty1")
        service.add_maintenance_record(s, aid, kind="firmware", summary="升级固件", performed_by="技术支持",
                                       result="成功", created_by="tech1")
        rows = service.list_maintenance_records(s, aid)
        assert [r.kind for r in rows] == ["firmware", "inspection"]
        assert rows[1].performed_at == datetime(2026, 6, 1, 1, 30, tzinfo=timezone.utc)
        assert rows[0].created_by == "tech1" and rows[0].result == "成功"
        with pytest.raises(Invalid):
            service.add_maintenance_record(s, aid, kind="dusting", summary="x", performed_by="y")
        with pytest.raises(Invalid):
            service.add_maintenance_record(s, aid, kind="repair", summary="  ", performed_by="y")
        with pytest.raises(Invalid):
            service.add_maintenance_record(s, aid, kind="repair", summary="x", performed_by="y",
                                           performed_at=utcnow() + timedelta(days=1))
        with pytest.raises(NotFound):
            service.add_maintenance_record(s, 999999, kind="repair", summary="x", performed_by="y")


def test_warranty_report(db):
    """HW: units whose warranty has ended or ends within N days, soonest first; retired units left out."""
    with db.session() as s:
        assert service.warranty_report(s, today=date(2026, 11, 25), days=60) == []
        assert len(service.warranty_report(s, today=date(2027, 3, 15), days=60)) == 54
        ended = service.update_asset(s, _asset_id(s, "CN-HW-04-001"), warranty_end=date(2026, 11, 1))
        service.update_asset(s, _asset_id(s, "CN-HW-05-001"), warranty_end=date(2026, 11, 1), status="retired")
        soon = service.update_asset(s, _asset_id(s, "CN-HW-06-001"), warranty_end=date(2027, 1, 10))
        rows = service.warranty_report(s, today=date(2026, 11, 25), days=60)
        assert [a.asset_tag for a in rows] == [ended.asset_tag, soon.asset_tag]
        assert [a.asset_tag for a in service.warranty_report(s, today=date(2026, 11, 25), days=0)] == [ended.asset_tag]
