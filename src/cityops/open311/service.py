"""Open311 GeoReport v2 intake (IOT-7, SYS-DISPATCH): API clients, the service list (the
enabled leaf event categories), creating city events from posted requests and describing
events as GeoReport service requests.

Coordinates: GeoReport lat/long are WGS-84, our events are GCJ-02; convert on the way in
and out. Status: open = the events' open states, closed = closed or rejected; merged reports
are answered by the event they were merged into.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound, Problem
from cityops.core.timeutil import aware, local, utcnow
from cityops.events import lifecycle, sla
from cityops.events import service as events
from cityops.events.models import (
    CityEvent,
    EventAttachment,
    EventCategory,
    EventTransition,
)
from cityops.geo import service as geo
from cityops.geo.coords import gcj02_to_wgs84, wgs84_to_gcj02
from cityops.geo.models import ResponsibleUnit
from cityops.open311.models import Open311Client, Open311Request

JURISDICTION_ID = "changning.sh.gov.cn"  # the district's site root, as the spec suggests
MAX_RESULTS = 1000
MAX_SPAN = timedelta(days=90)
MAX_DESCRIPTION = 4000
CLOSED_STATES = ("closed", "rejected")
STATUSES = ("open", "closed")
KEY_PREFIX = "o311_"


class Open311Error(Exception):
    """An error answered in GeoReport form: 400 bad input, 403 api_key, 404 unknown."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


def check_jurisdiction(value: str | None) -> None:
    # One jurisdiction: the parameter is optional, but a different one does not exist here.
    if value and value.strip() != JURISDICTION_ID:
        raise Open311Error(404, f"jurisdiction_id {value!r} not found; this endpoint serves {JURISDICTION_ID}")


# -- clients ----------------------------------------------------------------------------

def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def list_clients(session: Session) -> list[Open311Client]:
    return list(session.scalars(select(Open311Client).order_by(Open311Client.name)))


def get_client(session: Session, client_id: int) -> Open311Client:
    c = session.get(Open311Client, client_id)
    if c is None:
        raise NotFound("open311 client", client_id)
    return c


