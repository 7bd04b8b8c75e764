"""The migrations build exactly the schema the models describe, on both databases: one check
for every table instead of one per migration."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cityops.core.db import Base


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diffs == []
