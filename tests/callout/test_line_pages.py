"""Console page 线路状态 (CALL-3) over HTTP: status lights, caller-ID marking in red, add / edit
forms with errors, check and test call now against the SIP gateway simulator, manual marking,
settings for admins only, read-only roles, CSRF."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from cityops.callout import lines
from cityops.core.timeutil import utcnow
from cityops.sim.sip_gateway import Script, SipGatewaySim, serve
from tests.conftest import PASSWORD

URL = "/console/callout/lines"


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    name = make_user(role, street)
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code in (200, 303)
    return name


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def gateway():
    sim = SipGatewaySim(hangup_after_s=0.3, http=True, scripts={"13900000001": Script(dtmf="1"),
                                                                "13900000002": Script(code=486)})
    with serve(sim) as served:
        yield sim, served


def _device(s, gw, **kw):
    return lines.create_device(s, data={"name": "SMG-1", "host": gw.host, "sip_port": gw.port, "ports": 30,
                                        "line_group": "hotline", "http_status_url": gw.status_url,
                                        "test_number": "13900000001", **kw})


def test_add_device_and_caller_id_with_errors(client, make_user, db):
    _login(client, make_user, "manager")
    html = client.get(URL).text
    assert "线路状态" in html and "还没有登记语音网关" in html and "添加语音网关或 IP 话机" in html
    assert 'id="line-settings"' not in html  # admins only
    csrf = _csrf(html)
    form = {"csrf": csrf, "kind": "gateway", "name": "SMG-1", "model": "SMG1000-D40", "host": "10.1.2.3",
            "sip_port": "5060", "ports": "999", "line_group": "hotline", "password": "pw", "enabled": "1"}
    r = client.post(f"{URL}/gateways", data=form)
    assert r.status_code == 422 and "未能添加" in r.text and "1～480" in r.text and 'value="10.1.2.3"' in r.text
    assert 'value="pw"' not in r.text  # the password is never echoed
    r = client.post(f"{URL}/gateways", data={**form, "ports": "30"}, follow_redirects=True)
    assert r.status_code == 200 and "已添加语音网关「SMG-1」" in r.text and "未检查" in r.text
    with db.session() as s:
        [d] = lines.list_devices(s)
        assert d.password == "pw" and d.enabled
    html = client.get(URL, params={"edit": d.id}).text
    assert "编辑设备「SMG-1」" in html and "不修改请留空" in html
    r = client.post(f"{URL}/gateways/{d.id}", data={**form, "ports": "16", "password": ""}, follow_redirects=True)
    assert "已保存「SMG-1」" in r.text
    with db.session() as s:
        d = lines.get_device(s, d.id)
        assert d.ports == 16 and d.password == "pw"
    r = client.post(f"{URL}/gateways/{d.id}", data={**form, "ports": "16", "enabled": ""}, follow_redirects=True)
    assert "已停用" in r.text
    r = client.post(f"{URL}/caller-ids", data={"csrf": csrf, "number": "110"})
    assert r.status_code == 422 and "外显号码无效" in r.text
    r = client.post(f"{URL}/caller-ids", data={"csrf": csrf, "number": "021-62380001", "carrier": "电信"},
                    follow_redirects=True)
    assert "已添加外显号码 02162380001" in r.text and "未查询" in r.text
    assert client.post(f"{URL}/caller-ids", data={"csrf": "forged", "number": "02162380002"}).status_code == 403
    r = client.post(f"{URL}/gateways/{d.id}/delete", data={"csrf": csrf}, follow_redirects=True)
    assert "已删除该设备" in r.text


def test_check_test_call_and_health_view(client, make_user, db, gateway):
    _sim, gw = gateway
    with db.session() as s:
        d = _device(s, gw)
        down = lines.create_device(s, data={"name": "SMG-2", "host": "10.9.9.9", "ports": 8})
        down.state, down.state_since = "down", utcnow() - timedelta(hours=1)
        lines.update_settings(s, by="t", changes={"test_max_call_s": 1})
        ids = d.id, down.id
    _login(client, make_user, "duty")
    html = client.get(URL).text
    csrf = _csrf(html)
    assert 'id="count-down">1<' in html and 'data-state="down"' in html
    assert "编辑" not in html.split('id="line-devices"')[1].split("</table>")[0]  # duty: checks, no edits
    r = client.post(f"{URL}/gateways/{ids[0]}/check", data={"csrf": csrf}, follow_redirects=True)
    assert "「SMG-1」在线：SIP OPTIONS 正常（200）" in r.text and "状态页正常（HTTP 200）" in r.text
    assert "0 / 30" in r.text  # ports in use from the status page
    r = client.post(f"{URL}/gateways/{ids[0]}/test-call", data={"csrf": csrf}, follow_redirects=True)
    assert "测试呼叫通过" in r.text and "100%" in r.text and "1/1 次" in r.text
    with db.session() as s:
        lines.update_device(s, ids[0], data={"test_number": "13900000002"})
    r = client.post(f"{URL}/gateways/{ids[0]}/test-call", data={"csrf": csrf}, follow_redirects=True)
    assert "测试呼叫未通过：忙（SIP 486）" in r.text and "50%" in r.text
    r = client.get(URL, params={"kind": "test_call"})
    hist = r.text.split('id="line-history"')[1]
    assert hist.count("测试呼叫") == 2 and "SIP 探测" not in hist
    assert client.post(f"{URL}/gateways/999/check", data={"csrf": csrf}, follow_redirects=True).status_code == 200
    assert client.post(f"{URL}/gateways", data={"csrf": csrf, "name": "x", "host": "1.2.3.4"}).status_code == 403


def test_marking_in_red_and_manual_entry(client, make_user, db):
    with db.session() as s:
        c = lines.create_caller_id(s, data={"number": "02162380002", "line_group": "hotline"})
        cid = c.id
    _login(client, make_user, "duty")
    csrf = _csrf(client.get(URL).text)
    r = client.post(f"{URL}/caller-ids/{cid}/marking", data={"csrf": csrf, "marked": "1", "label": "",
                                                              "count": ""}, follow_redirects=True)
    assert "未能记录：请填写标记类型" in r.text
    r = client.post(f"{URL}/caller-ids/{cid}/marking", data={"csrf": csrf, "marked": "1", "label": "广告推销",
                                                              "count": "12", "app": "360手机卫士"}, follow_redirects=True)
    assert "已记录标记情况" in r.text
    row = r.text.split(f'id="caller-{cid}"')[1].split("</tr>")[0]
    assert 'class="marked"' in r.text and "marked-label" in row and "广告推销" in row and "12 人标记" in row and "起" in row
    assert 'id="count-marked">1<' in r.text
    r = client.post(f"{URL}/caller-ids/{cid}/query", data={"csrf": csrf}, follow_redirects=True)
    assert "尚未配置标记查询服务" in r.text
    r = client.post(f"{URL}/caller-ids/{cid}/marking", data={"csrf": csrf, "marked": "0"}, follow_redirects=True)
    assert "已记录为未标记" in r.text and 'id="count-marked">0<' in r.text


def test_read_only_roles_and_masking(client, make_user, db):
    with db.session() as s:
        lines.create_caller_id(s, data={"number": "13912345678"})
        lines.create_device(s, data={"name": "SMG-1", "host": "10.1.2.3", "test_number": "13900000001"})
    _login(client, make_user, "auditor")
    html = client.get(URL).text
    assert "139****5678" in html and "13912345678" not in html and "139****0001" in html
    assert "立即检查" not in html and "添加外显号码" not in html
    _login(client, make_user, "street", "310105001")
    assert client.get(URL).status_code == 403


def test_admin_settings_form(client, make_user, db):
    _login(client, make_user, "admin")
    html = client.get(URL).text
    assert 'id="line-settings"' in html
    csrf = _csrf(html)
    r = client.post(f"{URL}/settings", data={"csrf": csrf, "marking_base_url": "http://127.0.0.1:9/mark",
                                              "marking_api_key": "k-1", "notify_team": "", "notify_channels": "",
                                              "test_interval_h": "12"}, follow_redirects=True)
    assert "已保存线路设置" in r.text and "已设置，不修改请留空" in r.text and "k-1" not in r.text
    r = client.post(f"{URL}/settings", data={"csrf": csrf, "marking_base_url": "http://127.0.0.1:9/mark",
                                              "notify_team": "ghost", "test_interval_h": "12"}, follow_redirects=True)
    assert "未能保存设置：值班组「ghost」不存在" in r.text
    with db.session() as s:
        cfg = lines.get_settings(s)
        assert cfg["marking_api_key"] == "k-1" and cfg["test_interval_h"] == 12 and cfg["notify_team"] == ""
