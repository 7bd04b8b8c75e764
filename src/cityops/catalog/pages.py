"""Console pages for the maintained systems (SYS-*) and the machine-room hardware (HW)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from cityops.auth.deps import ASSET_WRITERS, STAFF, DbSession
from cityops.catalog import service
from cityops.catalog.models import ASSET_STATUS, CRITICALITY, MAINTENANCE_KINDS
from cityops.core.errors import Invalid, Problem
from cityops.core.timeutil import local, utcnow
from cityops.web.shell import ConsoleUser, check_csrf, console_user, render, require_console

router = APIRouter(include_in_schema=False)
Viewer = Annotated[ConsoleUser, Depends(console_user)]
HardwareViewer = Annotated[ConsoleUser, Depends(require_console(*STAFF))]
AssetEditor = Annotated[ConsoleUser, Depends(require_console(*ASSET_WRITERS))]

CRITICALITY_LABELS = {"high": "高", "medium": "中", "low": "低"}
STATUS_LABELS = {"in_service": "在用", "spare": "备用", "faulty": "故障", "under_repair": "维修中", "retired": "已退役"}
STATUS_BADGES = {"in_service": "ok", "spare": "", "faulty": "err", "under_repair": "warn", "retired": ""}
KIND_LABELS = {"inspection": "巡检", "preventive": "预防性维护", "repair": "维修", "replacement": "更换", "firmware": "固件升级",
               "configuration": "配置变更", "other": "其他"}
WARRANTY_DAYS = 60
LABELS = {"criticality_labels": CRITICALITY_LABELS, "status_labels": STATUS_LABELS, "status_badges": STATUS_BADGES,
          "kind_labels": KIND_LABELS, "criticalities": CRITICALITY, "statuses": ASSET_STATUS,
          "kinds": MAINTENANCE_KINDS}


def _sections(modules) -> list[tuple[str, list]]:
    """Consecutive modules of the same seed group, in seed order (e.g. 场景算法)."""
    groups: list[tuple[str, list]] = []
    for m in modules:
        if not groups or groups[-1][0] != m.section:
            groups.append((m.section, []))
        groups[-1][1].append(m)
    return groups


@router.get("/console/systems")
def systems_page(request: Request, session: DbSession, user: Viewer):
    """The ten maintained 3.0 systems and their modules (SYS-DUTY … SYS-LZM)."""
    systems = [(s, _sections(s.modules)) for s in service.list_systems(session)]
    return render(request, "catalog/systems.html", user, "systems", systems=systems, **LABELS)


@router.get("/console/hardware")
def hardware_page(request: Request, session: DbSession, user: HardwareViewer, line: str = "", status: str = "",
                  q: str = "", flash: str = ""):
    """The 19 hardware lines and their units, filtered by line and status (HW)."""
    line_seq = int(line) if line.isdigit() else None
    status = status if status in ASSET_STATUS else ""
    lines = service.list_hardware_lines(session)
    assets, total = service.list_assets(session, line_seq=line_seq, status=status or None, q=q or None,
                                        limit=1000)
    today = local(utcnow()).date()
    expiring = service.warranty_report(session, today=today, days=WARRANTY_DAYS)
    return render(request, "catalog/hardware.html", user, "hardware", lines=lines, assets=assets, total=total,
                  line=line_seq, status=status, q=q, expiring=expiring, warranty_days=WARRANTY_DAYS, today=today,
                  flash=flash, **LABELS)


def _asset_page(request: Request, session: Session, user: ConsoleUser, asset_id: int, *, flash: str = "",
                flash_kind: str = "ok", status_code: int = 200, form: dict | None = None):
    asset = service.get_asset(session, asset_id)
    records = service.list_maintenance_records(session, asset_id)
    return render(request, "catalog/asset.html", user, "hardware", status_code=status_code, asset=asset,
                  records=records, form=form or {}, can_edit=user.can(*ASSET_WRITERS), flash=flash,
                  flash_kind=flash_kind, today=local(utcnow()).date(), **LABELS)


@router.get("/console/hardware/assets/{asset_id}")
def asset_page(request: Request, session: DbSession, user: HardwareViewer, asset_id: int, flash: str = ""):
    """One unit: its details, maintenance history and (for writers) the edit forms (HW)."""
    return _asset_page(request, session, user, asset_id, flash=flash)


@router.post("/console/hardware/assets/{asset_id}")
def asset_update(request: Request, session: DbSession, user: AssetEditor, asset_id: int,
                 csrf: Annotated[str, Form()] = "", serial: Annotated[str, Form()] = "",
                 rack: Annotated[str, Form()] = "", ip_address: Annotated[str, Form()] = "",
                 status: Annotated[str, Form()] = "", warranty_start: Annotated[str, Form()] = "",
                 warranty_end: Annotated[str, Form()] = "", notes: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    fields = {"serial": serial, "rack": rack, "ip_address": ip_address, "status": status,
              "warranty_start": warranty_start, "warranty_end": warranty_end, "notes": notes}
    try:
        asset = service.update_asset(session, asset_id, **fields)
    except Problem as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _asset_page(request, session, user, asset_id, flash=f"保存失败：{exc.detail}", flash_kind="err",
                           status_code=exc.status, form={"edit": fields})
    return RedirectResponse(f"/console/hardware/assets/{asset.id}?flash=已保存：{asset.asset_tag}", status_code=303)


@router.post("/console/hardware/assets/{asset_id}/maintenance")
def maintenance_add(request: Request, session: DbSession, user: AssetEditor, asset_id: int,
                    csrf: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "",
                    summary: Annotated[str, Form()] = "", performed_by: Annotated[str, Form()] = "",
                    performed_at: Annotated[str, Form()] = "", result: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    fields = {"kind": kind, "summary": summary, "performed_by": performed_by, "performed_at": performed_at,
              "result": result}
    try:
        try:  # a datetime-local value, read as Shanghai time by the service
            at = datetime.fromisoformat(performed_at.strip()) if performed_at.strip() else None
        except ValueError as exc:
            raise Invalid(f"维护时间格式不正确：{performed_at!r}") from exc
        service.add_maintenance_record(session, asset_id, kind=kind, summary=summary,
                                       performed_by=performed_by.strip() or user.display_name or user.username,
                                       performed_at=at, result=result, created_by=user.username)
    except Problem as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _asset_page(request, session, user, asset_id, flash=f"记录失败：{exc.detail}", flash_kind="err",
                           status_code=exc.status, form={"record": fields})
    return RedirectResponse(f"/console/hardware/assets/{asset_id}?flash=已添加维护记录", status_code=303)


# HW, ROOM-2: /console/hardware/maintenance (catalog/hw_pages.py).
from cityops.catalog.hw_pages import router as _hw_pages  # noqa: E402

router.include_router(_hw_pages)
