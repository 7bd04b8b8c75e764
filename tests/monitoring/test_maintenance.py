"""Maintenance windows (IOT-5): suppress alarms, leave devices out of the online rate."""

from datetime import datetime, timedelta, timezone

from cityops.devices import service as devices
from cityops.devices.models import Device
from cityops.monitoring import maintenance, service
from cityops.core.timeutil import utcnow


def _device(s, ext, **kw):
    return devices.create_device(s, name=ext, product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                                 external_id=ext, lon=121.420, lat=31.222, **kw)


def test_alarm_inside_a_window_is_kept_but_suppressed(db):
    with db.session() as s:
        d = _device(s, "mw-1")
        other = _device(s, "mw-2")
        w = maintenance.create(s, name="烟感更换电池", scope_kind="device", scope_value=str(d.id),
                               starts_at=utcnow() - timedelta(hours=1), ends_at=utcnow() + timedelta(hours=1))
        a = service.raise_alarm(s, device_id=d.id, alarm_type="低电量", severity="warning", source="rule")
        b = service.raise_alarm(s, device_id=other.id, alarm_type="低电量", severity="warning", source="rule")
        assert a.suppressed and a.details["maintenance_window"] == w.id
        assert not b.suppressed
        shown, _ = service.list_alarms(s, open_only=True, include_suppressed=False)
        assert [x.id for x in shown] == [b.id]


def test_street_and_weekly_windows(db):
    with db.session() as s:
        d = _device(s, "mw-3")
        # Every Monday 01:00-05:00 Shanghai, for a month: covers Monday 2026-11-30 02:00 +08:00
        maintenance.create(s, name="每周一夜间巡检", scope_kind="street", scope_value="310105001",
                           starts_at=datetime(2026, 11, 1, tzinfo=timezone.utc),
                           ends_at=datetime(2026, 12, 31, tzinfo=timezone.utc), weekdays=[0],
                           daily_start="01:00", daily_end="05:00")
        monday_night = datetime(2026, 11, 29, 18, 0, tzinfo=timezone.utc)  # = Mon 02:00 in Shanghai
        tuesday_night = monday_night + timedelta(days=1)
        assert maintenance.window_for(s, d.id, monday_night) is not None
        assert maintenance.window_for(s, d.id, tuesday_night) is None


def test_online_rate_excludes_devices_in_maintenance(client, auth_headers, db):
    h = auth_headers("technician")
    with db.session() as s:
        on = _device(s, "mw-on")
        off = _device(s, "mw-off")
        s.execute(Device.__table__.update().where(Device.id == on.id).values(online=True))
        s.execute(Device.__table__.update().where(Device.id == off.id).values(online=False))
        off_id = off.id
    assert client.get("/api/v1/kpi/online-rate", headers=h).json()["overall"]["rate"] == 0.5
    r = client.post("/api/v1/maintenance-windows", json={
        "name": "迁改", "scope_kind": "device", "scope_value": str(off_id), "reason": "道路施工迁改",
        "starts_at": (utcnow() - timedelta(minutes=5)).isoformat(),
        "ends_at": (utcnow() + timedelta(hours=2)).isoformat()}, headers=h)
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/kpi/online-rate", headers=h).json()["overall"]["rate"] == 1.0
    bad = {"name": "x", "scope_kind": "planet", "scope_value": "1", "starts_at": utcnow().isoformat(),
           "ends_at": utcnow().isoformat()}
    assert client.post("/api/v1/maintenance-windows", json=bad, headers=h).status_code == 422
    assert client.delete(f"/api/v1/maintenance-windows/{r.json()['id']}", headers=h).status_code == 204
    assert client.post("/api/v1/maintenance-windows", json=bad, headers=auth_headers("auditor")).status_code == 403


def test_console_creates_a_window_in_beijing_time(client, make_user):
    import re

    from tests.conftest import PASSWORD

    name = make_user("manager")
    client.post("/login", data={"username": name, "password": PASSWORD})
    html = client.get("/console/maintenance").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    r = client.post("/console/maintenance", data={"csrf": csrf, "name": "江苏路街道管线施工", "scope_kind": "street",
                                                  "scope_value": "310105002", "starts_at": "2026-12-01T08:00",
                                                  "ends_at": "2026-12-01T18:00"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/console/maintenance").text
    assert "江苏路街道管线施工" in page and "2026-12-01 08:00" in page
    r = client.post("/console/maintenance", data={"csrf": csrf, "name": "x", "scope_kind": "street",
                                                  "scope_value": "310105002", "starts_at": "2026-12-01T18:00",
                                                  "ends_at": "2026-12-01T08:00"})
    assert "创建失败" in r.text


def test_tag_window_covers_exactly_the_tagged_devices(db):
    with db.session() as s:
        tagged, plain = _device(s, "mw-t1"), _device(s, "mw-t2")
        tag = devices.create_tag(s, category="custom", name="更换电池批次")
        devices.tag_devices(s, tag.id, device_ids=[tagged.id])
        w = maintenance.create(s, name="批量换电池", scope_kind="tag", scope_value=str(tag.id),
                               starts_at=utcnow() - timedelta(hours=1), ends_at=utcnow() + timedelta(hours=1))
        assert maintenance.window_for(s, tagged.id) == w.id
        assert maintenance.window_for(s, plain.id) is None
        assert maintenance.devices_in_maintenance(s) == {tagged.id: w.id}
