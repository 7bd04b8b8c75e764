"""Call statistics API (CALL-5): year / months / days as JSON, CSV and XLSX; readers only."""

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from cityops.audit.models import AuditEntry
from tests.callout.test_stats import calls  # noqa: F401  (the shared fixture)

BASE = "/api/v1/callout/stats"


def test_year_json(client, auth_headers, calls):  # noqa: F811
    r = client.get(f"{BASE}/year?year=2026", headers=auth_headers("auditor"))
    assert r.status_code == 200, r.text
    body = r.json()
    cb = body["scenarios"][0]
    assert cb["scenario"] == "hotline_callback" and cb["label"] == "热线回访"
    assert (cb["calls"], cb["answered_rate"], cb["satisfaction_rate"], cb["opt_outs"]) == (4, 0.75, 1.0, 1)
    assert body["total"]["calls"] == 9


def test_months_and_days_json(client, auth_headers, calls):  # noqa: F811
    h = auth_headers("technician")
    m = client.get(f"{BASE}/months?year=2026", headers=h).json()
    assert [x["total"] for x in m["months"]][:3] == [5, 2, 2]
    d = client.get(f"{BASE}/days?year=2026&month=1", headers=h).json()
    assert d["days"][0] == {"day": "2026-01-01", "total": 3, "by_scenario": {"hotline_callback": 3, "notice": 0}}


def test_csv_export(client, auth_headers, calls, db):  # noqa: F811
    r = client.get(f"{BASE}/year?year=2026&format=csv", headers=auth_headers("manager"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"] and "callout-stats-2026.csv" in r.headers["content-disposition"]
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:5] == ["场景", "场景名称", "呼叫次数", "接通", "接通率(%)"] and "关机（power_off）" in rows[0]
    assert rows[1][:5] == ["hotline_callback", "热线回访", "4", "3", "75.0"]
    assert rows[-1][1] == "合计" and rows[-1][2] == "9"
    with db.session() as s:
        assert s.query(AuditEntry).filter_by(action="export", entity="callout_stats").count() == 1
    days = client.get(f"{BASE}/days?year=2026&month=2&format=csv", headers=auth_headers("duty"))
    lines = days.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "日期,合计,信息提醒" and lines[10] == "2026-02-10,2,2" and len(lines) == 29


def test_xlsx_export(client, auth_headers, calls):  # noqa: F811
    r = client.get(f"{BASE}/months?year=2026&format=xlsx", headers=auth_headers("admin"))
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.title == "2026年按月"
    rows = list(ws.values)
    assert rows[0] == ("月份", "合计", "热线回访", "应急指挥", "信息提醒")
    assert rows[1] == ("2026-01", 5, 4, 0, 1) and len(rows) == 13
    d = client.get(f"{BASE}/days?year=2026&month=3&format=xlsx", headers=auth_headers("admin"))
    drows = list(load_workbook(io.BytesIO(d.content)).active.values)
    assert drows[5][0].date() == date(2026, 3, 5) and drows[5][1] == 2


@pytest.mark.parametrize("query", ["year?year=2026&format=pdf", "days?year=2026&month=13", "year?year=1800"])
def test_bad_arguments(client, auth_headers, query):
    r = client.get(f"{BASE}/{query}", headers=auth_headers("admin"))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_street_users_may_not_read(client, auth_headers):
    r = client.get(f"{BASE}/year?year=2026", headers=auth_headers("street", street_code="310105002"))
    assert r.status_code == 403
    assert client.get(f"{BASE}/year?year=2026").status_code == 401
