"""The dialer's claim / dial / finish split and its concurrency (CALL-1, CALL-2): no transaction
open during a call, calls in parallel bounded by gateway ports and campaign concurrency, paced per
gateway, the gateway noted on the record, a raising dial recorded as "failed" with backoff, stale
in-progress tasks recovered after the lease, power_off / suspended retry rules, and the
`callout.dial` job picking its adapter from the settings. One pass runs end to end over SIP
against sipp as the gateway."""

from __future__ import annotations

import itertools
import logging
import shutil
import subprocess
import threading
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cityops.callout import dialer, jobs, lines
from cityops.callout.campaign_models import CallRecord, CallStep, CallTask, Campaign
from cityops.callout.lines import GatewayTarget
from cityops.callout.list_models import CallLedger
from cityops.callout.script import run_script
from cityops.callout.sip.result import CallResult
from cityops.callout.sip_telephony import SipTelephony
from cityops.callout.telephony import SimCall, SimTelephony
from tests.callout.test_dialer import MORNING, e164, make_campaign, tasks
from tests.callout.test_sip import SCENARIOS, _free_udp_port, _need, _port_taken

NUMBERS = [f"139000001{i:02d}" for i in range(8)]


class LineBank:
    """A concurrent telephony double: each call takes `call_s` of wall time on its gateway, the
    callee presses 1. Records the peak of parallel calls per gateway and the start times."""

    name = "sip"
    concurrent = True

    def __init__(self, gateways, call_s=0.4, fail=(), probe=None):
        self.gws, self.call_s, self.fail, self.probe = gateways, call_s, set(fail), probe
        self.lock = threading.Lock()
        self.active: Counter = Counter()
        self.peak: Counter = Counter()
        self.peak_total = 0
        self.starts: dict[int, list[float]] = defaultdict(list)

    def gateways(self, session, line_group=""):
        return [g for g in self.gws if not line_group or g.line_group == line_group]

    def dial(self, number, *, caller_id, script, clock, gateway):
        with self.lock:
            self.active[gateway.id] += 1
            self.peak[gateway.id] = max(self.peak[gateway.id], self.active[gateway.id])
            self.peak_total = max(self.peak_total, sum(self.active.values()))
            self.starts[gateway.id].append(time.monotonic())
        try:
            if self.probe:
                self.probe(number)
            time.sleep(self.call_s)
            if number in self.fail:
                raise OSError("gateway unreachable: no route to host")
            tr = run_script(script, ["1"])
            return CallResult("answered", sip_code=200, duration_s=self.call_s, dtmf=tr.dtmf), tr
        finally:
            with self.lock:
                self.active[gateway.id] -= 1


def gw(id_, name, ports, group=""):
    return GatewayTarget(id=id_, name=name, host="127.0.0.1", port=5060, ports=ports, line_group=group)


def test_calls_run_in_parallel_within_ports_and_paced(db):
    bank = LineBank([gw(1, "gw-a", 2), gw(2, "gw-b", 1)], call_s=0.6)
    cid = make_campaign(db, [(n, "") for n in NUMBERS[:6]], concurrency=10)
    assert dialer.run_due(db, telephony=bank, now=MORNING) == {"answered": 6}
    assert bank.peak[1] == 2 and bank.peak[2] == 1 and bank.peak_total == 3  # really parallel, never over
    for starts in bank.starts.values():
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(g >= 1 / dialer.STARTS_PER_SECOND - 0.02 for g in gaps), gaps
    assert {s[0] for s in tasks(db, cid).values()} == {"done"}
    with db.session() as s:
        recs = s.scalars(select(CallRecord).where(CallRecord.campaign_id == cid)).all()
        assert {r.adapter for r in recs} == {"sip:gw-a", "sip:gw-b"}
        assert Counter(r.adapter for r in recs)["sip:gw-a"] >= 3  # the two-port gateway takes more
        assert all(r.satisfaction == "满意" for r in recs)
        assert s.scalar(select(CallStep.id).limit(1)) is not None
        assert s.get(Campaign, cid).state == "done"


