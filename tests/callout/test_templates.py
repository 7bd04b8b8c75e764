"""Scenario templates (CALL-1): code defaults for all seven scenarios, the operator's row merged
over them, validation of every setting, the public-safety rules of 应急指挥, reset, the audit
chain, and the campaign service and dialer reading the template."""

from datetime import time

import pytest
from sqlalchemy import select

from cityops.audit.models import AuditEntry
from cityops.callout import campaigns, templates
from cityops.callout.scenarios import SCENARIOS
from cityops.callout.script import run_script
from cityops.callout.template_models import ScenarioTemplate
from cityops.core.errors import Invalid


def test_every_scenario_has_a_valid_default_script():
    for code in SCENARIOS:
        t = templates.default(code)
        assert t.script is not None, code
        templates.check_script(code, t.script.to_dict())
    assert templates.default("emergency").priority == "highest" and templates.default("emergency").windows == ()
    assert templates.default("iot_alert").priority == "high"


@pytest.mark.parametrize(("code", "answers", "recorded", "outcome"), [
    ("emergency", ["1"], {"acknowledged": "收到"}, "hangup"),
    ("duty_check", ["1"], {"on_duty": "在岗"}, "hangup"),
    ("duty_check", [None, None], {}, "hangup"),
    ("iot_alert", ["0"], {"acknowledged": "转人工"}, "transfer"),
    ("notice", ["1"], {"acknowledged": "收到"}, "hangup"),
    ("street_app", ["9"], {}, "opt_out"),
])
def test_new_default_scripts_behave(code, answers, recorded, outcome):
    t = run_script(templates.default(code).script, answers)
    assert t.recorded == recorded and t.outcome == outcome


def test_emergency_plays_the_announcement_twice_then_asks():
    t = run_script(templates.default("emergency").script, ["1"])
    assert [x.step for x in t.turns] == ["announce", "again", "ack", "thanks"]
    assert "{message}" in t.turns[0].prompt and "收到请按1" in t.turns[2].prompt


def test_duty_check_reprompts_then_hangs_up():
    t = run_script(templates.default("duty_check").script, [None, None])
    assert [(x.step, x.retry) for x in t.turns] == [("check", 0), ("check", 1), ("bye", 0)]
    assert "在岗请按1" in t.turns[1].prompt


def test_effective_is_the_default_until_changed(db):
    with db.session() as s:
        t = templates.effective(s, "hotline_callback")
        assert not t.customised and t.windows == SCENARIOS["hotline_callback"].windows
        assert t.triggers == {"event_closed": {"enabled": False, "delay_min": 30}}
        assert len(templates.list_templates(s)) == 7


def test_update_merges_over_the_defaults_and_is_audited(db):
    with db.session() as s:
        script = templates.default("notice").script.to_dict()
        script["steps"][0]["prompt"] = "您好，社区疫苗接种提醒。"
        t = templates.update(s, "notice", script=script, windows=[["14:00", "18:00"], ["09:30", "11:30"]],
                             retry_policy={"busy": 5}, max_attempts=5, priority="high", caller_id="02112345",
                             line_group="trunk-a", actor="mgr1")
        assert t.customised and t.windows == ((time(9, 30), time(11, 30)), (time(14), time(18)))
        assert t.script.steps[0].prompt == "您好，社区疫苗接种提醒。" and t.retry_policy == {"busy": 5}
        assert (t.max_attempts, t.priority, t.caller_id, t.line_group, t.updated_by) == (5, "high", "02112345",
                                                                                        "trunk-a", "mgr1")
    with db.session() as s:  # only the settings given change; None goes back to the default
        t = templates.update(s, "notice", priority=None, actor="mgr1")
        assert t.priority == "normal" and t.max_attempts == 5
        t = templates.update(s, "notice", windows=[], actor="mgr1")
        assert t.windows == ()  # an empty list = no window, not the default
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity == "callout_templates")).all()
        assert [e.action for e in entries] == ["create", "update", "update"]


