"""Routine inspection plans and their runs (OPS-1).

A plan is due on a Beijing day that matches its calendar (daily; weekly on listed weekdays;
monthly on day N — months without that day are skipped; optionally working days only, with the
office's holiday calendar) once its HH:MM has passed. `create_due_runs` makes one run per plan
and slot (unique index), runs the plan's probes at once and records the results; people then
fill the checklists and manual items and sign off (签字确认), which freezes the run and writes a
maintenance-log line. Open runs whose day has passed are marked overdue."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.core.db import savepoint
from cityops.core.errors import Conflict, Invalid, NotFound, Problem
from cityops.core.timeutil import SHANGHAI, fmt_local, local, utcnow
from cityops.inspections import findings
from cityops.inspections.checklist_models import ChecklistRun, ChecklistTemplate
from cityops.inspections.plan_models import CONCLUSIONS, SCHEDULES, InspectionPlan, InspectionRun
from cityops.maintenance.log import add_entry

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
FIELDS = ("name", "active", "schedule", "at_time", "weekdays", "month_day", "workdays_only", "probe_ids",
          "template_codes", "manual_items", "room", "ticket_policy", "note")


def _clean(session: Session, data: dict[str, Any], plan_id: int | None = None) -> dict[str, Any]:
    out = {k: data[k] for k in FIELDS if k in data and data[k] is not None}
    if "name" in out:
        out["name"] = str(out["name"]).strip()[:100]
        if not out["name"]:
            raise Invalid("请填写巡检计划名称")
        clash = session.scalar(select(InspectionPlan.id).where(InspectionPlan.name == out["name"]))
        if clash and clash != plan_id:
            raise Conflict(f"已有名为「{out['name']}」的巡检计划")
    if "schedule" in out and out["schedule"] not in SCHEDULES:
        raise Invalid(f"周期 {out['schedule']!r} 无效（可选：daily 每天、weekly 每周、monthly 每月）")
    if "at_time" in out and not _HHMM.match(str(out["at_time"])):
        raise Invalid(f"时间须为 HH:MM（北京时间），收到 {out['at_time']!r}")
    if "weekdays" in out:
        try:
            days = sorted({int(d) for d in out["weekdays"]})
        except (TypeError, ValueError):
            raise Invalid("星期须为 1（周一）到 7（周日）的数字") from None
        if any(d < 1 or d > 7 for d in days):
            raise Invalid("星期须为 1（周一）到 7（周日）")
        out["weekdays"] = days
    if "month_day" in out and not 1 <= int(out["month_day"]) <= 31:
        raise Invalid("每月的日期须在 1–31 之间")
    if "probe_ids" in out:
        try:
            out["probe_ids"] = sorted({int(p) for p in out["probe_ids"]})
        except (TypeError, ValueError):
            raise Invalid("探针编号须为整数") from None
    if "template_codes" in out:
        codes = [str(c).strip() for c in out["template_codes"] if str(c).strip()]
        for c in codes:
            if session.scalar(select(ChecklistTemplate.id).where(ChecklistTemplate.code == c).limit(1)) is None:
                raise Invalid(f"检查表 {c} 不存在")
        out["template_codes"] = list(dict.fromkeys(codes))
    if "manual_items" in out:
        out["manual_items"] = [str(m).strip()[:200] for m in out["manual_items"] if str(m).strip()]
    if "ticket_policy" in out:
        findings.ticket_wanted("warning", out["ticket_policy"])
    return out


def _check_complete(p: InspectionPlan) -> None:
    if p.schedule == "weekly" and not p.weekdays:
        raise Invalid("每周巡检请至少选择一天")
    if p.schedule == "monthly" and not p.month_day:
        raise Invalid("每月巡检请填写日期（1–31）")
    if not (p.probe_ids or p.template_codes or p.manual_items):
        raise Invalid("巡检计划至少需要一个探针、检查表或人工检查项")


def create_plan(session: Session, data: dict[str, Any]) -> InspectionPlan:
    if not str(data.get("name") or "").strip():
        raise Invalid("请填写巡检计划名称")
    p = InspectionPlan(**{"weekdays": [], "probe_ids": [], "template_codes": [], "manual_items": [],
                          **_clean(session, data)})
    p.schedule = p.schedule or "daily"
    p.at_time = p.at_time or "09:00"
    _check_complete(p)
    session.add(p)
    session.flush()
    return p


def update_plan(session: Session, plan_id: int, data: dict[str, Any]) -> InspectionPlan:
    p = get_plan(session, plan_id)
    for k, v in _clean(session, data, plan_id).items():
        setattr(p, k, v)
    _check_complete(p)
    session.flush()
    return p


def get_plan(session: Session, plan_id: int) -> InspectionPlan:
    p = session.get(InspectionPlan, plan_id)
    if p is None:
        raise NotFound(f"巡检计划 {plan_id} 不存在")
    return p


def list_plans(session: Session) -> list[InspectionPlan]:
    return list(session.scalars(select(InspectionPlan).order_by(InspectionPlan.id)))


def runs_on_day(plan: InspectionPlan, day: date, workdays=None) -> bool:
    """Does the plan run on this Beijing day? `workdays` is a WorkCalendar for working-days-only plans."""
    if plan.schedule == "weekly" and day.isoweekday() not in (plan.weekdays or []):
        return False
    if plan.schedule == "monthly" and day.day != plan.month_day:
        return False
    if plan.workdays_only and workdays is not None and not workdays.day_info(day).working:
        return False
    return True


def slot_of(plan: InspectionPlan, day: date) -> datetime:
    hh, mm = (int(x) for x in plan.at_time.split(":"))
    return datetime.combine(day, time(hh, mm), SHANGHAI).astimezone(timezone.utc)


def next_slots(session: Session, plan: InspectionPlan, start: date, days: int) -> list[datetime]:
    cal = _workdays(session) if plan.workdays_only else None
    return [slot_of(plan, start + timedelta(d)) for d in range(days) if runs_on_day(plan, start + timedelta(d), cal)]


def _workdays(session: Session):
    from cityops.events.sla import calendar_for

    return calendar_for(session, "workdays")


def create_due_runs(session: Session, *, now: datetime | None = None) -> list[InspectionRun]:
    """Make today's run of every active plan whose slot has passed (once per plan and slot)."""
    now = now or utcnow()
    today = local(now).date()
    cal = None
    made = []
    for plan in session.scalars(select(InspectionPlan).where(InspectionPlan.active).order_by(InspectionPlan.id)):
        if plan.workdays_only and cal is None:
            cal = _workdays(session)
        if not runs_on_day(plan, today, cal):
            continue
        slot = slot_of(plan, today)
        if now < slot or session.scalar(select(InspectionRun.id).where(InspectionRun.plan_id == plan.id,
                                                                       InspectionRun.slot_at == slot)):
            continue
        run = start_run(session, plan, slot, now=now)
        if run is not None:
            made.append(run)
    return made


