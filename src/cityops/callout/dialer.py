"""The campaign engine (CALL-1, CALL-2; issue #6 items 3, 4 and 7): works through the due tasks of
running campaigns.

Per task, three steps, so no database transaction is open while a call rings or talks (a real
call lasts a minute; SQLite would hold its write lock all along):
1. `claim_task` (one transaction): the compliance gate first (CALL-4). A refusal whose only
   reasons are the calling window or the daily cap re-queues the task (next window start / next
   Beijing day); any other refusal skips it with the reasons. Otherwise the task goes
   in_progress, `attempts` + 1, and the dial is logged in the ledger.
2. `dial` (no transaction): the telephony adapter places the call and runs the script. An
   adapter that raises gives a "failed" result with the error text, retried by the policy.
3. `finish_task` (one transaction): the `CallRecord` with its `CallStep`s, the statistics
   (`stats.record_call`), the opt-out key (opts the callee out at once), the 回访 answer for
   a task whose business ref is "event:<id>" (`events.verify.record_callback_result`), and the
   retry policy by result.

`run_due` runs tasks one after the other for an adapter that is not `concurrent` (the simulator:
deterministic). For a concurrent adapter (SIP) it hands calls to a `CallPool` (threads), each
call on one gateway from `telephony.gateways(session, line_group)`: at most the gateway's ports
minus its calls in progress, at most the campaign's `concurrency`, and at most STARTS_PER_SECOND
call starts per gateway (a call waits in its thread for its start slot). The record's adapter says which gateway ("sip:<gateway name>", 16 characters).
A task left in_progress longer than LEASE (process killed mid-call) goes back to pending.

Everything takes `now` (a virtual clock in tests)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cityops.callout import compliance, lists, stats, templates, triggers
from cityops.callout.campaign_models import CallRecord, CallStep, CallTask, Campaign
from cityops.callout.lines import GatewayTarget
from cityops.callout.list_models import CallLedger, CallListEntry
from cityops.callout.scenarios import Window
from cityops.callout.script import Script, Transcript
from cityops.callout.sip.result import CallResult
from cityops.callout.telephony import Telephony
from cityops.core.db import Database
from cityops.core.errors import Conflict, NotFound
from cityops.core.timeutil import SHANGHAI, aware

DEFAULT_RETRY = templates.DEFAULT_RETRY
FINAL = ("answered", "invalid_number", "rejected", "suspended")
REQUEUE_RULES = {"outside_window", "daily_cap"}
TRIGGERED = ("event_closed", "alarm_unacked")  # their calls lose their point once a person acted
CALLBACK_SCENARIO = "hotline_callback"
LEASE = timedelta(minutes=10)  # longer than ring timeout + maximum call length
STARTS_PER_SECOND = 2.0  # new calls per gateway per second (gateways refuse INVITE bursts)
MAX_CALLS = 64  # threads; the gateways' ports are the real bound
PASS_LIMIT_S = 600  # stop taking new tasks after this, so a pass ends and stale recovery runs

log = logging.getLogger(__name__)


def next_window_start(at: datetime, windows: tuple[Window, ...]) -> datetime:
    local = aware(at).astimezone(SHANGHAI)
    for days in range(8):
        day = (local + timedelta(days=days)).date()
        for start, _ in sorted(windows):
            cand = datetime.combine(day, start, tzinfo=SHANGHAI)
            if cand > local:
                return cand
    return local + timedelta(days=1)


def next_day(at: datetime) -> datetime:
    local = aware(at).astimezone(SHANGHAI)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)


def _running(session: Session) -> list[Campaign]:
    """Running campaigns, highest priority first."""
    order = case((Campaign.priority == "highest", 0), (Campaign.priority == "high", 1), else_=2)
    return list(session.scalars(select(Campaign).where(Campaign.state == "running").order_by(order, Campaign.id)))


def _due(campaign_id: int, now: datetime):
    """A campaign's pending tasks that are due, never-tried first, then by due time."""
    return (select(CallTask.id).where(CallTask.campaign_id == campaign_id, CallTask.state == "pending",
                                      (CallTask.next_attempt_at.is_(None)) | (CallTask.next_attempt_at <= now))
            .order_by(CallTask.next_attempt_at.is_(None).desc(), CallTask.next_attempt_at, CallTask.id))


