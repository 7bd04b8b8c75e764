"""Daily online-rate history by 5-minute sampling, MTTA/MTTC per day and street, flapping per
period (IOT-5 KPIs)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cityops.core.errors import Invalid
from cityops.devices import service as devices
from cityops.devices.models import Device
from cityops.monitoring import kpi, kpi_history, maintenance, service
from cityops.monitoring.models import Alarm, DeviceStateChange, KpiOnlineDaily

HUAYANG, JIANGSU = "310105001", "310105002"
# 2026-11-10 09:00 in Shanghai
T0 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)


def _devices(s, n, street=HUAYANG, vendor=None, prefix="kh"):
    pid = devices.product_by_code(s, "SMOKE-NB-CTW").id
    ids = [devices.create_device(s, name=f"{prefix}{i}", product_id=pid, external_id=f"{prefix}-{street}-{i}",
                                 lon=121.420, lat=31.222).id for i in range(n)]
    values = {"street_code": street, **({"vendor": vendor} if vendor else {})}
    s.execute(Device.__table__.update().where(Device.id.in_(ids)).values(**values))
    return ids


def _set_online(s, ids, online):
    s.execute(Device.__table__.update().where(Device.id.in_(ids)).values(online=online))


def _row(s, day, dimension="overall", key="all", scope=""):
    return s.scalar(select(KpiOnlineDaily).where(KpiOnlineDaily.day == day, KpiOnlineDaily.scope == scope,
                                                 KpiOnlineDaily.dimension == dimension, KpiOnlineDaily.key == key)
                    .execution_options(populate_existing=True))  # the upsert bypasses the identity map


def test_slot_of_floors_to_five_minutes():
    assert kpi_history.slot_of(datetime(2026, 11, 10, 1, 7, 59, 999, tzinfo=UTC)) == \
        datetime(2026, 11, 10, 1, 5, tzinfo=UTC)
    assert kpi_history.slot_of(T0) == T0


def test_daily_rate_is_the_mean_of_the_samples(db):
    with db.session() as s:
        ids = _devices(s, 4)
        _set_online(s, ids, True)
        kpi_history.sample_online_rate(s, now=T0)  # 4/4
        _set_online(s, ids[:2], False)
        kpi_history.sample_online_rate(s, now=T0 + timedelta(minutes=5))  # 2/4
        _set_online(s, ids, False)
        kpi_history.sample_online_rate(s, now=T0 + timedelta(minutes=10))  # 0/4
        _set_online(s, ids[:3], True)
        kpi_history.sample_online_rate(s, now=T0 + timedelta(minutes=15))  # 3/4
    with db.session() as s:
        rows = kpi_history.daily_online_rate(s, dimension="overall", start=date(2026, 11, 10), end=date(2026, 11, 10))
        assert len(rows) == 1
        r = rows[0]
        assert (r["samples"], r["device_samples"], r["online_samples"]) == (4, 16, 9)
        assert r["rate"] == round((1 + 0.5 + 0 + 0.75) / 4, 4)  # mean of the four samples
        street = kpi_history.daily_online_rate(s, dimension="street_code", start=date(2026, 11, 10),
                                               end=date(2026, 11, 10))
        assert [(x["key"], x["rate"]) for x in street] == [(HUAYANG, r["rate"])]
        # the same figures from inside the street
        own = kpi_history.daily_online_rate(s, dimension="overall", start=date(2026, 11, 10),
                                            end=date(2026, 11, 10), scope=HUAYANG)
        assert own[0]["rate"] == r["rate"]


def test_same_slot_counts_once_and_restart_does_not_double_count(db):
    with db.session() as s:
        ids = _devices(s, 2)
        _set_online(s, ids, True)
        first = kpi_history.sample_online_rate(s, now=T0 + timedelta(seconds=10))
        assert first["rows"] > 0 and first["slot"] == T0
    with db.session() as s:  # a second run (or a restarted process) in the same slot
        _set_online(s, ids, False)
        again = kpi_history.sample_online_rate(s, now=T0 + timedelta(minutes=4, seconds=50))
        assert again["rows"] == 0
        r = _row(s, date(2026, 11, 10))
        assert (r.samples, r.online_samples, r.last_slot) == (1, 2, T0)
        kpi_history.sample_online_rate(s, now=T0 + timedelta(minutes=5))
        r = _row(s, date(2026, 11, 10))
        assert (r.samples, r.online_samples, r.device_samples) == (2, 2, 4)


def test_a_row_already_counted_is_not_counted_again(db):
    """Even past the fast check (e.g. two processes racing), the upsert adds only newer slots."""
    with db.session() as s:
        ids = _devices(s, 1)
        _set_online(s, ids, True)
        kpi_history.sample_online_rate(s, now=T0)
        # only the overall row forgets this slot: the others must not count it twice
        s.execute(KpiOnlineDaily.__table__.update().where(KpiOnlineDaily.dimension == "overall")
                  .values(last_slot=T0 - timedelta(minutes=5)))
        again = kpi_history.sample_online_rate(s, now=T0)
        overall_rows = s.scalar(select(func.count()).select_from(KpiOnlineDaily)
                                .where(KpiOnlineDaily.dimension == "overall"))
        assert again["rows"] == overall_rows
        vendor = s.scalars(select(KpiOnlineDaily).where(KpiOnlineDaily.dimension == "vendor")).all()
        assert vendor and all(v.samples == 1 for v in vendor)


def test_days_follow_shanghai_midnight(db):
    with db.session() as s:
        ids = _devices(s, 1)
        _set_online(s, ids, True)
        kpi_history.sample_online_rate(s, now=datetime(2026, 11, 10, 15, 55, tzinfo=UTC))  # 23:55 +08
        kpi_history.sample_online_rate(s, now=datetime(2026, 11, 10, 16, 0, tzinfo=UTC))  # 00:00 +08
        assert _row(s, date(2026, 11, 10)).samples == 1
        assert _row(s, date(2026, 11, 11)).samples == 1


def test_devices_in_maintenance_are_left_out(db):
    with db.session() as s:
        on = _devices(s, 1, prefix="on")
        off = _devices(s, 1, prefix="off")
        _set_online(s, on, True)
        _set_online(s, off, False)
        maintenance.create(s, name="迁改", scope_kind="device", scope_value=str(off[0]),
                           starts_at=T0 + timedelta(minutes=5), ends_at=T0 + timedelta(minutes=10))
        kpi_history.sample_online_rate(s, now=T0)  # 1/2
        kpi_history.sample_online_rate(s, now=T0 + timedelta(minutes=5))  # 1/1 (off is in maintenance)
        kpi_history.sample_online_rate(s, now=T0 + timedelta(minutes=10))  # 1/2 again
        r = _row(s, date(2026, 11, 10))
        assert (r.samples, r.device_samples, r.online_samples, r.devices) == (3, 5, 3, 2)


def test_dimensions_and_scopes(db):
    with db.session() as s:
        a = _devices(s, 2, HUAYANG, vendor="海康", prefix="a")
        b = _devices(s, 2, JIANGSU, vendor="大华", prefix="b")
        _set_online(s, a, True)
        _set_online(s, b[:1], True)
        kpi_history.sample_online_rate(s, now=T0)
        day = date(2026, 11, 10)
        rates = {r["key"]: r["rate"] for r in kpi_history.daily_online_rate(s, dimension="vendor", start=day, end=day)}
        assert rates == {"海康": 1.0, "大华": 0.5}
        own = kpi_history.daily_online_rate(s, dimension="vendor", start=day, end=day, scope=JIANGSU)
        assert [(r["key"], r["rate"]) for r in own] == [("大华", 0.5)]
        assert _row(s, day).online_samples == 3
        types = kpi_history.daily_online_rate(s, dimension="device_type", start=day, end=day)
        assert [(r["key"], r["devices"]) for r in types] == [("smoke", 4)]
        labels = kpi_history.key_labels(s, "street_code", [HUAYANG, JIANGSU])
        assert labels == {HUAYANG: "华阳路街道", JIANGSU: "江苏路街道"}
        assert kpi_history.key_labels(s, "device_type", ["smoke"]) == {"smoke": "烟感"}


def test_retired_devices_are_not_counted(db):
    with db.session() as s:
        ids = _devices(s, 2)
        _set_online(s, ids, True)
        s.execute(Device.__table__.update().where(Device.id == ids[1]).values(status="retired", online=False))
        kpi_history.sample_online_rate(s, now=T0)
        r = _row(s, date(2026, 11, 10))
        assert (r.devices, r.online_samples) == (1, 1)


def test_parse_period_and_dimension():
    today = date(2026, 11, 25)
    assert kpi_history.parse_period(None, None, today=today) == (date(2026, 10, 27), today)
    assert kpi_history.parse_period("2026-11-01", "2026-11-30", today=today) == (date(2026, 11, 1),
                                                                                 date(2026, 11, 30))
    for bad in (("2026-13-01", None), ("2026-11-30", "2026-11-01"), ("2025-01-01", "2026-11-01")):
        with pytest.raises(Invalid):
            kpi_history.parse_period(*bad, today=today)
    with pytest.raises(Invalid):
        kpi_history.check_dimension("password")


def test_alarm_times_per_day_and_street(db):
    with db.session() as s:
        a = _devices(s, 1, HUAYANG, prefix="ta")[0]
        b = _devices(s, 1, JIANGSU, prefix="tb")[0]
        day1 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)
        day2 = day1 + timedelta(days=1)
        for dev, at, ack_min, clr_min in ((a, day1, 2, 10), (b, day1, 4, None), (a, day2, 6, 30)):
            al = Alarm(device_id=dev, alarm_type=f"t{at.day}", severity="major", source="rule", first_at=at,
                       last_at=at, acked_at=at + timedelta(minutes=ack_min), state="acknowledged",
                       cleared_at=at + timedelta(minutes=clr_min) if clr_min else None, details={})
            s.add(al)
        s.add(Alarm(device_id=b, alarm_type="muted", severity="major", source="rule", first_at=day1, last_at=day1,
                    acked_at=day1 + timedelta(hours=5), suppressed=True, details={}))
        s.flush()
        per_day = kpi_history.alarm_times_by(s, group="day", start=date(2026, 11, 10), end=date(2026, 11, 12))
        assert [(r["key"], r["alarms"], r["mtta_s"], r["mttc_s"]) for r in per_day] == [
            (date(2026, 11, 10), 2, 180.0, 600.0), (date(2026, 11, 11), 1, 360.0, 1800.0),
            (date(2026, 11, 12), 0, None, None)]
        per_street = kpi_history.alarm_times_by(s, group="street", start=date(2026, 11, 10), end=date(2026, 11, 11))
        assert {r["key"]: r["mtta_s"] for r in per_street} == {HUAYANG: 240.0, JIANGSU: 240.0}
        own = kpi_history.alarm_times_by(s, group="day", start=date(2026, 11, 10), end=date(2026, 11, 10),
                                         scope=JIANGSU)
        assert own[0]["alarms"] == 1 and own[0]["mttc_s"] is None
        live = kpi.alarm_times(s, scope=JIANGSU)  # the card figure follows the same rules
        assert (live["alarms"], live["mtta_s"]) == (1, 240.0)
        assert kpi.alarm_times(s, since=day2)["alarms"] == 1


def test_top_flapping_per_period_and_street(db):
    with db.session() as s:
        a = _devices(s, 1, HUAYANG, prefix="fa")[0]
        b = _devices(s, 1, JIANGSU, prefix="fb")[0]
        for i in range(4):
            s.add(DeviceStateChange(device_id=a, at=T0 + timedelta(minutes=i), old="x",
                                    new="online" if i % 2 else "offline", reason="t"))
        for i in range(2):
            s.add(DeviceStateChange(device_id=b, at=T0 + timedelta(minutes=i), old="x", new="offline", reason="t"))
        s.add(DeviceStateChange(device_id=b, at=T0 + timedelta(days=2), old="x", new="offline", reason="t"))
        s.flush()
        top = kpi_history.top_flapping(s, since=T0, until=T0 + timedelta(days=1))
        assert [(r["device_id"], r["changes"]) for r in top] == [(a, 4), (b, 2)]
        assert [r["device_id"] for r in kpi_history.top_flapping(s, since=T0, scope=JIANGSU)] == [b]
        assert service.top_flapping(s, since=T0)[0] == (a, 4)  # agrees with the live helper


def test_the_sampling_job_is_registered_and_runs(app, db):
    """Wired in registry.register_jobs as a singleton (pg advisory lock), run every minute so
    no 5-minute slot is missed; running it twice in a slot counts once."""
    with db.session() as s:
        _set_online(s, _devices(s, 2), True)
    sched = app.state.ctx.scheduler
    job = sched.jobs["kpi.online_daily"]
    assert job.singleton and job.interval_s == 60
    assert sched.run_once("kpi.online_daily") == "ok"
    assert sched.run_once("kpi.online_daily") == "ok"
    with db.session() as s:
        rows = s.scalars(select(KpiOnlineDaily).where(KpiOnlineDaily.scope == "",
                                                      KpiOnlineDaily.dimension == "overall")).all()
        # two runs a split second apart: one sample (or two when they straddle a slot boundary)
        assert sum(r.samples for r in rows) in (1, 2) and all(r.online_samples == 2 * r.samples for r in rows)
