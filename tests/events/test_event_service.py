"""City events service (IOT-6, SYS-DISPATCH): creation with geo lookup, merging, the
lifecycle state machine and its transition log."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from cityops.core.bus import bus
from cityops.core.errors import Conflict, Invalid, NotFound, Problem
from cityops.core.timeutil import utcnow
from cityops.events import lifecycle, service
from cityops.events.models import CityEvent, EventTransition
from tests.events.helpers import offset_m, street_point


def _new(s, code="010101", point=None, **kw):
    lon, lat = point if point else (None, None)
    return service.create_event(s, category_code=code, title=kw.pop("title", "人行道暴露垃圾"), lon=lon, lat=lat,
                                created_by="duty1", **kw)


def test_create_fills_street_grid_number_and_first_transition(db):
    with db.session() as s:
        street, lon, lat = street_point(s)
        ev = _new(s, point=(lon, lat), source_kind="hotline", source_ref="12345-001", reporter_name="王先生",
                  reporter_phone="13812345678")
        second = _new(s, code="030101", point=offset_m(lon, lat, 500))
        assert ev.street_code == street and ev.grid_code is not None
        assert ev.state == "reported" and ev.severity == "warning"  # the category's default
        assert second.severity == "critical"  # 井盖缺失
        assert ev.number.startswith("CN") and ev.number.endswith("-0001") and second.number.endswith("-0002")
        trs = service.transitions_of(s, ev.id)
        assert [(t.from_state, t.to_state, t.action) for t in trs] == [("", "reported", "report")]


def test_create_refusals(db):
    with db.session() as s:
        with pytest.raises(Invalid, match="不是细类"):
            _new(s, code="0101")
        with pytest.raises(Invalid, match="source_kind"):
            _new(s, source_kind="fax")
        with pytest.raises(Invalid, match="lon 和 lat 需同时提供"):
            service.create_event(s, category_code="010101", title="x", lon=121.4)
        with pytest.raises(NotFound):
            _new(s, code="999999")
        cat = service.category_by_code(s, "010102")
        service.update_category(s, cat.id, enabled=False)
        with pytest.raises(Invalid, match="已停用"):
            _new(s, code="010102")


def test_merge_within_radius_and_window_then_unmerge(db):
    with db.session() as s:
        _, lon, lat = street_point(s)
        parent = _new(s, point=(lon, lat))
        child = _new(s, point=offset_m(lon, lat, 60), title="又见暴露垃圾", reporter_phone="13900001111")
        far = _new(s, point=offset_m(lon, lat, 300))  # beyond 100 m
        other_cat = _new(s, code="010201", point=offset_m(lon, lat, 10))  # 乱张贴: another leaf
        late = _new(s, point=offset_m(lon, lat, 10), reported_at=utcnow() + timedelta(hours=3))
        assert child.state == "merged" and child.merged_into_id == parent.id
        assert parent.report_count == 2
        for ev in (far, other_cat, late):
            assert ev.state == "reported" and ev.merged_into_id is None
        assert [c.id for c in service.merged_children(s, parent.id)] == [child.id]
        rows, _ = service.list_events(s)
        assert child.id not in [r.id for r in rows]  # merged reports stay out of the list
        assert service.list_events(s, state="merged")[1] == 1
        trs = service.transitions_of(s, child.id)
        assert trs[-1].action == "merge" and trs[-1].details["parent_number"] == parent.number
        # a merged report cannot be moved through the lifecycle
        with pytest.raises(Conflict, match="已合并"):
            lifecycle.transition(s, child.id, "accepted", actor="duty1", role="duty")
        service.unmerge(s, child.id, actor="duty1", reason="地点不同")
        assert child.state == "reported" and child.merged_into_id is None and parent.report_count == 1
        with pytest.raises(Conflict, match="不是合并的上报"):
            service.unmerge(s, child.id, actor="duty1")


def test_closed_events_and_category_settings_stop_merging(db):
    with db.session() as s:
        _, lon, lat = street_point(s)
        first = _new(s, point=(lon, lat))
        lifecycle.transition(s, first.id, "rejected", actor="duty1", role="duty", reason="重复")
        again = _new(s, point=(lon, lat))
        assert again.state == "reported"  # the rejected one does not absorb it
        cat = service.category_by_code(s, "010101")
        service.update_category(s, cat.id, merge_radius_m=0)
        assert _new(s, point=(lon, lat)).state == "reported"
        service.update_category(s, cat.id, merge_radius_m=500)
        assert _new(s, point=offset_m(lon, lat, 400)).state == "merged"


FULL_PATH = ["accepted", "dispatched", "in_progress", "disposed", "verified", "closed"]


def test_full_lifecycle_with_stamps_and_bus(db):
    heard = []
    unsubscribe = bus.subscribe(lifecycle.TOPIC, lambda topic, payload: heard.append(payload))
    try:
        with db.session() as s:
            ev = _new(s)
            eid = ev.id
        with db.session() as s:
            for to in FULL_PATH:
                lifecycle.transition(s, eid, to, actor="duty1", role="duty")
            ev = s.get(CityEvent, eid)
            assert ev.state == "closed"
            assert all(getattr(ev, f) is not None for f in ("accepted_at", "dispatched_at", "disposed_at",
                                                            "verified_at", "closed_at"))
            assert not [p for p in heard if p["event_id"] == eid and p["action"] != "report"]  # not before commit
        actions = [p["action"] for p in heard if p["event_id"] == eid]
        assert actions == ["report", "accept", "dispatch", "start", "dispose", "verify", "close"]
        with db.session() as s:
            trs = service.transitions_of(s, eid)
            assert [t.to_state for t in trs] == ["reported"] + FULL_PATH
            assert all(t.actor for t in trs)
    finally:
        unsubscribe()


def test_rolled_back_transition_is_not_published(db):
    heard = []
    unsubscribe = bus.subscribe(lifecycle.TOPIC, lambda topic, payload: heard.append(payload))
    try:
        with db.session() as s:
            eid = _new(s).id
        heard.clear()
        with pytest.raises(RuntimeError), db.session() as s:
            lifecycle.transition(s, eid, "accepted", actor="duty1", role="duty")
            raise RuntimeError("boom")
        assert heard == []
        with db.session() as s:
            assert s.get(CityEvent, eid).state == "reported"
    finally:
        unsubscribe()


@pytest.mark.parametrize("start_path,to,action", [
    (["accepted", "dispatched"], "accepted", "return"),
    (["accepted", "dispatched", "in_progress"], "returned", "return"),
    (["accepted", "dispatched", "in_progress", "disposed"], "accepted", "return"),
    (["accepted", "dispatched", "in_progress", "disposed", "verified"], "reopened", "reopen"),
    (FULL_PATH, "accepted", "reopen"),
    ([], "rejected", "reject"),
])
def test_return_reject_reopen_need_a_reason(db, start_path, to, action):
    with db.session() as s:
        eid = _new(s).id
        for st in start_path:
            lifecycle.transition(s, eid, st, actor="m", role="manager")
        with pytest.raises(Invalid, match="原因"):
            lifecycle.transition(s, eid, to, actor="m", role="manager", reason="  ")
        ev = lifecycle.transition(s, eid, to, actor="m", role="manager", reason="处置不到位")
        tr = service.transitions_of(s, eid)[-1]
        assert tr.action == action and tr.reason == "处置不到位"
        assert ev.state == ("rejected" if to == "rejected" else "accepted")
        if action == "reopen":
            assert ev.closed_at is None


def test_illegal_transitions_name_current_and_allowed_states(db):
    with db.session() as s:
        eid = _new(s).id
        with pytest.raises(Conflict) as exc:
            lifecycle.transition(s, eid, "closed", actor="duty1", role="duty")
        assert "reported" in exc.value.detail and "accepted" in exc.value.detail and "rejected" in exc.value.detail
        with pytest.raises(Conflict):  # "returned" only from dispatched/in_progress/disposed
            lifecycle.transition(s, eid, "returned", actor="duty1", role="duty", reason="x")
        with pytest.raises(Invalid, match="未知的状态"):
            lifecycle.transition(s, eid, "done", actor="duty1", role="duty")
        lifecycle.transition(s, eid, "rejected", actor="duty1", role="duty", reason="非本区")
        with pytest.raises(Conflict, match="终态"):
            lifecycle.transition(s, eid, "accepted", actor="duty1", role="duty")
        with pytest.raises(NotFound):
            lifecycle.transition(s, 999999, "accepted", actor="duty1", role="duty")
        assert s.scalar(select(EventTransition.to_state).where(EventTransition.event_id == eid)
                        .order_by(EventTransition.id.desc()).limit(1)) == "rejected"


def test_roles_in_the_transition_table(db):
    assert lifecycle.allowed_next("reported") == ["accepted", "rejected"]
    assert lifecycle.allowed_next("closed") == ["accepted"]
    assert lifecycle.allowed_next("merged") == []
    assert lifecycle.allowed_next("closed", "duty") == []  # reopening a closed case is for managers
    assert "dispatched" not in lifecycle.allowed_next("accepted", "street")
    with db.session() as s:
        street, lon, lat = street_point(s)
        eid = _new(s, point=(lon, lat)).id
        with pytest.raises(Problem) as exc:
            lifecycle.transition(s, eid, "accepted", actor="tech", role="technician")
        assert exc.value.status == 403
        lifecycle.transition(s, eid, "accepted", actor="st", role="street", scope=street)
        with pytest.raises(Problem) as exc:
            lifecycle.transition(s, eid, "dispatched", actor="st", role="street", scope=street)
        assert exc.value.status == 403
        lifecycle.transition(s, eid, "dispatched", actor="system", role="system")
        with pytest.raises(NotFound):
            lifecycle.transition(s, eid, "in_progress", actor="st", role="street", scope="other-street")


def test_number_taken_by_a_concurrent_writer_is_skipped(db, monkeypatch):
    with db.session() as s:
        first = _new(s)
        taken = first.number
    calls = iter([taken])  # the first attempt computes the number another writer already holds
    from cityops.core import numbering

    real = numbering.next_number
    monkeypatch.setattr(numbering, "next_number", lambda *a, **kw: next(calls, None) or real(*a, **kw))
    with db.session() as s:
        ev = _new(s, code="020101", title="无证设摊")
        assert ev.number != taken and ev.number.endswith("-0002")
        assert service.transitions_of(s, ev.id)[0].action == "report"
