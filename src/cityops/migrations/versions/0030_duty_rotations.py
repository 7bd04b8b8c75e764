"""duty rotations, handovers, hardware preventive maintenance and spares (SVC-1, HW)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 05:10:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityops.core.db
import cityops.core.types  # noqa: F401

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('duty_special_periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('requirements', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_special_periods'))
    )
    op.create_table('hw_schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('interval', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('checklist', sa.Text(), nullable=False),
    sa.Column('first_due', sa.Date(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['hardware_lines.id'], name=op.f('fk_hw_schedules_line_id_hardware_lines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hw_schedules')),
    sa.UniqueConstraint('line_id', name=op.f('uq_hw_schedules_line_id'))
    )
    op.create_table('hw_spare_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('min_stock', sa.Integer(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['hardware_lines.id'], name=op.f('fk_hw_spare_parts_line_id_hardware_lines'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hw_spare_parts'))
    )
    op.create_index(op.f('ix_hw_spare_parts_line_id'), 'hw_spare_parts', ['line_id'], unique=False)
    op.create_table('hw_stock_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('quantity_after', sa.Integer(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['part_id'], ['hw_spare_parts.id'], name=op.f('fk_hw_stock_movements_part_id_hw_spare_parts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['record_id'], ['maintenance_records.id'], name=op.f('fk_hw_stock_movements_record_id_maintenance_records'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hw_stock_movements'))
    )
    op.create_index(op.f('ix_hw_stock_movements_part_id'), 'hw_stock_movements', ['part_id'], unique=False)
    op.create_index(op.f('ix_hw_stock_movements_record_id'), 'hw_stock_movements', ['record_id'], unique=False)
    op.create_table('duty_handovers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_code', sa.String(length=32), nullable=False),
    sa.Column('written_by', sa.String(length=64), nullable=False),
    sa.Column('written_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('summary', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=False),
    sa.Column('acknowledged_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ack_note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['team_code'], ['duty_teams.code'], name=op.f('fk_duty_handovers_team_code_duty_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_handovers'))
    )
    op.create_index(op.f('ix_duty_handovers_team_code'), 'duty_handovers', ['team_code'], unique=False)
    op.create_index(op.f('ix_duty_handovers_written_at'), 'duty_handovers', ['written_at'], unique=False)
    op.create_table('duty_rotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('team_code', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('post', sa.String(length=32), nullable=False, server_default=''),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('members', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('slots', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('cycle', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('handover', sa.String(length=5), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_code'], ['duty_teams.code'], name=op.f('fk_duty_rotations_team_code_duty_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_rotations'))
    )
    op.create_index(op.f('ix_duty_rotations_team_code'), 'duty_rotations', ['team_code'], unique=False)
    op.create_table('duty_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('replacement_id', sa.Integer(), nullable=False),
    sa.Column('team_code', sa.String(length=32), nullable=True),
    sa.Column('starts_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['duty_contacts.id'], name=op.f('fk_duty_overrides_contact_id_duty_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['replacement_id'], ['duty_contacts.id'], name=op.f('fk_duty_overrides_replacement_id_duty_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_code'], ['duty_teams.code'], name=op.f('fk_duty_overrides_team_code_duty_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_overrides'))
    )
    op.create_index(op.f('ix_duty_overrides_contact_id'), 'duty_overrides', ['contact_id'], unique=False)
    op.create_index('ix_duty_overrides_time', 'duty_overrides', ['starts_at', 'ends_at'], unique=False)
    op.create_table('duty_swaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shift_a_id', sa.Integer(), nullable=False),
    sa.Column('shift_b_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('decided_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shift_a_id'], ['duty_shifts.id'], name=op.f('fk_duty_swaps_shift_a_id_duty_shifts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shift_b_id'], ['duty_shifts.id'], name=op.f('fk_duty_swaps_shift_b_id_duty_shifts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_swaps'))
    )
    op.create_index(op.f('ix_duty_swaps_shift_a_id'), 'duty_swaps', ['shift_a_id'], unique=False)
    op.create_index(op.f('ix_duty_swaps_shift_b_id'), 'duty_swaps', ['shift_b_id'], unique=False)
    op.add_column('duty_shifts', sa.Column('post', sa.String(length=32), nullable=False, server_default=''))
    op.add_column('duty_shifts', sa.Column('source', sa.String(length=12), nullable=False, server_default='manual'))
    op.add_column('duty_shifts', sa.Column('rotation_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_duty_shifts_rotation_id'), 'duty_shifts', ['rotation_id'], unique=False)
    op.add_column('maintenance_records', sa.Column('ticket_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('maintenance_records', 'ticket_id')
    op.drop_index(op.f('ix_duty_shifts_rotation_id'), table_name='duty_shifts')
    with op.batch_alter_table('duty_shifts') as batch:
        batch.drop_column('rotation_id')
        batch.drop_column('source')
        batch.drop_column('post')
    for table in ('duty_swaps', 'duty_overrides', 'duty_rotations', 'duty_handovers', 'hw_stock_movements',
                  'hw_spare_parts', 'hw_schedules', 'duty_special_periods'):
        op.drop_table(table)
