"""flow-state watch

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25 17:00:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('flow_watch_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('warn_pct', sa.Integer(), nullable=True),
    sa.Column('outbox_attempts', sa.Integer(), nullable=False),
    sa.Column('outbox_pending_min', sa.Integer(), nullable=False),
    sa.Column('result_hours', sa.Integer(), nullable=False),
    sa.Column('verify_failures', sa.Integer(), nullable=False),
    sa.Column('verify_window_h', sa.Integer(), nullable=False),
    sa.Column('surge_factor', sa.Float(), nullable=False),
    sa.Column('surge_min_count', sa.Integer(), nullable=False),
    sa.Column('notify_team', sa.String(length=32), nullable=False),
    sa.Column('notify_channels', cityops.core.types.JSONType, nullable=False),
    sa.Column('quiet_info', sa.Boolean(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_watch_settings'))
    )
    op.create_table('flow_warnings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('dedup_key', sa.String(length=96), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('street_code', sa.String(length=16), nullable=True),
    sa.Column('severity', sa.String(length=12), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('details', cityops.core.types.JSONType, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('first_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acked_by', sa.String(length=64), nullable=False),
    sa.Column('acked_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notified', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_warnings')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_flow_warnings_dedup_key'))
    )
    op.create_index('ix_flow_warnings_state_kind', 'flow_warnings', ['state', 'kind'], unique=False)
    op.create_index(op.f('ix_flow_warnings_event_id'), 'flow_warnings', ['event_id'], unique=False)
    op.create_index(op.f('ix_flow_warnings_street_code'), 'flow_warnings', ['street_code'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_flow_warnings_street_code'), table_name='flow_warnings')
    op.drop_index(op.f('ix_flow_warnings_event_id'), table_name='flow_warnings')
    op.drop_index('ix_flow_warnings_state_kind', table_name='flow_warnings')
    op.drop_table('flow_warnings')
    op.drop_table('flow_watch_settings')
