"""What residents see of their cases: the events of each submission, in order.

Events come from three places: the inbox (filed), the dispatcher (delivered, and the RPW number
when the back office answers with one) and the back office itself (`apply_update`: pushed to
`/api/zdarzenia`, polled by an adapter, or written by Okienko's own clerk desk). Every event
carries a key unique within its source, so an event that arrives twice is recorded once; the
case's current state is always derived from all events ordered by when they happened, so one
that arrives late still lands in its place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from backoffice_adapter.base import CaseUpdate
from portal.audit import service as audit
from portal.db_types import utcnow
from portal.extensions import db
from portal.inbox.models import Submission
from portal.notify.owed import enqueue_for_event
from portal.status import deadlines
from portal.status.deadlines import Deadline
from portal.status.models import CaseEvent

log = logging.getLogger(__name__)

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

CASE_STATUSES = ("in_progress", "postponed", "suspended", "closed", "resumed")
EVENT_YEARS = (2000, 2099)  # when an event may have happened, as far as the portal believes

# What a back office may report, and the text fields each kind carries (required, optional).
EVENT_KINDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    REGISTERED: (frozenset({"rpw"}), frozenset()),
    CASE_OPENED: (frozenset({"case_reference"}), frozenset({"handler", "unit"})),
    ASSIGNED: (frozenset(), frozenset({"unit", "handler"})),
    STATUS_CHANGED: (frozenset({"status"}), frozenset({"reason"})),
    SUPPLEMENT_REQUESTED: (frozenset({"message"}), frozenset({"due", "case_reference"})),
    DECISION: (frozenset({"summary"}), frozenset({"case_reference", "outcome"})),
    DELAY_NOTIFIED: (frozenset({"reason", "new_date"}), frozenset()),
    SUPPLEMENTED: (frozenset({"receipt_id"}), frozenset()),
    LETTER_SENT: (frozenset({"title"}), frozenset({"letter_id"})),
}


class InvalidEvent(ValueError):
    """An event that cannot be applied as it is; nothing was changed."""


def record_event(submission_id: str, kind: str, key: str, at: datetime | None = None, **data: Any) -> CaseEvent:
    """Add an event to the current transaction unless one with the same key exists (events may repeat)."""
    existing = db.session.scalar(select(CaseEvent).where(CaseEvent.event_key == key))
    if existing is not None:
        return existing
    event = CaseEvent(submission_id=submission_id, kind=kind, event_key=key, occurred_at=at or utcnow(), data=data)
    db.session.add(event)
    return event


def record_event_once(submission_id: str, kind: str, key: str, at: datetime, **data: Any) -> None:
    """Like `record_event`, in one statement: the insert does nothing if the key is taken (the hot path
    of the dispatcher, where a repeat is rare but possible after a crash)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(insert(CaseEvent).values(submission_id=submission_id, kind=kind, event_key=key,
                                                occurred_at=at, data=data).on_conflict_do_nothing())


def add_event(submission_id: str, kind: str, key: str, at: datetime, **data: Any) -> CaseEvent:
    """Add the first event of a new submission, with no look-up (nothing is flushed before the commit)."""
    event = CaseEvent(submission_id=submission_id, kind=kind, event_key=key, occurred_at=at, data=data)
    db.session.add(event)
    return event


def check_update(update: CaseUpdate) -> None:
    """Refuse an event whose kind, fields or values are not what the timeline can show."""
    if update.kind not in EVENT_KINDS:
        raise InvalidEvent(f"unknown event kind {update.kind!r}")
    if not update.event_id or len(update.event_id) > 120:
        raise InvalidEvent("the event id must be 1–120 characters")
    if "\x00" in update.event_id or "\x00" in update.submission_id:  # PostgreSQL cannot even look such text up
        raise InvalidEvent("the event id and the submission id must not contain NUL characters")
    if update.occurred_at.tzinfo is None:
        raise InvalidEvent("the event time must carry a UTC offset")
    # A year like 1 or 9999 is a back office's placeholder, and its dates overflow the deadline's arithmetic.
    if not EVENT_YEARS[0] <= update.occurred_at.year <= EVENT_YEARS[1]:
        raise InvalidEvent(f"the event time must fall in the years {EVENT_YEARS[0]}–{EVENT_YEARS[1]}")
    required, optional = EVENT_KINDS[update.kind]
    fields = set(update.data)
    if missing := sorted(required - fields):
        raise InvalidEvent(f"{update.kind}: missing {', '.join(missing)}")
    if unknown := sorted(fields - required - optional):
        raise InvalidEvent(f"{update.kind}: unknown field(s) {', '.join(unknown)}")
    if update.kind == ASSIGNED and not fields:
        raise InvalidEvent("assigned: give the unit, the handler or both")
    for name, value in update.data.items():
        if not isinstance(value, str) or not value.strip() or len(value) > 2000:
            raise InvalidEvent(f"{update.kind}: {name} must be non-empty text of at most 2000 characters")
    if update.kind == STATUS_CHANGED and update.data["status"] not in CASE_STATUSES:
        raise InvalidEvent(f"status_changed: status must be one of {', '.join(CASE_STATUSES)}")


