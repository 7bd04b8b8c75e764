"""The campaign engine (CALL-1, CALL-2; issue #6 items 3 and 7): works through the due tasks of
running campaigns, at most `concurrency` calls per campaign per run.

Per task: the compliance gate first (CALL-4). A refusal whose only reasons are the calling window
or the daily cap re-queues the task (next window start / next Beijing day); any other refusal
skips it with the reasons. Otherwise the call is logged in the ledger, placed through the
telephony adapter, stored as a `CallRecord` with its `CallStep`s, and the retry policy is applied
by result. The opt-out key opts the callee out at once; a 回访 answer for a task whose business
ref is "event:<id>" goes to `events.verify.record_callback_result` (satisfied iff 满意).

Everything takes `now` (a virtual clock in tests). Each task is its own transaction, so one bad
task does not undo the calls already made."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cityops.callout import compliance, lists, templates
from cityops.callout.campaign_models import CallRecord, CallStep, CallTask, Campaign
from cityops.callout.list_models import CallListEntry
from cityops.callout.scenarios import Window
from cityops.callout.script import Script
from cityops.callout.telephony import Telephony
from cityops.core.db import Database
from cityops.core.errors import Conflict, NotFound
from cityops.core.timeutil import SHANGHAI, aware

DEFAULT_RETRY = templates.DEFAULT_RETRY
FINAL = ("answered", "invalid_number", "rejected")
REQUEUE_RULES = {"outside_window", "daily_cap"}
CALLBACK_SCENARIO = "hotline_callback"


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


def due_tasks(session: Session, now: datetime) -> list[int]:
    """Ids of due tasks, highest-priority campaigns first, capped per campaign by concurrency."""
    out: list[int] = []
    order = case((Campaign.priority == "highest", 0), (Campaign.priority == "high", 1), else_=2)
    for c in session.scalars(select(Campaign).where(Campaign.state == "running").order_by(order, Campaign.id)):
        out.extend(session.scalars(
            select(CallTask.id).where(CallTask.campaign_id == c.id, CallTask.state == "pending",
                                      (CallTask.next_attempt_at.is_(None)) | (CallTask.next_attempt_at <= now))
            .order_by(CallTask.next_attempt_at.is_(None).desc(), CallTask.next_attempt_at, CallTask.id)
            .limit(max(1, c.concurrency))))
    return out


def run_due(db: Database, *, telephony: Telephony, now: datetime) -> dict[str, int]:
    """One dialer pass; returns counts by what happened to each task."""
    now = aware(now)
    with db.session() as s:
        ids = due_tasks(s, now)
    counts: dict[str, int] = {}
    for task_id in ids:
        with db.session() as s:
            what = process_task(s, task_id, telephony=telephony, now=now)
        counts[what] = counts.get(what, 0) + 1
    with db.session() as s:
        finish_campaigns(s, now)
    return counts


def process_task(session: Session, task_id: int, *, telephony: Telephony, now: datetime) -> str:
    task = session.get(CallTask, task_id)
    if task is None or task.state != "pending":
        return "gone"
    c = session.get(Campaign, task.campaign_id)
    if c.state != "running":  # paused since the pass began
        return "gone"
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

    task.state = "in_progress"
    task.attempts += 1
    session.flush()
    script = Script.from_dict(c.script)
    res, transcript = telephony.dial(d.number_e164 or task.number_e164, caller_id=c.caller_id, script=script,
                                     clock=now)
    compliance.record_dial(session, d.number_e164 or task.number_e164, c.scenario, now, res.result)
    rec = _store_record(session, task, c, res, transcript, telephony, now)
    notes: list[str] = []
    if transcript.outcome == "opt_out":
        lists.opt_out(session, rec.number_e164, c.scenario, via="key_press", created_by=f"callout:{c.id}")
        notes.append("被叫按键退订")
    if rec.satisfaction and c.scenario == CALLBACK_SCENARIO and task.business_ref.startswith("event:"):
        notes.append(_callback(session, task, rec, now))
    _apply_retry(task, c, res.result, now)
    task.last_result = res.result
    task.note = "；".join(notes)
    counters = dict(c.counters or {})
    counters[res.result] = counters.get(res.result, 0) + 1
    c.counters = counters
    return res.result


def _store_record(session, task, c, res, transcript, telephony, now) -> CallRecord:
    answered = res.result == "answered"
    rec = CallRecord(task_id=task.id, campaign_id=c.id, scenario=c.scenario, number_e164=task.number_e164,
                     started_at=now, answered_at=now if answered else None,
                     ended_at=now + timedelta(seconds=res.duration_s), result=res.result, sip_code=res.sip_code,
                     q850_cause=res.q850_cause, duration_s=res.duration_s, dtmf=res.dtmf[:64],
                     satisfaction=transcript.recorded.get("satisfaction"),
                     outcome=transcript.outcome if answered else "", business_ref=task.business_ref,
                     caller_id=c.caller_id, adapter=getattr(telephony, "name", ""))
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
    policy = c.retry_policy or DEFAULT_RETRY
    if result in FINAL:
        task.state = "done"
        task.next_attempt_at = None
    elif result in policy and task.attempts < c.max_attempts:
        task.state = "pending"
        task.next_attempt_at = now + timedelta(minutes=float(policy[result]))
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
