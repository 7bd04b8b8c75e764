"""callout statistics rollups and retention (CALL-2, CALL-5)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 02:10:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import cityops.core.db  # noqa: F401
import cityops.core.types  # noqa: F401

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
