"""Which rules apply to which device (IOT-5): the product's default rules with the rule
overrides stored in the database layered on top, looked up by the rule engine through
`RuleTable.rules_for`. Loaded by the monitoring runtime at start and on every refresh.

Precedence (lowest first): product defaults < product override < tag overrides < device
override. A device with several tags applies its tags' overrides in ascending tag id order
(older tags first, so the newest tag wins; renaming a tag never changes the order). Within a
layer every override has its own rule id (unique per scope), so there is nothing to order.

Modes: ``replace`` and ``add`` both put their rule under its id (a later layer wins);
``disable`` switches an inherited rule id off (a higher layer may bring it back with
``replace``). ``replace``/``disable`` of an id that does not exist below, and ``add`` of one
that does, are refused when the override is written for a product or a device; a tag spans
products, so there it is not checked (``explain`` shows what applies).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import replace as _replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.devices.models import Device, Product, Tag, device_tags
from cityops.monitoring.models import RULE_MODES, RULE_SCOPES, RuleOverride
from cityops.monitoring.rules import (
    low_battery_rule,
    range_rules,
    status_rule,
    vendor_event_rules,
    weak_signal_rule,
)
from cityops.monitoring.rules_schema import Rule

log = logging.getLogger(__name__)

# Enum readings that mean an alarm, per device type (the decoders report them as a property).
STATUS_ALARMS = {"smoke": [("status", "smoke_alarm", "烟雾报警")], "manhole": [("status", "illegal_move", "井盖异动")]}
LAYERS = ("default", "product", "tag", "device")


def product_rules(device_type: str, properties: list[dict], events: list[dict]) -> list[Rule]:
    """The default rules of a product (IOT-5): its normal ranges, low battery, weak signal,
    alarm states of enum readings and its vendor-reported events."""
    ids = {p.get("identifier") for p in properties}
    rules = range_rules(properties, skip=("battery", "rsrp"))
    if "battery" in ids:
        rules.append(low_battery_rule())
    if "rsrp" in ids:
        rules.append(weak_signal_rule())
    for prop, value, alarm_type in STATUS_ALARMS.get(device_type, []):
        rules.append(status_rule(f"status:{value}", alarm_type, prop, value))
    rules += vendor_event_rules([e["identifier"] for e in events if e.get("identifier")])
    return rules


# -- resolution (pure) --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EffectiveRule:
    """One rule of a device and where it came from (for the API and the console)."""

    rule: Rule
    layer: str  # default | product | tag | device
    scope: str = ""  # product code, "category:name" of the tag, or the device id
    override_id: int | None = None
    mode: str = "default"  # default | replace | add | disable
    active: bool = True  # False: switched off by a disable override or by the rule's enabled=False


@dataclass(frozen=True, slots=True)
class _Ov:
    id: int
    rule_id: str
    mode: str
    rule: Rule | None
    layer: str
    scope: str


def resolve(defaults: Iterable[Rule], overrides: Iterable[_Ov]) -> list[EffectiveRule]:
    """Apply overrides (already in precedence order) to the default rules."""
    cur: dict[str, EffectiveRule] = {r.id: EffectiveRule(r, "default", active=r.enabled) for r in defaults}
    for ov in overrides:
        if ov.mode == "disable":
            prev = cur.get(ov.rule_id)
            if prev is not None:
                cur[ov.rule_id] = _replace(prev, layer=ov.layer, scope=ov.scope, override_id=ov.id,
                                           mode="disable", active=False)
        elif ov.rule is not None:
            cur[ov.rule_id] = EffectiveRule(ov.rule, ov.layer, ov.scope, ov.id, ov.mode, ov.rule.enabled)
    return list(cur.values())


def _parse(row: RuleOverride, layer: str, scope: str) -> _Ov | None:
    rule = None
    if row.mode != "disable":
        try:
            rule = Rule.model_validate(row.rule)
        except ValidationError as exc:  # validated on write; only an old row can get here
            log.warning("rule override not usable, skipped", extra={"override": row.id, "error": str(exc)})
            return None
    return _Ov(row.id, row.rule_id, row.mode, rule, layer, scope)


def _tag_labels(session: Session, tag_ids: Iterable[int]) -> dict[int, str]:
    ids = list(tag_ids)
    if not ids:
        return {}
    return {i: f"{c}:{n}" for i, c, n in session.execute(select(Tag.id, Tag.category, Tag.name)
                                                          .where(Tag.id.in_(ids)))}


class _Combo:
    __slots__ = ("explained", "rules")

    def __init__(self, explained: list[EffectiveRule]) -> None:
        self.explained = explained
        self.rules = [e.rule for e in explained if e.active]


class RuleTable:
    """Effective rules per device. Rules are resolved once per distinct (product, tags with
    overrides, device override) combination and shared by every device in it; the table is
    replaced as a whole on load, so readers on other threads always see one consistent table."""

    def __init__(self) -> None:
        self._devices: dict[int, _Combo] = {}
        self.combos = 0  # distinct combinations resolved by the last load

    def load(self, session: Session) -> None:
        products = session.execute(select(Product.id, Product.code, Product.device_type, Product.properties,
                                          Product.events)).all()
        defaults = {pid: product_rules(dtype, props or [], events or []) for pid, _, dtype, props, events in products}
        code_of = {pid: code for pid, code, *_ in products}
        by_product: dict[str, list[_Ov]] = {}
        by_tag: dict[int, list[RuleOverride]] = {}
        by_device: dict[int, list[RuleOverride]] = {}
        rows = session.scalars(select(RuleOverride).where(RuleOverride.enabled.is_(True))
                               .order_by(RuleOverride.id)).all()
        for row in rows:
            if row.scope_kind == "product":
                ov = _parse(row, "product", row.scope_value)
                if ov is not None:
                    by_product.setdefault(row.scope_value, []).append(ov)
            elif row.scope_kind == "tag" and row.scope_value.isdigit():
                by_tag.setdefault(int(row.scope_value), []).append(row)
            elif row.scope_kind == "device" and row.scope_value.isdigit():
                by_device.setdefault(int(row.scope_value), []).append(row)
        labels = _tag_labels(session, by_tag)
        tag_ovs = {t: [o for o in (_parse(r, "tag", labels.get(t, str(t))) for r in rs) if o]
                   for t, rs in by_tag.items()}
        dev_ovs = {d: [o for o in (_parse(r, "device", str(d)) for r in rs) if o] for d, rs in by_device.items()}
        tags_of: dict[int, list[int]] = {}
        if tag_ovs:
            for d, t in session.execute(select(device_tags.c.device_id, device_tags.c.tag_id)
                                        .where(device_tags.c.tag_id.in_(list(tag_ovs)))
                                        .order_by(device_tags.c.tag_id)):
                tags_of.setdefault(d, []).append(t)
        combos: dict[tuple, _Combo] = {}
        devices: dict[int, _Combo] = {}
        for d, pid in session.execute(select(Device.id, Device.product_id)):
            key = (pid, tuple(tags_of.get(d, ())), d if d in dev_ovs else 0)
            combo = combos.get(key)
            if combo is None:
                layers = list(by_product.get(code_of.get(pid, ""), []))
                for t in key[1]:
                    layers += tag_ovs[t]
                layers += dev_ovs.get(d, [])
                combo = combos[key] = _Combo(resolve(defaults.get(pid, []), layers))
            devices[d] = combo
        self._devices, self.combos = devices, len(combos)

    def knows(self, device_id: int) -> bool:
        return device_id in self._devices

    def rules_for(self, device_id: int) -> list[Rule]:
        combo = self._devices.get(device_id)
        return combo.rules if combo is not None else []

    def explain(self, device_id: int) -> list[EffectiveRule]:
        """Every rule of the device with the layer it came from, switched-off ones included."""
        combo = self._devices.get(device_id)
        return list(combo.explained) if combo is not None else []


# -- one device, straight from the database (API and console) ------------------------------------

def default_rules(session: Session, product_id: int) -> list[Rule]:
    p = session.get(Product, product_id)
    if p is None:
        raise NotFound(f"产品 {product_id} 不存在")
    return product_rules(p.device_type, p.properties or [], p.events or [])


def explain_device(session: Session, device_id: int, *, below: str | None = None) -> list[EffectiveRule]:
    """The device's rules as `RuleTable.explain` would give them after the next load; with
    ``below="device"`` (or ``"tag"``) only the layers under that one."""
    d = session.get(Device, device_id)
    if d is None:
        raise NotFound(f"设备 {device_id} 不存在")
    stop = LAYERS.index(below) if below else len(LAYERS)
    tag_ids = sorted(session.scalars(select(device_tags.c.tag_id).where(device_tags.c.device_id == device_id)))
    q = select(RuleOverride).where(RuleOverride.enabled.is_(True)).order_by(RuleOverride.id)
    rows = session.scalars(q.where(
        ((RuleOverride.scope_kind == "product") & (RuleOverride.scope_value == d.product.code))
        | ((RuleOverride.scope_kind == "tag") & RuleOverride.scope_value.in_([str(t) for t in tag_ids]))
        | ((RuleOverride.scope_kind == "device") & (RuleOverride.scope_value == str(device_id))))).all()
    labels = _tag_labels(session, tag_ids)
    layers: list[_Ov] = []
    if stop > 1:
        layers += [o for r in rows if r.scope_kind == "product" and (o := _parse(r, "product", r.scope_value))]
    if stop > 2:
        for t in tag_ids:
            layers += [o for r in rows if r.scope_kind == "tag" and r.scope_value == str(t)
                       and (o := _parse(r, "tag", labels.get(t, str(t))))]
    if stop > 3:
        layers += [o for r in rows if r.scope_kind == "device" and (o := _parse(r, "device", str(device_id)))]
    return resolve(product_rules(d.product.device_type, d.product.properties or [], d.product.events or []), layers)


# -- overrides: create, change, delete --------------------------------------------------------------

def _readable(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()))
        msg = e.get("msg", "").removeprefix("Value error, ")  # pydantic's English prefix of our own messages
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "规则定义无效 — " + "; ".join(parts)


def parse_rule(data: Any) -> Rule:
    """A rule from its JSON form, or `Invalid` with every problem spelled out."""
    if not isinstance(data, dict):
        raise Invalid("规则定义无效 — 需要一个 JSON 对象 (rules_schema.Rule)")
    try:
        return Rule.model_validate(data)
    except ValidationError as exc:
        raise Invalid(_readable(exc)) from None


def normalise_scope(session: Session, scope_kind: str, scope_value: str) -> str:
    """The stored form of a scope: product code, tag id, device id (all as text)."""
    value = str(scope_value).strip()
    if scope_kind == "product":
        p = session.scalar(select(Product).where(Product.code == value))
        if p is None and value.isdigit():
            p = session.get(Product, int(value))
        if p is None:
            raise Invalid(f"未知产品 {value!r}（填写产品代码）")
        return p.code
    if scope_kind == "tag":
        tag = None
        if value.isdigit():
            tag = session.get(Tag, int(value))
        elif ":" in value:
            category, name = (x.strip() for x in value.split(":", 1))
            tag = session.scalar(select(Tag).where(Tag.category == category, Tag.name == name))
        if tag is None:
            raise Invalid(f"未知标签 {value!r}（填写标签ID或 分类:名称）")
        return str(tag.id)
    if scope_kind == "device":
        if not value.isdigit() or session.get(Device, int(value)) is None:
            raise Invalid(f"未知设备 {value!r}（填写设备ID）")
        return value
    raise Invalid(f"范围类型必须是 {' / '.join(RULE_SCOPES)} 之一，而不是 {scope_kind!r}")


def _lower_ids(session: Session, scope_kind: str, scope_value: str) -> set[str] | None:
    """Rule ids a product or device override would act on; None for a tag (not checkable)."""
    if scope_kind == "product":
        p = session.scalar(select(Product).where(Product.code == scope_value))
        ids = {r.id for r in product_rules(p.device_type, p.properties or [], p.events or [])}
        return ids
    if scope_kind == "device":
        return {e.rule.id for e in explain_device(session, int(scope_value), below="device")}
    return None


def _check(session: Session, ov: RuleOverride) -> None:
    if ov.mode not in RULE_MODES:
        raise Invalid(f"mode 必须是 {' / '.join(RULE_MODES)} 之一，而不是 {ov.mode!r}")
    if ov.mode != "disable":
        rule = parse_rule(ov.rule)
        if ov.rule_id and rule.id != ov.rule_id:
            raise Invalid(f"规则 id 不能修改（{ov.rule_id} → {rule.id}）；请新建一条覆盖")
        ov.rule_id, ov.rule = rule.id, rule.model_dump(mode="json")
    else:
        if not ov.rule_id:
            raise Invalid("disable 需要指定要停用的规则 id（rule_id）")
        ov.rule = {}
    lower = _lower_ids(session, ov.scope_kind, ov.scope_value)
    where = "产品" if ov.scope_kind == "product" else "设备"
    if lower is not None and ov.mode in ("replace", "disable") and ov.rule_id not in lower:
        raise Invalid(f"{where} {ov.scope_value} 没有规则 {ov.rule_id}，无法{'替换' if ov.mode == 'replace' else '停用'}；"
                      "新规则请用 add")
    if lower is not None and ov.mode == "add" and ov.rule_id in lower:
        raise Invalid(f"{where} {ov.scope_value} 已有规则 {ov.rule_id}；要修改它请用 replace")
    clash = session.scalar(select(RuleOverride.id).where(
        RuleOverride.scope_kind == ov.scope_kind, RuleOverride.scope_value == ov.scope_value,
        RuleOverride.rule_id == ov.rule_id, RuleOverride.id != (ov.id or 0)))
    if clash is not None:
        raise Conflict(f"该范围已有规则 {ov.rule_id} 的覆盖 #{clash}，请修改那一条")


def create_override(session: Session, *, scope_kind: str, scope_value: str, mode: str = "replace",
                    rule: dict[str, Any] | None = None, rule_id: str = "", enabled: bool = True, note: str = "",
                    created_by: str = "") -> RuleOverride:
    value = normalise_scope(session, scope_kind, scope_value)
    ov = RuleOverride(scope_kind=scope_kind, scope_value=value, rule_id=(rule_id or "").strip(), mode=mode,
                      rule=rule or {}, enabled=enabled, note=note, created_by=created_by)
    _check(session, ov)
    session.add(ov)
    session.flush()
    return ov


def get_override(session: Session, override_id: int) -> RuleOverride:
    ov = session.get(RuleOverride, override_id)
    if ov is None:
        raise NotFound(f"规则覆盖 {override_id} 不存在")
    return ov


def update_override(session: Session, override_id: int, **fields: Any) -> RuleOverride:
    """Change mode, rule, enabled or note; the scope and the rule id stay (make a new one instead)."""
    ov = get_override(session, override_id)
    unknown = set(fields) - {"mode", "rule", "enabled", "note"}
    if unknown:
        raise Invalid(f"不能修改字段：{', '.join(sorted(unknown))}")
    with session.no_autoflush:
        for k, v in fields.items():
            setattr(ov, k, v if k != "rule" else (v or {}))
        _check(session, ov)
    session.flush()
    return ov


def delete_override(session: Session, override_id: int) -> None:
    session.delete(get_override(session, override_id))
    session.flush()


def list_overrides(session: Session, *, scope_kind: str | None = None, scope_value: str | None = None,
                   street: str | None = None) -> list[RuleOverride]:
    """All overrides; for a street user only the device overrides of its own street's devices
    (product and tag overrides are district-wide settings and stay visible)."""
    q = select(RuleOverride).order_by(RuleOverride.scope_kind, RuleOverride.scope_value, RuleOverride.rule_id)
    if scope_kind:
        q = q.where(RuleOverride.scope_kind == scope_kind)
    if scope_value:
        q = q.where(RuleOverride.scope_value == scope_value)
    rows = list(session.scalars(q))
    if street:
        ids = {str(r.scope_value) for r in rows if r.scope_kind == "device"}
        own = {str(i) for i in session.scalars(select(Device.id).where(
            Device.id.in_([int(i) for i in ids]), Device.street_code == street))} if ids else set()
        rows = [r for r in rows if r.scope_kind != "device" or r.scope_value in own]
    return rows


def scope_labels(session: Session, rows: Sequence[RuleOverride]) -> dict[int, str]:
    """A readable name for each override's scope (product name, tag category:name, device code)."""
    tags = _tag_labels(session, {int(r.scope_value) for r in rows if r.scope_kind == "tag"})
    dev_ids = {int(r.scope_value) for r in rows if r.scope_kind == "device"}
    devs = {str(i): f"{c} {n}" for i, c, n in session.execute(
        select(Device.id, Device.code, Device.name).where(Device.id.in_(dev_ids)))} if dev_ids else {}
    codes = {r.scope_value for r in rows if r.scope_kind == "product"}
    prods = {c: n for c, n in session.execute(select(Product.code, Product.name)
                                                .where(Product.code.in_(codes)))} if codes else {}
    out = {}
    for r in rows:
        if r.scope_kind == "tag":
            out[r.id] = tags.get(int(r.scope_value), r.scope_value)
        elif r.scope_kind == "device":
            out[r.id] = devs.get(r.scope_value, r.scope_value)
        else:
            out[r.id] = prods.get(r.scope_value, r.scope_value)
    return out
