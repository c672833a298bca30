"""server-side sessions: the cookie carries only a random id, the database its hash and the session

Revision ID: a7c3e1f05d42
Revises: 5e41c0a7d2b9
Create Date: 2026-12-04 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e1f05d42'
down_revision = '5e41c0a7d2b9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('web_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('clerk_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('purge_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('browser', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['clerk_id'], ['clerk.id'], name=op.f('fk_web_session_clerk_id_clerk'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], name=op.f('fk_web_session_resident_id_resident'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_session_token_hash'))
    )
    with op.batch_alter_table('web_session') as batch_op:
        batch_op.create_index(batch_op.f('ix_web_session_clerk_id'), ['clerk_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_session_purge_after'), ['purge_after'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_session_resident_id'), ['resident_id'], unique=False)


def downgrade():
    with op.batch_alter_table('web_session') as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_session_resident_id'))
        batch_op.drop_index(batch_op.f('ix_web_session_purge_after'))
        batch_op.drop_index(batch_op.f('ix_web_session_clerk_id'))
    op.drop_table('web_session')
