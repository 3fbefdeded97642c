"""instances keep the digest of the scaling token their templates were given

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scaling_token_hash', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_instances_scaling_token_hash', ['scaling_token_hash'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_scaling_token_hash')
        batch_op.drop_column('scaling_token_hash')
