"""City events (IOT-6, SYS-DISPATCH): categories, creation with geo lookup and merging of
repeat reports, listing, attachments.

`scope` arguments carry the caller's street (street-role users); events outside it behave
as if they did not exist. State changes go through events/lifecycle.py.
"""

from __future__ import annotations

import math
import mimetypes
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.db import text_search
from cityops.core.numbering import insert_numbered
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.events import lifecycle
from cityops.events.models import (
    SEVERITIES,
    SOURCE_KINDS,
    CityEvent,
    EventAttachment,
    EventCategory,
    EventTransition,
)

# Merge defaults; a category's merge_radius_m / merge_window_min override them.
MERGE_RADIUS_M = 100
MERGE_WINDOW = timedelta(hours=2)
NUMBER_PREFIX = "CN"  # Changning
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
ATTACHMENT_TYPES = re.compile(r"^(image/(jpeg|png|gif|webp|heic)|video/(mp4|quicktime)|audio/(mpeg|mp4|wav|amr)|"
                              r"application/pdf|text/plain)$")
_CODE = re.compile(r"^\d{2}$")


# -- categories -----------------------------------------------------------------------

def list_categories(session: Session, *, enabled_only: bool = False) -> list[EventCategory]:
    q = select(EventCategory).order_by(EventCategory.code)
    if enabled_only:
        q = q.where(EventCategory.enabled.is_(True))
    return list(session.scalars(q))


def get_category(session: Session, category_id: int) -> EventCategory:
    cat = session.get(EventCategory, category_id)
    if cat is None:
        raise NotFound(f"事件分类 {category_id} 不存在")
    return cat


def category_by_code(session: Session, code: str) -> EventCategory:
    cat = session.scalar(select(EventCategory).where(EventCategory.code == code))
    if cat is None:
        raise NotFound(f"事件分类 {code} 不存在")
    return cat


def _has_children(session: Session, category_id: int) -> bool:
    return session.scalar(select(func.count()).select_from(EventCategory)
                          .where(EventCategory.parent_id == category_id)) > 0


def _check_merge_settings(radius: int | None, window: int | None) -> None:
    if radius is not None and not 0 <= radius <= 5000:
        raise Invalid("merge_radius_m（合并半径）应在 0 到 5000 米之间（0 = 不合并）")
    if window is not None and not 0 <= window <= 7 * 24 * 60:
        raise Invalid("merge_window_min（合并时间窗）应在 0 到 10080 分钟之间（一周）")


def create_category(session: Session, *, name: str, parent_id: int | None = None, code: str | None = None,
                    default_severity: str = "warning", enabled: bool = True, merge_radius_m: int | None = None,
                    merge_window_min: int | None = None) -> EventCategory:
    """A new node; its code is the parent's plus two digits (given, or the next free ones)."""
    name = (name or "").strip()
    if not name:
        raise Invalid("事件分类需要名称")
    if default_severity not in SEVERITIES:
        raise Invalid(f"default_severity 应为以下之一：{'、'.join(SEVERITIES)}")
    _check_merge_settings(merge_radius_m, merge_window_min)
    parent = get_category(session, parent_id) if parent_id is not None else None
    if parent is not None and parent.level >= 3:
        raise Invalid("细类（第三级）不能再有下级分类")
    prefix = parent.code if parent else ""
    siblings = [c.code for c in session.scalars(select(EventCategory).where(
        EventCategory.parent_id.is_(None) if parent is None else EventCategory.parent_id == parent.id))]
    if code:
        suffix = code[len(prefix):] if code.startswith(prefix) else ""
        if not _CODE.match(suffix) or len(code) != len(prefix) + 2:
            raise Invalid(f"code 应为上级分类代码“{prefix}”后加两位数字")
    else:
        used = [int(c[len(prefix):]) for c in siblings]
        nxt = max(used, default=0) + 1
        if nxt > 99:
            raise Invalid("该上级分类下已没有可用的代码")
        code = f"{prefix}{nxt:02d}"
    if session.scalar(select(EventCategory).where(EventCategory.code == code)) is not None:
        raise Conflict(f"分类代码“{code}”已被使用")
    cat = EventCategory(code=code, name=name, level=(parent.level + 1) if parent else 1,
                        parent_id=parent.id if parent else None, default_severity=default_severity,
                        enabled=enabled, merge_radius_m=merge_radius_m, merge_window_min=merge_window_min)
    session.add(cat)
    session.flush()
    return cat


