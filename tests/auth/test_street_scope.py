"""Street users see only their own street's rows (SVC-3, object-level checks)."""

OWN, OTHER = "310105004", "310105001"


def test_street_user_sees_only_own_street(client, auth_headers):
    h = auth_headers("street", OWN)
    streets = client.get("/api/v1/geo/streets", headers=h).json()
    assert [s["code"] for s in streets] == [OWN]
    fc = client.get("/api/v1/geo/streets.geojson", headers=h).json()
    assert [f["properties"]["code"] for f in fc["features"]] == [OWN]
    grids = client.get("/api/v1/geo/grids", headers=h).json()
    assert grids and all(g["street_code"] == OWN for g in grids)
    # asking for another street explicitly still yields nothing of it
    assert client.get(f"/api/v1/geo/grids?street={OTHER}", headers=h).json() == []


def test_street_user_gets_404_for_other_streets_objects(client, auth_headers):
    h = auth_headers("street", OWN)
    admin = auth_headers("admin")
    assert client.get(f"/api/v1/geo/streets/{OWN}", headers=h).status_code == 200
    assert client.get(f"/api/v1/geo/streets/{OTHER}", headers=h).status_code == 404
    other_grid = client.get(f"/api/v1/geo/grids?street={OTHER}", headers=admin).json()[0]["code"]
    assert client.get(f"/api/v1/geo/grids/{other_grid}", headers=h).status_code == 404
    units = client.get("/api/v1/units", headers=admin).json()
    other_office = next(u for u in units if u["street_code"] == OTHER)
    own_office = next(u for u in units if u["street_code"] == OWN)
    assert client.get(f"/api/v1/units/{other_office['id']}", headers=h).status_code == 404
    assert client.get(f"/api/v1/units/{own_office['id']}", headers=h).status_code == 200
    listed = client.get("/api/v1/units", headers=h).json()
    assert {u["street_code"] for u in listed} == {OWN, None}


def test_street_user_cannot_write_reference_data(client, auth_headers):
    h = auth_headers("street", OWN)
    units = client.get("/api/v1/units", headers=h).json()
    assert client.patch(f"/api/v1/units/{units[0]['id']}", json={"contact_name": "x"}, headers=h).status_code == 403
    assert client.post("/api/v1/geo/streets/import", json={"type": "FeatureCollection", "features": []},
                       headers=h).status_code == 403
