"""Routing rules, smart assignment of an event and its decision history, and a dry-run
preview (SYS-DISPATCH). Street users route and read events of their own street only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from cityops.auth.deps import ALL_ROLES, DbSession, Principal, require
from cityops.core.errors import Invalid
from cityops.core.schemas import LocalTime, Out
from cityops.events import routing
from cityops.events.routing_models import RoutingRule
from cityops.geo.models import ResponsibleUnit

router = APIRouter(prefix="/api/v1", tags=["events"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Writer = Annotated[Principal, Depends(require("admin", "manager"))]
Router_ = Annotated[Principal, Depends(require("admin", "manager", "duty", "street"))]


class RuleIn(BaseModel):
    category_prefix: str = Field("", max_length=16, description='category code prefix ("03", "0301"); "" = any')
    area_kind: str = Field("any", description="any | street | grid")
    area_code: str = Field("", max_length=24, description='street or grid code; "" for any')
    unit_id: int
    priority: int = 0
    enabled: bool = True
    note: str = ""


class RulePatch(BaseModel):
    category_prefix: str | None = Field(None, max_length=16)
    area_kind: str | None = None
    area_code: str | None = Field(None, max_length=24)
    unit_id: int | None = None
    priority: int | None = None
    enabled: bool | None = None
    note: str | None = None


class UnitRef(Out):
    id: int
    code: str
    name: str


class RuleOut(Out):
    id: int
    category_prefix: str
    area_kind: str
    area_code: str
    unit_id: int
    unit: UnitRef | None = None
    scope: str
    priority: int
    enabled: bool
    note: str
    created_by: str
    created_at: LocalTime
    updated_at: LocalTime


class DecisionOut(BaseModel):
    unit: UnitRef | None
    rule: RuleOut | None
    basis: str = Field(description="rule | fallback")
    candidates: list[int] = Field(description="ids of the matching rules, best first")
    explanation: list[str]


class HistoryOut(Out):
    id: int
    event_id: int
    unit_id: int | None
    rule_id: int | None
    basis: str
    explanation: str
    at: LocalTime
    actor: str


def rule_out(session, r: RoutingRule) -> RuleOut:
    unit = session.get(ResponsibleUnit, r.unit_id)
    return RuleOut.model_validate({**{c: getattr(r, c) for c in RuleOut.model_fields if hasattr(r, c)},
                                   "unit": UnitRef.model_validate(unit) if unit else None,
                                   "scope": routing.scope_label(r)})


def decision_out(session, d: routing.Decision) -> DecisionOut:
    return DecisionOut(unit=UnitRef.model_validate(d.unit) if d.unit else None,
                       rule=rule_out(session, d.rule) if d.rule else None, basis=d.basis,
                       candidates=[r.id for r in d.candidates], explanation=d.lines)


@router.get("/routing-rules", response_model=list[RuleOut])
def rules(session: DbSession, _: Reader):
    """All rules, enabled first, in the order they are tried."""
    return [rule_out(session, r) for r in routing.list_rules(session)]


@router.post("/routing-rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, session: DbSession, p: Writer):
    return rule_out(session, routing.create_rule(session, created_by=p.username, **body.model_dump()))


@router.get("/routing-rules/{rule_id:int}", response_model=RuleOut)
def rule(rule_id: int, session: DbSession, _: Reader):
    return rule_out(session, routing.get_rule(session, rule_id))


@router.patch("/routing-rules/{rule_id:int}", response_model=RuleOut)
def update_rule(rule_id: int, body: RulePatch, session: DbSession, _: Writer):
    return rule_out(session, routing.update_rule(session, rule_id, **body.model_dump(exclude_unset=True)))


@router.delete("/routing-rules/{rule_id:int}", status_code=204)
def delete_rule(rule_id: int, session: DbSession, _: Writer):
    routing.delete_rule(session, rule_id)


@router.post("/events/{event_id:int}/route", response_model=DecisionOut)
def route_event(event_id: int, session: DbSession, p: Router_):
    """Choose the responsible unit by the rules, set it on the event and record why."""
    d = routing.assign(session, event_id, actor=p.username, scope=p.street_scope)
    return decision_out(session, d)


@router.get("/events/{event_id:int}/routing", response_model=list[HistoryOut])
def event_routing(event_id: int, session: DbSession, p: Reader):
    """The event's routing decisions, newest first."""
    return routing.decisions(session, event_id, scope=p.street_scope)


@router.get("/routing/preview", response_model=DecisionOut)
def preview(session: DbSession, _: Reader, category: str, street: str | None = None, grid: str | None = None):
    """What the rules would choose for a category at a street/grid, without saving anything."""
    if not category.strip():
        raise Invalid("请填写 category（分类代码，如 030101）")
    return decision_out(session, routing.decide(session, category_code=category.strip(),
                                                street_code=street or None, grid_code=grid or None))
