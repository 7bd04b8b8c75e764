"""Console: 硬件维保 (HW, ROOM-2) — the preventive schedule's due list, maintenance work with
ticket and spare parts, the spares inventory with its movements, and warranty tracking."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from cityops.auth.deps import ASSET_WRITERS, REF_WRITERS, STAFF, DbSession
from cityops.catalog import hw_service, service
from cityops.catalog.hw_models import INTERVAL_UNITS, MOVEMENT_REASONS
from cityops.catalog.models import MAINTENANCE_KINDS
from cityops.catalog.pages import KIND_LABELS
from cityops.core.errors import Invalid, Problem
from cityops.core.timeutil import local, utcnow
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
URL = "/console/hardware/maintenance"
Viewer = Annotated[ConsoleUser, Depends(require_console(*STAFF))]
Planner = Annotated[ConsoleUser, Depends(require_console(*REF_WRITERS))]
Worker = Annotated[ConsoleUser, Depends(require_console(*ASSET_WRITERS))]
F = Annotated[str, Form()]
DUE_WINDOW = 30


def page(request: Request, session: Session, user: ConsoleUser, *, flash: str = "", flash_kind: str = "ok",
         status_code: int = 200, form: dict | None = None):
    today = local(utcnow()).date()
    lines = service.list_hardware_lines(session)
    assets, _ = service.list_assets(session, limit=1000)
    parts = hw_service.list_parts(session)
    return render(request, "catalog/hw_maintenance.html", user, "hw-maintenance", status_code=status_code,
                  today=today, lines=lines, line_by_id={ln.id: ln for ln in lines}, assets=assets,
                  asset_by_id={a.id: a for a in assets}, schedules=hw_service.list_schedules(session),
                  due=hw_service.due_list(session, today=today, within_days=DUE_WINDOW), due_window=DUE_WINDOW,
                  records=hw_service.recent_records(session, limit=30), parts=parts,
                  part_by_id={p.id: p for p in parts}, low=[p for p in parts if p.quantity < p.min_stock],
                  movements=hw_service.list_movements(session, limit=50),
                  warranty=hw_service.warranty_buckets(session, today=today), units=INTERVAL_UNITS,
                  reasons=MOVEMENT_REASONS, kinds=MAINTENANCE_KINDS, kind_labels=KIND_LABELS,
                  can_plan=user.can(*REF_WRITERS), can_work=user.can(*ASSET_WRITERS), form=form or {},
                  flash=flash or request.query_params.get("flash", ""), flash_kind=flash_kind)


@router.get(URL)
def maintenance_page(request: Request, session: DbSession, user: Viewer):
    return page(request, session, user)


def _do(request: Request, session: Session, user: ConsoleUser, csrf: str, action: Callable[[], str],
        form: dict | None = None):
    check_csrf(csrf, user)
    try:
        ok = action()
    except (Problem, ValueError) as exc:
        session.rollback()
        msg = exc.detail if isinstance(exc, Problem) else f"格式不正确：{exc}"
        return page(request, session, user, flash=f"保存失败：{msg}", flash_kind="err", form=form,
                    status_code=exc.status if isinstance(exc, Problem) else 422)
    return RedirectResponse(f"{URL}?flash={quote(ok)}", status_code=303)


def _int(value: str, what: str, *, optional: bool = False) -> int | None:
    value = value.strip()
    if not value and optional:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise Invalid(f"{what}须为整数：{value!r}") from exc


@router.post(URL + "/schedules")
def add_schedule(request: Request, session: DbSession, user: Planner, csrf: F, line_id: F, interval: F,
                 first_due: F, unit: F = "month", checklist: F = ""):
    def act():
        try:
            due = date.fromisoformat(first_due.strip())
        except ValueError as exc:
            raise Invalid(f"首次到期日期格式不正确：{first_due!r}") from exc
        sch = hw_service.create_schedule(session, line_id=_int(line_id, "清单行"), interval=_int(interval, "周期"),
                                         unit=unit, checklist=checklist, first_due=due)
        return f"已添加维保计划（每 {sch.interval} {INTERVAL_UNITS[sch.unit]}）"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/schedules/{schedule_id}/delete")
def remove_schedule(schedule_id: int, request: Request, session: DbSession, user: Planner, csrf: F):
    return _do(request, session, user, csrf,
               lambda: hw_service.delete_schedule(session, schedule_id) or "已删除维保计划")


@router.post(URL + "/work")
def add_work(request: Request, session: DbSession, user: Worker, csrf: F, asset_id: F, kind: F, summary: F = "",
             performed_by: F = "", performed_at: F = "", result: F = "", ticket_id: F = "", part_id: F = "",
             part_qty: F = ""):
    fields = {"asset_id": asset_id, "kind": kind, "summary": summary, "performed_by": performed_by,
              "performed_at": performed_at, "result": result, "ticket_id": ticket_id, "part_id": part_id,
              "part_qty": part_qty}

    def act():
        try:
            at = datetime.fromisoformat(performed_at.strip()) if performed_at.strip() else None
        except ValueError as exc:
            raise Invalid(f"维护时间格式不正确：{performed_at!r}") from exc
        parts = []
        if part_id.strip():
            parts.append((_int(part_id, "备件"), _int(part_qty or "1", "领用数量")))
        record = hw_service.record_work(
            session, _int(asset_id, "设备"), kind=kind, summary=summary,
            performed_by=performed_by.strip() or user.display_name or user.username, performed_at=at,
            result=result, ticket_id=_int(ticket_id, "工单号", optional=True), parts=parts,
            created_by=user.username)
        return f"已记录{KIND_LABELS.get(record.kind, record.kind)}（#{record.id}），已写入维护日志"
    return _do(request, session, user, csrf, act, form={"work": fields})


@router.post(URL + "/spares")
def add_part(request: Request, session: DbSession, user: Worker, csrf: F, name: F, model: F = "", line_id: F = "",
             quantity: F = "0", location: F = "", min_stock: F = "0"):
    def act():
        p = hw_service.create_part(session, name=name, model=model, line_id=_int(line_id, "适用设备", optional=True),
                                   quantity=_int(quantity or "0", "数量"), location=location,
                                   min_stock=_int(min_stock or "0", "最低库存"), by=user.username)
        return f"已添加备件「{p.name}」"
    return _do(request, session, user, csrf, act)


@router.post(URL + "/spares/{part_id}/movements")
def add_movement(part_id: int, request: Request, session: DbSession, user: Worker, csrf: F, direction: F,
                 quantity: F, reason: F, note: F = ""):
    def act():
        qty = _int(quantity, "数量")
        if qty is None or qty <= 0:
            raise Invalid("数量须为正整数")
        m = hw_service.move_stock(session, part_id, delta=qty if direction == "in" else -qty, reason=reason,
                                  note=note, by=user.username)
        return f"已{'入库' if m.delta > 0 else '出库'} {abs(m.delta)}，结存 {m.quantity_after}"
    return _do(request, session, user, csrf, act)
