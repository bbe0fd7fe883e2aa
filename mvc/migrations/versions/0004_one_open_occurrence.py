"""At most one open occurrence per fixed room

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OPEN_OCCURRENCE = "status = 'open' AND kind = 'room'"


def upgrade() -> None:
    # Close all but the newest open occurrence of each room before the index can hold.
    op.execute(
        "UPDATE meeting SET status = 'ended' WHERE kind = 'room' AND status = 'open' AND id NOT IN "
        "(SELECT max(id) FROM meeting WHERE kind = 'room' AND status = 'open' GROUP BY room_id)"
    )
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.create_index('uq_meeting_open_room', ['room_id'], unique=True,
                              sqlite_where=sa.text(OPEN_OCCURRENCE), postgresql_where=sa.text(OPEN_OCCURRENCE))


def downgrade() -> None:
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.drop_index('uq_meeting_open_room')
