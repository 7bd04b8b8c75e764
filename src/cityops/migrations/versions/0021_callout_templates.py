"""callout scenario templates and trigger settings (CALL-1)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 02:10:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callout_templates',
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('script', cityops.core.types.JSONType, nullable=True),
    sa.Column('windows', cityops.core.types.JSONType, nullable=True),
    sa.Column('retry_policy', cityops.core.types.JSONType, nullable=True),
    sa.Column('max_attempts', sa.Integer(), nullable=True),
    sa.Column('priority', sa.String(length=12), nullable=True),
    sa.Column('caller_id', sa.String(length=32), nullable=True),
    sa.Column('line_group', sa.String(length=32), nullable=True),
    sa.Column('triggers', cityops.core.types.JSONType, nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scenario', name=op.f('pk_callout_templates'))
    )
    op.create_table('callout_trigger_runs',
    sa.Column('trigger', sa.String(length=24), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('counts', cityops.core.types.JSONType, nullable=False),
    sa.PrimaryKeyConstraint('trigger', name=op.f('pk_callout_trigger_runs'))
    )


def downgrade() -> None:
    op.drop_table('callout_trigger_runs')
    op.drop_table('callout_templates')
