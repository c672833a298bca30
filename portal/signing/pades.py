"""PAdES seals on the PDFs the office issues (pyHanko): the UPO's printout, later letters."""

from __future__ import annotations

import hashlib
import io
import threading
from typing import Any

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers, timestamps
from pyhanko.sign.fields import SigSeedSubFilter

_signers: dict[tuple[str, str], signers.SimpleSigner] = {}
_lock = threading.Lock()


def _signer(cert_path: str, key_path: str) -> signers.SimpleSigner:
    # Loading the key costs tens of milliseconds: once per process.
    with _lock:
        signer = _signers.get((cert_path, key_path))
        if signer is None:
            signer = signers.SimpleSigner.load(key_path, cert_path)
            if signer is None:
                raise RuntimeError(f"cannot load the seal from {cert_path} and {key_path}")
            _signers[(cert_path, key_path)] = signer
    return signer


def seal(pdf: bytes, cert_path: str, key_path: str, reason: str, tsa_url: str | None = None) -> bytes:
    """The PDF with an invisible PAdES-B (PAdES-T with a TSA) signature of the office's seal."""
    metadata = signers.PdfSignatureMetadata(field_name="PieczecUrzedu", reason=reason, location="Leszno",
                                            subfilter=SigSeedSubFilter.PADES, use_pades_lta=False)
    stamper = timestamps.HTTPTimeStamper(tsa_url, timeout=10) if tsa_url else None
    output = io.BytesIO()
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), metadata, signer=_signer(cert_path, key_path),
                     timestamper=stamper, output=output)
    return output.getvalue()


def verify_pdf(data: bytes, policy: Any) -> dict[str, Any]:
    """Check the last signature of a signed PDF (an answer or decision a clerk uploads).

    Valid only when the signature is intact, covers the whole file (nothing appended after
    signing), and its certificate leads to a trust anchor of `policy` (a `verify.Policy`).
    Returns a verdict shaped like the XML verifier's stored verdicts.
    """
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    from portal.signing import certpath, verify

    verdict: dict[str, Any] = {"indication": verify.TOTAL_FAILED, "valid": False, "reasons": [], "format": "PAdES"}
    try:
        signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    except (PdfReadError, ValueError, KeyError) as exc:
        verdict["reasons"] = [f"not a readable PDF: {exc}"]
        return verdict
    if not signatures:
        verdict["reasons"] = ["the PDF carries no signature"]
        return verdict
    signature = signatures[-1]
    try:
        chain = [signature.signer_cert.dump()] + [c.dump() for c in signature.other_embedded_certs]
    except (ValueError, KeyError) as exc:
        verdict["reasons"] = [f"the signature cannot be validated: {exc}"]
        return verdict
    if certpath.path_to_anchor(chain, policy.trust_anchors) is None:
        # Before any digest or network request: a certificate from nowhere ends the check here.
        verdict["indication"] = verify.INDETERMINATE
        verdict["reasons"] = ["the signer's certificate is not trusted"]
        return verdict
    context = certpath.context(policy.trust_anchors, policy.revocation_mode, policy.fetching)
    try:
        status = certpath.run_coroutine(async_validate_pdf_signature(
            signature, signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(key_usage=set())))
    except (SignatureValidationError, ValueError) as exc:
        verdict["reasons"] = [f"the signature cannot be validated: {exc}"]
        return verdict
    cert = status.signing_cert
    verdict["certificate"] = {"subject": cert.subject.human_friendly, "issuer": cert.issuer.human_friendly,
                              "serial": format(cert.serial_number, "x"),
                              "sha256": hashlib.sha256(cert.dump()).hexdigest()}
    subject = cert.subject.native
    verdict["signer"] = {"name": subject.get("common_name", ""), "given_name": subject.get("given_name"),
                         "family_name": subject.get("surname"), "source": "certificate"}
    if status.signer_reported_dt is not None:
        verdict["signing_time"] = status.signer_reported_dt.isoformat()
    reasons = []
    if not status.intact or not status.valid:
        reasons.append("the signature does not match the document")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        reasons.append("the file was changed after it was signed")
    if not status.trusted:
        reasons.append("the signer's certificate is not trusted")
    if status.revoked:
        reasons.append("the signer's certificate is revoked")
    verdict["reasons"] = reasons
    if not reasons:
        verdict["indication"], verdict["valid"] = verify.TOTAL_PASSED, True
    return verdict
