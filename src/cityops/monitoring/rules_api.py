"""Rule overrides API (IOT-5): per product / tag / device changes to the default rules, and
the effective rules of a device with the layer each one came from.

The monitoring runtime picks changes up at its next refresh (every 60 s)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from cityops.auth.deps import ALL_ROLES, DbSession, Principal, require
from cityops.core.errors import NotFound
from cityops.core.schemas import LocalTime, Out
from cityops.devices.service import get_device
from cityops.monitoring import rule_table
from cityops.monitoring.rule_table import EffectiveRule

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Writer = Annotated[Principal, Depends(require("admin", "manager", "technician"))]


class OverrideIn(BaseModel):
    scope_kind: str = Field(description="product | tag | device")
    scope_value: str = Field(min_length=1, max_length=64,
                             description="product code; tag id or category:name; device id")
    mode: str = Field("replace", description="replace | add | disable")
    rule: dict[str, Any] | None = Field(None, description="the rule as JSON (rules_schema.Rule); not for disable")
    rule_id: str = Field("", max_length=128, description="for disable: the rule id to switch off")
    enabled: bool = True
    note: str = ""


class OverridePatch(BaseModel):
    mode: str | None = None
    rule: dict[str, Any] | None = None
    enabled: bool | None = None
    note: str | None = None


class OverrideOut(Out):
    id: int
    scope_kind: str
    scope_value: str
    scope_label: str = ""
    rule_id: str
    mode: str
    rule: dict[str, Any]
    enabled: bool
    note: str
    created_by: str
    created_at: LocalTime
    updated_at: LocalTime


class EffectiveRuleOut(BaseModel):
    rule_id: str
    alarm_type: str
    severity: str
    layer: str
    scope: str
    override_id: int | None
    mode: str
    active: bool
    rule: dict[str, Any]

    @classmethod
    def of(cls, e: EffectiveRule) -> EffectiveRuleOut:
        r = e.rule
        return cls(rule_id=r.id, alarm_type=r.alarm_type, severity=r.severity, layer=e.layer, scope=e.scope,
                   override_id=e.override_id, mode=e.mode, active=e.active, rule=r.model_dump(mode="json"))


def _out(session, rows) -> list[OverrideOut]:
    labels = rule_table.scope_labels(session, rows)
    return [OverrideOut.model_validate(r).model_copy(update={"scope_label": labels.get(r.id, "")}) for r in rows]


@router.get("/rule-overrides", response_model=list[OverrideOut])
def overrides(session: DbSession, p: Reader, scope_kind: str | None = None, scope_value: str | None = None):
    """Rule overrides; a street user sees device overrides of its own street only."""
    return _out(session, rule_table.list_overrides(session, scope_kind=scope_kind, scope_value=scope_value,
                                                   street=p.street_scope))


@router.post("/rule-overrides", response_model=OverrideOut, status_code=201)
def create_override(body: OverrideIn, session: DbSession, p: Writer):
    """Replace, add or switch off a rule for a product, a tag or one device (422 explains a bad rule)."""
    ov = rule_table.create_override(session, created_by=p.username, **body.model_dump())
    return _out(session, [ov])[0]


@router.get("/rule-overrides/{override_id:int}", response_model=OverrideOut)
def override(override_id: int, session: DbSession, p: Reader):
    ov = rule_table.get_override(session, override_id)
    if p.street_scope and ov.scope_kind == "device" and not rule_table.list_overrides(
            session, scope_kind="device", scope_value=ov.scope_value, street=p.street_scope):
        raise NotFound(f"规则覆盖 {override_id} 不存在")
    return _out(session, [ov])[0]


@router.patch("/rule-overrides/{override_id:int}", response_model=OverrideOut)
def update_override(override_id: int, body: OverridePatch, session: DbSession, _: Writer):
    ov = rule_table.update_override(session, override_id, **body.model_dump(exclude_unset=True))
    return _out(session, [ov])[0]


@router.delete("/rule-overrides/{override_id:int}", status_code=204)
def delete_override(override_id: int, session: DbSession, _: Writer):
    rule_table.delete_override(session, override_id)


@router.get("/devices/{device_id:int}/rules", response_model=list[EffectiveRuleOut])
def device_rules(device_id: int, session: DbSession, p: Reader):
    """The device's effective rules, each with the layer it came from (default / product / tag /
    device); rules switched off by a disable override are listed with active=false."""
    get_device(session, device_id, scope=p.street_scope)
    return [EffectiveRuleOut.of(e) for e in rule_table.explain_device(session, device_id)]


@router.get("/products/{product_id:int}/rules", response_model=list[EffectiveRuleOut])
def product_rules(product_id: int, session: DbSession, _: Reader):
    """The product's default rules (before any override)."""
    return [EffectiveRuleOut.of(EffectiveRule(r, "default", active=r.enabled))
            for r in rule_table.default_rules(session, product_id)]

