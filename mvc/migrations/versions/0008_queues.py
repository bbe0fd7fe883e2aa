"""Open video consultation hours: queues and their staff

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('queue',
    sa.Column('layout', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('chat', sa.Boolean(), nullable=False),
    sa.Column('hand_raise', sa.Boolean(), nullable=False),
    sa.Column('waiting_room', sa.Boolean(), nullable=False),
    sa.Column('guests_may_unmute', sa.Boolean(), nullable=False),
    sa.Column('guests_camera', sa.Boolean(), nullable=False),
    sa.Column('one_way_video', sa.Boolean(), nullable=False),
    sa.Column('guests_may_share', sa.Boolean(), nullable=False),
    sa.Column('allow_forward', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('alias', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('welcome', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('guest_pin', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
    sa.Column('intake_question', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('hours', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('closed_days', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('queue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_alias'), ['alias'], unique=True)
        batch_op.create_index(batch_op.f('ix_queue_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('queuestaff',
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['queue.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('queue_id', 'user_id')
    )
    with op.batch_alter_table('queuestaff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queuestaff_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('queuestaff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queuestaff_user_id'))

    op.drop_table('queuestaff')
    with op.batch_alter_table('queue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_queue_alias'))

    op.drop_table('queue')
