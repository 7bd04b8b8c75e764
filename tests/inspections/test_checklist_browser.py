"""机房巡检 and 机房出入 in headless Chromium (ROOM-1..3): a duty officer fills the daily round on
a 375 px phone (one column, numeric keyboard, photo upload), a reading out of range shows
as abnormal, the manager signs off; room check-in and check-out at a desk."""

import struct
import zlib

import pytest

from cityops.inspections.checklist_seed import seed_checklists
from tests.conftest import PASSWORD
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def _png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + b"\x80\x80\x80" * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def login(page, base, username, path):
    page.goto(f"{base}{path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}")


def test_duty_officer_fills_the_round_on_a_phone(live_server, browser, make_user, db, tmp_path):
    with db.session() as s:
        seed_checklists(s)
    make_user("duty", username="duty-phone", display_name="值班员甲")
    make_user("manager", username="mgr-desk", display_name="王经理")
    ctx = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN", is_mobile=True, has_touch=True)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        login(page, live_server, "duty-phone", "/console/checklists")
        page.fill("#s-room", "城区之眼机房")
        page.click("#start-btn")
        page.wait_for_selector("#fill-form")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, "no horizontal scrolling on a phone"
        temp = page.locator("#v_temperature")
        assert temp.get_attribute("inputmode") == "decimal" and temp.get_attribute("type") == "number"
        box = temp.bounding_box()
        assert box["height"] >= 44 and box["width"] > 300, "big touch target, full width"
        temp.fill("31")
        page.fill("#v_humidity", "50")
        for code, value in [("mains", "正常"), ("ups_state", "市电供电"), ("crac", "正常"), ("fire", "正常（自动）"),
                            ("leds", "正常"), ("cabling", "正常"), ("access", "正常"), ("leak", "无漏水")]:
            page.locator(f"#item-{code} label", has_text=value).first.click()
        page.fill("#v_ups_load", "40")
        page.fill("#v_battery", "45")
        photo = tmp_path / "room.png"
        photo.write_bytes(_png())
        page.set_input_files("#f_photo", str(photo))
        page.click("#save-readings")
        page.wait_for_selector(".flash")
        assert "已保存 13 项读数" in page.locator(".flash").first.inner_text()
        assert "异常" in page.locator("#item-temperature .current").inner_text()
        assert "bad" in page.locator("#item-temperature").get_attribute("class")
        page.wait_for_function("document.querySelector('#item-photo img').complete", timeout=10_000)
        assert page.locator("#item-photo img").evaluate("img => img.naturalWidth") == 4, "the photo is served back"
        screenshot(page, "checklist-phone")
        page.click("#submit-run")
        page.wait_for_selector("#signatures")
        run_url = page.url.split("?")[0]
    finally:
        ctx.close()
    assert errors == []
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    try:
        login(page, live_server, "mgr-desk", run_url.replace(live_server, ""))
        page.fill("#review-note", "温度偏高已报空调维保")
        page.click("#sign-off")
        page.wait_for_selector("#reviewed")
        assert "王经理" in page.locator("#reviewed").inner_text()
        assert page.locator("#fill-form").count() == 0
    finally:
        desk.close()


def test_room_access_check_in_and_out(live_server, page, make_user):
    make_user("duty", username="duty-desk")
    login(page, live_server, "duty-desk", "/console/room-access")
    page.fill("#a-person", "赵工")
    page.fill("#a-org", "海康威视")
    page.fill("#a-id", "310105199001011234")
    page.fill("#a-purpose", "更换存储硬盘")
    page.fill("#a-room", "城区之眼机房")
    page.click("#check-in-btn")
    page.wait_for_selector("#present tr.in-now")
    assert "赵工" in page.locator("#present").inner_text()
    page.fill("#present input[name=items_out]", "旧硬盘 1 块")
    page.click("#present button[type=submit]")
    page.wait_for_selector(".flash")
    assert "已登记 赵工 离开" in page.locator(".flash").first.inner_text()
    assert "机房内当前无登记人员" in page.locator("#present").inner_text()
    assert "旧硬盘 1 块" in page.locator("#history").inner_text()
    assert page.console_errors == [] and page.external_requests == []
