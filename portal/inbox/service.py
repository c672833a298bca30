"""The electronic inbox: a submission is stored durably before anything is promised, then receipted.

`accept` writes the signed bytes, the verdict, the first timeline event, the outbox rows and
the audit entry in one transaction. Only after it commits is the UPO made (`ensure_receipt`),
and making it again is harmless: a crash between the two leaves a stored submission whose
receipt the next request or the dispatcher issues. So does a receipt the document store refused
(full, unreachable): the submission is filed all the same, and the resident is told so
(`try_receipt`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import defer, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from backoffice_adapter import outbox
from backoffice_adapter.base import Attachment, Envelope
from portal.audit import service as audit
from portal.auth.models import Resident
from portal.db_types import utcnow
from portal.extensions import db, kept_loaded
from portal.forms import flow
from portal.forms import service as forms
from portal.forms.models import SUBMITTED, Draft
from portal.inbox import pdf, upo
from portal.inbox.models import EDORECZENIA, PORTAL, Submission
from portal.ops import metrics
from portal.signing import pades, seals, timestamp, trust
from portal.signing.verify import Verdict
from portal.status import service as status
from portal.storage import service as storage

log = logging.getLogger(__name__)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class InboxUnavailable(RuntimeError):
    """The database could not take the submission; nothing was stored and the resident may retry."""


def _base32(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 32)
        chars.append(_CROCKFORD[rest])
    return "".join(reversed(chars))


def new_receipt_id(year: int) -> str:
    return f"OK-{year}-{_base32(secrets.token_bytes(5), 8)}"


def access_code(receipt_id: str) -> str:
    """The code printed on the receipt: derived from a secret key, so it is never stored and never changes."""
    key = hashlib.sha256(b"okienko access code\x00" + current_app.config["SECRET_KEY"].encode()).digest()
    code = _base32(hmac.new(key, receipt_id.encode(), hashlib.sha256).digest()[:7], 10)
    return f"{code[:5]}-{code[5:]}"


@dataclass(frozen=True)
class ChannelService:
    """What stands for the catalog's service for an item that came through another channel: it was written
    to the office, not filled in on one of its forms. Its subject is the sender's; its deadline the KPA's
    general month (art. 35 §3), as for the general letter, until the clerk who reads it says otherwise."""

    id: str
    title: dict[str, str]
    version: str = ""
    procedure: str = "kpa-1m"
    unit: str = ""
    jrwa_class: str = ""
    document_name: str = "Pismo"
    attachments: tuple[Any, ...] = field(default=())


CHANNEL_SERVICES = {
    EDORECZENIA: ChannelService(EDORECZENIA, {"pl": "Pismo przez e-Doręczenia",
                                              "en": "Letter received through e-Doręczenia"}),
}


def definition_of(submission: Submission) -> Any:
    """The service a submission was filed under: its catalog definition, or for an item of another channel
    (no e-service) the channel's stand-in, which answers the same questions (title, procedure, unit)."""
    if submission.eservice_id is None:
        return CHANNEL_SERVICES[submission.channel]
    return forms.definition_of(submission.eservice)


def by_external_id(external_id: str) -> Submission | None:
    return db.session.scalar(select(Submission).where(Submission.external_id == external_id))


@dataclass(frozen=True)
class Received:
    """An item that reached the office through a channel other than the portal's forms, as it arrived."""

    channel: str
    external_id: str  # the channel's id of it: stored once, however often it is fetched
    sender_name: str
    sender_address: str | None
    subject: str | None
    filed_at: datetime  # the legal moment it reached the office (the channel's evidence says when)
    document: bytes  # the item's own text; the files as sent come as attachments
    verdict: dict[str, Any]  # the stored verdict of its signature (or "unsigned")
    attachments: tuple[tuple[str, str, bytes, dict[str, Any]], ...]  # name, media type, bytes, verdict
    resident_id: int | None = None  # the portal account the sender's identity matches, if any
    # The channel's signed proof of the filing (e-Doręczenia: the evidence A.1), kept where a portal
    # submission keeps its UPO, and its identifier.
    proof: bytes | None = None
    proof_id: str | None = None


