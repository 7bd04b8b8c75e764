"""The FastAPI application factory: JSON API, console pages, health and metrics."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from cityops import __version__
from cityops.core import errors
from cityops.core.context import AppContext
from cityops.core.metrics import HTTP_LATENCY, HTTP_REQUESTS, REGISTRY
from cityops.core.settings import Settings, get_settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "web" / "static"


def create_app(settings: Settings | None = None, *, migrate: bool = True, start_jobs: bool | None = None) -> FastAPI:
    settings = settings or get_settings()
    ctx = AppContext.build(settings)
    if migrate:
        from cityops.bootstrap import prepare_database

        prepare_database(ctx.db)
    from cityops.registry import register_jobs, routers

    register_jobs(ctx.scheduler)
    run_jobs = settings.jobs_enabled and settings.role in ("all", "worker", "scheduler")
    # An API-only process still runs its per-process jobs (e.g. flushing its ingest counters).
    local_jobs_only = settings.jobs_enabled and not run_jobs
    if start_jobs is not None:
        run_jobs, local_jobs_only = start_jobs, False

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if run_jobs or local_jobs_only:
            ctx.scheduler.start(local_only=local_jobs_only)
        monitoring = None
        if run_jobs and settings.role in ("all", "worker"):
            from cityops.monitoring.runtime import MonitoringRuntime

            monitoring = app.state.monitoring = MonitoringRuntime(ctx.db).start()
        consumer = None
        if settings.mqtt_url and settings.role in ("all", "worker") and run_jobs:
            from cityops.ingest.mqtt import MqttConsumer, default_client_id

            consumer = MqttConsumer(ctx.db, settings.mqtt_url, var_dir=settings.var_dir,
                                    client_id=settings.mqtt_client_id or default_client_id(settings.role))
            consumer.start()
            app.state.mqtt = consumer
        log.info("cityops started", extra={"version": __version__, "database": ctx.db.engine.dialect.name})
        yield
        if consumer is not None:
            consumer.stop()
        if monitoring is not None:
            monitoring.stop()
        ctx.scheduler.stop()
        ctx.db.dispose()

    app = FastAPI(title="cityops", version=__version__, lifespan=lifespan,
                  description="长宁区“一网统管”城运平台 — Changning city-operations platform API",
                  docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    from cityops.web.shell import LoginRequired, html_error, login_redirect

    errors.install(app, html=html_error)
    app.add_exception_handler(LoginRequired, lambda _req, exc: login_redirect(exc))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in routers():
        app.include_router(router)

    @app.middleware("http")
    async def _metrics(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        HTTP_LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.get("/healthz", tags=["ops"], include_in_schema=True)
    def healthz():
        """Liveness and database reachability (public)."""
        try:
            with ctx.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            db_ok = True
        except Exception:
            db_ok = False
        jobs = {j.name: j.last_outcome for j in ctx.scheduler.jobs.values()}
        body = {"status": "ok" if db_ok else "degraded", "version": __version__,
                "database": ctx.db.engine.dialect.name, "database_ok": db_ok, "jobs": jobs}
        monitoring = getattr(app.state, "monitoring", None)
        if monitoring is not None:
            body["monitoring"] = {"leader": monitoring.active, "processed": monitoring.processed,
                                  "feed_cursor": monitoring.feed.cursor}
        consumer = getattr(app.state, "mqtt", None)
        if consumer is not None:
            body["mqtt"] = {"connected": consumer.connected.is_set(), "client_id": consumer.client_id,
                            "handled": consumer.handled, "batches": consumer.batches}
        return JSONResponse(body, status_code=200 if db_ok else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics():
        """Prometheus text exposition."""
        return PlainTextResponse(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs():
        # Served from our own static files: the intranet has no CDN.
        return get_swagger_ui_html(openapi_url="/openapi.json", title="cityops API",
                                   swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/console/", status_code=302)

    return app
