"""fault grades and fault records (OPS-4)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 05:10:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql

import cityops.core.db
import cityops.core.types  # noqa: F401

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
UTC = cityops.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('fault_grades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('response_minutes', sa.Integer(), nullable=False),
    sa.Column('restore_minutes', sa.Integer(), nullable=False),
    sa.Column('notify_teams', JSON, nullable=False),
    sa.Column('notify_contacts', JSON, nullable=False),
    sa.Column('notify_managers', sa.Boolean(), nullable=False),
    sa.Column('notify_note', sa.String(length=200), nullable=False),
    sa.Column('channel_ids', JSON, nullable=False),
    sa.Column('color', sa.String(length=9), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fault_grades')),
    sa.UniqueConstraint('level', name=op.f('uq_fault_grades_level'))
    )
    op.create_table('faults',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('grade_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('system_codes', JSON, nullable=False),
    sa.Column('asset_ids', JSON, nullable=False),
    sa.Column('ticket_ids', JSON, nullable=False),
    sa.Column('occurred_at', UTC, nullable=False),
    sa.Column('detected_at', UTC, nullable=False),
    sa.Column('responded_at', UTC, nullable=True),
    sa.Column('restored_at', UTC, nullable=True),
    sa.Column('closed_at', UTC, nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('cause', sa.Text(), nullable=False),
    sa.Column('impact', sa.Text(), nullable=False),
    sa.Column('recovery', sa.Text(), nullable=False),
    sa.Column('follow_up', sa.Text(), nullable=False),
    sa.Column('reporter', sa.String(length=64), nullable=False),
    sa.Column('handler', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['grade_id'], ['fault_grades.id'], name=op.f('fk_faults_grade_id_fault_grades')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_faults')),
    sa.UniqueConstraint('number', name=op.f('uq_faults_number'))
    )
    op.create_index(op.f('ix_faults_grade_id'), 'faults', ['grade_id'], unique=False)
    op.create_index(op.f('ix_faults_state'), 'faults', ['state'], unique=False)
    op.create_table('fault_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fault_id', sa.Integer(), nullable=False),
    sa.Column('at', UTC, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['fault_id'], ['faults.id'], name=op.f('fk_fault_entries_fault_id_faults'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fault_entries'))
    )
    op.create_index(op.f('ix_fault_entries_fault_id'), 'fault_entries', ['fault_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_fault_entries_fault_id'), table_name='fault_entries')
    op.drop_table('fault_entries')
    op.drop_index(op.f('ix_faults_state'), table_name='faults')
    op.drop_index(op.f('ix_faults_grade_id'), table_name='faults')
    op.drop_table('faults')
    op.drop_table('fault_grades')