def test_campaign_concurrency_bounds_parallel_calls(db):
    bank = LineBank([gw(1, "gw-a", 8)], call_s=0.2)
    make_campaign(db, [(n, "") for n in NUMBERS[:3]], concurrency=1)
    assert dialer.run_due(db, telephony=bank, now=MORNING) == {"answered": 3}  # one after the other, one pass
    assert bank.peak_total == 1


def test_the_jobs_pool_returns_at_once_and_keeps_ports_across_passes(db):
    bank = LineBank([gw(1, "gw-a", 2)], call_s=0.8)
    cid = make_campaign(db, [(n, "") for n in NUMBERS[:4]], concurrency=4)
    pool = dialer.CallPool()
    try:
        started = time.monotonic()
        assert dialer.run_due(db, telephony=bank, now=MORNING, pool=pool) == {}  # handed over, not waited for
        assert time.monotonic() - started < 0.8
        assert Counter(v[0] for v in tasks(db, cid).values()) == {"in_progress": 2, "pending": 2}
        assert dialer.run_due(db, telephony=bank, now=MORNING, pool=pool) == {}  # both ports still busy
        assert pool.inflight and sum(pool.busy.values()) == 2
        while not pool.idle():
            pool.wait_any()
        time.sleep(0.05)  # the worker releases its port right after storing
        assert dialer.run_due(db, telephony=bank, now=MORNING, pool=pool) == {"answered": 2}  # the first two
        while not pool.idle():
            pool.wait_any()
        time.sleep(0.05)
        assert dialer.run_due(db, telephony=bank, now=MORNING, pool=pool) == {"answered": 2}
    finally:
        pool.shutdown()
    assert bank.peak_total == 2
    assert {v[0] for v in tasks(db, cid).values()} == {"done"}


def test_no_transaction_is_open_while_a_call_runs(db):
    seen = {}

    def probe(number):  # runs in the dial thread, mid-call
        with db.session() as s:
            t = s.scalars(select(CallTask).where(CallTask.number_e164 == number)).one()
            seen[number] = (t.state, t.attempts, t.next_attempt_at, t.last_result)
            seen["ledger"] = s.scalars(select(CallLedger.outcome).where(CallLedger.number_e164 == number)).all()
            s.execute(update(Campaign).values(name="通话中可写"))  # would block on SQLite's write lock

    bank = LineBank([gw(1, "gw-a", 1)], call_s=0.05, probe=probe)
    cid = make_campaign(db, [(NUMBERS[0], "")])
    assert dialer.run_due(db, telephony=bank, now=MORNING) == {"answered": 1}
    state, attempts, lease, last = seen[e164(NUMBERS[0])]
    assert (state, attempts, last) == ("in_progress", 1, "dialing") and lease is not None
    assert seen["ledger"] == ["dialing"]
    with db.session() as s:
        assert s.scalars(select(CallLedger.outcome)).all() == ["answered"]  # finished with the result
        assert s.get(Campaign, cid).name == "通话中可写"


