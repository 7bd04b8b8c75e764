"""big-screen display keys (SYS-SCREEN)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 08:00:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db
import cityops.core.types  # noqa: F401

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('screen_displays',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_screen_displays_street_code_streets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screen_displays')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_screen_displays_key_hash'))
    )


def downgrade() -> None:
    op.drop_table('screen_displays')
