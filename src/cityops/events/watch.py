"""The flow-state watch (IOT-6 "overdue" warnings, issue #5 item 6; SYS-DISPATCH).

`scan(session, now)` runs every 30 s (job `events.flow_watch`) and looks at six conditions:

* sla_warning / sla_breached — an open event's current step has used ≥ the warn threshold of
  its time limit (settings, else the policy's warn_at_pct) / is past its deadline. Policy and
  calendar are looked up once per (category, severity) per scan (`stats.Clocks`), the step's
  clock starts at the event's stamp for the state it is in (as `stats.STEP_SPANS`).
* outbox_failing — a dispatch outbox message pending after N attempts or for M minutes, or
  failed while its event is still open.
* result_missing — a submitted work order with no result and no update for H hours.
* verification_failing — K or more failed automatic verifications of one open event
  (transitions "return" by "system:verify") within the window.
* surge — events of one 大类 in one street in the last hour ≥ the surge factor × that hour's
  average over the four weeks before (same weekday and hour), and at least the minimum count.

Each condition holding now is one live warning per kind + subject (`dedup_key`): opened the
first time, refreshed (last_at, text) while it holds, resolved as soon as it is gone. Only a
newly opened warning is notified: outbox rows to the configured channels for the people on
duty in the configured team (`notify.engine.recipients`, `notify.direct.enqueue`); info-level
warnings stay on the board when `quiet_info` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.core.db import savepoint
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import aware, fmt_local
from cityops.dispatch.models import (
    DispatchOutbox,
    DispatchPlatform,
    PlatformState,
    WorkOrder,
)
from cityops.duty.models import Team
from cityops.events.lifecycle import OPEN_STATES, STATE_LABELS
from cityops.events.models import SEVERITIES, CityEvent, EventCategory, EventTransition
from cityops.events.sla_models import STEP_LABELS
from cityops.events.stats import STEP_SPANS, Clocks
from cityops.events.watch_models import (
    KIND_LABELS,
    KINDS,
    WARNING_STATES,
    FlowWarning,
    WatchSettings,
)
from cityops.geo.models import Street
from cityops.notify.models import ChannelConfig

SLA_STATES = ("ok", "warning", "breached")
VERIFY_ACTOR = "system:verify"
RESULT_WAITING = ("submitted", "accepted", "in_progress")  # work order states that still owe a result
SURGE_WEEKS = 4
MAX_NOTIFIED = 10  # new warnings notified one by one per scan; more get one summary message
# state → SLA step running in it
STEP_OF = {state: step for step, (_, _, running) in STEP_SPANS.items() for state in running}


# -- settings ---------------------------------------------------------------------------
LIMITS: dict[str, tuple[float, float]] = {
    "warn_pct": (1, 100), "outbox_attempts": (1, 100), "outbox_pending_min": (1, 1440), "result_hours": (1, 720),
    "verify_failures": (1, 100), "verify_window_h": (1, 720), "surge_factor": (1, 100), "surge_min_count": (1, 10000),
}
FIELDS = (*LIMITS, "notify_team", "notify_channels", "quiet_info")


def get_settings(session: Session) -> WatchSettings:
    """The one settings row, created with the defaults the first time it is needed."""
    s = session.get(WatchSettings, 1)
    if s is not None:
        return s
    try:
        with savepoint(session):
            session.add(WatchSettings(id=1, updated_by="system", notify_channels=[]))
    except IntegrityError:  # another process created it meanwhile
        pass
    return session.get(WatchSettings, 1)


def update_settings(session: Session, *, by: str, **changes: Any) -> WatchSettings:
    changes = {k: v for k, v in changes.items() if v is not None or k == "warn_pct"}  # None = unchanged
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    for k, (lo, hi) in LIMITS.items():
        if k not in changes or (k == "warn_pct" and changes[k] is None):
            continue
        v = changes[k]
        whole = k != "surge_factor"
        if isinstance(v, bool) or not isinstance(v, int | float) or (whole and int(v) != v) or not lo <= v <= hi:
            raise Invalid(f"{k} 应为 {lo:g} 到 {hi:g} 之间的{'整数' if whole else '数'}")
        changes[k] = int(v) if whole else float(v)
    if changes.get("notify_team"):
        team = session.get(Team, changes["notify_team"])
        if team is None:
            raise Invalid(f"值班组“{changes['notify_team']}”不存在")
    if "notify_channels" in changes:
        ids = sorted(set(changes["notify_channels"] or []))
        known = set(session.scalars(select(ChannelConfig.id).where(ChannelConfig.id.in_(ids))))
        if missing := [i for i in ids if i not in known]:
            raise Invalid(f"通知渠道不存在：{'、'.join(map(str, missing))}")
        changes["notify_channels"] = ids
    if "quiet_info" in changes:
        changes["quiet_info"] = bool(changes["quiet_info"])
    s = get_settings(session)
    for k, v in changes.items():
        setattr(s, k, v)
    s.updated_by = by
    session.flush()
    return s


# -- conditions -------------------------------------------------------------------------
@dataclass
class Finding:
    kind: str
    subject: str
    severity: str
    text: str
    event_id: int | None = None
    street_code: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"


def _shift(severity: str, by: int) -> str:
    i = SEVERITIES.index(severity) if severity in SEVERITIES else 1
    return SEVERITIES[max(0, min(len(SEVERITIES) - 1, i + by))]


def _at_least(severity: str, floor: str) -> str:
    return severity if SEVERITIES.index(severity) >= SEVERITIES.index(floor) else floor


def sla_findings(session: Session, cfg: WatchSettings, now: datetime) -> list[Finding]:
    """Open events whose current step is at the warn threshold or past its deadline."""
    stamp_cols = {c: getattr(CityEvent, c) for c in {start for start, _, _ in STEP_SPANS.values()}}
    q = (select(CityEvent.id, CityEvent.number, CityEvent.title, CityEvent.state, CityEvent.severity,
                CityEvent.street_code, EventCategory.code, *stamp_cols.values())
         .join(EventCategory, EventCategory.id == CityEvent.category_id)
         .where(CityEvent.state.in_(STEP_OF), CityEvent.merged_into_id.is_(None)))
    clocks = Clocks(session)
    out = []
    for row in session.execute(q):
        step = STEP_OF[row.state]
        start = aware(row._mapping[STEP_SPANS[step][0]] or row._mapping["reported_at"])
        clock = clocks.get(row.code, row.severity)
        if clock is None:
            continue
        policy, cal = clock
        limit = timedelta(minutes=policy.limit(step))
        elapsed = cal.working_between(start, now)
        pct = round(elapsed / limit * 100, 1)
        threshold = cfg.warn_pct or policy.warn_at_pct
        if pct < threshold:
            continue
        deadline = cal.add_working(start, limit)
        breached = now > deadline
        kind = "sla_breached" if breached else "sla_warning"
        label = STEP_LABELS[step]
        due = fmt_local(deadline, "%m-%d %H:%M")
        text = (f"事件 {row.number}「{row.title}」{label}已超时（时限截至 {due}，已用 {pct:g}%）" if breached
                else f"事件 {row.number}「{row.title}」{label}时限已用 {pct:g}%，将于 {due} 到期")
        severity = _at_least(row.severity, "warning") if breached else _shift(row.severity, -1)
        out.append(Finding(kind, f"event:{row.id}:{step}", severity, text, row.id, row.street_code,
                           {"step": step, "pct": pct, "deadline": deadline.isoformat(), "policy_id": policy.id,
                            "number": row.number, "state": row.state}))
    return out


def outbox_findings(session: Session, cfg: WatchSettings, now: datetime) -> list[Finding]:
    """Dispatch messages stuck (many attempts or long pending) or failed for open events."""
    stuck = and_(DispatchOutbox.state == "pending",
                 or_(DispatchOutbox.attempts >= cfg.outbox_attempts,
                     DispatchOutbox.created_at <= now - timedelta(minutes=cfg.outbox_pending_min)))
    failed = and_(DispatchOutbox.state == "failed", CityEvent.state.in_(OPEN_STATES))
    q = (select(DispatchOutbox, CityEvent.number, CityEvent.street_code, DispatchPlatform.name)
         .join(CityEvent, CityEvent.id == DispatchOutbox.event_id)
         .join(DispatchPlatform, DispatchPlatform.id == DispatchOutbox.platform_id)
         .where(or_(stuck, failed)))
    out = []
    for m, number, street, platform in session.execute(q):
        age = int((now - aware(m.created_at)).total_seconds() // 60)
        what = "发送失败" if m.state == "failed" else f"已尝试 {m.attempts} 次、等待 {age} 分钟仍未送达"
        err = f"：{m.last_error[:120]}" if m.last_error else ""
        out.append(Finding("outbox_failing", f"outbox:{m.id}", "major" if m.state == "failed" else "warning",
                           f"事件 {number} 派往{platform}的派单消息{what}{err}", m.event_id, street,
                           {"outbox_id": m.id, "order_id": m.order_id, "platform": platform, "state": m.state,
                            "attempts": m.attempts, "age_min": age, "number": number}))
    return out


def result_findings(session: Session, cfg: WatchSettings, now: datetime) -> list[Finding]:
    """Work orders submitted H hours ago (or last updated then) with nothing back since."""
    cutoff = now - timedelta(hours=cfg.result_hours)
    q = (select(WorkOrder, CityEvent.number, CityEvent.street_code, DispatchPlatform.name)
         .join(CityEvent, CityEvent.id == WorkOrder.event_id)
         .join(DispatchPlatform, DispatchPlatform.id == WorkOrder.platform_id)
         .where(WorkOrder.state.in_(RESULT_WAITING), WorkOrder.submitted_at <= cutoff,
                or_(WorkOrder.last_update_at.is_(None), WorkOrder.last_update_at <= cutoff),
                CityEvent.state.in_(OPEN_STATES)))
    out = []
    for o, number, street, platform in session.execute(q):
        last = aware(o.last_update_at or o.submitted_at)
        hours = round((now - last).total_seconds() / 3600, 1)
        since = "提交后" if o.last_update_at is None else "最近一次更新后"
        out.append(Finding("result_missing", f"order:{o.id}", "warning",
                           f"事件 {number} 的工单（{platform}{'，' + o.external_id if o.external_id else ''}）"
                           f"{since} {hours:g} 小时无任何回传", o.event_id, street,
                           {"order_id": o.id, "platform": platform, "external_id": o.external_id,
                            "order_state": o.state, "submitted_at": aware(o.submitted_at).isoformat(),
                            "hours": hours, "number": number}))
    return out


def verification_findings(session: Session, cfg: WatchSettings, now: datetime) -> list[Finding]:
    """Open events that failed automatic verification K times within the window."""
    since = now - timedelta(hours=cfg.verify_window_h)
    fails = (select(EventTransition.event_id, func.count().label("n"), func.max(EventTransition.at).label("last"))
             .where(EventTransition.action == "return", EventTransition.actor == VERIFY_ACTOR,
                    EventTransition.at >= since)
             .group_by(EventTransition.event_id).having(func.count() >= cfg.verify_failures).subquery())
    q = (select(CityEvent.id, CityEvent.number, CityEvent.title, CityEvent.street_code, fails.c.n)
         .join(fails, fails.c.event_id == CityEvent.id).where(CityEvent.state.in_(OPEN_STATES)))
    out = []
    for r in session.execute(q):
        out.append(Finding("verification_failing", f"event:{r.id}", "warning",
                           f"事件 {r.number}「{r.title}」{cfg.verify_window_h} 小时内自动核查 {r.n} 次未通过，"
                           "请核实处置情况", r.id, r.street_code,
                           {"failures": r.n, "window_h": cfg.verify_window_h, "number": r.number}))
    return out


def _hour_counts(session: Session, windows: list[tuple[datetime, datetime]]) -> dict[tuple[str, str], int]:
    """Events (merged reports left out) per (category id, street) reported within any window."""
    q = (select(CityEvent.category_id, CityEvent.street_code, func.count())
         .where(CityEvent.merged_into_id.is_(None), CityEvent.street_code.is_not(None),
                or_(*[and_(CityEvent.reported_at >= a, CityEvent.reported_at < b) for a, b in windows]))
         .group_by(CityEvent.category_id, CityEvent.street_code))
    return {(cid, street): n for cid, street, n in session.execute(q)}


def surge_findings(session: Session, cfg: WatchSettings, now: datetime) -> list[Finding]:
    """大类 × street with an unusual number of events in the last hour."""
    hour = timedelta(hours=1)
    current = _hour_counts(session, [(now - hour, now)])
    if not current:
        return []
    tops = {c.id: c.code[:2] for c in session.scalars(select(EventCategory))}
    by_top: dict[tuple[str, str], int] = {}
    for (cid, street), n in current.items():
        key = (tops.get(cid, "?"), street)
        by_top[key] = by_top.get(key, 0) + n
    candidates = {k: n for k, n in by_top.items() if n >= cfg.surge_min_count}
    if not candidates:
        return []
    weeks = [(now - hour - timedelta(weeks=w), now - timedelta(weeks=w)) for w in range(1, SURGE_WEEKS + 1)]
    before: dict[tuple[str, str], int] = {}
    for (cid, street), n in _hour_counts(session, weeks).items():
        key = (tops.get(cid, "?"), street)
        before[key] = before.get(key, 0) + n
    names = {c.code: c.name for c in session.scalars(select(EventCategory).where(EventCategory.level == 1))}
    streets = {s.code: s.name for s in session.scalars(select(Street))}
    out = []
    for (top, street), n in sorted(candidates.items()):
        avg = before.get((top, street), 0) / SURGE_WEEKS
        if n < cfg.surge_factor * avg:
            continue
        severity = "major" if n >= 2 * max(cfg.surge_min_count, cfg.surge_factor * avg) else "warning"
        out.append(Finding("surge", f"{top}@{street}", severity,
                           f"{streets.get(street, street)}近 1 小时{names.get(top, top)}类事件 {n} 件，"
                           f"前 4 周同时段平均 {avg:g} 件", None, street,
                           {"category": top, "category_name": names.get(top, top), "street": street,
                            "street_name": streets.get(street, street), "count": n, "average": avg}))
    return out


CONDITIONS = (sla_findings, outbox_findings, result_findings, verification_findings, surge_findings)


# -- the scan ---------------------------------------------------------------------------
def scan(session: Session, now: datetime) -> dict[str, int]:
    """Open, refresh and resolve warnings for the conditions holding at ``now``; notify new ones."""
    now = aware(now)
    cfg = get_settings(session)
    found: dict[str, Finding] = {}
    for condition in CONDITIONS:
        for f in condition(session, cfg, now):
            found[f.key] = f
    live = {w.dedup_key: w for w in session.scalars(select(FlowWarning).where(FlowWarning.dedup_key.is_not(None)))}
    opened: list[FlowWarning] = []
    for key, f in found.items():
        w = live.get(key)
        if w is None:
            w = FlowWarning(kind=f.kind, subject=f.subject, dedup_key=key, event_id=f.event_id,
                            street_code=f.street_code, severity=f.severity, text=f.text, details=f.details,
                            state="open", first_at=now, last_at=now)
            session.add(w)
            opened.append(w)
        else:
            w.severity, w.text, w.details, w.last_at = f.severity, f.text, f.details, now
    resolved = 0
    for key, w in live.items():
        if key not in found:
            w.state, w.resolved_at, w.dedup_key = "resolved", now, None
            resolved += 1
    session.flush()
    notified = notify_new(session, cfg, opened, now) if opened else 0
    return {"open": len(found), "opened": len(opened), "resolved": resolved, "notified": notified}


def _board_link() -> str:
    from cityops.core.settings import get_settings as app_settings

    return f"{app_settings().public_url.rstrip('/')}/console/flow-board"


def notify_new(session: Session, cfg: WatchSettings, opened: list[FlowWarning], now: datetime) -> int:
    """Outbox rows for newly opened warnings, for the configured team's people on duty now."""
    from cityops.notify import direct, engine

    wanted = [w for w in opened if not (cfg.quiet_info and w.severity == "info")]
    if not wanted or not cfg.notify_team or not cfg.notify_channels:
        return 0
    people, _ = engine.recipients(session, {"targets": [{"kind": "team", "team": cfg.notify_team}]}, None, now)
    wanted.sort(key=lambda w: (-SEVERITIES.index(w.severity), w.id))
    link = ("打开流转监控", _board_link())
    written = 0
    for w in wanted[:MAX_NOTIFIED]:
        rows = direct.enqueue(session, title=f"流转监控·{KIND_LABELS[w.kind]}", text=w.text + "\n请登录城运平台流转监控处理。",
                              severity=w.severity, channel_ids=cfg.notify_channels, contacts=people,
                              dedup_prefix=f"flow:{w.id}", link=link, now=now)
        w.notified = len(rows)
        written += len(rows)
    rest = wanted[MAX_NOTIFIED:]
    if rest:
        first = rest[0].id
        lines = [f"另有 {len(rest)} 条新的流转预警：" + "；".join(w.text for w in rest[:5])]
        rows = direct.enqueue(session, title="流转监控·新预警汇总", text="\n".join(lines) + "\n请登录城运平台流转监控查看。",
                              severity=rest[0].severity, channel_ids=cfg.notify_channels, contacts=people,
                              dedup_prefix=f"flow:{first}:more", link=link, now=now)
        written += len(rows)
    session.flush()
    return written