@pytest.mark.parametrize("concurrent", [False, True])
def test_a_dial_that_raises_is_failed_with_backoff(db, concurrent):
    class Broken(SimTelephony):
        def dial(self, number, **kw):
            raise OSError("gateway unreachable: no route to host")

    tel = LineBank([gw(1, "gw-a", 2)], call_s=0.01, fail={e164(NUMBERS[0])}) if concurrent else Broken()
    cid = make_campaign(db, [(NUMBERS[0], "")], retry_policy={"failed": 15}, max_attempts=2)
    assert dialer.run_due(db, telephony=tel, now=MORNING) == {"failed": 1}
    state, attempts, last, nxt, note = tasks(db, cid)[e164(NUMBERS[0])]
    assert (state, attempts, last) == ("pending", 1, "failed")
    assert nxt == MORNING + timedelta(minutes=15) or (concurrent and nxt > MORNING + timedelta(minutes=15))
    assert note.startswith("拨打出错：OSError: gateway unreachable")
    with db.session() as s:
        rec = s.scalars(select(CallRecord)).one()
        assert (rec.result, rec.answered_at, rec.adapter) == ("failed", None, "sip:gw-a" if concurrent else "sim")
    later = MORNING + timedelta(minutes=20)
    assert dialer.run_due(db, telephony=tel, now=later) == {"failed": 1}
    assert tasks(db, cid)[e164(NUMBERS[0])][:2] == ("failed", 2)  # out of attempts


def test_stale_in_progress_tasks_are_recovered_after_the_lease(db):
    sim = SimTelephony(scripted={e164(n): SimCall(["answered"], ["1"]) for n in NUMBERS[:3]})
    cid = make_campaign(db, [(n, "") for n in NUMBERS[:3]], max_attempts=2)
    stale, fresh, spent = (e164(n) for n in NUMBERS[:3])
    with db.session() as s:
        for number, claimed, attempts in ((stale, MORNING - timedelta(minutes=11), 1),
                                          (fresh, MORNING - timedelta(minutes=5), 1),
                                          (spent, MORNING - timedelta(minutes=30), 2)):
            s.execute(update(CallTask).where(CallTask.number_e164 == number).values(
                state="in_progress", next_attempt_at=claimed, attempts=attempts))
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"answered": 1}  # recovered and dialled at once
    t = tasks(db, cid)
    assert t[stale][:3] == ("done", 2, "answered")
    assert t[fresh][:2] == ("in_progress", 1)  # its call may still be running
    assert t[spent][:3] == ("failed", 2, "interrupted") and "最大尝试次数" in t[spent][4]
    assert sim.dialled[fresh] == 0 and sim.dialled[spent] == 0
    dialer.run_due(db, telephony=sim, now=MORNING + dialer.LEASE)
    assert tasks(db, cid)[fresh][:3] == ("done", 2, "answered")


def test_power_off_retries_like_unreachable_and_suspended_is_final(db):
    a, b, c = NUMBERS[:3]
    sim = SimTelephony(scripted={e164(a): SimCall(["power_off"]), e164(b): SimCall(["suspended"]),
                                 e164(c): SimCall(["power_off"])})
    cid = make_campaign(db, [(a, ""), (b, "")], retry_policy={"unreachable": 60}, max_attempts=3)
    cid2 = make_campaign(db, [(c, "")], retry_policy={"power_off": 5, "unreachable": 60}, max_attempts=3)
    assert dialer.run_due(db, telephony=sim, now=MORNING) == {"power_off": 2, "suspended": 1}
    t = tasks(db, cid)
    assert t[e164(a)][:4] == ("pending", 1, "power_off", MORNING + timedelta(minutes=60))
    assert t[e164(b)][:4] == ("done", 1, "suspended", None)
    assert tasks(db, cid2)[e164(c)][3] == MORNING + timedelta(minutes=5)  # its own entry wins
    with db.session() as s:
        rec = s.scalars(select(CallRecord).where(CallRecord.result == "suspended")).one()
        assert (rec.sip_code, rec.q850_cause) == (403, 50)


def test_tasks_wait_when_no_gateway_serves_the_line_group(db):
    bank = LineBank([gw(1, "gw-a", 2, group="街镇")])
    cid = make_campaign(db, [(NUMBERS[0], "")])
    with db.session() as s:
        s.get(Campaign, cid).line_group = "委办"
    assert dialer.run_due(db, telephony=bank, now=MORNING) == {}
    assert tasks(db, cid)[e164(NUMBERS[0])][:2] == ("pending", 0) and not bank.starts
    with db.session() as s:
        s.get(Campaign, cid).line_group = "街镇"
    assert dialer.run_due(db, telephony=bank, now=MORNING) == {"answered": 1}


