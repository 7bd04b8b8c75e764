"""Streets, grids, lookup and boundary import through the API (IOT-1)."""


import shapely
from shapely.geometry import mapping

from cityops.geo import reference

HUAYANG = (121.420, 31.222)


def test_streets_are_the_ten_official_ones(client, auth_headers):
    h = auth_headers("duty")
    streets = client.get("/api/v1/geo/streets", headers=h).json()
    assert [s["code"] for s in streets] == [s["code"] for s in reference.streets_file()["streets"]]
    assert {s["name"] for s in streets} >= {"华阳路街道", "新泾镇", "仙霞新村街道"}
    assert all(s["approximate"] is True and s["boundary_source"] == "approximate" for s in streets)
    detail = client.get("/api/v1/geo/streets/310105001", headers=h).json()
    assert detail["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_35_grids_inside_their_streets(client, auth_headers):
    h = auth_headers("manager")
    grids = client.get("/api/v1/geo/grids", headers=h).json()
    assert len(grids) == 35
    assert len({g["code"] for g in grids}) == 35
    fc = client.get("/api/v1/geo/grids.geojson", headers=h).json()
    streets = {f["id"]: shapely.geometry.shape(f["geometry"])
               for f in client.get("/api/v1/geo/streets.geojson", headers=h).json()["features"]}
    for f in fc["features"]:
        g = shapely.geometry.shape(f["geometry"])
        assert streets[f["properties"]["street_code"]].buffer(1e-9).covers(g)
        assert f["properties"]["approximate"] is True


def test_locate_point(client, auth_headers):
    h = auth_headers("technician")
    r = client.get(f"/api/v1/geo/locate?lon={HUAYANG[0]}&lat={HUAYANG[1]}", headers=h).json()
    assert r["street_code"] == "310105001" and r["street_name"] == "华阳路街道"
    assert r["grid_code"].startswith("310105001-") and r["approximate"] is True and r["inside_district"]
    outside = client.get("/api/v1/geo/locate?lon=121.50&lat=31.24", headers=h).json()  # the Bund
    assert outside["street_code"] is None and outside["inside_district"] is False
    assert client.get("/api/v1/geo/locate?lon=500&lat=31", headers=h).status_code == 422


def _square_inside(street_code, client, h, shrink=0.3):
    street = client.get(f"/api/v1/geo/streets/{street_code}", headers=h).json()
    geom = shapely.geometry.shape(street["geometry"])
    c = geom.representative_point()
    return shapely.box(c.x - 0.002, c.y - 0.002, c.x + 0.002, c.y + 0.002).intersection(geom)


def test_import_real_street_boundary_replaces_approximate(client, auth_headers):
    h = auth_headers("admin")
    old = shapely.geometry.shape(client.get("/api/v1/geo/streets/310105004", headers=h).json()["geometry"])
    smaller = old.buffer(-0.001)
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "新华路街道"}, "geometry": mapping(smaller)}]}
    r = client.post("/api/v1/geo/streets/import", json=doc, headers=h)
    assert r.status_code == 200 and r.json() == {"updated": ["310105004"], "count": 1}
    s = client.get("/api/v1/geo/streets/310105004", headers=h).json()
    assert s["approximate"] is False and s["boundary_source"] == "imported"
    # approximate grids of that street were regenerated inside the new boundary
    fc = client.get("/api/v1/geo/grids.geojson?street=310105004", headers=h).json()
    assert fc["features"] and all(smaller.buffer(1e-9).covers(shapely.geometry.shape(f["geometry"]))
                                  for f in fc["features"])
    # the lookup index follows the import at once
    p = smaller.representative_point()
    assert client.get(f"/api/v1/geo/locate?lon={p.x}&lat={p.y}", headers=h).json()["street_code"] == "310105004"


