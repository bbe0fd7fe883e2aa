"""Statistics: what the media worker received from, forwarded to and dropped for each participant

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

COLUMNS = ('worker_packets_in', 'worker_bytes_in', 'worker_packets_out', 'worker_packets_dropped')


def upgrade() -> None:
    with op.batch_alter_table('participant_record', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('participant_record', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('participant_record', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.drop_column(name)
