"""Device registry: products, devices, versions, topology and tags (IOT-1..IOT-4).

Every metadata change goes through `update_device`, which writes a `DeviceVersion`
(who, when, why, field → [before, after]) besides the audit entry.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from cityops.audit.context import current_actor
from cityops.core.db import text_search
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.devices.models import DEVICE_TYPES, LIFECYCLE, TAG_CATEGORIES, Device, DeviceVersion, Product, Tag
from cityops.geo import lookup
from cityops.geo.models import Grid, ResponsibleUnit, Street

# Metadata fields: versioned, editable, exported. Runtime state (online, last values) is not metadata.
DEVICE_FIELDS = ("name", "product_id", "device_type", "vendor", "platform", "external_id", "connection_id", "imei",
                 "iccid", "address", "lon", "lat", "street_code", "grid_code", "unit_id", "install_date", "status",
                 "parent_id", "report_interval_s", "extra")
PRODUCT_FIELDS = ("name", "device_type", "vendor", "platform", "vendor_product_key", "model_no", "report_interval_s",
                  "properties", "events", "decoder")


def _actor(session: Session) -> str:
    return current_actor(session).name


def _json_value(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def snapshot(device: Device) -> dict[str, Any]:
    out = {f: _json_value(getattr(device, f)) for f in DEVICE_FIELDS}
    out["code"] = device.code
    out["tags"] = sorted(f"{t.category}:{t.name}" for t in device.tags)
    return out


# -- products ----------------------------------------------------------------------------

def _check_product(fields: dict[str, Any]) -> None:
    if "device_type" in fields and fields["device_type"] not in DEVICE_TYPES:
        raise Invalid(f"未知设备类型“{fields['device_type']}”；可选类型：{'、'.join(DEVICE_TYPES)}")
    if "report_interval_s" in fields and not (10 <= int(fields["report_interval_s"]) <= 7 * 86400):
        raise Invalid("上报周期须在 10 秒至 7 天之间")
    for key in ("properties", "events"):
        for item in fields.get(key) or []:
            if not isinstance(item, dict) or not item.get("identifier"):
                raise Invalid(f"{key} 中的每一项都需要 identifier")


def list_products(session: Session) -> list[Product]:
    return list(session.scalars(select(Product).order_by(Product.code)))


def get_product(session: Session, product_id: int) -> Product:
    p = session.get(Product, product_id)
    if p is None:
        raise NotFound(f"产品型号 {product_id} 不存在")
    return p


def product_by_code(session: Session, code: str) -> Product | None:
    return session.scalar(select(Product).where(Product.code == code))


def create_product(session: Session, *, code: str, name: str, device_type: str, **fields: Any) -> Product:
    _check_product({"device_type": device_type, **fields})
    if product_by_code(session, code):
        raise Conflict(f"产品型号 {code} 已存在")
    p = Product(code=code, name=name, device_type=device_type, **fields)
    session.add(p)
    session.flush()
    return p


def update_product(session: Session, product_id: int, **fields: Any) -> Product:
    """A model's definition changes (new fields, renamed points): the version goes up (IOT-4)."""
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise Invalid(f"不能修改以下字段：{'、'.join(sorted(unknown))}")
    _check_product(fields)
    p = get_product(session, product_id)
    changed = {k: v for k, v in fields.items() if getattr(p, k) != v}
    for k, v in changed.items():
        setattr(p, k, v)
    if changed:
        p.version += 1
    session.flush()
    return p


# -- devices -----------------------------------------------------------------------------

def next_codes(session: Session, n: int = 1) -> list[str]:
    top = session.scalar(select(func.max(Device.id))) or 0
    return [f"CN-IOT-{top + i:06d}" for i in range(1, n + 1)]


def get_device(session: Session, device_id: int, *, scope: str | None = None) -> Device:
    d = session.get(Device, device_id)
    if d is None or (scope and d.street_code != scope):
        raise NotFound(f"设备 {device_id} 不存在")
    return d


def find_device(session: Session, platform: str, external_id: str) -> Device | None:
    return session.scalar(select(Device).where(Device.platform == platform, Device.external_id == external_id))


