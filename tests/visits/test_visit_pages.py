"""Console 参观接待 over HTTP (VISIT-1): create with errors beside the form, calendar and list,
detail with the freeze window, manual pre-visit check, record form."""

from __future__ import annotations

import re
from datetime import timedelta

from cityops.core.timeutil import local, utcnow
from tests.inspections.test_checklist_pages import _csrf, _login


def test_create_check_and_record_a_visit(client, make_user, db):
    _login(client, make_user, "manager", "王经理")
    html = client.get("/console/visits").text
    assert "参观接待" in html and "登记参观接待" in html
    start = local(utcnow() - timedelta(hours=1))
    data = {"csrf": _csrf(html), "title": "区领导调研", "organisation": "区政府办", "visitor_count": "8", "host": "王经理",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"), "ends_at": start.strftime("%Y-%m-%dT%H:%M"),
            "check_hours": "24, 2", "system_codes": ["SYS-EYE"]}
    r = client.post("/console/visits", data=data)
    assert r.status_code == 422 and "结束时间须晚于开始时间" in r.text and 'value="区领导调研"' in r.text
    data["ends_at"] = (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    r = client.post("/console/visits", data=data)
    assert r.status_code == 200 and "已登记参观接待「区领导调研」" in r.text
    assert "封网中" in r.text  # started an hour ago, freeze runs from 08:00 (or the start) to its end
    url = re.search(r'action="(/console/visits/\d+)/check"', r.text).group(1)
    r = client.post(f"{url}/check", data={"csrf": _csrf(r.text)})
    assert "尚未配置" in r.text
    listing = client.get("/console/visits").text
    assert "区领导调研" in listing and 'id="freeze-banner"' in listing
    _login(client, make_user, "duty", "值班员丙")
    html = client.get(url).text
    assert "填写接待记录" in html and 'id="edit-form"' not in html  # duty records but does not edit
    r = client.post(f"{url}/record", data={"csrf": _csrf(html), "outcome": ""})
    assert r.status_code == 422 and "请填写接待结果" in r.text
    r = client.post(f"{url}/record", data={"csrf": _csrf(html), "outcome": "顺利完成", "issues": "", "notes": "好评"})
    assert "已保存接待记录" in r.text and "顺利完成" in r.text and 'id="run-check"' not in r.text
    _login(client, make_user, "auditor")
    html = client.get(url).text
    assert "顺利完成" in html and "立即执行参观前检查" not in html
    _login(client, make_user, "technician")
    assert client.post("/console/visits", data={**data, "csrf": _csrf(client.get("/console/visits").text)}).status_code == 403