def create_client(session: Session, *, name: str, created_by: str, token_mode: bool = False,
                  note: str = "") -> tuple[Open311Client, str]:
    """A new client and its API key (returned once; only its hash is kept)."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise Invalid("客户端名称不能为空，且不超过 64 个字符")
    if len(note or "") > 256:
        raise Invalid("备注不超过 256 个字符")
    if session.scalar(select(Open311Client.id).where(Open311Client.name == name)) is not None:
        raise Conflict(f"客户端名称 {name!r} 已存在")
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    client = Open311Client(name=name, api_key_hash=hash_key(key), key_prefix=key[:8], enabled=True,
                           token_mode=token_mode, note=(note or "").strip(), created_by=created_by)
    session.add(client)
    session.flush()
    return client, key


def set_client(session: Session, client_id: int, *, enabled: bool | None = None,
               token_mode: bool | None = None) -> Open311Client:
    c = get_client(session, client_id)
    if enabled is not None:
        c.enabled = enabled
    if token_mode is not None:
        c.token_mode = token_mode
    session.flush()
    return c


def delete_client(session: Session, client_id: int) -> None:
    """Remove a client; the events and tokens it created stay (with its name kept)."""
    c = get_client(session, client_id)
    session.execute(update(Open311Request).where(Open311Request.client_id == c.id).values(client_id=None)
                    .execution_options(synchronize_session=False))
    session.delete(c)
    session.flush()


def authenticate(session: Session, api_key: str | None) -> Open311Client:
    if not api_key or not api_key.strip():
        raise Open311Error(403, "api_key is required -- can't proceed with create_request")
    c = session.scalar(select(Open311Client).where(Open311Client.api_key_hash == hash_key(api_key.strip())))
    if c is None:
        raise Open311Error(403, "Invalid api_key received -- can't proceed with create_request")
    if not c.enabled:
        raise Open311Error(403, "api_key is disabled -- can't proceed with create_request")
    return c


# -- services -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceType:
    category_id: int
    code: str
    name: str
    path: list[str]  # 大类, 小类, 细类 names

    def as_dict(self) -> dict[str, Any]:
        return {"service_code": self.code, "service_name": self.name, "description": " / ".join(self.path),
                "metadata": False, "type": "realtime", "keywords": ", ".join(reversed(self.path)),
                "group": self.path[0]}


def catalogue(session: Session) -> list[ServiceType]:
    """Enabled leaf categories whose ancestors are enabled too, by code."""
    cats = {c.id: c for c in session.scalars(select(EventCategory))}
    parents = {c.parent_id for c in cats.values() if c.parent_id is not None}
    out = []
    for c in cats.values():
        if c.id in parents:
            continue
        chain, node = [], c
        while node is not None:
            chain.append(node)
            node = cats.get(node.parent_id) if node.parent_id is not None else None
        if all(n.enabled for n in chain):
            out.append(ServiceType(c.id, c.code, c.name, [n.name for n in reversed(chain)]))
    return sorted(out, key=lambda s: s.code)


def service_type(session: Session, code: str) -> ServiceType:
    found = next((s for s in catalogue(session) if s.code == code), None)
    if found is None:
        raise Open311Error(404, f"service_code {code!r} not found")
    return found


def definition(session: Session, code: str) -> dict[str, Any]:
    """No service asks for attributes beyond the standard fields."""
    return {"service_code": service_type(session, code).code, "attributes": []}


# -- POST requests --------------------------------------------------------------------------

def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number (WGS-84), got {value!r}") from None


def _reporter(first: str, last: str) -> str:
    first, last = first.strip(), last.strip()
    if any("\u4e00" <= ch <= "\u9fff" for ch in first + last):
        return f"{last}{first}"  # Chinese order: family name first
    return " ".join(p for p in (first, last) if p)


def _title(description: str, service: ServiceType) -> str:
    line = next((x.strip() for x in description.splitlines() if x.strip()), "")
    return (line[:60] + "…" if len(line) > 60 else line) or service.name


def submit(session: Session, client: Open311Client, form: dict[str, str], attributes: dict[str, Any],
           *, now: datetime | None = None) -> dict[str, Any]:
    """Create the event for one posted request; the answer per spec (service_request_id or,
    for a token-mode client, token)."""
    get = lambda k: (form.get(k) or "").strip()  # empty means not given, per spec
    code = get("service_code")
    if not code:
        raise Open311Error(400, "service_code was not provided")
    service = service_type(session, code)
    lat_s, lon_s, address, address_id = get("lat"), get("long"), get("address_string"), get("address_id")
    if bool(lat_s) != bool(lon_s):
        raise Open311Error(400, "lat and long must be sent together")
    if not (lat_s or address or address_id):
        raise Open311Error(400, "a location is required: lat & long, address_string or address_id")
    lon = lat = None
    if lat_s:
        wlat, wlon = _float(lat_s, "lat"), _float(lon_s, "long")
        if not (-90 <= wlat <= 90 and -180 <= wlon <= 180):
            raise Open311Error(400, "lat/long are out of range")
        lon, lat = (float(v) for v in wgs84_to_gcj02(wlon, wlat))
        if geo.locate(session, lon, lat).street_code is None:
            raise Open311Error(400, f"the location {wlat}, {wlon} lies outside 长宁区 (Changning district); "
                                    "this jurisdiction cannot handle it")
    description = form.get("description") or ""
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is limited to {MAX_DESCRIPTION} characters")
    email = get("email")
    if email and ("@" not in email or len(email) > 254):
        raise Open311Error(400, "email is not a valid e-mail address")
    phone = get("phone")
    if len(phone) > 32:
        raise Open311Error(400, "phone is too long")
    media_url = get("media_url")
    if media_url and not media_url.lower().startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    device_id, account_id = get("device_id")[:128], get("account_id")[:128]
    if not address and address_id:
        address = f"地址编号 {address_id}"
    ref = ":".join(p for p in (client.name, device_id or account_id) if p)[:128]
    ev = events.create_event(session, category_id=service.category_id, title=_title(description, service),
                             description=description.strip(), lon=lon, lat=lat, address=address[:256],
                             source_kind="open311", source_ref=ref,
                             reporter_name=_reporter(get("first_name"), get("last_name"))[:64],
                             reporter_phone=phone, reported_at=now, created_by=f"open311:{client.name}"[:64])
    row = Open311Request(token=secrets.token_urlsafe(16), client_id=client.id, client_name=client.name,
                         event_id=ev.id, account_id=account_id, device_id=device_id, email=email,
                         address_id=address_id[:128], media_url=media_url[:1024], attributes=attributes)
    session.add(row)
    session.execute(update(Open311Client).where(Open311Client.id == client.id)
                    .values(requests_count=Open311Client.requests_count + 1, last_used_at=utcnow())
                    .execution_options(synchronize_session=False))
    session.flush()
    target = session.get(CityEvent, ev.merged_into_id) if ev.merged_into_id else ev
    if ev.merged_into_id:
        notice = (f"该位置附近已有同类问题 {target.number} 正在办理，您的上报已合并到该事件"
                  f"（已有 {target.report_count} 次上报），请以 {target.number} 查询进度")
    else:
        notice = f"已收到您的上报，事件编号 {ev.number}，将由长宁区城运中心立案派遣处置"
    answer: dict[str, Any] = {"token": row.token} if client.token_mode else {"service_request_id": target.number}
    answer |= {"service_notice": notice, "account_id": account_id or None}
    return answer


def resolve_token(session: Session, token: str) -> dict[str, Any]:
    row = session.scalar(select(Open311Request).where(Open311Request.token == token))
    if row is None:
        raise Open311Error(404, f"token {token!r} not found")
    ev = session.get(CityEvent, row.event_id)
    target = session.get(CityEvent, ev.merged_into_id) if ev.merged_into_id else ev
    return {"service_request_id": target.number, "token": row.token}


# -- GET requests ---------------------------------------------------------------------------

def parse_datetime(value: str, name: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.strip().replace(" ", "+"))  # a "+" sent unescaped arrives as space
    except ValueError:
        raise Open311Error(400, f"{name} must be a w3 datetime such as 2026-01-01T00:00:00+08:00") from None
    if dt.tzinfo is None:
        raise Open311Error(400, f"{name} must include its time zone (Z or an offset such as +08:00)")
    return dt


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def query(session: Session, *, service_request_id: str | None = None, service_code: str | None = None,
          start_date: str | None = None, end_date: str | None = None, status: str | None = None,
          now: datetime | None = None) -> list[CityEvent]:
    """Events as GeoReport requests, newest first; service_request_id overrides every other filter."""
    base = select(CityEvent).where(CityEvent.merged_into_id.is_(None), CityEvent.state != "merged")
    ids = _split(service_request_id)
    if ids:
        q = base.where(CityEvent.id.in_({ev.id for ev in _known(session, ids)}))
    else:
        now = now or utcnow()
        start = parse_datetime(start_date, "start_date") if start_date else None
        end = parse_datetime(end_date, "end_date") if end_date else None
        if start and end and end < start:
            raise Open311Error(400, "end_date is before start_date")
        if start and end and end - start > MAX_SPAN:
            raise Open311Error(400, "start_date and end_date may not span more than 90 days")
        if start is None:
            end = end or now
            start = end - MAX_SPAN
        elif end is None:
            end = start + MAX_SPAN
        q = base.where(CityEvent.reported_at >= start, CityEvent.reported_at <= end)
        codes = _split(service_code)
        if codes:
            q = q.where(CityEvent.category_id.in_(select(EventCategory.id).where(EventCategory.code.in_(codes))))
        statuses = _split(status)
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise Open311Error(400, f"status must be open or closed, got {', '.join(bad)}")
        if set(statuses) == {"open"}:
            q = q.where(CityEvent.state.in_(lifecycle.OPEN_STATES))
        elif set(statuses) == {"closed"}:
            q = q.where(CityEvent.state.in_(CLOSED_STATES))
    return list(session.scalars(q.order_by(CityEvent.reported_at.desc(), CityEvent.id.desc()).limit(MAX_RESULTS)))


def _known(session: Session, numbers: list[str]) -> list[CityEvent]:
    out = []
    for n in numbers[:MAX_RESULTS]:
        try:
            out.append(find_event(session, n))
        except Open311Error:
            pass  # an unknown id in a list is simply not answered
    return out


def find_event(session: Session, number: str) -> CityEvent:
    """The event behind a service_request_id; a merged report answers as its parent."""
    ev = session.scalar(select(CityEvent).where(CityEvent.number == number))
    if ev is None:
        raise Open311Error(404, f"service_request_id {number!r} not found")
    if ev.merged_into_id is not None:
        ev = session.get(CityEvent, ev.merged_into_id)
    return ev


def _w3(dt: datetime | None) -> str | None:
    return local(dt).isoformat(timespec="seconds") if dt else None


class _Expected:
    """Expected completion from the SLA limits: the remaining steps up to 处置完成 (dispose),
    each using its full limit from the last state change. Policies and calendars are
    looked up once per answer."""

    STEPS: ClassVar[dict[str, tuple[str, ...]]] = {"reported": ("accept", "dispatch", "dispose"), "accepted": ("dispatch", "dispose"),
                                                   "dispatched": ("dispose",), "in_progress": ("dispose",)}

    def __init__(self, session: Session):
        self.session = session
        self.policies: dict[tuple[str, str], Any] = {}
        self.calendars: dict[str, Any] = {}

    def __call__(self, ev: CityEvent, code: str, since: datetime) -> datetime | None:
        if ev.state in ("disposed", "verified", "closed"):
            return ev.disposed_at
        steps = self.STEPS.get(ev.state)
        if not steps:
            return None
        key = (code, ev.severity)
        try:
            if key not in self.policies:
                self.policies[key] = sla.policy_for(self.session, code, ev.severity)
            policy = self.policies[key]
            if policy.calendar_mode not in self.calendars:
                self.calendars[policy.calendar_mode] = sla.calendar_for(self.session, policy.calendar_mode)
            cal = self.calendars[policy.calendar_mode]
        except Problem:
            return None
        t = since
        for step in steps:
            t = cal.add_working(t, timedelta(minutes=policy.limit(step)))
        return t


def describe(session: Session, evs: list[CityEvent], *, media_base: str) -> list[dict[str, Any]]:
    """The GeoReport fields of each event (lat/long back in WGS-84)."""
    if not evs:
        return []
    ids = [e.id for e in evs]
    cats = {c.id: c for c in session.scalars(select(EventCategory))}
    unit_ids = {e.unit_id for e in evs if e.unit_id}
    units = {u.id: u.name for u in session.scalars(select(ResponsibleUnit).where(ResponsibleUnit.id.in_(unit_ids)))}
    last: dict[int, EventTransition] = {}
    for t in session.scalars(select(EventTransition).where(EventTransition.event_id.in_(ids))
                             .order_by(EventTransition.at, EventTransition.id)):
        last[t.event_id] = t
    photos: dict[int, EventAttachment] = {}
    for a in session.scalars(select(EventAttachment).where(EventAttachment.event_id.in_(ids),
                                                           EventAttachment.content_type.like("image/%"))
                             .order_by(EventAttachment.id)):
        photos.setdefault(a.event_id, a)
    posted: dict[int, Open311Request] = {}
    for r in session.scalars(select(Open311Request).where(Open311Request.event_id.in_(ids))
                             .order_by(Open311Request.id)):
        posted.setdefault(r.event_id, r)
    expected = _Expected(session)
    out = []
    for e in evs:
        cat = cats[e.category_id]
        t = last.get(e.id)
        closed = e.state in CLOSED_STATES
        lon = lat = None
        if e.lon is not None and e.lat is not None:
            wlon, wlat = gcj02_to_wgs84(e.lon, e.lat)
            lon, lat = round(float(wlon), 7), round(float(wlat), 7)
        media = None
        if e.id in photos:
            media = f"{media_base}/{e.number}/{photos[e.id].id}"
        elif e.id in posted and posted[e.id].media_url:
            media = posted[e.id].media_url
        since = aware(t.at) if t else aware(e.reported_at)
        exp = expected(e, cat.code, since)
        out.append({
            "service_request_id": e.number,
            "status": "closed" if closed else "open",
            "status_notes": (t.reason or lifecycle.ACTION_LABELS.get(t.action, t.action)) if t else None,
            "service_name": cat.name,
            "service_code": cat.code,
            "description": e.description or e.title,
            "agency_responsible": units.get(e.unit_id),
            "service_notice": lifecycle.STATE_LABELS.get(e.state, e.state),
            "requested_datetime": _w3(e.reported_at),
            "updated_datetime": _w3(e.closed_at if closed and e.closed_at else e.updated_at),
            "expected_datetime": _w3(exp),
            "address": e.address or None,
            "address_id": (posted[e.id].address_id or None) if e.id in posted else None,
            "zipcode": None,
            "lat": lat,
            "long": lon,
            "media_url": media,
        })
    return out


def photo(session: Session, number: str, attachment_id: int, *, var_dir) -> tuple[EventAttachment, Any]:
    """A photo of a request, for media_url; other attachment types are not public."""
    ev = session.scalar(select(CityEvent).where(CityEvent.number == number))
    if ev is None:
        raise Open311Error(404, "media not found")
    try:
        att, path = events.get_attachment(session, ev.id, attachment_id, var_dir=var_dir)
    except NotFound:
        raise Open311Error(404, "media not found") from None
    if not att.content_type.startswith("image/"):
        raise Open311Error(404, "media not found")
    return att, path


def recent_requests(session: Session, limit: int = 50) -> list[tuple[CityEvent, Open311Request | None]]:
    """The newest events reported through Open311, with the request row behind each."""
    evs = list(session.scalars(select(CityEvent).where(CityEvent.source_kind == "open311")
                               .order_by(CityEvent.reported_at.desc(), CityEvent.id.desc()).limit(limit)))
    rows = {r.event_id: r for r in session.scalars(select(Open311Request).where(
        Open311Request.event_id.in_([e.id for e in evs])))} if evs else {}
    return [(e, rows.get(e.id)) for e in evs]

