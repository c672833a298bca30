"""Letters through e-Doręczenia: the dispatch queue, the evidence and the legal dates (docs/edoreczenia.md).

Units of work, each a public function that commits (docs/decisions.md, "One transaction rule"):
- `claim_dispatches` takes due letters for this worker (leases, `FOR UPDATE SKIP LOCKED` on PostgreSQL);
- `dispatch` counts the attempt and commits it *before* the message is posted, then records the outcome: a
  worker killed after the POST leaves an attempt counted, so the next one first looks for the letter's key
  (`additionalData.okienkoKey`) among the office's SENT messages and never posts a second message;
- `claim_polls` / `poll` fetch the evidence owed: every file downloaded, its seal verified, its fields read
  from the signed XML and compared with the letter, stored with its verdict;
- `hint` takes a notification from the service: it only makes the owed letters due for a poll.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from backoffice_adapter.outbox import backoff
from portal.audit import service as audit
from portal.auth.models import Resident
from portal.clock import WARSAW
from portal.db_types import utcnow
from portal.desk.models import DeskCase, OutgoingLetter
from portal.edoreczenia import channel as channels
from portal.edoreczenia import client as edo
from portal.edoreczenia import evidence as evidences
from portal.edoreczenia import incoming
from portal.edoreczenia.models import DEAD, FAILED, IN_PORTAL, IN_PROGRESS, PENDING, SENT, EdoDispatch, EdoEvidence
from portal.extensions import db
from portal.inbox.models import Submission
from portal.notify import mail
from portal.status import deadlines
from portal.storage import service as storage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
POLL_FIRST_SECONDS = 60  # evidence is asked for a minute after sending, then every 2, 4 … minutes
POLL_CAP_SECONDS = 3600  # … and at most hourly
POLL_MARGIN = timedelta(days=3)  # after the fiction date + this, polling stops and the administrators are told
DISPATCH_BACKOFF_BASE = 30.0
DISPATCH_BACKOFF_CAP = 3600.0
DELIVERED = ("E.1",)
FINAL = ("BP.OX", "A.2", "H.EPO", "E.2")  # after a valid one of these, nothing more is owed


def resident_of(case: DeskCase) -> Resident | None:
    submission = db.session.get(Submission, case.submission_id)
    return db.session.get(Resident, submission.resident_id) if submission is not None else None


def plan(case: DeskCase) -> channels.Choice:
    """The channel a letter in this case would take now: shown on the send form before the clerk sends."""
    resident = resident_of(case)
    if resident is None:
        return channels.Choice(channels.PORTAL, "—")
    return channels.choose(resident)


def enqueue(letter: OutgoingLetter, choice: channels.Choice) -> EdoDispatch | None:
    """Owe the letter's dispatch when its channel is e-Doręczenia, hybrid or undecided; part of the caller's
    transaction (the letter and its dispatch commit together)."""
    letter.channel = choice.channel
    if choice.channel == channels.PORTAL:
        return None
    shipping = {channels.EDORECZENIA: "electronic", channels.HYBRID: "hybrid"}.get(choice.channel, "undecided")
    job = EdoDispatch(letter=letter, key=f"okienko-letter-{uuid.uuid4()}", shipping=shipping,
                      recipient=choice.address, postal_address=choice.postal, state=PENDING,
                      next_attempt_at=utcnow())
    db.session.add(job)
    return job


# --- dispatch ------------------------------------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=int(current_app.config["OUTBOX_LEASE_SECONDS"]))


def claim_dispatches(limit: int = 10) -> dict[int, datetime]:
    """Take due dispatches for this worker (its own unit of work): id → the lease it holds them by."""
    now = utcnow()
    query = (select(EdoDispatch)
             .where(or_(and_(EdoDispatch.state.in_([PENDING, FAILED]), EdoDispatch.next_attempt_at <= now),
                        and_(EdoDispatch.state == IN_PROGRESS, EdoDispatch.lease_until < now)))
             .order_by(EdoDispatch.next_attempt_at).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    for row in rows:
        row.state, row.lease_until = IN_PROGRESS, now + _lease()
    held = {row.id: row.lease_until for row in rows}
    db.session.commit()
    return held


def _client() -> edo.Client:
    return edo.client_for(current_app.config)


def _decide_undecided(job: EdoDispatch) -> None:
    """The BAE could not be asked when the clerk sent the letter: the rule runs now (raises Transient while
    the BAE is still down)."""
    resident = resident_of(job.letter.case)
    if resident is None:
        raise edo.Refused("the case has no resident")
    choice = channels.choose(resident)
    if choice.channel == channels.UNDECIDED:
        raise edo.Transient("the address database (BAE) still cannot be asked")
    job.letter.channel = choice.channel
    job.recipient, job.postal_address = choice.address, choice.postal
    job.shipping = {channels.EDORECZENIA: "electronic", channels.HYBRID: "hybrid"}.get(choice.channel, "portal")


def post(job: EdoDispatch) -> str:
    """Post the letter's message (no database work): the task id. The letter's key goes with it."""
    letter = job.letter
    attachment = edo.Attachment(letter.filename, storage.get(letter.sha256), letter.media_type)
    subject = f"{letter.title} ({letter.case.reference})"
    text = (f"Urząd przesyła pismo w sprawie {letter.case.reference}. Pismo jest w załączniku.")
    return _client().send_message(to=job.recipient, subject=subject[:250], text=text, attachments=[attachment],
                                  additional={"okienkoKey": job.key, "caseReference": letter.case.reference},
                                  hybrid_address=job.postal_address if job.shipping == "hybrid" else None)


def _message_id_of_task(task_id: str) -> str | None:
    for item in _client().task_result(task_id):
        if isinstance(item, dict) and item.get("messageId"):
            return str(item["messageId"])
    return None


def dispatch(dispatch_id: int, lease: datetime | None = None) -> str:
    """Send one claimed letter; its new state. Exactly once in effect: the attempt is counted and committed
    before the POST, and an attempt after an earlier one first looks for the key among the SENT messages."""
    job = db.session.get(EdoDispatch, dispatch_id)
    if job is None or job.state != IN_PROGRESS or (lease is not None and job.lease_until != lease):
        return job.state if job else "missing"
    job.attempts += 1
    job.lease_until = utcnow() + _lease()
    earlier_attempt = job.attempts > 1
    db.session.commit()
    try:
        if job.shipping == "undecided":
            _decide_undecided(job)
            if job.shipping == "portal":
                job.state, job.lease_until, job.last_error = IN_PORTAL, None, None
                audit.record("edoreczenia.in_portal", "submission", job.letter.case.submission_id, letter=job.letter_id)
                db.session.commit()
                return job.state
        found = _client().find_sent(job.key) if earlier_attempt else None
        if found is not None:
            job.message_id = edo.message_id_of(found)
            log.info("letter %s was already sent as %s (found by its key)", job.letter_id, job.message_id)
        else:
            job.task_id = post(job)
            try:
                job.message_id = _message_id_of_task(job.task_id)
            except edo.Transient:
                job.message_id = None  # found by its key at the first poll
    except edo.Refused as exc:
        return record_dispatch_failure(dispatch_id, exc, permanent=True)
    except edo.EdoError as exc:
        return record_dispatch_failure(dispatch_id, exc, permanent=False)
    now = utcnow()
    job.state, job.sent_at, job.lease_until, job.last_error = SENT, now, None, None
    job.evidence_owed, job.poll_seconds = True, POLL_FIRST_SECONDS
    job.poll_at = now + timedelta(seconds=POLL_FIRST_SECONDS)
    job.poll_until = now + timedelta(days=deadlines.FICTION_DAYS) + POLL_MARGIN
    audit.record("edoreczenia.sent", "submission", job.letter.case.submission_id, letter=job.letter_id,
                 message=job.message_id or "", shipping=job.shipping)
    db.session.commit()
    return job.state


def record_dispatch_failure(dispatch_id: int, exc: Exception, permanent: bool) -> str:
    """A failed attempt (its own unit of work): again after a capped back-off, or dead (the clerk is told)."""
    db.session.rollback()
    job = db.session.get(EdoDispatch, dispatch_id)
    job.last_error = f"{type(exc).__name__}: {exc}"[:4000]
    job.lease_until = None
    if permanent or job.attempts >= MAX_ATTEMPTS:
        job.state = DEAD
        log.error("letter %s could not be sent through e-Doręczenia: %s", job.letter_id, exc)
    else:
        job.state = FAILED
        job.next_attempt_at = utcnow() + backoff(job.attempts, DISPATCH_BACKOFF_BASE, DISPATCH_BACKOFF_CAP)
        log.warning("letter %s: e-Doręczenia attempt %d failed: %s", job.letter_id, job.attempts, exc)
    db.session.commit()
    return job.state


def run_dispatches(limit: int = 10) -> int:
    """Claim and send what is due; how many were handled."""
    held = claim_dispatches(limit)
    for dispatch_id, lease in held.items():
        dispatch(dispatch_id, lease)
    return len(held)


# --- evidence ------------------------------------------------------------------------------------------------


def claim_polls(limit: int = 20) -> list[int]:
    """Letters whose evidence is due to be asked for; their next poll is pushed out by a lease (committed), so
    two workers do not ask together."""
    now = utcnow()
    query = (select(EdoDispatch).where(EdoDispatch.evidence_owed.is_(True), EdoDispatch.poll_at <= now,
                                       EdoDispatch.alerted_at.is_(None))
             .order_by(EdoDispatch.poll_at).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    for row in rows:
        row.poll_at = now + _lease()
    ids = [row.id for row in rows]
    db.session.commit()
    return ids


def poll(dispatch_id: int) -> int:
    """Ask for one letter's evidence, store each new file with its verdict; the number of new files."""
    job = db.session.get(EdoDispatch, dispatch_id)
    if job is None:
        return 0
    client = _client()
    known = {e.evidence_id for e in job.evidences}
    new = 0
    try:
        if not job.message_id:
            found = client.find_sent(job.key)
            job.message_id = edo.message_id_of(found)
        if job.message_id:
            listed = client.evidences(job.message_id)
            content_sha3 = evidences.sha3(storage.get(job.letter.sha256))
            for item in listed:
                evidence_id = str(item.get("evidenceId") or "")
                if not evidence_id or evidence_id in known:
                    continue
                data = client.evidence_file(evidence_id)
                _store(job, evidence_id, str(item.get("type") or ""), data, content_sha3)
                known.add(evidence_id)
                new += 1
            with_status = client.get_message(job.message_id)
            job.provider_status = str(((with_status.get("messageControlData") or {}).get("status")) or "")[:60] \
                or job.provider_status
    except edo.EdoError as exc:
        log.warning("evidence of letter %s could not be fetched: %s", job.letter_id, exc)
    now = utcnow()
    if _complete(job):
        job.evidence_owed, job.poll_at = False, None
    else:
        job.poll_seconds = min(POLL_CAP_SECONDS, max(POLL_FIRST_SECONDS, job.poll_seconds * 2))
        job.poll_at = now + timedelta(seconds=job.poll_seconds)
        if job.poll_until is not None and now > job.poll_until:
            _alert(job, "no final evidence by the fiction date and its margin")
    db.session.commit()
    return new


