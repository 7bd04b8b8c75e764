"""Console KPI dashboard and its downloads (IOT-5): renders with the history, street scope,
CSV/XLSX buttons work with the console login."""

import csv
import io
import json
import re
from datetime import timedelta

from openpyxl import load_workbook

from cityops.core.timeutil import utcnow
from cityops.devices import service as devices
from cityops.devices.models import Device
from cityops.monitoring import kpi_history
from tests.conftest import PASSWORD

HUAYANG, JIANGSU = "310105001", "310105002"


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    name = make_user(role, street)
    r = client.post("/login", data={"username": name, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    return name


def _fill(db):
    with db.session() as s:
        pid = devices.product_by_code(s, "SMOKE-NB-CTW").id
        for street in (HUAYANG, JIANGSU):
            ids = [devices.create_device(s, name=f"kc{street}{i}", product_id=pid, external_id=f"kc-{street}-{i}",
                                         lon=121.420, lat=31.222).id for i in range(2)]
            s.execute(Device.__table__.update().where(Device.id.in_(ids)).values(street_code=street, online=True))
            s.execute(Device.__table__.update().where(Device.id == ids[0]).values(online=street == HUAYANG))
        now = utcnow()
        kpi_history.sample_online_rate(s, now=now - timedelta(days=1))
        kpi_history.sample_online_rate(s, now=now)


def test_kpi_page_renders_history_and_exports(client, make_user, db):
    _fill(db)
    _login(client, make_user, "manager")
    html = client.get("/console/kpi").text
    assert "每日设备在线率" in html and 'id="kpi-history-chart"' in html
    history = json.loads(re.search(r'id="kpi-history-data">(.*?)</script>', html, re.DOTALL).group(1))
    assert history["series"][0]["name"] == "全区（总体）"
    assert {x["name"] for x in history["series"][1:]} == {"华阳路街道", "江苏路街道"}
    assert len(history["days"]) == 30 and history["series"][0]["data"][-1] == 75.0
    assert "/console/kpi/export/daily?dimension=street_code" in html and "format=xlsx" in html
    assert "告警处置时长" in html and "频繁上下线设备" in html
    html = client.get("/console/kpi?dim=vendor&days=7&hours=168").text
    assert '<option value="vendor" selected>' in html and "近 7 天" in html
    today = utcnow().date().isoformat()
    r = client.get(f"/console/kpi/export/daily?dimension=street_code&to={today}&format=csv")
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {x["分组名称"] for x in rows} == {"华阳路街道", "江苏路街道"}
    r = client.get("/console/kpi/export/live?by=street_code&format=xlsx")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws["A1"].value == "统计维度" and ws.max_row == 4  # header, 全区, two streets
    r = client.get("/console/kpi/export/daily?dimension=nope&format=csv")
    assert r.status_code == 422 and "text/html" in r.headers["content-type"]


def test_kpi_page_street_user(client, make_user, db):
    _fill(db)
    _login(client, make_user, "street", JIANGSU)
    html = client.get("/console/kpi").text
    history = json.loads(re.search(r'id="kpi-history-data">(.*?)</script>', html, re.DOTALL).group(1))
    assert [x["name"] for x in history["series"]] == ["江苏路街道（总体）", "江苏路街道"]
    assert [x["data"][-1] for x in history["series"]] == [50.0, 50.0]
    r = client.get("/console/kpi/export/live?by=street_code&format=csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [x[2] for x in rows[1:]] == ["江苏路街道", "江苏路街道"]


def test_kpi_page_without_history(client, make_user):
    _login(client, make_user, "duty")
    html = client.get("/console/kpi").text
    assert 'id="kpi-history-empty"' in html and "每 5 分钟采样" in html


def test_kpi_page_needs_login(client):
    client.cookies.clear()
    r = client.get("/console/kpi/export/live?format=csv", follow_redirects=False)
    assert r.status_code == 303 and "/login" in r.headers["location"]
