"""The demo's 回访 campaign (CALL-1, CALL-2; issue #6 "done when"): hotline events disposed of,
their reporters called through the simulator, the answers recorded and reaching the events."""

from datetime import timedelta

from sqlalchemy import select

from cityops.callout import campaigns, dialer
from cityops.callout.campaign_models import CallRecord, CallTask
from cityops.callout.telephony import SimTelephony
from cityops.demo import DEMO_HOTLINE_CASES, seed_callback_campaign
from cityops.events.models import CityEvent
from tests.callout.test_dialer import MORNING


def test_demo_callback_campaign_reaches_the_events(db):
    cid = seed_callback_campaign(db, now=MORNING)
    assert cid is not None and seed_callback_campaign(db, now=MORNING) is None  # once
    with db.session() as s:
        evs = list(s.scalars(select(CityEvent).where(CityEvent.source_kind == "hotline")))
        assert len(evs) == len(DEMO_HOTLINE_CASES) and {e.state for e in evs} == {"disposed"}
        assert campaigns.progress(s, cid)["tasks"] == len(DEMO_HOTLINE_CASES)
    sim = SimTelephony(seed=0)
    at = MORNING
    for _ in range(20):  # retries come back after at most an hour
        dialer.run_due(db, telephony=sim, now=at)
        at += timedelta(minutes=30)
    with db.session() as s:
        assert campaigns.progress(s, cid)["state"] == "done"
        recs = list(s.scalars(select(CallRecord).where(CallRecord.campaign_id == cid)))
        rated = {r.business_ref: r.satisfaction for r in recs if r.satisfaction}
        assert rated, "the simulated citizens answered"
        for ref, satisfaction in rated.items():
            ev = s.get(CityEvent, int(ref.split(":")[1]))
            assert ev.state == ("closed" if satisfaction == "满意" else "accepted"), (ref, satisfaction, ev.state)
        notes = [t.note for t in s.scalars(select(CallTask).where(CallTask.campaign_id == cid)) if t.note]
        assert any("回访结果已登记到事件" in n for n in notes)
