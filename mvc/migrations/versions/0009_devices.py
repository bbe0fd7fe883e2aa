"""Registered devices and their calls

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('auto_answer', sa.Boolean(), nullable=False),
    sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('code_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('credential_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('bound_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('last_seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_code_hash'), ['code_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_device_credential_hash'), ['credential_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_device_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('devicecall',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('rang_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('answered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitation.id'], ),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('devicecall', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devicecall_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_devicecall_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_devicecall_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_devicecall_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('devicecall', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devicecall_status'))
        batch_op.drop_index(batch_op.f('ix_devicecall_meeting_id'))
        batch_op.drop_index(batch_op.f('ix_devicecall_due_at'))
        batch_op.drop_index(batch_op.f('ix_devicecall_device_id'))

    op.drop_table('devicecall')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_device_credential_hash'))
        batch_op.drop_index(batch_op.f('ix_device_code_hash'))

    op.drop_table('device')
