"""Campaign service (CALL-1, CALL-2): create a campaign from a call list (one task per ok entry) or
empty for triggers and broadcasts, add tasks, start (now or at `scheduled_at`), pause, stop and
progress; the paged, filtered views of campaigns, tasks and call records (with their dialogue
steps) that the API and the console show. The dialer (`dialer.py`) does the calling."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cityops.callout import lists, numbers, templates
from cityops.callout.campaign_models import (
    CAMPAIGN_STATES,
    TASK_STATES,
    TRIGGERS,
    CallRecord,
    CallStep,
    CallTask,
    Campaign,
)
from cityops.callout.list_models import CallListEntry
from cityops.callout.script import Script, validate
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import SHANGHAI, aware, utcnow

PRIORITIES = ("normal", "high", "highest")
STOPPED_NOTE = "任务已终止"
RESULT_ORDER = ("answered", "no_answer", "busy", "unreachable", "power_off", "suspended", "invalid_number",
                "rejected", "failed")


def create_campaign(session: Session, *, name: str, list_id: int | None = None, scenario: str | None = None,
                    script: Script | dict[str, Any] | None = None, priority: str | None = None,
                    max_attempts: int | None = None, retry_policy: dict[str, float] | None = None,
                    concurrency: int = 4, caller_id: str | None = None, line_group: str | None = None,
                    trigger: str = "manual", scheduled_at: datetime | None = None, rolling: bool = False,
                    created_by: str = "", now: datetime | None = None) -> Campaign:
    """A campaign over a call list (one task per ok entry) or, with `scenario` and no list, an
    empty one that triggers and broadcasts add tasks to (`add_task`). Whatever is not given comes
    from the scenario's template (`templates.effective`)."""
    cl = lists.get_list(session, list_id) if list_id is not None else None
    if cl is None and scenario is None:
        raise Invalid("外呼任务需要名单或场景")
    if cl is not None and scenario is not None and scenario != cl.scenario:
        raise Invalid(f"名单属于场景 {cl.scenario}，与 {scenario} 不符")
    tpl = templates.effective(session, cl.scenario if cl is not None else scenario)
    if script is None:
        if tpl.scenario == "emergency":  # its script carries the broadcast's {message}
            raise Invalid("应急指挥请通过「应急广播」发起，或提供话术")
        script = tpl.script
        if script is None:
            raise Invalid(f"场景「{tpl.label}」没有默认话术，请提供话术")
    if isinstance(script, dict):
        script = Script.from_dict(script)
    validate(script)
    priority = priority or tpl.priority
    if priority not in PRIORITIES:
        raise Invalid(f"未知优先级 {priority!r}", allowed=list(PRIORITIES))
    max_attempts = tpl.max_attempts if max_attempts is None else max_attempts
    if max_attempts < 1 or concurrency < 1:
        raise Invalid("最大呼叫次数和并发数必须大于 0")
    retry_policy = dict(tpl.retry_policy if retry_policy is None else retry_policy)
    for result, minutes in retry_policy.items():
        if not isinstance(minutes, int | float) or minutes < 0:
            raise Invalid(f"重试间隔无效：{result}={minutes!r}")
    if trigger not in TRIGGERS:
        raise Invalid(f"未知触发方式 {trigger!r}", allowed=list(TRIGGERS))
    c = Campaign(name=name.strip() or (cl.name if cl is not None else tpl.label), scenario=tpl.scenario,
                 list_id=cl.id if cl is not None else None, script=script.to_dict(), priority=priority,
                 max_attempts=max_attempts, retry_policy=retry_policy, concurrency=concurrency,
                 caller_id=tpl.caller_id if caller_id is None else caller_id,
                 line_group=tpl.line_group if line_group is None else line_group, trigger=trigger,
                 scheduled_at=aware(scheduled_at) if scheduled_at else None, rolling=rolling,
                 created_by=created_by, created_at=aware(now or utcnow()), counters={})
    session.add(c)
    session.flush()
    if cl is not None:
        for e in session.scalars(select(CallListEntry).where(CallListEntry.list_id == cl.id,
                                                             CallListEntry.status == "ok")
                                 .order_by(CallListEntry.row, CallListEntry.id)):
            session.add(CallTask(campaign_id=c.id, entry_id=e.id, number_e164=e.number_e164,
                                 business_ref=e.business_ref or "", contact_name=(e.name or "")[:64]))
        session.flush()
    return c


