"""Health, metrics, OpenAPI and problem+json (foundation)."""


def test_healthz_is_public_and_reports_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database_ok"] is True
    assert body["database"] in ("sqlite", "postgresql")


def test_metrics_exposes_prometheus_text(client):
    client.get("/healthz")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "cityops_http_requests_total" in r.text


def test_openapi_lists_api_routes(client):
    spec = client.get("/openapi.json").json()
    assert "/api/v1/auth/token" in spec["paths"]
    assert "/api/v1/geo/streets" in spec["paths"]


def test_errors_are_problem_json(client, auth_headers):
    h = auth_headers("admin")
    r = client.get("/api/v1/geo/streets/999999999", headers=h)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404 and body["title"] == "Not Found" and "999999999" in body["detail"]
    r = client.get("/api/v1/geo/locate?lon=abc&lat=1", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "lon"
