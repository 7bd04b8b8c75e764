"""Console pages 场景与话术 and 应急广播 (CALL-1): the scenario list, the editor with the step
tree, 试运行, errors next to the editor, save and reset, read-only roles, the broadcast with its
confirmation step, CSRF."""

import json
import re

from sqlalchemy import select

from cityops.callout import templates, triggers
from cityops.callout.campaign_models import Campaign
from cityops.callout.template_models import ScenarioTemplate
from cityops.core.timeutil import utcnow
from tests.conftest import PASSWORD

URL = "/console/callout/scenarios"


def _login(client, make_user, role):
    client.cookies.clear()
    r = client.post("/login", data={"username": make_user(role), "password": PASSWORD})
    assert r.status_code in (200, 303)


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _form(client, code):
    """The edit form's current values, as the browser would post them."""
    html = client.get(f"{URL}/{code}").text
    t = lambda name: re.search(rf'name="{name}"[^>]*>(.*?)</textarea>', html, re.DOTALL).group(1)
    v = lambda name: re.search(rf'name="{name}" [^>]*value="([^"]*)"', html).group(1)
    import html as h

    return {"csrf": _csrf(html), "script": h.unescape(t("script")), "triggers": h.unescape(t("triggers")),
            "windows": v("windows"), "retry_policy": v("retry_policy"), "max_attempts": v("max_attempts"),
            "priority": re.search(r'<option value="(\w+)" selected', html).group(1),
            "caller_id": v("caller_id"), "line_group": v("line_group"), "answers": ""}


