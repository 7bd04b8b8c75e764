"""Service-desk console pages (OPS-3) over HTTP: the list with SLA badges and the hotline form
(errors shown beside it), the ticket page with the actions its state and role allow, the SLA
page (manager edits, others read), CSRF and masking."""

from __future__ import annotations

import re

from cityops.servicedesk import service as desk
from tests.conftest import PASSWORD

URL = "/console/tickets"


def _login(client, make_user, role, username=None):
    client.cookies.clear()
    name = make_user(role, username=username)
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code in (200, 303)
    return name


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_hotline_form_creates_and_errors_show_beside_it(client, make_user):
    _login(client, make_user, "duty")
    page = client.get(URL)
    assert page.status_code == 200 and "热线快速登记" in page.text
    csrf = _csrf(page.text)
    r = client.post(URL, data={"csrf": csrf, "title": "", "reporter": "周女士"}, follow_redirects=False)
    assert r.status_code == 422 and "未能登记" in r.text and "周女士" in r.text, "the typed values are kept"
    r = client.post(URL, data={"csrf": csrf, "title": "城区之眼无法调阅", "reporter": "周女士",
                               "reporter_phone": "13811112222", "impact": "1", "urgency": "1"},
                    follow_redirects=False)
    assert r.status_code == 303 and "/console/tickets/" in r.headers["location"]
    detail = client.get(r.headers["location"])
    assert "已登记工单 GD" in detail.text and "13811112222" in detail.text and "P1" in detail.text
    assert 'id="btn-start"' in detail.text
    listing = client.get(URL)
    assert "城区之眼无法调阅" in listing.text and "sla-badge" in listing.text
    assert client.post(URL, data={"csrf": "forged", "title": "x"}).status_code == 403


def test_actions_follow_state_and_role(client, make_user, db):
    with db.session() as s:
        tid = desk.open_ticket(s, title="网格平台白屏", reporter_phone="13811112222").id
    _login(client, make_user, "auditor")
    page = client.get(f"{URL}/{tid}")
    assert page.status_code == 200 and 'id="actions"' not in page.text
    assert "138****2222" in page.text and "13811112222" not in page.text
    tech = _login(client, make_user, "technician")
    page = client.get(f"{URL}/{tid}")
    assert 'id="btn-start"' in page.text and 'id="btn-assign"' not in page.text
    csrf = _csrf(page.text)
    r = client.post(f"{URL}/{tid}/act/close", data={"csrf": csrf}, follow_redirects=False)
    assert "kind=error" in r.headers["location"]
    r = client.post(f"{URL}/{tid}/act/start", data={"csrf": csrf}, follow_redirects=True)
    assert "已受理，当前状态：处理中" in r.text and tech in r.text
    r = client.post(f"{URL}/{tid}/act/resolve", data={"csrf": csrf, "text": ""}, follow_redirects=True)
    assert "解决工单须填写解决方案" in r.text
    r = client.post(f"{URL}/{tid}/act/pend", data={"csrf": csrf, "reason": "等待用户"}, follow_redirects=True)
    assert 'data-state="pending"' in r.text and "已暂停计时" in r.text


def test_sla_page_is_read_only_except_for_managers(client, make_user):
    _login(client, make_user, "duty")
    page = client.get(f"{URL}/sla")
    assert page.status_code == 200 and "优先级矩阵" in page.text and "save-P1" not in page.text
    _login(client, make_user, "manager")
    page = client.get(f"{URL}/sla")
    csrf = _csrf(page.text)
    r = client.post(f"{URL}/sla/targets/P2", data={"csrf": csrf, "response_min": "20", "resolution_min": "480",
                                                   "calendar_mode": "24x7", "warn_at_pct": "75"},
                    follow_redirects=True)
    assert "已保存 P2" in r.text
    r = client.post(f"{URL}/sla/escalation/P2", data={"csrf": csrf, "steps": "[{", "enabled": "1"})
    assert r.status_code == 422 and "JSON" in r.text and "[{" in r.text
    r = client.post(f"{URL}/sla/targets/P2", data={"csrf": csrf, "response_min": "600", "resolution_min": "60"})
    assert r.status_code == 422 and "响应时限不能长于解决时限" in r.text


def test_alarm_page_turns_the_alarm_into_one_ticket(client, make_user, db):
    """OPS-3 intake from monitoring: 转服务台工单 on the alarm page; asking twice opens the same one;
    roles outside the desk do not get the button."""
    from cityops.devices import service as devices
    from cityops.monitoring import service as monitoring

    with db.session() as s:
        dev = devices.create_device(s, name="烟感-9", product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                                    external_id="sd-page-1")
        alarm_id = monitoring.raise_alarm(s, device_id=dev.id, alarm_type="smoke", severity="critical",
                                          source="vendor").id
    _login(client, make_user, "technician")
    assert "转服务台工单" not in client.get(f"/console/alarms/{alarm_id}").text
    _login(client, make_user, "duty")
    page = client.get(f"/console/alarms/{alarm_id}").text
    assert "转服务台工单" in page
    r = client.post(f"/console/alarms/{alarm_id}/ticket", data={"csrf": _csrf(page), "back": "detail"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/tickets/")
    ticket = client.get(r.headers["location"]).text
    assert "已转服务台工单 GD" in ticket
    again = client.post(f"/console/alarms/{alarm_id}/ticket", data={"csrf": _csrf(page), "back": "detail"},
                        follow_redirects=False)
    assert again.headers["location"].split("?")[0] == r.headers["location"].split("?")[0]
    with db.session() as s:
        assert desk.ticket_from_alarm(s, alarm_id, "x").alarm_id == alarm_id
