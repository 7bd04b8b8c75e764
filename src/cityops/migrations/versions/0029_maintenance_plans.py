"""maintenance plans and tasks (OPS-2, SVC-2)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 05:10:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityops.core.db
import cityops.core.types  # noqa: F401

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
UTC = cityops.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table('maintenance_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('layer', sa.String(length=16), nullable=False),
    sa.Column('system_code', sa.String(length=24), nullable=True),
    sa.Column('module_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('steps', JSON, nullable=False),
    sa.Column('expected_minutes', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.String(length=16), nullable=False),
    sa.Column('at_time', sa.String(length=5), nullable=False),
    sa.Column('weekdays', sa.String(length=16), nullable=False),
    sa.Column('month_day', sa.Integer(), nullable=False),
    sa.Column('workdays_only', sa.Boolean(), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=False),
    sa.Column('duty_team', sa.String(length=32), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('active_from', UTC(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', UTC(timezone=True), nullable=False),
    sa.Column('updated_at', UTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['module_id'], ['modules.id'], name=op.f('fk_maintenance_plans_module_id_modules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_plans')),
    sa.UniqueConstraint('name', name=op.f('uq_maintenance_plans_name'))
    )
    op.create_table('maintenance_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('slot_at', UTC(timezone=True), nullable=False),
    sa.Column('due_at', UTC(timezone=True), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('layer', sa.String(length=16), nullable=False),
    sa.Column('system_code', sa.String(length=24), nullable=True),
    sa.Column('steps', JSON, nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('ticks', JSON, nullable=False),
    sa.Column('actual_minutes', sa.Integer(), nullable=True),
    sa.Column('closed_by', sa.String(length=64), nullable=False),
    sa.Column('closed_at', UTC(timezone=True), nullable=True),
    sa.Column('created_at', UTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['maintenance_plans.id'], name=op.f('fk_maintenance_tasks_plan_id_maintenance_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_tasks')),
    sa.UniqueConstraint('plan_id', 'slot_at', name=op.f('uq_maintenance_tasks_plan_id'))
    )
    op.create_index(op.f('ix_maintenance_tasks_plan_id'), 'maintenance_tasks', ['plan_id'], unique=False)
    op.create_index('ix_maintenance_tasks_state_due', 'maintenance_tasks', ['state', 'due_at'], unique=False)
    op.add_column('maintenance_log_entries', sa.Column('corrects_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('maintenance_log_entries', schema=None) as batch_op:
        batch_op.drop_column('corrects_id')
    op.drop_index('ix_maintenance_tasks_state_due', table_name='maintenance_tasks')
    op.drop_index(op.f('ix_maintenance_tasks_plan_id'), table_name='maintenance_tasks')
    op.drop_table('maintenance_tasks')
    op.drop_table('maintenance_plans')
