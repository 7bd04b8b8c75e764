"""Console page 派单规则 (SYS-DISPATCH): the routing rules in the order they are tried, a form
to add or edit one, enable/disable and delete, and a 试算 form that explains which unit an
event would go to without saving anything."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.events import routing
from cityops.events.routing_models import AREA_LABELS
from cityops.geo.models import ResponsibleUnit, Street
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]


def _page(request: Request, session, user: ConsoleUser, *, edit: int | None = None,
          form: dict[str, Any] | None = None, preview: dict[str, str] | None = None, flash: str = "",
          flash_kind: str = "ok", status_code: int = 200):
    rows = routing.list_rules(session)
    if edit is not None and form is None:
        r = next((x for x in rows if x.id == edit), None)
        if r is not None:
            form = {f: getattr(r, f) for f in routing.FIELDS} | {"rule_id": r.id}
    units = list(session.scalars(select(ResponsibleUnit).order_by(ResponsibleUnit.kind.desc(),
                                                                  ResponsibleUnit.code)))
    decision = None
    preview = preview or {}
    if preview.get("category"):
        decision = routing.decide(session, category_code=preview["category"],
                                  street_code=preview.get("street") or None, grid_code=preview.get("grid") or None)
    return render(request, "events/routing.html", user, "routing", status_code=status_code, rows=rows,
                  units={u.id: u for u in units}, unit_list=[u for u in units if u.active],
                  streets=list(session.scalars(select(Street).order_by(Street.code))),
                  scope_label=routing.scope_label, area_labels=AREA_LABELS, can_edit=user.can(*WRITERS),
                  form=form or {"area_kind": "any", "priority": 0, "enabled": True}, preview=preview,
                  decision=decision, flash=flash, flash_kind=flash_kind)


def _back(msg: str) -> RedirectResponse:
    return RedirectResponse(f"/console/routing?flash={quote(msg)}", status_code=303)


@router.get("/console/routing")
def routing_page(request: Request, session: DbSession, user: Reader_, edit: int | None = None,
                 category: str = "", street: str = "", grid: str = ""):
    preview = {"category": category.strip(), "street": street.strip(), "grid": grid.strip()}
    return _page(request, session, user, edit=edit, preview=preview, flash=request.query_params.get("flash", ""))


@router.post("/console/routing")
def save_rule(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
              category_prefix: Annotated[str, Form()] = "", area_kind: Annotated[str, Form()] = "any",
              area_code: Annotated[str, Form()] = "", unit_id: Annotated[str, Form()] = "",
              priority: Annotated[str, Form()] = "0", enabled: Annotated[str, Form()] = "",
              note: Annotated[str, Form()] = "", rule_id: Annotated[str, Form()] = ""):
    """Create a rule, or change one (rule_id given)."""
    check_csrf(csrf, user)
    raw = {"category_prefix": category_prefix, "area_kind": area_kind, "area_code": area_code,
           "unit_id": unit_id, "priority": priority, "enabled": bool(enabled), "note": note, "rule_id": rule_id}
    try:
        try:
            values = {"category_prefix": category_prefix, "area_kind": area_kind,
                      "area_code": "" if area_kind == "any" else area_code, "unit_id": int(unit_id),
                      "priority": int(priority.strip() or 0), "enabled": bool(enabled), "note": note}
        except ValueError:
            raise ValueError("请选择责任单位，优先级需要是整数") from None
        if rule_id.strip():
            r = routing.update_rule(session, int(rule_id), **values)
            msg = f"已保存派单规则 #{r.id}"
        else:
            r = routing.create_rule(session, created_by=user.username, **values)
            msg = f"已创建派单规则 #{r.id}"
    except (Problem, ValueError) as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, Problem) else str(exc)
        return _page(request, session, user, form=raw, flash=f"保存失败：{detail}", flash_kind="err",
                     status_code=422)
    return _back(msg)


@router.post("/console/routing/{rule_id:int}/toggle")
def toggle_rule(rule_id: int, request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        r = routing.get_rule(session, rule_id)
        routing.update_rule(session, rule_id, enabled=not r.enabled)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, flash=f"操作失败：{exc.detail}", flash_kind="err",
                     status_code=exc.status)
    return _back(f"已{'启用' if r.enabled else '停用'}派单规则 #{rule_id}")


@router.post("/console/routing/{rule_id:int}/delete")
def delete_rule(rule_id: int, request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        routing.delete_rule(session, rule_id)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, flash=f"删除失败：{exc.detail}", flash_kind="err",
                     status_code=exc.status)
    return _back(f"已删除派单规则 #{rule_id}")
