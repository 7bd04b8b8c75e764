"""IOT-5 "severity escalates and de-escalates": rules sharing an alarm type are the levels of
one alarm; the engine folds them into raise / severity / clear, the service moves the open
alarm's severity up and down, and the state survives a restart (snapshot/restore)."""

from __future__ import annotations

import json

import pytest

from cityops.core.errors import Invalid
from cityops.devices import service as devices
from cityops.ingest.message import DeviceMessage
from cityops.monitoring import service
from cityops.monitoring.clock import ManualClock
from cityops.monitoring.rules import RuleEngine, level_rules, threshold_rule
from cityops.monitoring.rules_schema import Rule, Threshold

DEV = 3
HOT = "温度过高"


def tel(**props) -> DeviceMessage:
    return DeviceMessage(kind="telemetry", external_id="t", properties=props)


def levels() -> list[Rule]:
    # ≥ 60 warning (clears < 55), ≥ 80 critical (clears < 75)
    return level_rules("temp", HOT, "temperature", ">=", [(60, "warning", 55), (80, "critical", 75)])


def acts(signals) -> list[tuple[str, str]]:
    return [(s.action, s.severity) for s in signals]


def test_escalate_de_escalate_and_clear():
    eng = RuleEngine({DEV: levels()}, ManualClock())
    assert eng.on_message(DEV, tel(temperature=50)) == []
    assert acts(eng.on_message(DEV, tel(temperature=65))) == [("raise", "warning")]
    up = eng.on_message(DEV, tel(temperature=85))
    assert acts(up) == [("severity", "critical")]
    assert up[0].alarm_type == HOT and up[0].rule_id == "temp:critical" and "升级" in up[0].reason
    assert eng.on_message(DEV, tel(temperature=78)) == []  # inside the critical level's hysteresis
    down = eng.on_message(DEV, tel(temperature=70))
    assert acts(down) == [("severity", "warning")]  # de-escalates: the warning level still holds
    assert "降级" in down[0].reason and down[0].value == 70
    assert eng.on_message(DEV, tel(temperature=58)) == []  # warning hysteresis
    assert acts(eng.on_message(DEV, tel(temperature=50))) == [("clear", "warning")]


def test_a_jump_past_every_level_is_one_raise_and_one_clear():
    eng = RuleEngine({DEV: levels()}, ManualClock())
    assert acts(eng.on_message(DEV, tel(temperature=95))) == [("raise", "critical")]
    assert acts(eng.on_message(DEV, tel(temperature=20))) == [("clear", "critical")]


def test_three_levels_in_any_order_and_other_alarm_types_untouched():
    rules = level_rules("t", HOT, "temperature", ">=", [(90, "critical"), (60, "warning"), (75, "major")])
    rules.append(threshold_rule("hum", "湿度过高", "humidity", ">=", 90))
    eng = RuleEngine({DEV: rules}, ManualClock())
    first = eng.on_message(DEV, tel(temperature=76, humidity=95))
    assert sorted((s.alarm_type, s.action, s.severity) for s in first) == [(HOT, "raise", "major"),
                                                                           ("湿度过高", "raise", "warning")]
    assert acts(eng.on_message(DEV, tel(temperature=91))) == [("severity", "critical")]
    assert acts(eng.on_message(DEV, tel(temperature=61, humidity=10))) == [("clear", "warning"),
                                                                           ("severity", "warning")]
    assert acts(eng.on_message(DEV, tel(temperature=10))) == [("clear", "warning")]


def test_levels_with_duration_escalate_on_tick():
    clock = ManualClock(100.0)
    rules = [threshold_rule("t:warning", HOT, "temperature", ">=", 60),
             threshold_rule("t:critical", HOT, "temperature", ">=", 80, severity="critical", for_s=60)]
    eng = RuleEngine({DEV: rules}, clock)
    assert acts(eng.on_message(DEV, tel(temperature=85))) == [("raise", "warning")]
    clock.advance(61)
    assert acts(eng.tick()) == [("severity", "critical")]


def test_major_is_a_rule_severity():
    r = Rule.model_validate({"id": "x", "alarm_type": "a", "severity": "major",
                             "condition": {"kind": "threshold", "property": "p", "value": 1}})
    assert r.severity == "major"
    with pytest.raises(ValueError):
        level_rules("t", HOT, "temperature", ">=", [(60, "warning"), (70, "warning")])


def test_levels_survive_a_restart():
    clock = ManualClock(1000.0)
    eng = RuleEngine({DEV: levels()}, clock)
    eng.on_message(DEV, tel(temperature=65))
    eng.on_message(DEV, tel(temperature=85))
    snap = json.loads(json.dumps(eng.snapshot()))  # as stored in monitoring_state
    again = RuleEngine.restore(snap, {DEV: levels()}, ManualClock(5.0))
    assert sorted(again.active(DEV)) == [(DEV, "temp:critical"), (DEV, "temp:warning")]
    assert again.on_message(DEV, tel(temperature=90)) == []  # no second raise after the restart
    assert acts(again.on_message(DEV, tel(temperature=70))) == [("severity", "warning")]
    assert acts(again.on_message(DEV, tel(temperature=40))) == [("clear", "warning")]


# -- the alarm side ----------------------------------------------------------------------------

def _device(s, ext):
    return devices.create_device(s, name=ext, product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                                 external_id=ext)


