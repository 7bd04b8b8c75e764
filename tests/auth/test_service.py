"""User service rules (SVC-3)."""

import pytest

from cityops.auth import service
from cityops.auth.passwords import hash_password, verify_password
from cityops.auth.ratelimit import LoginLimiter
from cityops.core.errors import Conflict, Invalid


def test_argon2_hashes_and_verifies():
    h = hash_password("Secret-pass-1")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "Secret-pass-1")
    assert not verify_password(h, "Secret-pass-2")
    assert not verify_password(None, "anything")
    assert not verify_password("garbage", "anything")


def test_create_and_authenticate(db):
    with db.session() as s:
        u = service.create_user(s, username="wang", role="street", street_code="310105004", password="Street-pass-1")
        assert u.id
    with db.session() as s:
        assert service.authenticate(s, "wang", "Street-pass-1").street_code == "310105004"
        assert service.authenticate(s, "wang", "wrong-pass-1") is None
        with pytest.raises(Conflict):
            service.create_user(s, username="wang", role="duty", password="Street-pass-1")
        with pytest.raises(Invalid):
            service.create_user(s, username="has space", role="duty", password="Street-pass-1")


def test_limiter_window():
    lim = LoginLimiter(max_failures=2, window_s=60)
    assert lim.retry_after("u") == 0
    lim.failed("u")
    assert lim.retry_after("u") == 0
    lim.failed("u")
    assert 0 < lim.retry_after("u") <= 61
    lim.succeeded("u")
    assert lim.retry_after("u") == 0
