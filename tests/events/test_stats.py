"""Event statistics service (IOT-6, SYS-DISPATCH, issue #5 items 8-9): counts per category,
street, source, day and state with merged reports left out; on-time rate per step and per
responsible unit against the seeded SLA policies; durations in working and wall minutes; the
events map as GeoJSON. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.core.errors import Invalid
from cityops.core.timeutil import SHANGHAI
from cityops.events import lifecycle, service, sla, stats
from cityops.events.models import CityEvent
from cityops.geo.models import ResponsibleUnit
from tests.events.helpers import offset_m, street_point


def sh(d, h=0, mi=0) -> datetime:
    """A Beijing time in November 2026 (2 and 3 Nov are ordinary working days)."""
    return datetime(2026, 11, d, h, mi, tzinfo=SHANGHAI)


def _move(s, eid, *steps):
    for to, at in steps:
        reason = "退回重派" if to == "returned" else "不属实" if to == "rejected" else ""
        lifecycle.transition(s, eid, to, actor="tester", role="admin", at=at, reason=reason)


@pytest.fixture
def world(db):
    """Six events with known stamps (E2 is a repeat report merged into E1) and one outside the period.

    Seeded limits: critical 7×24 (accept 15, dispatch 30, dispose 240, verify 60, close 120 min),
    major 7×24 (accept 30), warning on working days (accept 120, dispatch 240 working minutes)."""
    with db.session() as s:
        a, alon, alat = street_point(s, 0)
        b, blon, blat = street_point(s, 1)
        c, clon, clat = street_point(s, 2)
        units = list(s.scalars(select(ResponsibleUnit).order_by(ResponsibleUnit.id).limit(2)))

        def ev(code, severity, source, at, point, merge=False):
            return service.create_event(s, category_code=code, title="测试事件", severity=severity, source_kind=source,
                                        reported_at=at, lon=point[0], lat=point[1], merge=merge, created_by="tester")

        e1 = ev("010101", "critical", "hotline", sh(2, 9), (alon, alat))
        e2 = ev("010101", "critical", "citizen", sh(2, 9, 30), offset_m(alon, alat, 20), merge=True)
        assert e2.state == "merged" and e2.merged_into_id == e1.id
        e3 = ev("030101", "warning", "vision", sh(2, 17), (blon, blat))
        e4 = ev("010101", "major", "patrol", sh(3, 7), offset_m(blon, blat, 30))
        e5 = ev("010101", "critical", "hotline", sh(3, 12), offset_m(alon, alat, 40))
        e6 = ev("010101", "critical", "hotline", sh(3, 14), (clon, clat))
        e7 = ev("010101", "critical", "hotline", sh(5, 10), offset_m(clon, clat, 30))
        _move(s, e1.id, ("accepted", sh(2, 9, 10)), ("dispatched", sh(2, 9, 50)), ("in_progress", sh(2, 10)),
              ("disposed", sh(2, 13, 10)), ("verified", sh(2, 14, 10)), ("closed", sh(2, 16, 20)))
        _move(s, e3.id, ("accepted", sh(3, 10, 30)))
        _move(s, e5.id, ("rejected", sh(3, 12, 5)))
        _move(s, e6.id, ("accepted", sh(3, 14, 10)), ("dispatched", sh(3, 14, 20)), ("returned", sh(3, 16)),
              ("dispatched", sh(3, 16, 10)))
        e1.unit_id, e3.unit_id = units[0].id, units[1].id
        s.flush()
        return {"streets": (a, b, c), "units": units, "ids": [e.id for e in (e1, e2, e3, e4, e5, e6, e7)],
                "points": (alon, alat)}


def _filters(**kw) -> stats.Filters:
    since, until = stats.day_period(sh(2).date(), sh(3).date())
    return stats.Filters(since, until, **kw)


def test_counts_per_category_street_source_day_state(db, world):
    a, b, c = world["streets"]
    with db.session() as s:
        got = stats.counts(s, _filters())
    assert (got["events"], got["reports"]) == (5, 6)  # E2 merged: only in E1's report_count
    assert [(r["code"], r["events"], r["reports"]) for r in got["by_category_top"]] == [("01", 4, 5), ("03", 1, 1)]
    assert got["by_category_top"][0]["name"] == "市容环境"
    leaf = {r["code"]: r for r in got["by_category_leaf"]}
    assert leaf["010101"]["events"] == 4 and leaf["010101"]["path"] == "市容环境 / 环境卫生 / 暴露垃圾"
    assert leaf["030101"]["events"] == 1
    streets = {r["code"]: r["events"] for r in got["by_street"]}
    assert streets[a] == 2 and streets[b] == 2 and streets[c] == 1
    assert {r["source"]: (r["events"], r["reports"]) for r in got["by_source"]} == {
        "hotline": (3, 4), "vision": (1, 1), "patrol": (1, 1)}
    assert got["by_day"] == [{"day": "2026-11-02", "events": 2, "reports": 3},
                             {"day": "2026-11-03", "events": 3, "reports": 3}]
    assert {r["state"]: r["events"] for r in got["by_state"]} == {
        "reported": 1, "accepted": 1, "dispatched": 1, "closed": 1, "rejected": 1}
    assert [r["state"] for r in got["by_state"]] == ["reported", "accepted", "dispatched", "closed", "rejected"]


def test_counts_respect_filters_scope_and_local_days(db, world):
    a, b, _c = world["streets"]
    with db.session() as s:
        assert stats.counts(s, _filters(street=b))["events"] == 2
        assert stats.counts(s, _filters(scope=a))["events"] == 2
        assert stats.counts(s, _filters(scope=a, street=b))["events"] == 0
        assert stats.counts(s, _filters(category="03"))["events"] == 1
        assert stats.counts(s, _filters(category="0101"))["events"] == 4
        assert stats.counts(s, _filters(source="patrol"))["events"] == 1
        # Beijing days: E4 at 3 Nov 07:00 +08:00 is 2 Nov 23:00 UTC, and counts on the 3rd
        one = stats.Filters(*stats.day_period(sh(3).date(), sh(3).date()))
        got = stats.counts(s, one)
        assert got["events"] == 3 and got["by_day"] == [{"day": "2026-11-03", "events": 3, "reports": 3}]
        # an empty period still lists its days with zeros
        empty = stats.counts(s, stats.Filters(*stats.day_period(sh(10).date(), sh(12).date())))
        assert empty["events"] == 0 and [d["events"] for d in empty["by_day"]] == [0, 0, 0]


def test_filters_are_validated():
    since, until = stats.day_period(sh(2).date(), sh(3).date())
    with pytest.raises(Invalid):
        stats.Filters(until, since)
    with pytest.raises(Invalid):
        stats.Filters(since, since + timedelta(days=400))
    with pytest.raises(Invalid):
        stats.Filters(since, until, category="1")
    with pytest.raises(Invalid):
        stats.Filters(since, until, source="fax")
    with pytest.raises(Invalid):
        stats.day_period(sh(3).date(), sh(2).date())


def test_on_time_per_step_with_exact_counts_and_durations(db, world):
    with db.session() as s:
        # the working-day case lands exactly on its deadline: 17:00-17:30 + 09:00-10:30 = 120 min
        d = sla.deadline(s, category_code="030101", severity="warning", step="accept", started_at=sh(2, 17))
        assert d.deadline == sh(3, 10, 30)
        got = stats.on_time(s, _filters(), now=sh(10))
    steps = {r["step"]: r for r in got["by_step"]}
    assert [r["step"] for r in got["by_step"]] == ["accept", "dispatch", "dispose", "verify", "close"]
    # accept: E1 10 min, E3 on the deadline, E6 10 min (its first 立案, not the later 退回), E4 still open and late
    assert {k: steps["accept"][k] for k in ("total", "on_time", "late", "open_late", "open_within", "completed")} == {
        "total": 4, "on_time": 3, "late": 1, "open_late": 1, "open_within": 0, "completed": 3}
    assert steps["accept"]["rate"] == 0.75
    assert steps["accept"]["mean_wall_min"] == round((10 + 1050 + 10) / 3, 1)
    assert steps["accept"]["median_wall_min"] == 10
    assert steps["accept"]["mean_work_min"] == round((10 + 120 + 10) / 3, 1)
    assert steps["accept"]["median_work_min"] == 10
    # dispatch: E1 40 > 30 late, E6 re-dispatched 10 min after the return, E3 open past 15:30 on the 3rd
    assert (steps["dispatch"]["total"], steps["dispatch"]["on_time"], steps["dispatch"]["open_late"]) == (3, 1, 1)
    assert steps["dispatch"]["mean_wall_min"] == 25.0  # (40 + 10) / 2
    # dispose: E1 200 ≤ 240; E6 still dispatched, past 20:10
    assert (steps["dispose"]["total"], steps["dispose"]["on_time"], steps["dispose"]["late"]) == (2, 1, 1)
    assert steps["dispose"]["mean_wall_min"] == 200.0
    # verify: exactly 60 of 60 is on time; close: 130 > 120
    assert (steps["verify"]["total"], steps["verify"]["on_time"], steps["verify"]["rate"]) == (1, 1, 1.0)
    assert (steps["close"]["total"], steps["close"]["late"], steps["close"]["rate"]) == (1, 1, 0.0)


def test_on_time_per_unit(db, world):
    u1, u2 = world["units"]
    with db.session() as s:
        got = stats.on_time(s, _filters(), now=sh(10))
    units = {r["unit_id"]: r for r in got["by_unit"]}
    assert set(units) == {u1.id, u2.id, None}
    assert (units[u1.id]["total"], units[u1.id]["on_time"], units[u1.id]["rate"]) == (5, 3, 0.6)
    assert units[u1.id]["unit_name"] == u1.name
    assert units[u1.id]["steps"]["close"] == {"total": 1, "on_time": 0, "rate": 0.0}
    assert (units[u2.id]["total"], units[u2.id]["on_time"]) == (2, 1)
    assert (units[None]["total"], units[None]["on_time"], units[None]["unit_name"]) == (4, 2, "（未指派）")
    assert [r["total"] for r in got["by_unit"]] == [5, 4, 2]  # largest first


def test_open_step_within_its_deadline_is_left_out(db, world):
    with db.session() as s:
        before = stats.on_time(s, _filters(source="patrol"), now=sh(3, 7, 20))["by_step"][0]
        after = stats.on_time(s, _filters(source="patrol"), now=sh(3, 7, 31))["by_step"][0]
    assert (before["total"], before["open_within"], before["rate"]) == (0, 1, None)
    assert (after["total"], after["late"], after["open_late"], after["rate"]) == (1, 1, 1, 0.0)


def test_report_combines_counts_and_on_time(db, world):
    with db.session() as s:
        rep = stats.report(s, _filters(), now=sh(10))
    assert rep["events"] == 5 and len(rep["by_step"]) == 5 and rep["by_unit"]
    assert rep["since"] == sh(2) and rep["until"] == sh(4)


def test_map_features_geojson(db, world):
    e1, e2, e3, e4, e5, e6, e7 = world["ids"]
    a, b, c = world["streets"]
    with db.session() as s:
        fc = stats.map_features(s)
        assert fc["type"] == "FeatureCollection" and fc["coordinate_system"] == "GCJ-02"
        assert [f["id"] for f in fc["features"]] == [e7, e6, e4, e3]  # open, newest first, merged left out
        f = next(f for f in fc["features"] if f["id"] == e3)
        ev = s.get(CityEvent, e3)
        assert f["geometry"] == {"type": "Point", "coordinates": [ev.lon, ev.lat]}
        p = f["properties"]
        assert (p["number"], p["state"], p["state_label"], p["severity"]) == (ev.number, "accepted", "已立案", "warning")
        assert p["category"] == "设施管理 / 井盖 / 井盖缺失" and p["category_code"] == "030101"
        assert p["street_code"] == b and p["street"] and p["reported_at"] == "2026-11-02T17:00:00+08:00"
        assert {f["id"] for f in stats.map_features(s, state=None)["features"]} == {e1, e3, e4, e5, e6, e7}
        assert [f["id"] for f in stats.map_features(s, state="closed")["features"]] == [e1]
        assert [f["id"] for f in stats.map_features(s, state="merged")["features"]] == [e2]
        assert [f["id"] for f in stats.map_features(s, severity="major")["features"]] == [e4]
        assert [f["id"] for f in stats.map_features(s, category="03")["features"]] == [e3]
        assert [f["id"] for f in stats.map_features(s, street=c)["features"]] == [e7, e6]
        assert [f["id"] for f in stats.map_features(s, scope=a, state=None)["features"]] == [e5, e1]
        assert [f["id"] for f in stats.map_features(s, since=sh(3))["features"]] == [e7, e6, e4]
        capped = stats.map_features(s, limit=2)
        assert len(capped["features"]) == 2 and capped["total"] == 4 and capped["truncated"] is True
        for bad in ({"state": "lost"}, {"severity": "fatal"}, {"category": "x1"}):
            with pytest.raises(Invalid):
                stats.map_features(s, **bad)
