"""Console pages for device metadata quality (IOT-1 设备元数据纠错): the findings list with
bulk accept/reject, the data-quality scores, and the road/place gazetteer.

Paths live under /console/device-quality so they never collide with /console/devices/{id}.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import REF_WRITERS, DbSession
from cityops.core.errors import Problem
from cityops.devices import checks, quality
from cityops.devices.models import DEVICE_TYPES, Device
from cityops.devices.quality_api import DECIDERS
from cityops.devices.quality_models import (FINDING_STATE_LABELS, FINDING_STATES, GAZETTEER_KIND_LABELS,
                                            SEVERITY_LABELS, SEVERITIES)
from cityops.geo import service as geo
from cityops.web.shell import ConsoleUser, check_csrf, console_user, render, require_console

router = APIRouter(include_in_schema=False)
BASE = "/console/device-quality"
PAGE = 50
User_ = Annotated[ConsoleUser, Depends(console_user)]
Decider = Annotated[ConsoleUser, Depends(require_console(*DECIDERS))]
Editor = Annotated[ConsoleUser, Depends(require_console(*REF_WRITERS))]
FILTERS = ("check", "state", "street", "vendor", "severity")


def _labels() -> dict:
    return {"check_labels": checks.CHECK_LABELS, "state_labels": FINDING_STATE_LABELS, "states": FINDING_STATES,
            "severity_labels": SEVERITY_LABELS, "severities": SEVERITIES, "types": DEVICE_TYPES,
            "kind_labels": GAZETTEER_KIND_LABELS}


def _back(args: dict[str, str], **extra: str) -> str:
    """The findings page URL with the same filters (only known keys travel)."""
    q = {k: v for k, v in args.items() if k in (*FILTERS, "page") and v}
    q.update({k: v for k, v in extra.items() if v})
    return f"{BASE}?{urlencode(q)}" if q else BASE


@router.get(BASE)
def findings_page(request: Request, session: DbSession, user: User_, check: str = "", state: str = "open",
                  street: str = "", vendor: str = "", severity: str = "", page: int = 1, flash: str = "",
                  flash_kind: str = "ok"):
    """Findings with filters; deciders select rows and accept or reject them in bulk (IOT-1)."""
    args = {"check": check if check in checks.CHECKS else "", "state": state if state in FINDING_STATES else "",
            "street": street, "vendor": vendor, "severity": severity if severity in SEVERITIES else ""}
    page = max(page, 1)
    rows, total = quality.list_findings(session, scope=user.street_scope, limit=PAGE, offset=(page - 1) * PAGE,
                                        **{k: (v or None) for k, v in args.items()})
    labeller = quality.Labeller(session)
    items = [{"f": f, "d": d, "changes": labeller.changes(f, d)} for f, d in rows]
    streets = geo.list_streets(session, scope=user.street_scope)
    vendors = sorted({v for v in session.scalars(select(Device.vendor).distinct()) if v})
    summary = quality.counts(session, scope=user.street_scope)
    return render(request, "devices/quality.html", user, "quality", items=items, total=total, page=page,
                  size=PAGE, args=args, streets=streets, vendors=vendors, summary=summary,
                  street_names={s.code: s.name for s in streets}, can_decide=user.can(*DECIDERS),
                  back_args=urlencode({k: v for k, v in args.items() if v}), flash=flash, flash_kind=flash_kind,
                  **_labels())


def _decide(session, action: str, ids: list[int], note: str, args: dict[str, str]):
    try:
        if action == "accept":
            result = quality.accept(session, ids, note)
            msg = f"已采纳 {len(result['accepted'])} 条纠错建议"
            if result["skipped"]:
                msg += f"；{len(result['skipped'])} 条因设备数据已变化而跳过（已重新检查）"
        else:
            result = quality.reject(session, ids, note)
            msg = f"已驳回 {len(result['rejected'])} 条"
    except Problem as exc:
        session.rollback()
        return RedirectResponse(_back(args, flash=f"操作失败：{exc.detail}", flash_kind="err"), status_code=303)
    return RedirectResponse(_back(args, flash=msg), status_code=303)


def _form_args(check: str, state: str, street: str, vendor: str, severity: str, page: str) -> dict[str, str]:
    return {"check": check, "state": state, "street": street, "vendor": vendor, "severity": severity, "page": page}


@router.post(BASE + "/accept")
def accept_findings(session: DbSession, user: Decider, csrf: Annotated[str, Form()] = "",
                    ids: Annotated[list[int], Form()] = [], note: Annotated[str, Form()] = "",  # noqa: B006
                    check: Annotated[str, Form()] = "", state: Annotated[str, Form()] = "",
                    street: Annotated[str, Form()] = "", vendor: Annotated[str, Form()] = "",
                    severity: Annotated[str, Form()] = "", page: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    return _decide(session, "accept", ids, note, _form_args(check, state, street, vendor, severity, page))


@router.post(BASE + "/reject")
def reject_findings(session: DbSession, user: Decider, csrf: Annotated[str, Form()] = "",
                    ids: Annotated[list[int], Form()] = [], note: Annotated[str, Form()] = "",  # noqa: B006
                    check: Annotated[str, Form()] = "", state: Annotated[str, Form()] = "",
                    street: Annotated[str, Form()] = "", vendor: Annotated[str, Form()] = "",
                    severity: Annotated[str, Form()] = "", page: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    return _decide(session, "reject", ids, note, _form_args(check, state, street, vendor, severity, page))


@router.post(BASE + "/run")
def run_now(session: DbSession, user: Decider, csrf: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    s = checks.run_checks(session)
    msg = (f"检查完成：{s['devices']} 台设备，新增 {s['opened']} 条，保持 {s['kept']} 条，失效 {s['superseded']} 条，"
           f"已驳回未重开 {s['suppressed']} 条（{s['seconds']} 秒）")
    return RedirectResponse(_back({"state": "open"}, flash=msg), status_code=303)


@router.get(BASE + "/scores")
def scores_page(request: Request, session: DbSession, user: User_):
    """Data-quality score per street and per vendor, with a bar chart (IOT-1)."""
    data = quality.quality_scores(session, scope=user.street_scope)
    chart = {"streets": [{"name": r["name"], "score": r["score"], "devices": r["devices"]} for r in data["streets"]],
             "vendors": [{"name": r["name"], "score": r["score"], "devices": r["devices"]} for r in data["vendors"]]}
    return render(request, "devices/quality_scores.html", user, "quality", data=data, chart=chart,
                  weights=quality.SEVERITY_WEIGHTS, **_labels())


@router.get(BASE + "/gazetteer")
def gazetteer_page(request: Request, session: DbSession, user: User_, q: str = "", street: str = "",
                   active: str = "1", flash: str = "", flash_kind: str = "ok"):
    """The road/place → street gazetteer used by the address check; managers add and
    deactivate entries (IOT-1)."""
    entries = quality.list_gazetteer(session, q=q or None, street=street or None,
                                     active={"1": True, "0": False}.get(active))
    streets = geo.list_streets(session)
    return render(request, "devices/quality_gazetteer.html", user, "quality", entries=entries, q=q, street=street,
                  active_filter=active, streets=streets, street_names={s.code: s.name for s in streets},
                  can_edit=user.can(*REF_WRITERS), flash=flash, flash_kind=flash_kind, **_labels())


@router.post(BASE + "/gazetteer")
def gazetteer_add(session: DbSession, user: Editor, csrf: Annotated[str, Form()] = "",
                  name: Annotated[str, Form()] = "", street_codes: Annotated[list[str], Form()] = [],  # noqa: B006
                  kind: Annotated[str, Form()] = "road", note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        entries = quality.add_gazetteer(session, name=name, street_codes=street_codes, kind=kind, note=note)
    except Problem as exc:
        session.rollback()
        return RedirectResponse(f"{BASE}/gazetteer?" + urlencode({"flash": f"添加失败：{exc.detail}",
                                                                  "flash_kind": "err"}), status_code=303)
    flash = f"已添加：{entries[0].name}（{len(entries)} 个街镇）"
    return RedirectResponse(f"{BASE}/gazetteer?" + urlencode({"q": entries[0].name, "flash": flash}), status_code=303)


@router.post(BASE + "/gazetteer/{entry_id}/deactivate")
def gazetteer_deactivate(entry_id: int, session: DbSession, user: Editor, csrf: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    e = quality.deactivate_gazetteer(session, entry_id)
    return RedirectResponse(f"{BASE}/gazetteer?" + urlencode({"flash": f"已停用：{e.name}"}), status_code=303)