def test_scenario_list(client, make_user, db):
    with db.session() as s:
        templates.update(s, "iot_alert", triggers={"alarm_unacked": {"enabled": True}}, actor="mgr1")
        triggers.record_run(s, "alarm_unacked", {"created": 2, "no_number": 1, "invalid_number": 0,
                                                 "duplicate": 0}, utcnow())
    _login(client, make_user, "auditor")
    html = client.get(URL).text
    assert html.count('id="scenario-') == 7 and "场景与话术" in html
    row = re.search(r'id="scenario-iot_alert">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "已自定义" in row and "已启用" in row and "新建 2，无号码 1" in row and "高" in row
    row = re.search(r'id="scenario-emergency">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "不限（公共安全）" in row and "最高" in row
    row = re.search(r'id="scenario-hotline_callback">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "09:00-12:00, 14:00-20:00" in row and "未启用" in row and "默认" in row


def test_editor_shows_the_tree_and_simulates_unsaved_text(client, make_user, db):
    _login(client, make_user, "technician")  # readers may try scripts, not save them
    html = client.get(f"{URL}/hotline_callback").text
    assert 'id="script-tree"' in html and 'id="tree-ask"' in html and "按 1 →「满意」" in html
    assert 'id="btn-save"' not in html and 'id="btn-simulate"' in html and "任一步骤按 9" in html
    form = _form(client, "hotline_callback")
    script = json.loads(form["script"])
    script["steps"][1]["prompt"] = "非常感谢，祝您生活愉快。"
    form.update(script=json.dumps(script, ensure_ascii=False), answers="-\n1", action="simulate")
    r = client.post(f"{URL}/hotline_callback", data=form)
    assert r.status_code == 200
    transcript = re.search(r'id="transcript">(.*?)</div>', r.text, re.DOTALL).group(1)
    assert "非常感谢，祝您生活愉快。" in transcript and "satisfaction = <strong>满意</strong>" in transcript
    assert "（重听 1）" in transcript
    with db.session() as s:
        assert s.get(ScenarioTemplate, "hotline_callback") is None  # nothing saved
    form["action"] = "save"
    assert client.post(f"{URL}/hotline_callback", data=form).status_code == 403


def test_save_errors_next_to_the_editor_then_save_and_reset(client, make_user, db):
    _login(client, make_user, "manager")
    form = _form(client, "notice")
    good = form["script"]
    form.update(script=good.replace('"default": "ack"', '"default": "nowhere"'), action="save")
    r = client.post(f"{URL}/notice", data=form)
    assert r.status_code == 422
    errors = re.search(r'id="script-errors"(.*?)</div>', r.text, re.DOTALL).group(1)
    assert "nowhere" in errors and "nowhere" in r.text  # the typed text is kept
    form.update(script="{not json", action="save")
    r = client.post(f"{URL}/notice", data=form)
    assert r.status_code == 422 and "JSON 无法解析" in r.text
    form.update(script=good, windows="09:00-12:00, 11:00-13:00")
    r = client.post(f"{URL}/notice", data=form)
    assert r.status_code == 422 and "重叠" in r.text
    # saving the untouched defaults stores nothing custom
    form.update(windows="09:00-12:00, 14:00-20:00")
    assert client.post(f"{URL}/notice", data=form, follow_redirects=False).status_code == 303
    with db.session() as s:
        assert not templates.effective(s, "notice").customised
    form.update(windows="10:00-11:30", retry_policy="busy=5, no_answer=20", max_attempts="4", caller_id="02112345")
    r = client.post(f"{URL}/notice", data=form, follow_redirects=True)
    assert r.status_code == 200 and "已保存场景模板" in r.text and "已自定义" in r.text
    with db.session() as s:
        t = templates.effective(s, "notice")
        assert templates.windows_json(t.windows) == [["10:00", "11:30"]] and t.retry_policy == {"busy": 5,
                                                                                                 "no_answer": 20}
        assert (t.max_attempts, t.caller_id, t.updated_by.startswith("manager")) == (4, "02112345", True)
    html = client.get(f"{URL}/notice").text
    r = client.post(f"{URL}/notice/reset", data={"csrf": _csrf(html)}, follow_redirects=True)
    assert "已恢复默认设置" in r.text
    with db.session() as s:
        assert s.get(ScenarioTemplate, "notice") is None


def test_emergency_window_is_refused_on_the_page(client, make_user):
    _login(client, make_user, "admin")
    form = _form(client, "emergency")
    assert form["windows"] == "" and form["priority"] == "highest"
    form.update(windows="09:00-18:00", action="save")
    r = client.post(f"{URL}/emergency", data=form)
    assert r.status_code == 422 and "不设呼叫时段" in r.text


def test_csrf_and_unknown_scenario(client, make_user):
    _login(client, make_user, "manager")
    form = _form(client, "notice")
    form.update(csrf="forged", action="save")
    assert client.post(f"{URL}/notice", data=form).status_code == 403
    assert client.get(f"{URL}/marketing").status_code == 404


def test_broadcast_confirm_then_send(client, make_user, db):
    _login(client, make_user, "duty")
    html = client.get("/console/callout/broadcast").text
    assert "应急广播" in html and "不受呼叫时段" in html
    data = {"csrf": _csrf(html), "message": "燃气泄漏，请立即撤离", "target": "numbers",
            "numbers": "13900000001\n13900000002\n110", "list_id": "", "team_code": "", "step": "preview"}
    r = client.post("/console/callout/broadcast", data=data)
    assert r.status_code == 200
    confirm = re.search(r'id="confirm">(.*?)</form>', r.text, re.DOTALL).group(1)
    assert 'id="count-total">3<' in confirm and 'id="count-valid">2<' in confirm and "不受呼叫时段限制" in confirm
    assert "无效号码不会拨打" in confirm and "110" in confirm
    with db.session() as s:
        assert s.scalars(select(Campaign)).all() == []  # nothing until confirmed
    r = client.post("/console/callout/broadcast", data={**data, "step": "send"}, follow_redirects=True)
    assert r.status_code == 200 and "应急广播已开始：共 3 个号码，其中 1 个无效号码将被拒绝" in r.text
    with db.session() as s:
        c = s.scalar(select(Campaign))
        assert (c.scenario, c.priority, c.state) == ("emergency", "highest", "running")
    assert f"/console/callout/campaigns/{c.id}" in r.text
    r = client.post("/console/callout/broadcast", data={**data, "message": ""})
    assert r.status_code == 422 and "请填写广播内容" in r.text


def test_broadcast_page_is_for_writers_only(client, make_user):
    for role in ("technician", "auditor"):
        _login(client, make_user, role)
        assert client.get("/console/callout/broadcast").status_code == 403


def test_tree_shows_loops_as_jumps():
    from cityops.callout.script import Script, Step
    from cityops.callout.template_pages import tree

    script = Script(name="循环", start="ask", steps=[
        Step("ask", "请按1确认，按2重听。", keys={"1": "确认", "2": "重听"}, branches={"确认": "transfer", "重听": "again"}),
        Step("again", "再说一遍。", default="ask"),
    ])
    root = tree(script)
    assert [b["label"] for b in root["branches"]] == ["按 1 →「确认」", "按 2 →「重听」", "无应答/未识别（重试 1 次后）"]
    assert root["branches"][0]["terminal"] == "transfer" and root["branches"][2]["terminal"] == "hangup"
    again = root["branches"][1]["node"]
    assert again["step"].id == "again" and again["branches"] == [{"label": "播放完毕", "jump": "ask"}]
