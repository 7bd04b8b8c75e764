"""Console pages for notifications (IOT-5 / OPS-3): the notification log with its state
filter and retry button, and the policy/channel editor (forms with CSRF)."""

from __future__ import annotations

import re

from cityops.monitoring import service as alarms
from cityops.notify import jobs
from cityops.notify import service as notify
from tests.conftest import PASSWORD
from tests.notify.conftest import T0, chain


def _login(client, make_user, role):
    client.cookies.clear()
    client.post("/login", data={"username": make_user(role), "password": PASSWORD})


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_notification_log_page_and_retry(client, make_user, db, world, sim):
    with db.session() as s:
        notify.create_policy(s, **chain(world))
        alarms.raise_alarm(s, device_id=world["device"], alarm_type="smoke_alarm", severity="critical",
                           source="vendor", message="烟雾报警", at=T0)
    sim.fail("wecom", "invalid_key")
    jobs.run(db, now=T0)
    _login(client, make_user, "duty")
    html = client.get("/console/notifications").text
    assert "通知记录" in html and "hx-trigger=\"every 10s\"" in html and "93000" in html and "重发" in html
    assert "张三 @zhangsan" in html and "第 1 轮 · 第 1 级" in html
    assert "没有通知记录" in client.get("/console/notifications?state=sent").text
    mid = re.search(r'/console/notifications/(\d+)/retry', html).group(1)
    r = client.post(f"/console/notifications/{mid}/retry", data={"csrf": _csrf(html)}, follow_redirects=False)
    assert r.status_code == 303
    again = client.post(f"/console/notifications/{mid}/retry", data={"csrf": _csrf(html)})
    assert "重发失败" in again.text
    _login(client, make_user, "auditor")
    html = client.get("/console/notifications").text
    assert "华阳路101弄3号楼烟感" in html and "张三 @zhangsan" in html
    assert "/retry" not in html
    _login(client, make_user, "technician")
    assert client.get("/console/notifications").status_code == 403


def test_policy_editor_creates_and_edits_a_chain(client, make_user, db, world):
    _login(client, make_user, "manager")
    html = client.get("/console/notify-policies").text
    assert "尚未配置通知策略" in html and "值班群" in html and "duty-room" not in html
    csrf = _csrf(html)
    form = {"csrf": csrf, "name": "夜间低级别告警", "position": "10", "min_severity": "warning", "enabled": "on",
            "quiet_start": "22:00", "quiet_end": "07:00", "quiet_max_severity": "warning", "repeat": "1",
            "s1_targets": ["team:centre"], "s1_channels": [str(world["wecom"])], "s1_wait": "5",
            "s2_targets": ["manager:centre", f"contact:{world['li']}"], "s2_channels": [str(world["sms"])],
            "s2_wait": "15"}
    r = client.post("/console/notify-policies", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.session() as s:
        [p] = notify.list_policies(s)
        assert p.steps[1]["targets"] == [{"kind": "manager", "team": "centre"},
                                         {"kind": "contact", "contact_id": world["li"]}]
        assert p.quiet_start == "22:00" and p.repeat == 1
    html = client.get(f"/console/notify-policies?edit={p.id}").text
    assert "编辑策略：夜间低级别告警" in html and 'value="manager:centre" selected' in html
    r = client.post(f"/console/notify-policies/{p.id}", data={**form, "quiet_end": ""})
    assert "保存失败" in r.text  # quiet hours need both ends
    r = client.post(f"/console/notify-policies/{p.id}", data={**form, "name": "夜间告警"}, follow_redirects=False)
    assert r.status_code == 303
    assert "夜间告警" in client.get("/console/notify-policies").text

    r = client.post("/console/notify-channels", data={"csrf": csrf, "kind": "sms", "name": "坏配置",
                                                      "settings": "{not json"})
    assert "保存失败" in r.text
    r = client.post(f"/console/notify-channels/{world['wecom']}/test", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/console/notify-channels/{world['wecom']}/disable", data={"csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.post("/console/notify-policies", data={**form, "csrf": "forged"}).status_code == 403

    _login(client, make_user, "duty")
    html = client.get("/console/notify-policies").text
    assert "夜间告警" in html and "policy-form" not in html
    assert client.post("/console/notify-policies", data=form).status_code == 403
