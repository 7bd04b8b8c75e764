"""duty and notifications

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 14:00:00

Duty roster (duty_teams, duty_contacts, duty_shifts) and notifications (notify_channels,
notify_policies, notify_escalations, notify_outbox) — IOT-5 / OPS-3. Written by hand to
mirror cityops.duty.models and cityops.notify.models.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityops.core.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def _dt():
    return cityops.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('duty_teams',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('manager_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', _dt(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['responsible_units.id'], name=op.f('fk_duty_teams_unit_id_responsible_units')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_duty_teams'))
    )
    op.create_index(op.f('ix_duty_teams_unit_id'), 'duty_teams', ['unit_id'], unique=False)
    op.create_table('duty_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=128), nullable=False),
    sa.Column('wecom_userid', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('team_code', sa.String(length=32), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', _dt(), nullable=False),
    sa.Column('updated_at', _dt(), nullable=False),
    sa.ForeignKeyConstraint(['team_code'], ['duty_teams.code'], name=op.f('fk_duty_contacts_team_code_duty_teams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['responsible_units.id'], name=op.f('fk_duty_contacts_unit_id_responsible_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_contacts'))
    )
    op.create_index(op.f('ix_duty_contacts_team_code'), 'duty_contacts', ['team_code'], unique=False)
    op.create_index(op.f('ix_duty_contacts_username'), 'duty_contacts', ['username'], unique=False)
    op.create_table('duty_shifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('team_code', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('starts_at', _dt(), nullable=False),
    sa.Column('ends_at', _dt(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', _dt(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['duty_contacts.id'], name=op.f('fk_duty_shifts_contact_id_duty_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_code'], ['duty_teams.code'], name=op.f('fk_duty_shifts_team_code_duty_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_shifts'))
    )
    op.create_index(op.f('ix_duty_shifts_contact_id'), 'duty_shifts', ['contact_id'], unique=False)
    op.create_index('ix_duty_shifts_team_time', 'duty_shifts', ['team_code', 'starts_at', 'ends_at'], unique=False)
    op.create_table('notify_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('settings', _json(), nullable=False),
    sa.Column('settings_rev', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', _dt(), nullable=False),
    sa.Column('updated_at', _dt(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_channels')),
    sa.UniqueConstraint('name', name=op.f('uq_notify_channels_name'))
    )
    op.create_table('notify_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('min_severity', sa.String(length=12), nullable=False),
    sa.Column('alarm_type', sa.String(length=48), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=True),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('steps', _json(), nullable=False),
    sa.Column('repeat', sa.Integer(), nullable=False),
    sa.Column('quiet_start', sa.String(length=5), nullable=False),
    sa.Column('quiet_end', sa.String(length=5), nullable=False),
    sa.Column('quiet_max_severity', sa.String(length=12), nullable=False),
    sa.Column('created_at', _dt(), nullable=False),
    sa.Column('updated_at', _dt(), nullable=False),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_notify_policies_street_code_streets')),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_notify_policies_tag_id_tags'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['responsible_units.id'], name=op.f('fk_notify_policies_unit_id_responsible_units'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_policies')),
    sa.UniqueConstraint('name', name=op.f('uq_notify_policies_name'))
    )
    op.create_table('notify_escalations',
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('repeats_done', sa.Integer(), nullable=False),
    sa.Column('next_at', _dt(), nullable=True),
    sa.Column('held_until', _dt(), nullable=True),
    sa.Column('stop_reason', sa.String(length=128), nullable=False),
    sa.Column('created_at', _dt(), nullable=False),
    sa.Column('updated_at', _dt(), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], name=op.f('fk_notify_escalations_alarm_id_alarms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['policy_id'], ['notify_policies.id'], name=op.f('fk_notify_escalations_policy_id_notify_policies'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('alarm_id', name=op.f('pk_notify_escalations'))
    )
    op.create_index('ix_notify_escalations_due', 'notify_escalations', ['state', 'next_at'], unique=False)
    op.create_table('notify_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedup_key', sa.String(length=160), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=True),
    sa.Column('channel_id', sa.Integer(), nullable=True),
    sa.Column('channel_kind', sa.String(length=16), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('recipient_name', sa.String(length=64), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('round_no', sa.Integer(), nullable=False),
    sa.Column('payload', _json(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', _dt(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('provider_message_id', sa.String(length=128), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', _dt(), nullable=False),
    sa.Column('sent_at', _dt(), nullable=True),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], name=op.f('fk_notify_outbox_alarm_id_alarms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['channel_id'], ['notify_channels.id'], name=op.f('fk_notify_outbox_channel_id_notify_channels'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['duty_contacts.id'], name=op.f('fk_notify_outbox_contact_id_duty_contacts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_outbox')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_notify_outbox_dedup_key'))
    )
    op.create_index(op.f('ix_notify_outbox_alarm_id'), 'notify_outbox', ['alarm_id'], unique=False)
    op.create_index(op.f('ix_notify_outbox_created_at'), 'notify_outbox', ['created_at'], unique=False)
    op.create_index('ix_notify_outbox_due', 'notify_outbox', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_notify_outbox_due', table_name='notify_outbox')
    op.drop_index(op.f('ix_notify_outbox_created_at'), table_name='notify_outbox')
    op.drop_index(op.f('ix_notify_outbox_alarm_id'), table_name='notify_outbox')
    op.drop_table('notify_outbox')
    op.drop_index('ix_notify_escalations_due', table_name='notify_escalations')
    op.drop_table('notify_escalations')
    op.drop_table('notify_policies')
    op.drop_table('notify_channels')
    op.drop_index('ix_duty_shifts_team_time', table_name='duty_shifts')
    op.drop_index(op.f('ix_duty_shifts_contact_id'), table_name='duty_shifts')
    op.drop_table('duty_shifts')
    op.drop_index(op.f('ix_duty_contacts_username'), table_name='duty_contacts')
    op.drop_index(op.f('ix_duty_contacts_team_code'), table_name='duty_contacts')
    op.drop_table('duty_contacts')
    op.drop_index(op.f('ix_duty_teams_unit_id'), table_name='duty_teams')
    op.drop_table('duty_teams')
