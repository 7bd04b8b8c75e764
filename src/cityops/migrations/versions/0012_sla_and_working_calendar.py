"""sla and working calendar

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 15:30:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sla_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('category_prefix', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('calendar_mode', sa.String(length=8), nullable=False),
    sa.Column('accept_min', sa.Integer(), nullable=False),
    sa.Column('dispatch_min', sa.Integer(), nullable=False),
    sa.Column('dispose_min', sa.Integer(), nullable=False),
    sa.Column('verify_min', sa.Integer(), nullable=False),
    sa.Column('close_min', sa.Integer(), nullable=False),
    sa.Column('warn_at_pct', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policies'))
    )
    op.create_index('ix_sla_policies_scope', 'sla_policies', ['category_prefix', 'severity'], unique=False)
    op.create_table('calendar_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_days'))
    )
    op.create_index('uq_calendar_days_day', 'calendar_days', ['day'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_calendar_days_day', table_name='calendar_days')
    op.drop_table('calendar_days')
    op.drop_index('ix_sla_policies_scope', table_name='sla_policies')
    op.drop_table('sla_policies')
