"""Visits (VISIT-1): freeze window, pre-visit checks at the right hour with real TCP probes,
failing checks raising findings, the record after the visit."""

import socket
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cityops.core.errors import Conflict, Invalid
from cityops.inspections import findings, probe_service
from cityops.maintenance.log_models import LogEntry
from cityops.visits import jobs, service as svc
from cityops.visits.models import VisitCheck

BJ = timezone(timedelta(hours=8))
START = datetime(2026, 12, 10, 14, 0, tzinfo=BJ)
END = datetime(2026, 12, 10, 16, 0, tzinfo=BJ)


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield f"127.0.0.1:{s.getsockname()[1]}"
    s.close()


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


def _visit(s, **extra):
    return svc.create_visit(s, {"title": "市领导调研城运中心", "organisation": "市城运中心", "visitor_count": 12,
                                "host": "王主任", "starts_at": START, "ends_at": END,
                                "system_codes": ["SYS-EYE"], **extra}, actor="mgr")


def test_default_freeze_window_and_active_freeze(db):
    with db.session() as s:
        v = _visit(s)
        assert v.freeze_from == datetime(2026, 12, 10, 8, 0, tzinfo=BJ) and v.freeze_until == END
        assert svc.active_freeze(s, datetime(2026, 12, 10, 7, 59, tzinfo=BJ)) is None
        assert svc.active_freeze(s, datetime(2026, 12, 10, 8, 0, tzinfo=BJ)).id == v.id
        assert svc.active_freeze(s, datetime(2026, 12, 10, 15, 59, tzinfo=BJ)).id == v.id
        assert svc.active_freeze(s, END) is None
        # moving the visit moves an unedited freeze with it; an edited freeze stays
        svc.update_visit(s, v.id, {"starts_at": START + timedelta(days=1), "ends_at": END + timedelta(days=1)})
        assert v.freeze_from == datetime(2026, 12, 11, 8, 0, tzinfo=BJ)
        svc.update_visit(s, v.id, {"freeze_from": datetime(2026, 12, 10, 18, 0, tzinfo=BJ)})
        assert svc.active_freeze(s, datetime(2026, 12, 10, 20, 0, tzinfo=BJ)).id == v.id
        svc.set_state(s, v.id, "cancelled")
        assert svc.active_freeze(s, datetime(2026, 12, 10, 20, 0, tzinfo=BJ)) is None


@pytest.mark.parametrize("extra,message", [
    ({"ends_at": START}, "结束时间须晚于"), ({"system_codes": ["SYS-NOPE"]}, "未知的系统编码"),
    ({"title": " "}, "名称"), ({"visitor_count": 0}, "至少为 1"), ({"check_hours": [0]}, "1–336"),
    ({"freeze_from": END, "freeze_until": START}, "封网结束时间"), ({"starts_at": "tomorrow"}, "格式不正确"),
])
def test_bad_visits_are_refused(db, extra, message):
    with db.session() as s, pytest.raises(Invalid, match=message):
        _visit(s, **extra)


def test_pre_visit_checks_run_at_24h_and_2h(db, listener):
    with db.session() as s:
        probe_service.create_probe(s, {"name": "城区之眼端口", "kind": "tcp", "target": listener, "timeout_s": 2,
                                       "system_code": "SYS-EYE"})
        v = _visit(s)
        vid = v.id
    assert jobs.pre_checks(db, now=START - timedelta(hours=24, minutes=1)) == 0
    assert jobs.pre_checks(db, now=START - timedelta(hours=23, minutes=59)) == 1
    assert jobs.pre_checks(db, now=START - timedelta(hours=20)) == 0  # the 24 h check is done
    assert jobs.pre_checks(db, now=START - timedelta(hours=1, minutes=59)) == 1
    assert jobs.pre_checks(db, now=START - timedelta(minutes=30)) == 0
    with db.session() as s:
        checks = svc.checks_of(s, vid)
        assert sorted(c.hours_before for c in checks) == [2, 24]
        assert all(c.ok and c.results[0]["name"] == "城区之眼端口" for c in checks)
        v = svc.get(s, vid)
        assert v.state == "ready" and not v.at_risk
    jobs.pre_checks(db, now=START + timedelta(minutes=5))
    with db.session() as s:
        assert svc.get(s, vid).state == "in_progress"


def test_a_late_visit_gets_only_the_latest_lead_time(db):
    with db.session() as s:
        _visit(s)
        assert svc.due_checks(s, START - timedelta(hours=1)) == [(svc.list_visits(s)[0].id, 2)]


def test_a_failing_check_raises_a_major_finding_and_marks_the_visit_at_risk(db, listener):
    with db.session() as s:
        bad = probe_service.create_probe(s, {"name": "派单平台端口", "kind": "tcp", "target": _closed_port(),
                                             "timeout_s": 2, "system_code": "SYS-DISPATCH"})
        v = _visit(s, system_codes=["SYS-EYE", "SYS-DISPATCH"])
        check = svc.run_check(s, v.id, actor="duty1", now=START - timedelta(hours=3))
        assert check.hours_before is None and check.ok is False and "派单平台端口" in check.summary
        assert v.at_risk is True and v.state == "planned"
        f = findings.open_finding(s, f"visit:{v.id}:probe:{bad.id}")
        assert (f.source, f.severity, f.system_code) == ("visit", "major", "SYS-DISPATCH")
        # fixed: the port is now the listening one → the next check clears the finding
        probe_service.update_probe(s, bad.id, {"target": listener})
        check = svc.run_check(s, v.id, actor="duty1", now=START - timedelta(hours=2))
        assert check.ok and not v.at_risk and findings.open_finding(s, f"visit:{v.id}:probe:{bad.id}") is None


def test_no_probes_is_said_plainly(db):
    with db.session() as s:
        v = _visit(s, system_codes=["SYS-LZM"])
        check = svc.run_check(s, v.id, now=START - timedelta(hours=3))
        assert check.results == [] and "尚未配置" in check.summary and v.state == "planned"


def test_record_after_the_visit_writes_the_maintenance_log(db):
    with db.session() as s:
        v = _visit(s)
        with pytest.raises(Conflict, match="尚未开始"):
            svc.record(s, v.id, outcome="顺利", actor="王主任", now=START - timedelta(hours=1))
        with pytest.raises(Invalid, match="接待结果"):
            svc.record(s, v.id, outcome="", actor="王主任", now=END)
        svc.record(s, v.id, outcome="顺利完成", issues="无", notes="领导肯定城区之眼", actor="王主任", now=END)
        assert v.state == "done"
        log = s.scalar(select(LogEntry).where(LogEntry.source == "visit", LogEntry.source_ref == str(v.id)))
        assert log.kind == "visit" and "顺利完成" in log.summary and log.system_code == "SYS-EYE"
        with pytest.raises(Conflict):
            svc.run_check(s, v.id)
        assert s.scalar(select(VisitCheck).where(VisitCheck.visit_id == v.id)) is None


def test_the_service_desk_refuses_change_tickets_inside_the_freeze(db):
    """Engineer C's open_ticket asks active_freeze; a change inside the window is refused."""
    from cityops.servicedesk import service as desk

    with db.session() as s:
        v = _visit(s)
        inside = datetime(2026, 12, 10, 9, 0, tzinfo=BJ)
        with pytest.raises(Conflict, match=v.title):
            desk.open_ticket(s, title="升级视频平台", nature="change", system_code="SYS-EYE", now=inside)
        t = desk.open_ticket(s, title="升级视频平台", nature="change", system_code="SYS-EYE",
                             now=datetime(2026, 12, 10, 17, 0, tzinfo=BJ))
        assert t.id is not None
