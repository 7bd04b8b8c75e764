"""The monitoring-mode API and pages (EMRG-4): roles, street scope, problem+json in Chinese for
bad indicator definitions, switching on/off, the live JSON and the log; the console page and
the wall view render and are admitted like the big screen."""

from __future__ import annotations

import copy

from cityops.audit.context import acting_as
from cityops.screen import modes
from tests.conftest import PASSWORD
from tests.screen.test_modes import WATER

API = "/api/v1/screen/modes"


def _seed(db):
    with acting_as("system:seed"), db.session() as s:
        modes.seed_defaults(s)


def test_roles_and_switching(client, db, auth_headers):
    _seed(db)
    tech, duty, auditor = auth_headers("technician"), auth_headers("duty"), auth_headers("auditor")
    rows = client.get(API, headers=tech).json()
    assert [r["code"] for r in rows] == ["flood", "holiday"] and not any(r["active"] for r in rows)
    assert client.get(f"{API}/flood", headers=auditor).json()["name"] == "防汛防台"
    # readers may not switch or edit
    for h in (tech, auditor):
        assert client.post(f"{API}/flood/activate", headers=h).status_code == 403
        assert client.patch(f"{API}/flood", headers=h, json={"refresh_s": 3}).status_code == 403
    # the duty officer switches the typhoon mode on at 3 a.m.
    r = client.post(f"{API}/flood/activate", headers=duty)
    assert r.status_code == 200 and r.json()["active"] is True and r.json()["activated_at"].endswith("+08:00")
    assert r.json()["levels"]["flood_events"] == "normal"  # sampled at once
    again = client.post(f"{API}/flood/activate", headers=duty)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert "已处于启用状态" in again.json()["detail"]
    assert client.get(f"{API}/active", headers=tech).json() == [{"code": "flood", "name": "防汛防台",
                                                                 "kind": "emergency"}]
    live = client.get(f"{API}/flood/live", headers=tech).json()
    assert [i["key"] for i in live["indicators"]] == ["max_water", "water_over", "flood_alarms", "flood_events",
                                                      "water_online"]
    assert live["indicators"][0]["thresholds"] == {"warn": 15.0, "danger": 25.0}
    assert live["indicators"][3]["value"] == 0.0 and live["indicators"][3]["level"] == "normal"
    assert len(live["indicators"][3]["series"]) == 1  # sampled at once when switched on
    log = client.get(f"{API}/flood/log", headers=tech, params={"limit": 100}).json()
    assert log[-1]["kind"] == "activated" and "启用防汛防台" in log[-1]["message"]
    assert client.get(f"{API}/flood/log", headers=tech, params={"limit": 0}).status_code == 422
    r = client.post(f"{API}/flood/deactivate", headers=auth_headers("manager"))
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get(f"{API}/active", headers=tech).json() == []
    assert client.get(f"{API}/nope", headers=tech).status_code == 404


def test_create_and_update_validate_in_chinese(client, db, auth_headers):
    admin = auth_headers("admin")
    bad = copy.deepcopy(WATER)
    bad["source"]["aggregate"] = "median"
    r = client.post(API, headers=admin, json={"code": "rain", "name": "暴雨", "indicators": [bad]})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith("第 1 个指标（max_water）：aggregate 必须是")
    assert r.json()["index"] == 1
    r = client.post(API, headers=admin, json={"code": "rain", "name": "暴雨", "indicators": "not json"})
    assert r.status_code == 422 and "不是有效的 JSON" in r.json()["detail"]
    r = client.post(API, headers=admin, json={"code": "rain", "name": "暴雨", "refresh_s": 1, "indicators": [WATER]})
    assert r.status_code == 422 and "刷新间隔" in r.json()["detail"]
    r = client.post(API, headers=admin, json={"code": "rain", "name": "暴雨", "indicators": [WATER]})
    assert r.status_code == 201 and r.json()["refresh_s"] == 5 and r.json()["kind"] == "emergency"
    assert client.post(API, headers=admin, json={"code": "rain", "name": "x", "indicators": [WATER]}).status_code == 409
    r = client.patch(f"{API}/rain", headers=auth_headers("duty"), json={"refresh_s": 2, "name": "暴雨红色预警"})
    assert r.status_code == 200 and r.json()["refresh_s"] == 2 and r.json()["name"] == "暴雨红色预警"
    r = client.patch(f"{API}/rain", headers=admin, json={"indicators": [{**WATER, "thresholds": {"warn": 9, "danger": 1}}]})
    assert r.status_code == 422 and "预警值不能大于告急值" in r.json()["detail"]
    log = client.get(f"{API}/rain/log", headers=admin).json()
    assert [x["kind"] for x in log] == ["edited"] and "名称、刷新间隔" in log[0]["message"]


def test_street_users(client, db, auth_headers):
    admin = auth_headers("admin")
    for code, street in (("district", None), ("huayang", "310105001"), ("jiangsu", "310105002")):
        r = client.post(API, headers=admin, json={"code": code, "name": code, "street_code": street,
                                                   "indicators": [WATER]})
        assert r.status_code == 201, r.text
    street = auth_headers("street", "310105001")
    seen = {m["code"] for m in client.get(API, headers=street).json()}
    assert {"district", "huayang"} <= seen and "jiangsu" not in seen
    assert client.get(f"{API}/jiangsu", headers=street).status_code == 404
    assert client.get(f"{API}/jiangsu/live", headers=street).status_code == 404
    assert client.get(f"{API}/huayang/live", headers=street).status_code == 200
    assert client.post(f"{API}/huayang/activate", headers=street).status_code == 403
    client.post(f"{API}/huayang/activate", headers=admin)
    assert client.get(f"{API}/active", headers=street).json()[0]["code"] == "huayang"
    assert client.get(f"{API}/active", headers=admin).json() == []  # the district screen: district modes only


