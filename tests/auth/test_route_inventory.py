"""Every /api/v1 route needs a bearer token and carries a role check (SVC-3, SYS-SEC)."""

import re

from fastapi.routing import APIRoute

from cityops.auth.deps import RoleCheck

PUBLIC = {("/api/v1/auth/token", "POST"), ("/api/v1/probes/push/{token}", "POST")}  # the push token authenticates


class _Route:
    """A route as served: the path with every enclosing router's prefix."""

    def __init__(self, path: str, route: APIRoute):
        self.path, self.dependant, self.methods = path, route.dependant, route.methods


def _walk(routes, prefix=""):
    # Newer FastAPI keeps included routers as nodes; a router included inside another (duty's
    # roster routes in duty's API router) carries the outer router's prefix in its context.
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            context = getattr(r, "include_context", None)
            yield from _walk(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif isinstance(r, APIRoute):
            yield _Route(prefix + r.path, r)


def _api_routes(app):
    for route in _walk(app.routes):
        if route.path.startswith("/api/v1"):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield route, method


def _has_role_check(dependant) -> bool:
    return any(isinstance(d.call, RoleCheck) or _has_role_check(d) for d in dependant.dependencies)


def test_inventory_is_not_empty(app):
    routes = list(_api_routes(app))
    assert len(routes) >= 20, "the route inventory found suspiciously few routes"


def test_inventory_matches_the_published_openapi(app, client):
    published = {(path, m.upper()) for path, ops in client.get("/openapi.json").json()["paths"].items()
                 for m in ops if path.startswith("/api/v1")}
    assert published == {(re.sub(r":\w+}", "}", r.path), m) for r, m in _api_routes(app)}


def test_every_route_declares_a_role_check(app):
    missing = [f"{m} {r.path}" for r, m in _api_routes(app)
               if (r.path, m) not in PUBLIC and not _has_role_check(r.dependant)]
    assert missing == []


def test_every_route_refuses_anonymous_callers(client, app):
    for route, method in _api_routes(app):
        if (route.path, method) in PUBLIC:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        r = client.request(method, path, json={})
        assert r.status_code == 401, f"{method} {route.path} answered {r.status_code} without a token"
        assert r.headers["content-type"] == "application/problem+json"


def test_every_route_refuses_a_forged_token(client, app):
    import jwt

    forged = jwt.encode({"iss": "cityops", "sub": "admin", "uid": 1, "role": "admin", "jti": "x",
                         "exp": 4102444800}, "not-the-key-but-long-enough-for-hs256-0123456789", algorithm="HS256")
    for route, method in _api_routes(app):
        if (route.path, method) in PUBLIC:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        r = client.request(method, path, json={}, headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, f"{method} {route.path} accepted a forged token"
