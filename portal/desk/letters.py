"""Letters from the office to the resident: checking the clerk's signed file, and the UPD made
when the resident opens it (the delivery moment, KPA art. 46 §3: the date in the UPD)."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import update

from portal.auth.models import Resident
from portal.db_types import utcnow
from portal.desk.models import OutgoingLetter
from portal.extensions import db
from portal.inbox import upo
from portal.signing import pades, seals, verify
from portal.signing import service as signing
from portal.storage import service as storage

MAX_LETTER_BYTES = 20 * 1024 * 1024


NOT_THE_OFFICE_SEAL = "Pismo opatrzono pieczęcią innego podmiotu niż urząd."


def check_signed_file(content: bytes) -> dict[str, object]:
    """The verdict on an uploaded signed letter: PAdES (PDF) or enveloped XAdES (XML), signed by a
    person (a clerk's qualified signature) or by the office's seal, and trusted. A seal of any other
    organisation is refused: a letter of the office bears the office's seal or a person's signature."""
    if content.startswith(b"%PDF"):
        stored = pades.verify_pdf(content, signing.policy())
    else:
        result = verify.verify(content, signing.policy(), require_person=False)
        stored = result.stored()
        stored["format"] = "XAdES"
        stored["reasons"] = result.messages("pl")
        if stored.get("signer"):
            stored["signer"]["name"] = result.signer.name if result.signer else ""
    signer = stored.get("signer") or {}
    a_person = bool(signer.get("given_name") and signer.get("family_name"))
    sealed_by_office = (stored.get("certificate") or {}).get("sha256") in {seals.fingerprint(der)
                                                                           for der in seals.known()}
    if stored.get("valid") and not a_person and not sealed_by_office:
        stored.update(valid=False, indication=verify.TOTAL_FAILED, reasons=[NOT_THE_OFFICE_SEAL])
    return stored


def open_letter(letter: OutgoingLetter, resident: Resident, at: datetime | None = None) -> OutgoingLetter:
    """The resident opens the letter: the first opening is the delivery; its UPD is sealed and kept.
    Later openings change nothing ("first writer wins", as for the UPO). A letter sent through e-Doręczenia or
    the hybrid service is delivered there (its evidence sets the date): reading its copy here makes no UPD."""
    if letter.upd_sha256 is not None or letter.channel != "portal":
        return letter
    received_at = at or utcnow()
    content = storage.get(letter.sha256)
    xml = upo.build_delivery(upo.DeliveryData(
        receipt_id=f"UPD-{letter.case.reference}-{letter.id}",
        office_name=current_app.config["OFFICE_NAME"],
        office_id=current_app.config["OFFICE_ID"],
        addressee_name=resident.full_name,
        addressee_id=f"okienko:{resident.id}",
        received_at=received_at,
        issued_at=utcnow(),
        document_id=str(letter.id),
        document_sha256=bytes.fromhex(storage.digest(content)),
        case_reference=letter.case.reference,
        document_name=letter.title,
    ), seals.current())
    address = storage.put(xml)
    written = db.session.execute(
        update(OutgoingLetter).where(OutgoingLetter.id == letter.id, OutgoingLetter.upd_sha256.is_(None))
        .values(upd_sha256=address, opened_at=received_at).execution_options(synchronize_session=False)
    ).rowcount
    if written:
        from portal.audit import service as audit

        audit.record("desk.letter_delivered", "submission", letter.case.submission_id,
                     actor=("resident", str(resident.id)), letter=letter.id)
    db.session.commit()
    db.session.refresh(letter)
    return letter
