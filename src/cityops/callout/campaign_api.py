"""Campaigns, their tasks and the call records over HTTP (CALL-1, CALL-2).

Writers are the roles that run calls (admin, manager, duty); district staff read. Numbers are
masked (139****5678) for roles without access to personal data. A record's business ref
("event:12") also comes as a link to the thing the call was about."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from cityops.auth.deps import DbSession
from cityops.callout import campaigns, labels
from cityops.callout.api import Reader, Writer, show
from cityops.callout.campaign_models import CallRecord, CallStep, CallTask, Campaign
from cityops.callout.scenarios import LABELS
from cityops.core.errors import Conflict
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.timeutil import SHANGHAI

router = APIRouter(prefix="/api/v1/callout", tags=["callout"])
Paging = Annotated[PageParams, Depends(page_params)]


class ProgressOut(BaseModel):
    tasks: int
    by_state: dict[str, int]
    results: dict[str, int]
    percent: float


class CampaignOut(BaseModel):
    id: int
    name: str
    scenario: str
    scenario_label: str
    list_id: int | None
    state: str
    trigger: str
    priority: str
    max_attempts: int
    concurrency: int
    caller_id: str
    line_group: str
    rolling: bool
    scheduled_at: datetime | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: ProgressOut


class CampaignDetail(CampaignOut):
    retry_policy: dict[str, float]
    script: dict[str, Any]


class CampaignIn(BaseModel):
    name: str = Field("", max_length=128)
    list_id: int | None = None
    scenario: str | None = None
    script: dict[str, Any] | None = None
    priority: str | None = None
    max_attempts: int | None = None
    retry_policy: dict[str, float] | None = None
    concurrency: int = 4
    caller_id: str | None = Field(None, max_length=32)
    line_group: str | None = Field(None, max_length=32)
    scheduled_at: datetime | None = None  # without an offset it is Beijing time


class TaskIn(BaseModel):
    number: str = Field(max_length=40)
    business_ref: str = Field("", max_length=64)
    contact_name: str = Field("", max_length=64)


class TaskOut(BaseModel):
    id: int
    number: str
    contact_name: str
    business_ref: str
    attempts: int
    state: str
    last_result: str
    next_attempt_at: datetime | None
    note: str


class LinkOut(BaseModel):
    kind: str
    id: str
    label: str
    api: str
    console: str


class RecordOut(BaseModel):
    id: int
    campaign_id: int | None
    task_id: int | None
    scenario: str
    scenario_label: str
    number: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    result: str
    result_label: str
    sip_code: int | None
    q850_cause: int | None
    duration_s: float
    dtmf: str
    satisfaction: str | None
    outcome: str
    business_ref: str
    link: LinkOut | None
    caller_id: str
    adapter: str


class StepOut(BaseModel):
    seq: int
    step: str
    prompt: str
    answer_dtmf: str
    answer_text: str
    matched: str | None
    retry: int
    at: datetime


class RecordDetail(RecordOut):
    steps: list[StepOut]


def campaign_out(c: Campaign, progress: dict[str, Any]) -> CampaignOut:
    return CampaignOut(id=c.id, name=c.name, scenario=c.scenario, scenario_label=LABELS.get(c.scenario, c.scenario),
                       list_id=c.list_id, state=c.state, trigger=c.trigger, priority=c.priority,
                       max_attempts=c.max_attempts, concurrency=c.concurrency, caller_id=c.caller_id,
                       line_group=c.line_group, rolling=c.rolling, scheduled_at=c.scheduled_at,
                       created_by=c.created_by, created_at=c.created_at, started_at=c.started_at,
                       finished_at=c.finished_at, progress=ProgressOut(**progress))


def campaign_detail(session, c: Campaign) -> CampaignDetail:
    out = campaign_out(c, campaigns.progress(session, c.id))
    return CampaignDetail(**out.model_dump(), retry_policy=c.retry_policy or {}, script=c.script or {})


def task_out(t: CallTask, p) -> TaskOut:
    return TaskOut(id=t.id, number=show(t.number_e164, p), contact_name=t.contact_name, business_ref=t.business_ref,
                   attempts=t.attempts, state=t.state, last_result=t.last_result,
                   next_attempt_at=t.next_attempt_at, note=t.note)


def record_out(r: CallRecord, p) -> RecordOut:
    link = labels.business_link(r.business_ref)
    return RecordOut(id=r.id, campaign_id=r.campaign_id, task_id=r.task_id, scenario=r.scenario,
                     scenario_label=LABELS.get(r.scenario, r.scenario), number=show(r.number_e164, p),
                     started_at=r.started_at, answered_at=r.answered_at, ended_at=r.ended_at, result=r.result,
                     result_label=labels.result(r.result), sip_code=r.sip_code, q850_cause=r.q850_cause,
                     duration_s=r.duration_s, dtmf=r.dtmf, satisfaction=r.satisfaction, outcome=r.outcome,
                     business_ref=r.business_ref, link=LinkOut(**link) if link else None, caller_id=r.caller_id,
                     adapter=r.adapter)


def step_out(s: CallStep) -> StepOut:
    return StepOut(seq=s.seq, step=s.step, prompt=s.prompt, answer_dtmf=s.answer_dtmf, answer_text=s.answer_text,
                   matched=s.matched, retry=s.retry, at=s.at)


def beijing(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=SHANGHAI) if at is not None and at.tzinfo is None else at


@router.get("/campaigns", response_model=Page[CampaignOut])
def get_campaigns(session: DbSession, p: Reader, page: Paging, scenario: str | None = None,
                  state: str | None = None, trigger: str | None = None):
    rows, total = campaigns.list_campaigns(session, scenario=scenario, state=state, trigger=trigger,
                                           limit=page.limit, offset=page.offset)
    prog = campaigns.progress_many(session, rows)
    return Page(items=[campaign_out(c, prog[c.id]) for c in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/campaigns", response_model=CampaignDetail, status_code=201)
def post_campaign(body: CampaignIn, session: DbSession, p: Writer):
    """From a call list (`list_id`) or, with only `scenario`, an empty campaign to add numbers to.
    With `scheduled_at` it starts itself then (job `callout.schedule`)."""
    at = beijing(body.scheduled_at)
    c = campaigns.create_campaign(session, name=body.name, list_id=body.list_id, scenario=body.scenario,
                                  script=body.script, priority=body.priority, max_attempts=body.max_attempts,
                                  retry_policy=body.retry_policy, concurrency=body.concurrency,
                                  caller_id=body.caller_id, line_group=body.line_group,
                                  trigger="schedule" if at else "manual", scheduled_at=at, created_by=p.username)
    campaigns.audit_action(session, "create", c, scenario=c.scenario, list_id=c.list_id)
    return campaign_detail(session, c)


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetail)
def get_campaign(campaign_id: int, session: DbSession, p: Reader):
    return campaign_detail(session, campaigns.get_campaign(session, campaign_id))


@router.post("/campaigns/{campaign_id}/start", response_model=CampaignDetail)
def start_campaign(campaign_id: int, session: DbSession, p: Writer):
    c = campaigns.start(session, campaign_id)
    campaigns.audit_action(session, "start", c)
    return campaign_detail(session, c)


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignDetail)
def pause_campaign(campaign_id: int, session: DbSession, p: Writer):
    c = campaigns.pause(session, campaign_id)
    campaigns.audit_action(session, "pause", c)
    return campaign_detail(session, c)


@router.post("/campaigns/{campaign_id}/stop", response_model=CampaignDetail)
def stop_campaign(campaign_id: int, session: DbSession, p: Writer):
    c = campaigns.stop(session, campaign_id)
    campaigns.audit_action(session, "stop", c)
    return campaign_detail(session, c)


@router.post("/campaigns/{campaign_id}/tasks", response_model=TaskOut, status_code=201)
def post_task(campaign_id: int, body: TaskIn, session: DbSession, p: Writer):
    """One more number; the compliance gate still checks it before the dial."""
    t = campaigns.add_task(session, campaign_id, number=body.number, business_ref=body.business_ref.strip(),
                           contact_name=body.contact_name.strip())
    if t is None:
        raise Conflict("该号码（同一业务编号）已在此外呼任务中")
    c = campaigns.get_campaign(session, campaign_id)
    campaigns.audit_action(session, "add_task", c, task_id=t.id, number_e164=t.number_e164,
                           business_ref=t.business_ref)
    return task_out(t, p)


@router.get("/campaigns/{campaign_id}/tasks", response_model=Page[TaskOut])
def get_tasks(campaign_id: int, session: DbSession, p: Reader, page: Paging, state: str | None = None):
    rows, total = campaigns.campaign_tasks(session, campaign_id, state=state, limit=page.limit, offset=page.offset)
    return Page(items=[task_out(t, p) for t in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/records", response_model=Page[RecordOut])
def get_records(session: DbSession, p: Reader, page: Paging, scenario: str | None = None,
                campaign_id: int | None = None, result: str | None = None, number: str | None = None,
                date_from: date | None = None, date_to: date | None = None, business_ref: str | None = None):
    """Call records newest first; `date_from`/`date_to` are Beijing days, both included; `number`
    is a full number or its last 4+ digits."""
    rows, total = campaigns.list_records(session, scenario=scenario, campaign_id=campaign_id, result=result,
                                         number=number, date_from=date_from, date_to=date_to,
                                         business_ref=business_ref, limit=page.limit, offset=page.offset)
    return Page(items=[record_out(r, p) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/records/{record_id}", response_model=RecordDetail)
def get_record(record_id: int, session: DbSession, p: Reader):
    """One call with its dialogue transcript (CALL-2 interaction data)."""
    rec, steps = campaigns.get_record(session, record_id)
    return RecordDetail(**record_out(rec, p).model_dump(), steps=[step_out(s) for s in steps])
