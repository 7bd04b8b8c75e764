"""callout lists, do-not-call, call ledger and gate log (CALL-4)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25 18:30:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callout_dnc',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number_e164', sa.String(length=20), nullable=False),
    sa.Column('scenario', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.String(length=256), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_dnc')),
    sa.UniqueConstraint('number_e164', 'scenario', name=op.f('uq_callout_dnc_number_e164'))
    )
    op.create_index(op.f('ix_callout_dnc_number_e164'), 'callout_dnc', ['number_e164'], unique=False)
    op.create_table('callout_gate_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('rules', cityops.core.types.JSONType, nullable=False),
    sa.Column('reasons', cityops.core.types.JSONType, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_gate_log'))
    )
    op.create_index('ix_callout_gate_log_at', 'callout_gate_log', ['at'], unique=False)
    op.create_table('callout_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number_e164', sa.String(length=20), nullable=False),
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_ledger'))
    )
    op.create_index('ix_callout_ledger_number_at', 'callout_ledger', ['number_e164', 'at'], unique=False)
    op.create_table('callout_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=256), nullable=False),
    sa.Column('consent_basis', sa.Text(), nullable=False),
    sa.Column('valid_until', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('ok_count', sa.Integer(), nullable=False),
    sa.Column('invalid_count', sa.Integer(), nullable=False),
    sa.Column('duplicate_count', sa.Integer(), nullable=False),
    sa.Column('dnc_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_lists'))
    )
    op.create_index(op.f('ix_callout_lists_scenario'), 'callout_lists', ['scenario'], unique=False)
    op.create_table('callout_list_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('number_e164', sa.String(length=20), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=True),
    sa.Column('raw_number', sa.String(length=64), nullable=False),
    sa.Column('consent_source', sa.String(length=256), nullable=False),
    sa.Column('business_ref', sa.String(length=64), nullable=False),
    sa.Column('extra', cityops.core.types.JSONType, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['callout_lists.id'], name=op.f('fk_callout_list_entries_list_id_callout_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_list_entries'))
    )
    op.create_index('ix_callout_list_entries_list_status', 'callout_list_entries', ['list_id', 'status'], unique=False)
    op.create_index(op.f('ix_callout_list_entries_number_e164'), 'callout_list_entries', ['number_e164'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_callout_list_entries_number_e164'), table_name='callout_list_entries')
    op.drop_index('ix_callout_list_entries_list_status', table_name='callout_list_entries')
    op.drop_table('callout_list_entries')
    op.drop_index(op.f('ix_callout_lists_scenario'), table_name='callout_lists')
    op.drop_table('callout_lists')
    op.drop_index('ix_callout_ledger_number_at', table_name='callout_ledger')
    op.drop_table('callout_ledger')
    op.drop_index('ix_callout_gate_log_at', table_name='callout_gate_log')
    op.drop_table('callout_gate_log')
    op.drop_index(op.f('ix_callout_dnc_number_e164'), table_name='callout_dnc')
    op.drop_table('callout_dnc')
