"""The sandbox time-stamping authority: RFC 3161 over HTTP (`application/timestamp-query`), tokens
signed by the sandbox TSA certificate (pyHanko's in-process stamper does the ASN.1)."""

from __future__ import annotations

import threading
from pathlib import Path

from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

_stampers: dict[Path, DummyTimeStamper] = {}
_lock = threading.Lock()


def _stamper(pki: Path) -> DummyTimeStamper:
    with _lock:
        if pki not in _stampers:
            cert = asn1_x509.Certificate.load(_der(pki / "tsa.pem"))
            key = serialization.load_pem_private_key((pki / "tsa.key").read_bytes(), password=None)
            der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
            _stampers[pki] = DummyTimeStamper(tsa_cert=cert, tsa_key=keys.PrivateKeyInfo.load(der_key))
        return _stampers[pki]


def _der(path: Path) -> bytes:
    from cryptography import x509

    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)


def respond(pki: Path, request_der: bytes) -> bytes:
    request = tsp.TimeStampReq.load(request_der)
    return _stamper(pki).request_tsa_response(request).dump()
