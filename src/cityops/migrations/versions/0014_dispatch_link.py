"""dispatch link: platforms, work orders, outbox, updates

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25 17:00:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dispatch_platforms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('settings', cityops.core.types.JSONType, nullable=False),
    sa.Column('callback_secret', sa.String(length=128), nullable=False),
    sa.Column('callback_base_url', sa.String(length=256), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('poll_interval_s', sa.Integer(), nullable=False),
    sa.Column('status_check_after_min', sa.Integer(), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_platforms')),
    sa.UniqueConstraint('name', name=op.f('uq_dispatch_platforms_name'))
    )
    op.create_table('dispatch_platform_state',
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('breaker', sa.String(length=12), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('opened_count', sa.Integer(), nullable=False),
    sa.Column('open_until', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_success_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_failure_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('poll_cursor', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_poll_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_poll_error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['dispatch_platforms.id'], name=op.f('fk_dispatch_platform_state_platform_id_dispatch_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('platform_id', name=op.f('pk_dispatch_platform_state'))
    )
    op.create_table('dispatch_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('raw_status', sa.String(length=48), nullable=False),
    sa.Column('notice', sa.Text(), nullable=False),
    sa.Column('result_text', sa.Text(), nullable=False),
    sa.Column('result_unit_code', sa.String(length=32), nullable=False),
    sa.Column('result_unit_name', sa.String(length=128), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_update_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disposed_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status_check_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_dispatch_orders_event_id_city_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['platform_id'], ['dispatch_platforms.id'], name=op.f('fk_dispatch_orders_platform_id_dispatch_platforms')),
    sa.ForeignKeyConstraint(['unit_id'], ['responsible_units.id'], name=op.f('fk_dispatch_orders_unit_id_responsible_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_orders')),
    sa.UniqueConstraint('event_id', 'seq', name=op.f('uq_dispatch_orders_event_id')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_dispatch_orders_idempotency_key'))
    )
    op.create_index(op.f('ix_dispatch_orders_event_id'), 'dispatch_orders', ['event_id'], unique=False)
    op.create_index(op.f('ix_dispatch_orders_external_id'), 'dispatch_orders', ['external_id'], unique=False)
    op.create_index(op.f('ix_dispatch_orders_platform_id'), 'dispatch_orders', ['platform_id'], unique=False)
    op.create_index(op.f('ix_dispatch_orders_state'), 'dispatch_orders', ['state'], unique=False)
    op.create_table('dispatch_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('payload', cityops.core.types.JSONType, nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_dispatch_outbox_event_id_city_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['dispatch_orders.id'], name=op.f('fk_dispatch_outbox_order_id_dispatch_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['platform_id'], ['dispatch_platforms.id'], name=op.f('fk_dispatch_outbox_platform_id_dispatch_platforms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_outbox'))
    )
    op.create_index(op.f('ix_dispatch_outbox_created_at'), 'dispatch_outbox', ['created_at'], unique=False)
    op.create_index('ix_dispatch_outbox_due', 'dispatch_outbox', ['state', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_dispatch_outbox_event_id'), 'dispatch_outbox', ['event_id'], unique=False)
    op.create_index(op.f('ix_dispatch_outbox_order_id'), 'dispatch_outbox', ['order_id'], unique=False)
    op.create_index(op.f('ix_dispatch_outbox_platform_id'), 'dispatch_outbox', ['platform_id'], unique=False)
    op.create_table('dispatch_updates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('update_id', sa.String(length=96), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('raw_status', sa.String(length=48), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('unit_name', sa.String(length=128), nullable=False),
    sa.Column('photos', cityops.core.types.JSONType, nullable=False),
    sa.Column('photos_fetched', sa.Boolean(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_dispatch_updates_event_id_city_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['dispatch_orders.id'], name=op.f('fk_dispatch_updates_order_id_dispatch_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['platform_id'], ['dispatch_platforms.id'], name=op.f('fk_dispatch_updates_platform_id_dispatch_platforms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_updates')),
    sa.UniqueConstraint('platform_id', 'update_id', name=op.f('uq_dispatch_updates_platform_id'))
    )
    op.create_index(op.f('ix_dispatch_updates_at'), 'dispatch_updates', ['at'], unique=False)
    op.create_index(op.f('ix_dispatch_updates_event_id'), 'dispatch_updates', ['event_id'], unique=False)
    op.create_index(op.f('ix_dispatch_updates_order_id'), 'dispatch_updates', ['order_id'], unique=False)
    op.create_index(op.f('ix_dispatch_updates_platform_id'), 'dispatch_updates', ['platform_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dispatch_updates_platform_id'), table_name='dispatch_updates')
    op.drop_index(op.f('ix_dispatch_updates_order_id'), table_name='dispatch_updates')
    op.drop_index(op.f('ix_dispatch_updates_event_id'), table_name='dispatch_updates')
    op.drop_index(op.f('ix_dispatch_updates_at'), table_name='dispatch_updates')
    op.drop_table('dispatch_updates')
    op.drop_index(op.f('ix_dispatch_outbox_platform_id'), table_name='dispatch_outbox')
    op.drop_index(op.f('ix_dispatch_outbox_order_id'), table_name='dispatch_outbox')
    op.drop_index(op.f('ix_dispatch_outbox_event_id'), table_name='dispatch_outbox')
    op.drop_index('ix_dispatch_outbox_due', table_name='dispatch_outbox')
    op.drop_index(op.f('ix_dispatch_outbox_created_at'), table_name='dispatch_outbox')
    op.drop_table('dispatch_outbox')
    op.drop_index(op.f('ix_dispatch_orders_state'), table_name='dispatch_orders')
    op.drop_index(op.f('ix_dispatch_orders_platform_id'), table_name='dispatch_orders')
    op.drop_index(op.f('ix_dispatch_orders_external_id'), table_name='dispatch_orders')
    op.drop_index(op.f('ix_dispatch_orders_event_id'), table_name='dispatch_orders')
    op.drop_table('dispatch_orders')
    op.drop_table('dispatch_platform_state')
    op.drop_table('dispatch_platforms')
