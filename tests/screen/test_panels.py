"""The big screen's panels (SYS-SCREEN): each panel's numbers on data seeded through the
domains' services, for the district and for one street."""

from datetime import timedelta

from cityops.core.timeutil import local, utcnow
from cityops.screen import panels
from tests.screen.screen_seed import seed


def _all(db, street=None):
    now = utcnow()
    with db.session() as s:
        return {name: panels.snapshot(s, name, street=street, now=now) for name in panels.PANELS}


def test_district_panels(db):
    """SYS-SCREEN: every panel's figures for the whole district."""
    sd = seed(db)
    snaps = _all(db)
    assert set(snaps) == set(panels.PANELS)
    for name, snap in snaps.items():
        assert snap["name"] == name and len(snap["version"]) == 12 and "+08:00" in snap["computed_at"]
    p = {name: snap["data"] for name, snap in snaps.items()}

    m = p["map"]
    by_code = {r["code"]: r for r in m["streets"]}
    assert len(m["streets"]) >= 10  # every street of Changning, even the empty ones
    assert by_code[sd.a] | {"name": None} == {"code": sd.a, "name": None, "devices": 3, "online": 2, "alarms": 1,
                                              "events": 2}
    assert (by_code[sd.b]["devices"], by_code[sd.b]["online"], by_code[sd.b]["events"]) == (1, 1, 0)
    clusters = sorted((c["count"], c["online"]) for c in m["device_clusters"])
    assert clusters == [(1, 1), (1, 1), (2, 1)]  # A1+A2 share a ~300 m cell
    assert [a["id"] for a in m["alarms"]] == [sd.active_alarm] and m["alarms"][0]["severity"] == "major"
    assert "设备离线" in m["alarms"][0]["title"]
    assert {e["title"] for e in m["events"]} == {"人行道暴露垃圾", "井盖缺失", "两天前的垃圾"}  # open ones
    assert all(e["lon"] and e["lat"] and e["number"].startswith("CN") for e in m["events"])

    d = p["devices"]
    assert (d["total"], d["online"], d["offline"], d["rate"]) == (4, 3, 1, 0.75)
    assert {r["code"]: (r["total"], r["online"]) for r in d["by_street"]} == {sd.a: (3, 2), sd.b: (1, 1)}
    assert d["by_type"] == [{"type": "smoke", "label": "烟感", "total": 4, "online": 3, "rate": 0.75}]
    assert len(d["history"]) == 30 and d["history"][-1]["day"] == local(utcnow()).date().isoformat()

    a = p["alarms"]
    assert (a["active"], a["today"]) == (1, 2)  # the cleared one counts in today, not in active
    assert a["by_severity"] == {"critical": 0, "major": 1, "warning": 0, "info": 0}
    assert a["latest"][0] | {"at": None, "street": None} == {
        "id": sd.active_alarm, "severity": "major", "severity_label": "重要", "type": "设备离线",
        "message": "设备离线", "device": "A1", "street": None, "at": None, "state": "待确认"}

    e = p["events"]
    assert (e["today"], e["closed_today"]) == (3, 1)  # the two-days-old one is not today's
    assert e["by_category"] == [{"name": "市容环境", "count": 2}, {"name": "设施管理", "count": 1}]
    assert e["by_source"] == [{"source": "hotline", "label": "12345热线", "count": 3}]
    assert {r["code"]: r["count"] for r in e["by_street"]} == {sd.a: 2, sd.b: 1}
    assert e["on_time"]["due"] >= 5 and e["on_time"]["on_time"] <= e["on_time"]["due"]
    assert e["on_time"]["rate"] == round(e["on_time"]["on_time"] / e["on_time"]["due"], 4)
    assert e["latest"][0]["title"] == "井盖缺失" and e["latest"][0]["state_label"] == "待立案"
    assert [x["title"] for x in e["latest"]][-1] == "两天前的垃圾"

    assert p["dispatch"] == {"open": 1, "overdue": 0, "dispatched_today": 1, "closed_today": 0, "returned_today": 0,
                             "failed_outbox": 0}

    c = p["callout"]
    assert (c["today"], c["answered"], c["rate"]) == (3, 2, 0.6667)  # the call two days ago is not today's
    assert c["by_scenario"] == [{"scenario": "hotline_callback", "label": "热线回访", "total": 3, "answered": 2,
                                 "rate": 0.6667}]

    sy = p["systems"]
    status = {x["code"]: x for x in sy["systems"]}
    assert status["SYS-DUTY"]["status"] == "amber" and "巡检发现" in status["SYS-DUTY"]["reason"]
    assert status["SYS-EYE"]["status"] == "red" and "紧急" in status["SYS-EYE"]["reason"]
    assert sy["counts"] == {"green": len(status) - 2, "amber": 1, "red": 1}

    du = p["duty"]
    assert du["nobody"] is False and du["scope"] == "district"
    assert du["on_duty"] == [{"team": "scr", "team_name": "城运中心值班组", "role": "leader", "role_label": "值班长",
                              "name": "王值班", "until": du["on_duty"][0]["until"]}]
    assert "phone" not in str(snaps["duty"]) and "1380000" not in str(snaps["duty"])