def update_category(session: Session, category_id: int, **fields: Any) -> EventCategory:
    """Name, default severity, enabled and merge settings; code and place in the tree are fixed."""
    cat = get_category(session, category_id)
    unknown = set(fields) - {"name", "default_severity", "enabled", "merge_radius_m", "merge_window_min"}
    if unknown:
        raise Invalid(f"不能修改事件分类的 {'、'.join(sorted(unknown))}")
    for key in ("name", "default_severity", "enabled"):
        if key in fields and fields[key] is None:
            raise Invalid(f"{key} 不能为空")
    if "name" in fields:
        if not fields["name"].strip():
            raise Invalid("事件分类需要名称")
        fields["name"] = fields["name"].strip()
    if "default_severity" in fields and fields["default_severity"] not in SEVERITIES:
        raise Invalid(f"default_severity 应为以下之一：{'、'.join(SEVERITIES)}")
    _check_merge_settings(fields.get("merge_radius_m"), fields.get("merge_window_min"))
    for k, v in fields.items():
        setattr(cat, k, v)
    session.flush()
    return cat


def category_path(session: Session, cat: EventCategory) -> str:
    """"设施管理 / 井盖 / 井盖缺失" for display."""
    names = [cat.name]
    node = cat
    while node.parent_id is not None:
        node = session.get(EventCategory, node.parent_id)
        names.append(node.name)
    return " / ".join(reversed(names))


# -- events -----------------------------------------------------------------------------

def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def find_merge_target(session: Session, cat: EventCategory, lon: float | None, lat: float | None,
                      at: datetime) -> CityEvent | None:
    """The nearest open, unmerged event of the same leaf category within the radius and window."""
    if lon is None or lat is None:
        return None
    radius = MERGE_RADIUS_M if cat.merge_radius_m is None else cat.merge_radius_m
    window = MERGE_WINDOW if cat.merge_window_min is None else timedelta(minutes=cat.merge_window_min)
    if radius <= 0 or window <= timedelta(0):
        return None
    dlat = radius / 111_320
    dlon = radius / (111_320 * max(math.cos(math.radians(lat)), 0.01))
    candidates = session.scalars(select(CityEvent).where(
        CityEvent.category_id == cat.id, CityEvent.state.in_(lifecycle.OPEN_STATES),
        CityEvent.merged_into_id.is_(None), CityEvent.reported_at >= at - window, CityEvent.reported_at <= at,
        CityEvent.lon.between(lon - dlon, lon + dlon), CityEvent.lat.between(lat - dlat, lat + dlat)))
    best, best_d = None, None
    for ev in candidates:
        d = distance_m(lon, lat, ev.lon, ev.lat)
        if d <= radius and (best_d is None or d < best_d):
            best, best_d = ev, d
    return best


