"""E-mail to residents when their case needs them, and the clerks' daily digest of deadlines.

Messages carry no personal data beyond the case reference: what changed, and a link to the case
page where the resident signs in to read it. A resident chooses on *Moje konto* whether to get them;
only a confirmed address is ever written to.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from portal.auth.models import Clerk, Resident
from portal.clock import WARSAW
from portal.db_types import utcnow
from portal.desk.models import DeskCase
from portal.extensions import db
from portal.inbox import service as inbox
from portal.inbox.models import Submission
from portal.notify import mail
from portal.notify.models import JobRun, Notification
from portal.notify.owed import OVERDUE, enqueue_for_event
from portal.status import events
from portal.status import service as status
from portal.status.models import CaseEvent

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
DIGEST_HOUR = 7  # the clerks' digest and the overdue notices go out after 7:00 Polish time
DIGEST_WINDOW_DAYS = 3

SUBJECTS = {
    events.SUPPLEMENT_REQUESTED: ("Urząd prosi o uzupełnienie pisma",
                                  "The office asks you to supplement your submission"),
    events.LETTER_SENT: ("Masz pismo z urzędu", "You have a letter from the office"),
    events.DECISION: ("Sprawa została rozstrzygnięta", "Your case has been decided"),
    events.DELAY_NOTIFIED: ("Urząd zawiadomił o zwłoce i podał nowy termin",
                       "The office notified a delay and set a new date"),
    events.STATUS_CHANGED: ("Zmienił się stan sprawy", "The state of your case changed"),
    OVERDUE: ("Minął termin załatwienia sprawy — możesz złożyć ponaglenie",
                "The deadline has passed — you may file a ponaglenie (reminder)"),
}


def _reference(submission_id: str) -> str:
    """The case as the message names it: the znak sprawy once there is one, else the receipt id."""

    found = db.session.scalar(select(CaseEvent.data).where(CaseEvent.submission_id == submission_id,
                                                          CaseEvent.kind == events.CASE_OPENED)
                              .order_by(CaseEvent.occurred_at.desc()).limit(1))
    if found and found.get("case_reference"):
        return str(found["case_reference"])
    return str(db.session.scalar(select(Submission.receipt_id).where(Submission.id == submission_id)) or "")


def send_pending(limit: int = 100) -> int:
    """Send what is owed; a failure is tried again next time (up to MAX_ATTEMPTS). Returns messages sent."""
    sent = 0
    pending = list(db.session.scalars(
        select(Notification).where(Notification.sent_at.is_(None), Notification.attempts < MAX_ATTEMPTS)
        .order_by(Notification.id).limit(limit)))
    base = current_app.config["BASE_URL"].rstrip("/")
    for note in pending:
        resident = db.session.get(Resident, note.resident_id)
        if resident is None or not resident.notify_case_changes:
            note.sent_at, note.outcome = utcnow(), "not wanted"
        elif not (resident.email and resident.email_confirmed_at):
            note.sent_at, note.outcome = utcnow(), "no confirmed address"
        else:
            reference = _reference(note.submission_id)
            polish, english = SUBJECTS[note.kind]
            body = (f"{polish}: {reference}.\n\nSzczegóły po zalogowaniu: {base}/moje-sprawy/{note.submission_id}\n"
                    "Ze względu na ochronę danych wiadomość nie zawiera treści pisma.\n\n"
                    f"{english}: {reference}.\nSign in to read it: {base}/moje-sprawy/{note.submission_id}\n\n"
                    f"Powiadomienia wyłączysz w „Moje konto”: {base}/konto\n")
            note.attempts += 1
            try:
                mail.send(resident.email, f"Okienko: {polish.lower()} — {reference}", body)
            except mail.MailNotSent as exc:
                note.last_error = str(exc)[:1000]
                log.warning("notification %s not sent (attempt %d): %s", note.id, note.attempts, exc)
                db.session.commit()
                continue
            note.sent_at, note.outcome = utcnow(), "sent"
            sent += 1
        db.session.commit()
    return sent


# --- daily jobs --------------------------------------------------------------------------------


def claim_the_day(name: str, today: date) -> bool:
    """True for the one caller that runs the job today (a row lock keeps several workers apart). A unit of
    work of its own: the claim commits before the day's jobs run, so other workers see it at once."""
    run = db.session.get(JobRun, name, with_for_update=True)
    if run is None:
        db.session.add(JobRun(name=name, last_run_on=today))
        try:
            db.session.commit()
        except Exception:  # noqa: BLE001 - another worker inserted it first: theirs is today's run
            db.session.rollback()
            return False
        return True
    if run.last_run_on >= today:
        db.session.rollback()
        return False
    run.last_run_on = today
    db.session.commit()
    return True


