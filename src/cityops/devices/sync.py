"""Upstream device sync (IOT-4 设备升级维护): pull, diff, review, apply, roll back.

When a vendor/carrier platform upgrades its metadata (new fields, new models, renamed
points, devices added or removed), the platform pulls the connection's device list from
its sync source and writes the differences down as a change set:

* ``create`` — a device the upstream lists and the registry does not have (key: platform +
  external_id). Its model is found by the product's ``vendor_product_key``; an unknown model
  becomes a ``new_product`` item first.
* ``update`` — name, address, coordinates, IMEI, lifecycle status, model or extra metadata
  differ. Upstream extra keys that disappear while new keys with the same values appear are
  recorded as renamed fields (``details["renamed"]``).
* ``retire`` — a device of this connection the upstream no longer lists (or lists as
  removed): status → retired, never deleted.
* ``new_product`` / ``product_update`` — a new model, or a model whose points (properties)
  were added, removed or renamed upstream.

Only what the upstream actually provides is compared: an empty upstream address does not
blank ours, local-only data (street, grid, responsible unit, tags) is never touched, and a
lifecycle status is only moved the way the upstream can know (planned → active, active →
maintenance, anything → retired; a retired device listed as active again is proposed for
reactivation, never auto-applied).

`apply` runs every item through `devices.service` (`create_device` / `update_device` with
source "sync" and reason "同步变更集 #id", `create_product` / `update_product`, which bumps
the model's version), each in its own savepoint: an item that cannot be applied (changed
since the pull, invalid) is marked with its error and the others go on. `rollback`
restores every applied item's before-values (source "sync-rollback"); created devices are
retired, never deleted, so their history stays; created models are kept (devices refer to
them). A rollback that would overwrite a later change is refused unless forced.

A pull that cannot read the upstream changes nothing and is recorded as a failed change set.
A pull identical to a set waiting for review, or (on schedule) to one already rejected or
rolled back, makes no new set; a new pull supersedes an older set still waiting for review.
With ``auto_apply`` a set is applied at once unless it retires, reactivates or is blocked
(an unknown device type for a new model).

The job ``devices.upstream_sync`` (every 60 s) pulls every enabled source whose
``interval_s`` has passed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.audit.context import acting_as, current_actor
from cityops.core.db import Database, savepoint
from cityops.core.errors import Conflict, Invalid, NotFound, Problem
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import aware, utcnow
from cityops.devices import service, upstream
from cityops.devices.models import DEVICE_TYPES, LIFECYCLE, Device, Product
from cityops.devices.sync_models import ACTIONS, SET_STATES, ChangeItem, ChangeSet, SyncSource
from cityops.devices.upstream import DeviceListSource, UpstreamDevice, UpstreamError, UpstreamProduct
from cityops.ingest.models import Connection, PendingDevice, StoredMessage

log = logging.getLogger(__name__)

MASK = "******"
SYNC_ACTOR = "system:sync"
SOURCE = "sync"
ROLLBACK_SOURCE = "sync-rollback"
JOB_NAME = "devices.upstream_sync"
JOB_INTERVAL_S = 60
MIN_INTERVAL_S, MAX_INTERVAL_S = 60, 7 * 86400
NUMBER_TOLERANCE = 1e-7  # coordinates are compared to 7 decimals (~1 cm): less is rounding, not a move
IMEI = re.compile(r"\d{15}")
# Keywords that tell a new model's device type from its name (the reviewer sees the guess).
TYPE_KEYWORDS = [
    ("electrical_fire", ("电气火灾", "漏电", "electrical")), ("smoke", ("烟感", "烟雾", "感烟", "smoke")),
    ("manhole", ("井盖", "manhole")), ("water_level", ("积水", "水位", "water")),
    ("gas", ("燃气", "可燃", "gas")), ("hydrant", ("消火栓", "消防栓", "水压", "hydrant")),
    ("garbage_bin", ("垃圾", "满溢", "garbage")), ("noise", ("噪声", "noise")),
    ("traffic_counter", ("流量", "traffic")), ("civil_defence", ("民防", "人防")),
    ("nvr", ("nvr", "录像机")), ("camera", ("摄像", "camera")), ("gateway", ("网关", "gateway")),
]


class SyncOptions(BaseModel):
    """Settings of the sync itself (stored with the adapter's settings of the source)."""

    vendor: str = ""  # vendor name given to new models (and so to their devices)
    status_map: dict[str, str] = Field(default_factory=dict)  # upstream status (any case) → lifecycle
    product_types: dict[str, str] = Field(default_factory=dict)  # upstream product key → our device type
    keep_extra_keys: list[str] = Field(default_factory=list)  # local extra keys the sync never removes
    retire_missing: bool = True  # propose retiring this connection's devices the upstream no longer lists

    @field_validator("status_map")
    @classmethod
    def _lifecycle(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {k: v for k, v in value.items() if v not in LIFECYCLE}
        if bad:
            raise ValueError(f"status_map 的值应为以下之一：{'、'.join(LIFECYCLE)}；不符合的：{bad}")
        return {str(k).strip().lower(): v for k, v in value.items()}

    @field_validator("product_types")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {k: v for k, v in value.items() if v not in DEVICE_TYPES}
        if bad:
            raise ValueError(f"product_types 的值应为设备类型（{'、'.join(DEVICE_TYPES)}）；不符合的：{bad}")
        return value


OPTION_KEYS = tuple(SyncOptions.model_fields)


# -- sources ------------------------------------------------------------------------------------

def find_source(session: Session, connection_id: int) -> SyncSource | None:
    return session.scalar(select(SyncSource).where(SyncSource.connection_id == connection_id))


def get_source(session: Session, connection_id: int) -> SyncSource:
    source = find_source(session, connection_id)
    if source is None:
        raise NotFound(f"接入连接 {connection_id} 的同步源不存在")
    return source


def list_sources(session: Session) -> list[SyncSource]:
    return list(session.scalars(select(SyncSource).order_by(SyncSource.connection_id)))


def _connection(session: Session, connection_id: int) -> Connection:
    conn = session.get(Connection, connection_id)
    if conn is None:
        raise NotFound(f"接入连接 {connection_id} 不存在")
    return conn


def _split(adapter: str, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(adapter settings, sync options); unknown keys are an error, not silently dropped."""
    known = set(upstream.get(adapter).Settings.model_fields)
    unknown = sorted(set(settings) - known - set(OPTION_KEYS))
    if unknown:
        raise Invalid(f"未知的同步源设置：{'、'.join(unknown)}；可用的设置："
                      f"{'、'.join(sorted(known | set(OPTION_KEYS)))}")
    return ({k: v for k, v in settings.items() if k not in OPTION_KEYS},
            {k: v for k, v in settings.items() if k in OPTION_KEYS})


def _secret_fields(adapter: str) -> list[str]:
    model = upstream.get(adapter).Settings
    return [name for name, f in model.model_fields.items() if "SecretStr" in str(f.annotation)]


def configure_source(session: Session, connection_id: int, *, settings: dict[str, Any] | None = None,
                     enabled: bool | None = None, interval_s: int | None = None, auto_apply: bool | None = None,
                     adapter: str | None = None) -> SyncSource:
    """Create or change a connection's sync source. `settings` replaces the stored settings;
    a secret given as the mask ("******") or left out keeps the stored one, "" clears it."""
    _connection(session, connection_id)
    source = find_source(session, connection_id)
    adapter = adapter or (source.adapter if source else upstream.kinds()[0])
    if adapter not in upstream.kinds():
        raise Invalid(f"未知的设备清单适配器“{adapter}”；可选适配器：{'、'.join(upstream.kinds())}")
    if source is None and settings is None:
        raise Invalid("新建同步源需要提供设置（至少包括 base_url）")
    secret_name = (_secret_fields(adapter) or ["token"])[0]
    stored_secret = source.secret if source else ""
    if settings is None:
        raw = dict(source.settings)
        secret = stored_secret
    else:
        raw = dict(settings)
        given = raw.pop(secret_name, MASK)
        secret = stored_secret if given in (MASK, None) else str(given).strip()
    adapter_part, option_part = _split(adapter, raw)
    try:
        parsed = upstream.parse_settings(adapter, {**adapter_part, secret_name: secret or None})
        options = SyncOptions.model_validate(option_part)
    except ValidationError as exc:
        raise Invalid(f"同步设置有误：{upstream.describe_errors(exc)}") from None
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    clean = parsed.model_dump(mode="json", exclude_unset=True, exclude={secret_name})
    clean.update(options.model_dump(mode="json", exclude_unset=True))
    if interval_s is not None and not (MIN_INTERVAL_S <= int(interval_s) <= MAX_INTERVAL_S):
        raise Invalid(f"interval_s 须在 {MIN_INTERVAL_S} 秒至 {MAX_INTERVAL_S} 秒（7 天）之间")
    if source is None:
        source = SyncSource(connection_id=connection_id, adapter=adapter, settings=clean, secret=secret,
                            enabled=True if enabled is None else enabled,
                            interval_s=3600 if interval_s is None else int(interval_s),
                            auto_apply=bool(auto_apply), updated_by=current_actor(session).name)
        session.add(source)
    else:
        source.adapter, source.settings, source.secret = adapter, clean, secret
        if enabled is not None:
            source.enabled = enabled
        if interval_s is not None:
            source.interval_s = int(interval_s)
        if auto_apply is not None:
            source.auto_apply = auto_apply
        source.updated_by = current_actor(session).name
    session.flush()
    return source


def public_settings(source: SyncSource) -> dict[str, Any]:
    """Settings as the API shows them: the secret replaced by the mask."""
    secret_name = (_secret_fields(source.adapter) or ["token"])[0]
    return {**source.settings, secret_name: MASK if source.secret else None}


def _adapter_settings(source: SyncSource) -> tuple[BaseModel, SyncOptions]:
    adapter_part, option_part = _split(source.adapter, dict(source.settings))
    secret_name = (_secret_fields(source.adapter) or ["token"])[0]
    return (upstream.parse_settings(source.adapter, {**adapter_part, secret_name: source.secret or None}),
            SyncOptions.model_validate(option_part))


def options_of(source: SyncSource) -> SyncOptions:
    return _adapter_settings(source)[1]


# -- diff -----------------------------------------------------------------------------------------

def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=NUMBER_TOLERANCE)
    return a == b


def map_status(raw: str, options: SyncOptions) -> str | None:
    """The lifecycle status an upstream status word means, or None when it means none."""
    word = (raw or "").strip().lower()
    if not word:
        return None
    if word in options.status_map:
        return options.status_map[word]
    return word if word in LIFECYCLE else None


def _next_status(local: str, wanted: str | None) -> str | None:
    """How far the upstream may move our lifecycle status (None: leave it)."""
    if wanted is None or wanted == local:
        return None
    if wanted == "retired":
        return "retired"
    if wanted == "active" and local in ("planned", "retired"):
        return "active"
    if wanted == "maintenance" and local == "active":
        return "maintenance"
    return None


def guess_device_type(*texts: str) -> str | None:
    blob = " ".join(t for t in texts if t).lower()
    for device_type, words in TYPE_KEYWORDS:
        if any(w.lower() in blob for w in words):
            return device_type
    return None


def _meaningful(v: Any) -> bool:
    return v not in (None, "", [], {})


def extra_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Added, removed, changed and renamed keys (a key that disappeared while one new key
    with the same value appeared is a rename)."""
    removed = {k: old[k] for k in old if k not in new}
    added = {k: new[k] for k in new if k not in old}
    changed = {k: [old[k], new[k]] for k in old if k in new and old[k] != new[k]}
    renamed = []
    for r in sorted(removed):
        value = removed[r]
        if not _meaningful(value):
            continue
        candidates = [a for a in sorted(added) if added[a] == value]
        others = [o for o in sorted(removed) if o != r and removed[o] == value]
        if len(candidates) == 1 and not others:
            renamed.append({"from": r, "to": candidates[0], "value": value})
    for rn in renamed:
        removed.pop(rn["from"])
        added.pop(rn["to"])
    return {"added": added, "removed": removed, "changed": changed, "renamed": renamed}


_TYPES = {"double": "number", "float": "number", "int": "number", "integer": "number", "long": "number",
          "decimal": "number", "number": "number", "bool": "bool", "boolean": "bool", "enum": "enum",
          "string": "string", "text": "string", "date": "string", "struct": "object", "object": "object"}


def property_type(upstream_type: str | None) -> str:
    """Our property type for a vendor's data type word (number, bool, enum, string, object)."""
    return _TYPES.get((upstream_type or "").strip().lower(), "number" if not upstream_type else upstream_type)


def property_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict]:
    """Merge the upstream points of a model into ours. Ours keep their units and normal
    ranges; upstream decides which points exist, their identifiers and names. A point that
    disappeared while one new point with the same name appeared is a rename."""
    ours = {p["identifier"]: p for p in old if isinstance(p, dict) and p.get("identifier")}
    theirs = {p["identifier"]: p for p in new}
    removed = [i for i in ours if i not in theirs]
    added = [i for i in theirs if i not in ours]
    renamed: dict[str, str] = {}
    for r in removed:
        name = ours[r].get("name")
        if not name:
            continue
        candidates = [a for a in added if theirs[a].get("name") == name and a not in renamed.values()]
        same_name = [o for o in removed if o != r and ours[o].get("name") == name]
        if len(candidates) == 1 and not same_name:
            renamed[r] = candidates[0]
    back = {v: k for k, v in renamed.items()}
    merged, changed = [], []
    for ident, p in theirs.items():
        base_key = ident if ident in ours else back.get(ident)
        if base_key is not None:
            prop = dict(ours[base_key])
            prop["identifier"] = ident
            if p.get("name") and p["name"] != prop.get("name"):
                changed.append({"identifier": ident, "name": [prop.get("name", ""), p["name"]]})
                prop["name"] = p["name"]
        else:
            prop = {"identifier": ident, "name": p.get("name") or ident, "type": property_type(p.get("type")),
                    "unit": p.get("unit", ""), "min": None, "max": None}
        merged.append(prop)
    details = {"added": [{"identifier": a, "name": theirs[a].get("name", "")} for a in added if a not in back],
               "removed": [{"identifier": r, "name": ours[r].get("name", "")} for r in removed if r not in renamed],
               "renamed": [{"from": r, "to": a, "name": ours[r].get("name", "")} for r, a in renamed.items()],
               "changed": changed}
    return merged, details


class _Planner:
    """Compares one pull with the registry and builds the (unsaved) items."""

    def __init__(self, session: Session, conn: Connection, options: SyncOptions,
                 devices: list[UpstreamDevice], products: list[UpstreamProduct]):
        self.s, self.conn, self.opts = session, conn, options
        self.devices, self.products = devices, {p.product_key: p for p in products}
        all_products = list(session.scalars(select(Product)))
        self.product_keys = {p.id: p.vendor_product_key for p in all_products}
        self.local_products: dict[str, Product] = {}
        for p in sorted(all_products, key=lambda p: (p.platform != conn.kind, p.id)):
            if p.vendor_product_key and p.platform in (conn.kind, "") \
                    and p.vendor_product_key not in self.local_products:
                self.local_products[p.vendor_product_key] = p
        self.codes = {p.code for p in all_products}
        self.registered = {d.external_id: d for d in session.scalars(select(Device)
                                                                     .where(Device.platform == conn.kind))}
        self.new_products: dict[str, ChangeItem] = {}
        self.items: list[ChangeItem] = []
        self.warnings: list[str] = []

    # models

    def _product_code(self, key: str) -> str:
        base = re.sub(r"[^A-Z0-9]+", "-", f"{self.conn.kind}-{key}".upper()).strip("-")[:56] or "SYNC"
        code, n = base, 2
        while code in self.codes:
            code, n = f"{base}-{n}", n + 1
        self.codes.add(code)
        return code

    def _need_product(self, key: str, hint: UpstreamDevice) -> Product | None:
        if key in self.local_products:
            return self.local_products[key]
        if key not in self.new_products:
            up = self.products.get(key)
            name = (up.name if up else "") or hint.model or key
            model_no = (up.model if up else "") or hint.model
            configured = self.opts.product_types.get(key)
            device_type = configured or guess_device_type(name, model_no)
            properties, _ = property_diff([], up.properties if up else [])
            details: dict[str, Any] = {"device_type_source": "configured" if configured else
                                       ("guessed" if device_type else "unknown")}
            if not device_type:
                details["blocked"] = (f"无法判断型号 {key}（{name}）的设备类型；请在同步源设置 product_types "
                                      f"中指定，如 {{\"{key}\": \"smoke\"}}")
            after = {"code": self._product_code(key), "name": name[:128], "device_type": device_type,
                     "vendor": self.opts.vendor, "platform": self.conn.kind, "vendor_product_key": key,
                     "model_no": model_no[:64], "properties": properties}
            self.new_products[key] = ChangeItem(action="new_product", product_key=key, before={}, after=after,
                                                details=details)
        return None

    def _product_updates(self) -> list[ChangeItem]:
        out = []
        for key, up in sorted(self.products.items()):
            local = self.local_products.get(key)
            if local is None or not up.properties:  # an empty list means "not provided"
                continue
            merged, details = property_diff(local.properties or [], up.properties)
            if not any(details.values()):
                continue
            out.append(ChangeItem(action="product_update", product_id=local.id, product_key=key,
                                  before={"properties": local.properties or []}, after={"properties": merged},
                                  details=details))
        return out

    # devices

    def _fields(self, d: UpstreamDevice, details: dict[str, Any]) -> dict[str, Any]:
        """The upstream's values of the compared fields it actually provides."""
        f: dict[str, Any] = {}
        if d.name:
            f["name"] = d.name[:128]
        if d.address:
            f["address"] = d.address[:256]
        if d.imei:
            if IMEI.fullmatch(d.imei):
                f["imei"] = d.imei
            else:
                details.setdefault("warnings", []).append(f"上游 IMEI {d.imei!r} 不是15位数字，未采用")
        if d.lon is not None and d.lat is not None:
            if -180 <= d.lon <= 180 and -90 <= d.lat <= 90:
                f["lon"], f["lat"] = d.lon, d.lat
            else:
                details.setdefault("warnings", []).append(f"上游坐标 ({d.lon}, {d.lat}) 超出范围，未采用")
        return f

    def _create(self, d: UpstreamDevice) -> None:
        wanted = map_status(d.status, self.opts)
        if wanted == "retired":
            return  # listed as removed upstream: nothing to register
        details: dict[str, Any] = {}
        f = self._fields(d, details)
        f.setdefault("name", f"{d.model or d.product_key or '设备'} {d.external_id}"[:128])
        product = None
        if d.product_key:
            product = self._need_product(d.product_key, d)
        else:
            details["blocked"] = "上游未给出该设备的型号（product_key），无法登记"
        after = {**f, "external_id": d.external_id, "product_key": d.product_key, "connection_id": self.conn.id,
                 "status": wanted if wanted in ("active", "maintenance", "planned") else "active"}
        if product is not None:
            after["product_id"] = product.id
        if d.extra:
            after["extra"] = d.extra
        self.items.append(ChangeItem(action="create", external_id=d.external_id, product_key=d.product_key,
                                     product_id=product.id if product else None, before={}, after=after,
                                     details=details))

    def _update(self, d: UpstreamDevice, r: Device) -> None:
        details: dict[str, Any] = {}
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for k, v in self._fields(d, details).items():
            if not _same(getattr(r, k), v):
                before[k], after[k] = getattr(r, k), v
        if ("lon" in after) != ("lat" in after):  # a move is always both coordinates
            for k in ("lon", "lat"):
                before[k], after[k] = getattr(r, k), getattr(d, k)
        if d.extra is not None:
            old = dict(r.extra or {})
            new = {**{k: old[k] for k in self.opts.keep_extra_keys if k in old}, **d.extra}
            if new != old:
                before["extra"], after["extra"] = old, new
                diff = extra_diff(old, new)
                details["extra"] = diff
                if diff["renamed"]:
                    details["renamed"] = [{"from": f"extra.{x['from']}", "to": f"extra.{x['to']}",
                                           "value": x["value"]} for x in diff["renamed"]]
        old_key = self.product_keys.get(r.product_id, "")
        if d.product_key and d.product_key != old_key and (old_key or d.product_key in self.local_products):
            product = self._need_product(d.product_key, d)
            before["product_key"], after["product_key"] = old_key, d.product_key
            before["product_id"] = r.product_id
            if product is not None:
                after["product_id"] = product.id
        if r.connection_id is None:
            before["connection_id"], after["connection_id"] = None, self.conn.id
        wanted = map_status(d.status, self.opts)
        status = _next_status(r.status, wanted)
        if status == "retired":
            self.items.append(ChangeItem(action="retire", device_id=r.id, external_id=r.external_id,
                                         before={"status": r.status}, after={"status": "retired"},
                                         details={"reason": f"上游状态为 {d.status}"}))
        elif status is not None:
            before["status"], after["status"] = r.status, status
            if r.status == "retired":
                details["reactivate"] = True
                details.setdefault("warnings", []).append("已退役设备在上游重新出现，需人工确认是否恢复")
        if after:
            self.items.append(ChangeItem(action="update", device_id=r.id, external_id=r.external_id,
                                         product_key=d.product_key, product_id=r.product_id, before=before,
                                         after=after, details=details))

    def plan(self) -> list[ChangeItem]:
        listed = set()
        for d in self.devices:
            listed.add(d.external_id)
            r = self.registered.get(d.external_id)
            if r is None:
                self._create(d)
            elif r.connection_id not in (None, self.conn.id):
                self.warnings.append(f"设备 {r.code}（{d.external_id}）属于连接 #{r.connection_id}，本次未比对")
            else:
                self._update(d, r)
        if self.opts.retire_missing:
            for r in self.registered.values():
                if r.connection_id == self.conn.id and r.status != "retired" and r.external_id not in listed:
                    self.items.append(ChangeItem(action="retire", device_id=r.id, external_id=r.external_id,
                                                 product_id=r.product_id, before={"status": r.status},
                                                 after={"status": "retired"}, details={"reason": "上游已不再列出该设备"}))
        self.warnings.extend(getattr(self.devices, "warnings", []))
        if not self.devices and any(i.action == "retire" for i in self.items):
            self.warnings.append("上游设备清单为空：请确认接口与映射配置无误后再审核退役项")
        items = list(self.new_products.values()) + self._product_updates() + self.items
        order = {a: n for n, a in enumerate(ACTIONS)}
        return sorted(items, key=lambda i: (order[i.action], i.product_key if i.action in ("new_product",
                                                                                            "product_update")
                                            else i.external_id))


def fingerprint(items: Iterable[ChangeItem]) -> str:
    body = [[i.action, i.external_id, i.product_key, i.before, i.after] for i in items]
    raw = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _summary(items: list[ChangeItem], devices: int, products: int, warnings: list[str]) -> dict[str, Any]:
    counts = Counter(i.action for i in items)
    renamed = sum(len(i.details.get("renamed", [])) for i in items)
    out: dict[str, Any] = {a: counts.get(a, 0) for a in ACTIONS}
    out.update(renamed_fields=renamed, upstream_devices=devices, upstream_products=products,
               blocked=sum(1 for i in items if i.details.get("blocked")),
               reactivate=sum(1 for i in items if i.details.get("reactivate")))
    if warnings:
        out["warnings"] = warnings[:50]
    return out


REVIEW_REASONS = {"retire": "含设备退役", "reactivate": "含已退役设备的恢复", "blocked": "有无法应用的变更项",
                  "unconfigured_model": "含未在 product_types 中配置设备类型的新型号", "warnings": "有警告",
                  "declined_before": "相同变更曾被驳回或回滚"}


def needs_review(cs: ChangeSet, items: list[ChangeItem]) -> list[str]:
    """Why a set may not be applied without a person, as codes of REVIEW_REASONS (empty:
    auto_apply may apply it)."""
    reasons = []
    if any(i.action == "retire" for i in items):
        reasons.append("retire")
    if any(i.details.get("reactivate") for i in items):
        reasons.append("reactivate")
    if any(i.details.get("blocked") for i in items):
        reasons.append("blocked")
    if any(i.action == "new_product" and i.details.get("device_type_source") != "configured" for i in items):
        reasons.append("unconfigured_model")
    if cs.summary.get("warnings"):
        reasons.append("warnings")
    return reasons


# -- plan -----------------------------------------------------------------------------------------

def _latest_set(session: Session, connection_id: int) -> ChangeSet | None:
    return session.scalar(select(ChangeSet).where(ChangeSet.connection_id == connection_id)
                          .order_by(ChangeSet.id.desc()).limit(1))


def _failed(session: Session, source: SyncSource, message: str, trigger: str, actor: str) -> ChangeSet:
    source.failures = (source.failures or 0) + 1
    source.last_outcome, source.last_error = "failed", message[:4000]
    log.warning("upstream sync failed", extra={"connection": source.connection_id, "error": message})
    latest = _latest_set(session, source.connection_id)
    if trigger == "schedule" and latest is not None and latest.state == "failed" and latest.error == message \
            and not latest.summary:
        session.flush()  # the same failure again: counted on the source, not one more set per minute
        return latest
    cs = ChangeSet(connection_id=source.connection_id, created_by=actor, trigger=trigger, state="failed",
                   error=message[:4000], summary={})
    session.add(cs)
    session.flush()
    return cs


def plan_sync(session: Session, connection_id: int, *, trigger: str = "manual",
              adapter: DeviceListSource | None = None) -> ChangeSet | None:
    """Pull the connection's device list and write the differences down as a proposed
    change set (IOT-4). Returns the set, the set already waiting with the same changes,
    a failed set when the upstream could not be read (nothing is changed then), or None
    when nothing differs (or, on schedule, when the same changes were rejected or rolled
    back before). With the source's auto_apply the set is applied when no person needs
    to look at it (see `needs_review`)."""
    source = get_source(session, connection_id)
    conn = _connection(session, connection_id)
    actor = current_actor(session).name
    source.last_run_at = utcnow()
    try:
        cfg, options = _adapter_settings(source)
    except (ValueError, ValidationError, Problem) as exc:
        return _failed(session, source, f"同步源设置无效：{exc}", trigger, actor)
    src = adapter or upstream.get(source.adapter)
    try:
        devices = src.fetch(cfg)
        products = src.fetch_products(cfg)
    except UpstreamError as exc:
        return _failed(session, source, exc.message, trigger, actor)
    planner = _Planner(session, conn, options, devices, products)
    items = planner.plan()
    source.failures, source.last_error = 0, ""
    if not items:
        source.last_outcome = "no_changes"
        session.flush()
        return None
    fp = fingerprint(items)
    waiting = session.scalar(select(ChangeSet).where(ChangeSet.connection_id == connection_id,
                                                     ChangeSet.state == "proposed", ChangeSet.fingerprint == fp)
                             .order_by(ChangeSet.id.desc()).limit(1))
    if waiting is not None:
        source.last_outcome = "unchanged"
        session.flush()
        return waiting
    declined = session.scalar(select(ChangeSet.id).where(ChangeSet.connection_id == connection_id,
                                                         ChangeSet.state.in_(("rejected", "rolled_back")),
                                                         ChangeSet.fingerprint == fp).limit(1))
    if declined is not None and trigger == "schedule":
        source.last_outcome = "declined_before"
        session.flush()
        return None
    cs = ChangeSet(connection_id=connection_id, created_by=actor, trigger=trigger, state="proposed",
                   fingerprint=fp, summary=_summary(items, len(devices), len(products), planner.warnings))
    session.add(cs)
    session.flush()
    for old in session.scalars(select(ChangeSet).where(ChangeSet.connection_id == connection_id,
                                                       ChangeSet.state == "proposed", ChangeSet.id != cs.id)):
        old.state, old.decided_by, old.decided_at = "superseded", actor, utcnow()
        old.note = f"被变更集 #{cs.id} 取代"
    for item in items:
        item.change_set_id = cs.id
        session.add(item)
    session.flush()
    source.last_outcome = "proposed"
    reasons = needs_review(cs, items)
    if declined is not None:
        reasons.append("declined_before")
    if source.auto_apply and not reasons:
        apply(session, cs.id, SYNC_ACTOR if trigger == "schedule" else actor, note="自动应用（auto_apply）")
        source.last_outcome = "applied"
    elif source.auto_apply:
        cs.note = "需人工审核：" + "；".join(REVIEW_REASONS[r] for r in reasons)
    session.flush()
    log.info("upstream sync planned", extra={"connection": connection_id, "change_set": cs.id,
                                             "summary": cs.summary, "state": cs.state})
    return cs


# -- review ---------------------------------------------------------------------------------------

def get_change_set(session: Session, change_set_id: int) -> ChangeSet:
    cs = session.get(ChangeSet, change_set_id)
    if cs is None:
        raise NotFound(f"变更集 #{change_set_id} 不存在")
    return cs


def change_items(session: Session, change_set_id: int) -> list[ChangeItem]:
    return list(session.scalars(select(ChangeItem).where(ChangeItem.change_set_id == change_set_id)
                                .order_by(ChangeItem.id)))


def list_change_sets(session: Session, *, connection_id: int | None = None, state: str | None = None,
                     limit: int = 50, offset: int = 0) -> tuple[list[ChangeSet], int]:
    if state and state not in SET_STATES:
        raise Invalid(f"未知状态“{state}”；可选状态：{'、'.join(SET_STATES)}")
    q = select(ChangeSet)
    if connection_id:
        q = q.where(ChangeSet.connection_id == connection_id)
    if state:
        q = q.where(ChangeSet.state == state)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(ChangeSet.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def _locked(session: Session, change_set_id: int) -> ChangeSet:
    """The set, row-locked on PostgreSQL (a second apply waits, then sees it was applied);
    SQLite serialises writers, and a stale writer fails instead of applying twice."""
    cs = session.scalars(select(ChangeSet).where(ChangeSet.id == change_set_id).with_for_update()
                         .execution_options(populate_existing=True)).first()
    if cs is None:
        raise NotFound(f"变更集 #{change_set_id} 不存在")
    return cs


_STATE_WORDS = {"applied": "已应用", "rejected": "已驳回", "rolled_back": "已回滚", "failed": "失败",
                "superseded": "已被新的同步结果取代", "proposed": "待审核"}


def _refuse(cs: ChangeSet, verb: str) -> Conflict:
    return Conflict(f"变更集 #{cs.id} 当前为 {cs.state}（{_STATE_WORDS.get(cs.state, cs.state)}），不能{verb}")


def _product_for(session: Session, platform: str, key: str) -> Product | None:
    rows = session.scalars(select(Product).where(Product.vendor_product_key == key,
                                                 Product.platform.in_((platform, ""))).order_by(Product.id)).all()
    return next((p for p in rows if p.platform == platform), rows[0] if rows else None)


def _fields_changed(session: Session, device: Device, before: dict[str, Any]) -> list[str]:
    snap = service.snapshot(device)
    drift = []
    for k, v in before.items():
        if k == "product_key":
            p = session.get(Product, device.product_id)
            current = p.vendor_product_key if p else ""
        else:
            current = snap.get(k)
        if not _same(current, v):
            drift.append(k)
    return drift


def _device_fields(session: Session, platform: str, values: dict[str, Any], device: Device | None) -> dict:
    fields = {k: v for k, v in values.items() if k in service.DEVICE_FIELDS}
    key = values.get("product_key")
    if key is not None and "product_key" in values and (device is None or key):
        product = _product_for(session, platform, key)
        if product is None:
            raise Invalid(f"型号 {key} 不存在（其“新增型号”项未应用）")
        fields["product_id"] = product.id
        if device is not None and product.device_type != device.device_type:
            fields["device_type"] = product.device_type
    return fields


def _attach_pending(session: Session, connection_id: int, device: Device) -> None:
    """A device that reported before it was registered: its held messages are its own now."""
    pending = session.scalar(select(PendingDevice).where(PendingDevice.connection_id == connection_id,
                                                         PendingDevice.external_id == device.external_id))
    if pending is None or pending.state == "onboarded":
        return
    session.execute(update(StoredMessage).where(StoredMessage.connection_id == connection_id,
                                                StoredMessage.external_id == device.external_id,
                                                StoredMessage.device_id.is_(None)).values(device_id=device.id))
    pending.state, pending.device_id = "onboarded", device.id


def _apply_item(session: Session, cs: ChangeSet, conn: Connection, item: ChangeItem, options: SyncOptions | None,
                reason: str) -> None:
    if item.details.get("blocked") and item.action != "new_product":
        raise Invalid(item.details["blocked"])
    if item.action == "new_product":
        existing = _product_for(session, conn.kind, item.product_key)
        if existing is not None:
            item.product_id = existing.id
            item.applied_changes = {"note": f"型号已存在（{existing.code}），未重复创建"}
            return
        after = dict(item.after)
        device_type = after.get("device_type") or (options.product_types.get(item.product_key) if options else None)
        if not device_type:
            raise Invalid(item.details.get("blocked") or f"型号 {item.product_key} 的设备类型未知")
        code = after.pop("code")
        if service.product_by_code(session, code) is not None:
            code = f"{code}-{cs.id}"
        after["device_type"] = device_type
        product = service.create_product(session, code=code, **after)
        item.product_id = product.id
        item.applied_changes = {"product_id": [None, product.id], "code": [None, product.code]}
        return
    if item.action == "product_update":
        product = service.get_product(session, item.product_id) if item.product_id else None
        if product is None:
            raise Invalid("型号已不存在")
        if (product.properties or []) != item.before.get("properties", []):
            raise Invalid(f"型号 {product.code} 的物模型在同步后被修改过；请重新同步")
        version = product.version
        service.update_product(session, product.id, properties=item.after["properties"])
        item.applied_changes = {"version": [version, product.version]}
        return
    if item.action == "create":
        existing = service.find_device(session, conn.kind, item.external_id)
        if existing is not None:
            raise Conflict(f"设备 {conn.kind}/{item.external_id} 已登记为 {existing.code}")
        fields = _device_fields(session, conn.kind, item.after, None)
        fields.pop("external_id", None)
        name, product_id = fields.pop("name"), fields.pop("product_id")
        device = service.create_device(session, name=name, product_id=product_id, external_id=item.external_id,
                                       platform=conn.kind, reason=reason, source=SOURCE, **fields)
        item.device_id, item.product_id = device.id, device.product_id
        item.applied_changes = {"device_id": [None, device.id], "code": [None, device.code]}
        _attach_pending(session, conn.id, device)
        return
    # update | retire
    if item.device_id is None:
        raise Invalid("设备已不存在")
    device = service.get_device(session, item.device_id)
    drift = _fields_changed(session, device, item.before)
    if drift:
        raise Invalid(f"设备 {device.code} 的 {', '.join(drift)} 在同步后被修改过；请重新同步")
    fields = _device_fields(session, conn.kind, item.after, device)
    before = service.snapshot(device)
    service.update_device(session, device.id, reason=reason, source=SOURCE, **fields)
    after = service.snapshot(device)
    item.applied_changes = {k: [before[k], after[k]] for k in service.DEVICE_FIELDS if before[k] != after[k]}


def _recheck(session: Session, device_ids: list[int | None]) -> None:
    """IOT-1: the metadata checks run on every change of a device, the sync's included."""
    from cityops.devices.checks import check_devices

    check_devices(session, sorted({i for i in device_ids if i}))


def apply(session: Session, change_set_id: int, actor: str | None = None, *, note: str = "") -> ChangeSet:
    """Apply a proposed set, item by item (IOT-4). Each item runs in a savepoint: one that
    fails is marked with its error and undone alone. The set ends applied (with the number
    of errors in its summary) or failed when no item could be applied."""
    actor = actor or current_actor(session).name
    cs = _locked(session, change_set_id)
    if cs.state != "proposed":
        raise _refuse(cs, "应用")
    conn = _connection(session, cs.connection_id)
    source = find_source(session, cs.connection_id)
    try:
        options = options_of(source) if source else None
    except (ValueError, ValidationError, Problem):
        options = None
    reason = f"同步变更集 #{cs.id}"
    applied = errors = 0
    for item in change_items(session, cs.id):
        try:
            with savepoint(session):
                _apply_item(session, cs, conn, item, options, reason)
                item.applied, item.error = True, ""
                session.flush()
        except (Problem, ValueError, TypeError, IntegrityError) as exc:
            detail = exc.detail if isinstance(exc, Problem) else f"{type(exc).__name__}: {exc}"
            item.applied, item.error, item.applied_changes = False, detail[:2000], {}
            errors += 1
        else:
            applied += 1
    cs.summary = {**cs.summary, "applied": applied, "errors": errors}
    _recheck(session, [i.device_id for i in change_items(session, cs.id) if i.applied])
    cs.state = "applied" if applied else "failed"
    if not applied:
        cs.error = "没有任何变更项可以应用（见各项错误）"
    cs.decided_by, cs.decided_at = actor, utcnow()
    if note:
        cs.note = note[:512]
    session.flush()
    return cs


def reject(session: Session, change_set_id: int, actor: str | None = None, *, note: str = "") -> ChangeSet:
    """A reviewer refuses a proposed set; nothing changes (a scheduled pull with the same
    changes does not propose them again)."""
    cs = _locked(session, change_set_id)
    if cs.state != "proposed":
        raise _refuse(cs, "驳回")
    cs.state, cs.decided_by, cs.decided_at = "rejected", actor or current_actor(session).name, utcnow()
    cs.note = note[:512]
    session.flush()
    return cs


def rollback_conflicts(session: Session, cs: ChangeSet, items: list[ChangeItem]) -> list[str]:
    """What changed after the set was applied and a rollback would overwrite."""
    out = []
    for item in items:
        if item.action in ("update", "retire") and item.device_id:
            device = session.get(Device, item.device_id)
            if device is None:
                continue
            snap = service.snapshot(device)
            drift = [k for k, (_b, a) in item.applied_changes.items() if k in snap and not _same(snap[k], a)]
            if drift:
                out.append(f"{device.code}: {', '.join(drift)}")
        elif item.action == "product_update" and item.product_id:
            product = session.get(Product, item.product_id)
            if product is not None and (product.properties or []) != item.after.get("properties"):
                out.append(f"{product.code}: properties")
    return out


def rollback(session: Session, change_set_id: int, actor: str | None = None, *, note: str = "",
             force: bool = False) -> ChangeSet:
    """Undo an applied set (IOT-4): every applied item's before-values come back through
    `update_device` (source "sync-rollback"), so the history keeps both the change and its
    undoing. Devices the set created are retired, not deleted; models it created are kept;
    model property changes are reverted (the model's version goes up again). All or
    nothing. Refused when something the set changed was changed again since, unless
    `force`."""
    actor = actor or current_actor(session).name
    cs = _locked(session, change_set_id)
    if cs.state != "applied":
        raise _refuse(cs, "回滚")
    items = [i for i in change_items(session, cs.id) if i.applied]
    conflicts = rollback_conflicts(session, cs, items)
    if conflicts and not force:
        more = "" if len(conflicts) <= 20 else f"……另有 {len(conflicts) - 20} 项"
        raise Conflict("变更集应用后以下内容又被修改过，回滚会覆盖这些修改："
                       + "；".join(conflicts[:20]) + more + "（如确需覆盖，请以 force 强制回滚）")
    reason = f"回滚同步变更集 #{cs.id}"
    for item in reversed(items):
        if item.action == "create":
            device = session.get(Device, item.device_id) if item.device_id else None
            if device is not None and device.status != "retired":
                service.update_device(session, device.id, status="retired", reason=reason, source=ROLLBACK_SOURCE)
        elif item.action in ("update", "retire"):
            device = session.get(Device, item.device_id) if item.device_id else None
            if device is None:
                continue
            fields = {k: b for k, (b, _a) in item.applied_changes.items() if k in service.DEVICE_FIELDS}
            if "install_date" in fields and isinstance(fields["install_date"], str):
                fields["install_date"] = date.fromisoformat(fields["install_date"])
            if fields:
                service.update_device(session, device.id, reason=reason, source=ROLLBACK_SOURCE, **fields)
        elif item.action == "product_update":
            product = session.get(Product, item.product_id) if item.product_id else None
            if product is not None:
                service.update_product(session, product.id, properties=item.before.get("properties", []))
        # new_product: the model stays (the retired devices still refer to it)
    _recheck(session, [i.device_id for i in items])
    cs.state, cs.rolled_back_by, cs.rolled_back_at = "rolled_back", actor, utcnow()
    if note:
        cs.note = note[:512]
    session.flush()
    return cs


# -- the scheduled job ----------------------------------------------------------------------------

def due_sources(session: Session, now=None) -> list[int]:
    """Connection ids whose enabled source's interval has passed since its last pull."""
    now = now or utcnow()
    rows = session.execute(select(SyncSource.connection_id, SyncSource.interval_s, SyncSource.last_run_at)
                           .join(Connection, Connection.id == SyncSource.connection_id)
                           .where(SyncSource.enabled.is_(True), Connection.enabled.is_(True))
                           .order_by(SyncSource.connection_id)).all()
    return [cid for cid, interval, last in rows
            if last is None or aware(last) + timedelta(seconds=interval) <= now]


def run_due(db: Database) -> dict[int, str]:
    """Pull every due source, each in its own transaction; one failing source does not
    stop the others. Returns connection id → outcome."""
    with db.session() as s:
        ids = due_sources(s)
    results: dict[int, str] = {}
    for cid in ids:
        try:
            with acting_as(SYNC_ACTOR), db.session() as s:
                cs = plan_sync(s, cid, trigger="schedule")
                results[cid] = cs.state if cs is not None else get_source(s, cid).last_outcome
        except Exception as exc:  # a bug or a database failure: recorded on the source, retried next time
            log.exception("upstream sync crashed", extra={"connection": cid})
            results[cid] = "error"
            with acting_as(SYNC_ACTOR), db.session() as s:
                source = find_source(s, cid)
                if source is not None:
                    source.last_run_at, source.last_outcome = utcnow(), "error"
                    source.last_error = f"{type(exc).__name__}: {exc}"[:4000]
                    source.failures = (source.failures or 0) + 1
    return results


def register(scheduler: Scheduler) -> None:
    """IOT-4: every minute, pull the sources whose interval has passed."""
    scheduler.register(JOB_NAME, JOB_INTERVAL_S, run_due, initial_delay_s=30)
