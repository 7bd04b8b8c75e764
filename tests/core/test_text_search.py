"""Search boxes (core.db.text_search): the same answers on SQLite and PostgreSQL — case ignored,
`%` and `_` matched as typed rather than as LIKE wildcards (service desk, events, devices)."""

from __future__ import annotations

from datetime import timedelta

from cityops.audit.context import acting_as
from cityops.core.timeutil import utcnow
from cityops.devices import service as devices
from cityops.events import service as events
from cityops.servicedesk import queries
from cityops.servicedesk import service as desk
from tests.events.helpers import street_point


def test_ticket_search_ignores_case_and_takes_wildcards_literally(db):
    now = utcnow()
    with db.session() as s:
        a = desk.open_ticket(s, title="VPN 网关 CPU 100% 告警", now=now - timedelta(minutes=2)).number
        b = desk.open_ticket(s, title="vpn_gw01 磁盘将满", now=now - timedelta(minutes=1)).number
        desk.open_ticket(s, title="机房空调 1002 号", now=now)

        def found(q):
            return sorted(r["ticket"].number for r in queries.list_tickets(s, now=now, q=q)[0])

        assert found("vpn") == sorted([a, b]) and found("VPN") == sorted([a, b])
        assert found("100%") == [a]  # '%' is a percent sign, not "anything": 1002 does not match
        assert found("_gw") == [b]
        assert found("  cpu ") == [a]


def test_event_and_device_search_take_wildcards_literally(db):
    with acting_as("duty1"), db.session() as s:
        _, lon, lat = street_point(s)
        hit = events.create_event(s, category_code="030101", title="井盖_缺失 A区", lon=lon, lat=lat,
                                  address="长宁路1号", created_by="duty1", merge=False)
        events.create_event(s, category_code="030101", title="井盖破损 a区", lon=lon, lat=lat,
                            address="长宁路2号", created_by="duty1", merge=False)
        assert [e.id for e in events.list_events(s, q="_缺失")[0]] == [hit.id]
        assert len(events.list_events(s, q="a区")[0]) == 2

        product = devices.product_by_code(s, "SMOKE-NB-CTW")
        d = devices.create_device(s, name="Smoke_01 华阳路", product_id=product.id, external_id="ts-1", lon=lon, lat=lat)
        devices.create_device(s, name="Smoke-02 华阳路", product_id=product.id, external_id="ts-2", lon=lon, lat=lat)
        rows = s.scalars(devices.device_query(q="smoke_")).all()
        assert [x.id for x in rows] == [d.id]
        assert len(s.scalars(devices.device_query(q="SMOKE")).all()) == 2
