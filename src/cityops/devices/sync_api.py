"""Upstream device sync API (IOT-4 设备升级维护): sync sources, pulls, change-set review.

Reading is for district staff; configuring a source, pulling now and deciding on change
sets (apply, reject, roll back) is for reference-data writers. A source's API token is
write-only: it is shown as "******", and sending "******" back keeps it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.auth.deps import REF_WRITERS, STAFF, DbSession, Principal, require
from cityops.core.errors import Problem
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime, Out
from cityops.core.timeutil import aware
from cityops.devices import sync
from cityops.devices.models import Device
from cityops.devices.sync_models import ChangeSet, SyncSource
from cityops.ingest.models import Connection

router = APIRouter(prefix="/api/v1/sync", tags=["device sync"])
Staff = Annotated[Principal, Depends(require(*STAFF))]
Writer = Annotated[Principal, Depends(require(*REF_WRITERS))]


class SourceIn(BaseModel):
    """A connection's sync source. `settings` are the adapter's (http_json: base_url, token,
    devices_path, products_path, page_param, size_param, page_size, items_field,
    total_field, code_field, mapping, product_mapping, extra_fields, ignore_fields,
    coord_system, timeout_s, retries, backoff_s …) and the sync's own (vendor, status_map,
    product_types, keep_extra_keys, retire_missing)."""

    adapter: str = "http_json"
    enabled: bool = True
    interval_s: int = Field(3600, ge=sync.MIN_INTERVAL_S, le=sync.MAX_INTERVAL_S)
    auto_apply: bool = False
    settings: dict[str, Any]


class SourceOut(BaseModel):
    connection_id: int
    connection_name: str
    kind: str
    adapter: str
    enabled: bool
    interval_s: int
    auto_apply: bool
    settings: dict[str, Any]
    last_run_at: LocalTime | None
    next_run_at: LocalTime | None
    last_outcome: str
    last_error: str
    failures: int
    updated_at: LocalTime
    updated_by: str

    @classmethod
    def of(cls, source: SyncSource, conn: Connection) -> SourceOut:
        last = aware(source.last_run_at)
        nxt = last + timedelta(seconds=source.interval_s) if last else None
        return cls(connection_id=source.connection_id, connection_name=conn.name, kind=conn.kind,
                   adapter=source.adapter, enabled=source.enabled, interval_s=source.interval_s,
                   auto_apply=source.auto_apply, settings=sync.public_settings(source), last_run_at=last,
                   next_run_at=nxt if source.enabled else None, last_outcome=source.last_outcome,
                   last_error=source.last_error, failures=source.failures, updated_at=source.updated_at,
                   updated_by=source.updated_by)


class ChangeSetOut(Out):
    id: int
    connection_id: int
    created_at: LocalTime
    created_by: str
    trigger: str
    state: str
    summary: dict[str, Any]
    error: str
    decided_by: str
    decided_at: LocalTime | None
    note: str
    rolled_back_by: str
    rolled_back_at: LocalTime | None


class ChangeItemOut(Out):
    id: int
    action: str
    device_id: int | None
    device_code: str | None = None
    product_id: int | None
    external_id: str
    product_key: str
    before: dict[str, Any]
    after: dict[str, Any]
    details: dict[str, Any]
    applied: bool
    applied_changes: dict[str, Any]
    error: str


class ChangeSetDetail(ChangeSetOut):
    items: list[ChangeItemOut]
    # Why auto_apply would not apply it: retire, reactivate, blocked, unconfigured_model, warnings.
    needs_review: list[str]


class Decision(BaseModel):
    note: str = Field("", max_length=512)


class RollbackRequest(Decision):
    force: bool = False  # overwrite what was changed again after the set was applied


class RunOut(BaseModel):
    outcome: str  # proposed | applied | unchanged | no_changes | declined_before | failed
    change_set: ChangeSetOut | None


def _source_out(session: Session, source: SyncSource) -> SourceOut:
    return SourceOut.of(source, session.get(Connection, source.connection_id))


def detail(session: Session, cs: ChangeSet) -> ChangeSetDetail:
    items = sync.change_items(session, cs.id)
    ids = {i.device_id for i in items if i.device_id}
    codes = dict(session.execute(select(Device.id, Device.code).where(Device.id.in_(ids))).all()) \
        if ids else {}
    out = []
    for i in items:
        row = ChangeItemOut.model_validate(i)
        row.device_code = codes.get(i.device_id)
        out.append(row)
    base = {name: getattr(cs, name) for name in ChangeSetOut.model_fields}
    return ChangeSetDetail(**base, items=out, needs_review=sync.needs_review(cs, items))


@router.get("/sources", response_model=list[SourceOut])
def sources(session: DbSession, _: Staff):
    return [_source_out(session, s) for s in sync.list_sources(session)]


@router.get("/sources/{connection_id}", response_model=SourceOut)
def source(connection_id: int, session: DbSession, _: Staff):
    return _source_out(session, sync.get_source(session, connection_id))


@router.put("/sources/{connection_id}", response_model=SourceOut)
def put_source(connection_id: int, body: SourceIn, session: DbSession, _: Writer):
    """Create or replace the connection's sync source (the token is kept when sent as "******" or left out)."""
    s = sync.configure_source(session, connection_id, settings=body.settings, enabled=body.enabled,
                              interval_s=body.interval_s, auto_apply=body.auto_apply, adapter=body.adapter)
    return _source_out(session, s)


