"""Wiring: every domain's routers and background jobs, in one place."""

from __future__ import annotations

from fastapi import APIRouter

from cityops.core.jobs import Scheduler


def routers() -> list[APIRouter]:
    from cityops.audit.api import router as audit_api
    from cityops.auth.api import router as auth_api
    from cityops.catalog.api import router as catalog_api
    from cityops.catalog.pages import router as catalog_pages
    from cityops.geo.api import router as geo_api
    from cityops.web.pages import router as console

    return [auth_api, audit_api, geo_api, catalog_api, console, catalog_pages]


def register_jobs(scheduler: Scheduler) -> None:
    from cityops.audit.jobs import register as audit_jobs

    audit_jobs(scheduler)
