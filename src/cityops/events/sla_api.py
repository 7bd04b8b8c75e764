"""SLA policies, calendar overrides, the working calendar and deadline explanations (IOT-6)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cityops.auth.deps import DbSession, Principal, require
from cityops.core.errors import Invalid
from cityops.core.schemas import LocalTime, Out
from cityops.core.timeutil import SHANGHAI, fmt_local
from cityops.events import sla
from cityops.events.sla_models import STEP_LABELS, STEPS

router = APIRouter(prefix="/api/v1", tags=["events"])
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager")
Reader = Annotated[Principal, Depends(require(*READERS))]
Writer = Annotated[Principal, Depends(require(*WRITERS))]
MAX_CALENDAR_DAYS = 400


class PolicyIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    category_prefix: str = Field("", max_length=32, description='category code prefix ("01", "0101"); "" = any')
    severity: str = Field("", description='info | warning | major | critical; "" = any')
    calendar_mode: str = Field("workdays", description="24x7 | workdays")
    accept_min: int = Field(description="reported → accepted, minutes of working time")
    dispatch_min: int = Field(description="accepted → dispatched")
    dispose_min: int = Field(description="dispatched → disposed")
    verify_min: int = Field(description="disposed → verified")
    close_min: int = Field(description="verified → closed")
    warn_at_pct: int = 80
    priority: int = 0
    enabled: bool = True
    note: str = ""


class PolicyPatch(BaseModel):
    name: str | None = Field(None, max_length=128)
    category_prefix: str | None = Field(None, max_length=32)
    severity: str | None = None
    calendar_mode: str | None = None
    accept_min: int | None = None
    dispatch_min: int | None = None
    dispose_min: int | None = None
    verify_min: int | None = None
    close_min: int | None = None
    warn_at_pct: int | None = None
    priority: int | None = None
    enabled: bool | None = None
    note: str | None = None


class PolicyOut(Out):
    id: int
    name: str
    category_prefix: str
    severity: str
    calendar_mode: str
    accept_min: int
    dispatch_min: int
    dispose_min: int
    verify_min: int
    close_min: int
    warn_at_pct: int
    priority: int
    enabled: bool
    note: str
    created_by: str
    created_at: LocalTime
    updated_at: LocalTime


class DayIn(BaseModel):
    day: date
    kind: str = Field(description="holiday (off) | workday (worked)")
    name: str = Field("", max_length=64)


class DayOut(Out):
    id: int
    day: date
    kind: str
    name: str
    created_by: str
    created_at: LocalTime


class CalendarDayOut(BaseModel):
    day: date
    weekday: int = Field(description="0 = Monday")
    working: bool
    kind: str = Field(description="weekday | weekend | holiday | makeup | allday")
    name: str
    source: str = Field(description="data (State Council file) | override (this office) | default")
    reason: str


class DeadlineOut(BaseModel):
    policy: PolicyOut
    step: str
    step_label: str
    transition: list[str]
    limit_minutes: int
    calendar_mode: str
    working_hours: str
    started_at: LocalTime
    clock_starts: LocalTime
    deadline: LocalTime
    explanation: list[str]


@router.get("/sla-policies", response_model=list[PolicyOut])
def policies(session: DbSession, _: Reader):
    return sla.list_policies(session)


@router.post("/sla-policies", response_model=PolicyOut, status_code=201)
def create_policy(body: PolicyIn, session: DbSession, p: Writer):
    return sla.create_policy(session, created_by=p.username, **body.model_dump())


@router.get("/sla-policies/{policy_id:int}", response_model=PolicyOut)
def policy(policy_id: int, session: DbSession, _: Reader):
    return sla.get_policy(session, policy_id)


@router.patch("/sla-policies/{policy_id:int}", response_model=PolicyOut)
def update_policy(policy_id: int, body: PolicyPatch, session: DbSession, _: Writer):
    return sla.update_policy(session, policy_id, **body.model_dump(exclude_unset=True))


@router.delete("/sla-policies/{policy_id:int}", status_code=204)
def delete_policy(policy_id: int, session: DbSession, _: Writer):
    sla.delete_policy(session, policy_id)


@router.get("/calendar-days", response_model=list[DayOut])
def calendar_days(session: DbSession, _: Reader):
    """The office's overrides over the shipped State Council arrangement."""
    return sla.list_days(session)


