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


def check(receipt: bytes, anchors: list[bytes], document: bytes | None = None,
          revocation_mode: str = "soft-fail") -> ReceiptCheck:
    """Is the receipt sealed by a trusted certificate, what does it state, does `document` match it?"""
    verdict = verify.verify(receipt, verify.Policy(trust_anchors=tuple(anchors), revocation_mode=revocation_mode),
                            require_person=False)
    facts = upo.ReceiptFacts(None, None, None, None)
    if verdict.valid:
        facts = upo.read(xmlsafe.parse(receipt))
    matches = None
    if document is not None and facts.document_sha256 is not None:
        matches = hmac.compare_digest(hashlib.sha256(document).digest(), facts.document_sha256)
    reasons = verdict.messages("en")
    if matches is False:
        reasons.append("The document is not the one this receipt covers.")
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
    submission = db.session.scalar(select(Submission).where(Submission.receipt_id == receipt_id.strip().upper()))
    expected = access_code(submission.receipt_id) if submission else access_code("OK-0000-00000000")
    given = code.strip().upper().replace(" ", "")
    if not hmac.compare_digest(expected.replace("-", ""), given.replace("-", "")) or submission is None:
        return None
    return submission
