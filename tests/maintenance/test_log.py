"""The maintenance log's write path (SVC-2): idempotent by source, Beijing day."""

from datetime import UTC, datetime

import pytest

from cityops.core.errors import Invalid
from cityops.maintenance.log import add_entry


def test_same_source_updates_instead_of_adding(db):
    at = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)  # 01:30 on 2 December in Beijing
    with db.session() as s:
        a = add_entry(s, kind="ticket", source="ticket", source_ref="7", summary="门户 502 已恢复", at=at)
        b = add_entry(s, kind="ticket", source="ticket", source_ref="7", summary="门户 502 已恢复（复核）", at=at)
        assert a.id == b.id and b.summary.endswith("（复核）")
        assert str(b.day) == "2026-12-02"
        free1 = add_entry(s, kind="free", summary="清理日志分区", author="wang")
        free2 = add_entry(s, kind="free", summary="清理日志分区", author="wang")
        assert free1.id != free2.id


def test_bad_entries_are_refused(db):
    with db.session() as s:
        with pytest.raises(Invalid):
            add_entry(s, kind="gossip", summary="x")
        with pytest.raises(Invalid):
            add_entry(s, kind="free", summary="  ")