# -- reading and acknowledging ----------------------------------------------------------
def _scoped(q, scope: str | None):
    return q.where(FlowWarning.street_code == scope) if scope is not None else q


def list_warnings(session: Session, *, kind: str | None = None, state: str | None = "active",
                  scope: str | None = None, limit: int = 500) -> list[FlowWarning]:
    """Warnings newest first; state "active" = open or acknowledged, None = all."""
    q = select(FlowWarning)
    if kind:
        if kind not in KINDS:
            raise Invalid(f"kind 应为以下之一：{'、'.join(KINDS)}")
        q = q.where(FlowWarning.kind == kind)
    if state == "active":
        q = q.where(FlowWarning.state.in_(("open", "acknowledged")))
    elif state:
        if state not in WARNING_STATES:
            raise Invalid(f"state 应为 active 或以下之一：{'、'.join(WARNING_STATES)}")
        q = q.where(FlowWarning.state == state)
    live_first = case((FlowWarning.state == "resolved", 1), else_=0)
    q = _scoped(q, scope).order_by(live_first, FlowWarning.last_at.desc(), FlowWarning.id.desc())
    rows = list(session.scalars(q.limit(limit)))
    rank = {"open": 0, "acknowledged": 1, "resolved": 2}
    return sorted(rows, key=lambda w: (rank[w.state], -SEVERITIES.index(w.severity), -w.id))