def _validate(session: Session, f: dict[str, Any], device: Device | None = None) -> None:
    if "status" in f and f["status"] not in LIFECYCLE:
        raise Invalid(f"未知状态“{f['status']}”；可选：{'、'.join(LIFECYCLE)}")
    if "device_type" in f and f["device_type"] not in DEVICE_TYPES:
        raise Invalid(f"未知设备类型“{f['device_type']}”")
    lon, lat = f.get("lon", device.lon if device else None), f.get("lat", device.lat if device else None)
    if (lon is None) != (lat is None):
        raise Invalid("经度和纬度须同时填写或同时留空")
    if lon is not None and not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise Invalid("经度须在 ±180 之间，纬度须在 ±90 之间")
    if f.get("street_code") and session.get(Street, f["street_code"]) is None:
        raise Invalid(f"未知街镇编码“{f['street_code']}”")
    if f.get("grid_code") and session.get(Grid, f["grid_code"]) is None:
        raise Invalid(f"未知网格编码“{f['grid_code']}”")
    if f.get("unit_id") and session.get(ResponsibleUnit, f["unit_id"]) is None:
        raise Invalid(f"未知责任单位 {f['unit_id']}")
    if f.get("product_id") and session.get(Product, f["product_id"]) is None:
        raise Invalid(f"未知产品型号 {f['product_id']}")
    if f.get("parent_id"):
        parent = session.get(Device, f["parent_id"])
        if parent is None:
            raise Invalid(f"未知上级设备 {f['parent_id']}")
        if device is not None:  # no cycles: walk up from the new parent
            seen, node = set(), parent
            while node is not None and node.id not in seen:
                if node.id == device.id:
                    raise Invalid("设备不能是自身的上级设备（直接或间接）")
                seen.add(node.id)
                node = node.parent
    if f.get("imei") and not re.fullmatch(r"\d{15}", str(f["imei"])):
        raise Invalid(f"IMEI 应为 15 位数字，实际为“{f['imei']}”")
    if f.get("report_interval_s") is not None and not (10 <= int(f["report_interval_s"]) <= 7 * 86400):
        raise Invalid("上报周期须在 10 秒至 7 天之间")


def _place(session: Session, f: dict[str, Any]) -> None:
    """Fill street and grid from the point when they were not given (IOT-1)."""
    if f.get("lon") is None or f.get("lat") is None:
        return
    if f.get("street_code") and f.get("grid_code"):
        return
    loc = lookup.index_for(session).locate(f["lon"], f["lat"])
    if not f.get("street_code"):
        f["street_code"] = loc.street_code
    if not f.get("grid_code") and f.get("street_code") == loc.street_code:
        f["grid_code"] = loc.grid_code


def create_device(session: Session, *, name: str, product_id: int, external_id: str, platform: str | None = None,
                  code: str | None = None, reason: str = "", source: str = "manual", **fields: Any) -> Device:
    product = get_product(session, product_id)
    external_id = str(external_id).strip()
    if not external_id:
        raise Invalid("必须填写 external_id（平台设备ID，即厂商平台自己的设备编号）")
    platform = platform or product.platform
    if not platform:
        raise Invalid("产品型号未指定接入平台时，必须填写 platform")
    f = {"name": name, "product_id": product_id, "external_id": external_id, "platform": platform, **fields}
    f.setdefault("device_type", product.device_type)
    f.setdefault("vendor", product.vendor)
    _validate(session, f)
    _place(session, f)
    if find_device(session, platform, external_id):
        raise Conflict(f"设备 {platform}/{external_id} 已存在")
    device = Device(code=code or next_codes(session)[0], **f)
    session.add(device)
    session.flush()
    _version(session, device, {k: [None, _json_value(v)] for k, v in f.items() if v not in (None, "", {}, [])},
             reason or "created", source)
    return device


def update_device(session: Session, device_id: int, *, reason: str = "", source: str = "manual",
                  scope: str | None = None, **fields: Any) -> Device:
    unknown = set(fields) - set(DEVICE_FIELDS)
    if unknown:
        raise Invalid(f"不能修改以下字段：{'、'.join(sorted(unknown))}")
    device = get_device(session, device_id, scope=scope)
    _validate(session, fields, device)
    if ("lon" in fields or "lat" in fields) and "street_code" not in fields:
        probe = {"lon": fields.get("lon", device.lon), "lat": fields.get("lat", device.lat)}
        _place(session, probe)
        if probe.get("street_code") and probe["street_code"] != device.street_code:
            fields["street_code"] = probe["street_code"]
            fields.setdefault("grid_code", probe.get("grid_code"))
    changes = {}
    for k, v in fields.items():
        old = getattr(device, k)
        if old != v:
            changes[k] = [_json_value(old), _json_value(v)]
            setattr(device, k, v)
    if "platform" in changes or "external_id" in changes:
        other = find_device(session, device.platform, device.external_id)
        if other is not None and other.id != device.id:
            raise Conflict(f"设备 {device.platform}/{device.external_id} 已存在")
    if changes:
        device.version += 1
        session.flush()
        _version(session, device, changes, reason, source)
    return device


def _version(session: Session, device: Device, changes: dict[str, Any], reason: str, source: str) -> None:
    session.add(DeviceVersion(device_id=device.id, version=device.version, actor=_actor(session), reason=reason,
                              source=source, changes=changes, snapshot=snapshot(device)))
    session.flush()


def versions(session: Session, device_id: int) -> list[DeviceVersion]:
    return list(session.scalars(select(DeviceVersion).where(DeviceVersion.device_id == device_id)
                                .order_by(DeviceVersion.version.desc())))


def children(session: Session, device_id: int) -> list[Device]:
    return list(session.scalars(select(Device).where(Device.parent_id == device_id).order_by(Device.code)))


