"""Visits and receptions (VISIT-1): the visit calendar, the change freeze, pre-visit checks and
the visit record.

Freeze window: by default from 08:00 (Beijing) of the visit day until the visit ends; the service
desk asks `active_freeze` before accepting a change. Pre-visit checks run the probes of every
system to be shown, `check_hours` before the start (24 h and 2 h by default; each lead time
once; a visit created late gets only the latest lead time due). A failing probe raises a major
finding (ticket policy major) and marks the visit 有风险 until a later check passes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.db import savepoint
from cityops.core.errors import Conflict, Invalid, NotFound, Problem
from cityops.core.timeutil import SHANGHAI, aware, fmt_local, local, utcnow
from cityops.inspections import findings
from cityops.maintenance.log import add_entry
from cityops.visits.models import VISIT_STATES, Visit, VisitCheck

FIELDS = ("title", "organisation", "visitor_count", "host", "starts_at", "ends_at", "system_codes", "freeze_from",
          "freeze_until", "check_hours")
LIVE = ("planned", "ready", "in_progress")


def default_freeze(starts_at: datetime, ends_at: datetime) -> tuple[datetime, datetime]:
    """08:00 Beijing time of the visit day (or the start, if earlier) until the end."""
    eight = datetime.combine(local(starts_at).date(), time(8, 0), SHANGHAI).astimezone(timezone.utc)
    return min(eight, starts_at), ends_at


def parse_time(value: Any, what: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise Invalid(f"{what}格式不正确：{value!r}") from None
    if not isinstance(value, datetime):
        raise Invalid(f"请填写{what}")
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else aware(value)


def _apply(session: Session, v: Visit, data: dict[str, Any]) -> None:
    from cityops.catalog.models import System

    d = {k: data[k] for k in FIELDS if k in data}
    # A freeze nobody edited follows the visit's times when they move.
    followed = v.freeze_from is None or (v.starts_at is not None and
                                         default_freeze(v.starts_at, v.ends_at) == (v.freeze_from, v.freeze_until))
    if "title" in d:
        v.title = str(d["title"] or "").strip()[:200]
    if not v.title:
        raise Invalid("请填写参观接待名称")
    for k in ("organisation", "host"):
        if k in d:
            setattr(v, k, str(d[k] or "").strip()[:100 if k == "organisation" else 64])
    if "visitor_count" in d:
        try:
            v.visitor_count = int(d["visitor_count"] or 0)
        except (TypeError, ValueError):
            raise Invalid("来访人数须为整数") from None
        if v.visitor_count < 1:
            raise Invalid("来访人数至少为 1")
    for k, label in (("starts_at", "开始时间"), ("ends_at", "结束时间")):
        if k in d:
            setattr(v, k, parse_time(d[k], label))
    if v.starts_at is None or v.ends_at is None:
        raise Invalid("请填写开始和结束时间")
    if v.ends_at <= v.starts_at:
        raise Invalid("结束时间须晚于开始时间")
    if "system_codes" in d:
        codes = [str(c).strip() for c in d["system_codes"] or [] if str(c).strip()]
        known = set(session.scalars(select(System.code).where(System.code.in_(codes)))) if codes else set()
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise Invalid(f"未知的系统编码：{'、'.join(unknown)}")
        v.system_codes = list(dict.fromkeys(codes))
    if "check_hours" in d:
        try:
            hours = sorted({int(h) for h in d["check_hours"] or []}, reverse=True)
        except (TypeError, ValueError):
            raise Invalid("提前检查时间须为整数小时") from None
        if any(h < 1 or h > 24 * 14 for h in hours):
            raise Invalid("提前检查时间须在 1–336 小时之间")
        v.check_hours = hours
    ff, fu = d.get("freeze_from"), d.get("freeze_until")
    dflt_from, dflt_until = default_freeze(v.starts_at, v.ends_at)
    if ff:
        v.freeze_from = parse_time(ff, "封网开始时间")
    elif followed:
        v.freeze_from = dflt_from
    if fu:
        v.freeze_until = parse_time(fu, "封网结束时间")
    elif followed:
        v.freeze_until = dflt_until
    if v.freeze_until <= v.freeze_from:
        raise Invalid("封网结束时间须晚于开始时间")


def create_visit(session: Session, data: dict[str, Any], *, actor: str = "", now: datetime | None = None) -> Visit:
    v = Visit(title="", visitor_count=1, system_codes=[], check_hours=[24, 2], state="planned", created_by=actor,
              created_at=now or utcnow())
    _apply(session, v, {"visitor_count": 1, **data})
    session.add(v)
    session.flush()
    return v


def update_visit(session: Session, visit_id: int, data: dict[str, Any]) -> Visit:
    v = get(session, visit_id)
    if v.state in ("done", "cancelled"):
        raise Conflict(f"参观接待「{v.title}」已{VISIT_STATES[v.state]}，不能再修改")
    _apply(session, v, data)
    session.flush()
    return v


def set_state(session: Session, visit_id: int, state: str) -> Visit:
    v = get(session, visit_id)
    if state not in ("planned", "ready", "cancelled"):
        raise Invalid("只能手动设为“已计划”“已就绪”或“已取消”；进行中和已完成由系统按时间与接待记录设定")
    if v.state in ("done", "cancelled"):
        raise Conflict(f"参观接待「{v.title}」已{VISIT_STATES[v.state]}")
    v.state = state
    session.flush()
    return v


def get(session: Session, visit_id: int) -> Visit:
    v = session.get(Visit, visit_id)
    if v is None:
        raise NotFound(f"参观接待 {visit_id} 不存在")
    return v


def list_visits(session: Session, *, first: date | None = None, last: date | None = None,
                state: str | None = None) -> list[Visit]:
    q = select(Visit)
    if first:
        q = q.where(Visit.ends_at >= datetime.combine(first, time(0), SHANGHAI))
    if last:
        q = q.where(Visit.starts_at < datetime.combine(last + timedelta(days=1), time(0), SHANGHAI))
    if state:
        q = q.where(Visit.state == state)
    return list(session.scalars(q.order_by(Visit.starts_at, Visit.id)))


def active_freeze(session: Session, at: datetime) -> Visit | None:
    """The visit whose change freeze covers `at` (objects with `.id`, `.title`, `.freeze_from`,
    `.freeze_until`), or None. Cancelled visits freeze nothing."""
    return session.scalar(select(Visit).where(Visit.state != "cancelled", Visit.freeze_from <= at,
                                              Visit.freeze_until > at).order_by(Visit.freeze_from).limit(1))


def checks_of(session: Session, visit_id: int) -> list[VisitCheck]:
    return list(session.scalars(select(VisitCheck).where(VisitCheck.visit_id == visit_id)
                                .order_by(VisitCheck.at.desc(), VisitCheck.id.desc())))


def run_check(session: Session, visit_id: int, *, hours_before: int | None = None, actor: str = "system",
              now: datetime | None = None) -> VisitCheck:
    """Run the probes of every shown system now and store the check."""
    from cityops.inspections import probe_service

    now = now or utcnow()
    v = get(session, visit_id)
    if v.state in ("done", "cancelled"):
        raise Conflict(f"参观接待「{v.title}」已{VISIT_STATES[v.state]}，无需检查")
    results = []
    for code in v.system_codes or []:
        for probe in probe_service.probes_for(session, system_code=code):
            results.append(_probe(session, probe, code, actor, now))
    failed = [r for r in results if not r["ok"]]
    for r in results:
        key = f"visit:{v.id}:probe:{r['probe_id']}"
        if r["ok"]:
            findings.clear_finding(session, key=key, note="参观前复查正常", actor=actor, now=now)
        else:
            findings.raise_finding(session, key=key, source="visit", severity="major", ticket_policy="major",
                                   title=f"参观前检查失败：{r['name']}（{v.title}）", system_code=r["system_code"],
                                   detail=f"参观「{v.title}」{fmt_local(v.starts_at, '%m-%d %H:%M')} 开始；"
                                          f"{r['name']}：{r['detail']}", actor=actor, now=now)
    if not v.system_codes:
        summary = "未指定展示系统，无可检查的探针"
    elif not results:
        summary = "展示系统尚未配置自动巡检探针，未能自动检查"
    elif failed:
        summary = f"{len(failed)}/{len(results)} 个探针失败：" + "、".join(r["name"] for r in failed)
    else:
        summary = f"{len(results)} 个探针全部正常"
    check = VisitCheck(visit_id=v.id, hours_before=hours_before, at=now, ok=not failed, results=results,
                       summary=summary[:300], actor=actor)
    session.add(check)
    v.at_risk = bool(failed)
    if not failed and results and v.state == "planned":
        v.state = "ready"
    session.flush()
    return check


def _probe(session: Session, probe: Any, code: str, actor: str, now: datetime) -> dict[str, Any]:
    from cityops.inspections import probe_service

    name = getattr(probe, "name", None) or f"探针 #{probe.id}"
    try:
        with savepoint(session):
            r = probe_service.run_probe_now(session, probe.id, now=now, actor=actor)
    except Problem as exc:
        return {"probe_id": probe.id, "name": name, "system_code": code, "ok": False, "latency_ms": None,
                "detail": f"未能运行：{exc.detail}"}
    return {"probe_id": probe.id, "name": name, "system_code": code, "ok": bool(r.ok), "latency_ms": r.latency_ms,
            "detail": str(r.detail or "")[:500]}


def due_checks(session: Session, now: datetime) -> list[tuple[int, int]]:
    """(visit id, lead hours) of the automatic checks due now; only the latest due lead time per visit."""
    out = []
    for v in session.scalars(select(Visit).where(Visit.state.in_(("planned", "ready")), Visit.starts_at > now)):
        done = set(session.scalars(select(VisitCheck.hours_before).where(VisitCheck.visit_id == v.id,
                                                                          VisitCheck.hours_before.is_not(None))))
        due = [h for h in v.check_hours or [] if now >= v.starts_at - timedelta(hours=h)]
        if due and not any(d <= min(due) for d in done):
            out.append((v.id, min(due)))
    return out


def advance(session: Session, now: datetime) -> int:
    """Visits under way become 进行中."""
    rows = list(session.scalars(select(Visit).where(Visit.state.in_(("planned", "ready")), Visit.starts_at <= now,
                                                    Visit.ends_at > now)))
    for v in rows:
        v.state = "in_progress"
    session.flush()
    return len(rows)


def record(session: Session, visit_id: int, *, outcome: str, issues: str = "", notes: str = "", actor: str,
           now: datetime | None = None) -> Visit:
    """The record after the visit; the visit becomes 已完成 and goes into the maintenance log."""
    now = now or utcnow()
    v = get(session, visit_id)
    if v.state == "cancelled":
        raise Conflict(f"参观接待「{v.title}」已取消")
    if now < v.starts_at:
        raise Conflict("参观尚未开始，不能填写接待记录")
    if not outcome.strip():
        raise Invalid("请填写接待结果")
    v.outcome, v.issues, v.notes = outcome.strip()[:200], issues.strip(), notes.strip()
    v.recorded_by, v.recorded_at, v.state = actor, now, "done"
    detail = f"来访单位 {v.organisation or '—'}，{v.visitor_count} 人，接待 {v.host or '—'}。"
    if v.issues:
        detail += f"问题：{v.issues}。"
    add_entry(session, kind="visit", source="visit", source_ref=str(v.id), author=actor, at=now,
              summary=f"参观接待「{v.title}」：{v.outcome}", detail=detail + v.notes,
              system_code=(v.system_codes or [None])[0])
    session.flush()
    return v


def upcoming(session: Session, now: datetime, days: int = 7) -> list[Visit]:
    """Live visits starting within `days` or under way, for the duty officer's home page."""
    return list(session.scalars(select(Visit).where(Visit.state.in_(LIVE), Visit.ends_at > now,
                                                    Visit.starts_at <= now + timedelta(days=days))
                                .order_by(Visit.starts_at)))
