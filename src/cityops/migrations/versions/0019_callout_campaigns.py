"""callout campaigns, call tasks, call records and dialogue steps (CALL-1, CALL-2)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-25 18:40:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callout_campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=True),
    sa.Column('script', cityops.core.types.JSONType, nullable=False),
    sa.Column('priority', sa.String(length=12), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('retry_policy', cityops.core.types.JSONType, nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=False),
    sa.Column('caller_id', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('counters', cityops.core.types.JSONType, nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['callout_lists.id'], name=op.f('fk_callout_campaigns_list_id_callout_lists'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_campaigns'))
    )
    op.create_index(op.f('ix_callout_campaigns_scenario'), 'callout_campaigns', ['scenario'], unique=False)
    op.create_index(op.f('ix_callout_campaigns_state'), 'callout_campaigns', ['state'], unique=False)
    op.create_table('callout_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('number_e164', sa.String(length=20), nullable=False),
    sa.Column('business_ref', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('next_attempt_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_result', sa.String(length=24), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['callout_campaigns.id'], name=op.f('fk_callout_tasks_campaign_id_callout_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entry_id'], ['callout_list_entries.id'], name=op.f('fk_callout_tasks_entry_id_callout_list_entries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_tasks'))
    )
    op.create_index('ix_callout_tasks_due', 'callout_tasks', ['campaign_id', 'state', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_callout_tasks_number_e164'), 'callout_tasks', ['number_e164'], unique=False)
    op.create_table('callout_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('number_e164', sa.String(length=20), nullable=False),
    sa.Column('started_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.String(length=24), nullable=False),
    sa.Column('sip_code', sa.Integer(), nullable=True),
    sa.Column('q850_cause', sa.Integer(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('dtmf', sa.String(length=64), nullable=False),
    sa.Column('satisfaction', sa.String(length=16), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('business_ref', sa.String(length=64), nullable=False),
    sa.Column('caller_id', sa.String(length=32), nullable=False),
    sa.Column('adapter', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['callout_campaigns.id'], name=op.f('fk_callout_records_campaign_id_callout_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['callout_tasks.id'], name=op.f('fk_callout_records_task_id_callout_tasks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_records'))
    )
    op.create_index(op.f('ix_callout_records_campaign_id'), 'callout_records', ['campaign_id'], unique=False)
    op.create_index(op.f('ix_callout_records_number_e164'), 'callout_records', ['number_e164'], unique=False)
    op.create_index('ix_callout_records_scenario_started', 'callout_records', ['scenario', 'started_at'], unique=False)
    op.create_table('callout_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('answer_dtmf', sa.String(length=16), nullable=False),
    sa.Column('answer_text', sa.String(length=256), nullable=False),
    sa.Column('matched', sa.String(length=32), nullable=True),
    sa.Column('retry', sa.Integer(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['callout_records.id'], name=op.f('fk_callout_steps_record_id_callout_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callout_steps'))
    )
    op.create_index('ix_callout_steps_record_seq', 'callout_steps', ['record_id', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_callout_steps_record_seq', table_name='callout_steps')
    op.drop_table('callout_steps')
    op.drop_index('ix_callout_records_scenario_started', table_name='callout_records')
    op.drop_index(op.f('ix_callout_records_number_e164'), table_name='callout_records')
    op.drop_index(op.f('ix_callout_records_campaign_id'), table_name='callout_records')
    op.drop_table('callout_records')
    op.drop_index(op.f('ix_callout_tasks_number_e164'), table_name='callout_tasks')
    op.drop_index('ix_callout_tasks_due', table_name='callout_tasks')
    op.drop_table('callout_tasks')
    op.drop_index(op.f('ix_callout_campaigns_state'), table_name='callout_campaigns')
    op.drop_index(op.f('ix_callout_campaigns_scenario'), table_name='callout_campaigns')
    op.drop_table('callout_campaigns')
