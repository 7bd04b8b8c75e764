"""Emergency/holiday monitoring modes (EMRG-4): indicator validation, each source's value on
seeded devices, alarms and events, level changes logged once each, sample pruning, defaults."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cityops.audit.models import AuditEntry
from cityops.core.errors import Conflict, Invalid
from cityops.core.timeutil import utcnow
from cityops.devices import service as devices
from cityops.events import lifecycle
from cityops.events import service as events
from cityops.ingest import service as ingest
from cityops.ingest.message import DeviceMessage
from cityops.monitoring import service as monitoring
from cityops.screen import mode_jobs, modes
from cityops.screen.mode_models import ScreenMode, ScreenModeLog, ScreenModeSample
from tests.events.helpers import street_point

WATER = {"key": "max_water", "label": "最大积水深度", "unit": "cm", "direction": "above",
         "thresholds": {"warn": 15, "danger": 25},
         "source": {"kind": "device_value", "device_type": "water_level", "property": "water_level",
                    "aggregate": "max"}}


def _ind(**source) -> dict:
    ind = copy.deepcopy(WATER)
    ind["source"].update(source)
    return ind


# -- validation (no database) ----------------------------------------------------------------

def test_defaults_are_valid():
    for d in modes.DEFAULT_MODES:
        assert len(modes.validate_indicators(d["indicators"])) == len(d["indicators"])


@pytest.mark.parametrize("raw, message", [
    ("[{", "不是有效的 JSON"),
    ({"key": "x"}, "必须是 JSON 数组"),
    ([], "至少需要一个指标"),
    ([{**WATER, "key": "Bad Key"}], "第 1 个指标（Bad Key）：key 必须以小写字母开头"),
    ([WATER, WATER], "第 2 个指标：key 'max_water' 重复"),
    ([{**WATER, "label": ""}], "缺少指标名称"),
    ([{**WATER, "direction": "up"}], "direction 必须是 above"),
    ([{**WATER, "thresholds": {"warn": 30, "danger": 25}}], "预警值不能大于告急值"),
    ([{**WATER, "direction": "below", "thresholds": {"warn": 90, "danger": 95}}], "预警值不能小于告急值"),
    ([{**WATER, "thresholds": {}}], "至少需要预警值 warn 或告急值 danger 之一"),
    ([{**WATER, "thresholds": {"warn": "高"}}], "预警值 warn必须是数字"),
    ('[{"key": "a", "label": "a", "thresholds": {"warn": Infinity}, "source": {"kind": "traffic"}}]', "必须是数字"),
    ([{**WATER, "colour": "red"}], "不认识字段：colour"),
    ([_ind(kind="magic")], "数据来源类型 kind='magic' 不支持"),
    ([_ind(device_type="submarine")], "设备类型 'submarine' 不存在"),
    ([_ind(property="water level")], "property 必须是设备上报的属性标识"),
    ([_ind(aggregate="median")], "aggregate 必须是 max / min / avg / sum / count_above 之一"),
    ([_ind(aggregate="count_above")], "count_above 时需要 level"),
    ([_ind(level=3)], "只有 aggregate 为 count_above 时才使用 level"),
    ([_ind(max_age_min=0)], "max_age_min 必须是 1–10080"),
    ([_ind(street="华阳路")], "street 必须是街道代码"),
    ([_ind(colour="red")], "数据来源 device_value 不认识字段：colour"),
    ([{**WATER, "source": {"kind": "event_count", "categories": ["防汛"]}}], "事件分类代码 防汛 无效"),
    ([{**WATER, "source": {"kind": "event_count", "hours": 0}}], "hours 必须是 1–168"),
    ([{**WATER, "source": {"kind": "alarm_count", "severities": ["fatal"]}}], "告警级别 fatal 不存在"),
    ([{**WATER, "source": {"kind": "alarm_count", "device_types": "water_level"}}], "device_types必须是文本数组"),
    ([{**WATER, "source": {"kind": "online_rate"}}], "设备类型 None 不存在"),
    ([{**WATER, "source": "water"}], "source（数据来源）必须是对象"),
])
def test_bad_definitions_are_refused_in_chinese(raw, message):
    with pytest.raises(Invalid) as exc:
        modes.validate_indicators(raw)
    assert message in exc.value.detail


def test_traffic_preset_and_levels():
    ind = modes.validate_indicators([{"key": "t", "label": "车流", "thresholds": {"warn": 1},
                                      "source": {"kind": "traffic"}}])[0]
    assert ind["source"] == {"kind": "traffic", "device_type": "traffic_counter", "property": "vehicles",
                             "aggregate": "sum"}
    assert ind["direction"] == "above" and ind["unit"] == ""
    above, below = {"warn": 15, "danger": 25}, {"warn": 95, "danger": 90}
    assert [modes.level_of(v, above, "above") for v in (None, 14.9, 15, 24.9, 25, 40)] == \
        ["unknown", "normal", "warn", "warn", "danger", "danger"]
    assert [modes.level_of(v, below, "below") for v in (100, 95, 94.9, 90, 89.9)] == \
        ["normal", "normal", "warn", "warn", "danger"]
    assert modes.level_of(3, {"warn": None, "danger": 2}, "above") == "danger"


# -- values on seeded data (both databases) ------------------------------------------------------

def _devices(s, kind: str, n: int, *, street_index: int = 0, prefix: str = "m"):
    code, lon, lat = street_point(s, street_index)
    product = {"water_level": "WATER-ONENET", "traffic_counter": "TRAFFIC-MQTT", "noise": "NOISE-ALIYUN"}[kind]
    p = devices.product_by_code(s, product)
    out = [devices.create_device(s, name=f"{prefix}{i}", product_id=p.id, external_id=f"{prefix}-{i}",
                                 lon=lon + 0.0004 * i, lat=lat) for i in range(n)]
    assert all(d.street_code == code for d in out)
    return out, code


def _report(s, platform: str, readings: dict[str, dict]):
    """Telemetry through the ingest path (last_values merged by the database, online set)."""
    settings = {"onenet": {"token": "test-token"}, "mqtt_json": {"topic_templates": ["/{product}/{device}/report"]},
                "aliyun": {}}[platform]
    conn = next((c for c in ingest.list_connections(s) if c.kind == platform), None) or \
        ingest.create_connection(s, kind=platform, name=f"test-{platform}", settings=settings)
    ingest.ingest(s, conn, [DeviceMessage(kind="telemetry", external_id=ext, properties=props)
                            for ext, props in readings.items()])


def _value(s, ind, street=None, now=None):
    return modes.indicator_value(s, modes.validate_indicators([ind])[0], street=street, now=now or utcnow())


def test_device_value_aggregates(db):
    with db.session() as s:
        water, street = _devices(s, "water_level", 4)
        other, other_street = _devices(s, "water_level", 1, street_index=3, prefix="o")
        _report(s, "onenet", {"m-0": {"water_level": 5.0}, "m-1": {"water_level": 18.5},
                              "m-2": {"water_level": 30}, "m-3": {"water_level": "传感器故障"},
                              "o-0": {"water_level": 40.0, "battery": 80}})
    with db.session() as s:
        assert _value(s, _ind()) == 40.0
        assert _value(s, _ind(), street=street) == 30.0  # the mode's street
        assert _value(s, _ind(street=other_street)) == 40.0
        assert _value(s, _ind(aggregate="min")) == 5.0  # the text reading is skipped, not an error
        assert _value(s, _ind(aggregate="avg"), street=street) == round((5 + 18.5 + 30) / 3, 2)
        assert _value(s, _ind(aggregate="sum"), street=street) == 53.5
        assert _value(s, _ind(aggregate="count_above", level=15)) == 3
        assert _value(s, _ind(aggregate="count_above", level=15), street=street) == 2
        assert _value(s, _ind(property="rainfall")) is None  # nobody reports it: no data
        assert _value(s, _ind(device_type="gas")) is None
        assert _value(s, _ind(aggregate="count_above", level=15, device_type="gas")) == 0
        # readings older than max_age_min do not count
        assert _value(s, _ind(max_age_min=30), now=utcnow() + timedelta(hours=1)) is None
        assert _value(s, _ind(max_age_min=30)) == 40.0
        tag = devices.create_tag(s, category="scenario", name="下立交")
        devices.tag_devices(s, tag.id, device_ids=[water[1].id])
        assert _value(s, _ind(tag="下立交")) == 18.5
        assert _value(s, _ind(tag="不存在的标签")) is None
        devices.update_device(s, other[0].id, status="retired", reason="拆除")
        assert _value(s, _ind()) == 30.0  # retired devices are not watched


def test_traffic_and_online_rate(db):
    with db.session() as s:
        counters, _ = _devices(s, "traffic_counter", 3, prefix="tc")
        _report(s, "mqtt_json", {"tc-0": {"vehicles": 120, "avg_speed": 30.5},
                                 "tc-1": {"vehicles": 200, "avg_speed": 10.0}})
    with db.session() as s:
        traffic = {"key": "t", "label": "车流", "thresholds": {"warn": 300}, "source": {"kind": "traffic"}}
        assert _value(s, traffic) == 320.0
        speed = {**traffic, "source": {"kind": "traffic", "property": "avg_speed", "aggregate": "avg"}}
        assert _value(s, speed) == 20.25
        rate = {**traffic, "source": {"kind": "online_rate", "device_type": "traffic_counter"}}
        assert _value(s, rate) == round(200 / 3, 2)  # tc-2 never reported: not online
        assert _value(s, {**rate, "source": {"kind": "online_rate", "device_type": "gas"}}) is None


def test_alarm_count(db):
    with db.session() as s:
        water, street = _devices(s, "water_level", 3)
        noise, _ = _devices(s, "noise", 2, street_index=2, prefix="n")
        tag = next(t for t in devices.list_tags(s, category="scenario") if t.name == "龙之梦")
        devices.tag_devices(s, tag.id, device_ids=[noise[0].id])
        raise_ = monitoring.raise_alarm
        raise_(s, device_id=water[0].id, alarm_type="积水深度超上限", severity="warning", source="rule")
        raise_(s, device_id=water[1].id, alarm_type="低电量", severity="warning", source="rule")
        cleared = raise_(s, device_id=water[2].id, alarm_type="积水超限", severity="critical", source="vendor")
        monitoring.clear(s, cleared.id, by="duty", reason="水已退")
        quiet = raise_(s, device_id=water[2].id, alarm_type="水浸报警", severity="critical", source="vendor")
        quiet.suppressed = True
        raise_(s, device_id=noise[0].id, alarm_type="噪声超上限", severity="warning", source="rule")
        raise_(s, device_id=noise[1].id, alarm_type="水浸报警", severity="critical", source="vendor")
    base = {"key": "a", "label": "告警", "thresholds": {"warn": 1}}
    with db.session() as s:
        def count(**src):
            return _value(s, {**base, "source": {"kind": "alarm_count", **src}})

        assert count() == 4  # every active alarm: not the cleared one, not the suppressed one
        assert count(device_types=["water_level"]) == 2
        # device type OR alarm type
        assert count(device_types=["water_level"], alarm_types=["水浸报警"]) == 3
        assert count(alarm_types=["积水深度超上限", "积水超限"]) == 1
        assert count(device_types=["water_level"], severities=["critical"]) == 0
        assert count(tag="龙之梦") == 1
        assert count(street=street) == 2
        assert modes.indicator_value(s, modes.validate_indicators([{**base, "source": {"kind": "alarm_count"}}])[0],
                                     street=street, now=utcnow()) == 2


def test_event_count(db):
    now = utcnow()
    with db.session() as s:
        street, lon, lat = street_point(s, 1)

        def ev(code, hours_ago, title, dx=0.0):
            return events.create_event(s, category_code=code, title=title, lon=lon + dx, lat=lat, merge=False,
                                       reported_at=now - timedelta(hours=hours_ago))

        ev("040101", 1, "延安西路积水")
        ev("040102", 5, "下立交积水", 0.001)
        ev("040301", 7, "广告牌摇晃")  # older than 6 h
        ev("010101", 1, "暴露垃圾")  # another category
        rejected = ev("040103", 2, "小区积水", 0.002)
        lifecycle.transition(s, rejected.id, "rejected", actor="duty", role="duty", reason="重复上报")
        closed = ev("040201", 3, "泵站故障", 0.003)
        for to in ("accepted", "dispatched", "in_progress", "disposed", "verified", "closed"):
            lifecycle.transition(s, closed.id, to, actor="duty", role="duty")
    base = {"key": "e", "label": "事件", "thresholds": {"warn": 1}}
    with db.session() as s:
        def count(street_code=None, **src):
            return modes.indicator_value(s, modes.validate_indicators(
                [{**base, "source": {"kind": "event_count", **src}}])[0], street=street_code, now=now)

        assert count(categories=["04"]) == 3
        assert count(categories=["04"], hours=8) == 4
        assert count(categories=["0401"]) == 2
        assert count(categories=["04", "01"]) == 4
        assert count() == 4
        assert count(categories=["04"], open_only=True) == 2
        assert count(street, categories=["04"]) == 3
        other = next(c for c in ("310105001", "310105002", "310105004") if c != street)
        assert count(other, categories=["04"]) == 0


# -- watching: level changes, log, pruning -------------------------------------------------------

def _mode(s, **fields):
    ind = [WATER, {"key": "water_over", "label": "积水点超警数", "unit": "处", "thresholds": {"warn": 1, "danger": 3},
                   "source": {"kind": "device_value", "device_type": "water_level", "property": "water_level",
                              "aggregate": "count_above", "level": 15}}]
    return modes.create_mode(s, code=fields.pop("code", "typhoon"), name=fields.pop("name", "台风测试"),
                             kind="emergency", indicators=ind, by="manager1", **fields)


def _level_rows(s, mode_id):
    return list(s.scalars(select(ScreenModeLog).where(ScreenModeLog.mode_id == mode_id, ScreenModeLog.kind == "level")
                          .order_by(ScreenModeLog.id)))


def test_level_changes_write_one_log_row_each(db):
    t0 = utcnow()
    with db.session() as s:
        _devices(s, "water_level", 2)
        _report(s, "onenet", {"m-0": {"water_level": 3.0}, "m-1": {"water_level": 0.0}})
        mode = _mode(s)
        mode_id = mode.id
        modes.activate(s, "typhoon", by="duty1", now=t0)
        assert [r.kind for r in modes.log_of(s, mode)] == ["activated"]  # all normal: nothing else
        assert s.scalar(select(func.count()).select_from(ScreenModeSample)) == 2
    steps = [({"m-0": {"water_level": 18.0}}, [("max_water", "normal", "warn"), ("water_over", "normal", "warn")]),
             ({"m-0": {"water_level": 19.0}}, []),  # still warn: no row
             ({"m-0": {"water_level": 31.0}}, [("max_water", "warn", "danger")]),
             ({"m-0": {"water_level": 32.0}}, []),
             ({"m-0": {"water_level": 20.0}}, [("max_water", "danger", "warn")]),
             ({"m-0": {"water_level": 2.0}}, [("max_water", "warn", "normal"), ("water_over", "warn", "normal")])]
    for i, (reading, expected) in enumerate(steps, 1):
        with db.session() as s:
            _report(s, "onenet", reading)
        with db.session() as s:
            before = {r.id for r in _level_rows(s, mode_id)}
        # twice per step: the second pass sees no change
        mode_jobs.run(db, now=t0 + timedelta(seconds=5 * i))
        result = mode_jobs.run(db, now=t0 + timedelta(seconds=5 * i + 1))
        assert result["changes"] == 0 and result["modes"] == 1
        with db.session() as s:
            new = [r for r in _level_rows(s, mode_id) if r.id not in before]
            assert [(r.key, r.from_level, r.to_level) for r in new] == expected, reading
    with db.session() as s:
        rows = _level_rows(s, mode_id)
        assert len(rows) == 6
        assert rows[2].message == "最大积水深度升至告急：31 cm（预警线 15 cm，告急线 25 cm）"
        assert rows[2].value == 31.0
        assert rows[4].message.startswith("最大积水深度回落至正常：2 cm")
        assert s.scalar(select(func.count()).select_from(ScreenModeSample)
                        .where(ScreenModeSample.mode_id == mode_id)) == 2 + 2 * 2 * len(steps)
        # the runtime level is not in the audit chain; switching on is
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "screen_modes",
                                                          AuditEntry.entity_id == str(mode_id))
                                 .order_by(AuditEntry.seq)))
        assert [e.action for e in entries] == ["create", "update"]
        assert entries[1].actor and entries[1].after["active"] is True
        assert "levels" not in entries[1].after


def test_unknown_and_deactivation(db):
    t0 = utcnow()
    with db.session() as s:
        mode = _mode(s, code="empty")
        modes.activate(s, "empty", by="duty1", now=t0)
        rows = _level_rows(s, mode.id)
        # no water sensor at all: the depth is unknown, the count is 0 (normal)
        assert [(r.key, r.to_level, r.message) for r in rows] == [
            ("max_water", "unknown", "最大积水深度暂无数据（此前正常）")]
        with pytest.raises(Conflict, match="已处于启用状态"):
            modes.activate(s, "empty", by="duty2")
        assert modes.active_modes(s) == [{"code": "empty", "name": "台风测试", "kind": "emergency"}]
        modes.deactivate(s, "empty", by="duty1", now=t0 + timedelta(minutes=1))
        assert modes.active_modes(s) == []
        with pytest.raises(Conflict, match="未启用"):
            modes.deactivate(s, "empty", by="duty1")
    assert mode_jobs.run(db, now=t0 + timedelta(minutes=2))["modes"] == 0
    with db.session() as s:
        assert [r.kind for r in modes.log_of(s, mode)][:2] == ["deactivated", "level"]


def test_pruning_keeps_48_hours(db):
    now = utcnow()
    with db.session() as s:
        mode = _mode(s, code="prune")
        for h in (1, 47, 49, 72):
            s.add(ScreenModeSample(mode_id=mode.id, key="max_water", at=now - timedelta(hours=h), value=1.0))
    assert mode_jobs.run(db, now=now)["pruned"] == 2
    with db.session() as s:
        left = sorted(round((now - a).total_seconds() / 3600) for a in s.scalars(select(ScreenModeSample.at)))
        assert left == [1, 47]


def test_edit_evaluate_and_seed(db):
    t0 = utcnow()
    with db.session() as s:
        modes.seed_defaults(s)  # the bootstrap may have run it already: once, then never again
        assert modes.seed_defaults(s) == 0
        flood = modes.get_mode(s, "flood")
        assert flood.name == "防汛防台" and not flood.active and len(flood.indicators) == 5
        assert modes.get_mode(s, "holiday").kind == "holiday"
        _devices(s, "water_level", 1)
        _report(s, "onenet", {"m-0": {"water_level": 26.0}})
        modes.activate(s, "flood", by="duty1", now=t0 - timedelta(minutes=2))
    mode_jobs.run(db, now=t0 - timedelta(minutes=1))
    with db.session() as s:
        flood = modes.get_mode(s, "flood")
        data = modes.evaluate(s, flood, now=t0)
        tiles = {i["key"]: i for i in data["indicators"]}
        assert tiles["max_water"]["value"] == 26.0 and tiles["max_water"]["level"] == "danger"
        assert tiles["max_water"]["thresholds"] == {"warn": 15.0, "danger": 25.0}
        assert [p[1] for p in tiles["max_water"]["series"]] == [26.0, 26.0]
        assert tiles["max_water"]["series"][0][0].endswith("+08:00")
        assert tiles["water_online"]["value"] == 100.0 and tiles["water_online"]["level"] == "normal"
        assert data["mode"]["active"] is True
        assert data["log"][0]["message"].startswith("积水点超警数") or data["log"][0]["kind"] == "level"
        assert data["log"][-1]["kind"] == "activated" and data["log"][-1]["message"] == "duty1 启用防汛防台"
        # an edit: validated, logged, thresholds apply on the next pass
        with pytest.raises(Invalid, match="第 1 个指标"):
            modes.update_mode(s, "flood", by="manager1", indicators=[{"key": "x"}])
        with pytest.raises(Invalid, match="刷新间隔"):
            modes.update_mode(s, "flood", by="manager1", refresh_s=1)
        inds = copy.deepcopy(flood.indicators)
        inds[0]["thresholds"] = {"warn": 20, "danger": 30}
        modes.update_mode(s, "flood", by="manager1", indicators=inds[:1], refresh_s=3, now=t0)
        assert modes.log_of(s, flood)[0].message == "manager1 修改了防汛防台：刷新间隔、指标"
        assert set(flood.levels) == {"max_water"}
    mode_jobs.run(db, now=t0 + timedelta(seconds=5))
    with db.session() as s:
        last = modes.log_of(s, modes.get_mode(s, "flood"))[0]
        assert (last.key, last.from_level, last.to_level) == ("max_water", "danger", "warn")
        with pytest.raises(Conflict):
            modes.create_mode(s, code="flood", name="重复", kind="emergency", indicators=[WATER])
        with pytest.raises(Invalid, match="街道 999 不存在"):
            modes.create_mode(s, code="x1", name="x", kind="emergency", indicators=[WATER], street_code="999")
        with pytest.raises(Invalid, match="类型必须是"):
            modes.create_mode(s, code="x2", name="x", kind="party", indicators=[WATER])


def test_street_mode_visibility(db):
    with db.session() as s:
        street, _, _ = street_point(s, 0)
        _mode(s, code="district")
        _mode(s, code="local", street_code=street)
        other = next(c for c in ("310105001", "310105002") if c != street)
        mine = {"district", "local"}
        assert [m.code for m in modes.list_modes(s, scope=street) if m.code in mine] == ["district", "local"]
        assert [m.code for m in modes.list_modes(s, scope=other) if m.code in mine] == ["district"]
        modes.activate(s, "local", by="duty1")
        assert modes.active_modes(s) == []
        assert modes.active_modes(s, street=street) == [{"code": "local", "name": "台风测试", "kind": "emergency"}]
        assert s.scalar(select(ScreenMode.levels).where(ScreenMode.code == "local")) is not None
