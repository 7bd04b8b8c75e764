"""Notifications that are not about a device alarm (IOT-6 flow watch, OPS-3): outbox rows
written directly, without an escalation chain. The delivery half of the notification job
(`engine.claim_due` / `send` / `record`) sends them like any other row; `alarm_id` stays
NULL, which `claim_due` treats as "nothing to cancel on"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.timeutil import utcnow
from cityops.duty.models import Contact
from cityops.notify.base import Severity
from cityops.notify.engine import ADDRESS, GROUP_KINDS, recipient_payload
from cityops.notify.models import ChannelConfig, OutboxMessage


def enqueue(session: Session, *, title: str, text: str, severity: str, channel_ids: list[int],
            contacts: list[Contact], dedup_prefix: str, link: tuple[str, str] | None = None,
            now: datetime | None = None) -> list[OutboxMessage]:
    """One row per contact × personal channel (SMS, e-mail, voice), one per group channel
    (WeCom robot) mentioning everyone. Keys are ``<prefix>:c<contact>:ch<channel>`` and
    ``<prefix>:group:ch<channel>``; a key written before is not written again. A contact
    without the address a channel needs, or nobody to reach, leaves one failed ``:gaps`` row
    so the notification log shows why nobody heard."""
    now = now or utcnow()
    body = {"title": title, "text": text, "severity": Severity(severity).value,
            "links": [{"title": link[0], "url": link[1]}] if link else []}
    existing = set(session.scalars(select(OutboxMessage.dedup_key)
                                   .where(OutboxMessage.dedup_key.like(dedup_prefix + ":%"))))
    channels = {c.id: c for c in session.scalars(select(ChannelConfig).where(ChannelConfig.id.in_(channel_ids)))}
    rows: list[OutboxMessage] = []
    gaps: list[str] = [] if contacts else ["当前无人值班"]

    def add(key: str, ch: ChannelConfig, people: list[Contact]) -> None:
        if key in existing:
            return
        m = OutboxMessage(dedup_key=key, alarm_id=None, channel_id=ch.id, channel_kind=ch.kind,
                          contact_id=people[0].id if len(people) == 1 else None,
                          recipient_name="、".join(c.name for c in people)[:64], state="pending",
                          next_attempt_at=now, created_at=now,
                          payload={**body, "recipients": [recipient_payload(c) for c in people]})
        session.add(m)
        rows.append(m)

    for cid in channel_ids:
        ch = channels.get(cid)
        if ch is None:
            gaps.append(f"渠道 #{cid} 已删除")
            continue
        if ch.kind in GROUP_KINDS:
            if contacts:
                add(f"{dedup_prefix}:group:ch{cid}", ch, contacts)
            continue
        for c in contacts:
            field = ADDRESS.get(ch.kind)
            if field and not getattr(c, field):
                gaps.append(f"{c.name} 没有{'手机号' if field == 'phone' else '邮箱'}，无法通过{ch.name}通知")
                continue
            add(f"{dedup_prefix}:c{c.id}:ch{cid}", ch, [c])
    if gaps and f"{dedup_prefix}:gaps" not in existing:
        session.add(OutboxMessage(dedup_key=f"{dedup_prefix}:gaps", alarm_id=None, channel_kind="-",
                                  recipient_name="（未送达）", payload=body, state="failed",
                                  last_error="；".join(gaps)[:2000], created_at=now))
    session.flush()
    return rows
