"""Event intake and verification API (IOT-6, IOT-7, SYS-DISPATCH): alarm → event policies,
AI-vision detection types, the alarm → event links, the AI-vision intake itself, and the
verification of disposed events (automatic check, citizen callback)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from cityops.auth.deps import ALL_ROLES, STAFF, DbSession, Principal, require
from cityops.core.errors import Invalid
from cityops.core.schemas import LocalTime, Out
from cityops.events import intake, service, verify

router = APIRouter(prefix="/api/v1", tags=["events"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
StaffReader = Annotated[Principal, Depends(require(*STAFF))]
Writer = Annotated[Principal, Depends(require("admin", "manager"))]
Ops = Annotated[Principal, Depends(require("admin", "manager", "duty"))]


class PolicyIn(BaseModel):
    name: str = Field(..., max_length=64)
    priority: int = 0
    alarm_type: str = Field("", max_length=48, description='exact alarm type, or a prefix ending in "*"; "" = any')
    min_severity: str = "info"
    device_type: str = Field("", max_length=32)
    tag_id: int | None = None
    street_code: str = Field("", max_length=16)
    source: str = Field("", description='rule | vendor | liveness | manual; "" = any')
    action: str = Field("event", description="event | ignore")
    category_code: str = Field("", max_length=16, description="a leaf category (细类) code")
    severity: str = Field("", description='"" = the alarm\'s severity')
    auto_accept: bool = False
    auto_dispatch: bool = Field(False, description="dispatch at once (implies auto_accept)")
    min_active_s: int = Field(0, description="only alarms still open after this many seconds")
    verify_hold_min: int = Field(10, description="minutes an alarm must stay clear before verification passes")
    enabled: bool = True
    note: str = ""


class PolicyPatch(BaseModel):
    name: str | None = Field(None, max_length=64)
    priority: int | None = None
    alarm_type: str | None = Field(None, max_length=48)
    min_severity: str | None = None
    device_type: str | None = Field(None, max_length=32)
    tag_id: int | None = None
    street_code: str | None = Field(None, max_length=16)
    source: str | None = None
    action: str | None = None
    category_code: str | None = Field(None, max_length=16)
    severity: str | None = None
    auto_accept: bool | None = None
    auto_dispatch: bool | None = None
    min_active_s: int | None = None
    verify_hold_min: int | None = None
    enabled: bool | None = None
    note: str | None = None


class PolicyOut(Out):
    id: int
    name: str
    priority: int
    alarm_type: str
    min_severity: str
    device_type: str
    tag_id: int | None
    street_code: str
    source: str
    action: str
    category_code: str
    severity: str
    auto_accept: bool
    auto_dispatch: bool
    min_active_s: int
    verify_hold_min: int
    enabled: bool
    note: str
    created_by: str
    created_at: LocalTime
    updated_at: LocalTime


class MappingIn(BaseModel):
    detection_type: str = Field(..., max_length=32)
    category_code: str = Field(..., max_length=16)
    min_confidence: float = Field(0.6, ge=0, le=1)
    severity: str = ""
    auto_accept: bool = False
    enabled: bool = True
    note: str = ""


class MappingPatch(BaseModel):
    detection_type: str | None = Field(None, max_length=32)
    category_code: str | None = Field(None, max_length=16)
    min_confidence: float | None = Field(None, ge=0, le=1)
    severity: str | None = None
    auto_accept: bool | None = None
    enabled: bool | None = None
    note: str | None = None


class MappingOut(Out):
    id: int
    detection_type: str
    category_code: str
    min_confidence: float
    severity: str
    auto_accept: bool
    enabled: bool
    note: str


class LinkOut(Out):
    id: int
    alarm_id: int
    event_id: int | None
    report_id: int | None
    policy_id: int | None
    outcome: str
    note: str
    at: LocalTime


class VisionIn(BaseModel):
    detection_id: str = Field(..., min_length=1, max_length=64, description="the client's id; a repeat returns "
                                                                            "the same event")
    camera: int | str = Field(..., description="the camera's device id or device code")
    detection_type: str = Field(..., max_length=32, description="e.g. 占道经营, 暴露垃圾, 机动车违停")
    confidence: float
    detected_at: datetime = Field(..., description="with its UTC offset")
    bbox: list[float] = Field(default_factory=list, description="[x, y, width, height] in the snapshot")
    snapshot: str | None = Field(None, description="the picture, base64 (JPEG/PNG/WebP/GIF)")


class VisionOut(BaseModel):
    event_id: int
    number: str
    state: str
    merged_into_id: int | None
    created: bool
    detection_id: str
    category_code: str


class VerificationOut(Out):
    id: int
    event_id: int
    at: LocalTime
    kind: str
    passed: bool | None
    checks: dict[str, Any]
    reason: str
    actor: str


class CallbackIn(BaseModel):
    satisfied: bool
    note: str = Field("", max_length=2000)


def _changes(body: BaseModel, nullable: tuple[str, ...] = ()) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    empty = [k for k, v in fields.items() if v is None and k not in nullable]
    if empty:
        raise Invalid(f"{'、'.join(empty)} 不能为空")
    if not fields:
        raise Invalid("没有要修改的内容")
    return fields


# -- policies --

@router.get("/event-intake-policies", response_model=list[PolicyOut])
def list_policies(session: DbSession, p: StaffReader):
    """In the order they are tried: priority (higher first), then the older."""
    return [PolicyOut.model_validate(x) for x in intake.list_policies(session)]


@router.get("/event-intake-policies/{policy_id}", response_model=PolicyOut)
def get_policy(policy_id: int, session: DbSession, p: StaffReader):
    return PolicyOut.model_validate(intake.get_policy(session, policy_id))


@router.post("/event-intake-policies", response_model=PolicyOut, status_code=201)
def create_policy(body: PolicyIn, session: DbSession, p: Writer):
    return PolicyOut.model_validate(intake.create_policy(session, created_by=p.username, **body.model_dump()))


@router.patch("/event-intake-policies/{policy_id}", response_model=PolicyOut)
def update_policy(policy_id: int, body: PolicyPatch, session: DbSession, p: Writer):
    return PolicyOut.model_validate(intake.update_policy(session, policy_id, **_changes(body, ("tag_id",))))


@router.delete("/event-intake-policies/{policy_id}", status_code=204)
def delete_policy(policy_id: int, session: DbSession, p: Writer):
    intake.delete_policy(session, policy_id)
    return Response(status_code=204)


# -- vision mappings --

@router.get("/vision-mappings", response_model=list[MappingOut])
def list_mappings(session: DbSession, p: StaffReader):
    return [MappingOut.model_validate(x) for x in intake.list_mappings(session)]


@router.post("/vision-mappings", response_model=MappingOut, status_code=201)
def create_mapping(body: MappingIn, session: DbSession, p: Writer):
    return MappingOut.model_validate(intake.create_mapping(session, **body.model_dump()))


@router.patch("/vision-mappings/{mapping_id}", response_model=MappingOut)
def update_mapping(mapping_id: int, body: MappingPatch, session: DbSession, p: Writer):
    return MappingOut.model_validate(intake.update_mapping(session, mapping_id, **_changes(body)))


@router.delete("/vision-mappings/{mapping_id}", status_code=204)
def delete_mapping(mapping_id: int, session: DbSession, p: Writer):
    intake.delete_mapping(session, mapping_id)
    return Response(status_code=204)


@router.get("/event-alarm-links", response_model=list[LinkOut])
def list_links(session: DbSession, p: StaffReader, limit: int = 100, event_id: int | None = None):
    """Intake's recent decisions, newest first."""
    return [LinkOut.model_validate(x) for x in intake.links(session, limit=max(1, min(limit, 500)),
                                                              event_id=event_id)]


