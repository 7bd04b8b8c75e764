"""The scenario editor in headless Chromium (CALL-1): change the 热线回访 script in the JSON
editor, try it with 试运行, see the transcript, save, and find the change stored and shown."""

from __future__ import annotations

import json

import pytest

from cityops.callout import templates
from tests.conftest import PASSWORD
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def test_edit_simulate_and_save_a_script(live_server, page, make_user, db):
    make_user("manager", username="scriptmgr")
    url = f"{live_server}/console/callout/scenarios/hotline_callback"
    page.goto(url)
    page.fill("#username", "scriptmgr")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url)
    assert "按 1 →「满意」" in page.locator("#script-tree").inner_text()

    script = json.loads(page.input_value("#f-script"))
    script["steps"][1]["prompt"] = "感谢您的肯定，祝您生活愉快。"
    page.fill("#f-script", json.dumps(script, ensure_ascii=False, indent=2))
    page.fill("#f-answers", "1")
    page.click("#btn-simulate")
    page.wait_for_selector("#transcript")
    transcript = page.locator("#transcript").inner_text()
    assert "感谢您的肯定，祝您生活愉快。" in transcript and "满意" in transcript
    assert page.locator("#sim-outcome").inner_text() == "挂机"
    assert "感谢您的肯定" in page.input_value("#f-script")  # the unsaved text is kept
    screenshot(page, "callout-scenario-simulate")

    page.click("#btn-save")
    page.wait_for_selector(".flash.ok")
    assert "已保存场景模板" in page.locator(".flash.ok").inner_text()
    assert "感谢您的肯定，祝您生活愉快。" in page.locator("#script-tree").inner_text()
    with db.session() as s:
        t = templates.effective(s, "hotline_callback")
        assert t.customised and t.script.step("thanks").prompt == "感谢您的肯定，祝您生活愉快。"
    assert page.console_errors == [] and page.external_requests == []
