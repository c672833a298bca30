"""office seal history, the hosts a trusted list names for revocation data, the last list imported

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
    op.create_table('trusted_list_import',
    sa.Column('territory', sa.String(length=10), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('territory', name=op.f('pk_trusted_list_import'))
    )


def downgrade():
    op.drop_table('trusted_list_import')
    with op.batch_alter_table('trust_anchor') as batch_op:
        batch_op.drop_column('supply_hosts')
    op.drop_table('office_seal_certificate')
