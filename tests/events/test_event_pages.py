"""Console pages for city events (IOT-6): list, detail with timeline and actions, create,
attachments, the category tree; CSRF on every form."""

import re

from cityops.events import lifecycle, service
from tests.conftest import PASSWORD
from tests.events.helpers import offset_m, street_point


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    name = make_user(role, street)
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code in (200, 303)
    return name


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _event(db, point=None, code="010101", **kw):
    with db.session() as s:
        if point is None:
            _, lon, lat = street_point(s)
            point = (lon, lat)
        ev = service.create_event(s, category_code=code, title=kw.pop("title", "小区门口暴露垃圾"),
                                  lon=point[0], lat=point[1], created_by="seed", **kw)
        return ev.id, ev.number


def test_list_page_filters_and_htmx(client, make_user, db):
    _, number = _event(db, reporter_phone="13812345678")
    _login(client, make_user, "duty")
    html = client.get("/console/events").text
    assert "城市事件" in html and number in html and "待立案" in html and "登记事件" in html
    assert 'href="/console/event-categories"' in html  # the nav group
    assert client.get("/console/events", params={"state": "closed"}).text.count(number) == 0
    part = client.get("/console/events", headers={"HX-Request": "true"})
    assert part.status_code == 200 and number in part.text and "<html" not in part.text


def test_detail_page_transition_with_csrf(client, make_user, db):
    eid, number = _event(db, reporter_phone="13812345678")
    _login(client, make_user, "duty")
    html = client.get(f"/console/events/{eid}").text
    assert number in html and "办理过程" in html and "上报" in html and "13812345678" in html
    assert 'value="accepted"' in html and 'value="rejected"' in html
    csrf = _csrf(html)
    r = client.post(f"/console/events/{eid}/transition", data={"to": "accepted"})
    assert r.status_code == 403  # no CSRF value
    r = client.post(f"/console/events/{eid}/transition", data={"to": "accepted", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    html = client.get(r.headers["location"]).text
    assert "已立案" in html and ">派遣<" in html.replace("\n", "").replace(" ", "")
    r = client.post(f"/console/events/{eid}/transition", data={"to": "closed", "csrf": csrf})
    assert r.status_code == 200 and "允许的下一状态" in r.text  # refused, shown on the page
    with db.session() as s:
        assert service.get_event(s, eid).state == "accepted"


def test_detail_masks_phone_and_hides_actions_for_readers(client, make_user, db):
    eid, _ = _event(db, reporter_phone="13812345678")
    _login(client, make_user, "auditor")
    html = client.get(f"/console/events/{eid}").text
    assert "138****5678" in html and "13812345678" not in html
    assert f'action="/console/events/{eid}/transition"' not in html
    assert client.get("/console/events/new").status_code == 403


def test_street_user_sees_own_street_only(client, make_user, db):
    with db.session() as s:
        own, lon, lat = street_point(s, 0)
        _, olon, olat = street_point(s, 1)
    mine, _ = _event(db, point=(lon, lat))
    theirs, their_no = _event(db, point=(olon, olat))
    _login(client, make_user, "street", own)
    assert their_no not in client.get("/console/events").text
    assert client.get(f"/console/events/{theirs}").status_code == 404
    assert client.get(f"/console/events/{mine}").status_code == 200


def test_create_merge_unmerge_and_upload(client, make_user, db):
    with db.session() as s:
        _, lon, lat = street_point(s)
        leaf = service.category_by_code(s, "010101").id
    parent, parent_no = _event(db, point=(lon, lat))
    _login(client, make_user, "duty")
    html = client.get("/console/events/new").text
    assert "市容环境 / 环境卫生 / 暴露垃圾" in html
    clon, clat = offset_m(lon, lat, 40)
    r = client.post("/console/events/new", data={"csrf": _csrf(html), "category_id": leaf, "title": "同一处垃圾",
                                                 "lon": str(clon), "lat": str(clat), "source_kind": "citizen"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "合并" in page and parent_no in page and "取消合并" in page
    child = int(re.search(r"/console/events/(\d+)", r.headers["location"]).group(1))
    assert parent_no in client.get(f"/console/events/{parent}").text
    r = client.post(f"/console/events/{child}/unmerge", data={"csrf": _csrf(page), "reason": "不同点位"})
    assert r.status_code == 200 and "已取消合并" in r.text
    r = client.post("/console/events/new", data={"csrf": _csrf(page), "category_id": leaf, "title": "x",
                                                 "lon": "abc", "lat": "31"})
    assert "经纬度必须是数字" in r.text
    r = client.post(f"/console/events/{parent}/attachments", data={"csrf": _csrf(page)},
                    files={"file": ("现场.jpg", b"\xff\xd8\xff" + b"0" * 100, "image/jpeg")})
    assert r.status_code == 200 and "已上传附件 现场.jpg" in r.text
    with db.session() as s:
        att = service.attachments_of(s, parent)[0]
    dl = client.get(f"/console/events/{parent}/attachments/{att.id}")
    assert dl.status_code == 200 and dl.content.startswith(b"\xff\xd8\xff")


def test_category_tree_page_add_and_edit(client, make_user, db):
    _login(client, make_user, "manager")
    html = client.get("/console/event-categories").text
    assert "事件分类" in html and "市容环境" in html and "010101" in html and "细类" in html
    csrf = _csrf(html)
    with db.session() as s:
        mid = service.category_by_code(s, "0301")
    r = client.post("/console/event-categories", data={"csrf": csrf, "name": "雨水口堵塞", "parent_id": str(mid.id),
                                                       "default_severity": "major"})
    assert r.status_code == 200 and "已新增分类" in r.text and "雨水口堵塞" in r.text
    with db.session() as s:
        cat = next(c for c in service.list_categories(s) if c.name == "雨水口堵塞")
    r = client.post(f"/console/event-categories/{cat.id}", data={"csrf": csrf, "name": "雨水口堵塞冒溢",
                                                                 "default_severity": "major", "enabled": "",
                                                                 "merge_radius_m": "50"})
    assert "已停用" in r.text
    with db.session() as s:
        cat = service.get_category(s, cat.id)
        assert cat.name == "雨水口堵塞冒溢" and not cat.enabled and cat.merge_radius_m == 50
    assert client.post("/console/event-categories", data={"name": "x"}).status_code == 403  # no CSRF
    _login(client, make_user, "duty")
    assert client.post("/console/event-categories", data={"csrf": "x", "name": "y"}).status_code == 403
    assert "新增大类" not in client.get("/console/event-categories").text


def test_transition_table_is_consistent():
    for (frm, to), (action, roles, _) in lifecycle.TRANSITIONS.items():
        assert frm in lifecycle.STATES and to in lifecycle.STATES and action in lifecycle.ACTION_LABELS and roles