def start_run(session: Session, plan: InspectionPlan, slot: datetime, *, now: datetime,
              actor: str = "system") -> InspectionRun | None:
    """Create the run of `slot` (None when another process made it first) and run its probes."""
    run = InspectionRun(plan_id=plan.id, plan_name=plan.name, slot_at=slot, day=local(slot).date(), state="open",
                        manual_results=[{"label": m, "ok": None, "note": "", "by": "", "at": None}
                                        for m in plan.manual_items or []], checklist_run_ids=[], created_at=now)
    try:
        with savepoint(session):
            session.add(run)
            session.flush()
    except IntegrityError:
        return None
    run.probe_results = [_probe(session, pid, now, actor) for pid in plan.probe_ids or []]
    session.flush()
    return run


def _probe(session: Session, probe_id: int, now: datetime, actor: str) -> dict[str, Any]:
    """Run one probe of the plan; a probe that was deleted or cannot run is a failed result."""
    from cityops.inspections import probe_service

    name = f"探针 #{probe_id}"
    try:
        with savepoint(session):
            name = probe_service.get_probe(session, probe_id).name or name
            r = probe_service.run_probe_now(session, probe_id, now=now, actor=actor)
    except Problem as exc:
        return {"probe_id": probe_id, "name": name, "ok": False, "latency_ms": None, "detail": f"未能运行：{exc.detail}"}
    return {"probe_id": probe_id, "name": name, "ok": bool(r.ok), "latency_ms": r.latency_ms,
            "detail": str(r.detail or "")[:500]}


