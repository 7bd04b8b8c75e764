"""The guided demonstration's script and presenter page (VISIT-2)."""

from __future__ import annotations

import json
import re

import pytest

from cityops.screen import tour
from tests.conftest import PASSWORD

GOOD = {"title": "一屏统览", "caption": "这是城运大屏。数据实时汇聚。", "url": "/screen"}


def _bad(**change):
    step = {**GOOD, **change}
    return [GOOD, {k: v for k, v in step.items() if v is not None}]


def test_the_shipped_tour_is_valid_and_tells_the_story():
    steps = tour.load()
    assert 8 <= len(steps) <= 14
    assert [s.number for s in steps] == list(range(1, len(steps) + 1))
    urls = [s.url for s in steps]
    assert urls[0] == "/screen"
    paths = [u.split("?")[0] for u in urls]
    for wanted in ("/console/events", "/console/dispatch", "/console/callout/stats", "/console/ops"):
        assert wanted in paths
    assert any(u.startswith("/screen/mode/") for u in urls) and any(u.startswith("/screen/street/") for u in urls)
    assert [s.scenario for s in steps if s.scenario] == ["waterlogging"]
    assert all(1 <= tour.sentences(s.caption) <= 3 for s in steps)


@pytest.mark.parametrize("change, message", [
    ({"caption": None}, "第 2 步（一屏统览）：缺少 caption"),
    ({"caption": "This is the big screen."}, "caption 应为中文"),
    ({"caption": "一。二。三。四。"}, "caption 应为 1–3 句话（当前 4 句）"),
    ({"url": "https://example.com/"}, "url 必须是本平台的页面"),
    ({"url": "/console/../api/v1/users"}, "url 不能包含"),
    ({"url": "/screen/street/abc"}, "url 必须是本平台的页面"),
    ({"scenario": "typhoon"}, "没有名为 'typhoon' 的演示场景"),
    ({"colour": "red"}, "未知字段 colour"),
    ({"title": "标" * 30}, "title 最多 24 个字"),
])
def test_a_bad_step_is_refused_with_a_clear_error(change, message):
    with pytest.raises(tour.TourError) as exc:
        tour.validate({"steps": _bad(**change)})
    assert message in str(exc.value)
    assert str(exc.value).startswith("第 2 步")


def test_broken_files_are_refused(tmp_path):
    p = tmp_path / "tour.json"
    p.write_text('{"steps": [', encoding="utf-8")
    with pytest.raises(tour.TourError, match="不是有效的 JSON"):
        tour.load(p)
    p.write_text(json.dumps({"steps": []}), encoding="utf-8")
    with pytest.raises(tour.TourError, match="非空的 steps"):
        tour.load(p)
    with pytest.raises(tour.TourError, match="不存在"):
        tour.load(tmp_path / "missing.json")
    p.write_text(json.dumps({"steps": [GOOD, {**GOOD, "url": "/console/events", "notes": "提示"}]}), encoding="utf-8")
    assert [s.url for s in tour.load(p)] == ["/screen", "/console/events"]


def test_steps_api_roles(client, auth_headers):
    r = client.get("/api/v1/screen/tour/steps", headers=auth_headers("manager"))
    assert r.status_code == 200
    body = r.json()
    assert body["demo_mode"] is False and body["current"] is None and body["demo_url"] == ""
    assert len(body["steps"]) == len(tour.steps()) and body["steps"][0]["caption"]
    assert body["scenarios"][0]["name"] == "waterlogging" and body["scenarios"][0]["steps"][0]["label"]
    assert client.get("/api/v1/screen/tour/steps", headers=auth_headers("street", "310105001")).status_code == 403
    assert client.get("/api/v1/screen/tour/steps").status_code == 401


def _login(client, make_user, role):
    name = make_user(role)
    r = client.post("/login", data={"username": name, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code in (302, 303), r.text


def _csrf(html: str) -> str:
    cfg = json.loads(re.search(r'id="tour-config">(.*?)</script>', html, re.S).group(1))
    return cfg["csrf"]


def test_presenter_page_and_its_csrf_checked_post(client, make_user, db):
    assert client.get("/screen/tour", follow_redirects=False).status_code in (302, 303)  # to the login page
    _login(client, make_user, "duty")
    r = client.get("/screen/tour?step=4")
    assert r.status_code == 200
    assert 'src="/console/events?state="' in r.text and "告警自动立案" in r.text
    cfg = json.loads(re.search(r'id="tour-config">(.*?)</script>', r.text, re.S).group(1))
    assert cfg["start"] == 4 and cfg["demo_mode"] is False and cfg["not_demo"] == "演示场景只能在演示环境中运行"
    assert client.get("/screen/tour?step=99").text.count('src="/screen/street/') == 1  # clamped to the last
    # no CSRF header: refused before anything happens
    r = client.post("/screen/tour/scenarios", json={"name": "waterlogging"})
    assert r.status_code == 403
    # with it, on a production instance: 409 problem+json with the reason the page shows
    r = client.post("/screen/tour/scenarios", json={"name": "waterlogging"}, headers={"X-CSRF-Token": cfg["csrf"]})
    assert r.status_code == 409 and r.json()["detail"] == "演示场景只能在演示环境中运行"
    assert r.headers["content-type"] == "application/problem+json"


def test_presenter_page_is_for_admin_manager_duty(client, make_user):
    _login(client, make_user, "technician")
    r = client.get("/screen/tour")
    assert r.status_code == 403 and "导览演示仅限" in r.text


def test_a_live_instance_points_the_presenter_to_the_demo_instance(client, auth_headers, app):
    """VISIT-2: production refuses scenarios; with CITYOPS_TOUR_DEMO_URL the presenter is sent to
    the demo instance next to it. A demo instance itself never points elsewhere."""
    settings = app.state.ctx.settings
    settings.tour_demo_url = "http://ops-demo:8100"
    try:
        body = client.get("/api/v1/screen/tour/steps", headers=auth_headers("duty")).json()
        assert body["demo_mode"] is False and body["demo_url"] == "http://ops-demo:8100"
        settings.demo_mode = True
        assert client.get("/api/v1/screen/tour/steps", headers=auth_headers("duty")).json()["demo_url"] == ""
    finally:
        settings.tour_demo_url, settings.demo_mode = "", False


@pytest.mark.parametrize("value", ["ops-demo:8100", "ftp://ops-demo", "http://"])
def test_the_demo_url_setting_must_be_an_http_address(value):
    from pydantic import ValidationError

    from cityops.core.settings import Settings

    with pytest.raises(ValidationError, match="CITYOPS_TOUR_DEMO_URL"):
        Settings(tour_demo_url=value)
    assert Settings(tour_demo_url=" https://ops-demo:8100/ ").tour_demo_url == "https://ops-demo:8100"
