"""Device metadata quality service (IOT-1): findings, decisions, scores, gazetteer.

Decisions: `accept` applies a finding's proposed correction through
`devices.service.update_device(..., source="correction")`, so the device gets a new
DeviceVersion and audit entries; `reject` records that a person judged the finding wrong
(the checks do not reopen it while the device's checked values stay the same). Both take
many ids at once.

Data-quality score (`quality_scores`), per street and per vendor, over the devices that
are not retired:

    penalty(device) = max over its open findings of w(severity),  0 without open findings
    w(high) = 1.0,  w(medium) = 0.6,  w(low) = 0.3
    score = 100 × (1 − Σ penalty / number of devices)          (100 when a group has no devices)

so a group whose devices have no open finding scores 100, one where every device has a
high-severity finding scores 0; `clean_share` (devices without open findings / devices)
is reported beside it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.audit.context import current_actor
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.devices import checks, service
from cityops.devices.models import LIFECYCLE_LABELS, Device
from cityops.devices.quality_models import (FINDING_STATES, GAZETTEER_KINDS, SEVERITIES, GazetteerEntry,
                                            MetadataFinding)
from cityops.geo.models import Grid, ResponsibleUnit, Street

SEVERITY_WEIGHTS = {"high": 1.0, "medium": 0.6, "low": 0.3}
SCORE_FORMULA = ("score = 100 × (1 − Σ penalty / devices); penalty = max severity weight of a device's open "
                 "findings (high 1.0, medium 0.6, low 0.3; 0 without open findings); retired devices not counted")
FIELD_LABELS = {"lon": "经度", "lat": "纬度", "street_code": "所属街镇", "grid_code": "责任网格", "unit_id": "责任单位",
                "status": "状态", "address": "地址", "name": "名称"}
MAX_BATCH = 1000


# -- findings ------------------------------------------------------------------------------

def finding_query(*, scope: str | None = None, check: str | None = None, state: str | None = None,
                  street: str | None = None, vendor: str | None = None, severity: str | None = None,
                  device_id: int | None = None):
    """Findings joined with their devices; `scope` confines a street user to the devices of
    their street."""
    if check and check not in checks.CHECKS:
        raise Invalid(f"未知检查项“{check}”；可选检查项：{'、'.join(checks.CHECKS)}")
    if state and state not in FINDING_STATES:
        raise Invalid(f"未知状态“{state}”；可选状态：{'、'.join(FINDING_STATES)}")
    if severity and severity not in SEVERITIES:
        raise Invalid(f"未知风险等级“{severity}”；可选：{'、'.join(SEVERITIES)}")
    stmt = select(MetadataFinding, Device).join(Device, Device.id == MetadataFinding.device_id)
    if scope:
        stmt = stmt.where(Device.street_code == scope)
    if check:
        stmt = stmt.where(MetadataFinding.check == check)
    if state:
        stmt = stmt.where(MetadataFinding.state == state)
    if street:
        stmt = stmt.where(Device.street_code == street)
    if vendor:
        stmt = stmt.where(Device.vendor == vendor)
    if severity:
        stmt = stmt.where(MetadataFinding.severity == severity)
    if device_id:
        stmt = stmt.where(MetadataFinding.device_id == device_id)
    return stmt


def list_findings(session: Session, *, limit: int = 50, offset: int = 0,
                  **filters: Any) -> tuple[list[tuple[MetadataFinding, Device]], int]:
    stmt = finding_query(**filters)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.execute(stmt.order_by(MetadataFinding.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def get_finding(session: Session, finding_id: int, *, scope: str | None = None) -> MetadataFinding:
    f = session.get(MetadataFinding, finding_id)
    if f is None:
        raise NotFound(f"纠错记录 #{finding_id} 不存在")
    if scope:
        device = session.get(Device, f.device_id)
        if device is None or device.street_code != scope:
            raise NotFound(f"纠错记录 #{finding_id} 不存在")
    return f


def counts(session: Session, *, scope: str | None = None) -> dict[str, dict[str, int]]:
    """Open findings per check and per severity (for page headers)."""
    stmt = (select(MetadataFinding.check, MetadataFinding.severity, func.count())
            .join(Device, Device.id == MetadataFinding.device_id).where(MetadataFinding.state == "open")
            .group_by(MetadataFinding.check, MetadataFinding.severity))
    if scope:
        stmt = stmt.where(Device.street_code == scope)
    by_check: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for check, severity, n in session.execute(stmt):
        by_check[check] = by_check.get(check, 0) + n
        by_severity[severity] = by_severity.get(severity, 0) + n
    return {"by_check": by_check, "by_severity": by_severity}


def _ids(finding_ids: list[int]) -> list[int]:
    ids = sorted({int(i) for i in finding_ids})
    if not ids:
        raise Invalid("未提供纠错记录 ID")
    if len(ids) > MAX_BATCH:
        raise Invalid(f"一次最多处理 {MAX_BATCH} 条纠错记录")
    return ids


def _load_open(session: Session, ids: list[int]) -> list[MetadataFinding]:
    found = {f.id: f for f in session.scalars(select(MetadataFinding).where(MetadataFinding.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"纠错记录 {'、'.join(f'#{i}' for i in missing)} 不存在")
    closed = [f"#{f.id}（{f.state}）" for f in found.values() if f.state != "open"]
    if closed:
        raise Conflict(f"只能处理待处理的纠错记录；以下已处理过：{'、'.join(closed)}")
    return [found[i] for i in ids]


def _stale(device: Device, finding: MetadataFinding) -> bool:
    """Did any value the check read change since the finding was made?"""
    checked = (finding.details or {}).get("checked") or {}
    fields = checks.CHECKED_FIELDS.get(finding.check, ())
    return any(f in checked and getattr(device, f) != checked[f] for f in fields)


def accept(session: Session, finding_ids: list[int], note: str = "") -> dict[str, Any]:
    """Apply the proposed corrections of open findings (IOT-1). Each change is written by
    update_device with reason "元数据纠错 #id: …" and source "correction" (a DeviceVersion
    plus audit entries). Findings without a proposal cannot be accepted. A finding whose
    device changed since the check is skipped (and re-checked) rather than applied blindly;
    one whose proposal an earlier finding of the batch already applied is simply accepted.
    Returns {"accepted": [ids], "skipped": [{"id", "reason"}]}."""
    ids = _ids(finding_ids)
    findings = _load_open(session, ids)
    without = [f"#{f.id}" for f in findings if not f.proposed]
    if without:
        raise Invalid(f"没有纠错建议的记录不能采纳：{'、'.join(without)}；"
                      f"请手工修改设备，或驳回该纠错记录")
    actor = current_actor(session).name
    note = (note or "").strip()[:512]
    accepted, skipped, touched = [], [], set()
    for f in findings:
        device = service.get_device(session, f.device_id)
        pending = {k: v for k, v in f.proposed.items() if getattr(device, k) != v}
        if pending and _stale(device, f):
            skipped.append({"id": f.id, "reason": "设备数据在检查之后已变化，已重新检查，请按最新结果处理"})
            touched.add(device.id)
            continue
        if pending:
            reason = f"元数据纠错 #{f.id}: {checks.CHECK_LABELS.get(f.check, f.check)}"
            if note:
                reason += f"（{note}）"
            service.update_device(session, device.id, reason=reason[:256], source="correction", **pending)
            touched.add(device.id)
        f.state, f.decided_at, f.decided_by, f.decision_note = "accepted", utcnow(), actor, note
        accepted.append(f.id)
    session.flush()
    if touched:  # other findings of these devices may be resolved (or changed) by now
        checks.check_devices(session, touched)
    return {"accepted": accepted, "skipped": skipped}


def reject(session: Session, finding_ids: list[int], note: str = "") -> dict[str, Any]:
    """Record that the findings are wrong; the checks will not reopen them while the
    device's checked values stay as they are (IOT-1)."""
    ids = _ids(finding_ids)
    findings = _load_open(session, ids)
    actor = current_actor(session).name
    now = utcnow()
    for f in findings:
        f.state, f.decided_at, f.decided_by, f.decision_note = "rejected", now, actor, (note or "").strip()[:512]
    session.flush()
    return {"rejected": [f.id for f in findings]}


