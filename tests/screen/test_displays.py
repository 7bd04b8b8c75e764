"""Wall displays of the big screen (SYS-SCREEN): a display key signs a screen in for a year,
opens the screen routes only (never the console), and stops working once revoked; the console
page 大屏授权 creates (showing the address once) and revokes them."""

import re

from fastapi import Depends

from cityops.screen.access import Viewer, screen_viewer
from tests.conftest import PASSWORD
from tests.screen.screen_seed import seed

PROBLEM = "application/problem+json"


def _login(client, make_user, role):
    client.cookies.clear()
    r = client.post("/login", data={"username": make_user(role), "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_display_key_lifecycle_through_the_console(app, client, db, make_user):
    sd = seed(db)
    _login(client, make_user, "duty")
    assert client.get("/console/screen/displays").status_code == 403

    _login(client, make_user, "manager")
    page = client.get("/console/screen/displays")
    assert page.status_code == 200 and "大屏授权" in page.text and "还没有显示屏" in page.text
    r = client.post("/console/screen/displays", data={"csrf": "forged", "name": "x"})
    assert r.status_code == 403
    r = client.post("/console/screen/displays", data={"csrf": _csrf(page.text), "name": "江苏路分中心屏",
                                                      "street_code": sd.b})
    # Post/Redirect/Get: the key is not in the redirect's URL; it rides in a one-shot cookie.
    assert r.status_code == 200 and "仅显示这一次" in r.text and len(r.history) == 1
    assert r.history[0].status_code == 303 and "/screen/display/" not in str(r.url)
    path = re.search(r'data-path="(/screen/display/[^"]+)"', r.text).group(1)
    assert path.rsplit("/", 1)[1] not in str(r.history[0].headers["location"])
    again = client.get(str(r.url)).text  # a refresh of the answer page
    assert path not in again  # the key is shown once
    assert "江苏路分中心屏" in again and "从未访问" in again
    assert again.count("江苏路分中心屏") >= 1 and len(re.findall(r'id="display-\d+"', again)) == 1  # no second display

    client.cookies.clear()
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/screen/street/{sd.b}"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("cityops_display=") and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
        "Strict", "strict") and "Max-Age=31536000" in cookie and "Path=/screen" in cookie
    key = path.rsplit("/", 1)[1]
    client.cookies.set("cityops_display", key)  # as the display's browser sends it on /screen…

    data = client.get("/screen/data")
    assert data.status_code == 200
    assert data.json()["street"] == sd.b and data.json()["panels"]["devices"]["data"]["total"] == 1
    assert client.get("/screen/data", params={"street": sd.a}).status_code == 403
    geo = client.get("/screen/geo")
    assert geo.status_code == 200 and [f["id"] for f in geo.json()["streets"]["features"]] == [sd.b]
    assert client.get("/screen/geo", headers={"If-None-Match": geo.headers["etag"]}).status_code == 304
    # …and even sent to the console or the API, it opens neither.
    r = client.get("/console/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.get("/console/screen/displays", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/screen/panels").status_code == 401

    _login(client, make_user, "manager")
    page = client.get("/console/screen/displays").text
    assert "从未访问" not in page  # last seen was noted
    display_id = re.search(r'id="display-(\d+)"', page).group(1)
    r = client.post(f"/console/screen/displays/{display_id}/revoke", data={"csrf": _csrf(page)},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "已停用" in client.get("/console/screen/displays").text

    client.cookies.clear()
    client.cookies.set("cityops_display", key)
    r = client.get("/screen/data")
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
    r = client.get(path)
    assert r.status_code == 403 and "大屏授权无效" in r.text and "cityops_display" not in r.headers.get("set-cookie", "")
    assert client.get("/screen/display/not-a-key").status_code == 403


def test_screen_viewer_pages_redirect_and_data_answers_401(app, client, auth_headers):
    """Unauthenticated: a page asking for HTML goes to the login page, data gets 401."""

    @app.get("/screen/x-viewer-probe")
    def probe(viewer: Viewer = Depends(screen_viewer)):
        return {"scope": viewer.street_scope, "user": viewer.user, "label": viewer.label}

    r = client.get("/screen/x-viewer-probe?a=1", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/screen/x-viewer-probe%3Fa%3D1"
    r = client.get("/screen/x-viewer-probe")
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
    for path in ("/screen/data", "/screen/stream", "/screen/geo"):
        r = client.get(path, headers={"Accept": "text/html"})
        assert r.status_code == 401 and r.headers["content-type"] == PROBLEM, path
    who = client.get("/screen/x-viewer-probe", headers=auth_headers("street", street_code="310105001")).json()
    assert who["scope"] == "310105001" and who["user"].startswith("street")
    assert client.get("/screen/x-viewer-probe", headers=auth_headers("auditor")).json()["scope"] is None


def test_display_keys_stay_out_of_the_access_log():
    import logging

    import cityops.screen.stream  # noqa: F401  (installs the filter)

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/screen/display/s3cr3t-key", "1.1", 303), None)
    for f in logging.getLogger("uvicorn.access").filters:
        f.filter(record)
    assert "s3cr3t" not in record.getMessage() and "/screen/display/…" in record.getMessage()