def due_tasks(session: Session, now: datetime) -> list[int]:
    """Ids of due tasks, highest-priority campaigns first, capped per campaign by concurrency."""
    out: list[int] = []
    for c in _running(session):
        out.extend(session.scalars(_due(c.id, now).limit(max(1, c.concurrency))))
    return out


def recover_stale(session: Session, now: datetime, skip: Collection[int] = ()) -> int:
    """In-progress tasks whose claim is older than LEASE go back to pending (or fail when out of
    attempts), except those this process is still calling (`skip`). The claim time is kept in
    `next_attempt_at` while a task is in progress."""
    n = 0
    q = select(CallTask).where(CallTask.state == "in_progress",
                               CallTask.next_attempt_at.is_(None) | (CallTask.next_attempt_at <= now - LEASE))
    for task in session.scalars(q):
        if task.id in skip:
            continue
        c = session.get(Campaign, task.campaign_id)
        task.last_result = "interrupted"
        task.note = "上次拨打未正常结束（进程中断），已重新排队"
        if c is not None and task.attempts >= c.max_attempts:
            task.state, task.next_attempt_at = "failed", None
            task.note = "上次拨打未正常结束（进程中断），已达最大尝试次数"
        else:
            task.state, task.next_attempt_at = "pending", now
        n += 1
    if n:
        log.warning("callout: %d interrupted call task(s) re-queued", n)
    return n


def run_due(db: Database, *, telephony: Telephony, now: datetime, pool: CallPool | None = None) -> dict[str, int]:
    """One dialer pass; returns counts by what happened to each task (with the job's `pool`: the
    gate outcomes of this pass and the results of calls that ended since the last one)."""
    now = aware(now)
    counts: Counter[str] = Counter()
    with db.session() as s:
        recover_stale(s, now, skip=pool.in_flight() if pool else ())
    if getattr(telephony, "concurrent", False):
        _run_concurrent(db, telephony, now, counts, pool)
    else:
        with db.session() as s:
            ids = due_tasks(s, now)
        for task_id in ids:
            with db.session() as s:
                claim = claim_task(s, task_id, now=now)
            if isinstance(claim, str):
                counts[claim] += 1
                continue
            res, transcript, error = dial(telephony, claim)
            with db.session() as s:
                counts[finish_task(s, claim, res, transcript, error=error, adapter=_adapter(telephony, claim),
                                   now=now)] += 1
    with db.session() as s:
        finish_campaigns(s, now)
    return dict(counts)


def process_task(session: Session, task_id: int, *, telephony: Telephony, now: datetime) -> str:
    """Claim, dial and finish one task in the caller's session (tests, one-off calls)."""
    claim = claim_task(session, task_id, now=now)
    if isinstance(claim, str):
        return claim
    res, transcript, error = dial(telephony, claim)
    return finish_task(session, claim, res, transcript, error=error, adapter=_adapter(telephony, claim), now=now)


@dataclass(frozen=True)
class Claim:
    """A task claimed for one dial: what the call needs, read before the transaction ends."""

    task_id: int
    campaign_id: int
    number_e164: str
    scenario: str
    caller_id: str
    script: dict
    started: datetime
    ledger_id: int  # the ledger row of this dial, its outcome filled in when the call ends
    gateway: GatewayTarget | None = None