def add_update(source: str, update: CaseUpdate) -> CaseEvent | None:
    """Add a back-office event to the current transaction; None when it was recorded before.

    Raises InvalidEvent (and adds nothing) for an event that is malformed or names no submission.
    """
    check_update(update)
    if db.session.get(Submission, update.submission_id) is None:
        raise InvalidEvent(f"no submission {update.submission_id}")
    key = f"{source}:{update.event_id}"
    if db.session.scalar(select(CaseEvent.id).where(CaseEvent.event_key == key)) is not None:
        return None
    event = CaseEvent(submission_id=update.submission_id, kind=update.kind, event_key=key,
                      occurred_at=update.occurred_at, data=dict(update.data))
    db.session.add(event)
    audit.record("case.event", "submission", update.submission_id, actor=("system", source), kind=update.kind,
                 event_id=update.event_id)
    enqueue_for_event(update.submission_id, update.kind, key, dict(update.data))
    return event


def apply_update(source: str, update: CaseUpdate) -> CaseEvent | None:
    """Record a back-office event on the case and commit; None when it was recorded before.

    Raises InvalidEvent (and changes nothing) for an event that is malformed or names no submission.
    """
    event = add_update(source, update)
    if event is None:
        return None
    try:
        db.session.commit()
    except IntegrityError:  # the same event applied concurrently: the other one counts
        db.session.rollback()
        return None
    log.info("case event %s (%s) from %s for %s", update.event_id, update.kind, source, update.submission_id)
    return event


def timelines(submission_ids: list[str]) -> dict[str, list[CaseEvent]]:
    """The events of many submissions in one query (the case list), each list in order."""
    found: dict[str, list[CaseEvent]] = {sid: [] for sid in submission_ids}
    if not submission_ids:
        return found
    for event in db.session.scalars(select(CaseEvent).where(CaseEvent.submission_id.in_(submission_ids))
                                    .order_by(CaseEvent.occurred_at, CaseEvent.id)):
        found[event.submission_id].append(event)
    return found


def timeline(submission_id: str) -> list[CaseEvent]:
    return list(db.session.scalars(
        select(CaseEvent).where(CaseEvent.submission_id == submission_id)
        .order_by(CaseEvent.occurred_at, CaseEvent.id)
    ))


@dataclass
class CaseSummary:
    """Where the case stands now, as the resident should see it at the top of its page."""

    stage: str = FILED
    rpw: str | None = None
    case_reference: str | None = None
    unit: str | None = None
    handler: str | None = None
    status: str | None = None
    supplement: dict[str, Any] | None = None  # the open call to supplement, if any
    decision: dict[str, Any] | None = None
    delay: dict[str, Any] | None = None  # the latest notice of delay


def summary(events: list[CaseEvent]) -> CaseSummary:
    """Fold the events, in the order they happened, into the case's current state."""
    result = CaseSummary()
    for event in sorted(events, key=lambda e: (e.occurred_at, e.id or 0)):
        data = event.data or {}
        if event.kind in (DELIVERED, REGISTERED) and result.stage == FILED:
            result.stage = DELIVERED
        if event.kind == REGISTERED:
            result.rpw = data.get("rpw")
        elif event.kind == CASE_OPENED:
            result.case_reference = data.get("case_reference")
            result.unit = data.get("unit", result.unit)
            result.handler = data.get("handler", result.handler)
            result.stage, result.status = "in_progress", result.status or "in_progress"
        elif event.kind == ASSIGNED:
            result.unit = data.get("unit", result.unit)
            result.handler = data.get("handler", result.handler)
        elif event.kind == STATUS_CHANGED:
            result.status = data["status"]
            result.stage = "closed" if data["status"] == "closed" else "in_progress"
        elif event.kind == SUPPLEMENT_REQUESTED:
            result.supplement = data
        elif event.kind == DECISION:
            result.decision, result.supplement, result.stage = data, None, "decided"
        elif event.kind == SUPPLEMENTED:
            result.supplement = None
        elif event.kind == DELAY_NOTIFIED:
            result.delay = data
    return result


