"""callout lines: gateways, caller ids, line checks (CALL-3)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 02:10:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import cityops.core.db  # noqa: F401
import cityops.core.types  # noqa: F401

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
