"""widen dummy resource ids

The dummy handler names its resources ``dummy-<uuid>`` (42 characters);
PostgreSQL enforced the old 36-character limit, SQLite never did.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dummy_resources', schema=None) as batch_op:
        batch_op.alter_column('id', existing_type=sa.String(length=36),
                              type_=sa.String(length=255), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('dummy_resources', schema=None) as batch_op:
        batch_op.alter_column('id', existing_type=sa.String(length=255),
                              type_=sa.String(length=36), existing_nullable=False)
