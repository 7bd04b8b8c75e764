"""Smart assignment (SYS-DISPATCH): choose the responsible unit of a city event by routing
rules, and say why.

Precedence among enabled rules that match the event's category and place: the most specific
area (grid > street > any), then the longest category prefix, then the higher priority,
then the older rule. Without a match the street office of the event's street receives it,
else the district operations centre (区城市运行管理中心)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.events import service as events
from cityops.events.models import CityEvent, EventCategory
from cityops.events.routing_models import (
    AREA_KINDS,
    AREA_LABELS,
    RoutingDecision,
    RoutingRule,
)
from cityops.geo.models import Grid, ResponsibleUnit, Street

_PREFIX = re.compile(r"^(\d{2}){0,3}$")
AREA_RANK = {"grid": 2, "street": 1, "any": 0}
OPS_CENTRE = "DEPT-CYZX"  # 区城市运行管理中心, geo/reference.py
ORDER_NOTE = "排序：网格规则＞街镇规则＞全区规则，分类前缀越长越优先，再按优先级从高到低，最后先建者优先"
CLOSED_STATES = ("closed", "rejected", "merged")

# (category prefix, unit code, note): district departments that own whole categories.
# 市容环境/街面秩序/设施管理 stay with the street office of the event's street (the fallback).
DEFAULTS = [
    ("0401", "DEPT-SW", "道路积水：区水务管理所（排水）"),
    ("0402", "DEPT-SW", "河道水务：区水务管理所"),
    ("05", "DEPT-XF", "消防安全：区消防救援支队"),
    ("06", "DEPT-JGW", "燃气安全：区建设和管理委员会（燃气行业监管）"),
    ("07", "DEPT-MF", "民防设施：区民防办公室"),
    ("08", "DEPT-STHJ", "环境保护：区生态环境局"),
]


@dataclass
class Decision:
    """The unit chosen (None only when not even the operations centre exists), the winning
    rule (None with basis "fallback"), the rules considered, and the explanation lines."""

    unit: ResponsibleUnit | None
    rule: RoutingRule | None
    basis: str  # rule | fallback
    candidates: list[RoutingRule] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        return "\n".join(self.lines)


# -- describing -------------------------------------------------------------------------------
def _key(rule: RoutingRule) -> tuple:
    return (-AREA_RANK[rule.area_kind], -len(rule.category_prefix), -rule.priority, rule.id)


def scope_label(rule: RoutingRule) -> str:
    cat = f"分类 {rule.category_prefix}*" if rule.category_prefix else "全部分类"
    area = "全区" if rule.area_kind == "any" else f"{AREA_LABELS[rule.area_kind]} {rule.area_code}"
    return f"{cat} + {area}"


def _unit_label(unit: ResponsibleUnit | None) -> str:
    return f"{unit.name}（{unit.code}）" if unit else "（无）"


def _why_lost(rule: RoutingRule, winner: RoutingRule) -> str:
    if rule.area_kind != winner.area_kind:
        return f"{AREA_LABELS[winner.area_kind]}规则比{AREA_LABELS[rule.area_kind]}规则更具体"
    if len(rule.category_prefix) != len(winner.category_prefix):
        mine = rule.category_prefix or "全部"
        return f"分类前缀 {mine} 短于 {winner.category_prefix}"
    if rule.priority != winner.priority:
        return f"优先级 {rule.priority} 低于 {winner.priority}"
    return f"条件相同，#{winner.id} 建立更早"


# -- deciding ---------------------------------------------------------------------------------
def decide(session: Session, *, category_code: str, street_code: str | None = None,
           grid_code: str | None = None) -> Decision:
    """The unit for an event of ``category_code`` at the street/grid given, with reasons."""
    if grid_code and not street_code:
        grid = session.get(Grid, grid_code)
        street_code = grid.street_code if grid else None
    cat = session.scalar(select(EventCategory).where(EventCategory.code == category_code))
    street = session.get(Street, street_code) if street_code else None
    cat_label = f"{category_code}（{cat.name}）" if cat else category_code
    street_label = f"{street.name}（{street.code}）" if street else (street_code or "未知")
    lines = [f"事件分类 {cat_label}，街镇 {street_label}，网格 {grid_code or '未知'}"]

    matching: list[RoutingRule] = []
    for r in session.scalars(select(RoutingRule).where(RoutingRule.enabled.is_(True))):
        if not category_code.startswith(r.category_prefix):
            continue
        if (r.area_kind == "any" or (r.area_kind == "street" and street_code and r.area_code == street_code)
                or (r.area_kind == "grid" and grid_code and r.area_code == grid_code)):
            matching.append(r)
    matching.sort(key=_key)
    units = {u.id: u for u in session.scalars(select(ResponsibleUnit).where(
        ResponsibleUnit.id.in_([r.unit_id for r in matching])))} if matching else {}
    usable = [r for r in matching if units[r.unit_id].active]

    if usable:
        win = usable[0]
        unit = units[win.unit_id]
        lines.insert(0, f"按规则 #{win.id}：{scope_label(win)}，优先级 {win.priority} → 派往 {_unit_label(unit)}")
    else:
        win, unit = None, None
    lines.append(f"候选规则 {len(matching)} 条（{ORDER_NOTE}）：")
    for r in matching:
        head = f"#{r.id} {scope_label(r)}，优先级 {r.priority} → {_unit_label(units[r.unit_id])}"
        if r is win:
            lines.append(f"  {head}【采用】")
        elif not units[r.unit_id].active:
            lines.append(f"  {head}：责任单位已停用，跳过")
        else:
            lines.append(f"  {head}：{_why_lost(r, win)}")
    if win is not None:
        return Decision(unit=unit, rule=win, basis="rule", candidates=matching, lines=lines)

    office = None
    if street_code:
        office = session.scalar(select(ResponsibleUnit).where(
            ResponsibleUnit.kind == "street_office", ResponsibleUnit.street_code == street_code,
            ResponsibleUnit.active.is_(True)).order_by(ResponsibleUnit.id).limit(1))
    if office is not None:
        lines.insert(0, f"无匹配规则，按兜底派往事件所在街镇的 {_unit_label(office)}")
        return Decision(unit=office, rule=None, basis="fallback", candidates=matching, lines=lines)
    centre = session.scalar(select(ResponsibleUnit).where(ResponsibleUnit.code == OPS_CENTRE,
                                                          ResponsibleUnit.active.is_(True)))
    why = "事件所在街镇没有在用的街道办事处" if street_code else "事件没有所属街镇"
    if centre is not None:
        lines.insert(0, f"无匹配规则，且{why}，按兜底派往 {_unit_label(centre)}")
    else:
        lines.insert(0, f"无匹配规则，{why}，区城市运行管理中心（{OPS_CENTRE}）也不在用：无法派单")
    return Decision(unit=centre, rule=None, basis="fallback", candidates=matching, lines=lines)


def route(session: Session, event: CityEvent) -> Decision:
    cat = session.get(EventCategory, event.category_id)
    return decide(session, category_code=cat.code if cat else "", street_code=event.street_code,
                  grid_code=event.grid_code)


def assign(session: Session, event_id: int, *, actor: str, scope: str | None = None) -> Decision:
    """Route the event, set its responsible unit and keep the decision with its explanation."""
    ev = events.get_event(session, event_id, scope=scope)
    if ev.state in CLOSED_STATES:
        raise Conflict(f"事件 {ev.number} 状态为 {ev.state}，不能再派单")
    d = route(session, ev)
    if d.unit is None:
        raise Conflict("没有可派的责任单位：" + d.lines[0])
    ev.unit_id = d.unit.id
    session.add(RoutingDecision(event_id=ev.id, unit_id=d.unit.id, rule_id=d.rule.id if d.rule else None,
                                basis=d.basis, explanation=d.explanation, actor=actor))
    session.flush()
    return d


def decisions(session: Session, event_id: int, *, scope: str | None = None) -> list[RoutingDecision]:
    events.get_event(session, event_id, scope=scope)
    return list(session.scalars(select(RoutingDecision).where(RoutingDecision.event_id == event_id)
                                .order_by(RoutingDecision.at.desc(), RoutingDecision.id.desc())))


# -- rules ------------------------------------------------------------------------------------
FIELDS = ("category_prefix", "area_kind", "area_code", "unit_id", "priority", "enabled", "note")


def _check(session: Session, v: dict) -> None:
    prefix = v["category_prefix"]
    if not _PREFIX.match(prefix):
        raise Invalid("分类前缀应为分类代码，如 01、0101 或 010101（留空表示全部分类）")
    if prefix and session.scalar(select(EventCategory.id).where(EventCategory.code == prefix)) is None:
        raise Invalid(f"没有分类代码 {prefix}")
    if v["area_kind"] not in AREA_KINDS:
        raise Invalid(f"区域类型应为 {'、'.join(AREA_KINDS)} 之一")
    if v["area_kind"] == "any" and v["area_code"]:
        raise Invalid("全区规则不填区域代码")
    if v["area_kind"] == "street" and session.get(Street, v["area_code"]) is None:
        raise Invalid(f"没有街镇代码 {v['area_code'] or '（空）'}")
    if v["area_kind"] == "grid" and session.get(Grid, v["area_code"]) is None:
        raise Invalid(f"没有网格代码 {v['area_code'] or '（空）'}")
    unit = session.get(ResponsibleUnit, v["unit_id"]) if isinstance(v["unit_id"], int) else None
    if unit is None:
        raise Invalid(f"没有责任单位 {v['unit_id']}")
    if not unit.active and v["enabled"]:
        raise Invalid(f"责任单位 {unit.name} 已停用，不能作为启用规则的派单对象")
    if not (isinstance(v["priority"], int) and -1000 <= v["priority"] <= 1000):
        raise Invalid("优先级应为 -1000 到 1000 之间的整数")


def list_rules(session: Session) -> list[RoutingRule]:
    return sorted(session.scalars(select(RoutingRule)), key=lambda r: (not r.enabled, *_key(r)))


def get_rule(session: Session, rule_id: int) -> RoutingRule:
    r = session.get(RoutingRule, rule_id)
    if r is None:
        raise NotFound(f"派单规则 #{rule_id} 不存在")
    return r


def create_rule(session: Session, *, unit_id: int, category_prefix: str = "", area_kind: str = "any",
                area_code: str = "", priority: int = 0, enabled: bool = True, note: str = "",
                created_by: str = "") -> RoutingRule:
    v = {"category_prefix": category_prefix.strip(), "area_kind": area_kind, "area_code": area_code.strip(),
         "unit_id": unit_id, "priority": priority, "enabled": enabled, "note": note.strip()}
    _check(session, v)
    r = RoutingRule(created_by=created_by, **v)
    session.add(r)
    session.flush()
    return r


def update_rule(session: Session, rule_id: int, **changes) -> RoutingRule:
    r = get_rule(session, rule_id)
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    changes = {k: v.strip() if isinstance(v, str) else v for k, v in changes.items()}
    if changes.get("area_kind") == "any":
        changes.setdefault("area_code", "")
    _check(session, {**{f: getattr(r, f) for f in FIELDS}, **changes})
    for k, v in changes.items():
        setattr(r, k, v)
    session.flush()
    return r


def delete_rule(session: Session, rule_id: int) -> None:
    session.delete(get_rule(session, rule_id))
    session.flush()


def seed_routing(session: Session) -> int:
    """Add the district default rules that are missing (any rule with the same category prefix
    and area "any", enabled or not, counts as present); returns how many were added. Units
    not in the seed data are skipped."""
    added = 0
    for prefix, code, note in DEFAULTS:
        unit = session.scalar(select(ResponsibleUnit).where(ResponsibleUnit.code == code))
        if unit is None or session.scalar(select(EventCategory.id).where(EventCategory.code == prefix)) is None:
            continue
        exists = session.scalar(select(RoutingRule.id).where(RoutingRule.category_prefix == prefix,
                                                             RoutingRule.area_kind == "any").limit(1))
        if exists is None:
            session.add(RoutingRule(category_prefix=prefix, area_kind="any", area_code="", unit_id=unit.id,
                                    priority=0, enabled=True, note=f"系统预置：{note}", created_by="system"))
            added += 1
    session.flush()
    return added
