"""Checking a receipt (UPO): the office's seal, the facts it states, and whether a document is the one it covers.

The same check serves the public verification page, its JSON API and `okienko receipt verify`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from portal import xmlsafe
from portal.extensions import db
from portal.inbox import upo
from portal.inbox.models import Submission
from portal.signing import verify


@dataclass
class ReceiptCheck:
    valid: bool
    seal_valid: bool
    document_matches: bool | None
    receipt_id: str | None
    filed_at: str | None
    document_sha256: str | None
    sealed_by: str | None
    timestamp: str | None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


NOT_COVERED = ("To nie jest dokument, który to poświadczenie obejmuje.",
               "The document is not the one this receipt covers.")


def check(receipt: bytes, anchors: list[bytes], document: bytes | None = None,
          revocation_mode: str = "soft-fail", lang: str = "en") -> ReceiptCheck:
    """Is the receipt sealed by a trusted certificate, what does it state, does `document` match it?
    The reasons are in `lang` (`pl` or `en`): the public page speaks the visitor's language, the API English."""
    verdict = verify.verify(receipt, verify.Policy(trust_anchors=tuple(anchors), revocation_mode=revocation_mode),
                            require_person=False)
    facts = upo.ReceiptFacts(None, None, None, None)
    if verdict.valid:
        facts = upo.read(xmlsafe.parse(receipt))
    matches = None
    if document is not None and facts.document_sha256 is not None:
        matches = hmac.compare_digest(hashlib.sha256(document).digest(), facts.document_sha256)
    reasons = verdict.messages(lang)
    if matches is False:
        reasons.append(NOT_COVERED[0 if lang == "pl" else 1])
    return ReceiptCheck(
        valid=verdict.valid and matches is not False,
        seal_valid=verdict.valid,
        document_matches=matches,
        receipt_id=facts.receipt_id,
        filed_at=facts.filed_at,
        document_sha256=facts.document_sha256.hex() if facts.document_sha256 else None,
        sealed_by=(verdict.certificate or {}).get("subject") if verdict.valid else None,
        timestamp=verdict.timestamp,
        reasons=reasons,
    )


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


def verify_all(anchors: list[bytes], revocation_mode: str = "soft-fail", batch: int = 200) -> ReverificationReport:
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
                result = check(storage.get(upo_address), anchors, storage.get(document_address), revocation_mode)
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