def store_received(item: Received) -> tuple[Submission, bool]:
    """File an item of another channel as a submission, with its first event and its outbox rows (the routes of
    the channel's service id, as for a catalog service), and commit. Part of no caller's transaction: the
    caller's own rows it changes (the intake row) are committed with it.

    The channel's id is unique: a second store of the same item (two workers, a crash before the channel was
    told) finds the first and returns it with False; `flush` first so that the caller's rows may name it."""
    existing = by_external_id(item.external_id)
    if existing is not None:
        return existing, False
    document_address = storage.put(item.document)
    attachments = []
    for name, media_type, content, verdict in item.attachments:
        attachments.append({"name": name, "media_type": media_type, "size": len(content),
                            "sha256": storage.put(content), "signature": verdict})
    submission = Submission(
        id=str(uuid.uuid4()), channel=item.channel, external_id=item.external_id, resident_id=item.resident_id,
        sender_name=item.sender_name, sender_address=item.sender_address, subject=item.subject,
        document_sha256=document_address, verdict=item.verdict, attachments=attachments,
        filed_at=item.filed_at, receipt_id=None,
        upo_sha256=storage.put(item.proof) if item.proof is not None else None,
        upo_issued_at=item.filed_at if item.proof is not None else None,
    )
    db.session.add(submission)
    audit.record("submission.received", "submission", submission.id, actor=("system", None), channel=item.channel,
                 external_id=item.external_id, sha256=document_address)
    status.add_event(submission.id, status.FILED, f"{submission.id}:filed", submission.filed_at,
                     channel=item.channel, evidence_id=item.proof_id or "")
    outbox.enqueue(submission.id, outbox.routes_for(item.channel, current_app.config))
    db.session.flush()
    metrics.submission_accepted(item.channel)
    return submission, True


def by_draft(draft_id: str) -> Submission | None:
    return db.session.scalar(select(Submission).where(Submission.draft_id == draft_id))


def accept(draft: Draft, signed: bytes, verdict: Verdict) -> Submission:
    """Store the signed submission, exactly once per draft, and receipt it.

    `signed` is the signed document, or for a detached signature the signature file: the document
    is then the draft's prepared bytes, which that signature was verified to cover. Once stored, the
    submission is filed even if its receipt cannot be made yet (`try_receipt`).
    """
    submission = store(draft, signed, verdict)
    try_receipt(submission)
    return submission


def store(draft: Draft, signed: bytes, verdict: Verdict) -> Submission:
    """The durable part of accepting: one transaction, committed, no receipt yet.

    A process that dies right after this leaves a complete submission; the next request that
    shows it (or the dispatcher) issues its receipt. Raises InboxUnavailable when the database or
    the document store cannot take it: then nothing at all was written.
    """
    try:
        existing = by_draft(draft.id)
        if existing is not None:
            return existing
        definition = forms.definition_of(draft.eservice)
        document = draft.document if verdict.signature_apart and draft.document is not None else signed
        # The bytes first: a file or object store writes them now, the database with the commit.
        # Either way no submission row can exist without its content.
        document_address = storage.put(document)
        signature_address = storage.put(signed) if document is not signed else None
        submission = Submission(
            id=str(uuid.uuid4()),
            draft_id=draft.id,
            resident_id=draft.resident_id,
            eservice_id=draft.eservice_id,
            document_sha256=document_address,
            detached_signature_sha256=signature_address,
            verdict=verdict.stored(),
            attachments=_filed_attachments(draft),
            reply_to=draft.reply_to,
        )
        audit.record("submission.accepted", "submission", submission.id, service=definition.id,
                     version=definition.version, sha256=document_address)
        # The filing moment is the commit: taken here, after the locks are held, with only
        # in-memory work between it and the commit.
        submission.filed_at = utcnow()
        submission.receipt_id = new_receipt_id(submission.filed_at.year)
        db.session.add(submission)
        status.add_event(submission.id, status.FILED, f"{submission.id}:filed", submission.filed_at,
                         receipt_id=submission.receipt_id)
        outbox.enqueue(submission.id, outbox.routes_for(definition.id, current_app.config))
        draft.state = SUBMITTED
        # The receipt is made from these very objects next: keep them loaded across the commit
        # instead of reading back what was just written.
        with kept_loaded():
            db.session.commit()
    except IntegrityError:
        # Another request (double click, second tab) stored this draft first: theirs is the submission.
        db.session.rollback()
        existing = by_draft(draft.id)
        if existing is None:
            raise
        return existing
    except (OperationalError, storage.StorageUnavailable) as exc:
        draft_id = inspect(draft).identity[0]  # not draft.id: reading an attribute again could need the database
        with contextlib.suppress(SQLAlchemyError):  # a connection the database dropped cannot even roll back
            db.session.rollback()
        log.error("could not store the submission of draft %s: %s", draft_id, exc)
        raise InboxUnavailable(str(exc)) from exc
    log.info("accepted submission %s (%s)", submission.id, definition.id)
    metrics.submission_accepted(definition.id)
    return submission


