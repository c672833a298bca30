"""Signing a draft: hand the document to the signing service, take it back, verify it."""

from __future__ import annotations

from flask import current_app

from portal.audit import service as audit
from portal.auth import service as auth
from portal.extensions import db
from portal.forms import service as forms
from portal.forms.models import Draft
from portal.ops import metrics
from portal.signing import tpsigning, verify
from portal.signing.policy import policy  # noqa: F401 - the doors and the desk take it from here

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