def _login(client, make_user, role: str, street: str | None = None) -> None:
    name = make_user(role, street)
    r = client.post("/login", data={"username": name, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text


def _csrf(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_console_page(client, db, make_user):
    _seed(db)
    r = client.get("/console/screen/modes", follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]
    _login(client, make_user, "duty")
    page = client.get("/console/screen/modes")
    assert page.status_code == 200
    html = page.text
    assert "应急监测模式" in html and "防汛防台" in html and "节假日保障" in html
    assert 'id="activate-flood"' in html and 'href="/screen/mode/flood"' in html
    assert "&#34;max_water&#34;" in html or '"max_water"' in html  # the editor holds the JSON
    csrf = _csrf(html)
    r = client.post("/console/screen/modes/flood/activate", data={"csrf": csrf}, follow_redirects=True)
    assert r.status_code == 200 and "已启用防汛防台" in r.text and 'id="deactivate-flood"' in r.text
    assert "启用防汛防台" in r.text.split('id="mode-log"', 1)[1]
    # a broken definition: the message inline, the text kept as typed
    typed = '[{"key": "max_water", "label": "最大积水深度", "thresholds": {"warn": 15}, "source": {"kind": "rain"}}]'
    r = client.post("/console/screen/modes/flood/edit", data={
        "csrf": csrf, "name": "防汛防台", "kind": "emergency", "refresh_s": "5", "street_code": "",
        "description": "", "indicators": typed})
    assert r.status_code == 422
    error = r.text.split('id="indicators-error"', 1)[1].split("</div>", 1)[0]
    assert "第 1 个指标（max_water）：数据来源类型 kind=&#39;rain&#39; 不支持" in error
    assert "hidden" not in error.split(">", 1)[0]
    assert "&#34;kind&#34;: &#34;rain&#34;" in r.text
    r = client.post("/console/screen/modes/flood/edit", data={
        "csrf": csrf, "name": "防汛防台", "kind": "emergency", "refresh_s": "abc", "street_code": "",
        "description": "", "indicators": typed})
    assert r.status_code == 422 and "刷新间隔必须是" in r.text
    # a good edit
    good = '[{"key": "max_water", "label": "最大积水深度", "unit": "cm", "thresholds": {"warn": 10, "danger": 20}, ' \
           '"source": {"kind": "device_value", "device_type": "water_level", "property": "water_level", "aggregate": "max"}}]'
    r = client.post("/console/screen/modes/flood/edit", data={
        "csrf": csrf, "name": "防汛防台", "kind": "emergency", "refresh_s": "3", "street_code": "",
        "description": "台风", "indicators": good}, follow_redirects=True)
    assert r.status_code == 200 and "已保存" in r.text and "修改了防汛防台" in r.text
    with db.session() as s:
        m = modes.get_mode(s, "flood")
        assert m.refresh_s == 3 and len(m.indicators) == 1 and m.indicators[0]["thresholds"]["warn"] == 10
    r = client.post("/console/screen/modes", data={"csrf": csrf, "code": "Bad code", "name": "x", "kind": "holiday",
                                                   "refresh_s": "5", "indicators": good})
    assert r.status_code == 422 and "代码只能用小写字母" in r.text and "<details class=\"card\" id=\"mode-new\" open" in r.text
    r = client.post("/console/screen/modes", data={"csrf": csrf, "code": "expo", "name": "进博会保障", "kind": "holiday",
                                                   "refresh_s": "10", "indicators": good}, follow_redirects=True)
    assert r.status_code == 200 and "进博会保障" in r.text
    r = client.post("/console/screen/modes/flood/deactivate", data={"csrf": "forged"})
    assert r.status_code == 403


def test_console_roles(client, db, make_user):
    _seed(db)
    _login(client, make_user, "technician")
    html = client.get("/console/screen/modes").text
    assert "防汛防台" in html and 'id="activate-flood"' not in html and 'id="edit-form"' not in html
    r = client.post("/console/screen/modes/flood/activate", data={"csrf": _csrf(html) if 'name="csrf"' in html else ""})
    assert r.status_code == 403


def test_wall_view_and_live_json(client, db, make_user):
    _seed(db)
    r = client.get("/screen/mode/flood", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]
    r = client.get("/screen/mode/flood/live", headers={"accept": "application/json"})
    assert r.status_code == 401
    _login(client, make_user, "auditor")
    r = client.get("/screen/mode/flood")
    assert r.status_code == 200
    html = r.text
    assert "<title>防汛防台" in html and "/static/vendor/echarts.min.js" in html and "/static/screen-mode.js" in html
    assert html.count('class="sm-tile lv-') == 5 and 'id="tile-max_water"' in html
    assert 'id="sm-info"' in html  # five tiles leave a cell free: the summary fills it
    assert '"refresh_s": 5' in html and '"/screen/mode/flood/live"' in html
    data = client.get("/screen/mode/flood/live").json()
    assert data["mode"]["code"] == "flood" and len(data["indicators"]) == 5
    assert client.get("/screen/mode/none/live").status_code == 404
    r = client.get("/screen/mode/none")
    assert r.status_code == 404 and "监测模式 none 不存在" in r.text and "返回全区大屏" in r.text
    for asset in ("/static/screen-mode.js", "/static/screen-mode.css"):
        assert client.get(asset).status_code == 200