def rerun_probes(session: Session, run_id: int, *, actor: str, now: datetime | None = None) -> InspectionRun:
    run = _open_run(session, run_id)
    plan = get_plan(session, run.plan_id)
    run.probe_results = [_probe(session, pid, now or utcnow(), actor) for pid in plan.probe_ids or []]
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> InspectionRun:
    r = session.get(InspectionRun, run_id)
    if r is None:
        raise NotFound(f"巡检任务 {run_id} 不存在")
    return r


def _open_run(session: Session, run_id: int) -> InspectionRun:
    run = get_run(session, run_id)
    if run.state == "signed":
        raise Conflict(f"巡检任务 {run_id} 已签字确认，记录不可再修改")
    return run


def record_manual(session: Session, run_id: int, *, index: int, ok: bool, note: str = "", actor: str,
                  now: datetime | None = None) -> InspectionRun:
    now = now or utcnow()
    run = _open_run(session, run_id)
    items = [dict(m) for m in run.manual_results or []]
    if not 0 <= index < len(items):
        raise NotFound(f"巡检任务 {run_id} 没有第 {index + 1} 个人工检查项")
    if not ok and not note.strip():
        raise Invalid(f"「{items[index]['label']}」为异常时请说明情况")
    items[index].update(ok=ok, note=note.strip()[:500], by=actor, at=now.isoformat())
    run.manual_results = items
    plan = get_plan(session, run.plan_id)
    key = f"plan:{plan.id}:manual:{index}"
    if ok:
        findings.clear_finding(session, key=key, actor=actor, now=now)
    else:
        findings.raise_finding(session, key=key, source="plan", title=f"{plan.name}：{items[index]['label']}异常",
                               detail=note.strip(), ticket_policy=plan.ticket_policy, actor=actor, now=now)
    session.flush()
    return run


def start_checklist(session: Session, run_id: int, *, template_code: str, performer: str, room: str = "",
                    asset_id: int | None = None, now: datetime | None = None) -> ChecklistRun:
    from cityops.inspections import checklist_service

    run = _open_run(session, run_id)
    plan = get_plan(session, run.plan_id)
    if template_code not in (plan.template_codes or []):
        raise Invalid(f"检查表 {template_code} 不在巡检计划「{plan.name}」中")
    t = checklist_service.current_template(session, template_code)
    cr = checklist_service.start_run(session, template_id=t.id, performer=performer, room=room or plan.room,
                                     asset_id=asset_id, plan_run_id=run.id, now=now)
    run.checklist_run_ids = [*(run.checklist_run_ids or []), cr.id]
    session.flush()
    return cr


def checklists_of(session: Session, run: InspectionRun) -> list[tuple[ChecklistRun, ChecklistTemplate]]:
    ids = run.checklist_run_ids or []
    if not ids:
        return []
    rows = session.execute(select(ChecklistRun, ChecklistTemplate).join(
        ChecklistTemplate, ChecklistTemplate.id == ChecklistRun.template_id).where(ChecklistRun.id.in_(ids))
        .order_by(ChecklistRun.id))
    return [(r, t) for r, t in rows]


def missing_work(session: Session, run: InspectionRun) -> list[str]:
    plan = session.get(InspectionPlan, run.plan_id)
    done = {t.code for r, t in checklists_of(session, run) if r.state in ("submitted", "signed")}
    out = [f"检查表 {c}" for c in (plan.template_codes if plan else []) if c not in done]
    out += [f"人工检查项「{m['label']}」" for m in run.manual_results or [] if m.get("ok") is None]
    return out


