"""webhook secrets

Each webhook gets a secret with which its deliveries are signed
(HMAC-SHA256). Webhooks registered before have none and stay unsigned until
registered again.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('infrastructures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_secret', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('infrastructures', schema=None) as batch_op:
        batch_op.drop_column('notify_secret')
