"""The console shell: templates, the logged-in user and CSRF for forms.

Console pages authenticate with an HttpOnly, SameSite=Strict cookie holding the same
signed token the API uses; forms carry a CSRF value bound to that token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates

from cityops.audit.service import mask_phone
from cityops.auth import tokens
from cityops.auth.deps import DbSession, principal_from
from cityops.auth.models import ROLE_LABELS
from cityops.core.timeutil import fmt_local

TEMPLATES = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES)
templates.env.filters["local"] = fmt_local
templates.env.filters["mask"] = mask_phone
templates.env.globals["role_labels"] = ROLE_LABELS


class LoginRequired(Exception):
    def __init__(self, next_url: str):
        self.next_url = next_url


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    username: str
    role: str
    street_code: str | None
    display_name: str
    csrf: str
    sees_pii: bool

    @property
    def street_scope(self) -> str | None:
        return self.street_code if self.role == "street" else None

    def can(self, *roles: str) -> bool:
        return self.role in roles


def console_user(request: Request, session: DbSession) -> ConsoleUser:
    p = principal_from(request, session, allow_cookie=True)
    if p is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    csrf = tokens.csrf_token(request.app.state.ctx.settings.signing_key(), p.jti)
    return ConsoleUser(p.id, p.username, p.role, p.street_code, p.display_name, csrf, p.sees_pii)


def check_csrf(value: str | None, user: ConsoleUser) -> None:
    if not value or not hmac.compare_digest(value, user.csrf):
        raise HTTPException(403, "表单已过期或来源不明，请刷新页面后重试（CSRF 校验未通过）")


def require_console(*roles: str):
    """A page dependency admitting the listed roles; others get a 403 page."""

    def dep(user: ConsoleUser = Depends(console_user)) -> ConsoleUser:
        if roles and user.role not in roles:
            raise HTTPException(403, "当前角色无权访问此页面")
        return user

    return dep


def login_redirect(exc: LoginRequired) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


def render(request: Request, name: str, user: ConsoleUser | None, active: str = "", status_code: int = 200,
           **context):
    return templates.TemplateResponse(request, name, {"user": user, "active": active, **context},
                                      status_code=status_code)


def html_error(request: Request, status: int, title: str, detail: str):
    """Console pages get an HTML error page instead of problem+json."""
    path = request.url.path
    if not (path.startswith("/console") or path in ("/login", "/logout")):
        return None
    return templates.TemplateResponse(request, "error.html", {"user": None, "active": "", "status": status,
                                                               "title": title, "detail": detail},
                                      status_code=status)
