"""The demo roster (IOT-5 / OPS-3): nothing is seeded on a fresh install; `seed_demo` called
explicitly creates a team on duty, simulator channels and a policy that really delivers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cityops.devices import service as devices
from cityops.duty import service
from cityops.duty.models import Contact
from cityops.monitoring import service as alarms
from cityops.notify import jobs
from cityops.notify import service as notify
from cityops.sim.notify import NotifySim, serve

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 10:00 Beijing


def test_fresh_install_has_no_roster(db):
    """Nobody and no shifts; the only team is 区领导, which the fault grades name (OPS-4)."""
    with db.session() as s:
        assert service.list_contacts(s) == []
        assert [t.code for t in service.list_teams(s)] == ["leadership"]
        assert notify.list_channels(s) == [] and notify.list_policies(s) == []


def test_seed_demo_delivers_to_the_simulator(db):
    sim = NotifySim()  # the simulator's default keys, as `cityops demo` runs it
    with serve(sim) as url:
        with db.session() as s:
            assert service.seed_demo(s, sim_url=url, now=T0) is True
            assert service.seed_demo(s, sim_url=url, now=T0) is False  # idempotent
            # SVC-1: nine people; officers roll day/night/off/off, support is on call weekly
            assert len(service.list_contacts(s)) == 9
            assert all(c.note.startswith("演示数据") and c.phone.startswith("1380000") for c in s.query(Contact))
            on = [(sh.team_code, sh.role, c.name) for sh, c in service.on_duty(s, at=T0)]
            assert on == [("centre", "member", "李晓梅（演示）"), ("support", "support", "吴婷（演示）")]
            night = [c.name for _, c in service.on_duty(s, team="centre", at=T0 + timedelta(hours=12))]
            assert night == ["孙浩（演示）"]
            assert service.team_manager(s, "centre").name == "王建国（演示）"
            dev = devices.create_device(s, name="演示烟感", external_id="demo-1", lon=121.420, lat=31.222,
                                        product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id)
            alarms.raise_alarm(s, device_id=dev.id, alarm_type="smoke_alarm", severity="critical", source="vendor",
                               message="烟雾报警", at=T0)
        jobs.run(db, now=T0)
        jobs.run(db, now=T0 + timedelta(minutes=10))
        assert len(sim.wecom) == 1 and "<@lixiaomei>" in sim.wecom[0]["markdown"]["content"]
        assert sorted(m for x in sim.sms for m in x["mobiles"]) == ["13800000002"]
        assert sim.sms_rejected == []


def test_seed_demo_points_the_channels_at_the_simulator_of_this_start(db):
    """The demo's notification simulator may get another port on a later start (its usual one
    taken): the channels follow it instead of posting to a dead address."""
    with db.session() as s:
        assert service.seed_demo(s, sim_url="http://127.0.0.1:8001", now=T0) is True
    with db.session() as s:
        assert service.seed_demo(s, sim_url="http://127.0.0.1:41234/", now=T0) is False
        urls = {c.kind: c.settings.get("url") or c.settings.get("base_url") for c in notify.list_channels(s)}
        assert urls == {"wecom": "http://127.0.0.1:41234/cgi-bin/webhook/send",
                        "sms": "http://127.0.0.1:41234/sms/send", "voice": "http://127.0.0.1:41234/voice/calls"}
        sms = next(c for c in notify.list_channels(s) if c.kind == "sms")
        assert sms.settings["secret"] == "sim-secret"
        assert len(notify.list_channels(s)) == 3