def stage(events: list[CaseEvent]) -> str:
    """The latest step reached, for the case list."""
    return summary(events).stage


def deadline_of(procedure: str, filed_at: datetime, events: list[CaseEvent]) -> Deadline:
    return deadlines.for_case(procedure, filed_at, events)


def next_step(case: CaseSummary, deadline: Deadline, today: date) -> str:
    """What happens next, as a key the page words in plain language."""
    if case.decision is not None or case.status == "closed":
        return "settled"
    if case.supplement is not None:
        return "supplement"
    if not deadline.has_deadline:
        return "notification"
    if deadline.paused_now:
        return "paused"
    if deadline.overdue(today):
        return "overdue"
    if case.stage == FILED:
        return "waiting_delivery"
    if case.case_reference is None:
        return "waiting_registration"
    return "in_progress"


@dataclass
class CaseState:
    """A case as its pages show it: the events in order, where it stands, its deadline, what comes next."""

    events: list[CaseEvent]
    case: CaseSummary
    deadline: Deadline
    next_step: str


def case_state(submission: Submission, procedure: str, today: date) -> CaseState:
    events = timeline(submission.id)
    case = summary(events)
    if submission.reply_to:  # a supplement or ponaglenie: the answered case holds the deadline
        return CaseState(events, case, deadline_of("notification", submission.filed_at, events), "reply")
    deadline = deadline_of(procedure, submission.filed_at, events)
    return CaseState(events, case, deadline, next_step(case, deadline, today))


# What the look-up without login may tell of each event: the step, its date and identifiers — never
# names, reasons, messages or summaries, which may be personal (the same as the page's public timeline).
PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    FILED: ("receipt_id",),
    REGISTERED: ("rpw",),
    CASE_OPENED: ("case_reference",),
    ASSIGNED: ("unit",),
    STATUS_CHANGED: ("status",),
    SUPPLEMENT_REQUESTED: ("due",),
    DELAY_NOTIFIED: ("new_date",),
    SUPPLEMENTED: ("receipt_id",),
}


def public_case(submission: Submission, definition: Any, today: date, units: dict[str, str]) -> dict[str, Any]:
    """The case as the look-up without login shows it, as data for `/api/sprawy/sprawdz`: the identifiers,
    the deadline, what comes next and the timeline's steps and dates."""
    state = case_state(submission, definition.procedure, today)
    case, deadline = state.case, state.deadline
    steps = []
    for event in state.events:
        data = event.data or {}
        shown = {name: data[name] for name in PUBLIC_FIELDS.get(event.kind, ()) if isinstance(data.get(name), str)}
        if "unit" in shown:
            shown["unit"] = units.get(shown["unit"], shown["unit"])
        steps.append({"kind": event.kind, "occurred_at": event.occurred_at.isoformat(timespec="seconds"),
                      "data": shown})
    return {
        "receipt_id": submission.receipt_id,
        "service": {"id": definition.id, "title": dict(definition.title)},
        "filed_at": submission.filed_at.isoformat(timespec="seconds"),
        "rpw": case.rpw,
        "case_reference": case.case_reference,
        "stage": case.stage,
        "status": case.status,
        "next_step": state.next_step,
        "deadline": {
            "applies": deadline.has_deadline,
            "due": deadline.due.isoformat() if deadline.due else None,
            "overdue": deadline.overdue(today),
            "paused_now": deadline.paused_now,
            "paused_days": deadline.paused_days,
            "extended_to": deadline.extended_to.isoformat() if deadline.extended_to else None,
            "settled_on": deadline.settled_on.isoformat() if deadline.settled_on else None,
        },
        "timeline": steps,
    }
