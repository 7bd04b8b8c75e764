"""Console pages 故障处置 (OPS-4): HTTP-level on both databases (roles, CSRF, forms with errors
beside them, the flow, downloads) and one real-browser walk through the pages."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.core.timeutil import local
from cityops.servicedesk import fault_grades
from cityops.servicedesk.fault_models import Fault, FaultGrade
from tests.conftest import PASSWORD
from tests.web.conftest import screenshot


@pytest.fixture
def grades(db):
    with db.session() as s:
        fault_grades.seed_grades(s)
        return {g.level: g.id for g in s.scalars(select(FaultGrade))}


@pytest.fixture
def login(client, make_user):
    def do(role: str, street_code: str | None = None) -> str:
        client.cookies.clear()
        username = make_user(role, street_code)
        r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return username

    return do


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _local(minutes_ago: int) -> str:
    return local(datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M")


def test_list_new_fault_and_errors_beside_the_form(client, login, grades, db):
    login("duty")
    page = client.get("/console/faults")
    assert page.status_code == 200 and "故障处置" in page.text and "登记故障" in page.text
    csrf = _csrf(page.text)
    r = client.post("/console/faults", data={"csrf": csrf, "title": "城区之眼调阅中断", "grade_id": str(grades[1]),
                                             "occurred_at": _local(-60)})
    assert r.status_code == 422 and "未能登记" in r.text and "晚于当前时间" in r.text
    assert 'value="城区之眼调阅中断"' in r.text, "the form keeps what was typed"
    r = client.post("/console/faults", data={"csrf": csrf, "title": "城区之眼调阅中断", "grade_id": str(grades[1]),
                                             "occurred_at": _local(90), "detected_at": _local(80),
                                             "system_codes": ["SYS-EYE", "SYS-VISION"]},
                    follow_redirects=False)
    assert r.status_code == 303 and "/console/faults/" in r.headers["location"]
    with db.session() as s:
        f = s.scalar(select(Fault))
        assert f.system_codes == ["SYS-EYE", "SYS-VISION"]
    listing = client.get("/console/faults").text
    assert f.number in listing and "响应超时" in listing and 'data-overdue="1"' in listing
    assert "#C62828" in listing, "grade colour"
    assert client.post("/console/faults", data={"csrf": "bad", "title": "x"}).status_code in (400, 403)


def test_detail_flow_entries_and_downloads(client, login, grades, db):
    login("technician")
    csrf = _csrf(client.get("/console/faults").text)
    r = client.post("/console/faults", data={"csrf": csrf, "title": "派单平台推送失败", "grade_id": str(grades[3]),
                                             "occurred_at": _local(10)}, follow_redirects=False)
    url = r.headers["location"].split("?")[0]
    detail = client.get(url).text
    assert "开始处置" in detail and "下载简报（PDF）" in detail
    assert client.post(f"{url}/entries", data={"csrf": csrf, "text": "已联系厂商"}, follow_redirects=True).status_code == 200
    r = client.post(f"{url}/transition", data={"csrf": csrf, "to": "closed"}, follow_redirects=True)
    assert "未能变更状态" in r.text
    client.post(f"{url}/transition", data={"csrf": csrf, "to": "restored", "at": ""})
    r = client.post(url, data={"csrf": csrf, "title": "派单平台推送失败", "grade_id": str(grades[3]),
                               "occurred_at": _local(10), "asset_ids": "abc"})
    assert r.status_code == 422 and "设备资产应为" in r.text
    r = client.post(url, data={"csrf": csrf, "title": "派单平台推送失败", "grade_id": str(grades[3]),
                               "occurred_at": _local(10), "detected_at": _local(9), "cause": "证书过期",
                               "impact": "派单延迟", "recovery": "更新证书"}, follow_redirects=True)
    assert r.status_code == 200 and "已保存" in r.text
    r = client.post(f"{url}/transition", data={"csrf": csrf, "to": "closed"}, follow_redirects=True)
    assert "状态已改为已关闭" in r.text and "只能补充整改" in r.text
    pdf = client.get(f"{url}/brief.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"{url}/brief.docx").status_code == 200
    assert client.get("/console/faults/9999").status_code == 404


def test_grades_page_roles_and_edit(client, login, grades, db):
    from cityops.duty import service as duty

    with db.session() as s:
        director = duty.create_contact(s, name="陈主任", phone="13900000021", team_code="leadership").id
    login("duty")
    page = client.get("/console/faults/grades")
    assert page.status_code == 200 and "特别重大" in page.text and "编辑" not in page.text
    csrf = _csrf(client.get("/console/faults").text)
    assert client.post(f"/console/faults/grades/{grades[1]}", data={"csrf": csrf}).status_code == 403
    login("manager")
    csrf = _csrf(client.get("/console/faults/grades").text)
    data = {"csrf": csrf, "name": "一级", "label": "特别重大", "scope": "全区核心系统中断", "response_minutes": "10",
            "restore_minutes": "120", "notify_teams": ["leadership"], "notify_contacts": [str(director)],
            "notify_managers": "1", "color": "#C62828",
            "active": "1"}
    r = client.post(f"/console/faults/grades/{grades[1]}", data=data, follow_redirects=True)
    assert r.status_code == 200 and "已保存故障等级 一级" in r.text and "10 分钟" in r.text
    assert "联系人：陈主任" in r.text
    with db.session() as s:
        assert s.get(FaultGrade, grades[1]).notify_contacts == [director]
    r = client.post(f"/console/faults/grades/{grades[1]}", data={**data, "response_minutes": "abc"})
    assert r.status_code == 422 and "响应时限必须是正整数" in r.text
    r = client.post("/console/faults/grades", data={**data, "level": "1"})
    assert r.status_code == 422 and "已存在" in r.text
    login("street", "310105002")
    assert client.get("/console/faults").status_code == 403


@pytest.mark.browser
def test_fault_pages_in_the_browser(live_server, page, make_user, grades, db):
    make_user("duty", username="duty-f")
    page.goto(f"{live_server}/console/faults")
    page.fill("#username", "duty-f")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/console/faults")
    assert "故障处置" in page.locator("h1").first.inner_text()
    page.fill("#f-title", "城区之眼视频调阅中断")
    page.select_option("#f-grade", str(grades[2]))
    page.fill("#f-occurred", _local(45))
    page.fill("#f-detected", _local(40))
    page.select_option("#f-systems", ["SYS-EYE"])
    page.fill("#f-desc", "华阳路街道视频无法调阅")
    page.click("#new-fault-form button[type=submit]")
    page.wait_for_selector("#fault-facts")
    assert "已登记故障 GZ" in page.locator(".flash").first.inner_text()
    assert "二级" in page.locator("h1").inner_text()
    assert page.locator("#response-overdue").count() == 1, "30-minute response target passed"
    page.fill("#e-text", "已联系视频平台厂商")
    page.click("#entry-form button[type=submit]")
    page.wait_for_selector("#fault-timeline:has-text('已联系视频平台厂商')")
    page.click("#move-responding")
    page.wait_for_selector("#move-restored")
    assert page.locator("#fault-state").inner_text() == "处置中"
    screenshot(page, "console-fault-detail")
    with page.expect_download() as info:
        page.click("#brief-pdf")
    download = info.value
    assert download.suggested_filename.endswith(".pdf") and "故障处理简报" in download.suggested_filename
    page.goto(f"{live_server}/console/faults")
    row = page.locator("#faults-table tr.fault-row").first
    assert "城区之眼视频调阅中断" in row.inner_text() and row.get_attribute("data-state") == "responding"
    screenshot(page, "console-faults")
    page.goto(f"{live_server}/console/faults/grades")
    assert page.locator("#grades-table tr").count() == 5
    screenshot(page, "console-fault-grades")
    assert page.console_errors == [], page.console_errors
    assert page.external_requests == []
