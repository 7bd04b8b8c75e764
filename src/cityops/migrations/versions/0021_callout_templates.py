"""callout scenario templates and trigger settings (CALL-1)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 02:10:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import cityops.core.db  # noqa: F401
import cityops.core.types  # noqa: F401

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