# -- display -------------------------------------------------------------------------------

class Labeller:
    """Readable labels for field values (street/grid/unit names, statuses)."""

    def __init__(self, session: Session):
        self.streets = {c: n for c, n in session.execute(select(Street.code, Street.name))}
        self.grids = {c: n for c, n in session.execute(select(Grid.code, Grid.name))}
        self.units = {i: n for i, n in session.execute(select(ResponsibleUnit.id, ResponsibleUnit.name))}

    def value(self, fieldname: str, v: Any) -> str:
        if v is None or v == "":
            return "（空）"
        if fieldname == "street_code":
            return f"{self.streets.get(v, v)}"
        if fieldname == "grid_code":
            return f"{self.grids.get(v, v)}"
        if fieldname == "unit_id":
            return self.units.get(v, str(v))
        if fieldname == "status":
            return LIFECYCLE_LABELS.get(v, v)
        if fieldname in ("lon", "lat") and isinstance(v, float):
            return f"{v:.6f}"
        return str(v)

    def changes(self, finding: MetadataFinding, device: Device | None) -> list[dict[str, Any]]:
        """[{"field", "label", "before", "after", "before_text", "after_text"}] for the proposal;
        "before" is the device's current value."""
        out = []
        for k, after in (finding.proposed or {}).items():
            before = getattr(device, k, None) if device is not None else None
            out.append({"field": k, "label": FIELD_LABELS.get(k, k), "before": before, "after": after,
                        "before_text": self.value(k, before), "after_text": self.value(k, after)})
        return out


