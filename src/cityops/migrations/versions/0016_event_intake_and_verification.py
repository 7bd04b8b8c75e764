"""event intake policies, vision mappings, alarm links and automatic verification

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25 17:00:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_intake_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('alarm_type', sa.String(length=48), nullable=False),
    sa.Column('min_severity', sa.String(length=12), nullable=False),
    sa.Column('device_type', sa.String(length=32), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=True),
    sa.Column('street_code', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('category_code', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=12), nullable=False),
    sa.Column('auto_accept', sa.Boolean(), nullable=False),
    sa.Column('auto_dispatch', sa.Boolean(), nullable=False),
    sa.Column('min_active_s', sa.Integer(), nullable=False),
    sa.Column('verify_hold_min', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_intake_policies')),
    sa.UniqueConstraint('name', name=op.f('uq_event_intake_policies_name'))
    )
    op.create_table('event_vision_mappings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('detection_type', sa.String(length=32), nullable=False),
    sa.Column('category_code', sa.String(length=16), nullable=False),
    sa.Column('min_confidence', sa.Float(), nullable=False),
    sa.Column('severity', sa.String(length=12), nullable=False),
    sa.Column('auto_accept', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_vision_mappings')),
    sa.UniqueConstraint('detection_type', name=op.f('uq_event_vision_mappings_detection_type'))
    )
    op.create_table('event_verifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('checks', cityops.core.types.JSONType, nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_event_verifications_event_id_city_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_verifications'))
    )
    op.create_index(op.f('ix_event_verifications_event_id'), 'event_verifications', ['event_id'], unique=False)
    op.create_table('event_vision_detections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('detection_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('detection_type', sa.String(length=32), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('bbox', cityops.core.types.JSONType, nullable=False),
    sa.Column('detected_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_event_vision_detections_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_event_vision_detections_event_id_city_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_vision_detections')),
    sa.UniqueConstraint('detection_id', name=op.f('uq_event_vision_detections_detection_id'))
    )
    op.create_index(op.f('ix_event_vision_detections_device_id'), 'event_vision_detections', ['device_id'], unique=False)
    op.create_index(op.f('ix_event_vision_detections_event_id'), 'event_vision_detections', ['event_id'], unique=False)
    op.create_table('event_alarm_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=8), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], name=op.f('fk_event_alarm_links_alarm_id_alarms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_event_alarm_links_event_id_city_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['report_id'], ['city_events.id'], name=op.f('fk_event_alarm_links_report_id_city_events'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_alarm_links')),
    sa.UniqueConstraint('alarm_id', name=op.f('uq_event_alarm_links_alarm_id'))
    )
    op.create_index(op.f('ix_event_alarm_links_at'), 'event_alarm_links', ['at'], unique=False)
    op.create_index(op.f('ix_event_alarm_links_event_id'), 'event_alarm_links', ['event_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_event_alarm_links_event_id'), table_name='event_alarm_links')
    op.drop_index(op.f('ix_event_alarm_links_at'), table_name='event_alarm_links')
    op.drop_table('event_alarm_links')
    op.drop_index(op.f('ix_event_vision_detections_event_id'), table_name='event_vision_detections')
    op.drop_index(op.f('ix_event_vision_detections_device_id'), table_name='event_vision_detections')
    op.drop_table('event_vision_detections')
    op.drop_index(op.f('ix_event_verifications_event_id'), table_name='event_verifications')
    op.drop_table('event_verifications')
    op.drop_table('event_vision_mappings')
    op.drop_table('event_intake_policies')
