"""The events map and statistics pages in headless Chromium (IOT-6, issue #5 items 8-9): points are
drawn over the locally registered street map and outline (no request leaves the machine), a
click opens the popup with the event's link; the statistics charts render."""

import pytest

from tests.events.test_stats import world  # noqa: F401  (the shared fixture)
from tests.web.conftest import screenshot
from tests.web.test_console_browser import _login

pytestmark = pytest.mark.browser

SERIES = """() => {
  const chart = echarts.getInstanceByDom(document.getElementById('events-map'));
  return chart.getOption().series.map(s => [s.id, s.type, s.data.length]);
}"""


def test_map_draws_points_and_opens_popup(live_server, page, make_user, world, db):  # noqa: F811
    e3 = world["ids"][2]
    make_user("duty", username="mapper")
    _login(page, live_server, "mapper")
    assert page.goto(f"{live_server}/console/events/map").status == 200
    page.wait_for_selector("#events-map[data-ready='1']", timeout=10_000)
    assert page.locator("#events-map").get_attribute("data-points") == "4"
    series = {sid: (kind, n) for sid, kind, n in page.evaluate(SERIES)}
    # open events: E7 and E6 critical, E4 major, E3 warning; the outline is drawn as lines
    assert series["sev-critical"] == ("scatter", 2) and series["sev-major"] == ("scatter", 1)
    assert series["sev-warning"] == ("scatter", 1) and series["sev-info"] == ("scatter", 0)
    assert series["outline"][0] == "lines" and series["outline"][1] >= 1
    # click the warning point (E3) where ECharts placed it
    x, y = page.evaluate("""() => {
      const el = document.getElementById('events-map');
      const chart = echarts.getInstanceByDom(el);
      const opt = chart.getOption();
      const idx = opt.series.findIndex(s => s.id === 'sev-warning');
      const v = opt.series[idx].data[0].value;
      const px = chart.convertToPixel({seriesIndex: idx}, [v[0], v[1]]);
      const r = el.getBoundingClientRect();
      return [r.left + px[0], r.top + px[1]];
    }""")
    page.mouse.click(x, y)
    page.wait_for_selector("#event-popup:not([hidden])", timeout=5_000)
    assert page.locator("#event-popup").get_attribute("data-event-id") == str(e3)
    assert "井盖缺失" in page.locator("#event-popup").inner_text()
    assert page.locator("#event-popup-link").get_attribute("href") == f"/console/events/{e3}"
    screenshot(page, f"events-map-{db.engine.dialect.name}")
    page.click("#event-popup-link")
    page.wait_for_url(f"{live_server}/console/events/{e3}")
    # the state filter reloads the map with the chosen events only
    page.goto(f"{live_server}/console/events/map?state=closed")
    page.wait_for_selector("#events-map[data-ready='1']", timeout=10_000)
    assert page.locator("#events-map").get_attribute("data-points") == "1"
    page.goto(f"{live_server}/console/events/stats?date_from=2026-11-02&date_to=2026-11-03")
    page.wait_for_selector("#chart-days[data-ready='1']", timeout=10_000)
    days = page.evaluate("() => echarts.getInstanceByDom(document.getElementById('chart-days')).getOption()"
                         ".series[0].data")
    assert days == [2, 3]
    screenshot(page, f"events-stats-{db.engine.dialect.name}")
    assert page.console_errors == [] and page.external_requests == []