# --- the job -------------------------------------------------------------------------------------

def test_job_uses_the_simulator_when_configured(db, settings):
    settings.callout_telephony = "sim"
    cid = make_campaign(db, [(NUMBERS[0], "")])
    with db.session() as s:
        assert isinstance(jobs.telephony(settings, s), SimTelephony)
    out = jobs.run(db, now=MORNING, settings=settings)
    assert sum(out.values()) == 1
    with db.session() as s:
        assert s.scalars(select(CallRecord.adapter).where(CallRecord.campaign_id == cid)).one() == "sim"


def test_job_without_gateway_dials_nothing_and_warns_once_an_hour(db, settings, caplog, monkeypatch):
    monkeypatch.setattr(lines, "dial_targets", lambda session, line_group="": [])
    monkeypatch.setattr(jobs, "_last_warning", None)
    cid = make_campaign(db, [(NUMBERS[0], "")])
    with caplog.at_level(logging.WARNING, logger="cityops.callout.jobs"):
        assert jobs.run(db, now=MORNING, settings=settings) == {}
        assert jobs.run(db, now=MORNING, settings=settings) == {}
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "no voice gateway configured" in caplog.records[0].message
    assert tasks(db, cid)[e164(NUMBERS[0])][:2] == ("pending", 0)
    monkeypatch.setattr(jobs, "_last_warning", time.monotonic() - jobs.NO_GATEWAY_WARN_EVERY_S)
    with caplog.at_level(logging.WARNING, logger="cityops.callout.jobs"):
        jobs.run(db, now=MORNING, settings=settings)
    assert len(caplog.records) == 2  # an hour later it says so again


def test_job_builds_the_sip_adapter_over_the_gateways(db, settings, monkeypatch):
    target = gw(7, "gw-x", 4)
    monkeypatch.setattr(lines, "dial_targets", lambda session, line_group="": [target])
    settings.callout_local_ip = "10.20.0.5"
    with db.session() as s:
        tel = jobs.telephony(settings, s)
        assert isinstance(tel, SipTelephony) and tel.concurrent
        assert (tel.local_ip, tel.var_dir, tel.gateways(s, "")) == ("10.20.0.5", settings.var_dir, [target])


# --- over SIP, end to end -------------------------------------------------------------------------

def test_one_pass_over_sip_against_sipp(db, tmp_path):
    exe = shutil.which("sipp")
    _need(exe is not None, "sipp (Debian package sip-tester) is not installed")
    port, media = _free_udp_port(), _free_udp_port()
    proc = subprocess.Popen([exe, "-sf", str(SCENARIOS / "busy_486.xml"), "-i", "127.0.0.1", "-p", str(port),
                             "-mi", "127.0.0.1", "-mp", str(media), "-m", "3", "-nostdin", "-timeout", "25s",
                             "-timeout_error", "-trace_err"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while not _port_taken(port) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        target = GatewayTarget(id=1, name="gw-sipp", host="127.0.0.1", port=port, ports=2)
        tel = SipTelephony(targets=lambda session, line_group="": [target], prompts=lambda text, codec: b"\xd5" * 800,
                           ring_timeout_s=10)
        cid = make_campaign(db, [(n, "") for n in NUMBERS[:3]], retry_policy={"busy": 10}, concurrency=4)
        assert dialer.run_due(db, telephony=tel, now=MORNING) == {"busy": 3}
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with db.session() as s:
        recs = s.scalars(select(CallRecord).where(CallRecord.campaign_id == cid)).all()
        assert {(r.result, r.sip_code, r.q850_cause, r.adapter) for r in recs} == {("busy", 486, 17, "sip:gw-sipp")}
    assert {v[:3] for v in tasks(db, cid).values()} == {("pending", 1, "busy")}
