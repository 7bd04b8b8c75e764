"""Console 机房巡检 and 机房出入 over HTTP (ROOM-1..3): start, fill with errors beside fields,
photo upload, submit, review, template edit; room check-in/out with masking and CSV; roles; CSRF."""

from __future__ import annotations

import re

from cityops.inspections import checklist_service as svc
from cityops.inspections.checklist_seed import seed_checklists
from tests.conftest import PASSWORD

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _login(client, make_user, role, display_name=None):
    client.cookies.clear()
    name = make_user(role, "310105010" if role == "street" else None, display_name=display_name or role)
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code in (200, 303)
    return name


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_fill_a_run_with_errors_photo_submit_and_review(client, make_user, db):
    with db.session() as s:
        seed_checklists(s)
        tid = svc.current_template(s, "room-daily").id
    _login(client, make_user, "duty", "值班员甲")
    html = client.get("/console/checklists").text
    assert "机房日常巡检" in html and "开始填写" in html
    r = client.post("/console/checklists/runs", data={"csrf": _csrf(html), "template_id": tid, "room": "城区之眼机房"},
                    follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"]
    html = client.get(url).text
    assert 'inputmode="decimal"' in html and 'capture="environment"' in html
    form = {"csrf": _csrf(html), "v_temperature": "abc", "v_humidity": "70", "v_mains": "正常"}
    r = client.post(f"{url}/readings", data=form, files={"f_photo": ("room.png", PNG, "image/png")})
    assert r.status_code == 422
    assert "「温度」须为数字" in r.text and 'value="abc"' in r.text  # the message beside the field, value kept
    r = client.post(f"{url}/readings", data={"csrf": form["csrf"]}, files={"f_photo": ("x.gif", b"GIF89a", "image/gif")})
    assert r.status_code == 422 and "JPEG 或 PNG" in r.text
    values = {"temperature": "22", "ups_state": "市电供电", "ups_load": "40", "battery": "45", "crac": "正常",
              "fire": "正常（自动）", "leds": "正常", "cabling": "正常", "access": "正常", "leak": "无漏水"}
    r = client.post(f"{url}/readings", data={"csrf": form["csrf"], **{f"v_{k}": v for k, v in values.items()}})
    assert r.status_code == 200 and "已保存 10 项读数" in r.text
    html = r.text
    assert "70 %RH（异常）" in html
    photo = re.search(r'/console/checklists/photos/(\d+)', html).group(1)
    assert client.get(f"/console/checklists/photos/{photo}").content == PNG
    r = client.post(f"{url}/submit", data={"csrf": form["csrf"], "signature": "值班员甲"})
    assert "已提交并签名" in r.text
    # the performer (duty) may not review their own run
    r = client.post(f"{url}/sign-off", data={"csrf": form["csrf"], "note": ""})
    assert r.status_code == 422 and "本人" in r.text
    _login(client, make_user, "manager", "王经理")
    html = client.get(url).text
    r = client.post(f"{url}/sign-off", data={"csrf": _csrf(html), "note": "湿度偏高已通知空调维保"})
    assert "已复核签字" in r.text and "不可修改" in r.text and "保存读数" not in r.text


def test_readers_cannot_write_and_csrf_is_checked(client, make_user, db):
    with db.session() as s:
        seed_checklists(s)
        tid = svc.current_template(s, "room-daily").id
    _login(client, make_user, "auditor")
    html = client.get("/console/checklists").text
    assert "开始填写" not in html
    assert client.post("/console/checklists/runs", data={"csrf": _csrf(html), "template_id": tid}).status_code == 403
    _login(client, make_user, "street")
    assert client.get("/console/checklists").status_code == 403
    _login(client, make_user, "duty")
    assert client.post("/console/checklists/runs", data={"csrf": "forged", "template_id": tid,
                                                          "room": "x"}).status_code == 403


def test_manager_edits_a_template_into_a_new_version(client, make_user, db):
    with db.session() as s:
        seed_checklists(s)
        t = svc.current_template(s, "asset-check")
        items = svc.items_of(s, t.id)
    _login(client, make_user, "manager")
    html = client.get(f"/console/checklists/templates/{t.id}").text
    form = {"csrf": _csrf(html), "name": "设备巡检", "ticket_policy": "always", "active": "on",
            "code": [i.code for i in items] + ["temp", ""], "label": [i.label for i in items] + ["机箱温度", ""],
            "type": [i.type for i in items] + ["number", "bool"], "unit": [i.unit for i in items] + ["℃", ""],
            "min_value": [""] * len(items) + ["", ""], "max_value": [""] * len(items) + ["45", ""],
            "options": ["正常，异常*" if i.type == "choice" else "" for i in items] + ["", ""],
            "severity": [i.severity for i in items] + ["warning", "warning"], "required": ["leds", "temp"]}
    r = client.post(f"/console/checklists/templates/{t.id}", data=form)
    assert r.status_code == 200 and "已保存为第 2 版" in r.text
    with db.session() as s:
        new = svc.current_template(s, "asset-check")
        assert new.version == 2 and new.ticket_policy == "always"
        assert [i.code for i in svc.items_of(s, new.id)][-1] == "temp"
    bad = {**form, "csrf": _csrf(r.text), "max_value": [""] * len(items) + ["abc", ""]}
    r = client.post(f"/console/checklists/templates/{new.id}", data=bad)
    assert r.status_code == 422 and "上限须为数字" in r.text


def test_room_access_page_masks_ids_and_exports(client, make_user, db):
    _login(client, make_user, "duty")
    html = client.get("/console/room-access").text
    data = {"csrf": _csrf(html), "person": "赵工", "organisation": "海康威视", "id_number": "310105199001011234",
            "phone": "13912345678", "purpose": "更换硬盘", "escort": "张三", "room": "城区之眼机房", "items_in": "硬盘"}
    r = client.post("/console/room-access", data={**data, "purpose": ""})
    assert r.status_code == 422 and "请填写进入事由" in r.text and 'value="赵工"' in r.text
    r = client.post("/console/room-access", data=data)
    assert "已登记 赵工 进入 城区之眼机房" in r.text and "310105199001011234" in r.text  # duty sees PII
    access_id = re.search(r'/console/room-access/(\d+)/check-out', r.text).group(1)
    _login(client, make_user, "technician")
    html = client.get("/console/room-access").text
    assert "3101**********1234" in html and "310105199001011234" not in html and "139****5678" in html
    assert "登记进入" not in html
    csv_text = client.get("/console/room-access/export.csv").content.decode("utf-8-sig")
    assert "3101**********1234" in csv_text and "310105199001011234" not in csv_text
    _login(client, make_user, "duty")
    html = client.get("/console/room-access").text
    r = client.post(f"/console/room-access/{access_id}/check-out", data={"csrf": _csrf(html), "items_out": "旧硬盘"})
    assert "已登记 赵工 离开" in r.text and "机房内当前无登记人员" in r.text
