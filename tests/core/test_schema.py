"""The migrations build exactly the schema the models describe, on both databases: one check
for every table instead of one per migration."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cityops.core.db import Base


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diffs == []


def test_a_server_starts_with_its_schema_migrated_and_reference_data_loaded(tmp_path):
    """The contract: `create_app` on an empty database migrates it and loads the reference data,
    the O&M defaults included (SLA targets, escalation, fault grades, checklist templates)."""
    from sqlalchemy import func, select

    from cityops.app import create_app
    from cityops.catalog.models import System
    from cityops.core.settings import Settings
    from cityops.inspections.checklist_models import ChecklistTemplate
    from cityops.servicedesk.fault_models import FaultGrade
    from cityops.servicedesk.models import SlaTarget

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", var_dir=tmp_path / "var",
                        secret_key="s" * 40, audit_key="a" * 40, jobs_enabled=False, log_json=False)
    app = create_app(settings, start_jobs=False)
    with app.state.ctx.db.session() as s:
        def count(model):
            return s.scalar(select(func.count()).select_from(model))

        assert count(System) > 0 and count(FaultGrade) == 4 and count(SlaTarget) == 4
        assert count(ChecklistTemplate) == 2
    app.state.ctx.db.dispose()
