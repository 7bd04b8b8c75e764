"""callout statistics rollups and retention (CALL-2, CALL-5)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 02:10:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types  # noqa: F401

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callout_stats_daily',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('result', sa.String(length=24), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('satisfied', sa.Integer(), nullable=False),
    sa.Column('dissatisfied', sa.Integer(), nullable=False),
    sa.Column('opt_outs', sa.Integer(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_stats_daily'))
    )
    op.create_index('uq_callout_stats_daily_key', 'callout_stats_daily', ['day', 'scenario', 'result'], unique=True)
    op.create_table('callout_stats_monthly',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('result', sa.String(length=24), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('satisfied', sa.Integer(), nullable=False),
    sa.Column('dissatisfied', sa.Integer(), nullable=False),
    sa.Column('opt_outs', sa.Integer(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_stats_monthly'))
    )
    op.create_index('uq_callout_stats_monthly_key', 'callout_stats_monthly', ['month', 'scenario', 'result'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_callout_stats_monthly_key', table_name='callout_stats_monthly')
    op.drop_table('callout_stats_monthly')
    op.drop_index('uq_callout_stats_daily_key', table_name='callout_stats_daily')
    op.drop_table('callout_stats_daily')
