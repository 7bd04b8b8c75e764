"""city events

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 15:30:00
"""
from alembic import op
import sqlalchemy as sa
import cityops.core.db
import cityops.core.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('default_severity', sa.String(length=12), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('merge_radius_m', sa.Integer(), nullable=True),
    sa.Column('merge_window_min', sa.Integer(), nullable=True),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['event_categories.id'], name=op.f('fk_event_categories_parent_id_event_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_event_categories_code'))
    )
    with op.batch_alter_table('event_categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_categories_parent_id'), ['parent_id'], unique=False)

    op.create_table('city_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.Column('grid_code', sa.String(length=24), nullable=True),
    sa.Column('address', sa.String(length=256), nullable=False),
    sa.Column('severity', sa.String(length=12), nullable=False),
    sa.Column('source_kind', sa.String(length=16), nullable=False),
    sa.Column('source_ref', sa.String(length=128), nullable=False),
    sa.Column('reporter_name', sa.String(length=64), nullable=False),
    sa.Column('reporter_phone', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('report_count', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('reported_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disposed_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verified_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['event_categories.id'], name=op.f('fk_city_events_category_id_event_categories')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['city_events.id'], name=op.f('fk_city_events_merged_into_id_city_events')),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_city_events_street_code_streets')),
    sa.ForeignKeyConstraint(['unit_id'], ['responsible_units.id'], name=op.f('fk_city_events_unit_id_responsible_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_city_events')),
    sa.UniqueConstraint('number', name=op.f('uq_city_events_number'))
    )
    with op.batch_alter_table('city_events', schema=None) as batch_op:
        for col in ('category_id', 'street_code', 'grid_code', 'severity', 'source_kind', 'source_ref', 'state',
                    'unit_id', 'merged_into_id', 'reported_at'):
            batch_op.create_index(batch_op.f(f'ix_city_events_{col}'), [col], unique=False)

    op.create_table('event_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=False),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('details', cityops.core.types.JSONType, nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_event_transitions_event_id_city_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_transitions'))
    )
    with op.batch_alter_table('event_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_transitions_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_transitions_at'), ['at'], unique=False)

    op.create_table('event_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=128), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_event_attachments_event_id_city_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_attachments'))
    )
    with op.batch_alter_table('event_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_attachments_event_id'), ['event_id'], unique=False)


def downgrade() -> None:
    op.drop_table('event_attachments')
    op.drop_table('event_transitions')
    op.drop_table('city_events')
    op.drop_table('event_categories')
