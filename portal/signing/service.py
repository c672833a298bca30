"""Signing a draft: hand the document to the signing service, take it back, verify it."""

from __future__ import annotations

from flask import current_app

from portal.audit import service as audit
from portal.auth import service as auth
from portal.extensions import db
from portal.forms import service as forms
from portal.forms.models import Draft
from portal.signing import tpsigning, verify


def policy() -> verify.Policy:
    c = current_app.config
    return verify.Policy.from_pem_files(c["TRUST_ANCHORS"], revocation_mode=c["REVOCATION_MODE"])


def start_trusted_profile(draft: Draft, success_url: str, failure_url: str) -> str:
    """Prepare the document, give it to TpSigning5 and return where the resident confirms the signature."""
    document = forms.prepare_document(draft)
    title = forms.definition_of(draft.eservice).title["pl"]
    url = tpsigning.client(current_app.config["TPSIGNING_URL"]).add_document(
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
    return tpsigning.client(current_app.config["TPSIGNING_URL"]).signed_document(draft.signing_ref)


def check(draft: Draft, signed: bytes) -> verify.Verdict:
    """The portal's verdict on a signed document for this draft and this resident."""
    verdict = verify.verify(
        signed,
        policy(),
        expected_document=draft.document,
        resident_pesel=auth.resident_pesel(draft.resident),
    )
    audit.record("signature.verified", "draft", draft.id, indication=verdict.indication, reasons=verdict.reasons)
    db.session.commit()
    return verdict
