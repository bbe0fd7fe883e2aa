"""Statistics: one record per citizen's place in an open-consultation queue (no names, no intake)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('queue_visit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('joined_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('waited_seconds', sa.Float(), nullable=True),
    sa.Column('assisted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('queue_visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_visit_joined_at'), ['joined_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_queue_visit_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_queue_visit_queue_id'), ['queue_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('queue_visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_visit_queue_id'))
        batch_op.drop_index(batch_op.f('ix_queue_visit_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_queue_visit_joined_at'))

    op.drop_table('queue_visit')
