"""IOT-5 one open alarm per device+type under concurrency: two processes raising the same
alarm at the same moment end with one open alarm counted twice, and the loser does not fail."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from cityops.devices import service as devices
from cityops.monitoring import service
from cityops.monitoring.models import Alarm


def _device(db, ext: str) -> int:
    with db.session() as s:
        return devices.create_device(s, name=ext, external_id=ext,
                                     product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id).id


def _open(db, did: int) -> list[Alarm]:
    with db.session() as s:
        return list(s.scalars(select(Alarm).where(Alarm.device_id == did, Alarm.state != "cleared")))


def test_two_connections_raise_the_same_alarm_at_once(db):
    """PostgreSQL, two real connections: both sessions open, both insert, both commit."""
    if not db.is_postgres:
        pytest.skip("SQLite allows one writer at a time; the lost race is covered below on both backends")
    did = _device(db, "race-pg")
    first, second = db.sessions(), db.sessions()
    outcome: dict[str, object] = {}
    try:
        a = service.raise_alarm(first, device_id=did, alarm_type="烟雾报警", severity="critical", source="vendor")
        assert a.id is not None  # inserted, not yet committed

        def other() -> None:
            try:
                b = service.raise_alarm(second, device_id=did, alarm_type="烟雾报警", severity="critical",
                                        source="vendor")
                second.commit()
                outcome["id"] = b.id
            except Exception as exc:  # noqa: BLE001 — reported to the main thread
                outcome["error"] = exc
                second.rollback()

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.5)
        assert t.is_alive(), "the second insert waits on the unique index"
        first.commit()
        t.join(15)
        assert not t.is_alive()
    finally:
        first.close()
        second.close()
    assert "error" not in outcome, outcome.get("error")
    rows = _open(db, did)
    assert len(rows) == 1 and rows[0].id == outcome["id"] == a.id and rows[0].count == 2


def test_a_lost_race_counts_a_repeat_inside_the_callers_transaction(db, monkeypatch):
    """Both backends: the caller read "no open alarm" just before another writer committed one;
    its insert fails on the unique index inside a SAVEPOINT, it counts a repeat instead, and the
    rest of its transaction (written before and after) is kept."""
    did = _device(db, "race-any")
    with db.session() as s:
        service.raise_alarm(s, device_id=did, alarm_type="低电量", severity="warning", source="rule")
    real = service.open_alarm
    calls = {"n": 0}

    def stale(session, device_id, alarm_type):
        calls["n"] += 1
        return None if calls["n"] == 1 else real(session, device_id, alarm_type)

    monkeypatch.setattr(service, "open_alarm", stale)
    with db.session() as s:
        service.raise_alarm(s, device_id=did, alarm_type="防拆报警", severity="warning", source="vendor")
        calls["n"] = 0
        a = service.raise_alarm(s, device_id=did, alarm_type="低电量", severity="major", source="rule")
        assert a.count == 2 and a.severity == "major"
        service.raise_alarm(s, device_id=did, alarm_type="信号弱", severity="info", source="rule")
    monkeypatch.undo()
    rows = {a.alarm_type: a for a in _open(db, did)}
    assert set(rows) == {"低电量", "防拆报警", "信号弱"}
    assert rows["低电量"].count == 2


def test_a_savepoint_never_commits_on_its_own(db):
    """A raise that is the first write of a transaction is rolled back with it (SQLite's driver
    would otherwise commit at the savepoint's RELEASE)."""
    did = _device(db, "race-rollback")
    with pytest.raises(RuntimeError), db.session() as s:
        service.raise_alarm(s, device_id=did, alarm_type="烟雾报警", severity="critical", source="vendor")
        raise RuntimeError("the batch failed later on")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Alarm).where(Alarm.device_id == did)) == 0
