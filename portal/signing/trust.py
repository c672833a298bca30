"""Trust anchors for signatures: the EU / Polish trusted lists (ETSI TS 119 612) and the administrator's own.

A trusted list is accepted only if its own XAdES signature verifies and was made by one of the
list operators' certificates the office has pinned (PORTAL_TSL_SIGNERS). Its granted qualified-CA
services become anchors; services no longer granted in a newer list stop being trusted.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from portal import xmlsafe
from portal.audit import service as audit
from portal.extensions import db
from portal.signing import certpath, verify
from portal.signing.models import TrustAnchor, TrustedListImport

TSL = "http://uri.etsi.org/02231/v2#"
log = logging.getLogger(__name__)
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
    # The list's own signature is checked for integrity; trust in it comes from the pinned operator
    # certificate — the very one the signature was verified with, not any certificate the file holds
    # (KeyInfo is not signed: a pinned certificate could be placed there beside the real signer's).
    verdict = verify.verify(data, verify.Policy(trust_anchors=(), revocation_mode="offline",
                                                accept_embedded_certificate=True), require_person=False)
    if not verdict.valid:
        raise TrustListRefused("the list's signature does not verify: " + ", ".join(verdict.messages("en")))
    if len(verdict.signatures) != 1:
        raise TrustListRefused("a trusted list carries exactly one signature, its operator's")
    signer_sha256 = (verdict.certificate or {}).get("sha256")
    if signer_sha256 not in pinned_signers():
        raise TrustListRefused("the list is signed by a certificate that is not among PORTAL_TSL_SIGNERS")
    now = datetime.now(UTC)
    if not (datetime.fromisoformat(verdict.certificate["not_before"]) <= now  # type: ignore[index]
            <= datetime.fromisoformat(verdict.certificate["not_after"])):  # type: ignore[index]
        raise TrustListRefused("the list operator's certificate is expired or not yet valid")
    root = xmlsafe.parse(data)
    ns = {"t": TSL}
    territory = root.findtext("t:SchemeInformation/t:SchemeTerritory", "", ns)
    sequence = root.findtext("t:SchemeInformation/t:TSLSequenceNumber", "", ns)
    next_update = root.findtext("t:SchemeInformation/t:NextUpdate/t:dateTime", "", ns)
    try:
        number = int(sequence)
        due = datetime.fromisoformat(next_update.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TrustListRefused("the list names no sequence number or next update") from exc
    if due < now:
        raise TrustListRefused(f"the list is out of date: its next update was due {next_update}")
    last = db.session.get(TrustedListImport, territory)
    if last is not None and number <= last.sequence:
        # An older list, even genuinely signed, would bring back providers withdrawn since.
        raise TrustListRefused(f"list #{number} is not newer than #{last.sequence}, imported already")
    if last is None:
        db.session.add(TrustedListImport(territory=territory, sequence=number, imported_at=now))
    else:
        last.sequence, last.imported_at = number, now
    source = f"TSL {territory}"
    report = ImportReport(territory, sequence)
    granted: set[str] = set()
    for service in root.iterfind(".//t:TSPService/t:ServiceInformation", ns):
        if service.findtext("t:ServiceTypeIdentifier", "", ns) != QUALIFIED_CA:
            continue
        if service.findtext("t:ServiceStatus", "", ns) not in GRANTED:
            continue
        supply_hosts = certpath.hosts(point.text or "" for point in
                                      service.iterfind("t:ServiceSupplyPoints/t:ServiceSupplyPoint", ns))
        for node in service.iterfind("t:ServiceDigitalIdentity/t:DigitalId/t:X509Certificate", ns):
            cert = x509.load_der_x509_certificate(base64.b64decode("".join((node.text or "").split())))
            granted.add(_remember(cert, source, report, supply_hosts))
    for anchor in db.session.scalars(select(TrustAnchor).where(TrustAnchor.source == source, TrustAnchor.active)):
        if anchor.fingerprint not in granted:
            anchor.active = False
            report.withdrawn.append(anchor.subject)
    forget_anchors()
    audit.record("trust.tsl_imported", "trust_list", f"{territory}/{sequence}", actor=("system", None),
                 added=len(report.added), withdrawn=len(report.withdrawn))
    db.session.commit()
    return report


def _remember(cert: x509.Certificate, source: str, report: ImportReport,
              supply_hosts: frozenset[str] = frozenset()) -> str:
    der = cert.public_bytes(serialization.Encoding.DER)
    fingerprint = _fingerprint(der)
    anchor = db.session.scalar(select(TrustAnchor).where(TrustAnchor.fingerprint == fingerprint))
    hosts = " ".join(sorted(supply_hosts))
    if anchor is None:
        db.session.add(TrustAnchor(fingerprint=fingerprint, subject=cert.subject.rfc4514_string(),
                                   pem=cert.public_bytes(serialization.Encoding.PEM).decode(), source=source,
                                   supply_hosts=hosts))
        report.added.append(cert.subject.rfc4514_string())
    else:
        anchor.active = True
        if source.startswith("TSL"):
            anchor.supply_hosts = hosts  # the newest list says where the provider publishes now
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


@dataclass(frozen=True)
class _Anchors:
    certificates: list[bytes]  # DER
    supply_hosts: frozenset[str]  # where the trusted list says these providers publish revocation data


_anchors: dict[str, tuple[float, _Anchors]] = {}
ANCHORS_CACHE_SECONDS = 60


def _cached_anchors() -> _Anchors:
    """The configured file and the active stored anchors, read at most once a minute per process:
    each verification needs them, they change rarely."""
    key = current_app.config["TRUST_ANCHORS"] + "|" + current_app.config["SQLALCHEMY_DATABASE_URI"]
    cached = _anchors.get(key)
    if cached is not None and time.monotonic() - cached[0] < ANCHORS_CACHE_SECONDS:
        return cached[1]
    try:
        result = _load_anchors()
    except SQLAlchemyError as exc:
        # No database (`okienko signature verify` on a machine that has none, or an outage): the configured
        # file's anchors alone, not remembered, so the stored ones count again as soon as it answers.
        db.session.rollback()
        log.warning("trust anchors from %s only: the database is not available (%s)",
                    current_app.config["TRUST_ANCHORS"], type(exc).__name__)
        return _Anchors(_file_anchors(), frozenset())
    _anchors[key] = (time.monotonic(), result)
    return result


def anchors() -> list[bytes]:
    """Every trusted certificate (DER): the configured file and the active stored anchors."""
    return _cached_anchors().certificates


def fetching() -> certpath.Fetching:
    """Where verification may fetch revocation data from: PORTAL_REVOCATION_HOSTS and the hosts the
    trusted list names for its providers. Nowhere else, whatever a certificate says."""
    configured = certpath.hosts(str(current_app.config["REVOCATION_HOSTS"]).split(","))
    return certpath.Fetching(hosts=configured | _cached_anchors().supply_hosts)


_seal_files: dict[tuple[str, float], tuple[bytes, ...]] = {}


def trusted_profile_seals() -> tuple[bytes, ...]:
    """The trusted-profile service's seal certificates (DER) from PORTAL_TRUSTED_PROFILE_SEALS: the only
    signers whose EPSignature / PodpisZP roles are believed. None configured: no role is believed."""
    return certificates_in(str(current_app.config["TRUSTED_PROFILE_SEALS"]))


def certificates_in(path_setting: str) -> tuple[bytes, ...]:
    """The certificates of a PEM file named by a setting (empty: none), re-read when the file changes."""
    if not path_setting:
        return ()
    path = Path(path_setting)
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return ()
    cached = _seal_files.get(key)
    if cached is None:
        cached = tuple(verify.der_certificates(path.read_bytes()))
        _seal_files[key] = cached
    return cached


def forget_anchors() -> None:
    """After an import or an addition, the new anchors count at once in this process."""
    _anchors.clear()


def _file_anchors() -> list[bytes]:
    path = Path(current_app.config["TRUST_ANCHORS"])
    return verify.der_certificates(path.read_bytes()) if path.exists() else []


def _load_anchors() -> _Anchors:
    result = _file_anchors()
    hosts: set[str] = set()
    for anchor in db.session.scalars(select(TrustAnchor).where(TrustAnchor.active)):
        result.append(x509.load_pem_x509_certificate(anchor.pem.encode()).public_bytes(serialization.Encoding.DER))
        hosts.update((anchor.supply_hosts or "").split())
    return _Anchors(result, frozenset(hosts))
