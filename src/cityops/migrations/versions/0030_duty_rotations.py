"""duty rotations, handovers, hardware preventive maintenance and spares (SVC-1, HW)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 05:10:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import cityops.core.db  # noqa: F401
import cityops.core.types  # noqa: F401

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
