"""Items residents send to the office's e-Doręczenia address, taken in as submissions.

The provider says an item is there in two ways: a `NewMessage` notification on the portal's callback address
(`note`, a hint: best effort, possibly never) and the box's list of unopened items, asked gently by the
worker (`poll`, every EDORECZENIA_POLL_SECONDS, further apart while the service fails). Both only write an
intake row (`IncomingMessage`, unique per message id) and commit. The worker then takes each row in
(`take_in`): it reads the item in full (which marks it opened at the provider: that is why the row comes
first), its attachments as sent, the sender's evidences (A.1, BP.WX, verified against the provider's pinned
seal), finds the sender's account through the BAE, and files it (`inbox.store_received`: a submission, its
first event and its outbox rows, so it is registered in the RPW and forwarded like a portal submission) in one
commit with the row. Only then is the item marked handled at the provider. Whatever fails — the service down,
slow, answering 5xx, the worker killed — leaves the row, tried again with back-off; the submission's unique
message id makes a second take-in of the same item find the first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from portal.auth import service as auth
from portal.db_types import utcnow
from portal.edoreczenia import client as edo
from portal.edoreczenia import evidence
from portal.edoreczenia.incoming_models import HANDLED, PENDING, STORED, IncomingMessage
from portal.extensions import db
from portal.inbox import service as inbox
from portal.inbox.models import EDORECZENIA
from portal.signing import pades, verify
from portal.signing.policy import policy as verification_policy
from portal.storage import service as storage

log = logging.getLogger(__name__)

SENDERS_EVIDENCE = ("A.1", "BP.WX")  # accepted for sending, and the national proof of sending
UNSIGNED = "UNSIGNED"
LEASE = timedelta(minutes=5)
RETRY_CAP_SECONDS = 3600.0


def enabled() -> bool:
    return edo.enabled(current_app.config)


def _client() -> edo.Client:
    return edo.client_for(current_app.config)


def backoff(attempt: int, base_seconds: float = 10.0, cap_seconds: float = RETRY_CAP_SECONDS) -> timedelta:
    """Exponential back-off with full jitter: an item that fails is not asked about in a tight loop."""
    ceiling = min(cap_seconds, base_seconds * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


# --- knowing of an item ---------------------------------------------------------------------------------------


def _known(message_ids: list[str]) -> int:
    """Write an intake row for each id not known yet (part of the caller's unit); return how many were new."""
    new = 0
    for message_id in dict.fromkeys(m for m in message_ids if m):
        if db.session.scalar(select(IncomingMessage.id).where(IncomingMessage.message_id == message_id)):
            continue
        try:
            with db.session.begin_nested():
                db.session.add(IncomingMessage(message_id=message_id, state=PENDING, next_attempt_at=utcnow()))
        except IntegrityError:
            continue  # another worker, or the notification, wrote it first
        new += 1
    return new


def note(message_ids: list[str]) -> int:
    """The provider told us of new items (a NewMessage notification): owe them to ourselves, and commit."""
    new = _known([str(m) for m in message_ids])
    db.session.commit()
    if new:
        log.info("e-Doręczenia: %d new incoming item(s) notified", new)
    return new


def poll(limit: int = 100) -> int:
    """List the box's unopened incoming items and owe the unknown ones to ourselves; commit. Raises
    `edo.EdoError` when the service cannot be asked (the caller backs off)."""
    listed = _client().list_messages(label="INBOX", opened=False, limit=limit)
    ids = [str((m.get("messageMetadata") or {}).get("messageId") or m.get("messageId") or "") for m in listed]
    new = _known(ids)
    db.session.commit()
    if new:
        log.info("e-Doręczenia: %d new incoming item(s) listed", new)
    return new


# --- taking an item in ----------------------------------------------------------------------------------------


def claim(limit: int = 10) -> list[int]:
    """Take due intake rows for this worker (a unit of its own: committed before the provider is asked)."""
    now = utcnow()
    query = (select(IncomingMessage)
             .where(IncomingMessage.state.in_([PENDING, STORED]), IncomingMessage.next_attempt_at <= now,
                    or_(IncomingMessage.lease_until.is_(None), IncomingMessage.lease_until < now))
             .order_by(IncomingMessage.next_attempt_at).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    for row in rows:
        row.lease_until = now + LEASE
    ids = [row.id for row in rows]
    db.session.commit()
    return ids


def take_in_due(limit: int = 10) -> int:
    """Take in what is due now; return how many rows were worked on."""
    ids = claim(limit)
    for row_id in ids:
        take_in(row_id)
    return len(ids)


def take_in(row_id: int) -> str:
    """Fetch, verify and file one item, then tell the provider it was handled; return the row's state."""
    row = db.session.get(IncomingMessage, row_id)
    if row is None or row.state == HANDLED:
        return row.state if row else "missing"
    message_id = row.message_id
    try:
        if row.state == PENDING:
            item, evidences = fetch(message_id)
            file_item(row_id, item, evidences)
        mark_handled(row_id)
    except Exception as exc:  # noqa: BLE001 - the service, the store, anything: the row stays owed, tried later
        return record_failure(row_id, exc)
    row = db.session.get(IncomingMessage, row_id)
    return row.state if row else "missing"


def file_item(row_id: int, item: inbox.Received, evidences: list[dict[str, Any]]) -> None:
    """File a fetched item: the submission and the intake row's new state, in one commit (a unit of its own,
    after the reading and before the provider is told)."""
    row = db.session.get(IncomingMessage, row_id, with_for_update=True)
    if row is None or row.state != PENDING:
        db.session.rollback()
        return
    try:
        submission, _new = inbox.store_received(item)
        row.state, row.submission_id, row.evidences = STORED, submission.id, evidences
        row.last_error, row.attempts = None, row.attempts + 1
        db.session.commit()
    except IntegrityError:
        # Another worker filed this very item meanwhile: the unique message id kept it to one submission.
        db.session.rollback()
        existing = inbox.by_external_id(item.external_id)
        row = db.session.get(IncomingMessage, row_id)
        if existing is None or row is None:
            raise
        if row.state == PENDING:
            row.state, row.submission_id, row.evidences = STORED, existing.id, evidences
        db.session.commit()
    log.info("e-Doręczenia: incoming item %s filed", item.external_id)


def mark_handled(row_id: int) -> None:
    """Tell the provider the item is taken in (marked opened, MessageControlDataPatch), then note that; a unit
    of its own."""
    row = db.session.get(IncomingMessage, row_id)
    if row is None or row.state != STORED:
        return
    message_id = row.message_id
    db.session.rollback()  # no transaction held open across the call
    _client().mark_opened(message_id)
    row = db.session.get(IncomingMessage, row_id)
    if row is not None and row.state == STORED:
        row.state, row.handled_at, row.lease_until = HANDLED, utcnow(), None
    db.session.commit()


def record_failure(row_id: int, exc: Exception) -> str:
    """A failed try (its own unit): tried again after a back-off, however long the service fails: the item is
    at the provider and owed here, so it is never given up; the stuck-alert's log names it."""
    db.session.rollback()
    row = db.session.get(IncomingMessage, row_id)
    if row is None:
        return "missing"
    row.attempts += 1
    row.last_error = f"{type(exc).__name__}: {exc}"[:4000]
    row.lease_until = None
    row.next_attempt_at = utcnow() + backoff(row.attempts)
    db.session.commit()
    log.warning("e-Doręczenia: incoming item %s not taken in yet (attempt %d): %s", row.message_id, row.attempts,
                exc)
    return row.state


# --- reading an item ------------------------------------------------------------------------------------------


def fetch(message_id: str) -> tuple[inbox.Received, list[dict[str, Any]]]:
    """Read one item in full with its files and the sender's evidences; nothing is written."""
    client = _client()
    message = client.incoming_message(message_id)
    metadata = message.get("messageMetadata") or {}
    sender = metadata.get("from") or {}
    sender_address = str(sender.get("eDeliveryAddress") or "") or None
    files = _attachments(client, message_id, message.get("attachments") or [])
    evidences = _evidences(client, message_id, sender_address, files[0][2] if files else None)
    owner = _owner(client, sender_address)
    accepted = next((e for e in evidences if e["type"] == "A.1" and e["valid"]), None)
    checked = [(name, media_type, content, _verdict_of(name, media_type, content))
               for name, media_type, content in files]
    signed = next((v for *_, v in checked if v["indication"] != UNSIGNED), None)
    text = str(message.get("textBody") or "")
    item = inbox.Received(
        channel=EDORECZENIA, external_id=message_id,
        sender_name=str(sender.get("name") or (owner or {}).get("name") or sender_address or "")[:400],
        sender_address=sender_address, subject=(str(metadata.get("subject") or "")[:400] or None),
        filed_at=_filing_moment(accepted, metadata), document=text.encode("utf-8"),
        verdict=signed or _unsigned(), attachments=tuple(checked),
        resident_id=owner["resident_id"] if owner else None,
        proof=accepted["content"] if accepted else None, proof_id=accepted["evidence_id"] if accepted else None,
    )
    return item, [{k: v for k, v in e.items() if k != "content"} for e in evidences]


def _attachments(client: edo.Client, message_id: str,
                 attachments: list[dict[str, Any]]) -> list[tuple[str, str, bytes]]:
    """Each file as sent: from the message itself (base64) or, when it came without, its own endpoint; the
    provider's SHA-3 hash is checked, so a file damaged on the way is fetched again rather than filed."""
    files = []
    for position, attachment in enumerate(sorted(attachments, key=lambda a: a.get("order") or 0)):
        data = attachment.get("file") or {}
        meta = data.get("fileMetadata") or {}
        encoded = data.get("file")
        if encoded:
            try:
                content = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise edo.Transient(f"attachment {position + 1} of {message_id} is not base64") from exc
        else:
            attachment_id = attachment.get("attachmentId") or meta.get("fileId")
            if not attachment_id:
                raise edo.Refused(f"attachment {position + 1} of {message_id} has neither content nor id")
            content = client.attachment(message_id, str(attachment_id))
        expected = str(meta.get("hash") or "").lower()
        if expected and hashlib.sha3_256(content).hexdigest() != expected:
            raise edo.Transient(f"attachment {position + 1} of {message_id} does not match its SHA-3 hash")
        name = str(meta.get("filename") or f"zalacznik-{position + 1}")[:200]
        files.append((name, str(meta.get("contentType") or "application/octet-stream"), content))
    return files


def _unsigned() -> dict[str, Any]:
    return {"indication": UNSIGNED, "valid": False, "signed": False, "reasons": [], "signer": None,
            "signing_time": None, "chain": [], "certificate": None, "detached": False, "form": None,
            "signatures": []}


def _verdict_of(name: str, media_type: str, content: bytes) -> dict[str, Any]:
    """A signed XML (XAdES) or PDF (PAdES) file checked as the portal checks every signature; any other file,
    or one without a signature, is unsigned, which is recorded as such (e-Doręczenia needs no signature)."""
    lowered = name.lower()
    if media_type == "application/pdf" or lowered.endswith(".pdf"):
        found = pades.verify_pdf(content, verification_policy())
        if found.get("reasons") == ["the PDF carries no signature"]:
            return _unsigned()
        return {**_unsigned(), **found, "signed": True}
    if "xml" in media_type or lowered.endswith((".xml", ".xades")):
        verdict = verify.verify(content, verification_policy(), require_person=False)
        if verdict.reasons == ["no_signature"]:
            return _unsigned()
        return {**verdict.stored(), "signed": True}
    return _unsigned()


def _owner(client: edo.Client, address: str | None) -> dict[str, Any] | None:
    """The sender's name from the BAE, and the portal account their PESEL belongs to (if any)."""
    if not address:
        return None
    for entry in client.bae_search(address=address):
        if entry.get("eDeliveryAddress") and entry["eDeliveryAddress"] != address:
            continue
        resident = auth.resident_by_pesel(str(entry.get("pesel") or ""))
        return {"name": entry.get("name"), "resident_id": resident.id if resident is not None else None}
    return None


def _filing_moment(accepted: dict[str, Any] | None, metadata: dict[str, Any]) -> datetime:
    """The legal moment of the filing: the event time of the evidence A.1 (verified), else the provider's
    submission date, else now."""
    for text in ((accepted or {}).get("event_time"), metadata.get("submissionDate"), metadata.get("timestamp")):
        if text:
            try:
                moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utcnow()


# --- the sender's evidence ------------------------------------------------------------------------------------


def _evidences(client: edo.Client, message_id: str, sender: str | None,
               first_file: bytes | None) -> list[dict[str, Any]]:
    """The sender's evidences of this message (A.1, BP.WX), each fetched and verified as the outgoing letters'
    are (portal/edoreczenia/evidence.py: the provider's seal pinned to EDORECZENIA_EVIDENCE_SEALS, and its
    fields compared with this message); the signed bytes are kept, a failed one too, with its reasons."""
    kept = []
    for listed in client.evidences(message_id):
        code = str(listed.get("type") or "")
        if code not in SENDERS_EVIDENCE or not listed.get("evidenceId"):
            continue
        evidence_id = str(listed["evidenceId"])
        content = client.evidence_file(evidence_id)
        checked = evidence.check(content, evidence_id=evidence_id, listed_type=code, message_id=message_id,
                                 sender=sender or "", recipient=str(current_app.config["EDORECZENIA_ADDRESS"]),
                                 content_sha3=evidence.sha3(first_file) if first_file is not None else None)
        if not checked.valid:
            log.error("e-Doręczenia: evidence %s (%s) of incoming item %s fails its check: %s", evidence_id, code,
                      message_id, "; ".join(checked.reasons))
        moment = checked.event_time if checked.valid else None
        kept.append({"type": code, "evidence_id": evidence_id, "valid": checked.valid, "reasons": checked.reasons,
                     "event_time": moment.isoformat() if moment else None,
                     "sha256": storage.put(content), "content": content})
    return kept
