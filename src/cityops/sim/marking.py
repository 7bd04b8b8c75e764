"""Simulated caller-ID marking-query service (CALL-3, 标记查询), served over real HTTP so the
`callout.marking.HttpMarking` adapter is tested end to end.

    GET  /query?number=N     header X-Api-Key: K  → {"number", "marked", "label", "count", "source"}
    POST /admin/marks        {"number", "label", "count"} marks a number (the demo's button)
    DELETE /admin/marks/{n}  clears it

Numbers are compared in national digits (13912345678, 02162345678). `fail(mode, times)` injects
"5xx" (HTTP 503) or "rate_limit" (HTTP 429); a wrong key is HTTP 401.

    sim = MarkingSim(api_key="k", marked={"02162345678": ("骚扰电话", 37)})
    with serve(sim) as base_url: ...
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cityops.sim.serve import serve_app


def _digits(number: str) -> str:
    s = re.sub(r"\D", "", number or "")
    if s.startswith("86") and len(s) in (12, 13):
        s = s[2:] if s[2] == "1" else "0" + s[2:]
    return s


class MarkingSim:
    def __init__(self, *, api_key: str = "sim-marking-key", marked: dict[str, tuple[str, int]] | None = None,
                 source: str = "模拟标记平台"):
        self.api_key, self.source = api_key, source
        self.marked = {_digits(k): v for k, v in (marked or {}).items()}
        self.queries: list[str] = []
        self._failures: list[str] = []
        self._lock = threading.Lock()

    def mark(self, number: str, label: str = "骚扰电话", count: int = 1) -> None:
        with self._lock:
            self.marked[_digits(number)] = (label, count)

    def clear(self, number: str) -> None:
        with self._lock:
            self.marked.pop(_digits(number), None)

    def fail(self, mode: str, times: int = 1) -> None:
        if mode not in ("5xx", "rate_limit"):
            raise ValueError(mode)
        with self._lock:
            self._failures.extend([mode] * times)

    def answer(self, number: str) -> dict[str, Any]:
        n = _digits(number)
        with self._lock:
            hit = self.marked.get(n)
        if hit:
            return {"number": n, "marked": True, "label": hit[0], "count": hit[1], "source": self.source}
        return {"number": n, "marked": False, "label": "", "count": 0, "source": self.source}

    def app(self) -> FastAPI:
        app = FastAPI(title="marking-sim")

        @app.get("/query")
        def query(request: Request, number: str = ""):
            with self._lock:
                failure = self._failures.pop(0) if self._failures else None
            if request.headers.get("x-api-key") != self.api_key:
                return JSONResponse({"error": "invalid api key"}, status_code=401)
            if failure == "5xx":
                return JSONResponse({"error": "unavailable"}, status_code=503)
            if failure == "rate_limit":
                return JSONResponse({"error": "too many requests"}, status_code=429)
            if not _digits(number):
                return JSONResponse({"error": "number required"}, status_code=400)
            with self._lock:
                self.queries.append(_digits(number))
            return self.answer(number)

        @app.post("/admin/marks")
        async def add_mark(request: Request):
            body = await request.json()
            self.mark(str(body.get("number", "")), str(body.get("label") or "骚扰电话"), int(body.get("count") or 1))
            return self.answer(str(body.get("number", "")))

        @app.delete("/admin/marks/{number}")
        def clear_mark(number: str):
            self.clear(number)
            return self.answer(number)

        return app


@contextmanager
def serve(sim: MarkingSim, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the simulator with uvicorn in a thread; yields its base URL."""
    with serve_app(sim.app(), host=host, port=port, name="marking-sim", lifespan="off") as url:
        yield url