def _filed_attachments(draft: Draft) -> list[dict[str, object]]:
    """The attachments the signed document names (those of rules that apply), as the submission keeps them."""
    definition = forms.definition_of(draft.eservice)
    applying = {r.id for r in flow.attachment_rules(definition, draft.values or {})}
    return [{"rule": a.rule_id, "name": a.filename, "media_type": a.media_type, "size": a.size, "sha256": a.sha256}
            for a in draft.attachments if a.rule_id in applying]


def _timestamper(submission: Submission) -> Any:
    """XAdES-T when a TSA is configured. If it does not answer, the receipt is issued without the
    time-stamp rather than not at all: the seal alone is a valid receipt, the filing time is in it."""
    url = current_app.config["TSA_URL"]
    if not url:
        return None

    def stamp(data: bytes) -> bytes:
        return timestamp.stamp(url, data, trust.anchors())

    def stamp_or_skip(data: bytes) -> bytes:
        try:
            return stamp(data)
        except timestamp.TimestampFailed as exc:
            log.warning("receipt %s issued without a time-stamp: %s", submission.receipt_id, exc)
            raise _NoTimestamp from exc

    return stamp_or_skip


class _NoTimestamp(Exception):
    pass


def try_receipt(submission: Submission) -> bool:
    """Issue the UPO if it is missing; True when the submission has it.

    False when the document store (or the database holding it) cannot take the receipt now — full,
    unreachable. The submission is filed all the same: the resident is told so, and the next page that shows
    it, the receipt download or the dispatcher (which needs the receipt for the parcel) tries again."""
    if submission.upo_sha256 is not None:
        return True
    submission_id = inspect(submission).identity[0]
    try:
        ensure_receipt(submission)
    except (storage.StorageUnavailable, OperationalError) as exc:
        with contextlib.suppress(SQLAlchemyError):
            db.session.rollback()
        log.warning("the receipt of submission %s is not issued yet: %s", submission_id,
                    str(getattr(exc, "orig", None) or exc).splitlines()[0])
        return False
    return True


