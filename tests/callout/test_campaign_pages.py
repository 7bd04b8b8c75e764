"""Console pages 外呼任务 and 通话记录 (CALL-1, CALL-2) over HTTP: the campaign list with progress and
the create form (from a list, scenario only with a Beijing start time, errors kept in the form),
start / pause / stop with CSRF, one campaign with its progress JSON and paged tasks, call records
with filters and Chinese labels, and one call's metadata, business link and transcript."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from cityops.callout import campaigns, dialer, lists
from cityops.callout.campaign_models import CallRecord, CallStep, Campaign
from cityops.callout.campaign_pages import transcript
from cityops.callout.telephony import SimCall, SimTelephony
from tests.callout.test_dialer import MORNING, A, B, C, e164, make_campaign
from tests.conftest import PASSWORD

URL = "/console/callout/campaigns"
RECORDS = "/console/callout/records"


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    r = client.post("/login", data={"username": make_user(role, street), "password": PASSWORD})
    assert r.status_code in (200, 303)


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _list(db, scenario="hotline_callback", name="11月回访名单"):
    csv = "姓名,电话,业务编号\n张三,13900000001,event:1\n李四,13900000002,\n".encode()
    with db.session() as s:
        return lists.import_list(s, csv, "l.csv", name=name, scenario=scenario, created_by="t").list_id


def test_create_from_a_list_then_start_pause_stop(client, make_user, db):
    list_id = _list(db)
    other = _list(db, "notice", "通知名单")
    _login(client, make_user, "duty")
    html = client.get(URL).text
    assert "外呼任务" in html and "还没有外呼任务" in html and "新建外呼任务" in html
    assert f'value="{list_id}" data-scenario="hotline_callback"' in html and "11月回访名单（热线回访，可呼叫 2）" in html
    csrf = _csrf(html)
    r = client.post(URL, data={"csrf": csrf, "name": "回访一", "scenario": "hotline_callback", "list_id": str(list_id),
                               "priority": "high", "max_attempts": "2", "concurrency": "3", "caller_id": "02161234567"},
                    follow_redirects=True)
    assert r.status_code == 200 and "已创建外呼任务「回访一」，点击“开始”后拨打" in r.text
    with db.session() as s:
        c = s.scalar(select(Campaign).where(Campaign.name == "回访一"))
        assert (c.list_id, c.priority, c.max_attempts, c.concurrency, c.caller_id, c.created_by[:4]) == (
            list_id, "high", 2, 3, "02161234567", "duty")
        cid = c.id
    assert f"{URL}/{cid}?flash=" in str(r.url)  # on to the new campaign's page
    html = client.get(URL).text
    assert f'id="campaign-{cid}"' in html and "草稿" in html and "0%" in html and "待呼叫 2" in html

    r = client.post(f"{URL}/{cid}/start", data={"csrf": csrf, "next": "list"}, follow_redirects=True)
    assert "外呼任务「回访一」已开始" in r.text and str(r.url).split("?")[0].endswith(URL)
    r = client.post(f"{URL}/{cid}/start", data={"csrf": csrf}, follow_redirects=True)
    assert "当前状态为 running，不能启动" in r.text and 'class="flash err"' in r.text
    r = client.post(f"{URL}/{cid}/pause", data={"csrf": csrf}, follow_redirects=True)
    assert "已暂停" in r.text
    r = client.post(f"{URL}/{cid}/stop", data={"csrf": csrf}, follow_redirects=True)
    assert "已终止，未拨打的号码已跳过" in r.text and "任务已终止" in r.text  # the tasks table shows the note
    assert client.post(f"{URL}/{cid}/stop", data={"csrf": "forged"}).status_code == 403

    # a list of another scenario: the error is shown and the form keeps what was typed
    r = client.post(URL, data={"csrf": csrf, "name": "错配", "scenario": "hotline_callback", "list_id": str(other),
                               "caller_id": "021999"})
    assert r.status_code == 422 and "创建失败：名单属于场景 notice" in r.text
    assert 'value="错配"' in r.text and 'value="021999"' in r.text
    r = client.post(URL, data={"csrf": csrf, "name": "坏话术", "scenario": "hotline_callback", "script": "{oops"})
    assert r.status_code == 422 and "话术 JSON 无法解析" in r.text and "{oops" in r.text
    r = client.post(URL, data={"csrf": csrf, "name": "无", "scenario": ""})
    assert r.status_code == 422 and "请选择名单或场景" in r.text
    r = client.post(URL, data={"csrf": csrf, "scenario": "hotline_callback", "max_attempts": "二"})
    assert r.status_code == 422 and "最大呼叫次数必须是整数" in r.text
    r = client.post(URL, data={"csrf": csrf, "scenario": "hotline_callback", "concurrency": "0"})
    assert r.status_code == 422 and "必须大于 0" in r.text
    r = client.post(URL, data={"csrf": csrf, "scenario": "hotline_callback", "scheduled_at": "明天"})
    assert r.status_code == 422 and "开始时间格式不正确" in r.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 1  # none of the failures saved anything


def test_scenario_only_with_a_beijing_start_time(client, make_user, db):
    _login(client, make_user, "manager")
    csrf = _csrf(client.get(URL).text)
    r = client.post(URL, data={"csrf": csrf, "name": "", "scenario": "hotline_callback",
                               "scheduled_at": "2026-12-01T09:30"}, follow_redirects=True)
    assert "已创建外呼任务「热线回访」，将于 2026-12-01 09:30 自动开始" in r.text
    with db.session() as s:
        c = s.scalar(select(Campaign))
        assert c.trigger == "schedule" and c.list_id is None
        assert c.scheduled_at == MORNING.replace(month=12, day=1, hour=9, minute=30)
    assert "12-01 09:30 开始" in client.get(URL).text and "定时" in client.get(URL).text
    assert f'id="campaign-{c.id}"' in client.get(URL, params={"trigger": "schedule", "state": "draft"}).text
    assert "还没有外呼任务" in client.get(URL, params={"trigger": "manual"}).text
    r = client.get(URL, params={"state": "flying"})
    assert r.status_code == 422 and "未知任务状态" in r.text
    r = client.post(f"{URL}/{c.id}/tasks", data={"csrf": csrf, "number": "139 0000 0005", "contact_name": "王五",
                                                  "business_ref": "event:9"}, follow_redirects=True)
    assert "已添加号码" in r.text and "13900000005" in r.text and 'href="/console/events/9"' in r.text
    r = client.post(f"{URL}/{c.id}/tasks", data={"csrf": csrf, "number": "13900000005", "business_ref": "event:9"},
                    follow_redirects=True)
    assert "已在此外呼任务中" in r.text


def test_read_only_roles_see_masked_numbers_and_no_buttons(client, make_user, db):
    cid = make_campaign(db, [(A, "event:1")])
    _login(client, make_user, "technician")
    html = client.get(URL).text
    assert f'id="campaign-{cid}"' in html and "进行中" in html
    assert "新建外呼任务" not in html and f"{URL}/{cid}/pause" not in html
    html = client.get(f"{URL}/{cid}").text
    assert "139****0001" in html and "13900000001" not in html and "添加号码" not in html
    csrf = _csrf(html)  # the logout form's value: valid, but the role may not write
    assert client.post(f"{URL}/{cid}/pause", data={"csrf": csrf}).status_code == 403
    assert client.post(URL, data={"csrf": csrf, "scenario": "hotline_callback"}).status_code == 403
    client.cookies.clear()
    r = client.get(URL, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    _login(client, make_user, "street", "310105001")
    assert client.get(URL).status_code == 403 and client.get(RECORDS).status_code == 403


def test_campaign_page_progress_json_and_task_paging(client, make_user, db):
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], ["1"]), e164(B): SimCall(["busy"])})
    cid = make_campaign(db, [(A, ""), (B, "")], concurrency=2)
    with db.session() as s:
        for i in range(55):
            campaigns.add_task(s, cid, number=f"1391000{i:04d}")
    dialer.run_due(db, telephony=sim, now=MORNING)
    _login(client, make_user, "duty")
    p = client.get(f"{URL}/{cid}/progress.json").json()
    assert p["state"] == "running" and p["state_label"] == "进行中" and p["tasks"] == 57
    assert p["by_state"]["done"] == 1 and p["results"] == {"answered": 1, "busy": 1}
    assert p["result_labels"] == {"answered": "已接听", "busy": "忙线"} and p["percent"] == round(100 / 57, 1)
    html = client.get(f"{URL}/{cid}").text
    assert f'data-url="/console/callout/campaigns/{cid}/progress.json"' in html
    assert 'id="p-state-done">1<' in html and "已接听 1，忙线 1" in html and "第 1–50 条，共 57 条" in html
    assert "下一页" in html and "13910000047" in html and "13910000048" not in html
    html = client.get(f"{URL}/{cid}", params={"offset": 50}).text
    assert "第 51–57 条，共 57 条" in html and "13910000054" in html and "上一页" in html
    html = client.get(f"{URL}/{cid}", params={"state": "done"}).text
    assert "共 1 条" in html and A in html
    assert client.get(f"{URL}/999").status_code == 404 and client.get(f"{URL}/999/progress.json").status_code == 404


def _calls(db):
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], [None, "1"]), e164(B): SimCall(["busy"]),
                                 e164(C): SimCall(["answered"], ["不满意"])})
    cid = make_campaign(db, [(A, "event:12"), (B, ""), (C, "")], max_attempts=1)
    dialer.run_due(db, telephony=sim, now=MORNING)
    with db.session() as s:
        return cid, {r.number_e164: r.id for r in s.scalars(select(CallRecord))}


def test_records_page_filters_labels_and_masking(client, make_user, db):
    cid, ids = _calls(db)
    _login(client, make_user, "auditor")
    html = client.get(RECORDS).text
    assert html.count('class="badge warn sim"') == 3 and "已接听" in html and "忙线" in html
    assert "139****0001" in html and "13900000001" not in html and "486 / 17" in html
    assert 'href="/console/events/12">事件 12</a>' in html and "满意" in html and "回访" in html
    html = client.get(RECORDS, params={"result": "busy"}).text
    assert f'id="record-{ids[e164(B)]}"' in html and f'id="record-{ids[e164(A)]}"' not in html
    html = client.get(RECORDS, params={"number": "0003", "campaign_id": str(cid)}).text
    assert f'id="record-{ids[e164(C)]}"' in html and "第 1–1 条，共 1 条" in html
    day = MORNING.date()
    assert "共 3 条" in client.get(RECORDS, params={"date_from": day.isoformat(), "date_to": day.isoformat()}).text
    later = (day + timedelta(days=1)).isoformat()
    assert "没有符合条件的通话记录" in client.get(RECORDS, params={"date_from": later}).text
    r = client.get(RECORDS, params={"number": "12"})
    assert r.status_code == 422 and "筛选条件有误：号码筛选至少需要 4 位数字" in r.text
    r = client.get(RECORDS, params={"date_from": "2026-13-01"})
    assert r.status_code == 422 and "开始日期格式不正确" in r.text


def test_record_page_shows_metadata_link_and_transcript(client, make_user, db):
    _, ids = _calls(db)
    _login(client, make_user, "duty")
    html = client.get(f"{RECORDS}/{ids[e164(A)]}").text
    assert "通话详情" in html and "模拟器拨出，不是真实通话" in html and "13900000001" in html
    assert 'id="sip-code">200<' in html and 'id="dtmf">1<' in html and "正常挂机" in html
    assert '<a href="/console/events/12">事件 12</a>（event:12）' in html
    assert "满意请按1" in html and "第 1 次重播" in html and "（无输入）" in html
    assert "按键 <b class=\"mono\">1</b>" in html and '<span class="badge ok">满意</span>' in html
    html = client.get(f"{RECORDS}/{ids[e164(C)]}").text
    assert "识别：“不满意”" in html and "不满意" in html
    html = client.get(f"{RECORDS}/{ids[e164(B)]}").text
    assert 'id="sip-code">486<' in html and 'id="q850">17<' in html and "通话未接通，没有对话" in html
    assert client.get(f"{RECORDS}/999").status_code == 404


def test_transcript_marks_silence_only_before_a_reprompt():
    steps = [CallStep(seq=1, step="ask", prompt="请按键", answer_dtmf="", answer_text="", matched=None, retry=0),
             CallStep(seq=2, step="ask", prompt="没听清", answer_dtmf="", answer_text="嗯", matched=None, retry=1),
             CallStep(seq=3, step="bye", prompt="再见", answer_dtmf="", answer_text="", matched=None, retry=0)]
    t = transcript(steps)
    assert [(x["no_input"], x["unmatched"], x["reprompt"]) for x in t] == [
        (True, False, False), (False, True, True), (False, False, False)]
