"""Seed data for the big-screen tests (SYS-SCREEN), made through each domain's service: two
streets with devices (online and offline), an active and a cleared alarm, events today and
two days ago (one closed today), a dispatched work order, call-out statistics, findings
against two catalogued systems and a duty shift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cityops.callout import stats as call_stats
from cityops.callout.campaign_models import CallRecord
from cityops.core.timeutil import utcnow
from cityops.devices import service as devices
from cityops.devices.models import Device
from cityops.dispatch import service as dispatch
from cityops.duty import service as duty
from cityops.events import lifecycle
from cityops.events import service as events
from cityops.inspections import findings
from cityops.monitoring import service as monitoring
from tests.events.helpers import offset_m, street_point


@dataclass
class Seeded:
    a: str  # street A's code: 3 devices (2 online), the active alarm, 2 events today
    b: str  # street B's code: 1 device online, 1 event today (closed)
    active_alarm: int
    device_a: int


def seed(db) -> Seeded:
    now = utcnow()
    with db.session() as s:
        a, lon_a, lat_a = street_point(s, 0)
        b, lon_b, lat_b = street_point(s, 3)
        assert a != b
        pid = devices.product_by_code(s, "SMOKE-NB-CTW").id

        def device(name, street, lon, lat, online):
            d = devices.create_device(s, name=name, product_id=pid, external_id=f"scr-{name}", lon=lon, lat=lat)
            s.execute(Device.__table__.update().where(Device.id == d.id).values(
                street_code=street, online=online, last_seen_at=now if online is not None else None))
            return d.id

        d1 = device("A1", a, lon_a, lat_a, True)
        device("A2", a, lon_a + 0.0001, lat_a, False)  # same ~300 m cell as A1
        device("A3", a, *offset_m(lon_a, lat_a, east_m=1500), True)
        device("B1", b, lon_b, lat_b, True)

        alarm = monitoring.raise_alarm(s, device_id=d1, alarm_type="offline", severity="major", source="liveness",
                                       message="设备离线")
        gone = monitoring.raise_alarm(s, device_id=d1, alarm_type="smoke", severity="critical", source="rule",
                                      message="烟雾浓度超限")
        monitoring.clear(s, gone.id, by="duty1", reason="误报")

        def event(code, lon, lat, at, title):
            return events.create_event(s, category_code=code, title=title, lon=lon, lat=lat, created_by="duty1",
                                       merge=False, reported_at=at, source_kind="hotline")

        e1 = event("010101", lon_a, lat_a, now - timedelta(minutes=30), "人行道暴露垃圾")
        event("030101", *offset_m(lon_a, lat_a, east_m=600), now - timedelta(minutes=20), "井盖缺失")
        event("010101", *offset_m(lon_a, lat_a, north_m=900), now - timedelta(days=2), "两天前的垃圾")
        closed = event("010101", lon_b, lat_b, now - timedelta(minutes=40), "已处置的垃圾")
        for to in ("accepted", "dispatched", "in_progress", "disposed", "verified", "closed"):
            lifecycle.transition(s, closed.id, to, actor="duty1", role="system")

        dispatch.create_platform(s, name="区智能派单平台", kind="open311", settings={
            "base_url": "http://127.0.0.1:9", "api_key": "k", "jurisdiction_id": "changning.sh.gov.cn"},
            callback_secret="s" * 32)
        lifecycle.transition(s, e1.id, "accepted", actor="duty1", role="duty")
        dispatch.dispatch_event(s, e1.id, actor="duty1", role="duty")

        for result in ("answered", "answered", "no_answer"):
            call_stats.record_call(s, CallRecord(scenario="hotline_callback", number_e164="+8613800000000",
                                                 result=result, started_at=now, duration_s=30.0))
        call_stats.record_call(s, CallRecord(scenario="iot_alert", number_e164="+8613800000001", result="busy",
                                             started_at=now - timedelta(days=2)))

        findings.raise_finding(s, key="screen:duty", source="probe", title="值班系统响应慢", severity="warning",
                               system_code="SYS-DUTY", ticket_policy="never")
        findings.raise_finding(s, key="screen:eye", source="probe", title="城区之眼服务中断", severity="critical",
                               system_code="SYS-EYE", ticket_policy="never")

        duty.create_team(s, code="scr", name="城运中心值班组")
        c = duty.create_contact(s, name="王值班", phone="13800001111", team_code="scr")
        duty.create_shift(s, contact_id=c.id, team_code="scr", role="leader", starts_at=now - timedelta(hours=1),
                          ends_at=now + timedelta(hours=7))
        return Seeded(a=a, b=b, active_alarm=alarm.id, device_a=d1)
