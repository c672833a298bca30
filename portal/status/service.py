"""What residents see of their cases: the events of each submission, in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.db_types import utcnow
from portal.extensions import db
from portal.status.models import CaseEvent

FILED = "filed"
DELIVERED = "delivered"


def record_event(submission_id: str, kind: str, key: str, at: datetime | None = None, **data: Any) -> CaseEvent:
    """Add an event to the current transaction unless one with the same key exists (events may repeat)."""
    existing = db.session.scalar(select(CaseEvent).where(CaseEvent.event_key == key))
    if existing is not None:
        return existing
    event = CaseEvent(submission_id=submission_id, kind=kind, event_key=key, occurred_at=at or utcnow(), data=data)
    db.session.add(event)
    return event


def add_event(submission_id: str, kind: str, key: str, at: datetime, **data: Any) -> CaseEvent:
    """Add the first event of a new submission, with no look-up (nothing is flushed before the commit)."""
    event = CaseEvent(submission_id=submission_id, kind=kind, event_key=key, occurred_at=at, data=data)
    db.session.add(event)
    return event


def timeline(submission_id: str) -> list[CaseEvent]:
    return list(db.session.scalars(
        select(CaseEvent).where(CaseEvent.submission_id == submission_id)
        .order_by(CaseEvent.occurred_at, CaseEvent.id)
    ))


def stage(events: list[CaseEvent]) -> str:
    """The latest step reached, for the case list."""
    kinds = {e.kind for e in events}
    if DELIVERED in kinds:
        return DELIVERED
    return FILED
