"""Machine-room access and visitors (ROOM-3): check-in, check-out, who is in the room now,
filters and CSV export. ID numbers and phones are stored in full and masked for roles that
do not see personal data (`mask_id`: 3101**********1234)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.audit.service import mask_phone
from cityops.core.db import text_search
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import fmt_local, utcnow
from cityops.inspections.room_models import RoomAccess

ROOMS = ("长宁区城运中心机房", "城区之眼机房", "派单平台机房")  # suggestions; any name is accepted
_ID_RE = re.compile(r"^[0-9A-Za-z]{6,32}$")
_ID18_RE = re.compile(r"^\d{17}[\dX]$")
_PHONE_RE = re.compile(r"^[0-9+\- ]{5,32}$")


def mask_id(value: str | None) -> str:
    if not value or len(value) < 8:
        return "*" * len(value or "")
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    get = lambda k: str(data.get(k) or "").strip()  # noqa: E731
    person, purpose, room = get("person"), get("purpose"), get("room")
    if not person:
        raise Invalid("请填写进入人员姓名")
    if not room:
        raise Invalid("请填写机房")
    if not purpose:
        raise Invalid("请填写进入事由")
    id_number = get("id_number").upper().replace(" ", "")
    if id_number and not _ID_RE.match(id_number):
        raise Invalid("证件号码只能包含字母和数字（6–32 位）")
    if len(id_number) == 18 and not _ID18_RE.match(id_number):
        raise Invalid("18 位身份证号码格式不正确（前 17 位为数字，末位为数字或 X）")
    phone = get("phone")
    if phone and not _PHONE_RE.match(phone):
        raise Invalid("联系电话格式不正确")
    return {"person": person[:64], "organisation": get("organisation")[:100], "id_number": id_number,
            "phone": phone, "purpose": purpose[:200], "escort": get("escort")[:64], "room": room[:64],
            "items_in": get("items_in")}


def check_in(session: Session, data: dict[str, Any], *, actor: str = "", now: datetime | None = None) -> RoomAccess:
    row = RoomAccess(**_clean(data), in_at=now or utcnow(), recorded_by=actor)
    if row.id_number and session.scalar(select(RoomAccess.id).where(
            RoomAccess.id_number == row.id_number, RoomAccess.room == row.room, RoomAccess.out_at.is_(None))):
        raise Conflict(f"{row.person} 已在 {row.room} 内，请先登记离开")
    session.add(row)
    session.flush()
    return row


def get(session: Session, access_id: int) -> RoomAccess:
    row = session.get(RoomAccess, access_id)
    if row is None:
        raise NotFound(f"出入记录 {access_id} 不存在")
    return row


def check_out(session: Session, access_id: int, *, items_out: str = "", actor: str = "",
              now: datetime | None = None) -> RoomAccess:
    row = get(session, access_id)
    if row.out_at is not None:
        raise Conflict(f"{row.person} 已于 {fmt_local(row.out_at, '%m-%d %H:%M')} 登记离开")
    now = now or utcnow()
    if now < row.in_at:
        raise Invalid("离开时间不能早于进入时间")
    row.out_at, row.items_out, row.out_by = now, items_out.strip(), actor
    session.flush()
    return row


def list_access(session: Session, *, room: str | None = None, present: bool | None = None, q: str | None = None,
                since: datetime | None = None, until: datetime | None = None, limit: int = 50,
                offset: int = 0) -> tuple[list[RoomAccess], int]:
    stmt = select(RoomAccess)
    if room:
        stmt = stmt.where(RoomAccess.room == room)
    if present is True:
        stmt = stmt.where(RoomAccess.out_at.is_(None))
    elif present is False:
        stmt = stmt.where(RoomAccess.out_at.is_not(None))
    if q and q.strip():
        stmt = stmt.where(text_search(q, RoomAccess.person, RoomAccess.organisation, RoomAccess.purpose,
                                      RoomAccess.escort))
    if since:
        stmt = stmt.where(RoomAccess.in_at >= since)
    if until:
        stmt = stmt.where(RoomAccess.in_at < until)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(RoomAccess.in_at.desc(), RoomAccess.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def in_room_now(session: Session, room: str | None = None) -> list[RoomAccess]:
    return list_access(session, room=room, present=True, limit=500)[0]


def as_dict(row: RoomAccess, *, sees_pii: bool) -> dict[str, Any]:
    return {"id": row.id, "person": row.person, "organisation": row.organisation,
            "id_number": row.id_number if sees_pii else mask_id(row.id_number),
            "phone": row.phone if sees_pii else mask_phone(row.phone), "purpose": row.purpose,
            "escort": row.escort, "room": row.room, "items_in": row.items_in, "items_out": row.items_out,
            "in_at": row.in_at, "out_at": row.out_at, "recorded_by": row.recorded_by, "out_by": row.out_by,
            "in_room": row.out_at is None}


CSV_HEADERS = ["编号", "姓名", "单位", "证件号码", "联系电话", "事由", "陪同人员", "机房", "带入物品", "带出物品",
               "进入时间", "离开时间", "登记人"]


def to_csv(rows: list[RoomAccess], *, sees_pii: bool) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_HEADERS)
    for r in rows:
        d = as_dict(r, sees_pii=sees_pii)
        w.writerow([d["id"], d["person"], d["organisation"], d["id_number"], d["phone"], d["purpose"], d["escort"],
                    d["room"], d["items_in"], d["items_out"], fmt_local(r.in_at), fmt_local(r.out_at), d["recorded_by"]])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens the Chinese correctly
