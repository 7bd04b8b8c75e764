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


def test_demo_opens_the_callback_window_and_switches_the_trigger_on_once(db):
    from cityops.callout import templates
    from cityops.demo import configure_callout

    assert configure_callout(db) is True and configure_callout(db) is False
    with db.session() as s:
        t = templates.effective(s, "hotline_callback")
        assert t.windows == () and t.triggers["event_closed"]["enabled"] is True


def test_demo_lines_are_checked_over_sip_and_a_marked_caller_id_shows(db):
    """The demo's gateways are real SIP endpoints (the gateway simulator) and its marking service
    the marking simulator: the line jobs find them up and the third caller ID marked (CALL-3)."""
    from contextlib import ExitStack

    from cityops.callout import line_jobs, lines
    from cityops.demo import DEMO_CALLER_IDS, seed_lines
    from cityops.duty.service import seed_demo
    from cityops.sim.marking import MarkingSim
    from cityops.sim.marking import serve as serve_marking
    from cityops.sim.sip_gateway import SipGatewaySim
    from cityops.sim.sip_gateway import serve as serve_gateway

    with db.session() as s:
        seed_demo(s, sim_url="http://127.0.0.1:9")  # the duty team and its robot channel
    with ExitStack() as stack:
        gws = [stack.enter_context(serve_gateway(SipGatewaySim(http=i == 0))) for i in range(2)]
        msim = MarkingSim(marked={n: (label, 37) for n, _, label in DEMO_CALLER_IDS if label})
        url = stack.enter_context(serve_marking(msim))
        targets = [(g.host, g.port, g.status_url) for g in gws]
        assert seed_lines(db, targets, url, msim.api_key) is True
        assert seed_lines(db, targets, url, msim.api_key) is False  # once; addresses refreshed
        line_jobs.check(db)
        line_jobs.markings(db)
        with db.session() as s:
            assert [d.state for d in lines.list_devices(s)] == ["up", "up"]
            marked = {c.number_e164: c.marking for c in lines.list_caller_ids(s)}
            assert marked == {"+862155570001": "clean", "+862155570002": "clean", "+862155570003": "marked"}
            assert len(lines.dial_targets(s, "外呼一组")) == 2
