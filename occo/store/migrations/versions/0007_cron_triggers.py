"""cron triggers and their claimed firings

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cron_triggers',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('workflow', sa.String(length=32), nullable=False),
    sa.Column('infra_id', sa.String(length=36), nullable=True),
    sa.Column('infra_group_id', sa.String(length=255), nullable=True),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=True),
    sa.Column('cron', sa.String(length=255), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('interval', sa.Float(), nullable=True),
    sa.Column('first_time', sa.Float(), nullable=True),
    sa.Column('last_time', sa.Float(), nullable=True),
    sa.Column('remaining', sa.Integer(), nullable=True),
    sa.Column('grace', sa.Float(), nullable=False),
    sa.Column('next_fire_time', sa.Float(), nullable=True),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('trigger_firings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('trigger_name', sa.String(length=255), nullable=False),
    sa.Column('fire_time', sa.Float(), nullable=False),
    sa.Column('claimed_at', sa.Float(), nullable=False),
    sa.Column('claimed_by', sa.String(length=255), nullable=False),
    sa.Column('execution_id', sa.String(length=36), nullable=True),
    sa.Column('execution_group_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('trigger_name', 'fire_time')
    )


def downgrade() -> None:
    op.drop_table('trigger_firings')
    op.drop_table('cron_triggers')
