"""Console page 外呼名单 (CALL-4): lists with counts and warnings, import with dry-run preview,
the do-not-call list with add/remove, masked numbers, CSRF."""

import re
from datetime import timedelta

from cityops.callout import lists
from cityops.callout.list_models import CallList, DoNotCall
from cityops.core.timeutil import utcnow
from tests.conftest import PASSWORD

URL = "/console/callout/lists"
CSV = "姓名,电话\n张三,13912345678\n李四,4008123123\n".encode()


def _login(client, make_user, role):
    client.cookies.clear()
    name = make_user(role)
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code in (200, 303)
    return name


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _form(csrf, **kw):
    return {"csrf": csrf, "name": "11月回访", "scenario": "hotline_callback", "source": "12345",
            "consent_basis": "来电同意", "valid_until": "", **kw}


def test_import_preview_then_save(client, make_user, db):
    _login(client, make_user, "duty")
    html = client.get(URL).text
    assert "外呼名单" in html and "还没有外呼名单" in html and "导入名单" in html
    csrf = _csrf(html)
    r = client.post(URL, data=_form(csrf, dry_run="1"), files={"file": ("a.csv", CSV, "text/csv")})
    assert r.status_code == 200 and "预览（未保存）" in r.text and "400/800" in r.text and "可呼叫 1" in r.text
    with db.session() as s:
        assert s.query(CallList).count() == 0
    r = client.post(URL, data=_form(csrf, valid_until="2099-12-31"), files={"file": ("a.csv", CSV, "text/csv")},
                    follow_redirects=True)
    assert r.status_code == 200 and "已导入名单「11月回访」" in r.text
    assert "13912345678" in r.text and "2100-01-01 00:00" in r.text  # the detail shows full numbers to duty
    bad = client.post(URL, data=_form(csrf, scenario="x"), files={"file": ("a.csv", CSV, "text/csv")})
    assert bad.status_code == 422 and "导入失败" in bad.text
    forged = client.post(URL, data=_form("forged"), files={"file": ("a.csv", CSV, "text/csv")})
    assert forged.status_code == 403


def test_warnings_masking_and_read_only_roles(client, make_user, db):
    with db.session() as s:
        old = lists.import_list(s, CSV, "a.csv", name="旧名单", scenario="notice").list_id
        gone = lists.import_list(s, CSV, "b.csv", name="过期名单", scenario="notice",
                                 valid_until=utcnow() - timedelta(days=1)).list_id
        s.get(CallList, old).created_at = utcnow() - timedelta(days=45)
        lists.add_dnc(s, "13800001111", None, reason="投诉")
    _login(client, make_user, "technician")
    html = client.get(URL, params={"show": old}).text
    assert "超过 30 天，请复核" in html and "已过期" in html and "过期名单" in html and f"list-{gone}" in html
    assert "139****5678" in html and "13912345678" not in html
    assert "138****1111" in html and "13800001111" not in html
    assert "导入名单" not in html and "加入免打扰" not in html
    csrf = _csrf(html)  # the logout form's value: valid, but the role may not write
    assert client.post("/console/callout/dnc", data={"csrf": csrf, "number": "13912345678"}).status_code == 403


def test_dnc_add_and_remove(client, make_user, db):
    _login(client, make_user, "manager")
    csrf = _csrf(client.get(URL).text)
    r = client.post("/console/callout/dnc", data={"csrf": csrf, "number": "021-62345678", "scenario": "notice",
                                                   "reason": "单位要求"}, follow_redirects=True)
    assert "已加入免打扰名单" in r.text and "02162345678" in r.text and "信息提醒" in r.text
    r = client.post("/console/callout/dnc", data={"csrf": csrf, "number": "95588"}, follow_redirects=True)
    assert "未能加入免打扰" in r.text and "95/96" in r.text
    with db.session() as s:
        dnc_id = s.query(DoNotCall).one().id
    r = client.post(f"/console/callout/dnc/{dnc_id}/delete", data={"csrf": csrf}, follow_redirects=True)
    assert "已移出免打扰名单" in r.text and "免打扰名单为空" in r.text
    with db.session() as s:
        assert s.query(DoNotCall).count() == 0
