"""kpi history and alarm comments

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 14:00:00
"""
from alembic import op
import sqlalchemy as sa
import cityops.core.db
import cityops.core.types  # noqa: F401

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kpi_online_daily',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('dimension', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('devices', sa.Integer(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('device_samples', sa.Integer(), nullable=False),
    sa.Column('online_samples', sa.Integer(), nullable=False),
    sa.Column('last_slot', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_online_daily'))
    )
    with op.batch_alter_table('kpi_online_daily', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kpi_online_daily_day'), ['day'], unique=False)
        batch_op.create_index('uq_kpi_online_daily_key', ['day', 'scope', 'dimension', 'key'], unique=True)

    op.create_table('alarm_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], name=op.f('fk_alarm_comments_alarm_id_alarms'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarm_comments'))
    )
    with op.batch_alter_table('alarm_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alarm_comments_alarm_id'), ['alarm_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alarm_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alarm_comments_alarm_id'))
    op.drop_table('alarm_comments')
    with op.batch_alter_table('kpi_online_daily', schema=None) as batch_op:
        batch_op.drop_index('uq_kpi_online_daily_key')
        batch_op.drop_index(batch_op.f('ix_kpi_online_daily_day'))
    op.drop_table('kpi_online_daily')