def add_task(session: Session, campaign_id: int, *, number: str, business_ref: str = "", contact_name: str = "",
             due_at: datetime | None = None) -> CallTask | None:
    """One more callee for a campaign (triggers, broadcasts). The number is stored normalised when
    it parses and as given otherwise: the gate refuses it before the dial, with the reason, so a
    bad number in an event stays visible instead of vanishing. None when the campaign already
    has this number for this business ref."""
    c = get_campaign(session, campaign_id)
    if c.state == "done":
        raise Conflict(f"外呼任务「{c.name}」已结束，不能再添加号码")
    p = numbers.parse(number)
    stored = (p.e164 if p.ok else number.strip())[:20]
    dup = session.scalar(select(CallTask.id).where(CallTask.campaign_id == c.id, CallTask.number_e164 == stored,
                                                   CallTask.business_ref == business_ref))
    if dup is not None:
        return None
    task = CallTask(campaign_id=c.id, number_e164=stored, business_ref=business_ref, contact_name=contact_name[:64],
                    next_attempt_at=aware(due_at) if due_at else None)
    session.add(task)
    session.flush()
    return task


def rolling_campaign(session: Session, *, scenario: str, trigger: str, now: datetime | None = None) -> Campaign:
    """The running campaign that a trigger feeds (one per trigger and scenario), created and
    started on first use; a paused one is returned as it is (an operator paused it)."""
    c = session.scalar(select(Campaign).where(Campaign.rolling.is_(True), Campaign.scenario == scenario,
                                              Campaign.trigger == trigger, Campaign.state != "done")
                       .order_by(Campaign.id.desc()))
    tpl = templates.effective(session, scenario)
    if c is None:
        c = create_campaign(session, name=f"{tpl.label}（自动触发）", scenario=scenario, trigger=trigger,
                            rolling=True, created_by=f"trigger:{trigger}", now=now)
        start(session, c.id, now=now)
    elif tpl.script is not None:
        # A rolling campaign lives for months: the template as edited since applies to its next calls.
        c.script = tpl.script.to_dict()
        c.retry_policy = dict(tpl.retry_policy)
        c.max_attempts = tpl.max_attempts
        c.caller_id, c.line_group = tpl.caller_id, tpl.line_group
    return c


def start_scheduled(session: Session, now: datetime) -> list[int]:
    """Starts the drafts whose `scheduled_at` has come (CALL-1 schedule trigger)."""
    started = []
    for c in session.scalars(select(Campaign).where(Campaign.state == "draft", Campaign.scheduled_at.is_not(None),
                                                    Campaign.scheduled_at <= aware(now))):
        start(session, c.id, now=now)
        started.append(c.id)
    return started


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    c = session.get(Campaign, campaign_id)
    if c is None:
        raise NotFound(f"外呼任务 {campaign_id} 不存在")
    return c


def start(session: Session, campaign_id: int, now: datetime | None = None) -> Campaign:
    c = get_campaign(session, campaign_id)
    if c.state not in ("draft", "paused"):
        raise Conflict(f"外呼任务当前状态为 {c.state}，不能启动")
    c.state = "running"
    c.started_at = c.started_at or aware(now or utcnow())
    session.flush()
    return c


def pause(session: Session, campaign_id: int) -> Campaign:
    c = get_campaign(session, campaign_id)
    if c.state != "running":
        raise Conflict(f"外呼任务当前状态为 {c.state}，不能暂停")
    c.state = "paused"
    session.flush()
    return c


def progress(session: Session, campaign_id: int) -> dict[str, Any]:
    """Tasks by state and dials by result, for the live progress view."""
    c = get_campaign(session, campaign_id)
    by_state = dict.fromkeys(TASK_STATES, 0)
    by_state.update(dict(session.execute(select(CallTask.state, func.count()).where(CallTask.campaign_id == c.id)
                                         .group_by(CallTask.state)).all()))
    return _progress(c, by_state)


def stop(session: Session, campaign_id: int, now: datetime | None = None) -> Campaign:
    """Ends a campaign for good: state done, every pending task skipped with the note
    "任务已终止" (a call in progress finishes on its own)."""
    c = get_campaign(session, campaign_id)
    if c.state == "done":
        raise Conflict(f"外呼任务「{c.name}」已结束")
    now = aware(now or utcnow())
    for t in session.scalars(select(CallTask).where(CallTask.campaign_id == c.id, CallTask.state == "pending")):
        t.state = "skipped"
        t.next_attempt_at = None
        t.note = STOPPED_NOTE
    c.state = "done"
    c.finished_at = now
    session.flush()
    return c


def audit_action(session: Session, action: str, c: Campaign, **after: Any) -> None:
    """An operator's campaign action in the audit chain (campaign rows are not Audited: the
    dialer updates their counters on every call)."""
    from cityops.audit import service as audit

    audit.record(session, f"callout.campaign.{action}", "callout_campaigns", str(c.id),
                 after={"name": c.name, "state": c.state, **after})