def apply(s, signals) -> None:
    """What the monitoring runtime's flush does with each signal (incl. the "severity" branch)."""
    for sig in signals:
        if sig.action == "raise":
            service.raise_alarm(s, device_id=sig.device_id, alarm_type=sig.alarm_type, severity=sig.severity,
                                source="rule", message=sig.alarm_type, details={"rule": sig.rule_id})
        elif sig.action == "severity":
            service.change_severity(s, device_id=sig.device_id, alarm_type=sig.alarm_type,
                                    severity=sig.severity, reason=sig.reason)
        elif sig.action == "clear":
            service.auto_clear(s, sig.device_id, sig.alarm_type, f"条件已恢复：{sig.reason}")


def test_alarm_follows_the_levels_up_and_down(db):
    with db.session() as s:
        did = _device(s, "lv-1").id
    eng = RuleEngine({did: levels()}, ManualClock())
    with db.session() as s:
        apply(s, eng.on_message(did, tel(temperature=65)))
        assert service.open_alarm(s, did, HOT).severity == "warning"
        apply(s, eng.on_message(did, tel(temperature=85)))
        assert service.open_alarm(s, did, HOT).severity == "critical"
        apply(s, eng.on_message(did, tel(temperature=70)))
        a = service.open_alarm(s, did, HOT)
        assert a.severity == "warning" and a.count == 1  # one alarm throughout, not three
        hist = a.details["severity_history"]
        assert [(h["from"], h["to"]) for h in hist] == [("warning", "critical"), ("critical", "warning")]
        assert "降级" in hist[-1]["reason"] and hist[-1]["at"]
        apply(s, eng.on_message(did, tel(temperature=50)))
        assert service.open_alarm(s, did, HOT) is None


def test_change_severity_edges(db):
    with db.session() as s:
        did = _device(s, "lv-2").id
        assert service.change_severity(s, device_id=did, alarm_type=HOT, severity="critical", reason="x") is None
        service.raise_alarm(s, device_id=did, alarm_type=HOT, severity="warning", source="rule")
        with pytest.raises(Invalid):
            service.change_severity(s, device_id=did, alarm_type=HOT, severity="loud", reason="x")
        same = service.change_severity(s, device_id=did, alarm_type=HOT, severity="warning", reason="x")
        assert "severity_history" not in same.details  # nothing changed, nothing recorded
        for i in range(25):
            service.change_severity(s, device_id=did, alarm_type=HOT, severity=("major", "info")[i % 2],
                                    reason=f"r{i}")
    with db.session() as s:
        a = service.open_alarm(s, did, HOT)
        assert len(a.details["severity_history"]) == service.SEVERITY_HISTORY_MAX
        assert a.details["severity_history"][-1]["reason"] == "r24" and a.severity == "major"


def test_an_override_adds_a_critical_level_to_a_default_rule(db):
    """A device override adds a higher level to the product's default range rule (same alarm type)."""
    from cityops.monitoring import rule_table

    with db.session() as s:
        d = devices.create_device(s, name="水位", external_id="lv-3",
                                  product_id=devices.product_by_code(s, "WATER-ONENET").id)
        did = d.id
        base = next(e.rule for e in rule_table.explain_device(s, did) if e.rule.id.startswith("range:")
                    and e.rule.id.endswith(":max"))
        cond = base.condition
        level = Rule(id=base.id + ":critical", alarm_type=base.alarm_type, severity="critical",
                     condition=Threshold(property=cond.property, op=">=", value=float(cond.value) * 2))
        rule_table.create_override(s, scope_kind="device", scope_value=str(did), mode="add",
                                   rule=level.model_dump(mode="json"))
        table = rule_table.RuleTable()
        table.load(s)
    eng = RuleEngine(table.rules_for, ManualClock())
    v = float(cond.value)
    assert acts(eng.on_message(did, tel(**{cond.property: v + 0.1}))) == [("raise", base.severity)]
    assert acts(eng.on_message(did, tel(**{cond.property: v * 2 + 1}))) == [("severity", "critical")]


def test_vendor_events_are_not_levels():
    """The smoke detector's status reading and its vendor event share 烟雾报警: they stay two
    independent sources (the status clearing still ends the alarm), as before levels existed."""
    from cityops.devices.seed import PRODUCTS
    from cityops.monitoring.rule_table import product_rules

    smoke = next(p for p in PRODUCTS if p["code"] == "SMOKE-NB-CTW")
    eng = RuleEngine({DEV: product_rules("smoke", smoke["properties"], smoke["events"])}, ManualClock())
    assert acts(eng.on_message(DEV, tel(status="smoke_alarm"))) == [("raise", "critical")]
    ev = DeviceMessage(kind="event", external_id="t", event="smoke_alarm")
    assert acts(eng.on_message(DEV, ev)) == [("raise", "critical")]  # opens or repeats the alarm
    assert acts(eng.on_message(DEV, tel(status="normal"))) == [("clear", "critical")]


def test_an_event_clear_does_not_end_an_alarm_whose_levels_hold():
    rules = levels() + [Rule(id="event:over_temp", alarm_type=HOT, severity="critical",
                             condition={"kind": "event", "events": ["over_temp"]})]
    eng = RuleEngine({DEV: rules}, ManualClock())
    eng.on_message(DEV, tel(temperature=65))
    on = DeviceMessage(kind="event", external_id="t", event="over_temp", event_state="active")
    off = DeviceMessage(kind="event", external_id="t", event="over_temp", event_state="inactive")
    assert acts(eng.on_message(DEV, on)) == [("raise", "critical")]
    assert eng.on_message(DEV, off) == []  # the warning level still holds
    assert acts(eng.on_message(DEV, tel(temperature=40))) == [("clear", "warning")]
