"""The demo's O&M side (issue #7): the team of nine on duty with logins, the hotline ticket
assigned to the officer on duty, probes in the daily plan, tasks, a fault and a visit — all
visible on the duty officer's home page."""

from __future__ import annotations

from sqlalchemy import select

from cityops.core.timeutil import utcnow
from cityops.demo import seed_notifications, seed_operations
from cityops.duty.home_pages import snapshot


def test_demo_operations_fill_the_home_page_once(db):
    now = utcnow()
    seed_notifications(db, "http://127.0.0.1:9")
    assert seed_operations(db, "http://127.0.0.1:8000", now=now) is True
    assert seed_operations(db, "http://127.0.0.1:8000", now=now) is False  # once
    from cityops.auth.models import User
    from cityops.inspections.plan_service import list_plans
    from cityops.servicedesk.models import Ticket

    with db.session() as s:
        snap = snapshot(s, now=now)
        on_duty = {p["team"] for p in snap["on_duty"]}
        assert {"centre", "support"} <= on_duty
        ticket = s.scalar(select(Ticket))
        officer = s.scalar(select(User).where(User.username == ticket.assignee))
        assert officer is not None and officer.role == "duty"
        assert ticket.assignee in {p["name"] for p in snap["on_duty"]} or ticket.state == "assigned"
        assert snap["tickets"]["counts"]["open"] == 1 and snap["faults"]["open"] == 1
        assert snap["tasks"], "the default maintenance plans produced today's tasks"
        assert len(snap["visits"]) == 1 and snap["visits"][0]["title"].startswith("市城运中心调研")
        plans = list_plans(s)
        assert plans and all(p.probe_ids for p in plans)
