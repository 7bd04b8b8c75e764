"""Console pages 自动巡检 (OPS-1): `/console/probes` — the probes, failing first, with state,
last latency and check time; filters; a create/edit form whose option fields follow the chosen
kind; 立即执行 showing the result — and `/console/probes/{id}`: the latency chart over the
history (ECharts), the result table, what the probe is attached to and its open finding."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.catalog.models import Asset, Module, System
from cityops.core.errors import Problem
from cityops.core.timeutil import local
from cityops.inspections import findings, probe_service as svc, probes
from cityops.inspections.finding_models import FINDING_SEVERITIES
from cityops.inspections.probe_models import PROBE_STATES
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
EDITORS = ("admin", "manager")
RUNNERS = ("admin", "manager", "duty", "technician")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Editor_ = Annotated[ConsoleUser, Depends(require_console(*EDITORS))]
Runner_ = Annotated[ConsoleUser, Depends(require_console(*RUNNERS))]
URL = "/console/probes"
FIELDS = ("name", "kind", "target", "interval_s", "timeout_s", "system_code", "module_id", "asset_id", "severity",
          "ticket_policy", "fail_after", "note")


def _choices(session) -> dict[str, Any]:
    return {"systems": list(session.execute(select(System.code, System.name).order_by(System.seq))),
            "modules": list(session.execute(select(Module.id, System.code, Module.name).join(System)
                                            .order_by(System.seq, Module.seq))),
            "assets": list(session.execute(select(Asset.id, Asset.asset_tag, Asset.name).order_by(Asset.asset_tag)))}


def _page(request: Request, session, user: ConsoleUser, *, filters: dict[str, str], edit: int | None = None,
          form: dict[str, Any] | None = None, flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    rows, total = svc.list_probes(session, kind=filters.get("kind") or None, state=filters.get("state") or None,
                                  system_code=filters.get("system") or None, q=filters.get("q") or None, limit=500)
    editing = svc.get_probe(session, edit) if edit else None
    if editing is not None and form is None:
        form = {k: getattr(editing, k) for k in FIELDS} | {"enabled": editing.enabled,
                                                           "options": dict(editing.options or {}),
                                                           "secrets_set": sorted(editing.secrets or {})}
    counts = {s: sum(1 for p in rows if p.state == s) for s in PROBE_STATES}
    return render(request, "inspections/probes.html", user, "probes", status_code=status_code, rows=rows, total=total,
                  counts=counts, filters=filters, editing=editing, kinds=probes.kinds(),
                  form=form or {"kind": "http", "interval_s": 300, "timeout_s": 10, "severity": "major",
                                "ticket_policy": "major", "fail_after": 2, "enabled": True, "options": {}},
                  can_edit=user.can(*EDITORS), can_run=user.can(*RUNNERS), STATES=PROBE_STATES,
                  SEVERITIES=FINDING_SEVERITIES, POLICIES=findings.TICKET_POLICIES,
                  KIND_LABELS={k["kind"]: k["label"] for k in probes.kinds()}, notice=flash, notice_kind=flash_kind,
                  **_choices(session))


def _back(msg: str, kind: str = "ok", to: str = URL) -> RedirectResponse:
    path, _, anchor = to.partition("#")
    return RedirectResponse(f"{path}?flash={quote(msg)}&fk={kind}{'#' + anchor if anchor else ''}", status_code=303)


@router.get(URL)
def probes_page(request: Request, session: DbSession, user: Reader_, edit: int | None = None):
    q = request.query_params
    filters = {k: q.get(k, "") for k in ("kind", "state", "system", "q")}
    try:
        return _page(request, session, user, filters=filters, edit=edit if user.can(*EDITORS) else None,
                     flash=q.get("flash", ""), flash_kind="err" if q.get("fk") == "error" else "ok")
    except Problem as exc:
        return _page(request, session, user, filters={}, flash=exc.detail, flash_kind="err", status_code=exc.status)


async def _form(request: Request) -> dict[str, Any]:
    """The form's fields; the options are those of the chosen kind (`opt.<kind>.<name>`)."""
    raw = await request.form()
    data: dict[str, Any] = {k: str(raw.get(k, "")).strip() for k in FIELDS}
    data["csrf"] = str(raw.get("csrf", ""))
    data["enabled"] = bool(raw.get("enabled"))
    prefix = f"opt.{data['kind']}."
    data["options"] = {k[len(prefix):]: str(v) for k, v in raw.items() if k.startswith(prefix) and str(v) != ""}
    return data


