"""Notification API (IOT-5 / OPS-3): channels, policies (escalation chains), the
notification log with retry, and a test send.

admin/manager configure; duty reads and retries; auditor reads; technician and street
users have no access."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from cityops.auth.deps import DbSession, Principal, require
from cityops.core.pagination import Page, PageParams, page_params
from cityops.notify import service
from cityops.notify.schemas import (
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    EscalationOut,
    NotificationOut,
    PolicyIn,
    PolicyOut,
    PolicyPatch,
    TestResult,
    TestSend,
)

router = APIRouter(prefix="/api/v1", tags=["notify"])
Editor = Annotated[Principal, Depends(require("admin", "manager"))]
Reader = Annotated[Principal, Depends(require("admin", "manager", "duty", "auditor"))]
Retrier = Annotated[Principal, Depends(require("admin", "manager", "duty"))]


@router.get("/notify/channels", response_model=list[ChannelOut])
def channels(session: DbSession, _: Reader):
    return [ChannelOut.of(c) for c in service.list_channels(session)]


@router.post("/notify/channels", response_model=ChannelOut, status_code=201)
def create_channel(body: ChannelIn, session: DbSession, _: Editor):
    return ChannelOut.of(service.create_channel(session, **body.model_dump()))


@router.get("/notify/channels/{channel_id}", response_model=ChannelOut)
def channel(channel_id: int, session: DbSession, _: Reader):
    return ChannelOut.of(service.get_channel(session, channel_id))


@router.patch("/notify/channels/{channel_id}", response_model=ChannelOut)
def update_channel(channel_id: int, body: ChannelPatch, session: DbSession, _: Editor):
    return ChannelOut.of(service.update_channel(session, channel_id, **body.model_dump(exclude_unset=True)))


@router.delete("/notify/channels/{channel_id}", status_code=204)
def delete_channel(channel_id: int, session: DbSession, _: Editor):
    service.delete_channel(session, channel_id)


@router.post("/notify/test", response_model=TestResult)
def test_send(body: TestSend, session: DbSession, p: Editor):
    """Send a test message through a configured channel now and report the provider's answer."""
    r = service.send_test(session, body.channel_id, contact_id=body.contact_id, by=p.display_name or p.username)
    return TestResult(ok=r.ok, retryable=r.retryable, error=r.error, status_code=r.status_code,
                      provider_message_id=r.provider_message_id)


@router.get("/notify/policies", response_model=list[PolicyOut])
def policies(session: DbSession, _: Reader):
    return [PolicyOut.model_validate(p) for p in service.list_policies(session)]


@router.post("/notify/policies", response_model=PolicyOut, status_code=201)
def create_policy(body: PolicyIn, session: DbSession, _: Editor):
    return PolicyOut.model_validate(service.create_policy(session, **body.fields()))


@router.get("/notify/policies/{policy_id}", response_model=PolicyOut)
def policy(policy_id: int, session: DbSession, _: Reader):
    return PolicyOut.model_validate(service.get_policy(session, policy_id))


@router.patch("/notify/policies/{policy_id}", response_model=PolicyOut)
def update_policy(policy_id: int, body: PolicyPatch, session: DbSession, _: Editor):
    return PolicyOut.model_validate(service.update_policy(session, policy_id, **body.fields(exclude_unset=True)))


@router.delete("/notify/policies/{policy_id}", status_code=204)
def delete_policy(policy_id: int, session: DbSession, _: Editor):
    service.delete_policy(session, policy_id)


@router.get("/notifications", response_model=Page[NotificationOut])
def notifications(session: DbSession, _: Reader, page: Annotated[PageParams, Depends(page_params)],
                  state: str | None = None, alarm_id: int | None = None, channel: str | None = None,
                  since: datetime | None = None):
    """The notification log: every message the engine wrote, newest first."""
    rows, total = service.list_log(session, state=state, alarm_id=alarm_id, channel_kind=channel, since=since,
                                   limit=page.limit, offset=page.offset)
    return Page(items=[NotificationOut.of(m) for m in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/notifications/{message_id}/retry", response_model=NotificationOut)
def retry(message_id: int, session: DbSession, _: Retrier):
    """Send a failed message again (a fresh set of attempts, due at once)."""
    return NotificationOut.of(service.retry(session, message_id))


@router.get("/notify/escalations", response_model=list[EscalationOut])
def escalations(session: DbSession, _: Reader, state: str | None = "active", alarm_id: int | None = None):
    """Where each alarm's escalation chain stands: step, round, next due time, held by quiet hours."""
    return [EscalationOut.model_validate(e) for e in service.list_escalations(session, state=state or None,
                                                                              alarm_id=alarm_id)]