def sign_run(session: Session, run_id: int, *, name: str, conclusion: str, remarks: str = "",
             now: datetime | None = None) -> InspectionRun:
    """签字确认: name, time, conclusion and remarks; the run becomes an immutable record."""
    now = now or utcnow()
    run = _open_run(session, run_id)
    if not name.strip():
        raise Invalid("请填写签字人姓名")
    if conclusion not in CONCLUSIONS:
        raise Invalid("结论须为“正常”(normal) 或“有问题”(problem)")
    missing = missing_work(session, run)
    if missing:
        raise Invalid(f"尚未完成：{'、'.join(missing)}")
    failed = [p["name"] for p in run.probe_results or [] if not p.get("ok")]
    if conclusion == "problem" and not remarks.strip():
        raise Invalid("结论为“有问题”时请在备注中说明")
    late = run.state == "overdue"
    run.state, run.signed_by, run.signed_at = "signed", name.strip()[:64], now
    run.conclusion, run.remarks = conclusion, remarks.strip()
    summary = f"{run.plan_name}（{fmt_local(run.slot_at, '%m-%d %H:%M')}）：{CONCLUSIONS[conclusion]}"
    detail = f"签字人 {run.signed_by}{'（逾期签字）' if late else ''}。"
    detail += f"探针失败：{'、'.join(failed)}。" if failed else f"探针 {len(run.probe_results or [])} 个均正常。"
    add_entry(session, kind="inspection", source="inspection-run", source_ref=str(run.id), summary=summary,
              detail=detail + run.remarks, author=run.signed_by, at=now)
    session.flush()
    return run


def mark_overdue(session: Session, *, now: datetime | None = None) -> int:
    """Runs not signed off by the end of their (Beijing) day."""
    today = local(now or utcnow()).date()
    rows = list(session.scalars(select(InspectionRun).where(InspectionRun.state == "open", InspectionRun.day < today)))
    for r in rows:
        r.state = "overdue"
    session.flush()
    return len(rows)


def list_runs(session: Session, *, plan_id: int | None = None, state: str | None = None, first: date | None = None,
              last: date | None = None, limit: int = 100) -> list[InspectionRun]:
    q = select(InspectionRun)
    if plan_id:
        q = q.where(InspectionRun.plan_id == plan_id)
    if state:
        q = q.where(InspectionRun.state == state)
    if first:
        q = q.where(InspectionRun.day >= first)
    if last:
        q = q.where(InspectionRun.day <= last)
    return list(session.scalars(q.order_by(InspectionRun.slot_at.desc(), InspectionRun.id.desc()).limit(limit)))


def runs_on(session: Session, day: date) -> list[dict[str, Any]]:
    """The inspection runs of a Beijing day with their state, for the duty officer's home page."""
    out = []
    for r in sorted(list_runs(session, first=day, last=day), key=lambda r: r.slot_at):
        probes = r.probe_results or []
        out.append({"id": r.id, "plan_id": r.plan_id, "plan_name": r.plan_name, "slot_at": r.slot_at,
                    "state": r.state, "probes_total": len(probes), "probes_failed": sum(not p.get("ok") for p in probes),
                    "missing": missing_work(session, r) if r.state != "signed" else [],
                    "signed_by": r.signed_by, "conclusion": r.conclusion, "url": f"/console/inspection-plans/runs/{r.id}"})
    return out


def seed_plans(session: Session) -> int:
    """The default daily plan: the machine-room round at 09:00 every day."""
    from cityops.inspections.checklist_seed import seed_checklists

    seed_checklists(session)
    name = "机房日常例行巡检"
    if session.scalar(select(InspectionPlan.id).where(InspectionPlan.name == name)):
        return 0
    create_plan(session, {"name": name, "schedule": "daily", "at_time": "09:00", "template_codes": ["room-daily"],
                          "room": "长宁区城运中心机房", "manual_items": ["城运大屏及各业务系统页面显示正常",
                                                                    "核对上一班值班记录与未结工单"],
                          "note": "默认方案：请在“自动巡检”中配置探针后加入本计划。"})
    return 1