def test_import_rejects_bad_geojson_with_reasons(client, auth_headers):
    h = auth_headers("manager")
    bad = [
        ({"type": "FeatureCollection", "features": []}, "没有要素"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "不存在街道"},
                                                      "geometry": {"type": "Point", "coordinates": [121.4, 31.2]}}]},
         "匹配的街镇"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "310105001"},
                                                      "geometry": {"type": "Point", "coordinates": [121.4, 31.2]}}]},
         "Polygon"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "310105001"},
                                                      "geometry": mapping(shapely.box(121.48, 31.23, 121.49, 31.24))}]},
         "位于长宁区内的面积不足一半"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "310105001"},
                                                      "geometry": mapping(shapely.box(13480000, 3660000, 13490000,
                                                                                      3670000))}]},
         "经纬度"),
    ]
    for doc, reason in bad:
        r = client.post("/api/v1/geo/streets/import", json=doc, headers=h)
        assert r.status_code == 422, reason
        assert reason in r.json()["detail"]
    streets = client.get("/api/v1/geo/streets", headers=h).json()
    assert all(s["approximate"] for s in streets), "a failed import changes nothing"


def test_import_grids_replaces_a_streets_approximate_grids(client, auth_headers):
    h = auth_headers("admin")
    before = len(client.get("/api/v1/geo/grids?street=310105002", headers=h).json())
    street = shapely.geometry.shape(client.get("/api/v1/geo/streets/310105002", headers=h).json()["geometry"])
    minx, miny, maxx, maxy = street.bounds
    mid = (minx + maxx) / 2
    west = street.intersection(shapely.box(minx, miny, mid, maxy))
    east = street.intersection(shapely.box(mid, miny, maxx, maxy))
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "JSL-W", "name": "江苏路西网格"}, "geometry": mapping(west)},
        {"type": "Feature", "properties": {"code": "JSL-E", "name": "江苏路东网格", "street_code": "310105002"},
         "geometry": mapping(east)}]}
    r = client.post("/api/v1/geo/grids/import", json=doc, headers=h)
    assert r.status_code == 200, r.text
    grids = client.get("/api/v1/geo/grids?street=310105002", headers=h).json()
    assert sorted(g["code"] for g in grids) == ["JSL-E", "JSL-W"]
    assert all(not g["approximate"] for g in grids)
    assert len(client.get("/api/v1/geo/grids", headers=h).json()) == 35 - before + 2
    p = west.representative_point()
    assert client.get(f"/api/v1/geo/locate?lon={p.x}&lat={p.y}", headers=h).json()["grid_code"] == "JSL-W"


def test_units_seeded_and_editable(client, auth_headers):
    h = auth_headers("manager")
    units = client.get("/api/v1/units", headers=h).json()
    offices = [u for u in units if u["kind"] == "street_office"]
    assert len(offices) == 10 and any(u["name"] == "新泾镇人民政府" for u in offices)
    assert any(u["name"] == "区城市运行管理中心" for u in units)
    r = client.post("/api/v1/units", json={"code": "ENT-GAS", "name": "燃气企业长宁片区", "kind": "enterprise"},
                    headers=h)
    assert r.status_code == 201
    assert client.post("/api/v1/units", json={"code": "ENT-GAS", "name": "dup", "kind": "enterprise"},
                       headers=h).status_code == 409
    assert client.post("/api/v1/units", json={"code": "X1", "name": "x", "kind": "alien"},
                       headers=h).status_code == 422
    assert client.patch(f"/api/v1/units/{r.json()['id']}", json={"street_code": "nope"},
                        headers=h).status_code == 422


def test_district_outline(client, auth_headers):
    d = client.get("/api/v1/geo/district", headers=auth_headers("auditor")).json()
    assert d["code"] == "310105" and d["name"] == "长宁区"
    assert d["outline"]["type"] in ("Polygon", "MultiPolygon")


def test_missing_street_and_unit_are_404_in_chinese(client, auth_headers):
    h = auth_headers("duty")
    r = client.get("/api/v1/geo/streets/999999999", headers=h)
    assert r.status_code == 404 and r.json()["detail"] == "街镇 999999999 不存在"
    assert client.get("/api/v1/units/999999", headers=h).json()["detail"] == "责任单位 999999 不存在"