def ensure_receipt(submission: Submission) -> Submission:
    """Issue the UPO if it is not there yet. Safe to call again and from several processes at once."""
    if submission.upo_sha256 is not None or submission.channel != PORTAL:
        return submission  # an item of another channel has the channel's proof, not the portal's UPO
    definition = forms.definition_of(submission.eservice)
    resident: Resident = submission.resident  # type: ignore[assignment]
    issued_at = utcnow()
    try:
        xml = _receipt_xml(submission, definition, resident, issued_at, with_timestamp=True)
    except _NoTimestamp:
        xml = _receipt_xml(submission, definition, resident, issued_at, with_timestamp=False)
    # Only the first receipt made is kept: a concurrent second one is thrown away.
    address = storage.put(xml)
    written = db.session.execute(
        update(Submission).where(Submission.id == submission.id, Submission.upo_sha256.is_(None))
        .values(upo_sha256=address, upo_issued_at=issued_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if written:  # what the UPDATE wrote, known without reading it back or writing it twice
        set_committed_value(submission, "upo_sha256", address)
        set_committed_value(submission, "upo_issued_at", issued_at)
    with kept_loaded():
        db.session.commit()
    if written:
        metrics.receipt_issued()
    else:
        db.session.refresh(submission)  # someone else's receipt came first: theirs is the one
    return submission


def _receipt_xml(submission: Submission, definition: Any, resident: Resident, issued_at: Any,
                 with_timestamp: bool) -> bytes:
    return upo.build(upo.ReceiptData(
        receipt_id=submission.receipt_id,
        office_name=current_app.config["OFFICE_NAME"],
        office_id=current_app.config["OFFICE_ID"],
        sender_name=resident.full_name,
        sender_id=f"okienko:{resident.id}",
        filed_at=submission.filed_at,
        issued_at=issued_at,
        document_id=submission.id,
        document_sha256=bytes.fromhex(submission.document_sha256),
        service=f"{definition.id} {definition.version}",
        document_name=definition.document_name,
    ), seals.current(), _timestamper(submission) if with_timestamp else None)


def receipt_pdf(submission: Submission) -> bytes:
    """The PDF picture of the UPO, made on first request and kept."""
    if submission.upo_pdf_sha256 is not None:
        return submission.upo_pdf or b""
    ensure_receipt(submission)
    c = current_app.config
    document = pdf.render(pdf.ReceiptSheet(
        office_name=c["OFFICE_NAME"],
        office_address=f"{c['OFFICE_STREET']} {c['OFFICE_BUILDING']}, {c['OFFICE_POSTCODE']} {c['OFFICE_TOWN']}",
        receipt_id=submission.receipt_id,
        access_code=access_code(submission.receipt_id),
        resident_name=submission.resident.full_name,
        service_title=forms.definition_of(submission.eservice).title["pl"],
        filed_at=submission.filed_at,
        issued_at=submission.upo_issued_at or submission.filed_at,
        document_sha256=submission.document_sha256,
        attachments=[(str(a["name"]), str(a["sha256"])) for a in submission.attachments or []],
        verification_url=f"{c['BASE_URL'].rstrip('/')}/weryfikacja?upo={submission.receipt_id}",
    ))
    if Path(c["SEAL_CERT"]).exists() and Path(c["SEAL_KEY"]).exists():
        document = pades.seal(document, c["SEAL_CERT"], c["SEAL_KEY"],
                              f"Urzędowe poświadczenie przedłożenia {submission.receipt_id}", c["TSA_URL"] or None)
    try:
        address = storage.put(document)
    except storage.StorageUnavailable as exc:
        # The resident gets the PDF all the same; it is made, and kept, again next time.
        log.warning("the receipt PDF of submission %s is not kept: %s", submission.id, exc)
        return document
    db.session.execute(
        update(Submission).where(Submission.id == submission.id, Submission.upo_pdf_sha256.is_(None))
        .values(upo_pdf_sha256=address)
    )
    db.session.commit()
    db.session.refresh(submission)
    return submission.upo_pdf or document


def submission_for(submission_id: str, resident: Resident) -> Submission | None:
    submission = db.session.get(Submission, submission_id)
    if submission is None or submission.resident_id != resident.id:
        return None
    return submission


def submissions_of(resident: Resident, offset: int = 0, limit: int | None = None) -> list[Submission]:
    """The resident's submissions, newest first (a page of them from `offset`), with their services in one
    more query however many there are.

    The signature verdict and the attachment list (JSON, about 1 KB a row) are left for when they are read:
    the case list, the only caller, shows neither, and parsing them took a tenth of its time at 200 cases."""
    return list(db.session.scalars(
        select(Submission).where(Submission.resident_id == resident.id)
        .order_by(Submission.filed_at.desc(), Submission.id).offset(offset).limit(limit)
        .options(selectinload(Submission.eservice), defer(Submission.verdict), defer(Submission.attachments))
    ))


def count_submissions_of(resident: Resident) -> int:
    return db.session.scalar(select(func.count()).select_from(Submission)
                             .where(Submission.resident_id == resident.id)) or 0


def envelope(submission_id: str) -> Envelope:
    """The parcel for the back office: the signed bytes, the receipt and the metadata."""
    # The resident and the service come in the same query: the dispatcher builds many envelopes.
    submission = db.session.get(Submission, submission_id,
                                options=[joinedload(Submission.resident), joinedload(Submission.eservice)])
    if submission is None:
        raise LookupError(f"no submission {submission_id}")
    ensure_receipt(submission)
    definition = definition_of(submission)
    return Envelope(
        submission_id=submission.id,
        # An item of another channel has no receipt of the portal's: its channel's id names it.
        receipt_id=submission.receipt_id or submission.external_id or "",
        service_id=definition.id,
        service_version=definition.version,
        service_title=definition.title["pl"],
        unit=definition.unit,
        jrwa_class=definition.jrwa_class,
        sender_name=submission.sender,
        filed_at=submission.filed_at,
        document=submission.document,
        document_sha256=submission.document_sha256,
        upo=submission.upo or b"",
        signature=submission.verdict,
        detached_signature=submission.detached_signature,
        reply_to=submission.reply_to,
        channel=submission.channel,
        sender_address=submission.sender_address,
        subject=submission.subject,
        attachments=tuple(
            Attachment(str(a["name"]), str(a["media_type"]), storage.get(str(a["sha256"])), str(a["sha256"]),
                       a.get("signature"))
            for a in submission.attachments or []
        ),
    )

