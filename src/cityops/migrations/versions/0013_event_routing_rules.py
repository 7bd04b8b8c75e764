"""event routing rules

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 16:00:00
"""
import sqlalchemy as sa
from alembic import op

import cityops.core.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_prefix', sa.String(length=16), nullable=False),
    sa.Column('area_kind', sa.String(length=8), nullable=False),
    sa.Column('area_code', sa.String(length=24), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['responsible_units.id'], name=op.f('fk_routing_rules_unit_id_responsible_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_rules'))
    )
    op.create_index('ix_routing_rules_scope', 'routing_rules', ['category_prefix', 'area_kind', 'area_code'], unique=False)
    op.create_index(op.f('ix_routing_rules_unit_id'), 'routing_rules', ['unit_id'], unique=False)
    op.create_table('routing_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('basis', sa.String(length=12), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('at', cityops.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['city_events.id'], name=op.f('fk_routing_decisions_event_id_city_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['responsible_units.id'], name=op.f('fk_routing_decisions_unit_id_responsible_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_decisions'))
    )
    op.create_index(op.f('ix_routing_decisions_event_id'), 'routing_decisions', ['event_id'], unique=False)
    op.create_index(op.f('ix_routing_decisions_at'), 'routing_decisions', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_routing_decisions_at'), table_name='routing_decisions')
    op.drop_index(op.f('ix_routing_decisions_event_id'), table_name='routing_decisions')
    op.drop_table('routing_decisions')
    op.drop_index(op.f('ix_routing_rules_unit_id'), table_name='routing_rules')
    op.drop_index('ix_routing_rules_scope', table_name='routing_rules')
    op.drop_table('routing_rules')
