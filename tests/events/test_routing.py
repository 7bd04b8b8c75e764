"""Smart assignment (SYS-DISPATCH): routing rule precedence (grid > street > any, longest
category prefix, priority, oldest), disabled rules, the street-office / operations-centre
fallback, explanations, stored decisions, the API with role and street scope checks, the
preview, and the console page 派单规则. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.events import routing, service
from cityops.events.routing_models import RoutingDecision, RoutingRule
from cityops.geo.models import Grid, ResponsibleUnit, Street
from tests.conftest import PASSWORD
from tests.events.helpers import street_point


def unit(s, code: str) -> ResponsibleUnit:
    return s.scalar(select(ResponsibleUnit).where(ResponsibleUnit.code == code))


def place(s, index: int = 0) -> tuple[str, str]:
    """A street code and one of its grids."""
    street = list(s.scalars(select(Street).order_by(Street.code)))[index]
    grid = s.scalar(select(Grid.code).where(Grid.street_code == street.code).order_by(Grid.code).limit(1))
    return street.code, grid


def new_event(s, code: str = "030101"):
    _, lon, lat = street_point(s)
    return service.create_event(s, category_code=code, title="井盖缺失", lon=lon, lat=lat, created_by="duty1",
                                merge=False)


def test_seed_is_idempotent_and_uses_seeded_units(db):
    with db.session() as s:
        assert routing.seed_routing(s) == 0  # bootstrap already ran it
        rules = {r.category_prefix: r for r in routing.list_rules(s)}
        assert s.get(ResponsibleUnit, rules["0401"].unit_id).code == "DEPT-SW"
        assert s.get(ResponsibleUnit, rules["06"].unit_id).code == "DEPT-JGW"
        assert not any(p.startswith(("01", "02", "03")) for p in rules)  # those go to the street office
        # a disabled default stays disabled at the next start
        rules["05"].enabled = False
        s.flush()
        assert routing.seed_routing(s) == 0 and not s.get(RoutingRule, rules["05"].id).enabled


def test_precedence_grid_over_street_over_any(db):
    with db.session() as s:
        street, grid = place(s)
        jgw, lhsr, cgzf = unit(s, "DEPT-JGW"), unit(s, "DEPT-LHSR"), unit(s, "DEPT-CGZF")
        any_ = routing.create_rule(s, category_prefix="0301", unit_id=jgw.id, priority=100)
        st = routing.create_rule(s, category_prefix="03", area_kind="street", area_code=street, unit_id=lhsr.id)
        gr = routing.create_rule(s, category_prefix="", area_kind="grid", area_code=grid, unit_id=cgzf.id)
        d = routing.decide(s, category_code="030101", street_code=street, grid_code=grid)
        assert (d.basis, d.rule.id, d.unit.code) == ("rule", gr.id, "DEPT-CGZF")
        assert [r.id for r in d.candidates] == [gr.id, st.id, any_.id]
        assert f"按规则 #{gr.id}：全部分类 + 网格 {grid}，优先级 0" in d.explanation
        assert "网格规则比街镇规则更具体" in d.explanation and "网格规则比全区规则更具体" in d.explanation
        # another grid of the same street: the street rule wins
        other = s.scalar(select(Grid.code).where(Grid.street_code == street, Grid.code != grid).limit(1))
        assert routing.decide(s, category_code="030101", street_code=street, grid_code=other).rule.id == st.id
        # a grid alone finds its street
        assert routing.decide(s, category_code="030101", grid_code=other).rule.id == st.id
        # another street: only the any-area rule
        street2, grid2 = place(s, 1)
        assert routing.decide(s, category_code="030101", street_code=street2, grid_code=grid2).rule.id == any_.id


def test_longest_prefix_then_priority_then_oldest(db):
    with db.session() as s:
        jgw, lhsr, cgzf, fg = (unit(s, c) for c in ("DEPT-JGW", "DEPT-LHSR", "DEPT-CGZF", "DEPT-FG"))
        short = routing.create_rule(s, category_prefix="03", unit_id=jgw.id, priority=50)
        long_ = routing.create_rule(s, category_prefix="0301", unit_id=lhsr.id)
        d = routing.decide(s, category_code="030102")
        assert d.rule.id == long_.id and "分类前缀 03 短于 0301" in d.explanation
        hi = routing.create_rule(s, category_prefix="0301", unit_id=cgzf.id, priority=10)
        d = routing.decide(s, category_code="030102")
        assert d.rule.id == hi.id and "优先级 0 低于 10" in d.explanation
        twin = routing.create_rule(s, category_prefix="0301", unit_id=fg.id, priority=10)
        d = routing.decide(s, category_code="030102")
        assert d.rule.id == hi.id and f"条件相同，#{hi.id} 建立更早" in d.explanation
        # "0301" does not match "0302…"
        assert routing.decide(s, category_code="030201").rule.id == short.id
        assert twin.id in [r.id for r in routing.decide(s, category_code="030101").candidates]


def test_disabled_rules_and_inactive_units_are_ignored(db):
    with db.session() as s:
        street, _ = place(s)
        lhsr, cgzf = unit(s, "DEPT-LHSR"), unit(s, "DEPT-CGZF")
        off = routing.create_rule(s, category_prefix="0301", unit_id=lhsr.id, enabled=False)
        on = routing.create_rule(s, category_prefix="03", unit_id=cgzf.id)
        d = routing.decide(s, category_code="030101", street_code=street)
        assert d.rule.id == on.id and off.id not in [r.id for r in d.candidates]
        cgzf.active = False
        s.flush()
        d = routing.decide(s, category_code="030101", street_code=street)
        assert d.basis == "fallback" and "责任单位已停用，跳过" in d.explanation
        with pytest.raises(Invalid, match="已停用"):
            routing.create_rule(s, category_prefix="03", unit_id=cgzf.id)


def test_fallback_street_office_then_operations_centre(db):
    with db.session() as s:
        street, grid = place(s)
        d = routing.decide(s, category_code="010101", street_code=street, grid_code=grid)
        office = unit(s, f"ST-{street}")
        assert (d.basis, d.rule, d.unit.id) == ("fallback", None, office.id)
        assert d.lines[0].startswith("无匹配规则，按兜底派往事件所在街镇的") and office.name in d.lines[0]
        d = routing.decide(s, category_code="010101")
        assert d.unit.code == "DEPT-CYZX" and "事件没有所属街镇" in d.explanation
        office.active = False
        s.flush()
        assert routing.decide(s, category_code="010101", street_code=street).unit.code == "DEPT-CYZX"
        unit(s, "DEPT-CYZX").active = False
        s.flush()
        assert routing.decide(s, category_code="010101").unit is None


def test_rule_validation(db):
    with db.session() as s:
        u = unit(s, "DEPT-JGW").id
        with pytest.raises(Invalid, match="分类前缀"):
            routing.create_rule(s, category_prefix="3", unit_id=u)
        with pytest.raises(Invalid, match="没有分类代码 99"):
            routing.create_rule(s, category_prefix="99", unit_id=u)
        with pytest.raises(Invalid, match="没有街镇代码"):
            routing.create_rule(s, area_kind="street", area_code="999", unit_id=u)
        with pytest.raises(Invalid, match="没有网格代码"):
            routing.create_rule(s, area_kind="grid", area_code="", unit_id=u)
        with pytest.raises(Invalid, match="全区规则不填区域代码"):
            routing.create_rule(s, area_kind="any", area_code="310105001", unit_id=u)
        with pytest.raises(Invalid, match="没有责任单位"):
            routing.create_rule(s, unit_id=999999)
        r = routing.create_rule(s, category_prefix="03", unit_id=u)
        with pytest.raises(Invalid, match="未知字段"):
            routing.update_rule(s, r.id, colour="red")
        with pytest.raises(NotFound):
            routing.get_rule(s, 999999)


def test_assign_sets_unit_and_stores_decision(db):
    with db.session() as s:
        ev = new_event(s)
        lhsr = unit(s, "DEPT-LHSR")
        rule = routing.create_rule(s, category_prefix="0301", area_kind="street", area_code=ev.street_code,
                                   unit_id=lhsr.id, priority=3)
        d = routing.assign(s, ev.id, actor="duty1")
        assert ev.unit_id == lhsr.id and d.rule.id == rule.id
        rows = routing.decisions(s, ev.id)
        assert len(rows) == 1 and (rows[0].unit_id, rows[0].rule_id, rows[0].actor) == (lhsr.id, rule.id, "duty1")
        assert f"按规则 #{rule.id}：分类 0301* + 街镇 {ev.street_code}，优先级 3" in rows[0].explanation
        # the rule goes away: re-routing falls back, both decisions are kept
        routing.delete_rule(s, rule.id)
        routing.assign(s, ev.id, actor="duty2")
        assert ev.unit_id == unit(s, f"ST-{ev.street_code}").id
        assert [r.basis for r in routing.decisions(s, ev.id)] == ["fallback", "rule"]
        with pytest.raises(NotFound):
            routing.assign(s, ev.id, actor="x", scope="000000000")
        ev.state = "closed"
        s.flush()
        with pytest.raises(Conflict, match="不能再派单"):
            routing.assign(s, ev.id, actor="duty1")


# -- API ----------------------------------------------------------------------------------------
def test_api_rules_crud_and_roles(client, auth_headers, db):
    with db.session() as s:
        u = unit(s, "DEPT-LHSR").id
        street, _ = place(s)
    mgr = auth_headers("manager")
    assert client.get("/api/v1/routing-rules").status_code == 401
    assert client.post("/api/v1/routing-rules", json={"unit_id": u},
                       headers=auth_headers("duty")).status_code == 403
    r = client.post("/api/v1/routing-rules", json={"category_prefix": "0301", "area_kind": "street",
                                                   "area_code": street, "unit_id": u, "priority": 5}, headers=mgr)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["unit"]["code"] == "DEPT-LHSR" and body["scope"] == f"分类 0301* + 街镇 {street}"
    rid = body["id"]
    assert any(x["id"] == rid for x in client.get("/api/v1/routing-rules", headers=auth_headers("auditor")).json())
    r = client.patch(f"/api/v1/routing-rules/{rid}", json={"enabled": False}, headers=mgr)
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = client.patch(f"/api/v1/routing-rules/{rid}", json={"category_prefix": "x"}, headers=mgr)
    assert r.status_code == 422 and "分类前缀" in r.json()["detail"]
    assert client.delete(f"/api/v1/routing-rules/{rid}", headers=auth_headers("technician")).status_code == 403
    assert client.delete(f"/api/v1/routing-rules/{rid}", headers=mgr).status_code == 204
    assert client.get(f"/api/v1/routing-rules/{rid}", headers=mgr).status_code == 404


def test_api_route_event_history_and_street_scope(client, auth_headers, db):
    with db.session() as s:
        ev = new_event(s, "0401" + "01")  # 道路积水 → 区水务管理所 (seeded)
        ev_id, street = ev.id, ev.street_code
        other = s.scalar(select(Street.code).where(Street.code != street).limit(1))
    assert client.post(f"/api/v1/events/{ev_id}/route", headers=auth_headers("technician")).status_code == 403
    assert client.post(f"/api/v1/events/{ev_id}/route", headers=auth_headers("street", other)).status_code == 404
    r = client.post(f"/api/v1/events/{ev_id}/route", headers=auth_headers("street", street))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["basis"] == "rule" and body["unit"]["code"] == "DEPT-SW"
    assert body["explanation"][0].startswith(f"按规则 #{body['rule']['id']}：分类 0401* + 全区")
    r = client.post(f"/api/v1/events/{ev_id}/route", headers=auth_headers("duty"))
    assert r.status_code == 200
    hist = client.get(f"/api/v1/events/{ev_id}/routing", headers=auth_headers("auditor")).json()
    assert len(hist) == 2 and hist[0]["rule_id"] == body["rule"]["id"] and "+08:00" in hist[0]["at"]
    assert client.get(f"/api/v1/events/{ev_id}/routing", headers=auth_headers("street", other)).status_code == 404
    ev_detail = client.get(f"/api/v1/events/{ev_id}", headers=auth_headers("duty")).json()
    with db.session() as s:
        assert s.get(type(ev), ev_id).unit_id == body["unit"]["id"]
    assert ev_detail["id"] == ev_id  # the events API still answers under /events/{id}


def test_api_preview_saves_nothing(client, auth_headers, db):
    with db.session() as s:
        street, grid = place(s)
        before = s.scalar(select(func.count()).select_from(RoutingDecision))
    h = auth_headers("duty")
    assert client.get("/api/v1/routing/preview", params={"category": "060101"}).status_code == 401
    r = client.get("/api/v1/routing/preview", params={"category": "060101", "street": street, "grid": grid},
                   headers=h)
    assert r.status_code == 200 and r.json()["unit"]["code"] == "DEPT-JGW"
    r = client.get("/api/v1/routing/preview", params={"category": "010101", "street": street}, headers=h)
    assert r.json()["basis"] == "fallback" and r.json()["rule"] is None and r.json()["unit"]["code"] == f"ST-{street}"
    assert client.get("/api/v1/routing/preview", params={"category": " "}, headers=h).status_code == 422
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(RoutingDecision)) == before


# -- console ------------------------------------------------------------------------------------
def _login(client, make_user, role) -> str:
    client.cookies.clear()
    client.post("/login", data={"username": make_user(role), "password": PASSWORD})
    html = client.get("/console/routing").text
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_console_page_form_toggle_and_preview(client, make_user, db):
    with db.session() as s:
        u = unit(s, "DEPT-CGZF").id
        street, grid = place(s)
    csrf = _login(client, make_user, "manager")
    page = client.get("/console/routing").text
    assert "派单规则" in page and 'href="/console/routing"' in page and "区水务管理所" in page and "试算" in page
    r = client.post("/console/routing", data={"csrf": csrf, "category_prefix": "0201", "area_kind": "grid",
                                              "area_code": grid, "unit_id": str(u), "priority": "7",
                                              "enabled": "1", "note": "无证设摊归执法"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    rid = int(re.search(r"已创建派单规则 #(\d+)", page).group(1))
    assert f'id="rule-{rid}"' in page and "无证设摊归执法" in page
    # edit form is prefilled; a bad priority re-renders with the reason
    assert f"编辑派单规则 #{rid}" in client.get("/console/routing", params={"edit": rid}).text
    r = client.post("/console/routing", data={"csrf": csrf, "rule_id": str(rid), "category_prefix": "0201",
                                              "area_kind": "grid", "area_code": grid, "unit_id": str(u),
                                              "priority": "高"})
    assert r.status_code == 422 and "保存失败" in r.text
    # preview explains the choice
    page = client.get("/console/routing", params={"category": "020101", "street": street, "grid": grid}).text
    assert f"按规则 #{rid}：分类 0201* + 网格 {grid}，优先级 7" in page and 'id="preview-result"' in page
    # disable, then the preview falls back to the street office
    r = client.post(f"/console/routing/{rid}/toggle", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and f"已停用派单规则 #{rid}" in client.get(r.headers["location"]).text
    page = client.get("/console/routing", params={"category": "020101", "street": street, "grid": grid}).text
    assert "无匹配规则，按兜底派往事件所在街镇的" in page
    assert client.post(f"/console/routing/{rid}/delete", data={"csrf": "forged"}).status_code == 403
    r = client.post(f"/console/routing/{rid}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        assert s.get(RoutingRule, rid) is None


def test_console_read_only_roles(client, make_user):
    _login(client, make_user, "auditor")
    page = client.get("/console/routing").text
    assert "派单规则" in page and "新建派单规则" not in page and "试算" in page
    client.cookies.clear()
    client.post("/login", data={"username": make_user("street", "310105002"), "password": PASSWORD})
    assert client.get("/console/routing").status_code == 403
