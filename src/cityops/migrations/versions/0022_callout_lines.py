"""callout lines: gateways, caller ids, line checks (CALL-3)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 02:10:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    dt = cityops.core.db.UTCDateTime(timezone=True)
    op.create_table('callout_line_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('sip_port', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password', sa.String(length=128), nullable=False),
    sa.Column('ports', sa.Integer(), nullable=False),
    sa.Column('line_group', sa.String(length=32), nullable=False),
    sa.Column('http_status_url', sa.String(length=512), nullable=False),
    sa.Column('test_number', sa.String(length=20), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', dt, nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('state_since', dt, nullable=True),
    sa.Column('sip_ok', sa.Boolean(), nullable=True),
    sa.Column('http_ok', sa.Boolean(), nullable=True),
    sa.Column('last_checked_at', dt, nullable=True),
    sa.Column('last_detail', sa.Text(), nullable=False),
    sa.Column('status_page', cityops.core.types.JSONType, nullable=False),
    sa.Column('last_test_at', dt, nullable=True),
    sa.Column('last_test_ok', sa.Boolean(), nullable=True),
    sa.Column('last_test_result', sa.String(length=24), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_line_devices')),
    sa.UniqueConstraint('name', name=op.f('uq_callout_line_devices_name'))
    )
    op.create_index(op.f('ix_callout_line_devices_line_group'), 'callout_line_devices', ['line_group'], unique=False)
    op.create_table('callout_caller_ids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number_e164', sa.String(length=20), nullable=False),
    sa.Column('line_group', sa.String(length=32), nullable=False),
    sa.Column('carrier', sa.String(length=32), nullable=False),
    sa.Column('marking', sa.String(length=8), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('mark_count', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('checked_at', dt, nullable=True),
    sa.Column('marked_since', dt, nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', dt, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_caller_ids')),
    sa.UniqueConstraint('number_e164', name=op.f('uq_callout_caller_ids_number_e164'))
    )
    op.create_index(op.f('ix_callout_caller_ids_line_group'), 'callout_caller_ids', ['line_group'], unique=False)
    op.create_table('callout_line_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('caller_id', sa.Integer(), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('data', cityops.core.types.JSONType, nullable=False),
    sa.Column('at', dt, nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['callout_line_devices.id'], name=op.f('fk_callout_line_checks_device_id_callout_line_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['caller_id'], ['callout_caller_ids.id'], name=op.f('fk_callout_line_checks_caller_id_callout_caller_ids'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_line_checks'))
    )
    op.create_index('ix_callout_line_checks_device_kind_at', 'callout_line_checks', ['device_id', 'kind', 'at'], unique=False)
    op.create_index(op.f('ix_callout_line_checks_caller_id'), 'callout_line_checks', ['caller_id'], unique=False)
    op.create_index(op.f('ix_callout_line_checks_at'), 'callout_line_checks', ['at'], unique=False)
    op.create_table('callout_line_settings',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('value', cityops.core.types.JSONType, nullable=False),
    sa.Column('updated_at', dt, nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_callout_line_settings'))
    )


def downgrade() -> None:
    op.drop_table('callout_line_settings')
    op.drop_index(op.f('ix_callout_line_checks_at'), table_name='callout_line_checks')
    op.drop_index(op.f('ix_callout_line_checks_caller_id'), table_name='callout_line_checks')
    op.drop_index('ix_callout_line_checks_device_kind_at', table_name='callout_line_checks')
    op.drop_table('callout_line_checks')
    op.drop_index(op.f('ix_callout_caller_ids_line_group'), table_name='callout_caller_ids')
    op.drop_table('callout_caller_ids')
    op.drop_index(op.f('ix_callout_line_devices_line_group'), table_name='callout_line_devices')
    op.drop_table('callout_line_devices')
