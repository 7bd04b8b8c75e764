"""Shared set-up for the notification engine tests (IOT-5 / OPS-3): a device, a duty team
with people on shift, configured channels pointing at the real simulator over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cityops.devices import service as devices
from cityops.duty import service as duty
from cityops.sim.notify import NotifySim, serve

# 2026-11-25 10:00 in Shanghai
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def notify_sim():
    sim = NotifySim(wecom_keys={"duty-room"}, sms_accounts={"cn-acc": "cn-secret"}, slow_s=0.5)
    with serve(sim) as url:
        yield sim, url


@pytest.fixture
def sim(notify_sim):
    sim, _ = notify_sim
    for box in (sim.wecom, sim.sms, sim.voice):
        box.clear()
    for queue in sim._failures.values():
        queue.clear()
    return sim


@pytest.fixture
def world(db, notify_sim):
    """Team "centre" (manager 王主任), 张三 and 李四 on duty around T0; channels wecom/sms/voice."""
    from cityops.notify import service as notify

    _, url = notify_sim
    with db.session() as s:
        duty.create_team(s, code="centre", name="城运中心值班组")
        zhang = duty.create_contact(s, name="张三", phone="13800001111", wecom_userid="zhangsan",
                                    email="zhangsan@cn.gov.cn", team_code="centre")
        li = duty.create_contact(s, name="李四", phone="13900002222", team_code="centre")
        boss = duty.create_contact(s, name="王主任", phone="13700003333", team_code="centre")
        duty.update_team(s, "centre", manager_id=boss.id)
        for c, role in ((zhang, "member"), (li, "member")):
            duty.create_shift(s, contact_id=c.id, team_code="centre", role=role, starts_at=T0 - timedelta(hours=2),
                              ends_at=T0 + timedelta(hours=10))
        wecom = notify.create_channel(s, kind="wecom", name="值班群", settings={
            "webhook_key": "duty-room", "base_url": url + "/cgi-bin/webhook/send", "timeout_s": 2})
        sms = notify.create_channel(s, kind="sms", name="政务短信", settings={
            "url": url + "/sms/send", "account": "cn-acc", "secret": "cn-secret", "signature": "长宁城运",
            "timeout_s": 2})
        voice = notify.create_channel(s, kind="voice", name="语音外呼", settings={"url": url + "/voice/calls",
                                                                                "timeout_s": 2})
        product = devices.product_by_code(s, "SMOKE-NB-CTW").id
        dev = devices.create_device(s, name="华阳路101弄3号楼烟感", product_id=product, external_id="nt-1",
                                    lon=121.420, lat=31.222)
        return {"zhang": zhang.id, "li": li.id, "boss": boss.id, "wecom": wecom.id, "sms": sms.id,
                "voice": voice.id, "device": dev.id, "street": dev.street_code}


def chain(w, **extra):
    """张三 by WeCom → (10 min) 李四 by SMS → (10 min) the manager by voice call."""
    return dict(name="默认告警通知", steps=[
        {"targets": [{"kind": "contact", "contact_id": w["zhang"]}], "channels": [w["wecom"]], "wait_minutes": 10},
        {"targets": [{"kind": "contact", "contact_id": w["li"]}], "channels": [w["sms"]], "wait_minutes": 10},
        {"targets": [{"kind": "manager", "team": "centre"}], "channels": [w["voice"]], "wait_minutes": 10}],
        **extra)
