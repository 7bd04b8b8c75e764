"""Console pages 维护计划 and 维护日志 over HTTP (OPS-2, SVC-2): roles, forms with errors beside
them, CSRF, done/skip, free entries, corrections, admin delete, search paging, CSV and the
half-year download."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from cityops.core.timeutil import local, utcnow
from cityops.maintenance import tasks
from cityops.maintenance.log import add_entry
from cityops.maintenance.log_models import LogEntry
from cityops.maintenance.models import MaintenancePlan, MaintenanceTask
from tests.conftest import PASSWORD

PLANS = "/console/maintenance-plans"
LOG = "/console/maintenance-log"


def _login(client, make_user, role):
    client.cookies.clear()
    name = make_user(role)
    assert client.post("/login", data={"username": name, "password": PASSWORD}).status_code in (200, 303)
    return name


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_plan_form_errors_and_create(client, make_user, db):
    _login(client, make_user, "manager")
    html = client.get(PLANS).text
    assert "维护计划" in html and 'id="plan-form"' in html
    csrf = _csrf(html)
    form = {"csrf": csrf, "name": "数据库巡检", "layer": "database", "system_code": "SYS-DUTY", "title": "表空间检查",
            "steps": "表空间\n慢查询", "frequency": "weekly", "at_time": "10:00", "month_day": "1",
            "expected_minutes": "30", "enabled": "1"}
    r = client.post(PLANS, data=form)
    assert r.status_code == 422 and "未能添加" in r.text and "星期" in r.text
    assert 'value="数据库巡检"' in r.text, "the form keeps what was typed"
    assert client.post(PLANS, data={**form, "csrf": "forged", "weekdays": ["2"]}).status_code == 403
    r = client.post(PLANS, data={**form, "weekdays": ["2", "5"]}, follow_redirects=True)
    assert r.status_code == 200 and "已添加维护计划「数据库巡检」（每周二、五 10:00）" in r.text
    with db.session() as s:
        plan = s.scalar(select(MaintenancePlan).where(MaintenancePlan.name == "数据库巡检"))
        assert plan.steps == ["表空间", "慢查询"] and plan.enabled
    r = client.get(f"{PLANS}?edit={plan.id}")
    assert "编辑计划「数据库巡检」" in r.text and "接下来 5 次" in r.text
    r = client.post(f"{PLANS}/{plan.id}", data={**form, "weekdays": ["2"], "enabled": ""}, follow_redirects=True)
    assert "已保存" in r.text
    with db.session() as s:
        assert s.get(MaintenancePlan, plan.id).enabled is False


def test_duty_completes_and_skips_tasks_on_the_page(client, make_user, db):
    _login(client, make_user, "manager")
    csrf = _csrf(client.get(PLANS).text)
    client.post(f"{PLANS}/seed", data={"csrf": csrf})
    with db.session() as s:
        tasks.generate(s, now=local(utcnow()).replace(hour=23, minute=0) + timedelta(days=1))
        ids = [t.id for t in s.scalars(select(MaintenanceTask).order_by(MaintenanceTask.id))]
    assert len(ids) >= 2
    name = _login(client, make_user, "duty")
    html = client.get(PLANS).text
    assert 'id="seed-plans"' not in html, "duty officers do not edit plans"
    csrf = _csrf(html)
    r = client.post(f"/console/maintenance-tasks/{ids[0]}/done", data={"csrf": csrf, "result": ""},
                    follow_redirects=True)
    assert "未能完成任务：请填写处理结果" in r.text
    r = client.post(f"/console/maintenance-tasks/{ids[0]}/done",
                    data={"csrf": csrf, "result": "正常", "ticks": ["0", "1"], "actual_minutes": "15"},
                    follow_redirects=True)
    assert "已完成" in r.text
    r = client.post(f"/console/maintenance-tasks/{ids[1]}/skip", data={"csrf": csrf, "reason": ""},
                    follow_redirects=True)
    assert "跳过任务须填写原因" in r.text
    r = client.post(f"/console/maintenance-tasks/{ids[1]}/skip", data={"csrf": csrf, "reason": "停机窗口"},
                    follow_redirects=True)
    assert "已跳过" in r.text and 'id="recent-' in r.text
    with db.session() as s:
        authors = {e.author for e in s.scalars(select(LogEntry).where(LogEntry.kind == "task"))}
        assert authors == {name}
    _login(client, make_user, "auditor")
    html = client.get(PLANS).text
    assert "完成并记入日志" not in html
    assert client.post(f"/console/maintenance-tasks/{ids[0]}/done", data={"csrf": _csrf(html), "result": "x"}
                       ).status_code == 403


def test_log_page_day_view_entries_corrections_delete(client, make_user, db):
    at = utcnow() - timedelta(days=1)
    with db.session() as s:
        old = add_entry(s, kind="fault", source="fault", source_ref="3", summary="视频平台存储告警处置完毕",
                        at=at, system_code="SYS-EYE").id
    day = local(at).date().isoformat()
    _login(client, make_user, "technician")
    html = client.get(f"{LOG}?day={day}").text
    assert "视频平台存储告警处置完毕" in html and "故障处置" in html and "城区之眼" in html
    assert "删除原因" not in html, "only admins delete"
    csrf = _csrf(html)
    r = client.post(f"{LOG}/entries", data={"csrf": csrf, "summary": "", "detail": "只有详情"})
    assert r.status_code == 422 and "未能记录：请填写日志摘要" in r.text and "只有详情" in r.text
    r = client.post(f"{LOG}/entries", data={"csrf": csrf, "summary": "配合厂商升级转发节点", "system_code": "SYS-EYE"},
                    follow_redirects=True)
    assert "已记录" in r.text and "配合厂商升级转发节点" in r.text
    r = client.post(f"{LOG}/{old}/correct", data={"csrf": csrf, "summary": "处置完毕时间应为 03:10"},
                    follow_redirects=True)
    assert f"已记录对 #{old} 的更正" in r.text and f"更正条目 #{old}" in r.text
    assert client.post(f"{LOG}/{old}/delete", data={"csrf": csrf, "reason": "x"}).status_code == 403
    _login(client, make_user, "admin")
    csrf = _csrf(client.get(LOG).text)
    r = client.post(f"{LOG}/{old}/delete", data={"csrf": csrf, "reason": ""}, follow_redirects=True)
    assert "删除日志须填写原因" in r.text
    r = client.post(f"{LOG}/{old}/delete", data={"csrf": csrf, "reason": "重复"}, follow_redirects=True)
    assert f"已删除 #{old}" in r.text


def test_log_search_paging_export_and_book(client, make_user, db):
    at = utcnow() - timedelta(days=3)
    with db.session() as s:
        for i in range(60):
            add_entry(s, kind="inspection", source="probe-run", source_ref=str(i), summary=f"探测 {i} 正常",
                      at=at + timedelta(minutes=i))
    _login(client, make_user, "auditor")
    r = client.get(f"{LOG}?q=探测&kind=inspection")
    assert "找到 60 条，第 1–50 条" in r.text and 'id="next-page"' in r.text
    assert "找到 60 条，第 51–60 条" in client.get(f"{LOG}?q=探测&kind=inspection&offset=50").text
    bad = client.get(f"{LOG}?from=2026-02-31")
    assert bad.status_code == 200 and "开始日期应为 YYYY-MM-DD" in bad.text
    csv_resp = client.get(f"{LOG}/export.csv?q=探测")
    assert csv_resp.status_code == 200 and csv_resp.content.decode("utf-8-sig").count("\r\n") == 61
    book = client.get(f"{LOG}/half-year?year=2026&half=1&period=calendar&format=docx")
    assert book.status_code == 200 and book.content[:2] == b"PK"
    r = client.get(f"{LOG}/half-year?year=&half=1", follow_redirects=True)
    assert "未能生成：请填写年份" in r.text


def test_street_users_have_no_access(client, make_user):
    client.cookies.clear()
    name = make_user("street", "310105010")
    client.post("/login", data={"username": name, "password": PASSWORD})
    assert client.get(PLANS).status_code == 403
    assert client.get(LOG).status_code == 403
