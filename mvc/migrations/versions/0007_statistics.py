"""Statistics: meeting and participant records, quality samples, support events and check codes

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('meeting_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('planned_start', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('planned_end', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('peak_participants', sa.Integer(), nullable=False),
    sa.Column('host_came', sa.Boolean(), nullable=False),
    sa.Column('participants', sa.Integer(), nullable=False),
    sa.Column('guests', sa.Integer(), nullable=False),
    sa.Column('guests_never_in', sa.Integer(), nullable=False),
    sa.Column('participant_minutes', sa.Float(), nullable=False),
    sa.Column('measured_minutes', sa.Float(), nullable=False),
    sa.Column('good_minutes', sa.Float(), nullable=False),
    sa.Column('lobby_seconds', sa.Float(), nullable=False),
    sa.Column('reconnects', sa.Integer(), nullable=False),
    sa.Column('quality_samples', sa.Integer(), nullable=False),
    sa.Column('bad_samples', sa.Integer(), nullable=False),
    sa.Column('rtt_ms_avg', sa.Float(), nullable=True),
    sa.Column('loss_pct_avg', sa.Float(), nullable=True),
    sa.Column('rolled_up_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('meeting_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_record_meeting_id'), ['meeting_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_meeting_record_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_record_room_id'), ['room_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_record_started_at'), ['started_at'], unique=False)

    op.create_table('support_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('pid', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('support_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_check_code'), ['code'], unique=True)
        batch_op.create_index(batch_op.f('ix_support_check_created_at'), ['created_at'], unique=False)

    op.create_table('support_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('pid', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('support_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_event_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_event_pid'), ['pid'], unique=False)

    op.create_table('participant_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_record_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('pid', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
    sa.Column('browser', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
    sa.Column('device', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('arrived_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('admitted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('left_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('connects', sa.Integer(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('bad_samples', sa.Integer(), nullable=False),
    sa.Column('rtt_ms_sum', sa.Float(), nullable=False),
    sa.Column('loss_pct_sum', sa.Float(), nullable=False),
    sa.Column('freezes', sa.Integer(), nullable=False),
    sa.Column('anonymised_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['meeting_record_id'], ['meeting_record.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('participant_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participant_record_arrived_at'), ['arrived_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_participant_record_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_participant_record_meeting_record_id'), ['meeting_record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_participant_record_pid'), ['pid'], unique=False)

    op.create_table('quality_sample',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_record_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('rtt_ms', sa.Float(), nullable=True),
    sa.Column('jitter_ms', sa.Float(), nullable=True),
    sa.Column('loss_in_pct', sa.Float(), nullable=True),
    sa.Column('loss_out_pct', sa.Float(), nullable=True),
    sa.Column('kbps_in', sa.Float(), nullable=True),
    sa.Column('kbps_out', sa.Float(), nullable=True),
    sa.Column('fps_in', sa.Float(), nullable=True),
    sa.Column('fps_out', sa.Float(), nullable=True),
    sa.Column('freezes', sa.Integer(), nullable=False),
    sa.Column('bad', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['participant_record_id'], ['participant_record.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('quality_sample', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quality_sample_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_quality_sample_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quality_sample_participant_record_id'), ['participant_record_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quality_sample', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quality_sample_participant_record_id'))
        batch_op.drop_index(batch_op.f('ix_quality_sample_meeting_id'))
        batch_op.drop_index(batch_op.f('ix_quality_sample_at'))

    op.drop_table('quality_sample')
    with op.batch_alter_table('participant_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participant_record_pid'))
        batch_op.drop_index(batch_op.f('ix_participant_record_meeting_record_id'))
        batch_op.drop_index(batch_op.f('ix_participant_record_meeting_id'))
        batch_op.drop_index(batch_op.f('ix_participant_record_arrived_at'))

    op.drop_table('participant_record')
    with op.batch_alter_table('support_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_event_pid'))
        batch_op.drop_index(batch_op.f('ix_support_event_meeting_id'))
        batch_op.drop_index(batch_op.f('ix_support_event_at'))

    op.drop_table('support_event')
    with op.batch_alter_table('support_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_check_created_at'))
        batch_op.drop_index(batch_op.f('ix_support_check_code'))

    op.drop_table('support_check')
    with op.batch_alter_table('meeting_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_record_started_at'))
        batch_op.drop_index(batch_op.f('ix_meeting_record_room_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_record_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_record_meeting_id'))

    op.drop_table('meeting_record')
