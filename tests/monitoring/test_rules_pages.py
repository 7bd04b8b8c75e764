"""Console page 告警规则 (IOT-5): list, create with the guided threshold form and with raw JSON,
edit, switch off, delete, a device's effective rules with their layer, read-only roles."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD


def _login(client, make_user, role, street=None) -> str:
    client.cookies.clear()
    client.post("/login", data={"username": make_user(role, street), "password": PASSWORD})
    html = client.get("/console/rules").text
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _device(db, ext="page-1") -> int:
    from cityops.devices import service as devices

    with db.session() as s:
        return devices.create_device(s, name="机房烟感", external_id=ext, lon=121.420, lat=31.222,
                                     product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id).id


def test_guided_form_json_edit_toggle_delete(client, make_user, db):
    did = _device(db)
    csrf = _login(client, make_user, "technician")
    page = client.get("/console/rules").text
    assert "告警规则" in page and "还没有规则覆盖" in page and 'href="/console/rules"' in page
    r = client.post("/console/rules", data={
        "csrf": csrf, "scope_kind": "device", "scope_value": str(did), "mode": "replace",
        "rule_id": "range:temperature:max", "alarm_type": "温度超上限", "property": "temperature", "op": ">=",
        "value": "45", "clear_value": "40", "for_s": "60", "severity": "major", "note": "机房旁", "enabled": "1"},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert "已创建规则覆盖" in page and "temperature &gt;= 45.0（低于 40.0 恢复），持续 60s → 温度超上限（重要）" in page
    ov_id = int(re.search(r'id="override-(\d+)"', page).group(1))
    # raw JSON for a non-threshold rule
    stale = ('{"id": "stale:temperature", "alarm_type": "温度无更新", "severity": "info",'
             ' "condition": {"kind": "stale", "property": "temperature", "after_s": 7200}}')
    r = client.post("/console/rules", data={"csrf": csrf, "scope_kind": "product", "scope_value": "SMOKE-NB-CTW",
                                            "mode": "add", "rule_json": stale, "enabled": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    # a broken form is answered in Chinese, with the values kept
    r = client.post("/console/rules", data={"csrf": csrf, "scope_kind": "product", "scope_value": "SMOKE-NB-CTW",
                                            "mode": "add", "rule_json": "{oops", "note": "留着"})
    assert r.status_code == 422 and "保存失败：JSON 格式错误" in r.text and 'value="留着"' in r.text
    r = client.post("/console/rules", data={"csrf": csrf, "scope_kind": "device", "scope_value": str(did),
                                            "mode": "add", "rule_id": "x", "property": "temperature"})
    assert "阈值规则需要填写：告警类型、阈值" in r.text
    # edit: the guided form comes back filled in
    page = client.get(f"/console/rules?edit={ov_id}").text
    assert f"编辑规则覆盖 #{ov_id}" in page and 'name="value" value="45.0"' in page
    r = client.post("/console/rules", data={
        "csrf": csrf, "override_id": str(ov_id), "mode": "replace", "rule_id": "range:temperature:max",
        "alarm_type": "温度超上限", "property": "temperature", "op": ">=", "value": "50", "severity": "critical",
        "enabled": "1"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/console/rules?device_id={did}").text
    effective = page.split('id="effective-table"')[1]
    assert "设备覆盖" in effective and "temperature &gt;= 50.0" in effective and "stale:temperature" in effective
    assert "产品覆盖" in effective and "产品默认" in effective
    assert client.post(f"/console/rules/{ov_id}/toggle", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert "已停用" in client.get("/console/rules").text.split(f'id="override-{ov_id}"')[1].split("</tr>")[0]
    assert client.post(f"/console/rules/{ov_id}/delete", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert f'id="override-{ov_id}"' not in client.get("/console/rules").text
    assert client.post(f"/console/rules/{ov_id}/delete", data={"csrf": "forged"}).status_code == 403


def test_read_only_roles_and_street_scope(client, make_user, db):
    did = _device(db, "page-2")
    _login(client, make_user, "duty")
    page = client.get(f"/console/rules?device_id={did}").text
    assert "新建规则覆盖" not in page and "low_battery" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/console/rules", data={"csrf": csrf, "scope_kind": "device", "scope_value": str(did),
                                               "mode": "disable", "rule_id": "low_battery"}).status_code == 403
    _login(client, make_user, "street", "310105004")
    assert "找不到设备" in client.get(f"/console/rules?device_id={did}").text
    _login(client, make_user, "street", "310105001")
    assert "low_battery" in client.get(f"/console/rules?device_id={did}").text