def claim_task(session: Session, task_id: int, *, now: datetime,
               gateway: GatewayTarget | None = None) -> Claim | str:
    """The gate and the claim. Returns the Claim, or what happened instead: gone, requeued,
    skipped."""
    task = session.get(CallTask, task_id)
    if task is None or task.state != "pending":
        return "gone"
    c = session.get(Campaign, task.campaign_id)
    if c.state != "running":  # paused since the pass began
        return "gone"
    gone = triggers.obsolete(session, task.business_ref) if c.trigger in TRIGGERED else None
    if gone:
        task.state, task.note, task.last_result = "skipped", gone, "obsolete"
        return "skipped"
    entry = session.get(CallListEntry, task.entry_id) if task.entry_id else None
    windows = templates.effective(session, c.scenario).windows
    d = compliance.check(session, number=task.number_e164, scenario=c.scenario, at=now, priority=c.priority,
                         list_entry=entry, windows=windows)
    if not d.allowed:
        task.note = "；".join(d.reasons)
        task.last_result = "gate:" + ",".join(d.rules)
        if set(d.rules) <= REQUEUE_RULES:
            at = now
            if "daily_cap" in d.rules:
                at = next_day(now)
            if "outside_window" in d.rules or not compliance.in_window(at, windows):
                at = next_window_start(at, windows)
            task.next_attempt_at = at
            return "requeued"
        task.state = "skipped"
        return "skipped"
    number = d.number_e164 or task.number_e164
    task.state = "in_progress"
    task.attempts += 1
    task.next_attempt_at = now  # the lease start while in progress (see recover_stale)
    task.last_result = "dialing"
    ledger = compliance.record_dial(session, number, c.scenario, now, "dialing")
    return Claim(task.id, c.id, number, c.scenario, c.caller_id, dict(c.script or {}), now, ledger.id, gateway)


def dial(telephony: Telephony, claim: Claim) -> tuple[CallResult, Transcript, str]:
    """Place the call; never raises. An adapter error becomes a "failed" result plus its text."""
    try:
        script = Script.from_dict(claim.script)
        extra = {"gateway": claim.gateway} if claim.gateway is not None else {}
        res, transcript = telephony.dial(claim.number_e164, caller_id=claim.caller_id, script=script,
                                         clock=claim.started, **extra)
        return res, transcript, ""
    except Exception as exc:  # a broken call must not leave the task claimed
        log.exception("callout: dial failed", extra={"task": claim.task_id})
        error = f"{type(exc).__name__}: {exc}"[:300]
        return CallResult("failed", final_response=error), Transcript(outcome="not_answered"), error


def finish_task(session: Session, claim: Claim, res: CallResult, transcript: Transcript, *, error: str = "",
                adapter: str = "", now: datetime) -> str:
    """Store the record and its steps, feed the statistics, apply opt-out, 回访 and retry."""
    task = session.get(CallTask, claim.task_id)
    c = session.get(Campaign, claim.campaign_id)
    if task is None or c is None:  # deleted during the call
        return "gone"
    ledger = session.get(CallLedger, claim.ledger_id)
    if ledger is not None:
        ledger.outcome = res.result
    rec = _store_record(session, task, c, res, transcript, adapter, claim.started)
    stats.record_call(session, rec)
    notes: list[str] = []
    if error:
        notes.append(f"拨打出错：{error}")
    if transcript.outcome == "opt_out":
        lists.opt_out(session, rec.number_e164, c.scenario, via="key_press", created_by=f"callout:{c.id}")
        notes.append("被叫按键退订")
    if rec.satisfaction and c.scenario == CALLBACK_SCENARIO and task.business_ref.startswith("event:"):
        notes.append(_callback(session, task, rec, now))
    _apply_retry(task, c, res.result, now)
    if c.state == "done" and task.state == "pending":  # stopped by an operator during the call
        task.state, task.next_attempt_at = "skipped", None
        notes.append("任务已终止")
    task.last_result = res.result
    task.note = "；".join(notes)
    counters = dict(c.counters or {})
    counters[res.result] = counters.get(res.result, 0) + 1
    c.counters = counters
    return res.result


def _adapter(telephony: Telephony, claim: Claim) -> str:
    name = getattr(telephony, "name", "")
    if claim.gateway is not None:
        name = f"{name}:{claim.gateway.name}"
    return name[:16]


