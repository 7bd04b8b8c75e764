"""Helpers for the dispatch link tests (IOT-7): a platform pointing at the simulator and
accepted events ready to dispatch."""

from __future__ import annotations

from datetime import timedelta

from cityops.core.timeutil import utcnow
from cityops.dispatch import service as dispatch
from cityops.events import lifecycle
from cityops.events import service as events
from tests.events.helpers import offset_m, street_point

from .conftest import API_KEY, SECRET


def add_platform(db, server_url: str, *, callback_base_url: str = "", timeout_s: float = 0.5, **options) -> int:
    with db.session() as s:
        p = dispatch.create_platform(s, name="区智能派单平台", kind="open311", settings={
            "base_url": server_url, "api_key": API_KEY, "jurisdiction_id": "changning.sh.gov.cn",
            "timeout_s": timeout_s}, callback_secret=SECRET, callback_base_url=callback_base_url, **options)
        return p.id


def accepted_event(db, index: int = 0, *, east_m: float = 0.0, code: str = "030101") -> int:
    """An accepted event at a distinct point (events 300 m apart never merge)."""
    with db.session() as s:
        _, lon, lat = street_point(s)
        lon, lat = offset_m(lon, lat, east_m=east_m + index * 300)
        ev = events.create_event(s, category_code=code, title=f"井盖缺失 {index}", lon=lon, lat=lat,
                                 address=f"长宁区测试路{index}号", created_by="duty1", merge=False,
                                 reported_at=utcnow() - timedelta(minutes=5))
        lifecycle.transition(s, ev.id, "accepted", actor="duty1", role="duty")
        return ev.id


def dispatched(db, event_id: int, **kw):
    with db.session() as s:
        order = dispatch.dispatch_event(s, event_id, actor="duty1", role="duty", **kw)
        return order.id if order else None