def _store(job: EdoDispatch, evidence_id: str, listed_type: str, data: bytes, content_sha3: str) -> None:
    checked = evidences.check(data, evidence_id=evidence_id, listed_type=listed_type, message_id=job.message_id,
                              sender=str(current_app.config["EDORECZENIA_ADDRESS"]), recipient=job.recipient,
                              content_sha3=content_sha3)
    verdict = dict(checked.verdict)
    verdict["reasons"] = list(checked.reasons) or list(verdict.get("reasons") or [])
    row = EdoEvidence(dispatch=job, evidence_id=evidence_id, code=(checked.code if checked.valid else listed_type)[:20],
                      event_time=checked.event_time if checked.valid else None,
                      receipt_fiction=checked.valid and checked.fields.get("ReceiptFiction") == "true",
                      sha256=storage.put(data), valid=checked.valid, verdict=verdict,
                      fields=checked.fields if checked.valid else {})
    db.session.add(row)
    audit.record("edoreczenia.evidence", "submission", job.letter.case.submission_id, letter=job.letter_id,
                 evidence=evidence_id, code=row.code, valid=checked.valid)
    if not checked.valid:
        log.error("evidence %s of letter %s refused: %s", evidence_id, job.letter_id, "; ".join(checked.reasons))
        _alert(job, f"evidence {evidence_id} ({listed_type}) failed its check: {'; '.join(checked.reasons)}",
               once=False)


