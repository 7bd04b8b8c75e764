"""The duty officer's home page (OPS-1, OPS-3, SVC-1): one snapshot of duty, tickets by SLA
urgency, today's inspections and tasks, alarms, faults, findings and visits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cityops.core.timeutil import utcnow
from tests.conftest import PASSWORD
from tests.web.conftest import screenshot


def _login(client, make_user, role="duty"):
    r = client.post("/login", data={"username": make_user(role), "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def test_empty_install_says_nobody_is_on_duty(client, make_user):
    _login(client, make_user)
    r = client.get("/console/ops")
    assert r.status_code == 200
    assert "当前无人值班" in r.text and "没有未结工单" in r.text and "没有活动告警" in r.text


def test_snapshot_shows_duty_tickets_and_findings(db, client, make_user, auth_headers):
    from cityops.duty import service as duty
    from cityops.inspections import findings
    from cityops.servicedesk import service as desk

    now = utcnow()
    with db.session() as s:
        duty.create_team(s, code="ops", name="值班组")
        c = duty.create_contact(s, name="张值班", phone="13800001234", team_code="ops")
        duty.create_shift(s, contact_id=c.id, team_code="ops", role="leader", starts_at=now - timedelta(hours=1),
                          ends_at=now + timedelta(hours=8))
        t = desk.open_ticket(s, title="门户首页打不开", source="hotline", impact=1, urgency=1, now=now)
        findings.raise_finding(s, key="probe:home", source="probe", title="统一门户不可达", severity="warning",
                               ticket_policy="never", now=now)
        number = t.number
    _login(client, make_user)
    page = client.get("/console/ops").text
    assert "张值班" in page and "138****1234" in page and "13800001234" not in page
    assert number in page and "门户首页打不开" in page and "统一门户不可达" in page

    body = client.get("/api/v1/ops/home", headers=auth_headers("admin")).json()
    assert body["on_duty"][0]["name"] == "张值班"
    assert body["tickets"]["counts"]["open"] == 1 and body["tickets"]["board"][0]["number"] == number
    assert body["findings"]["total"] == 1
    assert body["now"].endswith("+08:00")


def test_home_api_needs_staff(client, auth_headers):
    assert client.get("/api/v1/ops/home").status_code == 401
    assert client.get("/api/v1/ops/home", headers=auth_headers("street", "310105002")).status_code == 403


@pytest.mark.browser
def test_home_page_in_the_browser(live_server, page, make_user, db):
    """The demo's O&M state on the duty officer's screen: no console errors, nothing external."""
    from cityops.demo import seed_notifications, seed_operations

    seed_notifications(db, "http://127.0.0.1:9")
    seed_operations(db, live_server)
    make_user("duty", username="night1")
    page.goto(f"{live_server}/login?next=/console/ops")
    page.fill("#username", "night1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/console/ops")
    assert "值班首页" in page.locator("h1").first.inner_text()
    assert page.locator("#on-duty tr").count() >= 3  # header + the officer and the support on call
    assert "GD" in page.locator("#ticket-board").inner_text()
    assert page.locator("#visits-soon li").count() == 1
    screenshot(page, f"console-ops-home-{db.engine.dialect.name}")
    assert page.console_errors == [], page.console_errors
    assert page.external_requests == []
