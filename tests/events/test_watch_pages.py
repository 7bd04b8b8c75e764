"""Console page 流转监控 (IOT-6, issue #5 item 6): the board with its grid, warnings and
acknowledge buttons (CSRF), dispatch health, street scoping and the settings form."""

from __future__ import annotations

import re
from datetime import timedelta

from cityops.core.timeutil import utcnow
from cityops.dispatch.models import (
    DispatchOutbox,
    DispatchPlatform,
    PlatformState,
    WorkOrder,
)
from cityops.events import service, watch
from tests.conftest import PASSWORD
from tests.events.helpers import street_point


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    r = client.post("/login", data={"username": make_user(role, street), "password": PASSWORD})
    assert r.status_code in (200, 303)


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _breached(db, index=0):
    now = utcnow()
    with db.session() as s:
        code, lon, lat = street_point(s, index)
        ev = service.create_event(s, category_code="010101", title=f"窨井盖缺失{index}号", lon=lon, lat=lat,
                                  severity="critical", reported_at=now - timedelta(hours=1), merge=False)
        if index == 0:
            p = DispatchPlatform(name="网格化平台", kind="open311", settings={})
            s.add(p)
            s.flush()
            s.add(PlatformState(platform_id=p.id, breaker="open"))
            o = WorkOrder(event_id=ev.id, platform_id=p.id, seq=1, idempotency_key=f"{ev.number}/1")
            s.add(o)
            s.flush()
            s.add(DispatchOutbox(event_id=ev.id, order_id=o.id, platform_id=p.id, state="failed",
                                 last_error="HTTP 400", created_at=now - timedelta(minutes=30)))
        watch.scan(s, now)
        w = next(w for w in watch.list_warnings(s, kind="sla_breached") if w.event_id == ev.id)
        return code, ev.number, w.id


def test_board_page_and_ack_with_csrf(client, make_user, db):
    _, number, wid = _breached(db)
    _login(client, make_user, "duty")
    html = client.get("/console/flow-board").text
    assert "流转监控" in html and number in html and "已超时" in html and 'hx-trigger="every 30s"' in html
    assert 'href="/console/events?state=reported"' in html and "熔断中" in html and "网格化平台" in html
    assert 'id="outbox-failed">1<' in html and "派单发送失败" in html
    assert 'id="flow-settings"' not in html  # duty officers do not change the settings
    assert client.post(f"/console/flow-board/warnings/{wid}/ack", data={}).status_code in (403, 422)
    r = client.post(f"/console/flow-board/warnings/{wid}/ack", data={"csrf": _csrf(html)}, follow_redirects=False)
    assert r.status_code == 303
    html = client.get(r.headers["location"]).text
    assert f"已确认预警 #{wid}" in html and "已确认" in html
    with db.session() as s:
        assert watch.get_warning(s, wid).state == "acknowledged"
    only = client.get("/console/flow-board", params={"kind": "outbox_failing"}).text
    assert "HTTP 400" in only and number in only and "窨井盖缺失0号" not in only.split('id="warnings"')[1].split("</table>")[0]


def test_auditor_reads_without_buttons_and_street_sees_own(client, make_user, db):
    own, number, _ = _breached(db, 0)
    _, other_number, other = _breached(db, 1)
    _login(client, make_user, "auditor")
    html = client.get("/console/flow-board").text
    assert number in html and other_number in html and "/ack" not in html
    _login(client, make_user, "street", own)
    html = client.get("/console/flow-board").text
    assert number in html and other_number not in html and 'id="platforms"' not in html
    r = client.post(f"/console/flow-board/warnings/{other}/ack", data={"csrf": _csrf(html)})
    assert r.status_code == 404 and "确认失败" in r.text


def test_settings_form(client, make_user, db, auth_headers):
    _login(client, make_user, "manager")
    html = client.get("/console/flow-board").text
    assert 'id="flow-settings"' in html and "激增倍数" in html
    csrf = _csrf(html)
    form = {"csrf": csrf, "warn_pct": "", "outbox_attempts": "5", "outbox_pending_min": "20", "result_hours": "12",
            "verify_failures": "3", "verify_window_h": "48", "surge_factor": "2.5", "surge_min_count": "6",
            "notify_team": "", "quiet_info": "1"}
    r = client.post("/console/flow-board/settings", data=form, follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        cfg = watch.get_settings(s)
        assert (cfg.outbox_attempts, cfg.result_hours, cfg.surge_factor, cfg.warn_pct, cfg.quiet_info) == (
            5, 12, 2.5, None, True)
    r = client.post("/console/flow-board/settings", data={**form, "warn_pct": "150"})
    assert r.status_code == 422 and "保存失败" in r.text and 'value="150"' in r.text
    assert client.post("/console/flow-board/settings", data={**form, "csrf": "x"}).status_code == 403
    _login(client, make_user, "duty")
    assert client.post("/console/flow-board/settings", data=form).status_code == 403
