"""Console page 外呼统计 (CALL-5): year selector, by-scenario table, monthly and daily tables,
chart data and export links; readers only."""

import io
import json
import re

from openpyxl import load_workbook

from tests.callout.test_lists_pages import _login
from tests.callout.test_stats import calls  # noqa: F401  (the shared fixture)
from tests.conftest import PASSWORD

URL = "/console/callout/stats"


def _charts(html):
    return json.loads(re.search(r'id="stats-charts">(.*?)</script>', html, re.DOTALL).group(1))


def test_page_shows_the_year(client, make_user, calls):  # noqa: F811
    _login(client, make_user, "auditor")
    r = client.get(f"{URL}?year=2026&month=1")
    assert r.status_code == 200
    html = r.text
    assert "外呼统计" in html and '<option value="2026" selected>' in html and '<option value="2025"' in html
    assert re.search(r'id="year-hotline_callback"><td>热线回访</td><td>4</td><td>3</td><td>75.0%</td>', html)
    assert re.search(r'id="year-total"><td>合计</td><td>9</td>', html)
    assert 'id="stat-satisfaction">100.0%' in html
    assert "/static/vendor/echarts.min.js" in html and "cdn" not in html.lower()
    c = _charts(html)
    assert c["scenarios"] == ["热线回访", "应急指挥", "信息提醒"] and c["answered_rate"] == [75.0, 50.0, 33.3]
    assert c["satisfaction_rate"] == [100.0, None, None]
    assert c["month_series"][0] == {"name": "热线回访", "data": [4] + [0] * 11}
    assert len(c["days"]) == 31 and c["day_series"][0]["data"][:2] == [3, 1]
    assert 'href="/console/callout/stats/export?kind=days&year=2026&month=1&format=csv"' in html


def test_empty_year_and_bad_parameters(client, make_user):
    _login(client, make_user, "duty")
    r = client.get(f"{URL}?year=abc&month=99")
    assert r.status_code == 200 and "没有通话记录" in r.text and 'id="stats-empty"' in r.text


def test_export_links(client, make_user, calls):  # noqa: F811
    _login(client, make_user, "manager")
    r = client.get(f"{URL}/export?kind=year&year=2026&format=xlsx")
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.content)).active.values)
    assert rows[1][:4] == ("hotline_callback", "热线回访", 4, 3)
    c = client.get(f"{URL}/export?kind=months&year=2026&format=csv")
    assert c.content.decode("utf-8-sig").splitlines()[1] == "2026-01,5,4,0,1"
    assert client.get(f"{URL}/export?kind=year&year=2026&format=json").status_code == 422


def test_street_users_are_refused(client, make_user):
    name = make_user("street", "310105002")
    assert client.post("/login", data={"username": name, "password": PASSWORD}).status_code in (200, 303)
    assert client.get(URL).status_code == 403
