"""Event statistics API, exports, the events GeoJSON and the console pages (IOT-6, SYS-DISPATCH,
issue #5 items 8-9): JSON figures, XLSX/CSV readable by openpyxl/csv, street scoping, role
checks, the audit entry of an export. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re

from openpyxl import load_workbook
from sqlalchemy import select

from cityops.audit.models import AuditEntry
from tests.conftest import PASSWORD
from tests.events.test_stats import world  # noqa: F401  (the shared fixture)

PERIOD = {"date_from": "2026-11-02", "date_to": "2026-11-03"}


def test_stats_json(client, auth_headers, world):  # noqa: F811
    b = world["streets"][1]
    r = client.get("/api/v1/events/stats", params=PERIOD, headers=auth_headers("auditor"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["events"], body["reports"]) == (5, 6)
    assert (body["date_from"], body["date_to"]) == ("2026-11-02", "2026-11-03")
    assert body["since"] == "2026-11-02T00:00:00+08:00" and body["until"] == "2026-11-04T00:00:00+08:00"
    assert [(d["day"], d["events"]) for d in body["by_day"]] == [("2026-11-02", 2), ("2026-11-03", 3)]
    assert {s["source"]: s["label"] for s in body["by_source"]}["hotline"] == "12345热线"
    assert {s["state"]: s["label"] for s in body["by_state"]}["closed"] == "已结案"
    steps = {s["step"]: s for s in body["by_step"]}
    assert steps["accept"]["label"] == "受理" and steps["accept"]["total"] == 4 and steps["accept"]["on_time"] == 3
    assert steps["close"]["rate"] == 0.0 and steps["verify"]["rate"] == 1.0
    assert {u["unit_id"] for u in body["by_unit"]} == {world["units"][0].id, world["units"][1].id, None}
    # filters
    only_b = client.get("/api/v1/events/stats", params={**PERIOD, "street": b}, headers=auth_headers("duty")).json()
    assert only_b["events"] == 2 and [s["code"] for s in only_b["by_street"]] == [b]
    cat = client.get("/api/v1/events/stats", params={**PERIOD, "category": "03"}, headers=auth_headers("duty")).json()
    assert cat["events"] == 1 and cat["by_category_top"][0]["code"] == "03"
    src = client.get("/api/v1/events/stats", params={**PERIOD, "source": "vision"}, headers=auth_headers("duty")).json()
    assert src["events"] == 1


def test_stats_default_period_and_bad_input(client, auth_headers, world):  # noqa: F811
    h = auth_headers("manager")
    body = client.get("/api/v1/events/stats", headers=h).json()
    assert len(body["by_day"]) == 30  # the last 30 Beijing days up to today
    for q in ({"category": "x"}, {"source": "fax"}, {"date_from": "2026-11-03", "date_to": "2026-11-01"},
              {"date_from": "2024-01-01", "date_to": "2026-11-01"}, {"date_from": "yesterday"}):
        r = client.get("/api/v1/events/stats", params=q, headers=h)
        assert r.status_code == 422, q
        assert r.headers["content-type"] == "application/problem+json"


def test_street_user_sees_own_street_only(client, auth_headers, world):  # noqa: F811
    a, b, _c = world["streets"]
    h = auth_headers("street", a)
    body = client.get("/api/v1/events/stats", params=PERIOD, headers=h).json()
    assert body["events"] == 2 and [s["code"] for s in body["by_street"]] == [a]
    # asking for another street gives nothing, not that street's figures
    other = client.get("/api/v1/events/stats", params={**PERIOD, "street": b}, headers=h).json()
    assert other["events"] == 0 and other["by_unit"] == []
    fc = client.get("/api/v1/events/map", params={"state": "all"}, headers=h).json()
    assert {f["properties"]["street_code"] for f in fc["features"]} == {a}
    assert len(fc["features"]) == 2
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/events/stats/export", params={
        **PERIOD, "format": "csv", "table": "street"}, headers=h).content.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == [a]


def test_xlsx_export_has_one_sheet_per_table(client, auth_headers, world, db):  # noqa: F811
    h = auth_headers("duty")
    r = client.get("/api/v1/events/stats/export", params={**PERIOD, "format": "xlsx"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in r.headers["content-disposition"] and "20261102-20261103.xlsx" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["按日上报", "按大类", "按细类", "按街镇", "按来源", "按当前状态", "各环节按时率", "责任单位按时率"]
    days = list(wb["按日上报"].iter_rows(values_only=True))
    assert days[0] == ("日期", "事件数", "上报次数（含合并）")
    assert [(d[0].date().isoformat(), d[1], d[2]) for d in days[1:]] == [("2026-11-02", 2, 3), ("2026-11-03", 3, 3)]
    steps = list(wb["各环节按时率"].iter_rows(values_only=True))
    assert steps[0][:8] == ("环节", "环节名称", "计入数", "按时", "超时", "其中未完成已超时", "未完成未超时（不计入）", "按时率(%)")
    assert steps[1][:8] == ("accept", "受理", 4, 3, 1, 1, 0, 75.0)
    assert steps[5][:8] == ("close", "结案", 1, 0, 1, 0, 0, 0.0)
    units = {row[1]: row for row in list(wb["责任单位按时率"].iter_rows(values_only=True))[1:]}
    assert units[world["units"][0].name][2:6] == (5, 3, 2, 60.0)
    cats = list(wb["按大类"].iter_rows(values_only=True))
    assert cats[1] == ("01", "市容环境", 4, 5)
    one = load_workbook(io.BytesIO(client.get("/api/v1/events/stats/export", params={
        **PERIOD, "format": "xlsx", "table": "source"}, headers=h).content))
    assert one.sheetnames == ["按来源"]
    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity == "event_stats").order_by(AuditEntry.seq)).all()
        assert [e.entity_id for e in entries] == ["xlsx", "xlsx"] and entries[0].actor.startswith("duty")


def test_csv_export_day_table_by_default(client, auth_headers, world):  # noqa: F811
    h = auth_headers("technician")
    r = client.get("/api/v1/events/stats/export", params={**PERIOD, "format": "csv"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())  # BOM, so Excel reads the Chinese
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows == [["日期", "事件数", "上报次数（含合并）"], ["2026-11-02", "2", "3"], ["2026-11-03", "3", "3"]]
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/events/stats/export", params={
        **PERIOD, "format": "csv", "table": "unit"}, headers=h).content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["单位ID", "责任单位", "计入数", "按时", "超时", "按时率(%)"] and len(rows) == 4
    for q in ({"format": "pdf"}, {"format": "csv", "table": "secrets"}):
        assert client.get("/api/v1/events/stats/export", params=q, headers=h).status_code == 422


def test_map_geojson(client, auth_headers, world):  # noqa: F811
    e1, _e2, e3, e4, e5, e6, e7 = world["ids"]
    h = auth_headers("auditor")
    r = client.get("/api/v1/events/map", headers=h)
    assert r.status_code == 200, r.text
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["coordinate_system"] == "GCJ-02"
    assert [f["id"] for f in fc["features"]] == [e7, e6, e4, e3] and fc["truncated"] is False
    p = fc["features"][1]["properties"]
    assert set(p) >= {"id", "number", "title", "state", "state_label", "severity", "severity_label", "category",
                      "street", "reported_at"}
    assert (p["state"], p["state_label"], p["severity_label"]) == ("dispatched", "已派遣", "紧急")
    assert p["category"] == "市容环境 / 环境卫生 / 暴露垃圾"
    assert fc["features"][1]["geometry"]["type"] == "Point"
    get = lambda **q: [f["id"] for f in client.get("/api/v1/events/map", params=q, headers=h).json()["features"]]
    assert set(get(state="all")) == {e1, e3, e4, e5, e6, e7}
    assert get(state="closed") == [e1]
    assert get(severity="warning") == [e3]
    assert get(category="03") == [e3]
    assert get(street=world["streets"][2]) == [e7, e6]
    assert get(since="2026-11-03") == [e7, e6, e4]
    assert get(since="2026-11-03T10:00:00+08:00") == [e7, e6]
    capped = client.get("/api/v1/events/map", params={"limit": 1}, headers=h).json()
    assert len(capped["features"]) == 1 and capped["total"] == 4 and capped["truncated"] is True
    for q in ({"state": "lost"}, {"since": "soon"}, {"limit": 5001}, {"severity": "fatal"}):
        assert client.get("/api/v1/events/map", params=q, headers=h).status_code == 422, q


# -- console pages ---------------------------------------------------------------------------
def _login(client, make_user, role, street=None):
    client.cookies.clear()
    name = make_user(role, street)
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code in (200, 303)


def _json(html: str, element_id: str):
    return json.loads(re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.DOTALL)[1])


def test_stats_page_tables_charts_and_export(client, make_user, world):  # noqa: F811
    _login(client, make_user, "duty")
    r = client.get("/console/events/stats", params=PERIOD)
    assert r.status_code == 200
    html = r.text
    assert "事件统计" in html and 'id="stat-events">5<' in html and 'id="stat-reports">6<' in html
    assert 'id="stat-rate">54.5%<' in html  # 6 of 11 counted steps on time
    assert "市容环境" in html and "暴露垃圾" in html and "12345热线" in html and "受理" in html
    charts = _json(html, "stats-charts")
    assert charts["days"] == ["2026-11-02", "2026-11-03"] and charts["day_events"] == [2, 3]
    assert charts["categories"] == [["市容环境", 4], ["设施管理", 1]]
    assert [row[:2] for row in charts["steps"]] == [["受理", 75.0], ["派遣", 33.3], ["处置", 50.0], ["核查", 100.0],
                                                    ["结案", 0.0]]
    assert "/console/events/stats/export?date_from=2026-11-02&amp;date_to=2026-11-03&format=xlsx" in html
    r = client.get("/console/events/stats/export", params={**PERIOD, "format": "csv", "table": "day"})
    assert r.status_code == 200 and r.content.decode("utf-8-sig").splitlines()[1] == "2026-11-02,2,3"
    wb = load_workbook(io.BytesIO(client.get("/console/events/stats/export", params=PERIOD).content))
    assert len(wb.sheetnames) == 8
    # a bad filter is explained on the page, not a crash
    bad = client.get("/console/events/stats", params={"source": "fax"})
    assert bad.status_code == 200 and 'id="stats-error"' in bad.text


def test_stats_page_for_a_street_user(client, make_user, world):  # noqa: F811
    a = world["streets"][0]
    _login(client, make_user, "street", a)
    html = client.get("/console/events/stats", params=PERIOD).text
    assert 'id="stat-events">2<' in html
    assert [row[1] for row in _json(html, "stats-charts")["streets"]] == [2]


def test_map_page_embeds_points_streets_and_outline(client, make_user, world):  # noqa: F811
    e1, _e2, e3, e4, e5, e6, e7 = world["ids"]
    _login(client, make_user, "manager")
    r = client.get("/console/events/map")
    assert r.status_code == 200
    html = r.text
    assert "事件地图" in html and "/static/events-map.js" in html and "/static/vendor/echarts.min.js" in html
    points = _json(html, "events-data")
    assert [f["id"] for f in points["features"]] == [e7, e6, e4, e3]
    assert points["features"][0]["properties"]["severity_label"] == "紧急"
    assert len(_json(html, "streets-data")["features"]) >= 10
    assert _json(html, "outline-data")["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    closed = _json(client.get("/console/events/map", params={"state": "closed"}).text, "events-data")
    assert [f["id"] for f in closed["features"]] == [e1]
    bad = client.get("/console/events/map", params={"state": "lost"})
    assert bad.status_code == 200 and 'id="map-error"' in bad.text
    _login(client, make_user, "street", world["streets"][0])
    mine = _json(client.get("/console/events/map", params={"state": "all"}).text, "events-data")
    assert {f["id"] for f in mine["features"]} == {e1, e5}