class CallPool:
    """The calls in flight in one process (CALL-1): a thread pool, the calls per gateway and per
    campaign, the next start slot per gateway (pacing), and the results not yet reported. The
    `callout.dial` job keeps one across passes, so a pass only claims and hands calls over (the
    scheduler runs jobs one after the other; it must not wait for a call to end)."""

    def __init__(self, max_calls: int = MAX_CALLS):
        self._executor = ThreadPoolExecutor(max_workers=max_calls, thread_name_prefix="callout-dial")
        self.lock = threading.Lock()
        self.busy: Counter[int] = Counter()  # gateway id -> calls in progress
        self.per_campaign: Counter[int] = Counter()
        self.inflight: set[int] = set()  # task ids
        self._next_slot: dict[int, float] = {}
        self._finished: Counter[str] = Counter()
        self._futures: set[Future] = set()

    def free_gateway(self, gateways: list[GatewayTarget]) -> GatewayTarget | None:
        with self.lock:
            return next((g for g in gateways if self.busy[g.id] < g.ports), None)

    def submit(self, db: Database, telephony: Telephony, claim: Claim, clock) -> None:
        gap = 1.0 / STARTS_PER_SECOND
        with self.lock:
            self.busy[claim.gateway.id] += 1
            self.per_campaign[claim.campaign_id] += 1
            self.inflight.add(claim.task_id)
            start_at = max(time.monotonic(), self._next_slot.get(claim.gateway.id, 0.0))
            self._next_slot[claim.gateway.id] = start_at + gap
            fut = self._executor.submit(self._call, db, telephony, claim, start_at, clock)
            self._futures.add(fut)
        fut.add_done_callback(self._forget)

    def _forget(self, fut: Future) -> None:
        with self.lock:
            self._futures.discard(fut)

    def _call(self, db: Database, telephony: Telephony, claim: Claim, start_at: float, clock) -> None:
        try:
            delay = start_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            res, transcript, error = dial(telephony, claim)
            with db.session() as s:
                what = finish_task(s, claim, res, transcript, error=error, adapter=_adapter(telephony, claim),
                                   now=clock())
            with self.lock:
                self._finished[what] += 1
        except Exception:  # storing failed: the task stays in progress until the lease recovers it
            log.exception("callout: storing a call failed", extra={"task": claim.task_id})
        finally:
            with self.lock:
                self.busy[claim.gateway.id] -= 1
                self.per_campaign[claim.campaign_id] -= 1
                self.inflight.discard(claim.task_id)

    def in_flight(self) -> frozenset[int]:
        with self.lock:
            return frozenset(self.inflight)

    def drain(self) -> Counter[str]:
        """Results of the calls finished since the last drain."""
        with self.lock:
            out, self._finished = self._finished, Counter()
        return out

    def idle(self) -> bool:
        with self.lock:
            return not self._futures

    def wait_any(self) -> None:
        with self.lock:
            pending = list(self._futures)
        if pending:
            wait(pending, return_when=FIRST_COMPLETED)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


def _run_concurrent(db: Database, telephony: Telephony, now: datetime, counts: Counter[str],
                    pool: CallPool | None) -> None:
    """With its own pool (tests, one-off runs) the pass waits for its calls and keeps taking due
    tasks as ports free up; with the job's pool it claims once and returns."""
    t0 = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - t0)

    own = pool is None
    pool = pool or CallPool()
    seen: set[int] = set()
    try:
        while True:
            if time.monotonic() - t0 < PASS_LIMIT_S:
                _claim_round(db, telephony, pool, clock, counts, seen)
            if not own or pool.idle():
                break
            pool.wait_any()
    finally:
        if own:
            pool.shutdown()
    counts.update(pool.drain())


def _claim_round(db: Database, telephony: Telephony, pool: CallPool, clock, counts: Counter[str],
                 seen: set[int]) -> None:
    with db.session() as s:
        todo = _candidates(s, clock(), pool.per_campaign, seen, telephony)
    for task_id, _campaign_id, gateways in todo:
        gw = pool.free_gateway(gateways)
        if gw is None:
            continue  # stays pending; a free port takes it later
        seen.add(task_id)
        with db.session() as s:
            claim = claim_task(s, task_id, now=clock(), gateway=gw)
        if isinstance(claim, str):
            counts[claim] += 1
            continue
        pool.submit(db, telephony, claim, clock)


