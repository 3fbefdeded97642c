"""orchestrations: job tasks, the per-instance job cache, pinned SSH host keys

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_tasks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('execution_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('node_name', sa.String(length=255), nullable=False),
    sa.Column('job_id', sa.String(length=32), nullable=False),
    sa.Column('job', sa.Text(), nullable=False),
    sa.Column('step', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('queued_at', sa.Float(), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=True),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('job_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_tasks_execution_id'), ['execution_id'], unique=False)

    op.create_table('job_cache',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('succeeded_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('instance_id', 'content_hash')
    )
    op.create_table('host_keys',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('key_type', sa.String(length=64), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('pinned_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('instance_id')
    )


def downgrade() -> None:
    op.drop_table('host_keys')
    op.drop_table('job_cache')
    with op.batch_alter_table('job_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_tasks_execution_id'))
    op.drop_table('job_tasks')
