"""GeoReport v2 endpoint under /open311/v2 (IOT-7, SYS-DISPATCH): services, POST/GET requests,
tokens, errors and discovery, in JSON (validated against our schemas) and XML (parsed and
checked against the spec's examples)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.core.timeutil import utcnow
from cityops.events import lifecycle, routing
from cityops.events import service as events
from cityops.events.models import CityEvent
from cityops.geo.coords import wgs84_to_gcj02
from cityops.geo.models import ResponsibleUnit
from cityops.open311 import service
from cityops.open311.models import Open311Client, Open311Request
from cityops.open311.service import JURISDICTION_ID
from tests.events.helpers import street_point
from tests.open311.helpers import CODE, make_client, post_form, valid, wgs_point, xml

V2 = "/open311/v2"


def _post(client, form, fmt="json"):
    return client.post(f"{V2}/requests.{fmt}", data=form)


def _event(db, number) -> CityEvent:
    with db.session() as s:
        return s.scalar(select(CityEvent).where(CityEvent.number == number))


# -- services ---------------------------------------------------------------------------

def test_service_list_json_is_the_enabled_leaves(client, db):
    r = client.get(f"{V2}/services.json", params={"jurisdiction_id": JURISDICTION_ID})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json; charset=utf-8"
    items = valid(r.json(), "services.json")
    by_code = {s["service_code"]: s for s in items}
    assert len(items) == 79  # the seeded 细类
    assert by_code[CODE] == {"service_code": CODE, "service_name": "暴露垃圾", "description": "市容环境 / 环境卫生 / 暴露垃圾",
                             "metadata": False, "type": "realtime", "keywords": "暴露垃圾, 环境卫生, 市容环境",
                             "group": "市容环境"}
    assert "01" not in by_code and "0101" not in by_code  # 大类/小类 are not services
    with db.session() as s:
        events.update_category(s, events.category_by_code(s, "0101").id, enabled=False)
    codes = {x["service_code"] for x in client.get(f"{V2}/services.json").json()}
    assert CODE not in codes and "030101" in codes  # a disabled 小类 hides its 细类


def test_service_list_xml_matches_the_spec_shape(client):
    root = xml(client.get(f"{V2}/services.xml"))
    assert root.tag == "services" and {c.tag for c in root} == {"service"}
    first = root.find("service")
    assert [c.tag for c in first] == ["service_code", "service_name", "description", "metadata", "type", "keywords",
                                      "group"]
    svc = next(s for s in root if s.findtext("service_code") == CODE)
    assert svc.findtext("metadata") == "false" and svc.findtext("type") == "realtime"
    assert svc.findtext("group") == "市容环境"


def test_service_definition_and_unknown_codes(client):
    r = client.get(f"{V2}/services/{CODE}.json")
    assert valid(r.json(), "service_definition.json") == {"service_code": CODE, "attributes": []}
    root = xml(client.get(f"{V2}/services/{CODE}.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == CODE
    assert root.find("attributes") is not None and len(root.find("attributes")) == 0
    for code in ("999999", "01"):  # unknown, and a 大类 (not a service)
        r = client.get(f"{V2}/services/{code}.json")
        assert r.status_code == 404
        assert code in valid(r.json(), "errors.json")[0]["description"]


def test_jurisdiction_and_format(client):
    r = client.get(f"{V2}/services.json", params={"jurisdiction_id": "sfgov.org"})
    assert r.status_code == 404 and valid(r.json(), "errors.json")[0]["code"] == 404
    r = client.get(f"{V2}/services.csv")
    assert r.status_code == 404
    root = xml(r)
    assert root.tag == "errors" and root.find("error/code").text == "404"


# -- POST requests ----------------------------------------------------------------------

def test_post_spec_example_creates_an_event(client, db):
    key = make_client(db)
    street, lat, lon = wgs_point(db)
    r = _post(client, post_form(db, key, lat, lon))
    assert r.status_code == 200, r.text
    [answer] = valid(r.json(), "request_post.json")
    number = answer["service_request_id"]
    assert answer["account_id"] == "123456" and number in answer["service_notice"]
    ev = _event(db, number)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert ev.source_kind == "open311" and ev.source_ref == "随申办:tt222111"
    assert abs(ev.lon - glon) < 1e-7 and abs(ev.lat - glat) < 1e-7  # stored as GCJ-02 …
    assert abs(ev.lon - lon) > 1e-3  # … not as posted (WGS-84 is ~500 m off here)
    assert ev.street_code == street and ev.state == "reported"
    assert ev.reporter_name == "王小明" and ev.reporter_phone == "13912341111"
    assert ev.title == "小区门口有一大堆垃圾无人清运" and "两天" in ev.description
    assert ev.address == "长宁区愚园路1000号" and ev.created_by == "open311:随申办"
    with db.session() as s:
        row = s.scalar(select(Open311Request).where(Open311Request.event_id == ev.id))
        assert row.attributes == {"WHISPAWN": "123456", "WHISDORN": "COISL001"}
        assert row.email == "smit333@example.cn" and row.client_name == "随申办"
        c = s.scalar(select(Open311Client))
        assert c.requests_count == 1 and c.last_used_at is not None
    # read back: lat/long are WGS-84 again, media_url is the posted one
    [got] = valid(client.get(f"{V2}/requests/{number}.json").json(), "requests.json")
    assert abs(got["lat"] - lat) < 1e-6 and abs(got["long"] - lon) < 1e-6
    assert got["status"] == "open" and got["service_code"] == CODE and got["service_name"] == "暴露垃圾"
    assert got["media_url"].startswith("http://farm3.static.flickr.com/")
    assert got["requested_datetime"].endswith("+08:00") and got["expected_datetime"] is not None
    assert got["address"] == "长宁区愚园路1000号" and got["service_notice"] == "待立案"


def test_post_xml_answer_and_address_only(client, db):
    key = make_client(db)
    form = {"api_key": key, "service_code": "030101", "address_string": "长宁区天山路 100 弄", "description": "井盖缺失"}
    r = _post(client, form, "xml")
    assert r.status_code == 200, r.text
    root = xml(r)
    assert root.tag == "service_requests"
    req = root.find("request")
    assert [c.tag for c in req] == ["service_request_id", "service_notice", "account_id"]
    assert req.find("account_id").text is None  # <account_id/> as in the spec's example
    ev = _event(db, req.findtext("service_request_id"))
    assert ev.lon is None and ev.address == "长宁区天山路 100 弄"
    [got] = client.get(f"{V2}/requests/{ev.number}.json").json()
    assert got["lat"] is None and got["long"] is None


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_errors(client, db, fmt):
    key = make_client(db)
    _, lat, lon = wgs_point(db)

    def err(form, status):
        r = _post(client, form, fmt)
        assert r.status_code == status, r.text
        if fmt == "json":
            return valid(r.json(), "errors.json")[0]["description"]
        root = xml(r)
        assert root.tag == "errors" and root.find("error/code").text == str(status)
        return root.findtext("error/description")

    base = post_form(db, key, lat, lon)
    assert "api_key" in err({k: v for k, v in base.items() if k != "api_key"}, 403)
    assert "Invalid api_key" in err(base | {"api_key": "o311_wrong"}, 403)
    assert "jurisdiction_id" in err(base | {"jurisdiction_id": "sfgov.org"}, 404)
    assert "service_code" in err(base | {"service_code": ""}, 400)
    assert "not found" in err(base | {"service_code": "999999"}, 404)
    assert "not found" in err(base | {"service_code": "0101"}, 404)  # a 小类 is not a service
    assert "outside" in err(base | {"lat": "39.915", "long": "116.404"}, 400)  # Beijing
    assert "location" in err({"api_key": key, "service_code": CODE}, 400)
    assert "together" in err(base | {"long": ""}, 400)
    assert "decimal" in err(base | {"lat": "north"}, 400)
    assert "4000" in err(base | {"description": "x" * 4001}, 400)
    with db.session() as s:
        assert s.query(CityEvent).count() == 0 and s.query(Open311Request).count() == 0  # nothing kept


def test_disabled_client_is_refused(client, db):
    key = make_client(db)
    with db.session() as s:
        service.set_client(s, service.list_clients(s)[0].id, enabled=False)
    _, lat, lon = wgs_point(db)
    r = _post(client, post_form(db, key, lat, lon))
    assert r.status_code == 403 and "disabled" in r.json()[0]["description"]


def test_duplicate_is_merged_and_answered_with_the_parent(client, db):
    key = make_client(db)
    _, lat, lon = wgs_point(db)
    first = _post(client, post_form(db, key, lat, lon)).json()[0]["service_request_id"]
    _, lat2, lon2 = wgs_point(db, east_m=30)
    r = _post(client, post_form(db, key, lat2, lon2, device_id="other-phone"))
    [answer] = valid(r.json(), "request_post.json")
    assert answer["service_request_id"] == first and "合并" in answer["service_notice"]
    parent = _event(db, first)
    assert parent.report_count == 2
    listed = valid(client.get(f"{V2}/requests.json").json(), "requests.json")
    assert [x["service_request_id"] for x in listed] == [first]  # the merged report is not listed
    with db.session() as s:
        child = s.query(CityEvent).filter(CityEvent.merged_into_id == parent.id).one()
        assert child.state == "merged" and child.source_ref == "随申办:other-phone"
    # asking for the merged report's own number answers its parent
    [got] = client.get(f"{V2}/requests/{child.number}.json").json()
    assert got["service_request_id"] == first


def test_token_mode_and_token_lookup(client, db):
    key = make_client(db, "第三方巡查", token_mode=True)
    _, lat, lon = wgs_point(db)
    [answer] = valid(_post(client, post_form(db, key, lat, lon)).json(), "request_post.json")
    assert "service_request_id" not in answer and answer["token"]
    token = answer["token"]
    [resolved] = valid(client.get(f"{V2}/tokens/{token}.json").json(), "token.json")
    with db.session() as s:
        ev = s.query(CityEvent).one()
    assert resolved == {"service_request_id": ev.number, "token": token}
    root = xml(client.get(f"{V2}/tokens/{token}.xml"))
    assert root.tag == "service_requests"
    assert [c.tag for c in root.find("request")] == ["service_request_id", "token"]
    r = client.get(f"{V2}/tokens/nope.json")
    assert r.status_code == 404 and valid(r.json(), "errors.json")
    # a realtime client's requests have tokens too; a merged one resolves to the parent
    key2 = make_client(db, "随申办")
    _, lat2, lon2 = wgs_point(db, east_m=20)
    _post(client, post_form(db, key2, lat2, lon2))
    with db.session() as s:
        child = s.query(CityEvent).filter(CityEvent.state == "merged").one()
        tok = s.query(Open311Request).filter(Open311Request.event_id == child.id).one().token
    assert client.get(f"{V2}/tokens/{tok}.json").json()[0]["service_request_id"] == ev.number


# -- GET requests -------------------------------------------------------------------------

def _make(db, code=CODE, index=0, at=None, **kw):
    with db.session() as s:
        _, lon, lat = street_point(s, index)
        ev = events.create_event(s, category_code=code, title=kw.pop("title", "事件"), lon=lon, lat=lat,
                                 reported_at=at, source_kind=kw.pop("source_kind", "hotline"), created_by="t", **kw)
        return ev.id, ev.number


def test_status_mapping_follows_the_lifecycle(client, db):
    a, na = _make(db, index=0)
    b, nb = _make(db, code="030101", index=1)
    with db.session() as s:
        lifecycle.transition(s, a, "accepted", actor="duty1", role="duty")
        lifecycle.transition(s, b, "rejected", actor="duty1", role="duty", reason="重复上报，已另案处理")
    got = {x["service_request_id"]: x for x in valid(client.get(f"{V2}/requests.json").json(), "requests.json")}
    assert got[na]["status"] == "open" and got[na]["status_notes"] == "立案" and got[na]["service_notice"] == "已立案"
    assert got[nb]["status"] == "closed" and got[nb]["status_notes"] == "重复上报，已另案处理"
    assert got[nb]["expected_datetime"] is None
    closed_at = _event(db, nb).closed_at
    assert got[nb]["updated_datetime"] == closed_at.astimezone(got_tz(got[nb])).isoformat(timespec="seconds")
    only = lambda **p: [x["service_request_id"] for x in client.get(f"{V2}/requests.json", params=p).json()]
    assert only(status="open") == [na] and only(status="closed") == [nb]
    assert set(only(status="open,closed")) == {na, nb}
    assert only(service_code="030101") == [nb] and set(only(service_code=f"030101,{CODE}")) == {na, nb}
    # walk a to closed
    with db.session() as s:
        for to in ("dispatched", "in_progress", "disposed", "verified", "closed"):
            lifecycle.transition(s, a, to, actor="duty1", role="duty")
    assert set(only(status="closed")) == {na, nb}
    r = client.get(f"{V2}/requests.json", params={"status": "pending"})
    assert r.status_code == 400 and "open or closed" in r.json()[0]["description"]


def got_tz(item):
    return datetime.fromisoformat(item["requested_datetime"]).tzinfo


def test_date_window_ids_and_limits(client, db, monkeypatch):
    now = utcnow()
    _, old = _make(db, at=now - timedelta(days=120), index=0)
    _, mid = _make(db, at=now - timedelta(days=10), index=1)
    _, new = _make(db, at=now - timedelta(hours=1), index=2)
    ids = lambda r: [x["service_request_id"] for x in r.json()]
    assert ids(client.get(f"{V2}/requests.json")) == [new, mid]  # default: last 90 days, newest first
    start = (now - timedelta(days=130)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now - timedelta(days=50)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert ids(client.get(f"{V2}/requests.json", params={"start_date": start, "end_date": end})) == [old]
    assert ids(client.get(f"{V2}/requests.json", params={"start_date": start})) == [old]  # start + 90 days
    # service_request_id overrides the other filters
    r = client.get(f"{V2}/requests.json", params={"service_request_id": f"{old},{new},CN00000000-0000",
                                                  "status": "closed"})
    assert set(ids(r)) == {old, new}
    for params, word in (({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
                         ({"start_date": "2026-01-01T00:00:00"}, "time zone"),
                         ({"end_date": "yesterday"}, "w3"),
                         ({"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "before")):
        r = client.get(f"{V2}/requests.json", params=params)
        assert r.status_code == 400 and word in valid(r.json(), "errors.json")[0]["description"]
    r = client.get(f"{V2}/requests/CN00000000-0000.json")
    assert r.status_code == 404
    monkeypatch.setattr(service, "MAX_RESULTS", 1)  # the spec's 1000, scaled down
    assert ids(client.get(f"{V2}/requests.json")) == [new]


def test_requests_xml_agency_and_media(client, db):
    eid, number = _make(db, title="道路积水", code=CODE, description="积水严重")
    with db.session() as s:
        routing.assign(s, eid, actor="t")
        unit = s.get(CityEvent, eid).unit_id
        unit_name = s.get(ResponsibleUnit, unit).name
        att = events.add_attachment(s, eid, var_dir=client.app.state.ctx.settings.var_dir, name="现场.jpg",
                                    content_type="image/jpeg", data=b"\xff\xd8\xff" + b"1" * 50, by="t")
        events.add_attachment(s, eid, var_dir=client.app.state.ctx.settings.var_dir, name="说明.pdf",
                              content_type="application/pdf", data=b"%PDF-1.4", by="t")
        att_id = att.id
    root = xml(client.get(f"{V2}/requests/{number}.xml"))
    assert root.tag == "service_requests" and len(root) == 1
    req = root.find("request")
    assert [c.tag for c in req] == ["service_request_id", "status", "status_notes", "service_name", "service_code",
                                    "description", "agency_responsible", "service_notice", "requested_datetime",
                                    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                                    "lat", "long", "media_url"]
    assert req.findtext("agency_responsible") == unit_name and req.findtext("description") == "积水严重"
    assert req.find("zipcode").text is None and float(req.findtext("lat")) > 31
    media = req.findtext("media_url")
    assert media.endswith(f"/open311/v2/media/{number}/{att_id}")
    r = client.get(media.split("testserver", 1)[1])
    assert r.status_code == 200 and r.content.startswith(b"\xff\xd8\xff") and r.headers["content-type"] == "image/jpeg"
    assert client.get(f"{V2}/media/{number}/{att_id + 1}").status_code == 404  # the PDF is not public


def test_discovery(client):
    doc = valid(client.get("/open311/discovery.json").json(), "discovery.json")
    [ep] = doc["endpoints"]
    assert ep["url"].endswith("/open311/v2") and ep["specification"] == "http://wiki.open311.org/GeoReport_v2"
    root = xml(client.get("/open311/discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


def test_control_characters_do_not_break_the_xml(client, db):
    key = make_client(db)
    _, lat, lon = wgs_point(db)
    number = _post(client, post_form(db, key, lat, lon, description="垃圾\x01堆放\x1b")).json()[0]["service_request_id"]
    assert client.get(f"{V2}/requests/{number}.json").json()[0]["description"] == "垃圾\x01堆放\x1b"
    root = xml(client.get(f"{V2}/requests/{number}.xml"))
    assert root.findtext("request/description") == "垃圾堆放"
