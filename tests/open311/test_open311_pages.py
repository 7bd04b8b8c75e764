"""Console page Open311 接入 (IOT-7): clients with the key shown once, enable/disable/delete
with CSRF, and the latest Open311 requests linked to their events."""

from __future__ import annotations

import re

from cityops.open311 import service
from tests.conftest import PASSWORD
from tests.open311.helpers import make_client, post_form, wgs_point


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    r = client.post("/login", data={"username": make_user(role, street), "password": PASSWORD})
    assert r.status_code in (200, 303)


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_manager_creates_toggles_and_deletes(client, make_user, db):
    _login(client, make_user, "manager")
    html = client.get("/console/open311").text
    assert "Open311 接入" in html and "/open311/v2" in html and service.JURISDICTION_ID in html
    assert "还没有接入客户端" in html
    assert client.post("/console/open311/clients", data={"name": "随申办"}).status_code == 403  # no CSRF
    r = client.post("/console/open311/clients", data={"csrf": _csrf(html), "name": "随申办", "token_mode": "1"})
    assert r.status_code == 200
    key = re.search(r'id="new-key-value">([^<]+)<', r.text).group(1)
    assert "只显示这一次" in r.text and "令牌（token）" in r.text
    with db.session() as s:
        c = service.authenticate(s, key)
        assert c.name == "随申办" and c.token_mode is True
    page = client.get("/console/open311").text
    assert key not in page and key[:8] in page  # never shown again, the prefix identifies it
    r = client.post(f"/console/open311/clients/{c.id}/toggle", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert r.status_code == 303
    assert "已停用客户端 随申办" in client.get(r.headers["location"]).text
    with db.session() as s:
        assert service.get_client(s, c.id).enabled is False
    r = client.post("/console/open311/clients", data={"csrf": _csrf(page), "name": "随申办"})
    assert r.status_code == 422 and "已存在" in r.text
    r = client.post(f"/console/open311/clients/{c.id}/delete", data={"csrf": _csrf(page)})
    assert r.status_code == 200 and "已删除客户端 随申办" in r.text


def test_recent_requests_link_to_events_and_readers_cannot_edit(client, make_user, db):
    key = make_client(db, "巡查APP")
    _, lat, lon = wgs_point(db)
    number = client.post("/open311/v2/requests.json", data=post_form(db, key, lat, lon)).json()[0]["service_request_id"]
    _login(client, make_user, "auditor")
    html = client.get("/console/open311").text
    m = re.search(r'<a href="/console/events/(\d+)">' + number + "</a>", html)
    assert m and "巡查APP" in html and "待立案" in html
    assert 'action="/console/open311/clients"' not in html and "/toggle" not in html
    assert client.get(f"/console/events/{m.group(1)}").status_code == 200
    _login(client, make_user, "duty")
    assert client.get("/console/open311").status_code == 403
