"""Hardware maintenance (HW, ROOM-2): preventive schedules and their due dates, maintenance work
with ticket and spare parts, stock movements, warranty findings, the maintenance-log line."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cityops.catalog import hw_service, service
from cityops.catalog.models import Asset, HardwareLine
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.inspections import findings
from cityops.maintenance.log_models import LogEntry

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 Beijing
TODAY = date(2026, 6, 1)


def _line(s, seq: int) -> HardwareLine:
    return s.scalar(select(HardwareLine).where(HardwareLine.seq == seq))


def _asset(s, tag: str) -> Asset:
    return s.scalar(select(Asset).where(Asset.asset_tag == tag))


def test_add_interval_keeps_month_ends():
    assert hw_service.add_interval(date(2026, 1, 31), 1, "month") == date(2026, 2, 28)
    assert hw_service.add_interval(date(2026, 11, 15), 3, "month") == date(2027, 2, 15)
    assert hw_service.add_interval(date(2026, 5, 1), 2, "week") == date(2026, 5, 15)


def test_due_dates_follow_the_last_preventive_record(db):
    with db.session() as s:
        line = _line(s, 1)
        sch = hw_service.create_schedule(s, line_id=line.id, interval=3, unit="month", checklist="清灰、风扇",
                                         first_due=date(2026, 5, 15))
        due = hw_service.due_list(s, today=TODAY, within_days=30)
        assert len(due) == line.quantity and all(r["overdue"] and r["days_left"] == -17 for r in due)
        a = _asset(s, "CN-HW-01-001")
        hw_service.record_work(s, a.id, kind="preventive", summary="季度清灰", performed_by="周工",
                               performed_at=datetime(2026, 5, 20, 10, 0), now=NOW)
        service.add_maintenance_record(s, _asset(s, "CN-HW-01-002").id, kind="repair", summary="换风扇",
                                       performed_by="周工", now=NOW)  # a repair does not reset the schedule
        due = {r["asset"].asset_tag: r for r in hw_service.due_list(s, today=TODAY, within_days=400)}
        assert due["CN-HW-01-001"]["due"] == date(2026, 8, 20) and not due["CN-HW-01-001"]["overdue"]
        assert due["CN-HW-01-002"]["due"] == date(2026, 5, 15)
        assert "CN-HW-01-001" not in {r["asset"].asset_tag for r in hw_service.due_list(s, today=TODAY)}
        with pytest.raises(Conflict):
            hw_service.create_schedule(s, line_id=line.id, interval=1, first_due=TODAY)
        with pytest.raises(Invalid, match="单位"):
            hw_service.update_schedule(s, sch.id, unit="day")
        with pytest.raises(NotFound):
            hw_service.create_schedule(s, line_id=99999, interval=1, first_due=TODAY)
        hw_service.update_schedule(s, sch.id, active=False)
        assert hw_service.due_list(s, today=TODAY) == []


def test_spare_stock_movements_and_low_stock(db):
    with db.session() as s:
        fan = hw_service.create_part(s, name="电源模块", model="PSU-550", line_id=_line(s, 2).id, quantity=3,
                                     min_stock=2, location="备件柜 A", by="tech1", now=NOW)
        assert fan.quantity == 3 and hw_service.list_parts(s, low_only=True) == []
        a = _asset(s, "CN-HW-02-001")
        rec = hw_service.record_work(s, a.id, kind="replacement", summary="更换故障电源", performed_by="周工",
                                     ticket_id=42, parts=[(fan.id, 2)], created_by="tech1", now=NOW)
        assert rec.ticket_id == 42 and fan.quantity == 1
        assert [p.id for p in hw_service.list_parts(s, low_only=True)] == [fan.id]
        moves = hw_service.list_movements(s, part_id=fan.id)
        assert [(m.delta, m.reason, m.record_id, m.quantity_after) for m in moves] == [
            (-2, "repair", rec.id, 1), (3, "purchase", None, 3)]
        with pytest.raises(Conflict, match="不足"):
            hw_service.move_stock(s, fan.id, delta=-2, reason="scrap")
        with pytest.raises(Conflict, match="不足"):  # nothing written when the parts run short
            hw_service.record_work(s, a.id, kind="repair", summary="再换", performed_by="周工",
                                   parts=[(fan.id, 5)], now=NOW)
        assert len(service.list_maintenance_records(s, a.id)) == 1
        with pytest.raises(Invalid):
            hw_service.move_stock(s, fan.id, delta=1, reason="gift")
        with pytest.raises(Invalid, match="数量"):
            hw_service.update_part(s, fan.id, quantity=10)
        hw_service.move_stock(s, fan.id, delta=4, reason="purchase", note="补货", now=NOW)
        assert fan.quantity == 5 and hw_service.list_parts(s, low_only=True) == []


def test_completed_work_writes_one_maintenance_log_line(db):
    with db.session() as s:
        a = _asset(s, "CN-HW-03-001")
        rec = hw_service.record_work(s, a.id, kind="repair", summary="重启恢复", performed_by="周工", result="正常",
                                     ticket_id=7, now=NOW)
        row = s.scalar(select(LogEntry).where(LogEntry.source == "hardware",
                                              LogEntry.source_ref == f"maintenance_record:{rec.id}"))
        assert row.kind == "hardware" and row.asset_id == a.id and "重启恢复" in row.summary and "#7" in row.detail


def test_warranty_finding_thirty_days_before_the_end(db):
    with db.session() as s:
        a = _asset(s, "CN-HW-05-001")
        b = _asset(s, "CN-HW-06-001")
        service.update_asset(s, a.id, warranty_end=date(2026, 6, 25))  # 24 days left
        service.update_asset(s, b.id, warranty_end=date(2026, 7, 20))  # 49 days left
        assert hw_service.check_warranty(s, now=NOW) == {"expiring": 1, "cleared": 0}
        rows, _ = findings.list_findings(s, source="plan")
        assert [(f.key, f.severity, f.asset_id, f.ticket_id) for f in rows] == [(f"warranty:{a.id}", "warning", a.id,
                                                                                None)]
        buckets = hw_service.warranty_buckets(s, today=TODAY)
        assert [x.id for x in buckets["d30"]] == [a.id] and [x.id for x in buckets["d60"]] == [b.id]
        assert hw_service.check_warranty(s, now=NOW + timedelta(days=20)) == {"expiring": 2, "cleared": 0}
        service.update_asset(s, a.id, warranty_end=date(2027, 6, 30))  # renewed
        assert hw_service.check_warranty(s, now=NOW + timedelta(days=21)) == {"expiring": 1, "cleared": 1}
        assert findings.open_finding(s, f"warranty:{a.id}") is None


def test_demo_schedules_and_spares(db):
    with db.session() as s:
        assert hw_service.seed_demo(s, today=TODAY) is True
        assert hw_service.seed_demo(s, today=TODAY) is False
        assert len(hw_service.list_schedules(s)) == 19 and len(hw_service.list_parts(s)) == 4
        assert hw_service.due_list(s, today=TODAY)  # some lines are due soon, a few overdue
