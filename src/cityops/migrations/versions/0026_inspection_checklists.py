"""checklists, inspection plans, machine-room access, visits (OPS-1, ROOM-1..3, VISIT-1)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 05:10:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql

import cityops.core.db  # noqa: F401
import cityops.core.types  # noqa: F401

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('checklist_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ticket_policy', sa.String(length=16), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_templates')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_checklist_templates_code'))
    )
    op.create_table('inspection_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('schedule', sa.String(length=16), nullable=False),
    sa.Column('at_time', sa.String(length=5), nullable=False),
    sa.Column('weekdays', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('month_day', sa.Integer(), nullable=True),
    sa.Column('workdays_only', sa.Boolean(), nullable=False),
    sa.Column('probe_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('template_codes', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('manual_items', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('room', sa.String(length=64), nullable=False),
    sa.Column('ticket_policy', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_plans')),
    sa.UniqueConstraint('name', name=op.f('uq_inspection_plans_name'))
    )
    op.create_table('room_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person', sa.String(length=64), nullable=False),
    sa.Column('organisation', sa.String(length=100), nullable=False),
    sa.Column('id_number', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('escort', sa.String(length=64), nullable=False),
    sa.Column('room', sa.String(length=64), nullable=False),
    sa.Column('items_in', sa.Text(), nullable=False),
    sa.Column('items_out', sa.Text(), nullable=False),
    sa.Column('in_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('out_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('out_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_room_access'))
    )
    op.create_index(op.f('ix_room_access_in_at'), 'room_access', ['in_at'], unique=False)
    op.create_index(op.f('ix_room_access_room'), 'room_access', ['room'], unique=False)
    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('organisation', sa.String(length=100), nullable=False),
    sa.Column('visitor_count', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=64), nullable=False),
    sa.Column('starts_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('system_codes', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('freeze_from', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('freeze_until', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('check_hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('at_risk', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=200), nullable=False),
    sa.Column('issues', sa.Text(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    op.create_index(op.f('ix_visits_starts_at'), 'visits', ['starts_at'], unique=False)
    op.create_index(op.f('ix_visits_state'), 'visits', ['state'], unique=False)
    op.create_table('checklist_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('min_value', sa.Float(), nullable=True),
    sa.Column('max_value', sa.Float(), nullable=True),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('hint', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['checklist_templates.id'], name=op.f('fk_checklist_items_template_id_checklist_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_items')),
    sa.UniqueConstraint('template_id', 'code', name=op.f('uq_checklist_items_template_id'))
    )
    op.create_index(op.f('ix_checklist_items_template_id'), 'checklist_items', ['template_id'], unique=False)
    op.create_table('inspection_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('plan_name', sa.String(length=100), nullable=False),
    sa.Column('slot_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('probe_results', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('manual_results', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('checklist_run_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('signed_by', sa.String(length=64), nullable=False),
    sa.Column('signed_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('conclusion', sa.String(length=16), nullable=False),
    sa.Column('remarks', sa.Text(), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['inspection_plans.id'], name=op.f('fk_inspection_runs_plan_id_inspection_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_runs')),
    sa.UniqueConstraint('plan_id', 'slot_at', name=op.f('uq_inspection_runs_plan_id'))
    )
    op.create_index(op.f('ix_inspection_runs_day'), 'inspection_runs', ['day'], unique=False)
    op.create_index(op.f('ix_inspection_runs_plan_id'), 'inspection_runs', ['plan_id'], unique=False)
    op.create_index(op.f('ix_inspection_runs_state'), 'inspection_runs', ['state'], unique=False)
    op.create_table('visit_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('hours_before', sa.Integer(), nullable=True),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('results', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_visit_checks_visit_id_visits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_checks')),
    sa.UniqueConstraint('visit_id', 'hours_before', name=op.f('uq_visit_checks_visit_id'))
    )
    op.create_index(op.f('ix_visit_checks_visit_id'), 'visit_checks', ['visit_id'], unique=False)
    op.create_table('checklist_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('room', sa.String(length=64), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('plan_run_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('performer', sa.String(length=64), nullable=False),
    sa.Column('started_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('performer_signature', sa.String(length=64), nullable=False),
    sa.Column('reviewer', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=False),
    sa.Column('abnormal_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_checklist_runs_asset_id_assets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['template_id'], ['checklist_templates.id'], name=op.f('fk_checklist_runs_template_id_checklist_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_runs'))
    )
    op.create_index(op.f('ix_checklist_runs_plan_run_id'), 'checklist_runs', ['plan_run_id'], unique=False)
    op.create_index(op.f('ix_checklist_runs_state'), 'checklist_runs', ['state'], unique=False)
    op.create_index(op.f('ix_checklist_runs_template_id'), 'checklist_runs', ['template_id'], unique=False)
    op.create_table('checklist_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('stored_name', sa.String(length=100), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['checklist_runs.id'], name=op.f('fk_checklist_photos_run_id_checklist_runs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_photos'))
    )
    op.create_table('checklist_readings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['checklist_items.id'], name=op.f('fk_checklist_readings_item_id_checklist_items')),
    sa.ForeignKeyConstraint(['photo_id'], ['checklist_photos.id'], name=op.f('fk_checklist_readings_photo_id_checklist_photos'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['checklist_runs.id'], name=op.f('fk_checklist_readings_run_id_checklist_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_readings')),
    sa.UniqueConstraint('run_id', 'item_id', name=op.f('uq_checklist_readings_run_id'))
    )
    op.create_index(op.f('ix_checklist_readings_run_id'), 'checklist_readings', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_table('checklist_readings')
    op.drop_table('checklist_photos')
    op.drop_table('checklist_runs')
    op.drop_table('visit_checks')
    op.drop_table('inspection_runs')
    op.drop_table('checklist_items')
    op.drop_table('visits')
    op.drop_table('room_access')
    op.drop_table('inspection_plans')
    op.drop_table('checklist_templates')
