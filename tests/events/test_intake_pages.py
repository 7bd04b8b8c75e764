"""Console page 立案策略 (IOT-6, IOT-7, SYS-DISPATCH): policies in the order tried, create /
edit / disable / delete with CSRF, vision mappings, recent alarm → event decisions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from cityops.devices import service as devices
from cityops.events import intake
from cityops.monitoring import service as monitoring
from tests.conftest import PASSWORD
from tests.events.helpers import street_point


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    r = client.post("/login", data={"username": make_user(role, street), "password": PASSWORD})
    assert r.status_code in (200, 303)


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_page_lists_policies_mappings_and_links(client, make_user, db):
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    with db.session() as s:
        intake.seed_intake(s)
        _, lon, lat = street_point(s)
        dev = devices.create_device(s, name="烟感-仙霞路", product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                                    external_id="page-1", lon=lon, lat=lat)
        monitoring.raise_alarm(s, device_id=dev.id, alarm_type="烟雾报警", severity="critical", source="vendor", at=t0)
        monitoring.raise_alarm(s, device_id=dev.id, alarm_type="offline", severity="warning", source="liveness", at=t0)
        intake.process_alarms(s)
        code = dev.code
    _login(client, make_user, "auditor")
    html = client.get("/console/event-intake").text
    assert "立案策略" in html and "道路积水超限" in html and "自动立案并派遣" in html
    assert html.index("设备离线/静默不立案") < html.index("道路积水超限")  # in the order tried
    assert "暴露垃圾" in html and "0.60" in html  # vision mappings
    assert code in html and "已生成事件" in html and "不生成事件" in html and "CN" in html  # recent decisions
    assert 'action="/console/event-intake/policies"' not in html  # readers get no forms
    assert client.post("/console/event-intake/policies", data={"csrf": "x", "name": "n"}).status_code == 403


def test_manager_creates_edits_disables_and_deletes(client, make_user, db):
    with db.session() as s:
        intake.seed_intake(s)
    _login(client, make_user, "manager")
    html = client.get("/console/event-intake").text
    csrf = _csrf(html)
    form = {"name": "噪声超标", "priority": "10", "alarm_type": "等效声级*", "min_severity": "warning",
            "device_type": "noise", "action": "event", "category_code": "080101", "min_active_s": "600",
            "verify_hold_min": "20", "auto_accept": "1", "enabled": "1"}
    assert client.post("/console/event-intake/policies", data=form).status_code == 422  # no CSRF field
    r = client.post("/console/event-intake/policies", data={**form, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    html = client.get(r.headers["location"]).text
    assert "已创建立案策略“噪声超标”" in html and "080101" in html
    with db.session() as s:
        p = next(x for x in intake.list_policies(s) if x.name == "噪声超标")
        assert (p.min_active_s, p.verify_hold_min, p.auto_accept, p.device_type) == (600, 20, True, "noise")
        pid = p.id
    r = client.post("/console/event-intake/policies", data={**form, "csrf": csrf, "policy_id": str(pid),
                                                           "category_code": "08"})
    assert r.status_code == 422 and "保存失败" in r.text and "细类" in r.text
    r = client.post(f"/console/event-intake/policies/{pid}/toggle", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        assert intake.get_policy(s, pid).enabled is False
    edit = client.get(f"/console/event-intake?edit={pid}").text
    assert "编辑立案策略“噪声超标”" in edit and 'value="600"' in edit
    r = client.post(f"/console/event-intake/policies/{pid}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/console/event-intake/mappings", data={"csrf": csrf, "detection_type": "乱晾晒",
                                                           "category_code": "010302", "min_confidence": "0.65",
                                                           "enabled": "1"}, follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        assert all(p.name != "噪声超标" for p in intake.list_policies(s))
        m = next(m for m in intake.list_mappings(s) if m.detection_type == "乱晾晒")
        assert m.min_confidence == 0.65 and m.category_code == "010302"


def test_duty_reads_but_cannot_edit(client, make_user, db):
    _login(client, make_user, "duty")
    assert client.get("/console/event-intake").status_code == 200
    _login(client, make_user, "street", "310105001")
    assert client.get("/console/event-intake").status_code == 403


def test_verification_card_renders(db):
    """The 核查记录 card the event page includes (events/intake_verifications.html)."""
    from cityops.events import lifecycle, service, verify
    from cityops.web.shell import templates

    with db.session() as s:
        _, lon, lat = street_point(s)
        ev = service.create_event(s, category_code="010101", title="热线：暴露垃圾", lon=lon, lat=lat,
                                  source_kind="hotline", created_by="hotline")
        for to in ("accepted", "dispatched", "in_progress", "disposed"):
            lifecycle.transition(s, ev.id, to, actor="duty1", role="duty")
        verify.record_callback_result(s, ev.id, satisfied=False, note="垃圾还在", actor="callout")
        rows = verify.verifications(s, ev.id)
    html = templates.get_template("events/intake_verifications.html").render(verifications=rows)
    assert "核查记录（1）" in html and "回访" in html and "未通过" in html and "垃圾还在" in html
    assert "还没有核查记录" in templates.get_template("events/intake_verifications.html").render(verifications=[])
