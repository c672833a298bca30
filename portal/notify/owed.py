"""Which case events owe the resident an e-mail, written in the event's own transaction.

Apart from `service` (which sends the e-mails and runs the daily jobs, and so reads the status domain's
deadlines) because the status service owes a notice for every event it records: one direction each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.db_types import utcnow
from portal.extensions import db
from portal.inbox.models import Submission
from portal.notify.models import Notification

# Event kinds that ask something of the resident or tell them the outcome.
NOTIFIED_KINDS = {"supplement_requested", "letter_sent", "decision", "delay_notified", "status_changed", "overdue"}
NOTIFIED_STATUSES = {"suspended", "resumed", "closed"}


def enqueue_for_event(submission_id: str, kind: str, key: str, data: dict[str, Any]) -> None:
    """Owe the resident an e-mail about this event; part of the event's transaction. Repeats add nothing."""
    if kind not in NOTIFIED_KINDS or (kind == "status_changed" and data.get("status") not in NOTIFIED_STATUSES):
        return
    resident_id = db.session.scalar(select(Submission.resident_id).where(Submission.id == submission_id))
    if resident_id is None:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(insert(Notification).values(resident_id=resident_id, submission_id=submission_id, kind=kind,
                                                   key=f"notify:{key}", created_at=utcnow()).on_conflict_do_nothing())
