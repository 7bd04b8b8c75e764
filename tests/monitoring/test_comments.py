"""Comments on alarms (IOT-5): service rules, API roles and street scope."""

from datetime import timedelta

import pytest

from cityops.core.errors import Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.devices import service as devices
from cityops.monitoring import comments, service
from cityops.monitoring.models import AlarmComment

HUAYANG = "310105001"


def _alarm(s, ext="cm-1"):
    d = devices.create_device(s, name="烟感", product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                              external_id=ext, lon=121.420, lat=31.222)  # 华阳路街道
    return service.raise_alarm(s, device_id=d.id, alarm_type="smoke_alarm", severity="critical", source="vendor",
                               message="烟雾报警")


def test_add_and_list_in_order(db):
    with db.session() as s:
        a = _alarm(s)
        t = utcnow()
        comments.add_comment(s, a.id, author="duty1", text="  已电话联系物业  ", at=t)
        comments.add_comment(s, a.id, author="duty2", text="物业确认厨房油烟", at=t + timedelta(minutes=3))
        got = comments.list_comments(s, a.id)
        assert [(c.author, c.text) for c in got] == [("duty1", "已电话联系物业"), ("duty2", "物业确认厨房油烟")]
        assert comments.comment_counts(s, [a.id]) == {a.id: 2}
        assert [c.author for c in comments.comments_for(s, [a.id], per_alarm=1)[a.id]] == ["duty2"]
        # the follow-up is often written after the clear
        service.clear(s, a.id, by="duty1", reason="误报")
        comments.add_comment(s, a.id, author="duty1", text="已提醒物业加装排烟")
        assert len(comments.list_comments(s, a.id)) == 3


def test_rules(db):
    with db.session() as s:
        a = _alarm(s)
        with pytest.raises(Invalid):
            comments.add_comment(s, a.id, author="d", text="   ")
        with pytest.raises(Invalid):
            comments.add_comment(s, a.id, author="d", text="x" * (comments.MAX_TEXT + 1))
        with pytest.raises(NotFound):
            comments.add_comment(s, 999_999, author="d", text="x")
        with pytest.raises(NotFound):  # another street's alarm does not exist for a street user
            comments.add_comment(s, a.id, author="d", text="x", scope="310105002")
        with pytest.raises(NotFound):
            comments.list_comments(s, a.id, scope="310105002")
        assert comments.list_comments(s, a.id, scope=HUAYANG) == []


def test_comments_go_with_the_alarm(db):
    with db.session() as s:
        a = _alarm(s)
        comments.add_comment(s, a.id, author="d", text="x")
        s.delete(a)
        s.flush()
        assert s.query(AlarmComment).count() == 0


def test_api(client, auth_headers, db):
    with db.session() as s:
        aid = _alarm(s).id
    duty = auth_headers("duty")
    r = client.post(f"/api/v1/alarms/{aid}/comments", json={"text": "已派网格员现场核查"}, headers=duty)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["text"] == "已派网格员现场核查" and body["author"].startswith("duty") and body["at"].endswith("+08:00")
    assert client.post(f"/api/v1/alarms/{aid}/comments", json={"text": ""}, headers=duty).status_code == 422
    assert client.post(f"/api/v1/alarms/{aid}/comments", json={"text": "   "}, headers=duty).status_code == 422
    assert client.post("/api/v1/alarms/999999/comments", json={"text": "x"}, headers=duty).status_code == 404
    listed = client.get(f"/api/v1/alarms/{aid}/comments", headers=auth_headers("auditor"))
    assert listed.status_code == 200 and [c["text"] for c in listed.json()] == ["已派网格员现场核查"]
    # auditors read, they do not write; anonymous gets nothing
    assert client.post(f"/api/v1/alarms/{aid}/comments", json={"text": "x"},
                       headers=auth_headers("auditor")).status_code == 403
    assert client.get(f"/api/v1/alarms/{aid}/comments").status_code == 401


def test_api_street_scope(client, auth_headers, db):
    with db.session() as s:
        aid = _alarm(s).id
    other = auth_headers("street", "310105002")
    assert client.get(f"/api/v1/alarms/{aid}/comments", headers=other).status_code == 404
    assert client.post(f"/api/v1/alarms/{aid}/comments", json={"text": "x"}, headers=other).status_code == 404
    own = auth_headers("street", HUAYANG)
    assert client.post(f"/api/v1/alarms/{aid}/comments", json={"text": "街道已知悉"}, headers=own).status_code == 201
    assert len(client.get(f"/api/v1/alarms/{aid}/comments", headers=own).json()) == 1
