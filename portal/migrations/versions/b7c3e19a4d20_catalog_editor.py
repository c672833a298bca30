"""the catalog editor: working copies, the catalog's order and retirement, who published a version

Revision ID: b7c3e19a4d20
Revises: e4d0c1a7b9f2
Create Date: 2026-12-06 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

from portal.db_types import UTCDateTime

# revision identifiers, used by Alembic.
revision = 'b7c3e19a4d20'
down_revision = 'e4d0c1a7b9f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'catalog_working_copy',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=100), nullable=False),
        sa.Column('definition', sa.JSON(), nullable=False),
        sa.Column('schema_xsd', sa.Text(), nullable=False),
        sa.Column('schema_files', sa.JSON(), nullable=False),
        sa.Column('based_on_version', sa.String(length=50), nullable=True),
        sa.Column('updated_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('slug'),
    )
    op.create_table(
        'catalog_entry',
        sa.Column('slug', sa.String(length=100), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('group', sa.JSON(), nullable=True),
        sa.Column('retired_at', UTCDateTime(), nullable=True),
        sa.Column('retired_by', sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint('slug'),
    )
    with op.batch_alter_table('eservice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schema_files', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('published_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('eservice', schema=None) as batch_op:
        batch_op.drop_column('note')
        batch_op.drop_column('published_by')
        batch_op.drop_column('schema_files')
    op.drop_table('catalog_entry')
    op.drop_table('catalog_working_copy')
