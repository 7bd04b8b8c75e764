"""Migration 0015 creates exactly the Open311 models' tables (IOT-7) on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cityops.core.db import Base
from cityops.open311 import models as _open311  # noqa: F401

MINE = ("open311_clients", "open311_requests")


def test_migration_matches_the_models(db):
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diffs if any(t in str(d) for t in MINE)] == []
