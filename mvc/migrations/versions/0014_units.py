"""Organisation units: named groups of staff, and the units that serve a queue

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('unitmember',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('unit_id', 'user_id')
    )
    with op.batch_alter_table('unitmember', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unitmember_user_id'), ['user_id'], unique=False)

    op.create_table('queueunit',
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['queue.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('queue_id', 'unit_id')
    )
    with op.batch_alter_table('queueunit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queueunit_unit_id'), ['unit_id'], unique=False)


def downgrade() -> None:
    for table, index in (('queueunit', 'ix_queueunit_unit_id'), ('unitmember', 'ix_unitmember_user_id'),
                         ('unit', 'ix_unit_organisation_id')):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(index))
        op.drop_table(table)
