"""Console 巡检计划 over HTTP (OPS-1): create a plan with errors shown, the calendar and today's
runs, a run's detail with a real probe result, manual items, sign-off and the printable record."""

from __future__ import annotations

import re
import socket

from cityops.core.timeutil import utcnow
from cityops.inspections import plan_service, probe_service
from tests.inspections.test_checklist_pages import _csrf, _login


def test_manager_creates_a_plan_and_errors_are_shown(client, make_user, db):
    _login(client, make_user, "manager")
    html = client.get("/console/inspection-plans").text
    assert "巡检计划" in html and "新建巡检计划" in html
    data = {"csrf": _csrf(html), "name": "周二巡检", "schedule": "weekly", "at_time": "10:00", "manual_items": "核对备份"}
    r = client.post("/console/inspection-plans", data=data)
    assert r.status_code == 422 and "每周巡检请至少选择一天" in r.text and 'value="周二巡检"' in r.text
    r = client.post("/console/inspection-plans", data={**data, "weekdays": ["2"], "active": "on"})
    assert r.status_code == 200 and "已保存巡检计划「周二巡检」" in r.text and "每周二 10:00" in r.text
    _login(client, make_user, "technician")
    html = client.get("/console/inspection-plans").text
    assert "新建巡检计划" not in html
    assert client.post("/console/inspection-plans", data={**data, "csrf": _csrf(html)}).status_code == 403


def test_run_detail_manual_items_sign_and_print(client, make_user, db):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        with db.session() as s:
            pid = probe_service.create_probe(s, {"name": "本机端口", "kind": "tcp", "timeout_s": 2,
                                                 "target": f"127.0.0.1:{listener.getsockname()[1]}"}).id
            plan = plan_service.create_plan(s, {"name": "即时巡检", "at_time": "00:00", "probe_ids": [pid],
                                                "manual_items": ["大屏正常"]})
            run = plan_service.start_run(s, plan, plan_service.slot_of(plan, plan_service.local(utcnow()).date()),
                                         now=utcnow())
            run_id = run.id
    finally:
        listener.close()
    _login(client, make_user, "duty", "值班员乙")
    html = client.get("/console/inspection-plans").text
    assert "即时巡检" in html and f"/console/inspection-plans/runs/{run_id}" in html
    url = f"/console/inspection-plans/runs/{run_id}"
    html = client.get(url).text
    assert "本机端口" in html and "正常" in html
    r = client.post(f"{url}/sign", data={"csrf": _csrf(html), "name": "值班员乙", "conclusion": "normal"})
    assert r.status_code == 422 and "尚未完成" in r.text
    r = client.post(f"{url}/manual", data={"csrf": _csrf(html), "index": "0", "ok": "0", "note": ""})
    assert r.status_code == 422 and "异常时请说明" in r.text
    client.post(f"{url}/manual", data={"csrf": _csrf(html), "index": "0", "ok": "1"})
    r = client.post(f"{url}/sign", data={"csrf": _csrf(html), "name": "值班员乙", "conclusion": "normal",
                                         "remarks": "正常"})
    assert "已签字确认" in r.text and re.search(r"值班员乙 于 .* 签字确认", r.text)
    r = client.post(f"{url}/manual", data={"csrf": _csrf(html), "index": "0", "ok": "1"})
    assert r.status_code == 409 and "不可再修改" in r.text
    printed = client.get(f"{url}/print").text
    assert "例行巡检记录" in printed and "本机端口" in printed and "值班员乙" in printed
