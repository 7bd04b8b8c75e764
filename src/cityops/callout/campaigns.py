"""Campaign service (CALL-1): create a campaign from a call list (one task per ok entry), start,
pause and progress. The dialer (`dialer.py`) does the calling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.callout import lists
from cityops.callout.campaign_models import TASK_STATES, CallTask, Campaign
from cityops.callout.list_models import CallListEntry
from cityops.callout.script import DEFAULT_SCRIPTS, Script, validate
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import aware, utcnow

PRIORITIES = ("normal", "high", "highest")


def create_campaign(session: Session, *, name: str, list_id: int, script: Script | dict[str, Any] | None = None,
                    priority: str = "normal", max_attempts: int = 3, retry_policy: dict[str, float] | None = None,
                    concurrency: int = 4, caller_id: str = "", created_by: str = "",
                    now: datetime | None = None) -> Campaign:
    cl = lists.get_list(session, list_id)
    if script is None:
        script = DEFAULT_SCRIPTS.get(cl.scenario)
        if script is None:
            raise Invalid(f"场景 {cl.scenario} 没有默认话术，请提供话术")
    if isinstance(script, dict):
        script = Script.from_dict(script)
    validate(script)
    if priority not in PRIORITIES:
        raise Invalid(f"未知优先级 {priority!r}", allowed=list(PRIORITIES))
    if max_attempts < 1 or concurrency < 1:
        raise Invalid("最大呼叫次数和并发数必须大于 0")
    for result, minutes in (retry_policy or {}).items():
        if not isinstance(minutes, int | float) or minutes < 0:
            raise Invalid(f"重试间隔无效：{result}={minutes!r}")
    c = Campaign(name=name.strip() or cl.name, scenario=cl.scenario, list_id=cl.id, script=script.to_dict(),
                 priority=priority, max_attempts=max_attempts, retry_policy=dict(retry_policy or {}),
                 concurrency=concurrency, caller_id=caller_id, created_by=created_by,
                 created_at=aware(now or utcnow()), counters={})
    session.add(c)
    session.flush()
    for e in session.scalars(select(CallListEntry).where(CallListEntry.list_id == cl.id, CallListEntry.status == "ok")
                             .order_by(CallListEntry.row, CallListEntry.id)):
        session.add(CallTask(campaign_id=c.id, entry_id=e.id, number_e164=e.number_e164,
                             business_ref=e.business_ref or ""))
    session.flush()
    return c


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
    total = sum(by_state.values())
    finished = by_state["done"] + by_state["skipped"] + by_state["failed"]
    return {"campaign_id": c.id, "state": c.state, "tasks": total, "by_state": by_state,
            "results": dict(c.counters or {}), "percent": round(100 * finished / total, 1) if total else 100.0}