def create_event(session: Session, *, category_id: int | None = None, category_code: str | None = None,
                 title: str, description: str = "", lon: float | None = None, lat: float | None = None,
                 address: str = "", severity: str | None = None, source_kind: str = "manual",
                 source_ref: str = "", reporter_name: str = "", reporter_phone: str = "",
                 reported_at: datetime | None = None, created_by: str = "system",
                 merge: bool = True) -> CityEvent:
    """Record a report. The point fills street and grid; a matching open event nearby
    absorbs it as a merged report (state "merged", merged_into_id set)."""
    from cityops.geo import service as geo

    if category_id is not None:
        cat = get_category(session, category_id)
    elif category_code:
        cat = category_by_code(session, category_code)
    else:
        raise Invalid("请提供 category_id 或 category_code")
    if not cat.enabled:
        raise Invalid(f"事件分类 {cat.code} {cat.name} 已停用")
    if _has_children(session, cat.id):
        raise Invalid(f"事件分类 {cat.code} {cat.name} 不是细类，请选择细类")
    title = (title or "").strip()
    if not title:
        raise Invalid("事件需要标题")
    if source_kind not in SOURCE_KINDS:
        raise Invalid(f"source_kind 应为以下之一：{'、'.join(SOURCE_KINDS)}")
    severity = severity or cat.default_severity
    if severity not in SEVERITIES:
        raise Invalid(f"severity 应为以下之一：{'、'.join(SEVERITIES)}")
    if (lon is None) != (lat is None):
        raise Invalid("lon 和 lat 需同时提供，或都不提供")
    at = reported_at or utcnow()
    if at.tzinfo is None:
        raise Invalid("reported_at 需要带 UTC 时区偏移")
    street_code = grid_code = None
    if lon is not None:
        loc = geo.locate(session, lon, lat)
        street_code, grid_code = loc.street_code, loc.grid_code
    parent = find_merge_target(session, cat, lon, lat, at) if merge else None
    fields = {"category_id": cat.id, "title": title, "description": description, "lon": lon, "lat": lat,
              "street_code": street_code, "grid_code": grid_code, "address": address.strip(), "severity": severity,
              "source_kind": source_kind, "source_ref": source_ref, "reporter_name": reporter_name.strip(),
              "reporter_phone": reporter_phone.strip(), "state": "reported", "created_by": created_by,
              "reported_at": at, "report_count": 1}
    ev = insert_numbered(session, CityEvent, fields, prefix=NUMBER_PREFIX, at=at, width=4, sep="-",
                         conflict="无法分配事件编号，请重试")
    lifecycle.record(session, ev, from_state="", to_state="reported", action="report", actor=created_by, at=at,
                     details={"source_kind": source_kind, "source_ref": source_ref})
    if parent is not None:
        _merge(session, ev, parent, actor="system", at=at)
    return ev


def _merge(session: Session, child: CityEvent, parent: CityEvent, *, actor: str, at: datetime) -> None:
    child.state = "merged"
    child.merged_into_id = parent.id
    parent.report_count += 1
    if SEVERITIES.index(child.severity) > SEVERITIES.index(parent.severity):
        parent.severity = child.severity  # a worse repeat report raises the event
    session.flush()
    d = round(distance_m(child.lon, child.lat, parent.lon, parent.lat), 1)
    lifecycle.record(session, child, from_state="reported", to_state="merged", action="merge", actor=actor, at=at,
                     reason=f"与 {parent.number} 相距 {d} 米，合并上报",
                     details={"parent_id": parent.id, "parent_number": parent.number, "distance_m": d})


def unmerge(session: Session, child_id: int, *, actor: str, reason: str = "", scope: str | None = None) -> CityEvent:
    """Make a merged report an independent event again, in state reported."""
    child = get_event(session, child_id, scope=scope)
    if child.state != "merged" or child.merged_into_id is None:
        raise Conflict(f"事件 {child.number} 不是合并的上报（当前状态 {child.state}），无需取消合并")
    parent = session.get(CityEvent, child.merged_into_id)
    child.state = "reported"
    child.merged_into_id = None
    parent.report_count = max(1, parent.report_count - 1)
    session.flush()
    lifecycle.record(session, child, from_state="merged", to_state="reported", action="unmerge", actor=actor,
                     reason=reason.strip(), details={"parent_id": parent.id, "parent_number": parent.number})
    return child


def get_event(session: Session, event_id: int, *, scope: str | None = None) -> CityEvent:
    ev = session.get(CityEvent, event_id)
    if ev is None or (scope is not None and ev.street_code != scope):
        raise NotFound(f"事件 {event_id} 不存在")
    return ev


