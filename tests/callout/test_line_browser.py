"""Console page 线路状态 (CALL-3) in headless Chromium: a gateway goes green after 立即检查 against
the SIP gateway simulator, a marked caller ID shows in red, and a marking is recorded by hand."""

from __future__ import annotations

import pytest

from cityops.callout import lines
from cityops.sim.sip_gateway import SipGatewaySim, serve
from tests.web.test_console_browser import _login

pytestmark = pytest.mark.browser


def test_line_health_page(live_server, page, make_user, db):
    sim = SipGatewaySim(http=True)
    with serve(sim) as gw:
        with db.session() as s:
            d = lines.create_device(s, data={"name": "SMG-仙霞", "host": gw.host, "sip_port": gw.port, "ports": 30,
                                             "line_group": "hotline", "http_status_url": gw.status_url})
            c = lines.create_caller_id(s, data={"number": "02162380002", "line_group": "hotline"})
            ids = d.id, c.id
        make_user("duty", username="night")
        _login(page, live_server, "night")
        page.goto(f"{live_server}/console/callout/lines")
        row = page.locator(f"#device-{ids[0]}")
        assert row.get_attribute("data-state") == "unknown"
        row.locator("button", has_text="立即检查").click()
        page.wait_for_selector("#flash")
        assert "在线" in page.locator("#flash").inner_text()
        assert page.locator(f"#device-{ids[0]}").get_attribute("data-state") == "up"
        assert page.locator(f"#device-{ids[0]} .light.up").count() == 1
        assert page.locator("#count-up").inner_text() == "1"

        caller = page.locator(f"#caller-{ids[1]}")
        caller.locator("summary", has_text="人工录入标记").click()
        page.fill(f"#m-label-{ids[1]}", "骚扰电话")
        page.fill(f"#m-count-{ids[1]}", "37")
        page.fill(f"#m-app-{ids[1]}", "腾讯手机管家")
        caller.locator("button", has_text="记录").click()
        page.wait_for_selector("#flash")
        caller = page.locator(f"#caller-{ids[1]}")
        assert caller.get_attribute("data-marking") == "marked"
        assert "骚扰电话" in caller.locator(".marked-label").inner_text()
        color = caller.locator(".marked-label").evaluate("e => getComputedStyle(e).color")
        assert color == "rgb(198, 40, 40)"  # var(--err): red on the big screen
        assert page.locator("#count-marked").inner_text() == "1"
        assert "骚扰电话" in page.locator("#line-history").inner_text()
    assert page.console_errors == [] and page.external_requests == []