def _typed(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: data[k] for k in ("name", "kind", "target", "severity", "ticket_policy", "note")}
    out.update(options=data["options"], enabled=data["enabled"], system_code=data["system_code"] or None)
    for k, cast, label in (("interval_s", int, "执行间隔"), ("timeout_s", float, "超时"), ("fail_after", int, "连续失败次数"),
                           ("module_id", int, "模块"), ("asset_id", int, "设备资产")):
        if data[k] == "":
            out[k] = None
            continue
        try:
            out[k] = cast(data[k])
        except ValueError:
            from cityops.core.errors import Invalid

            raise Invalid(f"{label}应为数字，收到 {data[k]!r}") from None
    return {k: v for k, v in out.items() if v is not None or k in ("system_code", "module_id", "asset_id")}


@router.post(URL)
async def create_page(request: Request, session: DbSession, user: Editor_):
    data = await _form(request)
    check_csrf(data["csrf"], user)
    try:
        p = svc.create_probe(session, _typed(data), actor=user.username)
    except Problem as exc:
        return _page(request, session, user, filters={}, form=data, flash=f"未能添加：{exc.detail}", flash_kind="err",
                     status_code=422)
    return _back(f"已添加探针「{p.name}」，可点“立即执行”确认", to=f"{URL}#probe-{p.id}")


@router.post(URL + "/{probe_id}")
async def update_page(request: Request, probe_id: int, session: DbSession, user: Editor_):
    data = await _form(request)
    check_csrf(data["csrf"], user)
    try:
        changes = _typed(data)
        changes.pop("kind", None)
        p = svc.update_probe(session, probe_id, changes)
    except Problem as exc:
        if exc.status == 404:
            return _back(exc.detail, "error")
        return _page(request, session, user, filters={}, edit=probe_id, form=data, flash=f"未能保存：{exc.detail}",
                     flash_kind="err", status_code=422)
    return _back(f"已保存「{p.name}」")


@router.post(URL + "/{probe_id}/delete")
async def delete_page(request: Request, probe_id: int, session: DbSession, user: Editor_):
    check_csrf(str((await request.form()).get("csrf", "")), user)
    try:
        svc.delete_probe(session, probe_id)
    except Problem as exc:
        return _back(exc.detail, "error")
    return _back("已删除该探针及其历史记录")


@router.post(URL + "/{probe_id}/run")
async def run_page(request: Request, probe_id: int, session: DbSession, user: Runner_):
    form = await request.form()
    check_csrf(str(form.get("csrf", "")), user)
    back = f"{URL}/{probe_id}" if form.get("back") == "detail" else f"{URL}#probe-{probe_id}"
    try:
        r = svc.run_probe_now(session, probe_id, actor=user.username)
        name = svc.get_probe(session, probe_id).name
    except Problem as exc:
        return _back(exc.detail, "error")
    latency = f"（{r.latency_ms:.0f} ms）" if r.latency_ms is not None else ""
    return _back(f"「{name}」{'正常' if r.ok else '异常'}{latency}：{r.detail}", "ok" if r.ok else "error", back)


@router.get(URL + "/{probe_id}")
def detail_page(request: Request, probe_id: int, session: DbSession, user: Reader_, page: int = 1):
    p = svc.get_probe(session, probe_id)
    page = max(page, 1)
    rows, total = svc.history(session, probe_id, limit=50, offset=(page - 1) * 50)
    chart_rows, _ = svc.history(session, probe_id, limit=500)
    chart = {"at": [local(r.at).strftime("%m-%d %H:%M:%S") for r in reversed(chart_rows)],
             "latency": [r.latency_ms if r.ok else None for r in reversed(chart_rows)],
             "failed": [[local(r.at).strftime("%m-%d %H:%M:%S"), 0] for r in reversed(chart_rows) if not r.ok]}
    module = session.get(Module, p.module_id) if p.module_id else None
    asset = session.get(Asset, p.asset_id) if p.asset_id else None
    system = session.scalar(select(System).where(System.code == p.system_code)) if p.system_code else None
    q = request.query_params
    return render(request, "inspections/probe_detail.html", user, "probes", p=p, rows=rows, total=total, page=page,
                  pages=max(1, -(-total // 50)), chart=chart, module=module, asset=asset, system=system,
                  finding=findings.open_finding(session, f"probe:{p.id}"), STATES=PROBE_STATES,
                  KIND_LABELS={k["kind"]: k["label"] for k in probes.kinds()}, SEVERITIES=FINDING_SEVERITIES,
                  POLICIES=findings.TICKET_POLICIES, can_run=user.can(*RUNNERS), can_edit=user.can(*EDITORS),
                  notice=q.get("flash", ""), notice_kind="err" if q.get("fk") == "error" else "ok")
