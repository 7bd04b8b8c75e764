"""Machine-room access (ROOM-3): check-in/out, who is in now, filters, masking, CSV."""

from datetime import datetime, timedelta, timezone

import pytest

from cityops.core.errors import Conflict, Invalid
from cityops.inspections import room_access as svc

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)
ROOM = "长宁区城运中心机房"
VISITOR = {"person": "赵工", "organisation": "海康威视", "id_number": "310105199001011234", "phone": "13912345678",
           "purpose": "更换存储硬盘", "escort": "张三", "room": ROOM, "items_in": "硬盘 2 块"}


def test_check_in_out_and_who_is_in_now(db):
    with db.session() as s:
        a = svc.check_in(s, VISITOR, actor="duty1", now=NOW)
        b = svc.check_in(s, {**VISITOR, "person": "钱工", "id_number": "", "room": "城区之眼机房"}, now=NOW)
        with pytest.raises(Conflict, match="已在"):
            svc.check_in(s, VISITOR, now=NOW)
        assert {r.id for r in svc.in_room_now(s)} == {a.id, b.id}
        assert [r.id for r in svc.in_room_now(s, ROOM)] == [a.id]
        svc.check_out(s, a.id, items_out="旧硬盘 2 块", actor="duty1", now=NOW + timedelta(hours=1))
        with pytest.raises(Conflict, match="已于"):
            svc.check_out(s, a.id, now=NOW + timedelta(hours=2))
        assert [r.id for r in svc.in_room_now(s)] == [b.id]
        assert [r.id for r in svc.list_access(s, q="海康")[0]] == [b.id, a.id]
        assert svc.list_access(s, since=NOW + timedelta(minutes=1))[1] == 0


@pytest.mark.parametrize("field,value,message", [
    ("person", "", "姓名"), ("purpose", "", "事由"), ("room", "", "机房"), ("id_number", "31010519900101123Y", "18 位"),
    ("id_number", "abc#1", "字母和数字"), ("phone", "call me", "电话"),
])
def test_bad_entries_are_refused(db, field, value, message):
    with db.session() as s, pytest.raises(Invalid, match=message):
        svc.check_in(s, {**VISITOR, field: value})


def test_id_numbers_and_phones_are_masked_for_roles_without_pii(db):
    assert svc.mask_id("310105199001011234") == "3101**********1234"
    with db.session() as s:
        row = svc.check_in(s, VISITOR, now=NOW)
        masked = svc.as_dict(row, sees_pii=False)
        assert masked["id_number"] == "3101**********1234" and masked["phone"] == "139****5678"
        assert svc.as_dict(row, sees_pii=True)["id_number"] == "310105199001011234"
        text = svc.to_csv([row], sees_pii=False).decode("utf-8-sig")
        assert "3101**********1234" in text and "310105199001011234" not in text and "进入时间" in text
