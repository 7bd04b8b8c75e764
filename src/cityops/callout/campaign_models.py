"""Campaigns, call tasks, call records and dialogue steps (CALL-1, CALL-2).

A campaign calls the ok entries of one call list with one script. Each entry becomes a
`CallTask` the dialer works through; every dial writes a `CallRecord` (the CALL-2 call record,
with the raw SIP code and Q.850 cause next to the normalised result) and one `CallStep` per
prompt/answer — the interaction data. Records and steps are history, never edited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

CAMPAIGN_STATES = ("draft", "running", "paused", "done")
# How a campaign came about: by hand, on a schedule, or from a domain event (CALL-1 triggers).
TRIGGERS = ("manual", "schedule", "event_closed", "workorder_overdue", "alarm_unacked", "broadcast")
TASK_STATES = ("pending", "in_progress", "done", "skipped", "failed")


class Campaign(Base):
    __tablename__ = "callout_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    scenario: Mapped[str] = mapped_column(String(32), index=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("callout_lists.id", ondelete="SET NULL"), default=None)
    script: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    priority: Mapped[str] = mapped_column(String(12), default="normal")
    state: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    retry_policy: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # result -> minutes
    concurrency: Mapped[int] = mapped_column(Integer, default=4)
    caller_id: Mapped[str] = mapped_column(String(32), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    counters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # result -> dials
    trigger: Mapped[str] = mapped_column(String(24), default="manual")
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None)  # a draft starts itself then
    line_group: Mapped[str] = mapped_column(String(32), default="")
    # A rolling campaign (one per trigger and scenario) stays running and takes new tasks as
    # domain events arrive; it is not finished when its tasks run out.
    rolling: Mapped[bool] = mapped_column(default=False)


class CallTask(Base):
    __tablename__ = "callout_tasks"
    __table_args__ = (Index("ix_callout_tasks_due", "campaign_id", "state", "next_attempt_at"),
                      Index("ix_callout_tasks_business_ref", "business_ref"))  # the triggers look it up

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("callout_campaigns.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("callout_list_entries.id", ondelete="SET NULL"),
                                                 default=None)
    number_e164: Mapped[str] = mapped_column(String(20), index=True)
    business_ref: Mapped[str] = mapped_column(String(64), default="")
    contact_name: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_result: Mapped[str] = mapped_column(String(24), default="")
    note: Mapped[str] = mapped_column(Text, default="")  # gate reasons, callback outcome


class CallRecord(Base):
    __tablename__ = "callout_records"
    __table_args__ = (Index("ix_callout_records_scenario_started", "scenario", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("callout_tasks.id", ondelete="SET NULL"), default=None)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("callout_campaigns.id", ondelete="SET NULL"),
                                                    index=True, default=None)
    scenario: Mapped[str] = mapped_column(String(32))
    number_e164: Mapped[str] = mapped_column(String(20), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    result: Mapped[str] = mapped_column(String(24))
    sip_code: Mapped[int | None] = mapped_column(Integer, default=None)
    q850_cause: Mapped[int | None] = mapped_column(Integer, default=None)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    dtmf: Mapped[str] = mapped_column(String(64), default="")
    satisfaction: Mapped[str | None] = mapped_column(String(16), default=None)
    outcome: Mapped[str] = mapped_column(String(16), default="")  # script end: hangup, transfer, opt_out …
    business_ref: Mapped[str] = mapped_column(String(64), default="")
    caller_id: Mapped[str] = mapped_column(String(32), default="")
    adapter: Mapped[str] = mapped_column(String(16), default="")  # sim | sip: simulated calls stay visible


class CallStep(Base):
    __tablename__ = "callout_steps"
    __table_args__ = (Index("ix_callout_steps_record_seq", "record_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("callout_records.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(32), default="")
    prompt: Mapped[str] = mapped_column(Text, default="")
    answer_dtmf: Mapped[str] = mapped_column(String(16), default="")
    answer_text: Mapped[str] = mapped_column(String(256), default="")
    matched: Mapped[str | None] = mapped_column(String(32), default=None)
    retry: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow)
