"""排班轮换 in headless Chromium (SVC-1): a manager creates a rotation, generates it, sees the
month grid and a planted gap in the coverage check, records a stand-in and a handover."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from cityops.core.timeutil import SHANGHAI, utcnow
from cityops.duty import service
from cityops.duty.models import Shift
from tests.web.conftest import login, screenshot

pytestmark = pytest.mark.browser



def test_manager_builds_a_rotation_and_finds_a_planted_gap(live_server, page, make_user, db):
    with db.session() as s:
        service.create_team(s, code="centre", name="城运中心值班组")
        service.create_team(s, code="support", name="技术支撑组")
        names = [service.create_contact(s, name=f"值班员{i}", phone=f"1380000001{i}", team_code="centre").name
                 for i in range(4)]
        sup = service.create_contact(s, name="技术甲", phone="13800000020", team_code="support")
        now = utcnow()
        service.create_shift(s, contact_id=sup.id, team_code="support", role="support", starts_at=now - timedelta(days=1),
                             ends_at=now + timedelta(days=6))
    make_user("manager", username="pm")
    url = "/console/duty/roster"
    login(page, live_server, "pm", url)
    assert "排班轮换" in page.locator("h1").inner_text()
    today = utcnow().astimezone(SHANGHAI).date()
    page.fill("#r-name", "值班员四班轮换")
    page.select_option("#r-members", index=[0, 1, 2, 3])
    page.fill("#r-start", today.isoformat())
    page.click("#rotation-form button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "已添加轮换" in page.locator(".flash").inner_text()
    form = page.locator(".gen-form").first
    form.locator("input[name=end]").fill((today + timedelta(days=3)).isoformat())
    form.locator("button").click()
    page.wait_for_selector(".flash.ok")
    assert "已生成" in page.locator(".flash").inner_text()
    grid = page.locator("#month-grid").inner_text()
    assert all(n in grid for n in names)
    # plant a gap: delete tomorrow's night shift
    with db.session() as s:
        night = s.scalars(select(Shift).where(Shift.source == "rotation", Shift.note.like("%夜班"))
                          .order_by(Shift.starts_at)).all()[1]
        start = night.starts_at.astimezone(SHANGHAI)
        service.delete_shift(s, night.id)
    page.goto(f"{live_server}{url}")
    gaps = page.locator("#gaps").inner_text()
    assert start.strftime("%Y-%m-%d %H:%M") in gaps and "值班员（需 1，在岗 0）" in gaps
    assert page.locator(f"#month-grid th[data-gap='1'][title='{start.date().isoformat()}']").count() == 1
    # a stand-in and a handover note
    page.select_option("#o-who", label="值班员0")
    page.select_option("#o-sub", label="值班员2")
    page.fill("#o-start", (today + timedelta(days=5)).isoformat() + "T08:00")
    page.fill("#o-end", (today + timedelta(days=5)).isoformat() + "T20:00")
    page.fill("#o-reason", "病假")
    page.click("#override-form button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "病假" in page.locator("#overrides").inner_text()
    page.fill("#h-note", "夜间无异常，3 号机柜风扇待更换")
    page.click("#handover-form button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "风扇待更换" in page.locator("#handovers").inner_text()
    # a bad form shows the reason beside it
    page.fill("#r-name", "坏轮换")
    page.fill("#r-cycle", "D,X")
    page.select_option("#r-members", index=[0])
    page.fill("#r-start", today.isoformat())
    page.click("#rotation-form button[type=submit]")
    page.wait_for_selector(".flash.err")
    assert "循环须由班次代码" in page.locator(".flash.err").inner_text()
    screenshot(page, f"duty-roster-{db.engine.dialect.name}")
    # the refused form answers 422, which the browser logs; nothing else may fail
    assert [e for e in page.console_errors if "422" not in e] == [] and page.external_requests == []