@router.post("/sources/{connection_id}/run", response_model=RunOut)
def run_source(connection_id: int, session: DbSession, _: Writer):
    """Pull now. Answers the proposed (or auto-applied) change set, the one already waiting
    with the same changes, or none when nothing differs; 502 when the upstream could not be
    read (the failed change set is kept, nothing changed)."""
    cs = sync.plan_sync(session, connection_id, trigger="manual")
    source_row = sync.get_source(session, connection_id)
    if cs is not None and cs.state == "failed":
        session.commit()  # keep the failed set and the source's error for the console
        raise Problem(502, "Bad Gateway", f"无法读取上游设备清单：{cs.error}",
                      change_set_id=cs.id)
    return RunOut(outcome=source_row.last_outcome,
                  change_set=ChangeSetOut.model_validate(cs) if cs is not None else None)


@router.get("/change-sets", response_model=Page[ChangeSetOut])
def change_sets(session: DbSession, _: Staff, page: Annotated[PageParams, Depends(page_params)],
                connection_id: int | None = None,
                state: Annotated[str | None, Query(description="proposed, applied, rejected, rolled_back, "
                                                               "failed, superseded")] = None):
    rows, total = sync.list_change_sets(session, connection_id=connection_id, state=state or None,
                                        limit=page.limit, offset=page.offset)
    return Page(items=[ChangeSetOut.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/change-sets/{change_set_id}", response_model=ChangeSetDetail)
def change_set(change_set_id: int, session: DbSession, _: Staff):
    return detail(session, sync.get_change_set(session, change_set_id))


@router.post("/change-sets/{change_set_id}/apply", response_model=ChangeSetDetail)
def apply_change_set(change_set_id: int, session: DbSession, p: Writer, body: Decision | None = None):
    """Apply a proposed set; each item is applied or carries its error. 409 when it is not proposed."""
    cs = sync.apply(session, change_set_id, p.username, note=body.note if body else "")
    return detail(session, cs)


@router.post("/change-sets/{change_set_id}/reject", response_model=ChangeSetDetail)
def reject_change_set(change_set_id: int, session: DbSession, p: Writer, body: Decision | None = None):
    cs = sync.reject(session, change_set_id, p.username, note=body.note if body else "")
    return detail(session, cs)


@router.post("/change-sets/{change_set_id}/rollback", response_model=ChangeSetDetail)
def rollback_change_set(change_set_id: int, session: DbSession, p: Writer, body: RollbackRequest | None = None):
    """Restore what an applied set changed (created devices are retired). 409 when it is not
    applied, or when something it changed was changed again since (unless `force`)."""
    body = body or RollbackRequest()
    cs = sync.rollback(session, change_set_id, p.username, note=body.note, force=body.force)
    return detail(session, cs)
