"""The guided demonstration's presenter page in headless Chromium (VISIT-2): keyboard and
clicker navigation changes the framed page and the caption, Esc hides the caption, a
production instance disables the scenario button and says why; on a demo instance the
waterlogging scenario runs to 结案 on the page, every step with its time."""

from __future__ import annotations


import pytest

from cityops.auth import service as users
from cityops.screen import tour
from tests.conftest import PASSWORD
from tests.screen.test_scenario import demo_instance  # noqa: F401  (fixture)
from tests.web.conftest import login, screenshot

pytestmark = pytest.mark.browser



def _frame_path(page) -> str:
    return page.evaluate("new URL(document.getElementById('tour-frame').contentWindow.location.href).pathname")


def test_presenter_steps_through_the_tour_by_keyboard(live_server, app, page, make_user):
    steps = tour.steps()
    make_user("duty", username="presenter")
    login(page, live_server, "presenter", "/screen/tour")
    assert page.locator("#tour-counter").inner_text() == f"1 / {len(steps)}"
    assert page.locator("#tour-text").is_visible()
    assert page.locator("#tour-text").inner_text() == steps[0].caption
    page.wait_for_function("document.getElementById('tour-frame').contentWindow.location.pathname === '/screen'")

    page.keyboard.press("ArrowRight")
    assert page.locator("#tour-counter").inner_text() == f"2 / {len(steps)}"
    assert page.locator("#tour-frame").get_attribute("src") == steps[1].url
    page.wait_for_function(f"document.getElementById('tour-frame').contentWindow.location.pathname === '{steps[1].url}'")
    assert page.locator("#tour-title").inner_text() == steps[1].title
    assert page.locator("#tour-text").inner_text() == steps[1].caption
    assert page.url.endswith("/screen/tour?step=2")

    # a click inside the framed page takes the focus; the clicker's keys still drive the tour
    page.frame_locator("#tour-frame").locator("body").click(position={"x": 600, "y": 400})
    page.keyboard.press("PageDown")
    assert page.locator("#tour-counter").inner_text() == f"3 / {len(steps)}"
    page.keyboard.press("Space")
    assert page.locator("#tour-counter").inner_text() == f"4 / {len(steps)}"
    page.wait_for_function("document.getElementById('tour-frame').contentWindow.location.pathname === "
                           f"'{steps[3].url.split('?')[0]}'")
    assert _frame_path(page) == steps[3].url.split("?")[0]
    page.keyboard.press("PageUp")
    page.keyboard.press("ArrowLeft")
    assert page.locator("#tour-counter").inner_text() == f"2 / {len(steps)}"

    page.keyboard.press("Escape")
    assert not page.locator("#tour-text").is_visible() and page.locator("#tour-show").is_visible()
    page.keyboard.press("Escape")
    assert page.locator("#tour-text").is_visible()

    # the scenario step on a production instance: the button is off and the page says why
    page.goto(f"{live_server}/screen/tour?step=4")
    assert page.locator("#tour-scenario").is_visible()
    assert page.locator("#sc-start").is_disabled()
    assert "演示场景只能在演示环境中运行" in page.locator("#sc-blocked").inner_text()
    assert page.locator("#sc-steps li").count() >= 8
    assert page.locator("#sc-demo-link").count() == 0
    page.keyboard.press("ArrowRight")
    assert not page.locator("#tour-scenario").is_visible()

    # with the district's demo instance configured, the step continues there (a new tab)
    app.state.ctx.settings.tour_demo_url = "http://ops-demo.example:8100"
    page.goto(f"{live_server}/screen/tour?step=4")
    link = page.locator("#sc-blocked #sc-demo-link")
    assert link.get_attribute("href") == "http://ops-demo.example:8100/screen/tour?step=4"
    assert link.get_attribute("target") == "_blank" and page.locator("#sc-start").is_disabled()
    assert page.console_errors == [] and page.external_requests == []


def test_presenter_injects_the_waterlogging_scenario(demo_instance, page):  # noqa: F811
    app, base = demo_instance
    with app.state.ctx.db.session() as s:
        users.create_user(s, username="leader-visit", role="manager", password=PASSWORD, display_name="演示讲解员")
    login(page, base, "leader-visit", "/screen/tour?step=4")
    assert page.locator("#tour-scenario").is_visible() and page.locator("#sc-start").is_enabled()
    page.click("#sc-start")
    page.wait_for_selector("#sc-status.ok", timeout=60_000)
    assert "已结案" in page.locator("#sc-status").inner_text()
    done = page.locator("#sc-steps li.sc-done")
    assert done.count() == page.locator("#sc-steps li").count() >= 10
    times = [t for t in page.locator("#sc-steps .sc-time").all_inner_texts()]
    assert all(len(t) == 8 and t[2] == ":" for t in times) and times == sorted(times)
    assert page.locator("#sc-start").inner_text() == "再次注入" and page.locator("#sc-start").is_enabled()
    # the event the scenario caused is on the framed events page after a reload of the frame
    number = page.locator("#sc-steps li[data-step=event] .sc-ref").inner_text().replace("事件 ", "")
    page.evaluate("document.getElementById('tour-frame').contentWindow.location.reload()")
    page.frame_locator("#tour-frame").locator(f"text={number}").first.wait_for(timeout=10_000)
    screenshot(page, "screen-tour")  # test-artifacts/; docs/img/screen-tour.png is a chosen copy
    assert page.external_requests == []
