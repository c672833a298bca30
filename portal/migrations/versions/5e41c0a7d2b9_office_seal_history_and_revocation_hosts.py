"""office seal history and the hosts a trusted list names for revocation data

Revision ID: 5e41c0a7d2b9
Revises: 86f2e6cc6409
Create Date: 2026-12-03 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e41c0a7d2b9'
down_revision = '86f2e6cc6409'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('office_seal_certificate',
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('pem', sa.Text(), nullable=False),
    sa.Column('first_used_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_office_seal_certificate'))
    )
    with op.batch_alter_table('trust_anchor') as batch_op:
        batch_op.add_column(sa.Column('supply_hosts', sa.Text(), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('trust_anchor') as batch_op:
        batch_op.drop_column('supply_hosts')
    op.drop_table('office_seal_certificate')
