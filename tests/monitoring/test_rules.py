"""IOT-5 rule evaluator: thresholds + hysteresis, duration, repeat, AND/OR, rate of change,
stale values, low battery, weak signal, vendor events, coercion, dedup, snapshot/restore."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import ValidationError

from cityops.devices.seed import PRODUCTS
from cityops.ingest.message import DeviceMessage
from cityops.monitoring.clock import ManualClock
from cityops.monitoring.rules import (
    GB28181_ALARM_METHODS,
    VENDOR_EVENT_MAP,
    RuleEngine,
    Signal,
    gb_alarm_rules,
    low_battery_rule,
    merge_rules,
    range_rules,
    status_rule,
    threshold_rule,
    to_number,
    vendor_event_rules,
    weak_signal_rule,
)
from cityops.monitoring.rules_schema import (
    All,
    Any,
    Event,
    Not,
    RateOfChange,
    Repeat,
    Rule,
    Scope,
    Stale,
    Threshold,
)

DEV = 7


def tel(**props) -> DeviceMessage:
    return DeviceMessage(kind="telemetry", external_id="ext-7", properties=props)


def ev(name: str, state: str | None = None, **props) -> DeviceMessage:
    return DeviceMessage(kind="event", external_id="ext-7", event=name, event_state=state, properties=props)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


def engine(clock: ManualClock, *rules: Rule, **kw) -> RuleEngine:
    return RuleEngine({DEV: list(rules)}, clock, **kw)


def actions(signals: list[Signal]) -> list[tuple[str, str]]:
    return [(s.rule_id, s.action) for s in signals]


WATER = threshold_rule("water", "积水超限", "water_level", ">=", 15, severity="critical", clear_at=12)


# -- thresholds & hysteresis ----------------------------------------------------------------

def test_threshold_raises_once_and_clears(clock):
    e = engine(clock, Rule(id="t", alarm_type="高温", condition=Threshold(property="temperature", op=">", value=55)))
    assert e.on_message(DEV, tel(temperature=40)) == []
    [s] = e.on_message(DEV, tel(temperature=60))
    assert (s.device_id, s.rule_id, s.alarm_type, s.severity, s.action, s.at, s.value) == (
        DEV, "t", "高温", "warning", "raise", 1000.0, 60)
    assert e.on_message(DEV, tel(temperature=70)) == []  # no duplicate raise
    assert e.on_message(DEV, tel(temperature=80)) == []
    assert actions(e.on_message(DEV, tel(temperature=55))) == [("t", "clear")]
    assert e.active() == []


def test_hysteresis_values_between_keep_the_alarm(clock):
    e = engine(clock, WATER)
    assert actions(e.on_message(DEV, tel(water_level=15))) == [("water", "raise")]  # raise at >= X
    for v in (14.9, 13, 12, 12.0, 14, 16):  # in [12, 15) and back above: stays raised, silently
        assert e.on_message(DEV, tel(water_level=v)) == [], v
    assert e.active() == [(DEV, "water")]
    [s] = e.on_message(DEV, tel(water_level=11.9))  # clear at < Y
    assert s.action == "clear" and s.value == 11.9
    assert e.on_message(DEV, tel(water_level=14)) == []  # below X: no re-raise
    assert actions(e.on_message(DEV, tel(water_level=15.5))) == [("water", "raise")]


def test_hysteresis_for_low_side_thresholds(clock):
    e = engine(clock, threshold_rule("p", "水压过低", "pressure", "<", 0.14, clear_at=0.2))
    assert actions(e.on_message(DEV, tel(pressure=0.1))) == [("p", "raise")]
    assert e.on_message(DEV, tel(pressure=0.18)) == []
    assert actions(e.on_message(DEV, tel(pressure=0.21))) == [("p", "clear")]


def test_explicit_clear_condition(clock):
    r = Rule(id="c", alarm_type="x", condition=Threshold(property="a", value=10),
             clear_condition=Threshold(property="b", op="==", value="reset"))
    e = engine(clock, r)
    assert actions(e.on_message(DEV, tel(a=11))) == [("c", "raise")]
    assert e.on_message(DEV, tel(a=0)) == []
    assert actions(e.on_message(DEV, tel(b="reset"))) == [("c", "clear")]


def test_string_numbers_are_coerced_and_garbage_never_matches(clock):
    e = engine(clock, WATER)
    assert e.on_message(DEV, tel(water_level="14")) == []
    assert actions(e.on_message(DEV, tel(water_level=" 23.5 "))) == [("water", "raise")]
    # non-numeric values satisfy neither the raise nor the clear side
    assert e.on_message(DEV, tel(water_level="err")) == []
    assert e.on_message(DEV, tel(water_level=None)) == []
    assert e.on_message(DEV, tel(water_level="nan")) == []
    assert actions(e.on_message(DEV, tel(water_level="3"))) == [("water", "clear")]
    assert e.on_message(DEV, tel(water_level="high")) == []
    assert to_number("80") == 80.0 and to_number(True) is None and to_number("inf") is None


def test_partial_messages_use_latest_values(clock):
    e = engine(clock, WATER)
    assert actions(e.on_message(DEV, tel(water_level=20))) == [("water", "raise")]
    assert e.on_message(DEV, tel(battery=80)) == []  # property absent: stays raised
    assert e.value(DEV, "battery") == 80


def test_text_and_bool_equality(clock):
    e = engine(clock, status_rule("smoke", "烟雾报警", "status", "smoke_alarm"),
               Rule(id="door", alarm_type="门开", condition=Threshold(property="door_open", op="==", value=True)))
    out = e.on_message(DEV, tel(status="smoke_alarm", door_open="1"))
    assert sorted(actions(out)) == [("door", "raise"), ("smoke", "raise")]
    assert sorted(actions(e.on_message(DEV, tel(status="normal", door_open="false")))) == [
        ("door", "clear"), ("smoke", "clear")]


def test_no_rules_or_unknown_device(clock):
    e = engine(clock, WATER)
    assert e.on_message(99, tel(water_level=100)) == []
    e2 = RuleEngine(lambda d: [], clock)
    assert e2.on_message(1, tel(water_level=100)) == []


def test_disabled_rule_and_scope_merge(clock):
    model = [WATER, low_battery_rule()]
    device = [WATER.model_copy(update={"enabled": False, "scope": Scope(level="device", key=DEV)})]
    tag = [threshold_rule("water", "积水超限", "water_level", ">=", 30, clear_at=25, severity="critical")]
    merged = merge_rules(model, tag)
    assert [r.id for r in merged] == ["water", "low_battery"] and merged[0].condition.value == 30.0
    e = engine(clock, *merge_rules(model, tag, device))
    assert actions(e.on_message(DEV, tel(water_level=50, battery=10))) == [("low_battery", "raise")]


# -- duration ------------------------------------------------------------------------------------

def test_duration_raises_exactly_after_for_s_on_tick(clock):
    r = threshold_rule("hot", "超温", "cable_temp", ">=", 70, for_s=300, clear_at=65)
    e = engine(clock, r)
    assert e.on_message(DEV, tel(cable_temp=75)) == []  # timer starts at 1000
    clock.advance(299.9)
    assert e.tick() == []
    clock.advance(0.1)
    [s] = e.tick()
    assert s.action == "raise" and s.at == 1300.0 and s.value == 75
    assert e.tick() == []
    clock.advance(1000)
    assert e.tick() == []  # still no duplicate


def test_duration_reset_by_non_matching_sample(clock):
    e = engine(clock, threshold_rule("hot", "超温", "cable_temp", ">=", 70, for_s=300))
    e.on_message(DEV, tel(cable_temp=75))
    clock.advance(200)
    assert e.on_message(DEV, tel(cable_temp=60)) == []  # reset
    clock.advance(1)
    assert e.on_message(DEV, tel(cable_temp=71)) == []  # restarts at 1201
    clock.set(1500)
    assert e.tick() == []
    clock.set(1501)
    assert e.on_message(DEV, tel(cable_temp=72))[0].action == "raise"  # raised on a sample, too


def test_duration_garbage_value_resets(clock):
    e = engine(clock, threshold_rule("hot", "超温", "t", ">=", 70, for_s=60))
    e.on_message(DEV, tel(t="80"))
    clock.advance(30)
    e.on_message(DEV, tel(t="--"))
    clock.advance(30)
    assert e.tick() == []
    e.on_message(DEV, tel(t=80))
    clock.advance(60)
    assert actions(e.tick()) == [("hot", "raise")]


# -- repeat ---------------------------------------------------------------------------------------

def test_repeat_counts_rising_edges_within_window(clock):
    r = Rule(id="tilt", alarm_type="井盖倾斜", condition=Threshold(property="tilt", op=">", value=15),
             repeat=Repeat(count=3, within_s=600))
    e = engine(clock, r)
    for i in range(2):
        assert e.on_message(DEV, tel(tilt=20)) == []
        assert e.on_message(DEV, tel(tilt=20)) == []  # still true: not a new occurrence
        clock.advance(100)
        assert e.on_message(DEV, tel(tilt=5)) == []
        clock.advance(100)
    [s] = e.on_message(DEV, tel(tilt=30))  # third edge at 1400, first at 1000: within 600
    assert s.action == "raise" and "3 times" in s.reason
    # quiet for within_s → clears (no explicit clear condition)
    e.on_message(DEV, tel(tilt=5))
    clock.advance(599)
    assert e.tick() == []
    clock.advance(1)
    assert actions(e.tick()) == [("tilt", "clear")]


def test_repeat_window_expires_old_occurrences(clock):
    e = engine(clock, Rule(id="ev", alarm_type="x", condition=Event(events=["tilt_alarm"]),
                           repeat=Repeat(count=3, within_s=600)))
    e.on_message(DEV, ev("tilt_alarm"))
    clock.advance(400)
    e.on_message(DEV, ev("tilt_alarm"))
    clock.advance(300)  # first one is now 700 s old
    assert e.on_message(DEV, ev("tilt_alarm")) == []
    clock.advance(10)
    # consecutive event messages each count (events are momentary)
    assert actions(e.on_message(DEV, ev("tilt_alarm"))) == [("ev", "raise")]


def test_repeat_signals_while_raised(clock):
    e = engine(clock, WATER, emit_repeats=True)
    e.on_message(DEV, tel(water_level=20))
    e.on_message(DEV, tel(water_level=13))  # condition false, alarm kept (hysteresis)
    [s] = e.on_message(DEV, tel(water_level=18))
    assert (s.action, s.count) == ("repeat", 1)
    assert e.on_message(DEV, tel(water_level=19)) == []  # still true: not a new breach
    e.on_message(DEV, tel(water_level=14))
    assert e.on_message(DEV, tel(water_level=16))[0].count == 2
    e2 = engine(clock, WATER)  # default: silent
    e2.on_message(DEV, tel(water_level=20))
    e2.on_message(DEV, tel(water_level=13))
    assert e2.on_message(DEV, tel(water_level=18)) == []


# -- AND / OR / NOT ---------------------------------------------------------------------------------

def test_all_across_properties(clock):
    r = Rule(id="fire", alarm_type="疑似火情", severity="critical",
             condition=All([Threshold(property="temperature", op=">=", value=50),
                            Threshold(property="status", op="==", value="smoke_alarm")]))
    e = engine(clock, r)
    assert e.on_message(DEV, tel(temperature=60)) == []
    assert actions(e.on_message(DEV, tel(status="smoke_alarm"))) == [("fire", "raise")]
    assert e.on_message(DEV, tel(temperature=55)) == []
    assert actions(e.on_message(DEV, tel(temperature=30))) == [("fire", "clear")]  # any part clears


def test_any_across_properties(clock):
    r = Rule(id="elec", alarm_type="电气火灾隐患",
             condition=Any([Threshold(property="leakage_ma", op=">=", value=300, clear_below=250),
                            Threshold(property="cable_temp", op=">=", value=70, clear_below=65)]))
    e = engine(clock, r)
    assert e.on_message(DEV, tel(leakage_ma=100, cable_temp=40)) == []
    assert actions(e.on_message(DEV, tel(cable_temp=72))) == [("elec", "raise")]
    assert e.on_message(DEV, tel(leakage_ma=320)) == []
    assert e.on_message(DEV, tel(cable_temp=60)) == []  # leakage still high
    assert e.on_message(DEV, tel(leakage_ma=260)) == []  # within leakage hysteresis band
    assert actions(e.on_message(DEV, tel(leakage_ma=200))) == [("elec", "clear")]  # every part cleared


def test_not_condition(clock):
    e = engine(clock, Rule(id="n", alarm_type="x", condition=Not(Threshold(property="status", op="==",
                                                                            value="normal"))))
    assert e.on_message(DEV, tel(status="normal")) == []
    assert actions(e.on_message(DEV, tel(status="tamper"))) == [("n", "raise")]
    assert actions(e.on_message(DEV, tel(status="normal"))) == [("n", "clear")]


# -- rate of change -------------------------------------------------------------------------------

def test_rate_of_change(clock):
    r = Rule(id="rise", alarm_type="水位快速上涨",
             condition=RateOfChange(property="water_level", per_s=60, op=">=", value=2))  # ≥ 2 cm / min
    e = engine(clock, r)
    assert e.on_message(DEV, tel(water_level=1)) == []  # no previous sample: no rate
    clock.advance(60)
    assert e.on_message(DEV, tel(water_level="2")) == []  # 1 cm/min
    clock.advance(30)
    [s] = e.on_message(DEV, tel(water_level=3.5))  # 3 cm/min
    assert s.action == "raise"
    clock.advance(30)
    assert e.on_message(DEV, tel(water_level="x")) == []  # not numeric: rate unchanged
    clock.advance(60)
    assert actions(e.on_message(DEV, tel(water_level=4))) == [("rise", "clear")]  # 0.5 cm/min vs 3.5


def test_rate_of_change_absolute(clock):
    e = engine(clock, Rule(id="jump", alarm_type="x",
                           condition=RateOfChange(property="v", op=">", value=1, absolute=True)))
    e.on_message(DEV, tel(v=10))
    clock.advance(1)
    assert actions(e.on_message(DEV, tel(v=5))) == [("jump", "raise")]


# -- stale ---------------------------------------------------------------------------------------

def test_stale_on_tick_and_fresh_reading_clears(clock):
    e = engine(clock, Rule(id="stale", alarm_type="数据停滞", condition=Stale(property="water_level", after_s=3600)))
    e.on_message(DEV, tel(water_level=3, battery=90))
    clock.advance(1800)
    assert e.on_message(DEV, tel(battery=89)) == []  # other properties do not count
    clock.advance(1799)
    assert e.tick() == []
    clock.advance(1)
    [s] = e.tick()
    assert (s.action, s.at) == ("raise", 4600.0)
    assert e.tick() == []
    clock.advance(10)
    assert actions(e.on_message(DEV, tel(water_level=4))) == [("stale", "clear")]


def test_stale_for_a_never_reported_property_starts_at_first_message(clock):
    e = engine(clock, Rule(id="s", alarm_type="x", condition=Stale(property="rsrp", after_s=100)))
    e.on_message(DEV, tel(battery=90))
    assert e.tick(1099) == []
    assert actions(e.tick(1100)) == [("s", "raise")]
    e.touch(8)  # not configured: nothing to watch
    e2 = engine(clock, Rule(id="s", alarm_type="x", condition=Stale(property="rsrp", after_s=100)))
    e2.touch(DEV)  # a device that never reports at all
    assert actions(e2.tick(1100)) == [("s", "raise")]


# -- helpers: low battery, weak signal, ranges, vendor events --------------------------------------

def test_low_battery(clock):
    e = engine(clock, low_battery_rule())
    assert e.on_message(DEV, tel(battery=21)) == []
    [s] = e.on_message(DEV, tel(battery="20"))
    assert (s.alarm_type, s.action) == ("低电量", "raise")
    assert e.on_message(DEV, tel(battery=24)) == []  # hysteresis up to 25
    assert actions(e.on_message(DEV, tel(battery=100))) == [("low_battery", "clear")]


def test_weak_signal(clock):
    e = engine(clock, weak_signal_rule())
    assert e.on_message(DEV, tel(rsrp=-110)) == []
    [s] = e.on_message(DEV, tel(rsrp="-111"))
    assert (s.alarm_type, s.action) == ("信号弱", "raise")
    assert e.on_message(DEV, tel(rsrp=-106)) == []
    assert actions(e.on_message(DEV, tel(rsrp=-104))) == [("weak_signal", "clear")]


def test_range_rules_from_seed_product(clock):
    smoke = next(p for p in PRODUCTS if p["code"] == "SMOKE-NB-CTW")
    rules = range_rules(smoke["properties"], skip=["battery"])
    ids = {r.id for r in rules}
    assert ids == {"range:temperature:max", "range:temperature:min", "range:rsrp:max", "range:rsrp:min"}
    e = engine(clock, *rules)
    [s] = e.on_message(DEV, tel(temperature=56, status="normal"))
    assert (s.rule_id, s.alarm_type) == ("range:temperature:max", "温度超上限")
    assert e.on_message(DEV, tel(temperature=53)) == []  # clear at 55 - 5 % of 65 = 51.75
    assert actions(e.on_message(DEV, tel(temperature=51))) == [("range:temperature:max", "clear")]
    assert actions(e.on_message(DEV, tel(rsrp=-120))) == [("range:rsrp:min", "raise")]
    # every seed product yields valid, JSON-storable rules
    for p in PRODUCTS:
        for r in range_rules(p["properties"]) + vendor_event_rules(e["identifier"] for e in p["events"]):
            assert Rule.model_validate_json(r.model_dump_json()) == r


def test_vendor_events_active_raises_inactive_clears(clock):
    e = engine(clock, *vendor_event_rules(["VMD", "videoloss", "linedetection"]))
    [s] = e.on_message(DEV, ev("videoLoss", "active"))  # Hikvision eventType, case-insensitive
    assert (s.rule_id, s.alarm_type, s.severity, s.action, s.value) == (
        "event:videoloss", "视频丢失", "warning", "raise", "videoloss")
    assert e.on_message(DEV, ev("videoloss", "active")) == []  # no duplicate raise
    assert e.on_message(DEV, tel(x=1)) == []  # an unrelated message does not clear it
    assert actions(e.on_message(DEV, ev("videoloss", "inactive"))) == [("event:videoloss", "clear")]
    assert e.on_message(DEV, ev("videoloss", "inactive")) == []
    assert e.on_message(DEV, ev("unknown_thing")) == []


def test_ctwing_event_without_state_and_mapping_table(clock):
    smoke = next(p for p in PRODUCTS if p["code"] == "SMOKE-NB-CTW")
    rules = vendor_event_rules(e["identifier"] for e in smoke["events"])
    assert {r.id for r in rules} == {"event:smoke_alarm", "event:low_battery", "event:tamper"}  # self_test unmapped
    e = engine(clock, *rules)
    [s] = e.on_message(DEV, ev("smoke_alarm", status="smoke_alarm", temperature=31.5))
    assert (s.alarm_type, s.severity) == ("烟雾报警", "critical")
    assert VENDOR_EVENT_MAP["illegal_move"] == ("井盖异动", "critical")
    assert VENDOR_EVENT_MAP["videoloss"] == ("视频丢失", "warning")


def test_gb_alarm_codes(clock):
    e = engine(clock, *gb_alarm_rules())
    assert len(GB28181_ALARM_METHODS) == 7
    [s] = e.on_message(DEV, ev("5", "active"))
    assert (s.rule_id, s.alarm_type) == ("gb28181:5", "视频报警")
    assert actions(e.on_message(DEV, ev("gb28181:5", "inactive"))) == [("gb28181:5", "clear")]


def test_property_state_with_duration(clock):
    # events are momentary (for_s is rejected for them); a smoke status property is a state
    e = engine(clock, Rule(id="s", alarm_type="烟雾报警", for_s=10,
                           condition=Threshold(property="status", op="==", value="smoke_alarm")))
    e.on_message(DEV, ev("smoke_alarm", status="smoke_alarm"))
    assert actions(e.tick(1010)) == [("s", "raise")]


# -- definitions ----------------------------------------------------------------------------------

def test_rule_json_round_trip_and_validation():
    r = Rule(id="x", alarm_type="t", severity="critical", repeat=Repeat(count=2, within_s=60),
             condition=All([Any([Threshold(property="a", value=1.5),
                                 RateOfChange(property="b", op="<", value=-1, per_s=60)]),
                            Not(Stale(property="c", after_s=10)), Event(events=["VMD"], states=["active"])]),
             clear_condition=Threshold(property="a", op="<", value=1))
    again = Rule.model_validate(json.loads(json.dumps(r.model_dump(mode="json"))))
    assert again == r
    with pytest.raises(ValidationError):
        Threshold(property="a", op=">=", value="high")
    assert Threshold.model_validate({"property": "a", "op": ">=", "value": "80"}).value == 80.0
    assert Threshold(property="a", op="==", value="80").value == "80"  # == keeps text
    with pytest.raises(ValidationError):
        Rule(id="x", alarm_type="t", condition=Event(events=["VMD"]), for_s=5)
    with pytest.raises(ValidationError):
        Threshold(property="a", op="<=", value=10, clear_below=5)
    with pytest.raises(ValidationError):
        Threshold(property="a", op=">=", value=10, clear_below=12)
    with pytest.raises(ValidationError):
        Rule(id="x", alarm_type="t", condition=Threshold(property="a", value=1), for_s=5,
             repeat=Repeat(count=2, within_s=10))


# -- restart ----------------------------------------------------------------------------------------

def restart(e: RuleEngine, rules: list[Rule], clock: ManualClock, **kw) -> RuleEngine:
    snap = json.loads(json.dumps(e.snapshot()))  # must survive JSON
    return RuleEngine.restore(snap, {DEV: rules}, clock, **kw)


def test_restore_duration_half_before_half_after(clock):
    rule = threshold_rule("hot", "超温", "cable_temp", ">=", 70, for_s=300)
    e = engine(clock, rule)
    e.on_message(DEV, tel(cable_temp=75))
    clock.advance(150)
    assert e.tick() == []
    e2 = restart(e, [rule], clock)
    clock.advance(149)
    assert e2.tick() == []
    clock.advance(1)
    assert actions(e2.tick()) == [("hot", "raise")]


def test_restore_with_a_fresh_clock_and_downtime(clock):
    rule = threshold_rule("hot", "超温", "cable_temp", ">=", 70, for_s=300)
    e = engine(clock, rule)
    e.on_message(DEV, tel(cable_temp=75))
    clock.advance(150)
    snap = json.loads(json.dumps(e.snapshot()))
    new_clock = ManualClock(5.0)  # monotonic time restarts after a reboot
    e2 = RuleEngine.restore(snap, {DEV: [rule]}, new_clock, elapsed_s=100)  # 100 s of downtime count
    new_clock.advance(49)
    assert e2.tick() == []
    new_clock.advance(1)
    assert actions(e2.tick()) == [("hot", "raise")]


def test_restore_keeps_active_alarm_and_hysteresis(clock):
    e = engine(clock, WATER)
    e.on_message(DEV, tel(water_level=20))
    e.on_message(DEV, tel(water_level=13))
    e2 = restart(e, [WATER], clock)
    assert e2.active() == [(DEV, "water")]
    assert e2.on_message(DEV, tel(water_level=20)) == []  # not re-raised
    assert e2.on_message(DEV, tel(water_level=12.5)) == []  # hysteresis band still holds it
    assert actions(e2.on_message(DEV, tel(water_level=11))) == [("water", "clear")]


def test_restore_keeps_rate_stale_and_repeat_state(clock):
    rate = Rule(id="rise", alarm_type="x", condition=RateOfChange(property="v", op=">=", value=1))
    stale = Rule(id="stale", alarm_type="y", condition=Stale(property="v", after_s=100))
    rep = Rule(id="rep", alarm_type="z", condition=Event(events=["tilt_alarm"]), repeat=Repeat(count=2, within_s=60))
    rules = [rate, stale, rep]
    e = engine(clock, *rules)
    e.on_message(DEV, tel(v=10))
    e.on_message(DEV, ev("tilt_alarm"))
    clock.advance(50)
    e2 = restart(e, rules, clock)
    assert actions(e2.on_message(DEV, ev("tilt_alarm", v=70))) == [("rise", "raise"), ("rep", "raise")]
    clock.advance(60)
    assert actions(e2.tick()) == [("rep", "clear")]  # repeat window quiet
    clock.advance(39)
    assert e2.tick() == []
    clock.advance(1)
    assert actions(e2.tick()) == [("stale", "raise")]


def test_snapshot_with_odd_vendor_values(clock):
    e = engine(clock, WATER)
    e.on_message(DEV, tel(water_level=float("nan"), blob=b"\x00", nested={"a": [1, 2]}, bad={"x": {1, 2}}))
    snap = json.loads(json.dumps(e.snapshot(), allow_nan=False))
    e2 = RuleEngine.restore(snap, {DEV: [WATER]}, clock)
    assert e2.value(DEV, "nested") == {"a": [1, 2]}
    assert actions(e2.on_message(DEV, tel(water_level="16"))) == [("water", "raise")]


def test_restore_drops_state_of_changed_rules(clock):
    e = engine(clock, WATER)
    e.on_message(DEV, tel(water_level=20))
    changed = threshold_rule("water", "积水超限", "water_level", ">=", 25, clear_at=20)
    e2 = restart(e, [changed], clock)
    assert e2.active() == []
    assert e2.on_message(DEV, tel(water_level=21)) == []
    with pytest.raises(ValueError):
        RuleEngine.restore({"version": 99}, {}, clock)


def test_invalidate_keeps_unchanged_rule_state(clock):
    rules = {DEV: [WATER]}
    e = RuleEngine(lambda d: rules.get(d, []), clock)
    e.on_message(DEV, tel(water_level=20))
    rules[DEV] = [WATER, low_battery_rule()]
    e.invalidate(DEV)
    assert actions(e.on_message(DEV, tel(water_level=19, battery=5))) == [("low_battery", "raise")]
    assert e.active(DEV) == [(DEV, "water"), (DEV, "low_battery")]


# -- micro-benchmark (printed, not asserted) -----------------------------------------------------

def test_micro_benchmark(clock, capsys):
    rules = [WATER, low_battery_rule(), weak_signal_rule(),
             threshold_rule("hot", "超温", "temperature", ">=", 55, for_s=300),
             Rule(id="rise", alarm_type="x", condition=RateOfChange(property="water_level", op=">=", value=1)),
             Rule(id="and", alarm_type="y", condition=All([Threshold(property="temperature", value=50),
                                                           Threshold(property="battery", op="<", value=30)])),
             *vendor_event_rules(["smoke_alarm", "tamper"])]
    e = RuleEngine({d: rules for d in range(100)}, clock)
    msgs = [tel(water_level=str(i % 20), battery=50 + i % 40, rsrp=-100 - i % 15, temperature=20 + i % 40)
            for i in range(100)]
    n = 20000
    t0 = time.perf_counter()
    for i in range(n):
        clock.advance(1)
        e.on_message(i % 100, msgs[i % 100])
    dt = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n[IOT-5 rules bench] {dt / n * 1e6:.1f} µs/message, "
              f"{dt / n / len(rules) * 1e6:.2f} µs/rule ({len(rules)} rules, 4 properties)")


def test_views_keep_reading_times_and_rates_only_for_rules_that_use_them(clock):
    """Memory per tracked device (IOT-5 §6): a plain threshold keeps latest values only; a
    stale or rate-of-change rule adds what it needs, also when added by a reload."""
    rules = {DEV: [WATER]}
    e = RuleEngine(lambda d: rules.get(d, []), clock)
    e.on_message(DEV, tel(water_level=3, battery=80))
    view = e._views[DEV]
    assert view.seen is None and view.prev is None and view.rate is None
    assert e.value(DEV, "battery") == 80, "latest values are kept for every property"
    rules[DEV] = [WATER, Rule(id="rise", alarm_type="水位上涨过快",
                              condition=RateOfChange(property="water_level", op=">=", value=1, per_s=60))]
    e.invalidate()
    e.on_message(DEV, tel(water_level=3))
    clock.advance(60)
    assert actions(e.on_message(DEV, tel(water_level=5))) == [("rise", "raise")]
    assert view.prev is not None and view.seen is None
