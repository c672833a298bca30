"""Trust anchors for signatures: the EU / Polish trusted lists (ETSI TS 119 612) and the administrator's own.

A trusted list is accepted only if its own XAdES signature verifies and was made by one of the
list operators' certificates the office has pinned (PORTAL_TSL_SIGNERS). Its granted qualified-CA
services become anchors; services no longer granted in a newer list stop being trusted.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app
from sqlalchemy import select

from portal import xmlsafe
from portal.audit import service as audit
from portal.extensions import db
from portal.signing import verify
from portal.signing.models import TrustAnchor

TSL = "http://uri.etsi.org/02231/v2#"
QUALIFIED_CA = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
GRANTED = {"http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted",
           "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/recognisedatnationallevel"}


class TrustListRefused(ValueError):
    pass


@dataclass
class ImportReport:
    territory: str
    sequence: str
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)


def _fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def pinned_signers() -> set[str]:
    path = Path(current_app.config["TSL_SIGNERS"])
    if not path.exists():
        return set()
    return {_fingerprint(c.public_bytes(serialization.Encoding.DER))
            for c in x509.load_pem_x509_certificates(path.read_bytes())}


def import_tsl(data: bytes) -> ImportReport:
    """Check a trusted list's signature and operator, then bring its qualified CAs into the anchors."""
    verdict = verify.verify(data, verify.Policy(trust_anchors=(), revocation_mode="offline",
                                                accept_embedded_certificate=True), require_person=False)
    if not verdict.valid:
        raise TrustListRefused("the list's signature does not verify: " + ", ".join(verdict.messages("en")))
    root = xmlsafe.parse(data)
    signer_der = base64.b64decode("".join(root.findtext(f".//{{{verify.DS}}}X509Certificate", "").split()))
    if _fingerprint(signer_der) not in pinned_signers():
        raise TrustListRefused("the list is signed by a certificate that is not among PORTAL_TSL_SIGNERS")
    ns = {"t": TSL}
    territory = root.findtext("t:SchemeInformation/t:SchemeTerritory", "", ns)
    sequence = root.findtext("t:SchemeInformation/t:TSLSequenceNumber", "", ns)
    source = f"TSL {territory}"
    report = ImportReport(territory, sequence)
    granted: set[str] = set()
    for service in root.iterfind(".//t:TSPService/t:ServiceInformation", ns):
        if service.findtext("t:ServiceTypeIdentifier", "", ns) != QUALIFIED_CA:
            continue
        if service.findtext("t:ServiceStatus", "", ns) not in GRANTED:
            continue
        for node in service.iterfind("t:ServiceDigitalIdentity/t:DigitalId/t:X509Certificate", ns):
            cert = x509.load_der_x509_certificate(base64.b64decode("".join((node.text or "").split())))
            granted.add(_remember(cert, source, report))
    for anchor in db.session.scalars(select(TrustAnchor).where(TrustAnchor.source == source, TrustAnchor.active)):
        if anchor.fingerprint not in granted:
            anchor.active = False
            report.withdrawn.append(anchor.subject)
    forget_anchors()
    audit.record("trust.tsl_imported", "trust_list", f"{territory}/{sequence}", actor=("system", None),
                 added=len(report.added), withdrawn=len(report.withdrawn))
    db.session.commit()
    return report


def _remember(cert: x509.Certificate, source: str, report: ImportReport) -> str:
    der = cert.public_bytes(serialization.Encoding.DER)
    fingerprint = _fingerprint(der)
    anchor = db.session.scalar(select(TrustAnchor).where(TrustAnchor.fingerprint == fingerprint))
    if anchor is None:
        db.session.add(TrustAnchor(fingerprint=fingerprint, subject=cert.subject.rfc4514_string(),
                                   pem=cert.public_bytes(serialization.Encoding.PEM).decode(), source=source))
        report.added.append(cert.subject.rfc4514_string())
    else:
        anchor.active = True
        report.kept.append(anchor.subject)
    return fingerprint


def add_anchor(pem: bytes) -> list[str]:
    """The administrator's own anchors (e.g. a provider not on the list yet)."""
    added = []
    for cert in x509.load_pem_x509_certificates(pem):
        report = ImportReport("", "")
        _remember(cert, "admin", report)
        added += report.added
    forget_anchors()
    audit.record("trust.anchor_added", "trust_anchor", None, subjects=added)
    db.session.commit()
    return added


_anchors: dict[str, tuple[float, list[bytes]]] = {}
ANCHORS_CACHE_SECONDS = 60


def anchors() -> list[bytes]:
    """Every trusted certificate (DER): the configured file and the active stored anchors.

    Read at most once a minute per process: each verification needs them, they change rarely.
    """
    key = current_app.config["TRUST_ANCHORS"] + "|" + current_app.config["SQLALCHEMY_DATABASE_URI"]
    cached = _anchors.get(key)
    if cached is not None and time.monotonic() - cached[0] < ANCHORS_CACHE_SECONDS:
        return cached[1]
    result = _load_anchors()
    _anchors[key] = (time.monotonic(), result)
    return result


def forget_anchors() -> None:
    """After an import or an addition, the new anchors count at once in this process."""
    _anchors.clear()


def _load_anchors() -> list[bytes]:
    result: list[bytes] = []
    path = Path(current_app.config["TRUST_ANCHORS"])
    if path.exists():
        result += verify.der_certificates(path.read_bytes())
    for anchor in db.session.scalars(select(TrustAnchor).where(TrustAnchor.active)):
        result.append(x509.load_pem_x509_certificate(anchor.pem.encode()).public_bytes(serialization.Encoding.DER))
    return result