def list_events(session: Session, *, state: str | None = None, category_id: int | None = None,
                category_code: str | None = None, street: str | None = None, source_kind: str | None = None,
                severity: str | None = None, since: datetime | None = None, until: datetime | None = None,
                include_merged: bool = False, q: str | None = None, scope: str | None = None,
                limit: int = 50, offset: int = 0) -> tuple[list[CityEvent], int]:
    """Newest first. `category_code` matches a node and everything under it; `state="open"`
    means every unfinished state."""
    query = select(CityEvent)
    if scope is not None:
        query = query.where(CityEvent.street_code == scope)
    if street:
        query = query.where(CityEvent.street_code == street)
    if state == "open":
        query = query.where(CityEvent.state.in_(lifecycle.OPEN_STATES))
    elif state:
        if state not in lifecycle.STATES:
            raise Invalid(f"未知的状态“{state}”")
        query = query.where(CityEvent.state == state)
    if not include_merged and state != "merged":
        query = query.where(CityEvent.merged_into_id.is_(None))
    if category_id is not None:
        query = query.where(CityEvent.category_id == category_id)
    if category_code:
        ids = select(EventCategory.id).where(EventCategory.code.like(f"{category_code}%"))
        query = query.where(CityEvent.category_id.in_(ids))
    if source_kind:
        query = query.where(CityEvent.source_kind == source_kind)
    if severity:
        query = query.where(CityEvent.severity == severity)
    if since:
        query = query.where(CityEvent.reported_at >= since)
    if until:
        query = query.where(CityEvent.reported_at < until)
    if q and q.strip():
        query = query.where(text_search(q, CityEvent.title, CityEvent.number, CityEvent.address))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(CityEvent.reported_at.desc(), CityEvent.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), total


def transitions_of(session: Session, event_id: int) -> list[EventTransition]:
    return list(session.scalars(select(EventTransition).where(EventTransition.event_id == event_id)
                                .order_by(EventTransition.at, EventTransition.id)))


def merged_children(session: Session, event_id: int) -> list[CityEvent]:
    return list(session.scalars(select(CityEvent).where(CityEvent.merged_into_id == event_id)
                                .order_by(CityEvent.reported_at)))


# -- attachments --------------------------------------------------------------------------

def attachments_of(session: Session, event_id: int) -> list[EventAttachment]:
    return list(session.scalars(select(EventAttachment).where(EventAttachment.event_id == event_id)
                                .order_by(EventAttachment.id)))


def add_attachment(session: Session, event_id: int, *, var_dir: Path, name: str, content_type: str, data: bytes,
                   by: str, scope: str | None = None) -> EventAttachment:
    """Store the file under var_dir/attachments/events/<id>/ with a generated name (never the
    uploader's), then the row; the file is removed again if the row cannot be written."""
    ev = get_event(session, event_id, scope=scope)
    name = Path((name or "").replace("\\", "/")).name.strip()[:255] or "附件"
    content_type = (content_type or "").split(";")[0].strip().lower()
    if not content_type or content_type == "application/octet-stream":
        content_type = mimetypes.guess_type(name)[0] or ""
    if not ATTACHMENT_TYPES.match(content_type):
        raise Invalid(f"附件类型 {content_type or '未知'} 不受支持：可上传图片、视频、音频、PDF 或文本")
    if not data:
        raise Invalid("附件为空")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise Invalid(f"附件超过 {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
    ext = (mimetypes.guess_extension(content_type) or "").lower()
    rel = Path("attachments") / "events" / str(ev.id) / f"{uuid.uuid4().hex}{ext}"
    target = Path(var_dir) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    try:
        att = EventAttachment(event_id=ev.id, name=name, content_type=content_type, size=len(data),
                              path=rel.as_posix(), uploaded_by=by)
        session.add(att)
        session.flush()
    except Exception:
        target.unlink(missing_ok=True)
        raise
    return att


def get_attachment(session: Session, event_id: int, attachment_id: int, *, var_dir: Path,
                   scope: str | None = None) -> tuple[EventAttachment, Path]:
    get_event(session, event_id, scope=scope)
    att = session.get(EventAttachment, attachment_id)
    if att is None or att.event_id != event_id:
        raise NotFound(f"附件 {attachment_id} 不存在")
    path = (Path(var_dir) / att.path).resolve()
    if not path.is_file() or Path(var_dir).resolve() not in path.parents:
        raise NotFound(f"附件 {attachment_id} 的文件不存在")
    return att, path
