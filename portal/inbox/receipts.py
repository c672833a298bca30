"""Checking a receipt (UPO): the office's seal, the facts it states, and whether a document is the one it covers.

The same check serves the public verification page, its JSON API and `okienko receipt verify`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal import xmlsafe
from portal.extensions import db
from portal.inbox import upo
from portal.inbox.models import Submission
from portal.signing import seals, verify


@dataclass
class ReceiptCheck:
    valid: bool
    seal_valid: bool
    document_matches: bool | None
    receipt_id: str | None
    filed_at: str | None
    document_sha256: str | None
    sealed_by: str | None  # the certificate the seal carries, the office's or not (verified only if the office's)
    timestamp: str | None
    kind: str | None = None  # "UPO" (a receipt of filing) or "UPD" (of a letter's delivery)
    sealed_by_office: bool = False
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Issuer:
    """Whose receipts are checked: the office's name and every certificate its seal has used (DER)."""

    name: str
    seals: tuple[bytes, ...]


NOT_COVERED = ("To nie jest dokument, który to poświadczenie obejmuje.",
               "The document is not the one this receipt covers.")
NOT_SEALED_BY = ("Poświadczenia nie opatrzył pieczęcią {office}: nosi podpis lub pieczęć {sealer}.",
                 "The receipt is not sealed by {office}: it bears the signature or seal of {sealer}.")
NOT_A_RECEIPT = ("To nie jest poświadczenie (UPO ani UPD).", "This is not a receipt (neither UPO nor UPD).")
MAX_RECEIPT_BYTES = 256 * 1024  # a UPO is a few kilobytes; anything larger is refused unread


def check(receipt: bytes, policy: verify.Policy, issuer: Issuer, document: bytes | None = None,
          lang: str = "en") -> ReceiptCheck:
    """Is the receipt sealed by the office (its current seal or an earlier one), what does it state,
    does `document` match it? A seal that verifies but is someone else's — any trusted certificate can
    make a valid signature — is no receipt of this office's.
    The reasons are in `lang` (`pl` or `en`): the public page speaks the visitor's language, the API English."""
    index = 0 if lang == "pl" else 1
    # Only the office's seal certificates are worth verifying: anyone else's file is refused once its
    # certificate is read, before any cryptography — the public check costs an attacker's file nothing.
    verdict = verify.verify(receipt, replace(policy, max_bytes=min(policy.max_bytes, MAX_RECEIPT_BYTES),
                                             signers=issuer.seals), require_person=False)
    sealer = verdict.certificate or {}
    by_office = verdict.valid
    facts = upo.ReceiptFacts(None, None, None, None)
    if verdict.reasons == ["not_the_expected_signer"]:
        reasons = [NOT_SEALED_BY[index].format(office=issuer.name, sealer=sealer.get("subject", "?"))]
    else:
        reasons = verdict.messages(lang)
    if by_office:
        facts = upo.read(xmlsafe.parse(receipt))
        if facts.kind is None or facts.document_sha256 is None:
            reasons.append(NOT_A_RECEIPT[index])
    matches = None
    if document is not None and facts.document_sha256 is not None:
        matches = hmac.compare_digest(hashlib.sha256(document).digest(), facts.document_sha256)
    if matches is False:
        reasons.append(NOT_COVERED[index])
    return ReceiptCheck(
        valid=by_office and facts.kind is not None and facts.document_sha256 is not None and matches is not False,
        seal_valid=verdict.valid,
        document_matches=matches,
        receipt_id=facts.receipt_id,
        filed_at=facts.filed_at,
        document_sha256=facts.document_sha256.hex() if facts.document_sha256 else None,
        sealed_by=sealer.get("subject"),
        timestamp=verdict.timestamp,
        kind=facts.kind,
        sealed_by_office=by_office,
        reasons=reasons,
    )


def office_issuer() -> Issuer:
    """This office, as the issuer whose seal every receipt must bear."""
    return Issuer(current_app.config["OFFICE_NAME"], seals.known())


def find(receipt_id: str, code: str, access_code: Any) -> Submission | None:
    """The submission behind a receipt id and its access code; a wrong id and a wrong code look the same."""
    receipt_id = receipt_id.strip().upper()
    # PostgreSQL refuses text with NUL in it; no receipt id has one, so such an id is simply not found.
    submission = None if "\x00" in receipt_id else db.session.scalar(
        select(Submission).where(Submission.receipt_id == receipt_id))
    expected = access_code(submission.receipt_id) if submission else access_code("OK-0000-00000000")
    given = code.strip().upper().replace(" ", "")
    # Compared as bytes: compare_digest refuses str with non-ASCII letters, which anyone may type.
    if not hmac.compare_digest(expected.replace("-", "").encode(), given.replace("-", "").encode()) \
            or submission is None:
        return None
    return submission


@dataclass
class ReverificationReport:
    checked: int = 0
    valid: int = 0
    without_receipt: int = 0  # stored, receipt not issued yet (the dispatcher or the next page view issues it)
    problems: list[dict[str, str]] = field(default_factory=list)  # {"receipt_id", "submission_id", "problem"}

    @property
    def intact(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "intact": self.intact}


def verify_all(policy: verify.Policy, issuer: Issuer, batch: int = 200) -> ReverificationReport:
    """Check every stored receipt against the document it covers, as after a restore from backup: the seal holds,
    the receipt names this submission, and the stored document's bytes are the ones it was issued for."""
    from portal.storage import service as storage

    report = ReverificationReport()
    last_id = ""
    while True:
        rows = db.session.execute(
            select(Submission.id, Submission.receipt_id, Submission.document_sha256, Submission.upo_sha256)
            .where(Submission.id > last_id).order_by(Submission.id).limit(batch)
        ).all()
        if not rows:
            return report
        for submission_id, receipt_id, document_address, upo_address in rows:
            last_id = submission_id
            if upo_address is None:
                report.without_receipt += 1
                continue
            report.checked += 1
            try:
                result = check(storage.get(upo_address), policy, issuer, storage.get(document_address))
            except KeyError as exc:
                problem = f"missing from the document store: {exc.args[0]}"
            except (storage.BlobCorrupted, storage.StorageUnavailable) as exc:
                problem = str(exc)
            else:
                if not result.valid:
                    problem = "; ".join(result.reasons) or "the receipt does not verify"
                elif result.receipt_id != receipt_id:
                    problem = f"the receipt states {result.receipt_id}, the submission is {receipt_id}"
                else:
                    report.valid += 1
                    continue
            report.problems.append({"receipt_id": receipt_id, "submission_id": submission_id, "problem": problem})
        db.session.expire_all()