def _paged(session: Session, q: Select, limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
    return list(session.scalars(q.limit(limit).offset(offset))), total


def list_campaigns(session: Session, *, scenario: str | None = None, state: str | None = None,
                   trigger: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[Campaign], int]:
    """Newest first, with the total for paging."""
    if state and state not in CAMPAIGN_STATES:
        raise Invalid(f"未知任务状态 {state!r}", allowed=list(CAMPAIGN_STATES))
    if trigger and trigger not in TRIGGERS:
        raise Invalid(f"未知触发方式 {trigger!r}", allowed=list(TRIGGERS))
    q = select(Campaign).order_by(Campaign.id.desc())
    if scenario:
        q = q.where(Campaign.scenario == scenario)
    if state:
        q = q.where(Campaign.state == state)
    if trigger:
        q = q.where(Campaign.trigger == trigger)
    return _paged(session, q, limit, offset)


def progress_many(session: Session, campaigns: list[Campaign]) -> dict[int, dict[str, Any]]:
    """`progress` for a page of campaigns with one query."""
    ids = [c.id for c in campaigns]
    counts: dict[int, dict[str, int]] = {i: dict.fromkeys(TASK_STATES, 0) for i in ids}
    if ids:
        for cid, state, n in session.execute(select(CallTask.campaign_id, CallTask.state, func.count())
                                             .where(CallTask.campaign_id.in_(ids))
                                             .group_by(CallTask.campaign_id, CallTask.state)):
            counts[cid][state] = n
    return {c.id: _progress(c, counts[c.id]) for c in campaigns}


def _progress(c: Campaign, by_state: dict[str, int]) -> dict[str, Any]:
    total = sum(by_state.values())
    finished = by_state["done"] + by_state["skipped"] + by_state["failed"]
    return {"campaign_id": c.id, "state": c.state, "tasks": total, "by_state": by_state,
            "results": _ordered(c.counters or {}), "percent": round(100 * finished / total, 1) if total else 100.0}


def _ordered(counters: dict[str, int]) -> dict[str, int]:
    # PostgreSQL's jsonb keeps its own key order; show results in one fixed order everywhere.
    rank = {r: i for i, r in enumerate(RESULT_ORDER)}
    return {k: counters[k] for k in sorted(counters, key=lambda k: (rank.get(k, len(rank)), k))}


def campaign_tasks(session: Session, campaign_id: int, *, state: str | None = None, limit: int = 50,
                   offset: int = 0) -> tuple[list[CallTask], int]:
    """A campaign's tasks in call-list order, paged."""
    get_campaign(session, campaign_id)
    if state and state not in TASK_STATES:
        raise Invalid(f"未知号码状态 {state!r}", allowed=list(TASK_STATES))
    q = select(CallTask).where(CallTask.campaign_id == campaign_id).order_by(CallTask.id)
    if state:
        q = q.where(CallTask.state == state)
    return _paged(session, q, limit, offset)


def _number_filter(number: str):
    """A full number matches exactly (normalised); 4+ digits match the end of the number, so an
    operator can look up "5678" from a masked row."""
    p = numbers.parse(number)
    if p.ok:
        return CallRecord.number_e164 == p.e164
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) < 4:
        raise Invalid("号码筛选至少需要 4 位数字")
    return CallRecord.number_e164.like(f"%{digits}")


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(), SHANGHAI)


def list_records(session: Session, *, scenario: str | None = None, campaign_id: int | None = None,
                 result: str | None = None, number: str | None = None, date_from: date | None = None,
                 date_to: date | None = None, business_ref: str | None = None, limit: int = 50,
                 offset: int = 0) -> tuple[list[CallRecord], int]:
    """Call records (CALL-2), newest first. Dates are Beijing days, both ends included."""
    q = select(CallRecord).order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
    if scenario:
        q = q.where(CallRecord.scenario == scenario)
    if campaign_id is not None:
        q = q.where(CallRecord.campaign_id == campaign_id)
    if result:
        q = q.where(CallRecord.result == result)
    if number and number.strip():
        q = q.where(_number_filter(number))
    if date_from and date_to and date_from > date_to:
        raise Invalid("开始日期晚于结束日期")
    if date_from:
        q = q.where(CallRecord.started_at >= _day_start(date_from))
    if date_to:
        q = q.where(CallRecord.started_at < _day_start(date_to + timedelta(days=1)))
    if business_ref and business_ref.strip():
        q = q.where(CallRecord.business_ref == business_ref.strip())
    return _paged(session, q, limit, offset)


def get_record(session: Session, record_id: int) -> tuple[CallRecord, list[CallStep]]:
    """One call with its dialogue steps in order: the transcript."""
    rec = session.get(CallRecord, record_id)
    if rec is None:
        raise NotFound(f"通话记录 {record_id} 不存在")
    steps = list(session.scalars(select(CallStep).where(CallStep.record_id == rec.id).order_by(CallStep.seq)))
    return rec, steps
