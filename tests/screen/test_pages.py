"""The big screen's pages (SYS-SCREEN): who may open them, the street redirect, the Chinese
404, and a standalone page that carries every panel's container and nothing from outside."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import PASSWORD

PANELS = ("map", "devices", "alarms", "events", "dispatch", "callout", "systems", "duty")
HTML = {"Accept": "text/html"}


def _login(client, make_user, role, street=None) -> None:
    client.cookies.clear()
    r = client.post("/login", data={"username": make_user(role, street), "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303


def test_login_required(client):
    r = client.get("/screen", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/screen"
    r = client.get("/screen/street/310105001", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/screen/street/310105001")
    assert client.get("/screen", headers={"Accept": "application/json"}).status_code == 401


@pytest.mark.parametrize("role", ["admin", "duty", "auditor"])
def test_district_screen_for_district_roles(client, make_user, role):
    _login(client, make_user, role)
    r = client.get("/screen", headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "长宁区“一网统管”城运大屏" in r.text
    assert "返回全区" not in r.text


def test_street_user_goes_to_own_street(client, make_user):
    _login(client, make_user, "street", "310105004")
    r = client.get("/screen", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/screen/street/310105004"
    r = client.get("/screen/street/310105004", headers=HTML)
    assert r.status_code == 200 and "新华路街道城运大屏" in r.text and "返回全区" in r.text
    r = client.get("/screen/street/310105001", headers=HTML)  # another street
    assert r.status_code == 403 and "无权查看" in r.text


def test_unknown_street_is_a_chinese_404(client, make_user):
    _login(client, make_user, "manager")
    r = client.get("/screen/street/999999999", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "未找到该街道" in r.text and "999999999" in r.text and 'href="/screen"' in r.text


def test_street_screen_names_the_street(client, make_user):
    _login(client, make_user, "admin")
    html = client.get("/screen/street/310105001", headers=HTML).text
    assert "<title>华阳路街道城运大屏</title>" in html and 'href="/screen"' in html
    cfg = re.search(r'<script type="application/json" id="screen-config">(.*?)</script>', html, re.S).group(1)
    cfg = json.loads(cfg)
    assert cfg["street"] == "310105001" and cfg["street_name"] == "华阳路街道" and len(cfg["streets"]) == 10


def test_page_has_every_panel_and_nothing_external(client, make_user):
    _login(client, make_user, "duty")
    html = client.get("/screen", headers=HTML).text
    for name in PANELS:
        assert re.search(rf'id="panel-{name}" data-panel="{name}"', html), name
    for part in ("chart-map", "map-layers", "ticker-list", "chart-dev-history", "chart-ev-category", "chart-ev-source",
                 "chart-ev-street", "chart-callout", "sys-tiles", "duty-list", 'id="clock"', 'id="conn"'):
        assert part in html, part
    assert "/static/vendor/echarts.min.js" in html and "/static/screen.js" in html and "/static/screen.css" in html
    assert "sidenav" not in html and "console.css" not in html  # standalone, not the console shell
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert not re.search(r"https?://", html)
    for asset in ("/static/screen.js", "/static/screen.css"):
        body = client.get(asset).text
        assert not re.search(r"https?://", body), asset


def test_mode_banner_when_a_mode_is_active(client, make_user, db):
    """EMRG-4: while a monitoring mode is on, the main screen shows a banner linking to it."""
    from cityops.screen import modes

    _login(client, make_user, "duty")
    assert 'id="mode-banner"' not in client.get("/screen", headers=HTML).text
    spec = modes.DEFAULT_MODES[0]
    with db.session() as s:
        if not any(m.code == spec["code"] for m in modes.list_modes(s)):
            modes.create_mode(s, by="test", **spec)
        modes.activate(s, spec["code"], by="test")
    html = client.get("/screen", headers=HTML).text
    assert 'id="mode-banner"' in html
    assert f'href="/screen/mode/{spec["code"]}"' in html and f"应急监测模式：{spec['name']}" in html
    assert f"应急监测模式：{spec['name']}" in client.get("/screen/street/310105001", headers=HTML).text


def test_wall_display_key_opens_its_screen(client, db):
    """A wall display signs in once with its key (no console account) and sees its screen; a
    street's display is kept to its street; the key opens no console page."""
    from cityops.screen import displays

    with db.session() as s:
        _, district_key = displays.create(s, name="指挥大厅主屏", street_code=None, actor="test")
        _, street_key = displays.create(s, name="华阳路街道分屏", street_code="310105001", actor="test")
    client.cookies.clear()
    r = client.get(f"/screen/display/{district_key}", headers=HTML)  # follows to /screen
    assert r.status_code == 200 and "长宁区“一网统管”城运大屏" in r.text and "指挥大厅主屏" in r.text
    assert client.get("/screen/street/310105009", headers=HTML).status_code == 200
    assert client.get("/console/", headers=HTML, follow_redirects=False).status_code == 303  # → login

    client.cookies.clear()
    client.get(f"/screen/display/{street_key}", headers=HTML)
    r = client.get("/screen", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/screen/street/310105001"
    assert "华阳路街道城运大屏" in client.get("/screen/street/310105001", headers=HTML).text
    assert client.get("/screen/street/310105009", headers=HTML).status_code == 403