def _complete(job: EdoDispatch) -> bool:
    return any(e.valid and e.code in FINAL for e in job.evidences)


def _alert(job: EdoDispatch, what: str, once: bool = True) -> None:
    """Tell the administrators (PORTAL_OUTBOX_ALERT_TO) and the log; `once`: polling for this letter stops."""
    config = current_app.config
    log.error("e-Doręczenia, letter %s (%s): %s", job.letter_id, job.letter.case.reference, what)
    recipients = [a.strip() for a in str(config["OUTBOX_ALERT_TO"]).split(",") if a.strip()]
    if recipients:
        body = (f"Pismo {job.letter.title} w sprawie {job.letter.case.reference}: {what}.\n"
                f"{config['BASE_URL']}/urzad/sprawy/{job.letter.case_id}\n")
        try:
            mail.send(", ".join(recipients), f"Okienko: e-Doręczenia — {job.letter.case.reference}", body)
        except mail.MailNotSent as exc:
            log.error("could not send the e-Doręczenia alert: %s", exc)
    if once:
        job.alerted_at = utcnow()


def run_polls(limit: int = 20) -> int:
    ids = claim_polls(limit)
    return sum(poll(dispatch_id) for dispatch_id in ids)


# --- notifications -------------------------------------------------------------------------------------------

