"""PAdES seals on the PDFs the office issues (pyHanko): the UPO's printout, later letters."""

from __future__ import annotations

import io
import threading

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
