"""RFC 9457 problem+json errors for the API."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"


class Problem(Exception):
    """A domain error carrying its HTTP status; services raise it, the API renders it."""

    def __init__(self, status: int, title: str, detail: str = "", type_: str = "about:blank", **extra: Any):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.extra = extra


_NO_KEY = object()


class NotFound(Problem):
    """`NotFound("外呼名单", 7)` → "外呼名单 7 不存在"; with one argument that is the whole
    message (`NotFound(f"外呼任务 {id} 不存在")`). People read it: Chinese."""

    def __init__(self, what: str, key: Any = _NO_KEY):
        super().__init__(404, "Not Found", what if key is _NO_KEY else f"{what} {key} 不存在")


class Conflict(Problem):
    def __init__(self, detail: str):
        super().__init__(409, "Conflict", detail)


class Invalid(Problem):
    def __init__(self, detail: str, **extra: Any):
        super().__init__(422, "Unprocessable Content", detail, **extra)


def problem_response(status: int, title: str, detail: str, instance: str, type_: str = "about:blank",
                     headers: dict | None = None, **extra: Any) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


HtmlRenderer = Callable[[Request, int, str, str], Response | None]


def install(app: FastAPI, html: HtmlRenderer | None = None) -> None:
    """problem+json everywhere; `html` may answer instead for pages meant for people
    (it returns None for requests it does not handle)."""

    def _page(request: Request, status: int, title: str, detail: str) -> Response | None:
        return html(request, status, title, detail) if html else None

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        page = _page(request, exc.status, exc.title, exc.detail)
        return page or problem_response(exc.status, exc.title, exc.detail, request.url.path, exc.type, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) else title
        page = _page(request, exc.status_code, title, detail)
        return page or problem_response(exc.status_code, title, detail, request.url.path,
                                        headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem_response(422, "Unprocessable Content", "请求参数校验未通过", request.url.path,
                                errors=errors)
