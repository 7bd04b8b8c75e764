"""IOT-5 "per model, overridable per device or tag": rule overrides stored in the database,
resolved by RuleTable with precedence product defaults < product < tag < device, the modes
replace / add / disable, explain(), validation, audit, and loading at scale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from cityops.audit.models import AuditEntry
from cityops.core.bus import Bus
from cityops.core.errors import Conflict, Invalid
from cityops.devices import service as devices
from cityops.devices.models import Device, device_tags
from cityops.monitoring import rule_table, service
from cityops.monitoring.clock import ManualClock
from cityops.monitoring.rule_table import (
    RuleTable,
    create_override,
    explain_device,
    update_override,
)
from cityops.monitoring.rules import threshold_rule
from cityops.monitoring.runtime import MonitoringRuntime

SMOKE = "SMOKE-NB-CTW"
TEMP_MAX = "range:temperature:max"  # the smoke product's default: temperature >= 55 → 温度超上限


def _device(s, ext, code=SMOKE):
    return devices.create_device(s, name=ext, product_id=devices.product_by_code(s, code).id, external_id=ext)


def _temp(value: float, rule_id: str = TEMP_MAX, **kw) -> dict:
    return threshold_rule(rule_id, "温度超上限", "temperature", ">=", value, **kw).model_dump(mode="json")


def _tag(s, name):
    return devices.create_tag(s, category="scenario", name=name)


def _limit(table_or_rules, rule_id=TEMP_MAX):
    rules = table_or_rules
    return next((r.condition.value for r in rules if r.id == rule_id), None)


def test_precedence_product_tag_device(db):
    with db.session() as s:
        plain, tagged, special = (_device(s, f"ov-{i}") for i in range(3))
        school = _tag(s, "学校周边")
        devices.tag_devices(s, school.id, device_ids=[tagged.id, special.id])
        create_override(s, scope_kind="product", scope_value=SMOKE, mode="replace", rule=_temp(50))
        create_override(s, scope_kind="tag", scope_value="scenario:学校周边", mode="replace", rule=_temp(45))
        create_override(s, scope_kind="device", scope_value=str(special.id), mode="replace", rule=_temp(40),
                        note="机房旁，温度敏感")
        other = _device(s, "ov-mh", code="MANHOLE-NB-CTW")
        table = RuleTable()
        table.load(s)
        ids = plain.id, tagged.id, special.id, other.id
    assert [_limit(table.rules_for(d)) for d in ids[:3]] == [50, 45, 40]
    assert _limit(table.rules_for(ids[3])) is None  # another product: untouched
    layers = {e.rule.id: (e.layer, e.scope) for e in table.explain(ids[2])}
    assert layers[TEMP_MAX] == ("device", str(ids[2]))
    assert layers["low_battery"] == ("default", "")
    assert {e.rule.id: e.layer for e in table.explain(ids[1])}[TEMP_MAX] == "tag"
    assert {e.rule.id: e.scope for e in table.explain(ids[1])}[TEMP_MAX] == "scenario:学校周边"
    with db.session() as s:  # the one-device path used by the API agrees with the table
        assert [(e.rule, e.layer, e.active) for e in explain_device(s, ids[2])] == \
               [(e.rule, e.layer, e.active) for e in table.explain(ids[2])]


def test_disable_and_bring_back(db):
    with db.session() as s:
        a, b = _device(s, "dis-a"), _device(s, "dis-b")
        create_override(s, scope_kind="product", scope_value=SMOKE, mode="disable", rule_id="event:tamper",
                        note="该型号防拆误报多")
        tamper = next(e.rule for e in explain_device(s, a.id) if e.rule.id == "event:tamper")
        create_override(s, scope_kind="device", scope_value=str(b.id), mode="replace",
                        rule=tamper.model_copy(update={"severity": "major"}).model_dump(mode="json"))
        table = RuleTable()
        table.load(s)
        ids = a.id, b.id
    assert "event:tamper" not in {r.id for r in table.rules_for(ids[0])}
    off = next(e for e in table.explain(ids[0]) if e.rule.id == "event:tamper")
    assert not off.active and off.mode == "disable" and off.layer == "product"
    back = next(r for r in table.rules_for(ids[1]) if r.id == "event:tamper")
    assert back.severity == "major"


def test_add_and_checks_of_the_mode(db):
    with db.session() as s:
        d = _device(s, "add-1")
        create_override(s, scope_kind="device", scope_value=str(d.id), mode="add",
                        rule=_temp(70, "temp:critical", severity="critical"))
        assert {e.rule.id: e.mode for e in explain_device(s, d.id)}["temp:critical"] == "add"
        with pytest.raises(Invalid, match="replace"):  # add of an existing id
            create_override(s, scope_kind="product", scope_value=SMOKE, mode="add", rule=_temp(50))
        with pytest.raises(Invalid, match="add"):  # replace of an unknown id
            create_override(s, scope_kind="product", scope_value=SMOKE, mode="replace", rule=_temp(50, "nope"))
        with pytest.raises(Invalid, match="nope"):
            create_override(s, scope_kind="device", scope_value=str(d.id), mode="disable", rule_id="nope")
        with pytest.raises(Conflict):
            create_override(s, scope_kind="device", scope_value=str(d.id), mode="add",
                            rule=_temp(75, "temp:critical", severity="critical"))
        # a tag spans products: not checked, explain shows what applies
        t = _tag(s, "任意")
        create_override(s, scope_kind="tag", scope_value=str(t.id), mode="disable", rule_id="range:tilt:max")


def test_validation_messages(db):
    with db.session() as s:
        d = _device(s, "val-1")
        with pytest.raises(Invalid) as exc:
            create_override(s, scope_kind="device", scope_value=str(d.id), mode="replace",
                            rule={"id": TEMP_MAX, "alarm_type": "x", "severity": "loud",
                                  "condition": {"kind": "threshold", "property": "temperature", "op": ">=",
                                                "value": 50, "clear_below": 60}})
        assert "规则定义无效" in exc.value.detail and "severity" in exc.value.detail
        assert "clear_below 必须是不高于触发值（value）的数字" in exc.value.detail
        for kind, value in (("device", "999999"), ("tag", "scenario:不存在"), ("product", "NOPE"), ("planet", "1")):
            with pytest.raises(Invalid):
                create_override(s, scope_kind=kind, scope_value=value, mode="disable", rule_id="low_battery")
        with pytest.raises(Invalid, match="mode"):
            create_override(s, scope_kind="device", scope_value=str(d.id), mode="maybe", rule=_temp(50))
        ov = create_override(s, scope_kind="device", scope_value=str(d.id), mode="replace", rule=_temp(50))
        with pytest.raises(Invalid, match="不能修改"):
            update_override(s, ov.id, rule=_temp(50, "other"))
        with pytest.raises(Invalid):
            update_override(s, ov.id, scope_value="1")
        update_override(s, ov.id, rule=_temp(48), note="夏季调低")
        assert ov.rule["condition"]["value"] == 48


def test_two_tags_apply_in_tag_id_order_and_disabled_overrides_are_ignored(db):
    with db.session() as s:
        d = _device(s, "tags-1")
        old, new = _tag(s, "老标签"), _tag(s, "新标签")
        for t in (new, old):
            devices.tag_devices(s, t.id, device_ids=[d.id])
        create_override(s, scope_kind="tag", scope_value=str(new.id), mode="replace", rule=_temp(41))
        create_override(s, scope_kind="tag", scope_value=str(old.id), mode="replace", rule=_temp(42))
        off = create_override(s, scope_kind="device", scope_value=str(d.id), mode="replace", rule=_temp(30),
                              enabled=False)
        table = RuleTable()
        table.load(s)
        assert _limit(table.rules_for(d.id)) == 41  # the newer tag (higher id) wins
        update_override(s, off.id, enabled=True)
        table.load(s)
        assert _limit(table.rules_for(d.id)) == 30


def test_override_changes_are_audited(db):
    with db.session() as s:
        d = _device(s, "aud-1")
        ov = create_override(s, scope_kind="device", scope_value=str(d.id), mode="replace", rule=_temp(50),
                             created_by="tech1")
        update_override(s, ov.id, enabled=False)
        rule_table.delete_override(s, ov.id)
    with db.session() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.entity == "rule_overrides")
                            .order_by(AuditEntry.seq)).all()
    assert actions == ["create", "update", "delete"]


def test_runtime_raises_with_the_overridden_threshold(db):
    """End to end: a device override lowers the temperature limit; the runtime picks it up on load."""
    with db.session() as s:
        did = _device(s, "rt-1").id
        create_override(s, scope_kind="device", scope_value=str(did), mode="replace", rule=_temp(40, clear_at=35))
    clock, bus = ManualClock(), Bus()
    rt = MonitoringRuntime(db, clock=clock, bus=bus)
    rt.load()
    rt.on_message("device.message.telemetry", {"device_id": did, "kind": "telemetry", "external_id": "x",
                                               "body": {"properties": {"temperature": 45}}})
    rt.flush()
    with db.session() as s:
        a = service.open_alarm(s, did, "温度超上限")
        assert a is not None and a.details["rule"] == TEMP_MAX


def test_load_at_scale_resolves_each_combination_once(db):
    """20,000 devices, three tags with overrides, five device overrides: the table resolves one
    rule set per distinct (product, tags with overrides, device override), not per device."""
    n = 20_000
    with db.session() as s:
        pid = devices.product_by_code(s, SMOKE).id
        mh = devices.product_by_code(s, "MANHOLE-NB-CTW").id
        tags = [_tag(s, f"规模{i}") for i in range(3)]
        unused = _tag(s, "无覆盖")
        now = datetime.now(UTC)
        top = s.scalar(select(Device.id).order_by(Device.id.desc()).limit(1)) or 0
        rows = [{"id": top + 1 + i, "code": f"SC-{i:06d}", "name": f"规模{i}", "product_id": pid if i % 2 else mh,
                 "device_type": "smoke" if i % 2 else "manhole", "platform": "ctwing", "external_id": f"sc-{i}",
                 "status": "active", "version": 1, "extra": {}, "last_values": {}, "created_at": now,
                 "updated_at": now} for i in range(n)]
        s.execute(insert(Device), rows)
        ids = [r["id"] for r in rows]
        links = [{"device_id": d, "tag_id": tags[0].id} for d in ids[::3]]
        links += [{"device_id": d, "tag_id": tags[1].id} for d in ids[::5]]
        links += [{"device_id": d, "tag_id": unused.id} for d in ids[::7]]
        s.execute(insert(device_tags), links)
        create_override(s, scope_kind="tag", scope_value=str(tags[0].id), mode="disable", rule_id="low_battery")
        create_override(s, scope_kind="tag", scope_value=str(tags[1].id), mode="add",
                        rule=_temp(30, "temp:early", severity="info"))
        create_override(s, scope_kind="tag", scope_value=str(tags[2].id), mode="add", rule=_temp(31, "x"))
        for d in ids[1:10:2]:  # five smoke devices
            create_override(s, scope_kind="device", scope_value=str(d), mode="replace", rule=_temp(44))
        table = RuleTable()
        table.load(s)
    assert sum(1 for d in ids if table.knows(d)) == n
    # 2 products × 4 tag sets ({}, {t0}, {t1}, {t0,t1}) + 5 devices with their own override
    # (the unused tag and the override of a tag nobody carries add no combination)
    assert table.combos == 2 * 4 + 5
    assert table.rules_for(ids[11]) is table.rules_for(ids[13])  # shared, not copied per device
    assert "low_battery" not in {r.id for r in table.rules_for(ids[0])}  # carries tag 0
    assert _limit(table.rules_for(ids[15]), "temp:early") == 30  # tags 0 and 1
    assert _limit(table.rules_for(ids[3])) == 44