# -- scores --------------------------------------------------------------------------------

def _group(stats: dict, key: Any, penalty: float, n_open: int, worst: str | None) -> None:
    s = stats.setdefault(key, {"devices": 0, "clean": 0, "penalty": 0.0, "open_findings": 0,
                               "by_severity": {k: 0 for k in SEVERITIES}})
    s["devices"] += 1
    s["clean"] += 0 if n_open else 1
    s["penalty"] += penalty
    s["open_findings"] += n_open
    if worst:
        s["by_severity"][worst] += 1


def _finish(key: str, name: str, s: dict) -> dict[str, Any]:
    n = s["devices"]
    return {"key": key, "name": name, "devices": n, "clean": s["clean"],
            "clean_share": round(s["clean"] / n, 4) if n else 1.0, "open_findings": s["open_findings"],
            "devices_by_worst_severity": s["by_severity"],
            "score": round(100 * (1 - s["penalty"] / n), 1) if n else 100.0}


def quality_scores(session: Session, *, scope: str | None = None) -> dict[str, Any]:
    """Data-quality score per street and per vendor (formula in the module docstring)."""
    dev_q = select(Device.id, Device.street_code, Device.vendor).where(Device.status != "retired")
    f_q = (select(MetadataFinding.device_id, MetadataFinding.severity)
           .join(Device, Device.id == MetadataFinding.device_id)
           .where(MetadataFinding.state == "open", Device.status != "retired"))
    if scope:
        dev_q = dev_q.where(Device.street_code == scope)
        f_q = f_q.where(Device.street_code == scope)
    per_device: dict[int, list[str]] = {}
    for device_id, severity in session.execute(f_q):
        per_device.setdefault(device_id, []).append(severity)
    streets_q = select(Street.code, Street.name).order_by(Street.code)
    if scope:
        streets_q = streets_q.where(Street.code == scope)
    street_names = dict(session.execute(streets_q).all())
    by_street: dict[str, dict] = {code: {"devices": 0, "clean": 0, "penalty": 0.0, "open_findings": 0,
                                         "by_severity": {k: 0 for k in SEVERITIES}} for code in street_names}
    by_vendor: dict[str, dict] = {}
    total: dict[str, dict] = {}
    for device_id, street, vendor in session.execute(dev_q):
        sev = per_device.get(device_id, [])
        worst = min(sev, key=SEVERITIES.index) if sev else None
        penalty = SEVERITY_WEIGHTS[worst] if worst else 0.0
        _group(by_street, street or "", penalty, len(sev), worst)
        _group(by_vendor, vendor or "", penalty, len(sev), worst)
        _group(total, "all", penalty, len(sev), worst)
    streets = [_finish(k, street_names.get(k, "未登记街镇") if k else "未登记街镇", s) for k, s in by_street.items()]
    streets.sort(key=lambda r: (r["key"] == "", r["key"]))
    vendors = sorted((_finish(k, k or "未登记厂商", s) for k, s in by_vendor.items()),
                     key=lambda r: (-r["devices"], r["key"]))
    district = _finish("all", "全区" if not scope else street_names.get(scope, scope),
                       total.get("all", {"devices": 0, "clean": 0, "penalty": 0.0, "open_findings": 0,
                                         "by_severity": {k: 0 for k in SEVERITIES}}))
    return {"formula": SCORE_FORMULA, "weights": SEVERITY_WEIGHTS, "overall": district, "streets": streets,
            "vendors": vendors}