def device_query(*, scope: str | None = None, street: str | None = None, grid: str | None = None,
                 device_type: str | None = None, vendor: str | None = None, platform: str | None = None,
                 status: str | None = None, tag_ids: list[int] | None = None, online: bool | None = None,
                 q: str | None = None, product_id: int | None = None, parent_id: int | None = None) -> Select:
    """The one device filter used by lists, exports, bulk tagging and statistics (IOT-3)."""
    stmt = select(Device)
    if scope:
        stmt = stmt.where(Device.street_code == scope)
    if street:
        stmt = stmt.where(Device.street_code == street)
    if grid:
        stmt = stmt.where(Device.grid_code == grid)
    if device_type:
        stmt = stmt.where(Device.device_type == device_type)
    if vendor:
        stmt = stmt.where(Device.vendor == vendor)
    if platform:
        stmt = stmt.where(Device.platform == platform)
    if status:
        stmt = stmt.where(Device.status == status)
    if product_id:
        stmt = stmt.where(Device.product_id == product_id)
    if parent_id:
        stmt = stmt.where(Device.parent_id == parent_id)
    if online is not None:
        stmt = stmt.where(Device.online.is_(online))
    for tag_id in tag_ids or []:
        stmt = stmt.where(Device.tags.any(Tag.id == tag_id))
    if q and q.strip():
        stmt = stmt.where(text_search(q, Device.name, Device.code, Device.external_id, Device.address, Device.imei))
    return stmt


def list_devices(session: Session, *, limit: int = 50, offset: int = 0, **filters: Any) -> tuple[list[Device], int]:
    stmt = device_query(**filters)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.options(selectinload(Device.tags)).order_by(Device.code).limit(limit)
                           .offset(offset)).all()
    return list(rows), total


def counts_by(session: Session, column: str, **filters: Any) -> dict[str, int]:
    """Device counts grouped by a column (street_code, device_type, vendor, status …)."""
    if column not in ("street_code", "grid_code", "device_type", "vendor", "platform", "status", "product_id"):
        raise Invalid(f"不能按“{column}”对设备分组")
    sub = device_query(**filters).subquery()
    rows = session.execute(select(getattr(sub.c, column), func.count()).group_by(getattr(sub.c, column))).all()
    return {str(k) if k is not None else "": n for k, n in rows}


# -- tags (IOT-3) --------------------------------------------------------------------------

def list_tags(session: Session, *, category: str | None = None) -> list[Tag]:
    stmt = select(Tag).order_by(Tag.category, Tag.name)
    if category:
        stmt = stmt.where(Tag.category == category)
    return list(session.scalars(stmt))


def get_tag(session: Session, tag_id: int) -> Tag:
    t = session.get(Tag, tag_id)
    if t is None:
        raise NotFound(f"标签 {tag_id} 不存在")
    return t


def create_tag(session: Session, *, category: str, name: str, color: str = "", unit_id: int | None = None,
               description: str = "") -> Tag:
    if category not in TAG_CATEGORIES:
        raise Invalid(f"未知标签类别“{category}”；可选：{'、'.join(TAG_CATEGORIES)}")
    name = name.strip()
    if not name:
        raise Invalid("标签名称不能为空")
    if session.scalar(select(Tag.id).where(Tag.category == category, Tag.name == name)):
        raise Conflict(f"标签 {category}:{name} 已存在")
    if unit_id and session.get(ResponsibleUnit, unit_id) is None:
        raise Invalid(f"未知责任单位 {unit_id}")
    tag = Tag(category=category, name=name, color=color, unit_id=unit_id, description=description)
    session.add(tag)
    session.flush()
    return tag


def tag_devices(session: Session, tag_id: int, *, device_ids: list[int] | None = None, remove: bool = False,
                reason: str = "", **filters: Any) -> int:
    """Add (or remove) a tag on the listed devices or on every device matching the filter.
    Returns how many devices changed; each change is a device version."""
    tag = get_tag(session, tag_id)
    if device_ids is None and not filters:
        raise Invalid("请给出设备 ID 或至少一个筛选条件（以免误给全部设备打标签）")
    stmt = device_query(**filters)
    if device_ids is not None:
        stmt = stmt.where(Device.id.in_(device_ids))
    changed = 0
    for device in session.scalars(stmt.options(selectinload(Device.tags))):
        has = any(t.id == tag.id for t in device.tags)
        if has == (not remove):
            continue
        before = sorted(f"{t.category}:{t.name}" for t in device.tags)
        if remove:
            device.tags = [t for t in device.tags if t.id != tag.id]
        else:
            device.tags.append(tag)
        device.version += 1
        session.flush()
        after = sorted(f"{t.category}:{t.name}" for t in device.tags)
        _version(session, device, {"tags": [before, after]}, reason or ("untag" if remove else "tag"), "tagging")
        changed += 1
    return changed