@router.post("/calendar-days", response_model=DayOut, status_code=201)
def add_calendar_day(body: DayIn, session: DbSession, p: Writer):
    return sla.add_day(session, day=body.day, kind=body.kind, name=body.name, created_by=p.username)


@router.delete("/calendar-days/{day_id:int}", status_code=204)
def delete_calendar_day(day_id: int, session: DbSession, _: Writer):
    sla.delete_day(session, day_id)


@router.get("/calendar", response_model=list[CalendarDayOut])
def calendar(session: DbSession, _: Reader, from_: Annotated[date, Query(alias="from")],
             to: date, mode: str = "workdays"):
    """Each day from..to (inclusive, at most 400 days): worked or not, and why."""
    if to < from_:
        raise Invalid("to 不能早于 from")
    if (to - from_).days >= MAX_CALENDAR_DAYS:
        raise Invalid(f"一次最多查询 {MAX_CALENDAR_DAYS} 天")
    cal = sla.calendar_for(session, mode)
    return [CalendarDayOut(day=d.day, weekday=d.day.weekday(), working=d.working, kind=d.kind, name=d.name,
                           source=d.source, reason=d.reason) for d in cal.days(from_, to)]


def _minutes(td: timedelta) -> str:
    m = int(td.total_seconds() // 60)
    return f"{m // 60} 小时 {m % 60} 分钟" if m >= 60 else f"{m} 分钟"


@router.get("/sla/deadline", response_model=DeadlineOut)
def sla_deadline(session: DbSession, _: Reader, category: str, step: str, started_at: datetime,
                 severity: str = ""):
    """The deadline of one step and how it was reached: the matching policy, the calendar and
    the working time counted (started_at needs its UTC offset, e.g. 2026-09-30T16:00:00+08:00)."""
    if started_at.tzinfo is None:
        raise Invalid("started_at 需要带 UTC 时区偏移，如 2026-09-30T16:00:00+08:00")
    d = sla.deadline(session, category_code=category, severity=severity, step=step, started_at=started_at)
    p = d.policy
    scope = f"分类 {p.category_prefix} 及其下级" if p.category_prefix else "全部分类"
    severity_label = sla.SEVERITY_LABELS.get(p.severity, p.severity)
    lines = [f"适用策略 #{p.id}「{p.name}」：{scope}，等级 {severity_label}，优先级 {p.priority}",
             (f"{STEP_LABELS[step]}时限 {p.limit(step)} 分钟（{_minutes(d.limit)}），"
             f"日历 {'7×24 全天' if p.calendar_mode == '24x7' else '工作日'}：{d.calendar.hours_label()}")]
    if d.clock_starts != d.started_at:
        lines.append(f"开始于非工作时间 {fmt_local(d.started_at, '%Y-%m-%d %H:%M')}，"
                     f"从 {fmt_local(d.clock_starts, '%Y-%m-%d %H:%M')} 起计时")
    if p.calendar_mode == "workdays":
        first, last = d.started_at.astimezone(SHANGHAI).date(), d.deadline.astimezone(SHANGHAI).date()
        skipped = [i for i in d.calendar.days(first, last) if not i.working]
        if skipped:
            lines.append("跳过非工作日：" + "、".join(f"{i.day.strftime('%m-%d')} {i.reason}" for i in skipped))
        worked = [i for i in d.calendar.days(first, last) if i.kind == "makeup"]
        if worked:
            lines.append("调休上班计入：" + "、".join(f"{i.day.strftime('%m-%d')} {i.name}" for i in worked))
    lines.append(f"截止时间 {fmt_local(d.deadline, '%Y-%m-%d %H:%M')}（北京时间）")
    return DeadlineOut(policy=PolicyOut.model_validate(p), step=step, step_label=STEP_LABELS[step],
                       transition=list(STEPS[step]), limit_minutes=p.limit(step), calendar_mode=p.calendar_mode,
                       working_hours=d.calendar.hours_label(), started_at=d.started_at, clock_starts=d.clock_starts,
                       deadline=d.deadline, explanation=lines)
