"""The kinds of event in a case's life, and the one rule of when a case counts as settled.

Apart from `service.py` so that the deadline engine, the notices to residents, the statistics and the
dispatcher's event polling can all read the same words without importing the status flow itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.sql.elements import ColumnElement

FILED = "filed"
DELIVERED = "delivered"
REGISTERED = "registered"  # entered in the back office's incoming register (RPW)
CASE_OPENED = "case_opened"  # a case was opened: the znak sprawy
ASSIGNED = "assigned"  # the unit or the clerk handling it
STATUS_CHANGED = "status_changed"
SUPPLEMENT_REQUESTED = "supplement_requested"  # a call to supplement or correct the application
DECISION = "decision"
DELAY_NOTIFIED = "delay_notified"  # KPA art. 36: the office will be late, why, and the new date
SUPPLEMENTED = "supplemented"  # the resident answered a call to supplement (a new submission, its UPO)
LETTER_SENT = "letter_sent"  # an answer or decision is waiting for the resident in the portal

CLOSED = "closed"
SUSPENDED = "suspended"
RESUMED = "resumed"
IN_PROGRESS = "in_progress"
CASE_STATUSES = (IN_PROGRESS, "postponed", SUSPENDED, CLOSED, RESUMED)


def settles(kind: str, data: Mapping[str, Any] | None) -> bool:
    """A case is settled by a decision, or by being closed; the first such event is the settling day."""
    return kind == DECISION or (kind == STATUS_CHANGED and (data or {}).get("status") == CLOSED)


def settling() -> ColumnElement[bool]:
    """`settles` as a condition on `CaseEvent` rows."""
    # Imported here, not at the top: the deadline engine (and `okienko deadline`, which must start without
    # Flask or SQLAlchemy) reads this module's words and `settles` only.
    from sqlalchemy import and_, or_

    from portal.status.models import CaseEvent

    return or_(CaseEvent.kind == DECISION,
               and_(CaseEvent.kind == STATUS_CHANGED, CaseEvent.data["status"].as_string() == CLOSED))


def settled_submissions() -> Select[tuple[str]]:
    """The ids of the submissions whose case is settled (for `Submission.id.not_in(...)`)."""
    from sqlalchemy import select  # see `settling`

    from portal.status.models import CaseEvent

    return select(CaseEvent.submission_id).where(settling())