def test_reset_goes_back_to_the_defaults(db):
    with db.session() as s:
        templates.update(s, "street_app", max_attempts=2, actor="mgr1")
    with db.session() as s:
        t = templates.reset(s, "street_app", actor="mgr1")
        assert not t.customised and t.max_attempts == 3
        assert s.get(ScenarioTemplate, "street_app") is None
        assert templates.reset(s, "street_app").max_attempts == 3  # resetting twice is harmless


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"windows": [["09:00", "12:00"], ["11:00", "13:00"]]}, "重叠"),
    ({"windows": [["12:00", "09:00"]]}, "早于结束"),
    ({"windows": [["9:00", "12:00"]]}, "格式错误"),
    ({"windows": "09:00-12:00"}, "格式错误"),
    ({"priority": "urgent"}, "未知优先级"),
    ({"retry_policy": {"busy": -1}}, "重试间隔无效"),
    ({"retry_policy": {"answered": 5}}, "不会重试"),
    ({"max_attempts": 0}, "1–10"),
    ({"max_attempts": 11}, "1–10"),
    ({"caller_id": "021-1234"}, "数字"),
    ({"line_group": "线路 A"}, "线路组"),
    ({"triggers": {"alarm_unacked": {"enabled": True}}}, "没有触发方式"),
    ({"triggers": {"event_closed": {"enabled": "yes"}}}, "enabled"),
    ({"triggers": {"event_closed": {"delay_min": -5}}}, "delay_min"),
    ({"triggers": {"event_closed": {"delay": 5}}}, "没有设置项"),
    ({"script": {"start": "x", "steps": []}}, "话术校验失败"),
    ({"script": {"steps": []}}, "话术格式错误"),
])
def test_update_refuses_bad_settings(db, kwargs, message):
    with db.session() as s, pytest.raises(Invalid) as exc:
        templates.update(s, "hotline_callback", **kwargs, actor="mgr1")
    assert message in exc.value.detail
    with db.session() as s:
        assert s.get(ScenarioTemplate, "hotline_callback") is None  # nothing stored


def test_placeholders_only_in_the_emergency_script(db):
    with db.session() as s:
        script = templates.default("notice").script.to_dict()
        script["steps"][0]["prompt"] = "提醒：{message}"
        with pytest.raises(Invalid, match="不支持占位符"):
            templates.update(s, "notice", script=script, actor="mgr1")
        emergency = templates.default("emergency").script.to_dict()
        for step in emergency["steps"]:
            step["prompt"] = step["prompt"].replace("{message}", "通知")
        with pytest.raises(Invalid, match="须包含"):
            templates.update(s, "emergency", script=emergency, actor="mgr1")
        emergency["steps"][0]["prompt"] = "{message}{place}"
        with pytest.raises(Invalid, match="只支持"):
            templates.update(s, "emergency", script=emergency, actor="mgr1")


def test_emergency_keeps_no_window_and_highest_priority(db):
    with db.session() as s:
        with pytest.raises(Invalid, match="不设呼叫时段"):
            templates.update(s, "emergency", windows=[["09:00", "18:00"]], actor="mgr1")
        with pytest.raises(Invalid, match="优先级固定为最高"):
            templates.update(s, "emergency", priority="normal", actor="mgr1")
        templates.update(s, "emergency", max_attempts=2, windows=[], actor="mgr1")
        # a row written around the service (old data, a manual fix) still cannot weaken it
        row = s.get(ScenarioTemplate, "emergency")
        row.windows, row.priority = [["09:00", "10:00"]], "normal"
        s.flush()
        t = templates.effective(s, "emergency")
        assert (t.windows, t.priority, t.max_attempts) == ((), "highest", 2)


def test_unknown_scenario(db):
    with db.session() as s, pytest.raises(Invalid, match="未知场景"):
        templates.update(s, "marketing", max_attempts=2, actor="mgr1")


def test_campaigns_start_from_the_template(db):
    with db.session() as s:
        templates.update(s, "duty_check", max_attempts=4, retry_policy={"no_answer": 3}, caller_id="02199999",
                         actor="mgr1")
        c = campaigns.create_campaign(s, name="夜间值守核查", scenario="duty_check", created_by="t")
        assert (c.max_attempts, c.retry_policy, c.caller_id, c.priority) == (4, {"no_answer": 3}, "02199999",
                                                                             "normal")
        assert c.script["name"] == "值守保障"  # the scenario had no script before this change
