"""Alarm API: list, acknowledge, clear, street scope, state history (IOT-5)."""

from cityops.monitoring import service


def _alarm(db, client, h, lon=121.420, lat=31.222):
    pid = next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == "SMOKE-NB-CTW")
    d = client.post("/api/v1/devices", json={"name": "烟感", "product_id": pid, "external_id": f"al-{lon}",
                                             "lon": lon, "lat": lat}, headers=h).json()
    with db.session() as s:
        a = service.raise_alarm(s, device_id=d["id"], alarm_type="smoke_alarm", severity="critical",
                                source="vendor", message="烟雾报警")
        service.record_transition(s, device_id=d["id"], old="never_seen", new="online", reason="data")
        return d, a.id


def test_list_ack_clear(client, auth_headers, db):
    h = auth_headers("admin")
    d, aid = _alarm(db, client, h)
    duty = auth_headers("duty")
    page = client.get("/api/v1/alarms?open=true", headers=duty).json()
    assert page["total"] == 1 and page["items"][0]["severity"] == "critical"
    r = client.post(f"/api/v1/alarms/{aid}/ack", json={"note": "已派人核查"}, headers=duty)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert client.post(f"/api/v1/alarms/{aid}/ack", json={}, headers=duty).status_code == 409
    assert client.post(f"/api/v1/alarms/{aid}/clear", json={"reason": ""}, headers=duty).status_code == 422
    r = client.post(f"/api/v1/alarms/{aid}/clear", json={"reason": "误报：厨房油烟"}, headers=duty)
    assert r.json()["state"] == "cleared" and r.json()["cleared_by"].startswith("duty")
    hist = client.get(f"/api/v1/devices/{d['id']}/state-history", headers=duty).json()
    assert hist[0]["new"] == "online" and hist[0]["at"].endswith("+08:00")
    assert client.post(f"/api/v1/alarms/{aid}/ack", json={}, headers=auth_headers("auditor")).status_code == 403


def test_street_scope(client, auth_headers, db):
    h = auth_headers("admin")
    _, aid = _alarm(db, client, h)  # 华阳路街道
    other = auth_headers("street", "310105004")
    assert client.get("/api/v1/alarms", headers=other).json()["total"] == 0
    assert client.post(f"/api/v1/alarms/{aid}/ack", json={}, headers=other).status_code == 404
    own = auth_headers("street", "310105001")
    assert client.get("/api/v1/alarms", headers=own).json()["total"] == 1


