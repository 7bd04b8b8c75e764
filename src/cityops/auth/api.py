"""Auth and user API: OAuth2 password flow, the caller, user administration (SVC-3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from cityops.audit.context import Actor, bind_actor
from cityops.auth import service, tokens
from cityops.auth.deps import ADMINS, ALL_ROLES, DbSession, Principal, require
from cityops.auth.schemas import PasswordSet, TokenOut, UserCreate, UserOut, UserUpdate
from cityops.core.metrics import LOGIN_FAILURES
from cityops.core.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["auth"])


def login(request: Request, session, username: str, password: str):
    """Shared by the API token endpoint and the console login form."""
    ctx = request.app.state.ctx
    ip = request.client.host if request.client else "?"
    keys = (f"user:{username}", f"ip:{ip}")
    wait = ctx.limiter.retry_after(*keys)
    if wait:
        raise HTTPException(429, f"登录失败次数过多，请 {wait} 秒后再试", headers={"Retry-After": str(wait)})
    bind_actor(session, Actor(username, ip))
    user = service.authenticate(session, username, password)
    if user is None:
        ctx.limiter.failed(*keys)
        LOGIN_FAILURES.inc()
        raise HTTPException(401, "用户名或密码错误", headers={"WWW-Authenticate": "Bearer"})
    ctx.limiter.succeeded(keys[0])
    ttl = ctx.settings.token_ttl_minutes
    token = tokens.issue(ctx.settings.signing_key(), user_id=user.id, username=user.username, role=user.role,
                         street_code=user.street_code, ttl_minutes=ttl)
    return user, token, ttl


@router.post("/auth/token", response_model=TokenOut)
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: DbSession):
    """OAuth2 password flow → a short-lived bearer token."""
    _, tok, ttl = login(request, session, form.username, form.password)
    return TokenOut(access_token=tok, expires_in=ttl * 60)


@router.get("/auth/me", response_model=UserOut)
def me(session: DbSession, p: Annotated[Principal, Depends(require(*ALL_ROLES))]):
    return UserOut.of(service.get_user(session, p.id), pii=True)


@router.get("/users", response_model=Page[UserOut])
def list_users(session: DbSession, p: Annotated[Principal, Depends(require(*ADMINS))],
               page: Annotated[PageParams, Depends(page_params)]):
    rows, total = service.list_users(session, limit=page.limit, offset=page.offset)
    return Page(items=[UserOut.of(u, pii=p.sees_pii) for u in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, session: DbSession, p: Annotated[Principal, Depends(require(*ADMINS))]):
    user = service.create_user(session, **body.model_dump())
    return UserOut.of(user, pii=p.sees_pii)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: int, session: DbSession, p: Annotated[Principal, Depends(require(*ADMINS))]):
    return UserOut.of(service.get_user(session, user_id), pii=p.sees_pii)


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: int, body: UserUpdate, session: DbSession,
                p: Annotated[Principal, Depends(require(*ADMINS))]):
    user = service.update_user(session, user_id, **body.model_dump(exclude_unset=True))
    return UserOut.of(user, pii=p.sees_pii)


@router.post("/users/{user_id}/password", status_code=204)
def set_password(user_id: int, body: PasswordSet, session: DbSession,
                 p: Annotated[Principal, Depends(require(*ADMINS))]):
    service.set_password(session, user_id, body.password)
