"""items sent to the office's e-Doręczenia box: submissions of another channel, and the box's intake rows

Revision ID: e4d0c1a7b9f2
Revises: ea21eac8dc2c
Create Date: 2026-12-10 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from portal.db_types import UTCDateTime

# revision identifiers, used by Alembic.
revision = 'e4d0c1a7b9f2'
down_revision = 'ea21eac8dc2c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=20), server_default='okienko', nullable=False))
        batch_op.add_column(sa.Column('external_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('sender_name', sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column('sender_address', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('subject', sa.String(length=400), nullable=True))
        batch_op.alter_column('draft_id', existing_type=sa.String(length=36), nullable=True)
        batch_op.alter_column('receipt_id', existing_type=sa.String(length=40), nullable=True)
        batch_op.alter_column('resident_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('eservice_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(batch_op.f('uq_submission_external_id'), ['external_id'])
    with op.batch_alter_table('incoming_parcel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=20), server_default='okienko', nullable=False))
        batch_op.add_column(sa.Column('sender_address', sa.String(length=100), nullable=True))
        # the channel's id of an item from e-Doręczenia stands where a portal receipt's id does
        batch_op.alter_column('receipt_id', existing_type=sa.String(length=40), type_=sa.String(length=100))
    op.create_table(
        'edoreczenia_incoming',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.String(length=100), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('lease_until', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('submission_id', sa.String(length=36), nullable=True),
        sa.Column('evidences', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('handled_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_edoreczenia_incoming')),
        sa.UniqueConstraint('message_id', name=op.f('uq_edoreczenia_incoming_message_id')),
        sa.UniqueConstraint('submission_id', name=op.f('uq_edoreczenia_incoming_submission_id')),
    )
    with op.batch_alter_table('edoreczenia_incoming', schema=None) as batch_op:
        batch_op.create_index('ix_edoreczenia_incoming_due', ['state', 'next_attempt_at'], unique=False)


def downgrade():
    with op.batch_alter_table('edoreczenia_incoming', schema=None) as batch_op:
        batch_op.drop_index('ix_edoreczenia_incoming_due')
    op.drop_table('edoreczenia_incoming')
    op.execute("DELETE FROM incoming_parcel WHERE channel <> 'okienko'")
    with op.batch_alter_table('incoming_parcel', schema=None) as batch_op:
        batch_op.alter_column('receipt_id', existing_type=sa.String(length=100), type_=sa.String(length=40))
        batch_op.drop_column('sender_address')
        batch_op.drop_column('channel')
    op.execute("DELETE FROM submission WHERE channel <> 'okienko'")
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_submission_external_id'), type_='unique')
        batch_op.alter_column('eservice_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('resident_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('receipt_id', existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column('draft_id', existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_column('subject')
        batch_op.drop_column('sender_address')
        batch_op.drop_column('sender_name')
        batch_op.drop_column('external_id')
        batch_op.drop_column('channel')
