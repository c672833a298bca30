"""The office's seal: loaded once per process and thread, because loading a PEM key costs ~40 ms."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization


class SealNotConfigured(RuntimeError):
    pass


@dataclass(frozen=True)
class Seal:
    cert: x509.Certificate
    key_pem: bytes

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


_seals: dict[tuple[str, str], Seal] = {}
_local = threading.local()
_lock = threading.Lock()


def load_seal(cert_path: str, key_path: str) -> Seal:
    cache_key = (cert_path, key_path)
    with _lock:
        seal = _seals.get(cache_key)
        if seal is None:
            for path in (cert_path, key_path):
                if not Path(path).exists():
                    raise SealNotConfigured(
                        f"the office seal file {path} does not exist: set PORTAL_SEAL_CERT and PORTAL_SEAL_KEY "
                        "(or run `make run`, which makes a sandbox seal)"
                    )
            cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
            seal = Seal(cert=cert, key_pem=Path(key_path).read_bytes())
            _seals[cache_key] = seal
    return seal


def xmlsec_key(seal: Seal) -> xmlsec.Key:
    """An xmlsec key with its certificate; one per thread, since xmlsec keys are not shared safely."""
    keys: dict[bytes, xmlsec.Key] = _local.__dict__.setdefault("keys", {})
    fingerprint = seal.cert_der
    key = keys.get(fingerprint)
    if key is None:
        key = xmlsec.Key.from_memory(seal.key_pem, xmlsec.KeyFormat.PEM)
        key.load_cert_from_memory(seal.cert_pem, xmlsec.KeyFormat.PEM)
        keys[fingerprint] = key
    return key