# -- AI vision --

@router.post("/events/vision", response_model=VisionOut, status_code=201,
             responses={200: {"model": VisionOut, "description": "a known detection_id: its event, unchanged"}})
def vision_intake(body: VisionIn, request: Request, response: Response, session: DbSession, p: Ops):
    """An AI-vision detection → a city event (merged into an open one of the same category nearby).
    Below the detection type's minimum confidence: 422, nothing stored."""
    r = intake.take_vision(session, detection_id=body.detection_id, camera=body.camera,
                           detection_type=body.detection_type, confidence=body.confidence,
                           detected_at=body.detected_at, bbox=body.bbox, snapshot=body.snapshot,
                           var_dir=request.app.state.ctx.settings.var_dir, actor=p.username)
    if not r.created:
        response.status_code = 200
    cat = service.get_category(session, r.event.category_id)
    return VisionOut(event_id=r.event.id, number=r.event.number, state=r.event.state,
                     merged_into_id=r.event.merged_into_id, created=r.created, detection_id=r.detection.detection_id,
                     category_code=cat.code)


# -- verification --

@router.get("/events/{event_id}/verifications", response_model=list[VerificationOut])
def list_verifications(event_id: int, session: DbSession, p: Reader):
    """Every verification of the event, newest first."""
    return [VerificationOut.model_validate(v) for v in verify.verifications(session, event_id, scope=p.street_scope)]


@router.post("/events/{event_id}/verify-now", response_model=VerificationOut)
def verify_now(event_id: int, session: DbSession, p: Ops):
    """Run the automatic check on a disposed alarm event now (recorded as kind "manual")."""
    return VerificationOut.model_validate(verify.verify_event(session, event_id, kind="manual", actor=p.username,
                                                              scope=p.street_scope))


@router.post("/events/{event_id}/callback-result", response_model=VerificationOut)
def callback_result(event_id: int, body: CallbackIn, session: DbSession, p: Ops):
    """The citizen callback (回访) outcome: satisfied → verified and closed; not → returned."""
    return VerificationOut.model_validate(verify.record_callback_result(
        session, event_id, satisfied=body.satisfied, note=body.note, actor=p.username, scope=p.street_scope))
