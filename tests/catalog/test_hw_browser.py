"""硬件维保 in headless Chromium (HW, ROOM-2): a technician records a repair with a ticket and a
spare part; the stock, the movement, the due list and the warranty page show it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from cityops.catalog import hw_service, service
from cityops.catalog.models import Asset, HardwareLine
from cityops.core.timeutil import local, utcnow
from tests.conftest import PASSWORD
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser
URL = "/console/hardware/maintenance"


def test_technician_records_a_repair_with_a_spare_part(live_server, page, make_user, db):
    today = local(utcnow()).date()
    with db.session() as s:
        line = s.scalar(select(HardwareLine).where(HardwareLine.seq == 4))
        hw_service.create_schedule(s, line_id=line.id, interval=1, unit="month", first_due=date(2026, 1, 1),
                                   checklist="清灰")
        hw_service.create_part(s, name="交换机电源", model="PSU-150", line_id=line.id, quantity=1, min_stock=1)
        a = s.scalar(select(Asset).where(Asset.asset_tag == "CN-HW-04-001"))
        service.update_asset(s, a.id, warranty_end=today + timedelta(days=10))
        asset_id = a.id
    make_user("technician", username="tech")
    page.goto(f"{live_server}{URL}")
    page.fill("#username", "tech")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}{URL}")
    assert "硬件维保" in page.locator("h1").inner_text()
    assert "CN-HW-04-001" in page.locator("#due").inner_text() and "逾期" in page.locator("#due").inner_text()
    assert "CN-HW-04-001" in page.locator("#warranty-d30").inner_text()
    page.select_option("#w-asset", value=str(asset_id))
    page.select_option("#w-kind", value="replacement")
    page.fill("#w-summary", "电源故障，更换电源模块")
    page.fill("#w-ticket", "57")
    page.select_option("#w-part", label="交换机电源 PSU-150（库存 1）")
    page.click("#work-form button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "已写入维护日志" in page.locator(".flash.ok").inner_text()
    assert "#57" in page.locator("#records").inner_text()
    assert "低于最低库存" in page.locator("#spares").inner_text()
    assert page.locator("#low-stock-warning").count() == 1
    moves = page.locator("#movements").inner_text()
    assert "-1" in moves and "维修领用" in moves
    # a preventive visit takes the unit off the due list
    page.select_option("#w-asset", value=str(asset_id))
    page.select_option("#w-kind", value="preventive")
    page.fill("#w-summary", "月度清灰")
    page.click("#work-form button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "CN-HW-04-001" not in page.locator("#due").inner_text()
    screenshot(page, f"hw-maintenance-{db.engine.dialect.name}")
    assert page.console_errors == [] and page.external_requests == []
