"""emergency and holiday monitoring modes (EMRG-4)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 08:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityops.core.db
import cityops.core.types  # noqa: F401

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('screen_modes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('refresh_s', sa.Integer(), nullable=False),
    sa.Column('indicators', _json(), nullable=False),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('activated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('activated_by', sa.String(length=64), nullable=False),
    sa.Column('deactivated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('levels', _json(), nullable=False),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_screen_modes_street_code_streets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screen_modes')),
    sa.UniqueConstraint('code', name=op.f('uq_screen_modes_code'))
    )
    op.create_index(op.f('ix_screen_modes_active'), 'screen_modes', ['active'], unique=False)
    op.create_index(op.f('ix_screen_modes_street_code'), 'screen_modes', ['street_code'], unique=False)
    op.create_table('screen_mode_samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mode_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['mode_id'], ['screen_modes.id'], name=op.f('fk_screen_mode_samples_mode_id_screen_modes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screen_mode_samples'))
    )
    op.create_index(op.f('ix_screen_mode_samples_at'), 'screen_mode_samples', ['at'], unique=False)
    op.create_index('ix_screen_mode_samples_series', 'screen_mode_samples', ['mode_id', 'key', 'at'], unique=False)
    op.create_table('screen_mode_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mode_id', sa.Integer(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('from_level', sa.String(length=8), nullable=False),
    sa.Column('to_level', sa.String(length=8), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['mode_id'], ['screen_modes.id'], name=op.f('fk_screen_mode_log_mode_id_screen_modes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screen_mode_log'))
    )
    op.create_index('ix_screen_mode_log_mode_at', 'screen_mode_log', ['mode_id', 'at'], unique=False)


def downgrade() -> None:
    for table in ('screen_mode_log', 'screen_mode_samples', 'screen_modes'):
        op.drop_table(table)