def get_warning(session: Session, warning_id: int, *, scope: str | None = None) -> FlowWarning:
    w = session.get(FlowWarning, warning_id)
    if w is None or (scope is not None and w.street_code != scope):
        raise NotFound(f"预警 #{warning_id} 不存在")
    return w


def acknowledge(session: Session, warning_id: int, *, by: str, now: datetime, scope: str | None = None) -> FlowWarning:
    """Someone is on it: the warning stays live (not notified again) until its condition ends."""
    w = get_warning(session, warning_id, scope=scope)
    if w.state == "resolved":
        raise Conflict(f"预警 #{w.id} 已于 {fmt_local(w.resolved_at)} 自动解除，无需确认")
    if w.state == "open":
        w.state, w.acked_by, w.acked_at = "acknowledged", by, aware(now)
        session.flush()
    return w


# -- the board --------------------------------------------------------------------------
def board(session: Session, *, now: datetime, scope: str | None = None) -> dict[str, Any]:
    """What the duty officer's board shows. SLA states come from the live warnings (as of
    the last scan, at most 30 s old), so the board costs a few grouped queries."""
    ev_conds = [CityEvent.state.in_(OPEN_STATES), CityEvent.merged_into_id.is_(None)]
    if scope is not None:
        ev_conds.append(CityEvent.street_code == scope)
    totals = {s: n for s, n in session.execute(select(CityEvent.state, func.count()).where(*ev_conds)
                                                 .group_by(CityEvent.state))}
    sla_q = (select(CityEvent.state, FlowWarning.kind, func.count(func.distinct(CityEvent.id)))
             .join(FlowWarning, FlowWarning.event_id == CityEvent.id)
             .where(*ev_conds, FlowWarning.dedup_key.is_not(None), FlowWarning.kind.in_(("sla_warning", "sla_breached")))
             .group_by(CityEvent.state, FlowWarning.kind))
    late = {(s, k): n for s, k, n in session.execute(sla_q)}
    grid = []
    for s in OPEN_STATES:
        total = totals.get(s, 0)
        breached, warning = late.get((s, "sla_breached"), 0), late.get((s, "sla_warning"), 0)
        grid.append({"state": s, "label": STATE_LABELS[s], "total": total, "ok": max(total - breached - warning, 0),
                     "warning": warning, "breached": breached})
    active = _scoped(select(FlowWarning.kind, FlowWarning.state, func.count())
                     .where(FlowWarning.dedup_key.is_not(None)), scope).group_by(FlowWarning.kind, FlowWarning.state)
    per_kind = {k: {"open": 0, "acknowledged": 0} for k in KINDS}
    for k, st, n in session.execute(active):
        per_kind.setdefault(k, {"open": 0, "acknowledged": 0})[st] = n
    return {"now": now, "grid": grid, "warnings": per_kind, "outbox": _outbox_health(session, now, scope),
            "platforms": [] if scope is not None else _platforms(session),
            "result_missing": list_warnings(session, kind="result_missing", scope=scope, limit=100),
            "surges": list_warnings(session, kind="surge", scope=scope, limit=100)}


