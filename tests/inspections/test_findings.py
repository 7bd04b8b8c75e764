"""Findings (OPS-1, ROOM-1): one open finding per key, severity only rises, clear and resolve."""

from datetime import UTC, datetime, timedelta

import pytest

from cityops.core.errors import Conflict, Invalid
from cityops.inspections import findings

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_one_open_finding_per_key(db):
    with db.session() as s:
        a = findings.raise_finding(s, key="probe:1", source="probe", title="门户不可达", severity="warning",
                                   ticket_policy="never", now=T0)
        b = findings.raise_finding(s, key="probe:1", source="probe", title="门户不可达", severity="major",
                                   detail="连接被拒绝", ticket_policy="never", now=T0 + timedelta(minutes=5))
        c = findings.raise_finding(s, key="probe:1", source="probe", title="门户不可达", severity="info",
                                   ticket_policy="never", now=T0 + timedelta(minutes=10))
        assert a.id == b.id == c.id
        assert (c.occurrences, c.severity, c.detail) == (3, "major", "连接被拒绝")
        rows, total = findings.list_findings(s)
        assert total == 1 and rows[0].id == a.id


def test_clear_resolves_and_a_new_failure_opens_a_new_finding(db):
    with db.session() as s:
        first = findings.raise_finding(s, key="probe:2", source="probe", title="x", ticket_policy="never", now=T0)
        cleared = findings.clear_finding(s, key="probe:2", now=T0 + timedelta(minutes=1))
        assert cleared.id == first.id and cleared.state == "resolved" and cleared.resolved_by == "system"
        assert findings.clear_finding(s, key="probe:2") is None
        again = findings.raise_finding(s, key="probe:2", source="probe", title="x", ticket_policy="never", now=T0)
        assert again.id != first.id


def test_resolve_by_a_person_needs_a_note(db):
    with db.session() as s:
        f = findings.raise_finding(s, key="checklist:1:temp", source="checklist", title="机房温度 31℃",
                                   ticket_policy="never")
        with pytest.raises(Invalid):
            findings.resolve(s, f.id, note=" ", actor="li")
        findings.resolve(s, f.id, note="空调复位", actor="li")
        with pytest.raises(Conflict):
            findings.resolve(s, f.id, note="again", actor="li")
        assert findings.get(s, f.id).resolution == "空调复位"


def test_bad_values_are_refused(db):
    with db.session() as s:
        with pytest.raises(Invalid):
            findings.raise_finding(s, key="k", source="nowhere", title="x")
        with pytest.raises(Invalid):
            findings.raise_finding(s, key="k", source="probe", title="x", severity="fatal")
        with pytest.raises(Invalid):
            findings.raise_finding(s, key="k", source="probe", title="x", ticket_policy="sometimes")


def test_ticket_policy():
    assert findings.ticket_wanted("major", "major") and findings.ticket_wanted("critical", "major")
    assert not findings.ticket_wanted("warning", "major")
    assert findings.ticket_wanted("info", "always") and not findings.ticket_wanted("critical", "never")