NOTIFICATION_TYPES = {"NewEvidence", "NewMessage"}


class BadNotification(ValueError):
    pass


def validate_notification(body: Any) -> dict[str, Any]:
    """The MessageStatement's shape, no more: nothing in it is believed, it only schedules a fetch."""
    if not isinstance(body, dict):
        raise BadNotification("a JSON object is expected")
    if not edo.enabled(current_app.config):
        raise BadNotification("the e-Doręczenia channel is not configured here")
    if not isinstance(body.get("notificationType"), str) or body["notificationType"] not in NOTIFICATION_TYPES:
        raise BadNotification("notificationType must be NewEvidence or NewMessage")
    if body.get("eDeliveryAddress") != current_app.config["EDORECZENIA_ADDRESS"]:
        raise BadNotification("not the office's address")
    items = body.get("notification")
    if not isinstance(items, list) or not 1 <= len(items) <= 100:
        raise BadNotification("notification must be a list of 1 to 100 items")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not 0 < len(item["id"]) <= 100:
            raise BadNotification("each notification needs an id")
    return body


def hint(body: Any) -> int:
    """A notification: the owed letters become due for a poll (a new evidence's id does not say whose it is).
    Returns how many letters were made due; the poll itself is the worker's.

    The endpoint takes no credentials (the service signs nothing it pushes), so a notification can bring a
    letter's poll forward but never closer than POLL_FIRST_SECONDS after its last one, and it keeps the
    letter's back-off: a flood of forged hints cannot make the worker ask the service in a tight loop."""
    statement = validate_notification(body)
    if statement["notificationType"] == "NewMessage":  # an item for the office: owed at once, fetched by the worker
        return incoming.note([item["id"] for item in statement["notification"]])
    if statement["notificationType"] != "NewEvidence":
        return 0
    now = utcnow()
    owed = db.session.scalars(select(EdoDispatch).where(
        EdoDispatch.evidence_owed.is_(True), EdoDispatch.alerted_at.is_(None), EdoDispatch.poll_at > now))
    changed = 0
    for job in owed:
        assert job.poll_at is not None
        last_poll = job.poll_at - timedelta(seconds=job.poll_seconds)
        due = max(now, last_poll + timedelta(seconds=POLL_FIRST_SECONDS))
        if due < job.poll_at:
            job.poll_at, changed = due, changed + 1
    db.session.commit()
    return changed


_subscribed: set[str] = set()


