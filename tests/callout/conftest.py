"""Mounts the call-list routers (CALL-4) on the test app unless registry.py already does."""

from __future__ import annotations

import pytest


def _paths(routes):
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _paths(inner.routes)
        else:
            yield getattr(r, "path", "")


@pytest.fixture
def app(app):
    # The root conftest's app: built on the prepared template without migrating again, its
    # routes shared between tests, its database pool closed after the test.
    from cityops.callout import api, pages

    paths = set(_paths(app.routes))
    if "/api/v1/callout/lists" not in paths:
        app.include_router(api.router)
    if "/console/callout/lists" not in paths:
        app.include_router(pages.router)
    return app
