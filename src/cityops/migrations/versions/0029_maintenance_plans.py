"""maintenance plans and tasks (OPS-2, SVC-2)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 05:10:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import cityops.core.db  # noqa: F401
import cityops.core.types  # noqa: F401

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