def _candidates(session: Session, now: datetime, per_campaign: Counter[int], seen: set[int],
                telephony: Telephony) -> list[tuple[int, int, list[GatewayTarget]]]:
    """(task id, campaign id, gateways of its line group) for due tasks not tried in this pass,
    highest-priority campaigns first, within each campaign's free concurrency."""
    out: list[tuple[int, int, list[GatewayTarget]]] = []
    groups: dict[str, list[GatewayTarget]] = {}
    for c in _running(session):
        free = max(1, c.concurrency) - per_campaign[c.id]
        if free <= 0:
            continue
        if c.line_group not in groups:
            groups[c.line_group] = list(telephony.gateways(session, c.line_group))
        if not groups[c.line_group]:
            continue
        ids = session.scalars(_due(c.id, now).limit(free + len(seen)))
        out.extend((i, c.id, groups[c.line_group]) for i in [i for i in ids if i not in seen][:free])
    return out


def _store_record(session, task, c, res, transcript, adapter, now) -> CallRecord:
    answered = res.result == "answered"
    rec = CallRecord(task_id=task.id, campaign_id=c.id, scenario=c.scenario, number_e164=task.number_e164,
                     started_at=now, answered_at=now if answered else None,
                     ended_at=now + timedelta(seconds=res.duration_s), result=res.result, sip_code=res.sip_code,
                     q850_cause=res.q850_cause, duration_s=res.duration_s, dtmf=res.dtmf[:64],
                     satisfaction=transcript.recorded.get("satisfaction"),
                     outcome=transcript.outcome if answered else "", business_ref=task.business_ref,
                     caller_id=c.caller_id, adapter=adapter)
    session.add(rec)
    session.flush()
    step_s = res.duration_s / max(1, len(transcript.turns))
    for i, t in enumerate(transcript.turns):
        session.add(CallStep(record_id=rec.id, seq=i + 1, step=t.step, prompt=t.prompt, answer_dtmf=t.answer_dtmf,
                             answer_text=t.answer_text[:256], matched=t.matched, retry=t.retry,
                             at=now + timedelta(seconds=step_s * i)))
    session.flush()
    return rec


def _callback(session: Session, task: CallTask, rec: CallRecord, now: datetime) -> str:
    from cityops.events import verify

    try:
        event_id = int(task.business_ref.split(":", 1)[1])
    except ValueError:
        return f"业务编号 {task.business_ref} 无法识别"
    satisfied = rec.satisfaction == "满意"
    try:
        with session.begin_nested():
            verify.record_callback_result(session, event_id, satisfied=satisfied, note=f"AI 回访（通话 {rec.id}）",
                                          actor="callout", now=now)
    except (Conflict, NotFound) as exc:
        return f"回访结果未登记到事件：{exc.detail}"
    return f"回访结果已登记到事件（{'满意' if satisfied else '不满意'}）"


def _apply_retry(task: CallTask, c: Campaign, result: str, now: datetime) -> None:
    """Final results end the task; others come back after the policy's minutes while attempts
    remain. A policy without "power_off" retries it like "unreachable" (both: the handset cannot
    be reached now); "suspended" is final (the line is cut until the subscriber pays)."""
    policy = c.retry_policy or DEFAULT_RETRY
    minutes = policy.get(result)
    if minutes is None and result == "power_off":
        minutes = policy.get("unreachable")
    if result in FINAL:
        task.state = "done"
        task.next_attempt_at = None
    elif minutes is not None and task.attempts < c.max_attempts:
        task.state = "pending"
        task.next_attempt_at = now + timedelta(minutes=float(minutes))
    else:
        task.state = "failed"
        task.next_attempt_at = None


def finish_campaigns(session: Session, now: datetime) -> None:
    open_tasks = (select(func.count()).select_from(CallTask)
                  .where(CallTask.campaign_id == Campaign.id, CallTask.state.in_(("pending", "in_progress")))
                  .scalar_subquery())
    for c in session.scalars(select(Campaign).where(Campaign.state == "running", Campaign.rolling.is_(False),
                                                    open_tasks == 0)):
        c.state = "done"
        c.finished_at = now