def daily_jobs(now: datetime | None = None) -> None:
    """Run once a day, after DIGEST_HOUR Polish time: overdue notices to residents, digests to clerks."""
    local = (now or utcnow()).astimezone(WARSAW)
    if local.time() < time(DIGEST_HOUR):
        return
    if claim_the_day("daily", local.date()):
        notify_overdue(local.date())
        send_digests(local.date())


def _open_cases() -> list[Any]:
    """Every submission not yet settled, with what the deadline needs (a bounded scan: open cases only)."""

    return list(db.session.scalars(select(Submission).where(Submission.id.not_in(events.settled_submissions()))))


def notify_overdue(today: date) -> int:
    """A resident whose case passed its due date hears of the ponaglenie once per due date."""

    owed = 0
    submissions = _open_cases()
    timelines = status.timelines([s.id for s in submissions])
    for submission in submissions:
        deadline = status.deadline_of(inbox.definition_of(submission).procedure, submission.filed_at,
                                      timelines[submission.id])
        if deadline.overdue(today):  # also when the new date of a notice of delay has passed (art. 37 § 1)
            enqueue_for_event(submission.id, OVERDUE, f"{submission.id}:{OVERDUE}:{deadline.due}", {})
            owed += 1
    db.session.commit()
    return owed


def send_digests(today: date) -> int:
    """Each clerk with an address gets the list of their open cases due within DIGEST_WINDOW_DAYS or late."""

    cases = list(db.session.scalars(select(DeskCase).where(DeskCase.status != "closed",
                                                           DeskCase.handler_id.is_not(None))))
    timelines = status.timelines([c.submission_id for c in cases])
    per_clerk: dict[int, list[tuple[date, str]]] = {}
    for case in cases:
        submission = db.session.get(Submission, case.submission_id)
        if submission is None:
            continue
        deadline = status.deadline_of(inbox.definition_of(submission).procedure, submission.filed_at,
                                      timelines[case.submission_id])
        if deadline.due is None or deadline.settled_on is not None:
            continue
        if (deadline.due - today).days <= DIGEST_WINDOW_DAYS:
            per_clerk.setdefault(case.handler_id, []).append((deadline.due, f"{case.reference} — {case.title}"))
    sent = 0
    base = current_app.config["BASE_URL"].rstrip("/")
    for clerk_id, rows in per_clerk.items():
        clerk = db.session.get(Clerk, clerk_id)
        if clerk is None or not clerk.email or not clerk.daily_digest:
            continue
        lines = []
        for due, label in sorted(rows):
            left = (due - today).days
            when = "PO TERMINIE" if left < 0 else ("dziś" if left == 0 else f"za {left} dni")
            lines.append(f"- {due:%d.%m.%Y} ({when}): {label}")
        body = ("Sprawy, których termin załatwienia mija w ciągu 3 dni albo już minął:\n\n" + "\n".join(lines)
                + f"\n\nRejestr i sprawy: {base}/urzad/sprawy\n")
        try:
            mail.send(clerk.email, f"Okienko: {len(rows)} spraw z bliskim terminem ({today:%d.%m.%Y})", body)
            sent += 1
        except mail.MailNotSent as exc:
            log.error("digest for clerk %s not sent: %s", clerk_id, exc)
    return sent


def counts() -> dict[str, int]:
    waiting = db.session.scalar(select(func.count()).select_from(Notification).where(Notification.sent_at.is_(None)))
    return {"waiting": int(waiting or 0)}
