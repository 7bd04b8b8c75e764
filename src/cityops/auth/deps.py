"""Request dependencies: the database session, the caller and role checks (SVC-3).

Every /api/v1 route depends on `require(...)`; tests/auth/test_route_inventory.py proves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from cityops.audit.context import Actor, bind_actor
from cityops.auth import tokens
from cityops.auth.models import User
from cityops.auth.service import PII_ROLES

SESSION_COOKIE = "cityops_session"


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the handler returns, rolled back on error."""
    with request.app.state.ctx.db.session() as session:
        yield session


# "function" scope: the commit happens when the handler returns, before the response is
# sent, so a failed commit is reported to the caller instead of a false success.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class Principal:
    id: int
    username: str
    role: str
    street_code: str | None
    display_name: str
    jti: str

    @property
    def street_scope(self) -> str | None:
        """The street this caller is confined to; None means the whole district."""
        return self.street_code if self.role == "street" else None

    @property
    def sees_pii(self) -> bool:
        return self.role in PII_ROLES


def _token_from(request: Request, allow_cookie: bool) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if allow_cookie:
        return request.cookies.get(SESSION_COOKIE)
    return None


def principal_from(request: Request, session: Session, *, allow_cookie: bool) -> Principal | None:
    ctx = request.app.state.ctx
    raw = _token_from(request, allow_cookie)
    claims = tokens.decode(ctx.settings.signing_key(), raw) if raw else None
    if claims is None:
        return None
    user = session.get(User, claims.user_id)
    # A deactivated user or a changed role ends the token's power at once.
    if user is None or not user.active or user.role != claims.role or user.username != claims.username:
        return None
    p = Principal(user.id, user.username, user.role, user.street_code, user.display_name, claims.jti)
    bind_actor(session, Actor(p.username, request.client.host if request.client else ""))
    return p


class RoleCheck:
    """A dependency that admits the listed roles only. Kept as a class so the route
    inventory test can find it on every route."""

    def __init__(self, roles: tuple[str, ...]):
        self.roles = roles

    def __call__(self, request: Request, session: DbSession) -> Principal:
        p = principal_from(request, session, allow_cookie=False)
        if p is None:
            raise HTTPException(401, "需要有效的 Bearer 令牌", headers={"WWW-Authenticate": "Bearer"})
        if p.role not in self.roles:
            raise HTTPException(403, f"角色 {p.role!r} 无权执行此操作")
        return p


ALL_ROLES = ("admin", "manager", "duty", "technician", "street", "auditor")
STAFF = ("admin", "manager", "duty", "technician", "auditor")  # district-wide readers
REF_WRITERS = ("admin", "manager")
ASSET_WRITERS = ("admin", "manager", "technician", "duty")
AUDIT_READERS = ("admin", "manager", "auditor")
ADMINS = ("admin",)


def require(*roles: str) -> RoleCheck:
    return RoleCheck(tuple(roles) or ALL_ROLES)
