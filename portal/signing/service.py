"""Signing a draft: hand the document to the signing service, take it back, verify it, file it.

Filing a signed document (`file_signed`) is one call for every way it arrives — uploaded with a
qualified signature, fetched back from the trusted profile, retried from the spool — and its
`Filing` is what the page says. Its units of work, each committing once: a refused signature's
audit entry; the stored submission (`inbox.store`); then its receipt (`inbox.try_receipt`). The
submission commits before the receipt is attempted, so nothing is promised without a stored document.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.exc import OperationalError

from portal.audit import service as audit
from portal.auth import service as auth
from portal.extensions import db
from portal.forms import service as forms
from portal.forms.models import Draft
from portal.inbox import service as inbox
from portal.inbox import spool
from portal.inbox.models import Submission
from portal.ops import metrics
from portal.signing import tpsigning, verify
from portal.signing.policy import policy  # noqa: F401 - the doors and the desk take it from here

log = logging.getLogger(__name__)

SIGNATURE_ALLOWANCE = 512 * 1024  # several XAdES-T/LT signatures with their certificates and revocation data


def _tpsigning() -> tpsigning.TpSigningClient:
    c = current_app.config
    return tpsigning.client(c["TPSIGNING_URL"], c["TPSIGNING_WSSE_KEY"] or None, c["TPSIGNING_WSSE_CERT"] or None)


def start_trusted_profile(draft: Draft, success_url: str, failure_url: str) -> str:
    """Prepare the document, give it to TpSigning5 and return where the resident confirms the signature."""
    document = forms.prepare_document(draft)
    title = forms.definition_of(draft.eservice).title["pl"]
    url = _tpsigning().add_document(
        document, success_url, failure_url, f"{current_app.config['OFFICE_NAME']}: {title}"
    )
    draft.signing_ref = url
    draft.state = "signing"
    audit.record("signing.started", "draft", draft.id, method="trusted_profile")
    db.session.commit()
    return url


def fetch_trusted_profile(draft: Draft) -> bytes | None:
    if not draft.signing_ref:
        return None
    return _tpsigning().signed_document(draft.signing_ref)


def document_for_signing(draft: Draft) -> bytes:
    """The exact bytes a resident signs in their own software (a qualified signature)."""
    document = forms.prepare_document(draft)
    audit.record("signing.document_downloaded", "draft", draft.id, method="qualified")
    db.session.commit()
    return document


def check(draft: Draft, signed: bytes) -> verify.Verdict:
    """The portal's verdict on a signed document for this draft and this resident."""
    # A signed document is the prepared one plus its signature(s): anything much larger is refused
    # before it is parsed.
    cap = len(draft.document or b"") + SIGNATURE_ALLOWANCE
    verdict = verify.verify(
        signed,
        policy(max_bytes=cap),
        expected_document=draft.document,
        resident_pesel=auth.resident_pesel(draft.resident),
    )
    audit.record("signature.verified", "draft", draft.id, indication=verdict.indication, reasons=verdict.reasons)
    if not verdict.valid:
        db.session.commit()  # a refusal stays on record; an accepted signature's entry commits with the submission
        metrics.signature_refused(verdict.reasons)
    return verdict


def submitted_before(draft: Draft) -> Submission | None:
    """The submission this draft was filed as, or None while it is not filed: the draft's state answers
    "already submitted?" without a query, the submission is looked up only when there is one."""
    return inbox.by_draft(draft.id) if draft.submitted else None


class Outcome(enum.Enum):
    FILED = "filed"  # the submission is stored (by this request or an earlier one)
    INVALID = "invalid"  # the signature does not hold: nothing is stored, the verdict says why
    KEPT_FOR_RETRY = "kept_for_retry"  # the database or the document store failed: the signed bytes wait
    NOT_SIGNED = "not_signed"  # the trusted profile has no signed document for this draft (yet)
    NOTHING_KEPT = "nothing_kept"  # a retry, but no signed document waits for this draft


@dataclass(frozen=True)
class Filing:
    """What became of a signed document handed in for a draft."""

    outcome: Outcome
    submission: Submission | None = None
    verdict: verify.Verdict | None = None


def file_signed(draft: Draft, signed: bytes) -> Filing:
    """Verify the signed document and accept it; when the database or the document store fails on the way,
    keep the signed bytes for a retry (the resident never signs again). Raises spool.SpoolUnavailable when
    even that fails (a 503 saying the document was not kept, portal/errors.py)."""
    draft_id = draft.id  # read now: after a failed transaction the draft's attributes need the database
    try:
        verdict = check(draft, signed)
    except OperationalError as exc:  # the check reads the resident's PESEL and records the verdict
        db.session.rollback()
        log.warning("could not verify the signed document of draft %s, kept for a retry: %s", draft_id, exc)
        spool.keep(draft_id, signed)
        return Filing(Outcome.KEPT_FOR_RETRY)
    if not verdict.valid:
        return Filing(Outcome.INVALID, verdict=verdict)
    try:
        submission = inbox.accept(draft, signed, verdict)
    except inbox.InboxUnavailable:
        spool.keep(draft_id, signed)
        return Filing(Outcome.KEPT_FOR_RETRY, verdict=verdict)
    spool.done(draft_id)
    return Filing(Outcome.FILED, submission, verdict)


def file_from_trusted_profile(draft: Draft) -> Filing:
    """The resident is back from the trusted profile: fetch the signed document and file it. A return to a
    draft already filed (a reload, a second return) is that filing. Raises tpsigning.SigningServiceError
    when TpSigning5 does not answer."""
    try:
        submitted = submitted_before(draft)
    except OperationalError:
        db.session.rollback()
        submitted = None  # the database struggles: fetch the signed document anyway, so it can be kept
    if submitted is not None:
        return Filing(Outcome.FILED, submitted)
    signed = fetch_trusted_profile(draft)
    if signed is None:
        return Filing(Outcome.NOT_SIGNED)
    return file_signed(draft, signed)


def file_kept(draft: Draft) -> Filing:
    """File again the signed document kept after a failed attempt."""
    submitted = submitted_before(draft)
    if submitted is not None:
        spool.done(draft.id)
        return Filing(Outcome.FILED, submitted)
    signed = spool.waiting(draft.id)
    if signed is None:
        return Filing(Outcome.NOTHING_KEPT)
    return file_signed(draft, signed)
