"""inspection probes and their history (OPS-1)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 05:10:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql  # noqa: F401

import cityops.core.db
import cityops.core.types  # noqa: F401

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inspection_probes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=512), nullable=False),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('secrets', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('interval_s', sa.Integer(), nullable=False),
    sa.Column('timeout_s', sa.Float(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('system_code', sa.String(length=24), nullable=True),
    sa.Column('module_id', sa.Integer(), nullable=True),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('ticket_policy', sa.String(length=8), nullable=False),
    sa.Column('fail_after', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('last_run_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_ok', sa.Boolean(), nullable=True),
    sa.Column('last_latency_ms', sa.Float(), nullable=True),
    sa.Column('last_detail', sa.Text(), nullable=False),
    sa.Column('next_run_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_until', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('push_token', sa.String(length=64), nullable=True),
    sa.Column('last_push_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_push_ok', sa.Boolean(), nullable=True),
    sa.Column('last_push_msg', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_inspection_probes_asset_id_assets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['module_id'], ['modules.id'], name=op.f('fk_inspection_probes_module_id_modules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_probes')),
    sa.UniqueConstraint('name', name=op.f('uq_inspection_probes_name')),
    sa.UniqueConstraint('push_token', name=op.f('uq_inspection_probes_push_token'))
    )
    op.create_index(op.f('ix_inspection_probes_kind'), 'inspection_probes', ['kind'], unique=False)
    op.create_index(op.f('ix_inspection_probes_next_run_at'), 'inspection_probes', ['next_run_at'], unique=False)
    op.create_index(op.f('ix_inspection_probes_system_code'), 'inspection_probes', ['system_code'], unique=False)
    op.create_table('inspection_probe_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('probe_id', sa.Integer(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['probe_id'], ['inspection_probes.id'], name=op.f('fk_inspection_probe_results_probe_id_inspection_probes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_probe_results'))
    )
    op.create_index(op.f('ix_inspection_probe_results_at'), 'inspection_probe_results', ['at'], unique=False)
    op.create_index('ix_inspection_probe_results_probe_at', 'inspection_probe_results', ['probe_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_inspection_probe_results_probe_at', table_name='inspection_probe_results')
    op.drop_index(op.f('ix_inspection_probe_results_at'), table_name='inspection_probe_results')
    op.drop_table('inspection_probe_results')
    op.drop_index(op.f('ix_inspection_probes_system_code'), table_name='inspection_probes')
    op.drop_index(op.f('ix_inspection_probes_next_run_at'), table_name='inspection_probes')
    op.drop_index(op.f('ix_inspection_probes_kind'), table_name='inspection_probes')
    op.drop_table('inspection_probes')
