"""PAdES seals on the PDFs the office issues (pyHanko): the UPO's printout, later letters."""

from __future__ import annotations

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
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    from portal.signing import verify

    verdict: dict[str, Any] = {"indication": verify.TOTAL_FAILED, "valid": False, "reasons": [], "format": "PAdES"}
    try:
        signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    except (PdfReadError, ValueError, KeyError) as exc:
        verdict["reasons"] = [f"not a readable PDF: {exc}"]
        return verdict
    if not signatures:
        verdict["reasons"] = ["the PDF carries no signature"]
        return verdict
    offline = policy.revocation_mode == "offline"
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(der) for der in policy.trust_anchors],
                                allow_fetching=not offline,
                                revocation_mode="soft-fail" if offline else policy.revocation_mode,
                                fetchers=None if offline else verify._revocation_fetchers())
    try:
        status = verify._run_coroutine(async_validate_pdf_signature(
            signatures[-1], signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(key_usage=set())))
    except (SignatureValidationError, ValueError) as exc:
        verdict["reasons"] = [f"the signature cannot be validated: {exc}"]
        return verdict
    cert = status.signing_cert
    verdict["certificate"] = {"subject": cert.subject.human_friendly, "issuer": cert.issuer.human_friendly,
                              "serial": format(cert.serial_number, "x")}
    verdict["signer"] = {"name": cert.subject.native.get("common_name", ""), "source": "certificate"}
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
