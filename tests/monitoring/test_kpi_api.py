"""KPI API and exports (IOT-5): daily online-rate history as JSON/CSV/XLSX, the live figure as a
sheet, roles, 422 problems, street scope, MTTA/MTTC history, flapping scope."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

from openpyxl import load_workbook

from cityops.devices import service as devices
from cityops.devices.models import Device
from cityops.monitoring import kpi_history
from cityops.monitoring.models import DeviceStateChange

HUAYANG, JIANGSU = "310105001", "310105002"
T0 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
DAY = "from=2026-11-01&to=2026-11-30"


def _fill(db):
    """Two streets, two samples on 2026-11-10 and one on 2026-11-11."""
    with db.session() as s:
        pid = devices.product_by_code(s, "SMOKE-NB-CTW").id
        ids = {}
        for street, vendor in ((HUAYANG, "海康"), (JIANGSU, "大华")):
            ids[street] = [devices.create_device(s, name=f"api{street}{i}", product_id=pid,
                                                 external_id=f"api-{street}-{i}", lon=121.420, lat=31.222).id
                           for i in range(2)]
            s.execute(Device.__table__.update().where(Device.id.in_(ids[street]))
                      .values(street_code=street, vendor=vendor, online=True))
        s.execute(Device.__table__.update().where(Device.id == ids[JIANGSU][0]).values(online=False))
        kpi_history.sample_online_rate(s, now=T0)  # 3/4
        s.execute(Device.__table__.update().where(Device.id == ids[HUAYANG][0]).values(online=False))
        kpi_history.sample_online_rate(s, now=T0 + timedelta(minutes=5))  # 2/4
        kpi_history.sample_online_rate(s, now=T0 + timedelta(days=1))  # 2/4
    return ids


def test_daily_json(client, auth_headers, db):
    _fill(db)
    h = auth_headers("manager")
    r = client.get(f"/api/v1/kpi/online-rate/daily?dimension=overall&{DAY}", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == "2026-11-01" and body["to"] == "2026-11-30"
    assert [(i["day"], i["rate"], i["samples"]) for i in body["items"]] == [("2026-11-10", 0.625, 2),
                                                                           ("2026-11-11", 0.5, 1)]
    assert body["items"][0]["name"] == "全区"
    r = client.get(f"/api/v1/kpi/online-rate/daily?dimension=street_code&{DAY}", headers=h).json()
    day1 = {i["name"]: i["rate"] for i in r["items"] if i["day"] == "2026-11-10"}
    assert day1 == {"华阳路街道": 0.75, "江苏路街道": 0.5}
    # an admin may look at one street's own figures
    r = client.get(f"/api/v1/kpi/online-rate/daily?dimension=vendor&street={JIANGSU}&{DAY}", headers=h).json()
    assert {i["key"] for i in r["items"]} == {"大华"} and r["scope"] == JIANGSU
    assert client.get(f"/api/v1/kpi/online-rate/daily?street=999&{DAY}", headers=h).status_code == 404


def test_daily_csv_has_bom_and_parses(client, auth_headers, db):
    _fill(db)
    r = client.get(f"/api/v1/kpi/online-rate/daily?dimension=street_code&{DAY}&format=csv",
                   headers=auth_headers("duty"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"] and ".csv" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese as UTF-8
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 4
    first = rows[0]
    assert first["日期"] == "2026-11-10" and first["统计维度"] == "街镇" and first["分组编码"] == HUAYANG
    assert first["分组名称"] == "华阳路街道" and float(first["在线率(%)"]) == 75.0 and first["采样次数"] == "2"


def test_daily_xlsx_opens_with_rows(client, auth_headers, db):
    _fill(db)
    r = client.get(f"/api/v1/kpi/online-rate/daily?dimension=street_code&{DAY}&format=xlsx",
                   headers=auth_headers("auditor"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:4] == ("日期", "统计维度", "分组编码", "分组名称") and rows[0][-1] == "在线率(%)"
    assert len(rows) == 5
    assert rows[1][0].date() == date(2026, 11, 10) and rows[1][3] == "华阳路街道" and rows[1][-1] == 75.0
    assert ws["A1"].font.bold


def test_live_export(client, auth_headers, db):
    _fill(db)
    h = auth_headers("technician")
    r = client.get("/api/v1/kpi/online-rate?by=street_code&format=xlsx", headers=h)
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[0] == ("统计维度", "分组编码", "分组名称", "设备数", "在线", "在线率(%)")
    assert rows[1] == ("全部", None, "全区", 4, 2, 50.0)
    assert {r[2]: r[5] for r in rows[2:]} == {"华阳路街道": 50.0, "江苏路街道": 50.0}
    r = client.get("/api/v1/kpi/online-rate?by=vendor&format=csv", headers=h)
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "统计维度" and {x[2] for x in rows[2:]} == {"海康", "大华"}
    assert client.get("/api/v1/kpi/online-rate?format=pdf", headers=h).status_code == 422
    # who exported what is in the audit chain
    from sqlalchemy import select

    from cityops.audit.models import AuditEntry

    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity == "kpi_online_rate")
                           .order_by(AuditEntry.seq)).all()
        assert [e.entity_id for e in entries] == ["xlsx", "csv"]
        assert entries[0].actor.startswith("technician")


def test_bad_dimension_and_dates_are_422_problems(client, auth_headers):
    h = auth_headers("admin")
    for q in ("dimension=password", "from=2026-11-31", "from=yesterday", "from=2026-11-30&to=2026-11-01",
              "from=2024-01-01&to=2026-11-01", "format=pdf"):
        r = client.get(f"/api/v1/kpi/online-rate/daily?{q}", headers=h)
        assert r.status_code == 422, q
        assert r.headers["content-type"].startswith("application/problem+json"), q
        assert r.json()["status"] == 422
    assert "YYYY-MM-DD" in client.get("/api/v1/kpi/online-rate/daily?from=x", headers=h).json()["detail"]


def test_roles(client, auth_headers):
    assert client.get("/api/v1/kpi/online-rate/daily").status_code == 401
    assert client.get("/api/v1/kpi/alarm-times/history").status_code == 401
    for role in ("admin", "manager", "duty", "technician", "auditor"):
        assert client.get("/api/v1/kpi/online-rate/daily", headers=auth_headers(role)).status_code == 200, role
    assert client.get("/api/v1/kpi/online-rate/daily",
                      headers=auth_headers("street", HUAYANG)).status_code == 200


def test_street_users_see_their_street_only(client, auth_headers, db):
    _fill(db)
    h = auth_headers("street", JIANGSU)
    body = client.get(f"/api/v1/kpi/online-rate/daily?dimension=street_code&{DAY}", headers=h).json()
    assert {i["key"] for i in body["items"]} == {JIANGSU}
    # asking for another street changes nothing
    body = client.get(f"/api/v1/kpi/online-rate/daily?dimension=overall&street={HUAYANG}&{DAY}", headers=h).json()
    assert body["scope"] == JIANGSU and body["items"][0]["name"] == "江苏路街道"
    assert [i["rate"] for i in body["items"]] == [0.5, 0.5]
    r = client.get(f"/api/v1/kpi/online-rate/daily?dimension=vendor&{DAY}&format=csv", headers=h)
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {x["分组编码"] for x in rows} == {"大华"}
    live = client.get("/api/v1/kpi/online-rate?format=csv", headers=h)
    names = [x[2] for x in csv.reader(io.StringIO(live.content.decode("utf-8-sig")))][1:]
    assert names == ["江苏路街道", "江苏路街道"]


def test_alarm_times_history_and_flapping_scope(client, auth_headers, db):
    ids = _fill(db)
    from cityops.monitoring.models import Alarm

    with db.session() as s:
        a = ids[HUAYANG][0]
        s.add(Alarm(device_id=a, alarm_type="t", severity="major", source="rule", first_at=T0, last_at=T0,
                    acked_at=T0 + timedelta(minutes=3), state="acknowledged", details={}))
        for i in range(3):
            s.add(DeviceStateChange(device_id=ids[JIANGSU][1], at=datetime.now(UTC) - timedelta(minutes=i),
                                    old="online", new="offline", reason="t"))
    h = auth_headers("manager")
    body = client.get("/api/v1/kpi/alarm-times/history?group=day&from=2026-11-10&to=2026-11-11", headers=h).json()
    assert [(i["key"], i["mtta_s"]) for i in body["items"]] == [("2026-11-10", 180.0), ("2026-11-11", None)]
    body = client.get("/api/v1/kpi/alarm-times/history?group=street&from=2026-11-10&to=2026-11-11",
                      headers=h).json()
    assert [i["key"] for i in body["items"]] == [HUAYANG]
    street = auth_headers("street", JIANGSU)
    assert client.get("/api/v1/kpi/alarm-times/history?group=street&from=2026-11-10&to=2026-11-11",
                      headers=street).json()["items"] == []
    assert client.get("/api/v1/kpi/alarm-times/history?group=week", headers=h).status_code == 422
    assert client.get("/api/v1/kpi/flapping", headers=h).json()[0]["changes"] == 3
    assert client.get("/api/v1/kpi/flapping", headers=auth_headers("street", HUAYANG)).json() == []
