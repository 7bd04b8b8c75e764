"""service-desk tickets, SLA targets and escalation (OPS-3)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 05:10:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql

import cityops.core.db
import cityops.core.types  # noqa: F401

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('servicedesk_escalation_policies',
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('steps', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('priority', name=op.f('pk_servicedesk_escalation_policies'))
    )
    op.create_table('servicedesk_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_code', sa.String(length=32), nullable=True),
    sa.Column('channel_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_servicedesk_settings'))
    )
    op.create_table('servicedesk_sla_targets',
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('response_min', sa.Integer(), nullable=False),
    sa.Column('resolution_min', sa.Integer(), nullable=False),
    sa.Column('calendar_mode', sa.String(length=16), nullable=False),
    sa.Column('warn_at_pct', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('priority', name=op.f('pk_servicedesk_sla_targets'))
    )
    op.create_table('servicedesk_tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('nature', sa.String(length=16), nullable=False),
    sa.Column('impact', sa.Integer(), nullable=False),
    sa.Column('urgency', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_ref', sa.String(length=128), nullable=False),
    sa.Column('reporter', sa.String(length=64), nullable=False),
    sa.Column('reporter_phone', sa.String(length=32), nullable=False),
    sa.Column('reporter_contact', sa.String(length=128), nullable=False),
    sa.Column('system_code', sa.String(length=24), nullable=True),
    sa.Column('module_id', sa.Integer(), nullable=True),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('alarm_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('finding_id', sa.Integer(), nullable=True),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('team_code', sa.String(length=32), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('pending_reason', sa.String(length=16), nullable=False),
    sa.Column('solution', sa.Text(), nullable=False),
    sa.Column('emergency_change', sa.Boolean(), nullable=False),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('responded_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_servicedesk_tickets_asset_id_assets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['module_id'], ['modules.id'], name=op.f('fk_servicedesk_tickets_module_id_modules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_servicedesk_tickets')),
    sa.UniqueConstraint('number', name=op.f('uq_servicedesk_tickets_number'))
    )
    op.create_index(op.f('ix_servicedesk_tickets_alarm_id'), 'servicedesk_tickets', ['alarm_id'], unique=False)
    op.create_index(op.f('ix_servicedesk_tickets_asset_id'), 'servicedesk_tickets', ['asset_id'], unique=False)
    op.create_index(op.f('ix_servicedesk_tickets_assignee'), 'servicedesk_tickets', ['assignee'], unique=False)
    op.create_index(op.f('ix_servicedesk_tickets_priority'), 'servicedesk_tickets', ['priority'], unique=False)
    op.create_index('ix_servicedesk_tickets_source_ref', 'servicedesk_tickets', ['source', 'source_ref'], unique=False)
    op.create_index(op.f('ix_servicedesk_tickets_state'), 'servicedesk_tickets', ['state'], unique=False)
    op.create_index(op.f('ix_servicedesk_tickets_system_code'), 'servicedesk_tickets', ['system_code'], unique=False)
    op.create_table('servicedesk_escalations_fired',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('step_key', sa.String(length=64), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['servicedesk_tickets.id'], name=op.f('fk_servicedesk_escalations_fired_ticket_id_servicedesk_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_servicedesk_escalations_fired')),
    sa.UniqueConstraint('ticket_id', 'step_key', name=op.f('uq_servicedesk_escalations_fired_ticket_id'))
    )
    op.create_table('servicedesk_ticket_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=False),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['servicedesk_tickets.id'], name=op.f('fk_servicedesk_ticket_events_ticket_id_servicedesk_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_servicedesk_ticket_events'))
    )
    op.create_index(op.f('ix_servicedesk_ticket_events_ticket_id'), 'servicedesk_ticket_events', ['ticket_id'], unique=False)
    op.create_table('servicedesk_ticket_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('other_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['other_id'], ['servicedesk_tickets.id'], name=op.f('fk_servicedesk_ticket_links_other_id_servicedesk_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['servicedesk_tickets.id'], name=op.f('fk_servicedesk_ticket_links_ticket_id_servicedesk_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_servicedesk_ticket_links')),
    sa.UniqueConstraint('ticket_id', 'other_id', name=op.f('uq_servicedesk_ticket_links_ticket_id'))
    )
    op.create_index(op.f('ix_servicedesk_ticket_links_other_id'), 'servicedesk_ticket_links', ['other_id'], unique=False)
    op.create_table('servicedesk_ticket_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('started_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['servicedesk_tickets.id'], name=op.f('fk_servicedesk_ticket_pauses_ticket_id_servicedesk_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_servicedesk_ticket_pauses'))
    )
    op.create_index(op.f('ix_servicedesk_ticket_pauses_ticket_id'), 'servicedesk_ticket_pauses', ['ticket_id'], unique=False)


def downgrade() -> None:
    for table in ("servicedesk_ticket_pauses", "servicedesk_ticket_links", "servicedesk_ticket_events",
                  "servicedesk_escalations_fired", "servicedesk_tickets", "servicedesk_sla_targets",
                  "servicedesk_settings", "servicedesk_escalation_policies"):
        op.drop_table(table)
