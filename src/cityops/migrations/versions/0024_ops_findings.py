"""ops findings and maintenance log

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 04:50:19.540084
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
import cityops.core.db
import cityops.core.types


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('maintenance_log_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=64), nullable=False),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('system_code', sa.String(length=24), nullable=True),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_log_entries')),
    sa.UniqueConstraint('source', 'source_ref', name=op.f('uq_maintenance_log_entries_source'))
    )
    with op.batch_alter_table('maintenance_log_entries', schema=None) as batch_op:
        batch_op.create_index('ix_maintenance_log_day', ['day'], unique=False)

    op.create_table('inspection_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('system_code', sa.String(length=24), nullable=True),
    sa.Column('module_id', sa.Integer(), nullable=True),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=False),
    sa.Column('resolution', sa.Text(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_inspection_findings_asset_id_assets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['module_id'], ['modules.id'], name=op.f('fk_inspection_findings_module_id_modules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_findings'))
    )
    with op.batch_alter_table('inspection_findings', schema=None) as batch_op:
        batch_op.create_index('ix_inspection_findings_key_state', ['key', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_findings_state'), ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inspection_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_findings_state'))
        batch_op.drop_index('ix_inspection_findings_key_state')

    op.drop_table('inspection_findings')
    with op.batch_alter_table('maintenance_log_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_maintenance_log_day')

    op.drop_table('maintenance_log_entries')
