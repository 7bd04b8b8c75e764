"""open311 intake: api clients and request tokens

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 17:00:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('open311_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('api_key_hash', sa.String(length=64), nullable=False),
    sa.Column('key_prefix', sa.String(length=8), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('token_mode', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=256), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('requests_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_clients')),
    sa.UniqueConstraint('api_key_hash', name=op.f('uq_open311_clients_api_key_hash')),
    sa.UniqueConstraint('name', name=op.f('uq_open311_clients_name'))
    )
    op.create_table('open311_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('client_name', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=128), nullable=False),
    sa.Column('device_id', sa.String(length=128), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('address_id', sa.String(length=128), nullable=False),
    sa.Column('media_url', sa.String(length=1024), nullable=False),
    sa.Column('attributes', cityops.core.types.JSONType, nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['open311_clients.id'], name=op.f('fk_open311_requests_client_id_open311_clients'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_open311_requests_event_id_city_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_requests')),
    sa.UniqueConstraint('token', name=op.f('uq_open311_requests_token'))
    )
    op.create_index(op.f('ix_open311_requests_client_id'), 'open311_requests', ['client_id'], unique=False)
    op.create_index(op.f('ix_open311_requests_event_id'), 'open311_requests', ['event_id'], unique=False)
    op.create_index(op.f('ix_open311_requests_created_at'), 'open311_requests', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_open311_requests_created_at'), table_name='open311_requests')
    op.drop_index(op.f('ix_open311_requests_event_id'), table_name='open311_requests')
    op.drop_index(op.f('ix_open311_requests_client_id'), table_name='open311_requests')
    op.drop_table('open311_requests')
    op.drop_table('open311_clients')
