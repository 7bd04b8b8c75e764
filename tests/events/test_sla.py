"""SLA time limits for city events (IOT-6): seeded district defaults, policy precedence,
calendar overrides, deadlines and clock status, the API with its role checks, and the
console page 时限与日历. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.core.errors import Conflict, Invalid
from cityops.core.timeutil import SHANGHAI
from cityops.events import sla
from cityops.events.sla_models import CalendarDay, SlaPolicy
from tests.conftest import PASSWORD

LIMITS = {"accept_min": 10, "dispatch_min": 20, "dispose_min": 30, "verify_min": 40, "close_min": 50}


def sh(y, mo, d, h=0, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def test_seed_is_idempotent_and_gives_every_event_a_policy(db):
    with db.session() as s:
        sla.seed_sla(s)
        assert sla.seed_sla(s) == 0
        rows = sla.list_policies(s)
        assert {(p.category_prefix, p.severity) for p in rows} >= {("", "critical"), ("", "major"),
                                                                    ("", "warning"), ("", "")}
        crit = sla.policy_for(s, "010101", "critical")
        assert (crit.calendar_mode, crit.accept_min, crit.dispatch_min) == ("24x7", 15, 30)
        assert sla.policy_for(s, "0402", "warning").calendar_mode == "workdays"
        assert sla.policy_for(s, "0402", "info").severity == ""  # the catch-all
        # a changed default is not overwritten at the next start
        crit.accept_min = 10
        s.flush()
        sla.seed_sla(s)
        assert sla.policy_for(s, "01", "critical").accept_min == 10


def test_policy_precedence_prefix_then_severity_then_priority(db):
    with db.session() as s:
        sla.seed_sla(s)
        any_04 = sla.create_policy(s, name="防汛防台", category_prefix="04", **LIMITS)
        crit_04 = sla.create_policy(s, name="防汛紧急", category_prefix="04", severity="critical", **LIMITS)
        leaf = sla.create_policy(s, name="下立交积水", category_prefix="0402", **LIMITS)
        leaf_hi = sla.create_policy(s, name="下立交积水（汛期）", category_prefix="0402", priority=5, **LIMITS)
        off = sla.create_policy(s, name="停用", category_prefix="040201", enabled=False, **LIMITS)
        # the longest prefix wins even over an exact severity on a shorter prefix
        assert sla.policy_for(s, "040201", "critical").id == leaf_hi.id
        # same prefix: higher priority wins
        assert sla.policy_for(s, "0402", "info").id == leaf_hi.id
        # same prefix, exact severity beats "any"
        assert sla.policy_for(s, "0401", "critical").id == crit_04.id
        assert sla.policy_for(s, "0401", "warning").id == any_04.id
        # "04" does not match "05…"; disabled policies are ignored
        assert sla.policy_for(s, "0501", "warning").category_prefix == ""
        assert off.id not in {sla.policy_for(s, "040201", sev).id for sev in sla.SEVERITIES}
        assert leaf.id != leaf_hi.id


def test_policy_validation_and_the_catch_all_guard(db):
    with db.session() as s:
        sla.seed_sla(s)
        for bad in ({"category_prefix": "road"}, {"severity": "urgent"}, {"calendar_mode": "weekly"},
                    {"warn_at_pct": 0}, {"accept_min": 0}):
            with pytest.raises(Invalid):
                sla.create_policy(s, name="x", **{**LIMITS, **bad})
        fallback = next(p for p in sla.list_policies(s) if p.category_prefix == "" and p.severity == "")
        with pytest.raises(Conflict):
            sla.delete_policy(s, fallback.id)
        with pytest.raises(Conflict):
            sla.update_policy(s, fallback.id, enabled=False)
        assert sla.update_policy(s, fallback.id, dispose_min=3000).dispose_min == 3000
        second = sla.create_policy(s, name="兜底2", **LIMITS)
        sla.delete_policy(s, fallback.id)  # allowed now that another catch-all exists
        assert sla.policy_for(s, "99", "info").id == second.id


def test_deadline_and_status_on_workdays_across_national_day(db):
    with db.session() as s:
        sla.seed_sla(s)
        # 一般 (warning): accept within 120 working minutes
        d = sla.deadline(s, category_code="0101", severity="warning", step="accept", started_at=sh(2026, 9, 30, 16))
        assert d.deadline == sh(2026, 10, 8, 9, 30).astimezone(UTC)
        st = sla.status(s, category_code="0101", severity="warning", step="accept", started_at=sh(2026, 9, 30, 16),
                        now=sh(2026, 10, 5, 12))
        assert st["state"] == "ok" and st["elapsed_working"] == timedelta(minutes=90) and st["pct"] == 75.0
        assert st["remaining"] == timedelta(minutes=30)
        st = sla.status(s, category_code="0101", severity="warning", step="accept", started_at=sh(2026, 9, 30, 16),
                        now=sh(2026, 10, 8, 9, 10))
        assert st["state"] == "warning" and st["pct"] == pytest.approx(83.3)  # 100 of 120 min
        st = sla.status(s, category_code="0101", severity="warning", step="accept", started_at=sh(2026, 9, 30, 16),
                        now=sh(2026, 10, 8, 10))
        assert st["state"] == "breached" and st["remaining"] == timedelta(0) and st["pct"] == 125.0
        # 紧急 (critical) runs round the clock, holiday or not
        d = sla.deadline(s, category_code="0101", severity="critical", step="dispatch", started_at=sh(2026, 10, 1, 3))
        assert d.deadline == sh(2026, 10, 1, 3, 30).astimezone(UTC)
        with pytest.raises(Invalid):
            sla.deadline(s, category_code="0101", severity="critical", step="archive", started_at=sh(2026, 10, 1))


def test_calendar_overrides_change_deadlines(db):
    with db.session() as s:
        sla.seed_sla(s)
        sla.add_day(s, day=date(2026, 10, 8), kind="holiday", name="区内调休")
        with pytest.raises(Conflict):
            sla.add_day(s, day=date(2026, 10, 8), kind="workday")
        with pytest.raises(Invalid):
            sla.add_day(s, day=date(2026, 10, 9), kind="halfday")
        d = sla.deadline(s, category_code="0101", severity="warning", step="accept", started_at=sh(2026, 9, 30, 16))
        assert d.deadline == sh(2026, 10, 9, 9, 30).astimezone(UTC)
        assert sla.calendar_for(s, "workdays").day_info(date(2026, 10, 8)).source == "override"
        assert sla.calendar_for(s, "24x7").day_info(date(2026, 10, 8)).working
    with db.session() as s:
        row = s.scalar(select(CalendarDay))
        sla.delete_day(s, row.id)
        assert sla.calendar_for(s, "workdays").day_info(date(2026, 10, 8)).working


# -- API ----------------------------------------------------------------------------------
def test_api_roles(client, auth_headers):
    assert client.get("/api/v1/sla-policies").status_code == 401
    for role in ("duty", "technician", "auditor"):
        h = auth_headers(role)
        assert client.get("/api/v1/sla-policies", headers=h).status_code == 200
        assert client.post("/api/v1/sla-policies", headers=h, json={"name": "x", **LIMITS}).status_code == 403
        assert client.post("/api/v1/calendar-days", headers=h,
                           json={"day": "2026-12-31", "kind": "holiday"}).status_code == 403
    street = auth_headers("street", "310105002")
    assert client.get("/api/v1/sla-policies", headers=street).status_code == 403
    assert client.get("/api/v1/calendar", headers=street, params={"from": "2026-10-01", "to": "2026-10-02"}
                      ).status_code == 403


def test_api_policy_crud_and_deadline_explanation(client, auth_headers, db):
    with db.session() as s:
        sla.seed_sla(s)
    h = auth_headers("manager")
    r = client.post("/api/v1/sla-policies", headers=h, json={
        "name": "下立交积水", "category_prefix": "0402", "severity": "", "calendar_mode": "24x7", **LIMITS})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["created_by"].startswith("manager") and r.json()["created_at"].endswith("+08:00")
    r = client.patch(f"/api/v1/sla-policies/{pid}", headers=h, json={"accept_min": 5, "warn_at_pct": 70})
    assert r.status_code == 200 and r.json()["accept_min"] == 5 and r.json()["dispatch_min"] == 20
    bad = client.post("/api/v1/sla-policies", headers=h, json={"name": "x", "severity": "urgent", **LIMITS})
    assert bad.status_code == 422 and "severity" in bad.json()["detail"]
    r = client.get("/api/v1/sla/deadline", headers=auth_headers("duty"), params={
        "category": "040201", "severity": "major", "step": "accept", "started_at": "2026-10-01T08:00:00+08:00"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["policy"]["id"] == pid and body["limit_minutes"] == 5
    assert body["deadline"] == "2026-10-01T08:05:00+08:00" and body["transition"] == ["reported", "accepted"]
    assert any("下立交积水" in line for line in body["explanation"])
    # a workdays deadline explains skipped holidays and the clock start
    r = client.get("/api/v1/sla/deadline", headers=h, params={
        "category": "0101", "severity": "warning", "step": "accept", "started_at": "2026-09-30T18:00:00+08:00"})
    body = r.json()
    assert body["deadline"] == "2026-10-08T11:00:00+08:00" and body["clock_starts"] == "2026-10-08T09:00:00+08:00"
    text = "\n".join(body["explanation"])
    assert "跳过非工作日" in text and "国庆节" in text and "从 2026-10-08 09:00 起计时" in text
    assert client.get("/api/v1/sla/deadline", headers=h, params={
        "category": "0101", "step": "accept", "started_at": "2026-09-30T18:00:00"}).status_code == 422
    assert client.delete(f"/api/v1/sla-policies/{pid}", headers=h).status_code == 204
    assert client.get(f"/api/v1/sla-policies/{pid}", headers=h).status_code == 404
    fallback = next(p for p in client.get("/api/v1/sla-policies", headers=h).json()
                    if p["category_prefix"] == "" and p["severity"] == "")
    assert client.delete(f"/api/v1/sla-policies/{fallback['id']}", headers=h).status_code == 409


def test_api_calendar_and_overrides(client, auth_headers):
    h = auth_headers("admin")
    r = client.get("/api/v1/calendar", headers=h, params={"from": "2026-09-30", "to": "2026-10-10"})
    assert r.status_code == 200
    days = {d["day"]: d for d in r.json()}
    assert days["2026-09-30"]["working"] and days["2026-09-30"]["kind"] == "weekday"
    assert not days["2026-10-01"]["working"] and days["2026-10-01"]["name"] == "国庆节"
    assert days["2026-10-10"]["working"] and days["2026-10-10"]["kind"] == "makeup"
    assert "调休上班" in days["2026-10-10"]["reason"] and days["2026-10-10"]["source"] == "data"
    r = client.post("/api/v1/calendar-days", headers=h, json={"day": "2026-12-31", "kind": "holiday",
                                                               "name": "跨年保障调休"})
    assert r.status_code == 201, r.text
    assert client.post("/api/v1/calendar-days", headers=h,
                       json={"day": "2026-12-31", "kind": "workday"}).status_code == 409
    day = client.get("/api/v1/calendar", headers=h, params={"from": "2026-12-31", "to": "2026-12-31"}).json()[0]
    assert not day["working"] and day["source"] == "override" and day["name"] == "跨年保障调休"
    assert [d["day"] for d in client.get("/api/v1/calendar-days", headers=auth_headers("auditor")).json()] \
        == ["2026-12-31"]
    assert client.delete(f"/api/v1/calendar-days/{r.json()['id']}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/calendar-days/{r.json()['id']}", headers=h).status_code == 404
    assert client.get("/api/v1/calendar", headers=h, params={"from": "2026-10-10", "to": "2026-10-01"}
                      ).status_code == 422
    assert client.get("/api/v1/calendar", headers=h, params={"from": "2026-01-01", "to": "2028-01-01"}
                      ).status_code == 422
    allday = client.get("/api/v1/calendar", headers=h, params={"from": "2026-10-01", "to": "2026-10-01",
                                                               "mode": "24x7"}).json()[0]
    assert allday["working"] and allday["kind"] == "allday"


def test_policy_changes_land_in_the_audit_chain(client, auth_headers):
    h = auth_headers("admin")
    pid = client.post("/api/v1/sla-policies", headers=h, json={"name": "审计测试", "category_prefix": "03",
                                                                **LIMITS}).json()["id"]
    client.patch(f"/api/v1/sla-policies/{pid}", headers=h, json={"close_min": 99})
    r = client.get("/api/v1/audit", headers=h, params={"entity": "sla_policies"})
    assert r.status_code == 200, r.text
    entries = [e for e in r.json()["items"] if e["entity_id"] == str(pid)]
    assert len(entries) == 2 and all(e["actor"].startswith("admin") for e in entries)
    assert any((e["after"] or {}).get("close_min") == 99 for e in entries)


# -- console ------------------------------------------------------------------------------
def _login(client, make_user, role) -> str:
    client.cookies.clear()
    client.post("/login", data={"username": make_user(role), "password": PASSWORD})
    html = client.get("/console/sla").text
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_console_page_edit_and_calendar_overrides(client, make_user, db):
    with db.session() as s:
        sla.seed_sla(s)
        crit = s.scalar(select(SlaPolicy).where(SlaPolicy.severity == "critical", SlaPolicy.category_prefix == ""))
        crit_id = crit.id
    csrf = _login(client, make_user, "manager")
    page = client.get("/console/sla", params={"month": "2026-10"}).text
    assert "时限与日历" in page and 'href="/console/sla"' in page and "紧急事件（全区默认）" in page
    assert 'data-day="2026-10-01"' in page and 'class="cal-day holiday" data-day="2026-10-01"' in page
    assert 'class="cal-day makeup" data-day="2026-10-10"' in page
    assert 'class="cal-day weekend" data-day="2026-10-11"' in page
    # edit an existing policy
    form = client.get("/console/sla", params={"edit": crit_id}).text
    assert f"编辑时限策略 #{crit_id}" in form and 'value="15"' in form
    r = client.post("/console/sla", data={
        "csrf": csrf, "policy_id": str(crit_id), "name": "紧急事件（全区默认）", "category_prefix": "",
        "severity": "critical", "calendar_mode": "24x7", "accept_min": "10", "dispatch_min": "30",
        "dispose_min": "240", "verify_min": "60", "close_min": "120", "warn_at_pct": "75", "priority": "0",
        "enabled": "1"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert f"已保存时限策略 #{crit_id}" in client.get(r.headers["location"]).text
    with db.session() as s:
        assert s.get(SlaPolicy, crit_id).accept_min == 10 and s.get(SlaPolicy, crit_id).warn_at_pct == 75
    # a bad figure re-renders the form with the reason
    r = client.post("/console/sla", data={"csrf": csrf, "name": "坏数据", "accept_min": "十", "dispatch_min": "1",
                                          "dispose_min": "1", "verify_min": "1", "close_min": "1"})
    assert r.status_code == 422 and "受理时限需要是整数" in r.text
    # add a holiday override, see it in the month, remove it
    r = client.post("/console/sla/days", data={"csrf": csrf, "day": "2026-11-27", "kind": "holiday",
                                               "name": "进博会保障"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "已将 2026-11-27 设为放假" in page and 'class="cal-day holiday override" data-day="2026-11-27"' in page
    day_id = int(re.search(r'id="day-(\d+)"', page).group(1))
    r = client.post(f"/console/sla/days/{day_id}/delete", data={"csrf": csrf, "month": "2026-11"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert 'class="cal-day weekday" data-day="2026-11-27"' in client.get(r.headers["location"]).text
    # without CSRF nothing happens
    assert client.post("/console/sla/days", data={"csrf": "forged", "day": "2026-11-26",
                                                  "kind": "holiday"}).status_code == 403


def test_console_read_only_roles_and_street(client, make_user):
    _login(client, make_user, "auditor")
    page = client.get("/console/sla").text
    assert "时限策略" in page and "新建时限策略" not in page and "添加日历调整" not in page
    client.cookies.clear()
    client.post("/login", data={"username": make_user("street", "310105002"), "password": PASSWORD})
    assert client.get("/console/sla").status_code == 403
