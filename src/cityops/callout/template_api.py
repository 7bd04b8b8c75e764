"""Scenario templates, the script editor's checks and the emergency broadcast over HTTP (CALL-1).

Writers are the roles that run calls (admin, manager, duty); technicians and auditors read.
`PUT /scenarios/{code}` changes only the fields sent; a field sent as null goes back to the
code default. `DELETE` resets the whole template."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cityops.auth.deps import DbSession
from cityops.callout import templates, triggers
from cityops.callout.api import Reader, Writer, show
from cityops.callout.scenarios import SCENARIOS
from cityops.callout.script import Script, run_script
from cityops.core.errors import Invalid, NotFound
from cityops.core.timeutil import utcnow

router = APIRouter(prefix="/api/v1/callout", tags=["callout"])


class TemplateOut(BaseModel):
    scenario: str
    label: str
    customised: bool
    public_safety: bool
    script: dict[str, Any] | None
    windows: list[list[str]]
    retry_policy: dict[str, float]
    max_attempts: int
    priority: str
    caller_id: str
    line_group: str
    triggers: dict[str, Any]
    updated_by: str
    updated_at: datetime | None


class TemplateIn(BaseModel):
    script: dict[str, Any] | None = None
    windows: list[list[str]] | None = None
    retry_policy: dict[str, float] | None = None
    max_attempts: int | None = None
    priority: str | None = None
    caller_id: str | None = None
    line_group: str | None = None
    triggers: dict[str, Any] | None = None


class ScriptIn(BaseModel):
    script: dict[str, Any]
    scenario: str | None = None  # also check the scenario's placeholder rules


class ValidateOut(BaseModel):
    ok: bool
    errors: list[str]


class SimulateIn(BaseModel):
    script: dict[str, Any]
    answers: list[str | None] = Field(default_factory=list, description="key presses, text, or null for silence")


class BroadcastIn(BaseModel):
    message: str
    numbers: list[str] | None = None
    list_id: int | None = None
    team_code: str | None = None


class BroadcastOut(BaseModel):
    campaign_id: int
    state: str
    priority: str
    tasks: int
    invalid: list[dict[str, str]]


def template_out(t: templates.Template) -> TemplateOut:
    return TemplateOut(scenario=t.scenario, label=t.label, customised=t.customised, public_safety=t.public_safety,
                       script=t.script.to_dict() if t.script else None, windows=templates.windows_json(t.windows),
                       retry_policy=t.retry_policy, max_attempts=t.max_attempts, priority=t.priority,
                       caller_id=t.caller_id, line_group=t.line_group, triggers=t.triggers, updated_by=t.updated_by,
                       updated_at=t.updated_at)


def script_errors(data: dict[str, Any], scenario: str | None = None) -> list[str]:
    """Every problem of a script, as the editor lists them; [] when it is fine."""
    try:
        if scenario:
            templates.default(scenario)
            templates.check_script(scenario, data)
        else:
            Script.from_dict(data)
    except Invalid as exc:
        return list(exc.extra.get("errors") or [exc.detail])
    return []


@router.get("/scenarios", response_model=list[TemplateOut])
def list_scenarios(session: DbSession, p: Reader):
    return [template_out(t) for t in templates.list_templates(session)]


def known(code: str) -> str:
    if code not in SCENARIOS:
        raise NotFound("外呼场景", code)
    return code


@router.get("/scenarios/{code}", response_model=TemplateOut)
def get_scenario(code: str, session: DbSession, p: Reader):
    known(code)
    return template_out(templates.effective(session, code))


@router.put("/scenarios/{code}", response_model=TemplateOut)
def put_scenario(code: str, body: TemplateIn, session: DbSession, p: Writer):
    known(code)
    return template_out(templates.update(session, code, **body.model_dump(exclude_unset=True), actor=p.username))


@router.delete("/scenarios/{code}", response_model=TemplateOut)
def reset_scenario(code: str, session: DbSession, p: Writer):
    known(code)
    return template_out(templates.reset(session, code, actor=p.username))


@router.post("/scripts/validate", response_model=ValidateOut)
def validate_script(body: ScriptIn, session: DbSession, p: Reader):
    errors = script_errors(body.script, body.scenario)
    return ValidateOut(ok=not errors, errors=errors)


@router.post("/scripts/simulate")
def simulate_script(body: SimulateIn, session: DbSession, p: Reader):
    """Runs the script against the answers (CALL-1 script trial): the same `run_script` the
    simulator and the SIP path use."""
    t = run_script(Script.from_dict(body.script), body.answers)
    return {"outcome": t.outcome, "recorded": t.recorded, "dtmf": t.dtmf,
            "turns": [{"step": x.step, "prompt": x.prompt, "answer_dtmf": x.answer_dtmf,
                       "answer_text": x.answer_text, "matched": x.matched, "retry": x.retry} for x in t.turns]}


@router.post("/broadcasts", response_model=BroadcastOut, status_code=201)
def post_broadcast(body: BroadcastIn, session: DbSession, p: Writer):
    """Emergency broadcast: created and started at once (priority highest, no calling window)."""
    now = utcnow()
    who = triggers.audience(session, numbers_text="\n".join(body.numbers or []), list_id=body.list_id,
                            team_code=body.team_code or "", now=now)
    c = triggers.broadcast(session, message=body.message, numbers=body.numbers, list_id=body.list_id,
                           team_code=body.team_code or "", actor=p.username, now=now)
    return BroadcastOut(campaign_id=c.id, state=c.state, priority=c.priority, tasks=who["total"],
                        invalid=[{"number": show(i["number"], p), "reason": i["reason"]} for i in who["invalid"]])
