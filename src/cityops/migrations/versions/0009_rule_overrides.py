"""rule overrides

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 14:00:00

Per product / tag / device rule overrides (IOT-5). Written by hand to mirror
cityops.monitoring.models.RuleOverride.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityops.core.db
import cityops.core.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rule_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope_kind', sa.String(length=8), nullable=False),
    sa.Column('scope_value', sa.String(length=64), nullable=False),
    sa.Column('rule_id', sa.String(length=128), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('rule', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_overrides'))
    )
    op.create_index('uq_rule_overrides_scope_rule', 'rule_overrides', ['scope_kind', 'scope_value', 'rule_id'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('uq_rule_overrides_scope_rule', table_name='rule_overrides')
    op.drop_table('rule_overrides')