def _outbox_health(session: Session, now: datetime, scope: str | None) -> dict[str, Any]:
    q = select(DispatchOutbox.state, func.count(), func.min(DispatchOutbox.created_at)).where(
        DispatchOutbox.state.in_(("pending", "failed")))
    if scope is not None:
        q = q.join(CityEvent, CityEvent.id == DispatchOutbox.event_id).where(CityEvent.street_code == scope)
    rows = {s: (n, aware(oldest)) for s, n, oldest in session.execute(q.group_by(DispatchOutbox.state))}
    pending, oldest = rows.get("pending", (0, None))
    return {"pending": pending, "failed": rows.get("failed", (0, None))[0], "oldest_pending_at": oldest,
            "oldest_pending_min": int((now - oldest).total_seconds() // 60) if oldest else None}


def _platforms(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(DispatchPlatform, PlatformState)
                           .outerjoin(PlatformState, PlatformState.platform_id == DispatchPlatform.id)
                           .order_by(DispatchPlatform.name))
    return [{"id": p.id, "name": p.name, "enabled": p.enabled, "breaker": st.breaker if st else "closed",
             "open_until": aware(st.open_until) if st else None, "last_error": (st.last_error if st else "")[:200],
             "last_success_at": aware(st.last_success_at) if st else None} for p, st in rows]
