"""campaign schedule and trigger source (CALL-1)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 02:10:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('callout_campaigns') as b:
        b.add_column(sa.Column('trigger', sa.String(length=24), nullable=False, server_default='manual'))
        b.add_column(sa.Column('scheduled_at', cityops.core.db.UTCDateTime(timezone=True), nullable=True))
        b.add_column(sa.Column('line_group', sa.String(length=32), nullable=False, server_default=''))
        b.add_column(sa.Column('rolling', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('callout_tasks') as b:
        b.add_column(sa.Column('contact_name', sa.String(length=64), nullable=False, server_default=''))
        b.create_index('ix_callout_tasks_business_ref', ['business_ref'])


def downgrade() -> None:
    with op.batch_alter_table('callout_tasks') as b:
        b.drop_index('ix_callout_tasks_business_ref')
        b.drop_column('contact_name')
    with op.batch_alter_table('callout_campaigns') as b:
        b.drop_column('rolling')
        b.drop_column('line_group')
        b.drop_column('scheduled_at')
        b.drop_column('trigger')