def test_street_panels_and_versions(db):
    """SYS-SCREEN: a street's screen counts that street only; the district's roster and calls
    stay (scope "district"); a version changes iff the data does."""
    sd = seed(db)
    p = {n: s["data"] for n, s in _all(db, sd.b).items()}
    assert [r["code"] for r in p["map"]["streets"]] == [sd.b]
    assert p["map"]["alarms"] == [] and p["map"]["events"] == [] and len(p["map"]["device_clusters"]) == 1
    assert (p["devices"]["total"], p["devices"]["online"], p["devices"]["rate"]) == (1, 1, 1.0)
    assert p["alarms"]["active"] == 0 and p["alarms"]["latest"] == []
    assert (p["events"]["today"], p["events"]["closed_today"]) == (1, 1)
    assert [x["title"] for x in p["events"]["latest"]] == ["已处置的垃圾"]
    assert p["dispatch"]["open"] == 0 and p["dispatch"]["dispatched_today"] == 0
    assert p["callout"]["today"] == 3 and p["callout"]["scope"] == "district"
    assert p["duty"]["scope"] == "district" and p["duty"]["on_duty"][0]["name"] == "王值班"

    a = {n: s["data"] for n, s in _all(db, sd.a).items()}
    assert (a["devices"]["total"], a["alarms"]["active"], a["dispatch"]["open"]) == (3, 1, 1)

    now = utcnow()
    with db.session() as s:
        v1 = panels.snapshot(s, "alarms", street=sd.a, now=now)["version"]
        assert panels.snapshot(s, "alarms", street=sd.a, now=now + timedelta(seconds=5))["version"] == v1
        from cityops.monitoring import service as monitoring

        monitoring.clear(s, sd.active_alarm, by="duty1", reason="已恢复")
        assert panels.snapshot(s, "alarms", street=sd.a, now=now)["version"] != v1


def test_work_orders_overdue_disposed_and_returned(db):
    """SYS-SCREEN: an open work order whose event is past its 处置 deadline is overdue; the
    platform's updates today count as closed / returned today."""
    from sqlalchemy import select, update

    from cityops.dispatch import results
    from cityops.dispatch.adapters.base import ExternalState, Update
    from cityops.dispatch.models import DispatchPlatform, WorkOrder
    from cityops.dispatch import service as dispatch
    from cityops.events import lifecycle
    from cityops.events import service as events
    from cityops.events.models import CityEvent
    from tests.events.helpers import offset_m

    sd = seed(db)
    with db.session() as s:
        later = utcnow() + timedelta(days=30)  # far past any dispose limit, working days or not
        d = panels.compute(s, "dispatch", street=None, now=later)
        assert d["open"] == 1 and d["overdue"] == 1
        assert panels.compute(s, "dispatch", street=sd.b, now=later)["overdue"] == 0

        # A second order; the platform has taken both (as the outbox records its answer).
        ev = s.get(CityEvent, s.scalar(select(WorkOrder.event_id)))
        other = events.create_event(s, category_code="010101", title="又一处垃圾", created_by="duty1", merge=False,
                                    source_kind="hotline", **dict(zip(("lon", "lat"), offset_m(ev.lon, ev.lat, 700))))
        lifecycle.transition(s, other.id, "accepted", actor="duty1", role="duty")
        dispatch.dispatch_event(s, other.id, actor="duty1", role="duty")
        s.execute(update(WorkOrder).values(state="submitted", external_id=WorkOrder.idempotency_key))
        platform = s.scalar(select(DispatchPlatform))
        now = utcnow()
        for i, (order, state) in enumerate(zip(s.scalars(select(WorkOrder).order_by(WorkOrder.id)),
                                               (ExternalState.DISPOSED, ExternalState.RETURNED))):
            results.store(s, platform, Update(update_id=f"u{i}", external_id=order.external_id, state=state,
                                              raw_status=state.value, at=now, text="处置完毕" if i == 0 else "非本单位职责"),
                          source="callback")
        d = panels.compute(s, "dispatch", street=None, now=utcnow())
        assert d == {"open": 0, "overdue": 0, "dispatched_today": 2, "closed_today": 1, "returned_today": 1,
                     "failed_outbox": 0}
        assert panels.compute(s, "dispatch", street=sd.b, now=utcnow())["closed_today"] == 0


def test_late_cutoff_matches_the_working_calendar():
    """The overdue count's cutoff: a step started before it is past the limit, from it on not."""
    from cityops.events.calendar import WorkCalendar

    now = utcnow()
    for mode, limit in (("workdays", timedelta(hours=16)), ("workdays", timedelta(minutes=30)),
                        ("24x7", timedelta(hours=4))):
        cal = WorkCalendar(mode)
        c = panels._late_cutoff(cal, limit, now)
        assert cal.working_between(c - timedelta(minutes=1), now) > limit >= cal.working_between(c, now), mode


def test_policy_lookup_agrees_with_the_sla_service(db):
    """The overdue count (events.stats.Clocks) reads the SLA policies once; it must pick what
    sla.policy_for picks."""
    from cityops.core.errors import NotFound
    from cityops.events import sla
    from cityops.events.models import EventCategory
    from sqlalchemy import select

    with db.session() as s:
        sla.create_policy(s, name="井盖加急", category_prefix="0301", severity="critical", accept_min=5,
                          dispatch_min=5, dispose_min=60, verify_min=60, close_min=60, calendar_mode="24x7")
        from cityops.events.stats import Clocks

        mine = Clocks(s)
        for code in s.scalars(select(EventCategory.code)):
            for severity in ("info", "warning", "major", "critical"):
                try:
                    expected = sla.policy_for(s, code, severity).id
                except NotFound:
                    expected = None
                got = mine.get(code, severity)
                assert (got[0].id if got else None) == expected, (code, severity)
