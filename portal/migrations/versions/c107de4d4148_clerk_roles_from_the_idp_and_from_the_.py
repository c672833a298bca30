"""clerk roles from the IdP and from the portal

Revision ID: c107de4d4148
Revises: 94c4cd47fd90
Create Date: 2026-11-25 17:13:34.919168

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

# revision identifiers, used by Alembic.
revision = 'c107de4d4148'
down_revision = '94c4cd47fd90'
branch_labels = None
depends_on = None


def upgrade():
    # The roles a clerk had so far all came from the identity provider: keep them as the claimed ones.
    with op.batch_alter_table('clerk', schema=None) as batch_op:
        batch_op.alter_column('roles', new_column_name='claimed_roles')
        batch_op.add_column(sa.Column('assigned_roles', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('assigned_unit', sa.String(length=50), nullable=True))


def downgrade():
    with op.batch_alter_table('clerk', schema=None) as batch_op:
        batch_op.drop_column('assigned_unit')
        batch_op.drop_column('assigned_roles')
        batch_op.alter_column('claimed_roles', new_column_name='roles')