def ensure_subscribed() -> bool:
    """Subscribe to the service's notifications once per process (PORTAL_EDORECZENIA_CALLBACK_URL set)."""
    config = current_app.config
    base = str(config.get("EDORECZENIA_CALLBACK_URL") or "").rstrip("/")
    if not base or not edo.enabled(config) or base in _subscribed:
        return False
    try:
        _client().subscribe(evidence_url=f"{base}/edoreczenia/powiadomienia",
                            message_url=f"{base}/edoreczenia/powiadomienia")
    except edo.EdoError as exc:
        log.warning("e-Doręczenia notifications not subscribed (evidence is polled meanwhile): %s", exc)
        return False
    _subscribed.add(base)
    return True


def worker_round() -> None:
    """The worker's e-Doręczenia chores: subscribe, send what is due, fetch evidence that is due."""
    if not edo.enabled(current_app.config):
        return
    ensure_subscribed()
    run_dispatches()
    run_polls()


# --- what the case pages show ---------------------------------------------------------------------------------


@dataclass
class LegalDates:
    delivered_on: date | None = None
    delivered_at: datetime | None = None
    by_fiction: bool = False
    fiction_on: date | None = None  # when not collected: the day it counts as delivered
    provider_fiction_differs: bool = False
    appeal_due: date | None = None


@dataclass
class LetterState:
    letter: OutgoingLetter
    channel: str
    dispatch: EdoDispatch | None = None
    evidences: list[EdoEvidence] = field(default_factory=list)
    dates: LegalDates = field(default_factory=LegalDates)

    @property
    def failed_evidence(self) -> list[EdoEvidence]:
        return [e for e in self.evidences if not e.valid]


def legal_dates(letter: OutgoingLetter, job: EdoDispatch | None, today: date | None = None) -> LegalDates:
    """The delivery (actual or by fiction) and the appeal deadline, from valid evidence only (the portal's
    own UPD for a letter delivered in the portal)."""
    dates = LegalDates()
    today = today or utcnow().astimezone(WARSAW).date()
    if job is None:
        if letter.opened_at is not None:
            dates.delivered_at = letter.opened_at
            dates.delivered_on = letter.opened_at.astimezone(WARSAW).date()
    else:
        valid = [e for e in job.evidences if e.valid and e.event_time is not None]
        opened = next((e for e in valid if e.code in DELIVERED or (e.code == "BP.OX" and not e.receipt_fiction)
                       or e.code == "H.EPO"), None)
        notice = next((e for e in valid if e.code == "D.1"), None)
        provider_fiction = next((e for e in valid if e.code == "BP.OX" and e.receipt_fiction), None)
        if notice is not None:
            dates.fiction_on = deadlines.delivered_by_fiction_on(notice.event_time)  # type: ignore[arg-type]
        if opened is not None:
            dates.delivered_at = opened.event_time
            dates.delivered_on = opened.event_time.astimezone(WARSAW).date()  # type: ignore[union-attr]
        elif dates.fiction_on is not None and (provider_fiction is not None or today >= dates.fiction_on):
            dates.delivered_on, dates.by_fiction = dates.fiction_on, True
            if provider_fiction is not None:
                dates.provider_fiction_differs = (
                    provider_fiction.event_time.astimezone(WARSAW).date() != dates.fiction_on)  # type: ignore[union-attr]
    if dates.delivered_on is not None and letter.kind == "decision":
        dates.appeal_due = deadlines.appeal_due(dates.delivered_on)
    return dates


def letter_states(letters: list[OutgoingLetter]) -> list[LetterState]:
    ids = [letter.id for letter in letters]
    # One batch for the page however many letters it shows: the jobs with their evidences.
    jobs = {j.letter_id: j for j in db.session.scalars(
        select(EdoDispatch).where(EdoDispatch.letter_id.in_(ids)).options(selectinload(EdoDispatch.evidences)))} \
        if ids else {}
    result = []
    for letter in letters:
        job = jobs.get(letter.id)
        result.append(LetterState(letter=letter, channel=letter.channel, dispatch=job,
                                  evidences=list(job.evidences) if job else [], dates=legal_dates(letter, job)))
    return result


def evidence_file(evidence_pk: int, letters: Mapping[int, OutgoingLetter]) -> EdoEvidence | None:
    """An evidence row if it belongs to one of `letters` (the caller checked who may see them)."""
    row = db.session.get(EdoEvidence, evidence_pk)
    return row if row is not None and row.dispatch.letter_id in letters else None