def test_alarm_board_page(client, auth_headers, make_user, db):
    import re

    from tests.conftest import PASSWORD

    h = auth_headers("admin")
    d, aid = _alarm(db, client, h)
    client.cookies.clear()
    name = make_user("duty")
    client.post("/login", data={"username": name, "password": PASSWORD})
    html = client.get("/console/alarms").text
    assert "烟雾报警" in html and "紧急" in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    r = client.post(f"/console/alarms/{aid}/ack", data={"csrf": csrf, "text": "已通知物业"}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/console/alarms/{aid}/clear", data={"csrf": csrf, "text": ""})
    assert "操作失败" in r.text  # a manual clear needs a reason
    r = client.post(f"/console/alarms/{aid}/clear", data={"csrf": csrf, "text": "误报"}, follow_redirects=False)
    assert r.status_code == 303
    assert "误报" in client.get("/console/alarms?state=cleared").text
    detail = client.get(f"/console/devices/{d['id']}").text
    assert "从未上报 → 在线" in detail


def test_online_rate_kpi(client, auth_headers, db):
    from cityops.devices.models import Device

    h = auth_headers("manager")
    pid = next(p["id"] for p in client.get("/api/v1/products", headers=h).json() if p["code"] == "SMOKE-NB-CTW")
    ids = [client.post("/api/v1/devices", json={"name": f"k{i}", "product_id": pid, "external_id": f"k{i}",
                                                "lon": 121.420, "lat": 31.222}, headers=h).json()["id"]
           for i in range(4)]
    with db.session() as s:
        s.execute(Device.__table__.update().where(Device.id.in_(ids[:3])).values(online=True))
        s.execute(Device.__table__.update().where(Device.id == ids[3]).values(status="retired"))
    body = client.get("/api/v1/kpi/online-rate?by=street_code", headers=h).json()
    assert body["overall"]["devices"] == 3 and body["overall"]["rate"] == 1.0
    assert body["groups"] == [{"key": "310105001", "devices": 3, "online": 3, "rate": 1.0}]
    assert client.get("/api/v1/kpi/online-rate?by=password", headers=h).status_code == 422
    assert client.get("/api/v1/kpi/alarm-times", headers=h).json()["alarms"] == 0


def _console(client, make_user, role, street=None):
    from tests.conftest import PASSWORD

    client.cookies.clear()
    name = make_user(role, street)
    client.post("/login", data={"username": name, "password": PASSWORD})
    return name


def _csrf(html):
    import re

    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_board_comments_and_colours(client, auth_headers, make_user, db):
    """The board shows severity colours, the sound controls and an expandable comment form (IOT-5)."""
    _, aid = _alarm(db, client, auth_headers("admin"))
    name = _console(client, make_user, "duty")
    html = client.get("/console/alarms").text
    assert f'id="alarm-{aid}"' in html and 'data-severity="critical"' in html and "sev-row-critical" in html
    assert 'id="sound-enable"' in html and "开启声音" in html and "静音" in html
    assert 'hx-trigger="every 10s, board-refresh"' in html and "/static/alarm-board.js" in html
    assert f'id="notes-{aid}"' in html and "备注（0）" in html
    csrf = _csrf(html)
    r = client.post(f"/console/alarms/{aid}/comment", data={"csrf": csrf, "text": "已电话通知物业",
                                                           "state": "active", "severity": "critical"},
                    follow_redirects=False)
    assert r.status_code == 303  # back to the board with its filter
    assert r.headers["location"].startswith("/console/alarms?state=active&severity=critical&flash=")
    html = client.get("/console/alarms").text
    assert "备注（1）" in html and "已电话通知物业" in html and name in html
    r = client.post(f"/console/alarms/{aid}/comment", data={"csrf": csrf, "text": "  "})
    assert "操作失败" in r.text and "备注内容不能为空" in r.text
    assert client.post(f"/console/alarms/{aid}/comment", data={"csrf": "forged", "text": "x"}).status_code == 403
    assert client.post(f"/console/alarms/{aid}/shout", data={"csrf": csrf}).status_code == 404


def test_alarm_detail_page(client, auth_headers, make_user, db):
    from cityops.monitoring import comments

    d, aid = _alarm(db, client, auth_headers("admin"))
    with db.session() as s:
        service.change_severity(s, device_id=d["id"], alarm_type="smoke_alarm", severity="major", reason="浓度回落")
        service.change_severity(s, device_id=d["id"], alarm_type="smoke_alarm", severity="critical",
                                reason="烟雾浓度持续升高")
        service.raise_alarm(s, device_id=d["id"], alarm_type="smoke_alarm", severity="critical", source="vendor")
        comments.add_comment(s, aid, author="zhang", text="网格员已到场")
    _console(client, make_user, "duty")
    html = client.get(f"/console/alarms/{aid}").text
    assert f"告警 #{aid}" in html and "烟雾报警" in html and "处置过程" in html
    assert "级别变化：紧急 → 重要（浓度回落）" in html and "级别变化：重要 → 紧急（烟雾浓度持续升高）" in html
    assert "累计 2 次" in html and "zhang：网格员已到场" in html
    assert 'id="alarm-device-states"' in html and "从未上报 → 在线" in html
    csrf = _csrf(html)
    r = client.post(f"/console/alarms/{aid}/ack", data={"csrf": csrf, "text": "收到", "back": "detail"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/console/alarms/{aid}?")
    r = client.post(f"/console/alarms/{aid}/clear", data={"csrf": csrf, "text": "", "back": "detail"})
    assert "操作失败" in r.text and "处置过程" in r.text  # stays on the alarm's page
    client.post(f"/console/alarms/{aid}/clear", data={"csrf": csrf, "text": "误报：厨房油烟", "back": "detail"})
    html = client.get(f"/console/alarms/{aid}").text
    order = [html.index(x) for x in ("紧急告警产生", "级别变化", "网格员已到场", "确认：收到", "清除：误报：厨房油烟")]
    assert order == sorted(order)
    assert client.get("/console/alarms/999999").status_code == 404


def test_alarm_detail_street_scope(client, auth_headers, make_user, db):
    _, aid = _alarm(db, client, auth_headers("admin"))  # 华阳路街道
    _console(client, make_user, "street", "310105004")
    assert client.get(f"/console/alarms/{aid}").status_code == 404
    html = client.get("/console/alarms").text
    assert f'id="alarm-{aid}"' not in html
    _console(client, make_user, "street", "310105001")
    assert client.get(f"/console/alarms/{aid}").status_code == 200
    _console(client, make_user, "auditor")
    html = client.get(f"/console/alarms/{aid}").text
    assert "处置过程" in html and 'id="comment-form"' not in html  # auditors read only


def test_problem_details_are_chinese(client, auth_headers, db):
    h = auth_headers("admin")
    r = client.post("/api/v1/alarms/999999/ack", json={}, headers=h)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "告警 999999 不存在"
    _, aid = _alarm(db, client, h)
    assert client.post(f"/api/v1/alarms/{aid}/ack", json={}, headers=h).status_code == 200
    r = client.post(f"/api/v1/alarms/{aid}/ack", json={}, headers=h)
    assert r.status_code == 409 and r.json()["detail"] == f"告警 {aid} 的状态为 acknowledged，只有 active 状态的告警才能确认"
    r = client.post(f"/api/v1/alarms/{aid}/clear", json={"reason": " "}, headers=h)
    assert r.status_code == 422 and r.json()["detail"] == "手动清除告警需要填写原因"
