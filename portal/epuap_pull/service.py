"""The pull queue: submissions wait here until the office's EZD fetches them over WS-Pull and confirms receipt.

ePUAP's semantics, kept: `pobierzNastepny` hands out the oldest waiting document and keeps
handing out the same one until `potwierdzOdebranie` names it by its digest (the `skrot`:
Base64 of the SHA-1 of the document's bytes, as ePUAP clients compute it; Base64 of the
SHA-256 is accepted too). Only then does the next document come up.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import logging
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lxml import etree
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from backoffice_adapter.base import Envelope
from portal import xmlsafe
from portal.audit import service as audit
from portal.db_types import utcnow
from portal.epuap_pull import soap, wssec
from portal.epuap_pull.models import CONFIRMED, PENDING, PullItem
from portal.epuap_pull.soap import PulledDocument
from portal.extensions import db

log = logging.getLogger(__name__)

# The namespace of the `daneDodatkowe` XML: Okienko's own, as ePUAP's schema leaves its content open.
EXTRA_NS = "urn:okienko:epuap-pull:dane-dodatkowe:1"
UPO_NS = "http://crd.gov.pl/xml/schematy/UPO/2008/05/09/"


@dataclass(frozen=True)
class Mailbox:
    subject: str  # podmiot
    address: str  # adresSkrytki, e.g. /UMLeszno/skrytka
    client_certs: str  # PEM file

    @property
    def name(self) -> str:
        """nazwaSkrytki: the last part of the address, as ePUAP forms addresses (/podmiot/nazwa)."""
        return PurePosixPath(self.address).name


def mailbox(config: Any) -> Mailbox:
    return Mailbox(subject=str(config.get("EPUAP_PULL_SUBJECT") or "").strip(),
                   address=str(config.get("EPUAP_PULL_MAILBOX") or "").strip(),
                   client_certs=str(config.get("EPUAP_PULL_CLIENT_CERTS") or "").strip())


def check_settings(config: Any) -> None:
    """Raise ValueError naming the setting that keeps an EZD from pulling."""
    box = mailbox(config)
    if not box.subject or len(box.subject) > 100:
        raise ValueError("PORTAL_EPUAP_PULL_SUBJECT must be the office's ePUAP subject id (1-100 characters)")
    if not box.address.startswith("/") or not box.name:
        raise ValueError("PORTAL_EPUAP_PULL_MAILBOX must be an inbox address like /UMLeszno/skrytka")
    if not box.client_certs:
        raise ValueError("PORTAL_EPUAP_PULL_CLIENT_CERTS must name a PEM file with the certificate of each "
                         "document system allowed to pull")
    try:
        certificates = wssec.load_certificates(box.client_certs)
    except (OSError, ValueError) as exc:
        raise ValueError(f"PORTAL_EPUAP_PULL_CLIENT_CERTS: cannot read certificates from {box.client_certs}: "
                         f"{exc}") from exc
    now = utcnow()
    if not any(c.not_valid_before_utc <= now <= c.not_valid_after_utc for c in certificates):
        raise ValueError(f"PORTAL_EPUAP_PULL_CLIENT_CERTS: no certificate in {box.client_certs} is valid now")


def digests(content: bytes) -> tuple[str, str]:
    """The two accepted forms of the `skrot`: Base64 of SHA-1 (ePUAP's) and Base64 of SHA-256."""
    return (base64.b64encode(hashlib.sha1(content, usedforsecurity=False).digest()).decode(),
            base64.b64encode(hashlib.sha256(content).digest()).decode())


def enqueue(envelope: Envelope) -> PullItem:
    """Put a submission in the queue; a submission already there is not queued again. Flushes, never commits."""
    existing = db.session.scalar(select(PullItem).where(PullItem.submission_id == envelope.submission_id))
    if existing is not None:
        return existing
    sha1, sha256 = digests(envelope.document)
    item = PullItem(submission_id=envelope.submission_id, receipt_id=envelope.receipt_id, state=PENDING,
                    digest_sha1=sha1, digest_sha256=sha256, created_at=utcnow(), fetch_count=0)
    try:
        with db.session.begin_nested():
            db.session.add(item)
    except IntegrityError:  # another worker queued it a moment ago (its lease ran out while it was delivering)
        found = db.session.scalar(select(PullItem).where(PullItem.submission_id == envelope.submission_id))
        assert found is not None
        return found
    audit.record("epuap_pull.queued", "submission", envelope.submission_id, actor=("system", None),
                 receipt=envelope.receipt_id)
    return item


def waiting() -> int:
    return int(db.session.scalar(select(func.count()).select_from(PullItem).where(PullItem.state == PENDING)) or 0)


def _names(envelope: Envelope) -> tuple[str, str]:
    """Given and family name: from the signature's claimed role when there, else split from the resident's name."""
    signer = (envelope.signature or {}).get("signer") or {}
    given, family = signer.get("given_name"), signer.get("family_name")
    if given and family:
        return str(given), str(family)
    head, _, last = envelope.sender_name.strip().rpartition(" ")
    return (head, last) if head else ("", last)


def _sender_id(envelope: Envelope) -> str:
    """The resident's portal account as the UPO names it (`okienko:<id>`); never the PESEL."""
    if envelope.upo:
        try:
            root = xmlsafe.parse(envelope.upo)
        except xmlsafe.UnsafeXml:
            root = None
        node = root.find(f"{{{UPO_NS}}}UPP/{{{UPO_NS}}}Nadawca/{{{UPO_NS}}}IdentyfikatorPodmiotu") \
            if root is not None else None
        if node is not None and node.text:
            return node.text.strip()
    return f"okienko:zgloszenie:{envelope.submission_id}"  # no receipt to take the account from


def _file(parent: etree._Element, name: str, file_name: str, media_type: str, content: bytes,
          **attributes: str) -> None:
    element = etree.SubElement(parent, name, nazwaPliku=file_name, format=media_type,
                               sha256=hashlib.sha256(content).hexdigest(), **attributes)
    element.text = base64.b64encode(content).decode()


def additional_data(envelope: Envelope) -> bytes:
    """`daneDodatkowe`: what the EZD registers beside the document and that WS-Pull has no element for.

    The UPO, the detached signature and the attachments travel base64-encoded, so their bytes
    (and the seal over the UPO) arrive unchanged; each attachment names the URN by which the
    signed document's `str:DaneZalacznika` refers to it.
    """
    root = etree.Element(f"{{{EXTRA_NS}}}DaneDodatkowe", nsmap={"okienko": EXTRA_NS})

    def text(name: str, value: str, **attributes: str) -> None:
        etree.SubElement(root, name, **attributes).text = value

    text("IdentyfikatorDokumentu", envelope.submission_id)
    text("IdentyfikatorPoswiadczenia", envelope.receipt_id)
    text("DataDoreczenia", envelope.filed_at.isoformat(timespec="milliseconds"))
    text("Usluga", envelope.service_title, identyfikator=envelope.service_id, wersja=envelope.service_version)
    text("Komorka", envelope.unit)
    text("KlasaJrwa", envelope.jrwa_class)
    text("Kanal", "okienko")
    if envelope.upo:
        _file(root, "UPO", f"UPO-{envelope.receipt_id}.xml", "application/xml", envelope.upo)
    if envelope.detached_signature:
        _file(root, "PodpisZewnetrzny", "dokument.xml.xades", "application/xml", envelope.detached_signature)
    for attachment in envelope.attachments:
        _file(root, "Zalacznik", attachment.name, attachment.media_type, attachment.content,
              uri=f"urn:okienko:zalacznik:sha256:{attachment.sha256}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _envelope(submission_id: str) -> Envelope:
    from portal.inbox import service as inbox  # the inbox delivers to us through the outbox; import at use

    return inbox.envelope(submission_id)


def next_document(caller: wssec.Caller, test: bool) -> PulledDocument | None:
    """The oldest waiting document, marked as handed out to `caller`; None when the queue is empty."""
    item = db.session.scalar(select(PullItem).where(PullItem.state == PENDING)
                             .order_by(PullItem.created_at, PullItem.id).limit(1))
    if item is None:
        return None
    envelope = _envelope(item.submission_id)
    if digests(envelope.document) != (item.digest_sha1, item.digest_sha256):
        raise RuntimeError(f"the stored document of {item.submission_id} no longer matches its queued digest")
    given, family = _names(envelope)
    item.fetched_at = utcnow()
    item.fetch_count += 1
    audit.record("epuap_pull.fetched", "submission", item.submission_id, actor=("system", caller.label),
                 certificate=caller.subject, times=item.fetch_count)
    return PulledDocument(
        file_name=f"{envelope.service_id}-{envelope.receipt_id}.xml",
        media_type="application/xml",
        content=envelope.document,
        sent_at=envelope.filed_at,
        sender_id=_sender_id(envelope),
        given_name=given,
        family_name=family,
        sender_name=envelope.sender_name,
        additional_data=additional_data(envelope),
        test=test,
    )


class Confirmation(enum.Enum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already confirmed"
    UNKNOWN = "unknown"


def confirm(digest: str, caller: wssec.Caller) -> Confirmation:
    """Take the document with this digest out of the queue. A wrong digest changes nothing."""
    digest = "".join(digest.split())
    matches = or_(PullItem.digest_sha1 == digest, PullItem.digest_sha256 == digest)
    query = (select(PullItem).where(PullItem.state == PENDING, matches)
             .order_by(PullItem.created_at, PullItem.id).limit(1))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update()
    item = db.session.scalar(query)
    if item is None:
        # A repeated confirmation (the EZD did not get our first answer) is not an error.
        if db.session.scalar(select(PullItem.id).where(PullItem.state == CONFIRMED, matches).limit(1)):
            return Confirmation.ALREADY_CONFIRMED
        log.warning("WS-Pull confirmation from %s with a digest matching no waiting document", caller.subject)
        return Confirmation.UNKNOWN
    item.state = CONFIRMED
    item.confirmed_at = utcnow()
    item.confirmed_by = caller.subject[:500]
    audit.record("epuap_pull.confirmed", "submission", item.submission_id, actor=("system", caller.label),
                 certificate=caller.subject, receipt=item.receipt_id)
    return Confirmation.CONFIRMED


def refused(reason: str, code: str, subject: str | None, remote_addr: str | None) -> None:
    """Log and audit a request that was not authenticated, in a transaction of its own."""
    log.warning("WS-Pull request refused (%s) from %s, certificate %s: %s", code, remote_addr, subject, reason)
    try:
        audit.record("epuap_pull.refused", None, None, actor=("anonymous", None), code=code, reason=reason[:300],
                     certificate=subject, remote_addr=remote_addr)
        db.session.commit()
    except Exception:  # noqa: BLE001 - the refusal stands even when it cannot be recorded
        db.session.rollback()
        log.exception("could not audit a refused WS-Pull request")


def answer(pull_request: soap.PullRequest, box: Mailbox, caller: wssec.Caller, test: bool) -> etree._Element:
    """Serve one authenticated WS-Pull operation: its SOAP answer, with what it changed (a document handed
    out, a confirmation) committed. On any failure nothing is kept and the error is raised."""
    try:
        if pull_request.operation == "oczekujaceDokumenty":
            element = soap.waiting(waiting())
        elif pull_request.operation == "pobierzNastepny":
            element = soap.next_document(next_document(caller, test=test), box.name, box.address, utcnow())
        elif confirm(pull_request.digest or "", caller) is Confirmation.UNKNOWN:
            element = soap.confirmed(soap.UNKNOWN_DIGEST, "Skrót nie odpowiada żadnemu dokumentowi oczekującemu "
                                                          "w kolejce (the digest matches no waiting document)")
        else:
            element = soap.confirmed(soap.OK, None)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return element