# -- gazetteer -----------------------------------------------------------------------------

def list_gazetteer(session: Session, *, q: str | None = None, street: str | None = None,
                   active: bool | None = None) -> list[GazetteerEntry]:
    stmt = select(GazetteerEntry).order_by(GazetteerEntry.name, GazetteerEntry.street_code)
    if q:
        stmt = stmt.where(GazetteerEntry.name.contains(q.strip(), autoescape=True))
    if street:
        stmt = stmt.where(GazetteerEntry.street_code == street)
    if active is not None:
        stmt = stmt.where(GazetteerEntry.active.is_(active))
    return list(session.scalars(stmt))


def add_gazetteer(session: Session, *, name: str, street_codes: list[str], kind: str = "road",
                  note: str = "") -> list[GazetteerEntry]:
    """Add a name for one or more streets (a road crossing several streets gets one row per
    street). An existing deactivated pair is reactivated; an active one is a conflict."""
    name = checks.normalise_address(name)
    if not name or len(name) < 2:
        raise Invalid("地名至少需要两个字")
    if len(name) > 64:
        raise Invalid("地名最多 64 个字")
    if kind not in GAZETTEER_KINDS:
        raise Invalid(f"未知类型“{kind}”；可选类型：{'、'.join(GAZETTEER_KINDS)}")
    codes = list(dict.fromkeys(c for c in street_codes if c))
    if not codes:
        raise Invalid("请至少选择一个街镇")
    for code in codes:
        if session.get(Street, code) is None:
            raise Invalid(f"未知街镇编码“{code}”")
    existing = {e.street_code: e for e in session.scalars(select(GazetteerEntry).where(GazetteerEntry.name == name))}
    active = [c for c in codes if c in existing and existing[c].active]
    if active:
        raise Conflict(f"地名库中已有“{name}”（{'、'.join(active)}）")
    out = []
    for code in codes:
        e = existing.get(code)
        if e is None:
            e = GazetteerEntry(name=name, street_code=code, kind=kind, note=note.strip()[:128], source="operator",
                               active=True)
            session.add(e)
        else:
            e.active, e.kind = True, kind
            if note.strip():
                e.note = note.strip()[:128]
        out.append(e)
    session.flush()
    return out


def deactivate_gazetteer(session: Session, entry_id: int) -> GazetteerEntry:
    e = session.get(GazetteerEntry, entry_id)
    if e is None:
        raise NotFound(f"地名库条目 {entry_id} 不存在")
    e.active = False
    session.flush()
    return e
