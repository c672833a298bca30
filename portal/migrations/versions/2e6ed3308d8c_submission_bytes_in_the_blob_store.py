"""submission bytes in the blob store

Revision ID: 2e6ed3308d8c
Revises: fc3b40c13317
Create Date: 2026-11-25 17:28:55.803944

"""
import hashlib
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2e6ed3308d8c'
down_revision = 'fc3b40c13317'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detached_signature_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('upo_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('upo_pdf_sha256', sa.String(length=64), nullable=True))

    # Move the bytes kept in the row into the blob table (the default store), by their digests.
    connection = op.get_bind()
    blob = sa.table('blob', sa.column('sha256', sa.String), sa.column('size', sa.Integer),
                    sa.column('content', sa.LargeBinary), sa.column('created_at', sa.DateTime(timezone=True)))
    rows = connection.execute(sa.text(
        'SELECT id, document, upo, upo_pdf, detached_signature FROM submission')).fetchall()
    stored = {r[0] for r in connection.execute(sa.text('SELECT sha256 FROM blob'))}
    for row in rows:
        addresses = {}
        for column, content in zip(('document', 'upo', 'upo_pdf', 'detached_signature'), row[1:]):
            if content is None:
                continue
            content = bytes(content)
            address = hashlib.sha256(content).hexdigest()
            if address not in stored:
                connection.execute(blob.insert().values(sha256=address, size=len(content), content=content,
                                                        created_at=datetime.now(UTC)))
                stored.add(address)
            addresses[column] = address
        connection.execute(sa.text(
            'UPDATE submission SET upo_sha256 = :upo, upo_pdf_sha256 = :pdf, detached_signature_sha256 = :sig '
            'WHERE id = :id'), {'upo': addresses.get('upo'), 'pdf': addresses.get('upo_pdf'),
                                'sig': addresses.get('detached_signature'), 'id': row[0]})

    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_column('document')
        batch_op.drop_column('upo')
        batch_op.drop_column('upo_pdf')
        batch_op.drop_column('detached_signature')


def downgrade():
    raise NotImplementedError("the bytes live in the blob store now; restore from a backup to go back")
