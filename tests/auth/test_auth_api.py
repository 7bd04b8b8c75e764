"""Login, tokens, roles, masking and user administration (SVC-3)."""

from datetime import timedelta

import jwt

from cityops.core.timeutil import utcnow
from tests.conftest import PASSWORD, TEST_SECRET


def test_token_flow_and_me(client, make_user):
    name = make_user("duty", phone="13812345678")
    r = client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me["username"] == name and me["role"] == "duty" and me["phone"] == "13812345678"
    assert me["created_at"].endswith("+08:00")


def test_wrong_password_is_401_problem(client, make_user):
    name = make_user("duty")
    r = client.post("/api/v1/auth/token", data={"username": name, "password": "wrong-password-1"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    r = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "whatever-123"})
    assert r.status_code == 401


def test_login_rate_limit_locks_after_repeated_failures(client, make_user):
    name = make_user("technician")
    for _ in range(5):
        assert client.post("/api/v1/auth/token", data={"username": name, "password": "bad-pass-123"}).status_code == 401
    r = client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0


def test_expired_token_is_refused(client, make_user, db):
    make_user("admin", username="old")
    from sqlalchemy import select

    from cityops.auth.models import User

    with db.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "old"))
    past = utcnow() - timedelta(hours=2)
    token = jwt.encode({"iss": "cityops", "sub": "old", "uid": uid, "role": "admin", "jti": "j",
                        "iat": past, "exp": past + timedelta(minutes=60)}, TEST_SECRET, algorithm="HS256")
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_deactivated_user_loses_access_at_once(client, auth_headers, make_user):
    admin = auth_headers("admin")
    name = make_user("duty", username="leaver")
    tok = client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD}).json()["access_token"]
    h = {"Authorization": f"Bearer {tok}"}
    assert client.get("/api/v1/auth/me", headers=h).status_code == 200
    users = client.get("/api/v1/users", headers=admin).json()["items"]
    uid = next(u["id"] for u in users if u["username"] == "leaver")
    assert client.patch(f"/api/v1/users/{uid}", json={"active": False}, headers=admin).status_code == 200
    assert client.get("/api/v1/auth/me", headers=h).status_code == 401


def test_only_admin_manages_users(client, auth_headers):
    for role in ("manager", "duty", "technician", "street", "auditor"):
        h = auth_headers(role, "310105001" if role == "street" else None)
        assert client.get("/api/v1/users", headers=h).status_code == 403, role
    admin = auth_headers("admin")
    r = client.post("/api/v1/users", json={"username": "zhang", "role": "technician", "password": "Tech-pass-2026"},
                    headers=admin)
    assert r.status_code == 201 and r.json()["role"] == "technician"
    assert client.post("/api/v1/users", json={"username": "zhang", "role": "duty", "password": "Tech-pass-2026"},
                       headers=admin).status_code == 409


def test_user_validation_errors(client, auth_headers):
    admin = auth_headers("admin")
    cases = [
        {"username": "a", "role": "king", "password": "Good-pass-2026"},
        {"username": "b", "role": "street", "password": "Good-pass-2026"},
        {"username": "c", "role": "street", "street_code": "999", "password": "Good-pass-2026"},
        {"username": "d", "role": "duty", "street_code": "310105001", "password": "Good-pass-2026"},
        {"username": "e", "role": "duty", "password": "short1"},
        {"username": "f", "role": "duty", "password": "onlyletterslong"},
    ]
    for body in cases:
        r = client.post("/api/v1/users", json=body, headers=admin)
        assert r.status_code == 422, body
        assert r.json()["detail"]


def test_password_reset_by_admin(client, auth_headers, make_user):
    admin = auth_headers("admin")
    name = make_user("duty", username="resetme")
    uid = next(u["id"] for u in client.get("/api/v1/users", headers=admin).json()["items"] if u["username"] == name)
    assert client.post(f"/api/v1/users/{uid}/password", json={"password": "New-pass-2026"},
                       headers=admin).status_code == 204
    assert client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/auth/token", data={"username": name, "password": "New-pass-2026"}).status_code == 200


def test_phone_masked_for_roles_without_need(client, auth_headers, make_user):
    """Personal data is masked in lists for roles that do not call people."""
    make_user("duty", username="caller", phone="13987654321")
    admin = auth_headers("admin")
    users = client.get("/api/v1/users", headers=admin).json()["items"]
    assert next(u for u in users if u["username"] == "caller")["phone"] == "13987654321"
    unit_id = client.get("/api/v1/units", headers=admin).json()[0]["id"]
    client.patch(f"/api/v1/units/{unit_id}", json={"contact_phone": "13900001111"}, headers=admin)
    tech = auth_headers("technician")
    unit = client.get(f"/api/v1/units/{unit_id}", headers=tech).json()
    assert unit["contact_phone"] == "139****1111"
    duty = auth_headers("duty")
    assert client.get(f"/api/v1/units/{unit_id}", headers=duty).json()["contact_phone"] == "13900001111"


def test_problem_details_are_chinese(client, auth_headers, make_user):
    admin = auth_headers("admin")
    r = client.get("/api/v1/users/99999", headers=admin)
    assert r.status_code == 404 and r.json()["detail"] == "用户 99999 不存在"
    assert client.get("/api/v1/auth/me").json()["detail"] == "需要有效的 Bearer 令牌"
    r = client.get("/api/v1/users", headers=auth_headers("duty"))
    assert r.status_code == 403 and r.json()["detail"] == "角色 'duty' 无权执行此操作"
    r = client.post("/api/v1/users", json={"username": "g", "role": "king", "password": "Good-pass-2026"},
                    headers=admin)
    assert r.status_code == 422 and r.json()["detail"].startswith("未知角色 'king'；可选角色：admin、manager")
    name = make_user("duty")
    r = client.post("/api/v1/auth/token", data={"username": name, "password": "wrong-password-1"})
    assert r.json()["detail"] == "用户名或密码错误"


def test_console_login_lock_message_is_chinese(client, make_user):
    name = make_user("technician")
    for _ in range(5):
        client.post("/login", data={"username": name, "password": "bad-pass-123"})
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code == 429 and "登录失败次数过多，请" in r.text and "秒后再试" in r.text
