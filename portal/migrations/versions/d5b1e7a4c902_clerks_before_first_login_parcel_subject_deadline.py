"""clerks known before their first login; each parcel's subject and deadline in the register

Revision ID: d5b1e7a4c902
Revises: a7c3e1f05d42
Create Date: 2026-12-08 10:00:00.000000

"""
from types import SimpleNamespace

from alembic import op
import sqlalchemy as sa
from lxml import etree

from portal.db_types import UTCDateTime

# revision identifiers, used by Alembic.
revision = 'd5b1e7a4c902'
down_revision = 'a7c3e1f05d42'
branch_labels = None
depends_on = None


def upgrade():
    # A clerk added by an administrator or imported from the office's directory has no subject until the
    # first login, which then claims the row (matched by the username).
    with op.batch_alter_table('clerk', schema=None) as batch_op:
        batch_op.alter_column('subject', existing_type=sa.String(length=255), nullable=True)
    with op.batch_alter_table('incoming_parcel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_incoming_parcel_due_on'), ['due_on'], unique=False)
    _fill_subjects_and_deadlines(op.get_bind())


def _subject(document):
    """The CRWDE general letter's Tytul (TrescDokumentu/Tytul), as portal/desk/service.py reads it."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(bytes(document), parser)
    except etree.XMLSyntaxError:
        return None
    found = root.find('.//{*}TrescDokumentu/{*}Tytul')
    text = ' '.join((found.text or '').split()) if found is not None else ''
    return text[:400] or None


def _fill_subjects_and_deadlines(connection):
    from portal.status import deadlines

    parcel = sa.table('incoming_parcel', sa.column('id', sa.Integer), sa.column('submission_id', sa.String),
                      sa.column('document', sa.LargeBinary), sa.column('filed_at', UTCDateTime),
                      sa.column('reply_to', sa.String), sa.column('subject', sa.String),
                      sa.column('due_on', sa.Date))
    submission = sa.table('submission', sa.column('id', sa.String), sa.column('eservice_id', sa.Integer))
    eservice = sa.table('eservice', sa.column('id', sa.Integer), sa.column('definition', sa.JSON))
    event = sa.table('case_event', sa.column('id', sa.Integer), sa.column('submission_id', sa.String),
                     sa.column('kind', sa.String), sa.column('occurred_at', UTCDateTime),
                     sa.column('data', sa.JSON))
    rows = connection.execute(
        sa.select(parcel.c.id, parcel.c.submission_id, parcel.c.document, parcel.c.filed_at, parcel.c.reply_to,
                  eservice.c.definition)
        .select_from(parcel.outerjoin(submission, submission.c.id == parcel.c.submission_id)
                     .outerjoin(eservice, eservice.c.id == submission.c.eservice_id))).all()
    for parcel_id, submission_id, document, filed_at, reply_to, definition in rows:
        due = None
        procedure = (definition or {}).get('procedure')
        if procedure and not reply_to:
            events = [SimpleNamespace(id=e.id, kind=e.kind, occurred_at=e.occurred_at, data=e.data) for e in
                      connection.execute(sa.select(event).where(event.c.submission_id == submission_id))]
            try:
                due = deadlines.for_case(procedure, filed_at, events).due
            except (ValueError, OverflowError):
                due = None
        connection.execute(parcel.update().where(parcel.c.id == parcel_id)
                           .values(subject=_subject(document) if document else None, due_on=due))


def downgrade():
    with op.batch_alter_table('incoming_parcel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incoming_parcel_due_on'))
        batch_op.drop_column('due_on')
        batch_op.drop_column('subject')
    # Rows of clerks who never signed in cannot keep a NULL subject: they are given a placeholder.
    op.execute("UPDATE clerk SET subject = 'directory#' || username WHERE subject IS NULL")
    with op.batch_alter_table('clerk', schema=None) as batch_op:
        batch_op.alter_column('subject', existing_type=sa.String(length=255), nullable=False)
