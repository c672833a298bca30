"""One verification policy for every signed XML document the portal accepts.

The order follows how an appeal court would look at a signature: is the file sane,
does the signature cover the whole document and nothing else, are the algorithms
acceptable, does the cryptography hold, does the certificate lead to a trusted
authority, is the signed content the document we prepared, and is the signer the
resident. The verdict uses the indications of ETSI EN 319 102-1.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import copy
import hashlib
import io
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import xmlsec
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from lxml import etree
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InvalidCertificateError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from portal import xmlsafe
from portal.signing import timestamp

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NAMESPACES = ("http://uri.etsi.org/01903/v1.3.2#", "http://uri.etsi.org/01903/v1.4.1#")
EPSIGNATURE_NS = "http://crd.gov.pl/xml/schematy/podpis_zaufany/"
PODPISZP_NS = "http://crd.gov.pl/xml/schematy/ppzp/"
SIGNED_PROPERTIES_TYPES = {"http://uri.etsi.org/01903#SignedProperties", "http://uri.etsi.org/01903/v1.3.2#SignedProperties"}

TOTAL_PASSED = "TOTAL_PASSED"
TOTAL_FAILED = "TOTAL_FAILED"
INDETERMINATE = "INDETERMINATE"

SIGNATURE_METHODS = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
}
DIGEST_METHODS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": hashlib.sha256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashlib.sha384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashlib.sha512,
}
CANONICALISATIONS = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
}
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
# The only XPath filter accepted: the one TpSigning5 uses, meaning "everything but the signature".
XPATH_EXCLUDING_SIGNATURE = "not(ancestor-or-self::ds:Signature)"

# Plain-words reasons, Polish and English; codes are stable and stored with the verdict.
REASONS: dict[str, tuple[str, str]] = {
    "too_large": ("Plik jest zbyt duży.", "The file is too large."),
    "encoding": ("Dokument musi być zapisany w UTF-8.", "The document must be encoded in UTF-8."),
    "doctype": ("Dokument zawiera deklarację DOCTYPE, której nie przyjmujemy.",
                "The document contains a DOCTYPE declaration, which is not accepted."),
    "malformed": ("Plik nie jest poprawnym dokumentem XML.", "The file is not a well-formed XML document."),
    "no_signature": ("Dokument nie jest podpisany.", "The document is not signed."),
    "detached_without_content": ("To podpis zewnętrzny (oddzielny plik): potrzebny jest też podpisany dokument.",
                                 "This is a detached signature: the signed document is needed too."),
    "several_signatures": ("Dokument zawiera więcej niż jeden podpis.", "The document holds more than one signature."),
    "signature_misplaced": ("Podpis nie znajduje się w elemencie głównym dokumentu.",
                            "The signature is not inside the document's root element."),
    "duplicate_ids": ("Dokument zawiera powtórzone identyfikatory elementów.",
                      "The document repeats element identifiers."),
    "reference_scope": ("Podpis nie obejmuje całego dokumentu.", "The signature does not cover the whole document."),
    "unexpected_reference": ("Podpis zawiera odwołania, których nie przyjmujemy.",
                             "The signature contains references that are not accepted."),
    "unsigned_content": ("Plik zawiera treść, której podpis nie obejmuje.",
                         "The file contains content that the signature does not cover."),
    "manifest": ("Podpis zawiera manifest, którego nie przyjmujemy.",
                 "The signature contains a manifest, which is not accepted."),
    "weak_algorithm": ("Podpis użyto algorytmu, który nie jest już bezpieczny lub nie jest dopuszczony.",
                       "The signature uses an algorithm that is weak or not allowed."),
    "no_certificate": ("Podpis nie zawiera certyfikatu podpisującego.",
                       "The signature does not carry the signing certificate."),
    "cryptography": ("Podpis jest nieważny: dokument lub podpis zmieniono po podpisaniu.",
                     "The signature is invalid: the document or the signature was changed after signing."),
    "no_signed_properties": ("Podpis nie ma wymaganych atrybutów XAdES.",
                             "The signature lacks the required XAdES properties."),
    "signing_certificate": ("Atrybut certyfikatu podpisującego nie zgadza się z certyfikatem.",
                            "The signing-certificate attribute does not match the certificate."),
    "timestamp": ("Znacznik czasu podpisu jest nieprawidłowy.", "The signature's time-stamp is invalid."),
    "untrusted": ("Certyfikatu nie wydał zaufany dostawca usług.",
                  "The certificate was not issued by a trusted provider."),
    "expired": ("Certyfikat podpisującego jest nieważny (wygasł lub jeszcze nie obowiązuje).",
                "The signing certificate is expired or not yet valid."),
    "revoked": ("Certyfikat podpisującego został unieważniony.", "The signing certificate has been revoked."),
    "revocation_unknown": ("Nie udało się sprawdzić, czy certyfikat nie został unieważniony.",
                           "Whether the certificate was revoked could not be checked."),
    "content_mismatch": ("Podpisany dokument różni się od dokumentu przygotowanego w portalu.",
                         "The signed document differs from the document the portal prepared."),
    "no_signer": ("Nie udało się ustalić, kto złożył podpis.", "Who signed could not be determined."),
    "signer_mismatch": ("Podpis złożyła inna osoba niż zalogowany mieszkaniec.",
                        "The document was signed by someone other than the logged-in resident."),
}


class VerificationFailed(Exception):
    def __init__(self, code: str, indication: str = TOTAL_FAILED) -> None:
        self.code = code
        self.indication = indication
        super().__init__(REASONS[code][1])


@dataclass
class Signer:
    given_name: str | None
    family_name: str | None
    pesel: str | None
    source: str  # "EPSignature", "PodpisZP" or "certificate"

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p)


@dataclass
class Verdict:
    indication: str
    reasons: list[str] = field(default_factory=list)
    signer: Signer | None = None
    signing_time: str | None = None
    certificate: dict[str, str] | None = None
    chain: list[str] = field(default_factory=list)
    signer_matches_resident: bool | None = None
    content_matches: bool | None = None
    timestamp: str | None = None  # a verified signature time-stamp (XAdES-T): the time validation uses
    detached: bool = False  # the signature came as a separate file beside the document

    @property
    def valid(self) -> bool:
        return self.indication == TOTAL_PASSED

    def messages(self, lang: str = "pl") -> list[str]:
        index = 0 if lang == "pl" else 1
        return [REASONS[code][index] for code in self.reasons]

    def stored(self) -> dict[str, Any]:
        """The verdict as kept with a submission: no PESEL, only whether it matched."""
        data = asdict(self)
        if data["signer"]:
            data["signer"].pop("pesel", None)
        data["valid"] = self.valid
        return data

    def report(self) -> dict[str, Any]:
        """The verdict as printed by `okienko signature verify`."""
        data = self.stored()
        data["reasons"] = self.messages("en")
        data["reason_codes"] = self.reasons
        data["signer"] = self.signer.name if self.signer else None
        return data


@dataclass(frozen=True)
class Policy:
    trust_anchors: tuple[bytes, ...]  # DER certificates
    revocation_mode: str = "soft-fail"  # "require", "soft-fail" or "offline"
    max_bytes: int = 10 * 1024 * 1024
    accept_embedded_certificate: bool = False  # `--offline` integrity check only

    @classmethod
    def from_pem_files(cls, *paths: str | Path, revocation_mode: str = "soft-fail") -> Policy:
        anchors = [der for path in paths for der in der_certificates(Path(path).read_bytes())]
        return cls(trust_anchors=tuple(anchors), revocation_mode=revocation_mode)


def der_certificates(pem: bytes) -> list[bytes]:
    """Every certificate in a PEM bundle, as DER."""
    return [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]


def _one(parent: etree._Element, path: str) -> etree._Element | None:
    found = parent.findall(path)
    return found[0] if len(found) == 1 else None


def _find_signature(root: etree._Element) -> etree._Element:
    signatures = root.findall(f".//{{{DS}}}Signature")
    if root.tag == f"{{{DS}}}Signature":
        signatures.append(root)
    if not signatures:
        raise VerificationFailed("no_signature")
    if len(signatures) > 1:
        raise VerificationFailed("several_signatures")
    signature = signatures[0]
    if signature is not root and signature.getparent() is not root:
        raise VerificationFailed("signature_misplaced")
    return signature


def _check_ids(root: etree._Element) -> dict[str, etree._Element]:
    ids: dict[str, etree._Element] = {}
    for element in root.iter():
        for name in ("Id", "ID", "id"):
            value = element.get(name)
            if value is None:
                continue
            if value in ids:
                raise VerificationFailed("duplicate_ids")
            ids[value] = element
    return ids


def _signed_properties(signature: etree._Element) -> etree._Element:
    for ns in XADES_NAMESPACES:
        found = signature.findall(f"{{{DS}}}Object/{{{ns}}}QualifyingProperties/{{{ns}}}SignedProperties")
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise VerificationFailed("no_signed_properties")
    raise VerificationFailed("no_signed_properties")


DETACHED_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def _check_shape(root: etree._Element, signature: etree._Element, properties: etree._Element,
                 detached: bool = False) -> str | None:
    """The references must be exactly: the whole document, and this signature's SignedProperties.

    A detached signature (the signature is the root) names the document by a plain file name
    instead; that name is returned, so the caller can hand xmlsec exactly the expected bytes.
    """
    signed_info = _one(signature, f"{{{DS}}}SignedInfo")
    if signed_info is None:
        raise VerificationFailed("cryptography")
    if signature.findall(f".//{{{DS}}}Manifest"):
        raise VerificationFailed("manifest")
    c14n = _one(signed_info, f"{{{DS}}}CanonicalizationMethod")
    method = _one(signed_info, f"{{{DS}}}SignatureMethod")
    if c14n is None or c14n.get("Algorithm") not in CANONICALISATIONS:
        raise VerificationFailed("weak_algorithm")
    if method is None or method.get("Algorithm") not in SIGNATURE_METHODS:
        raise VerificationFailed("weak_algorithm")

    root_id = root.get("Id") or root.get("ID") or root.get("id")
    document_refs, property_refs = [], []
    for reference in signed_info.findall(f"{{{DS}}}Reference"):
        digest = _one(reference, f"{{{DS}}}DigestMethod")
        if digest is None or digest.get("Algorithm") not in DIGEST_METHODS:
            raise VerificationFailed("weak_algorithm")
        uri = reference.get("URI")
        transforms = [t for t in reference.findall(f"{{{DS}}}Transforms/{{{DS}}}Transform")]
        if reference.get("Type") in SIGNED_PROPERTIES_TYPES:
            foreign = any(t.get("Algorithm") not in CANONICALISATIONS for t in transforms)
            if uri != f"#{properties.get('Id')}" or foreign:
                raise VerificationFailed("unexpected_reference")
            property_refs.append(reference)
            continue
        if detached:
            if not uri or not DETACHED_NAME.fullmatch(uri) or uri.startswith("."):
                raise VerificationFailed("unexpected_reference")
            if any(t.get("Algorithm") not in CANONICALISATIONS for t in transforms):
                raise VerificationFailed("unexpected_reference")
            document_refs.append(reference)
            continue
        if uri not in ("", f"#{root_id}" if root_id else ""):
            raise VerificationFailed("reference_scope" if uri and uri.startswith("#") else "unexpected_reference")
        excludes_signature = False
        for transform in transforms:
            algorithm = transform.get("Algorithm")
            if algorithm == ENVELOPED:
                excludes_signature = True
            elif algorithm == XPATH:
                expression = " ".join("".join(transform.itertext()).split())
                if expression != XPATH_EXCLUDING_SIGNATURE:
                    raise VerificationFailed("unexpected_reference")
                excludes_signature = True
            elif algorithm not in CANONICALISATIONS:
                raise VerificationFailed("unexpected_reference")
        if not excludes_signature:
            raise VerificationFailed("reference_scope")
        document_refs.append(reference)
    if len(document_refs) != 1:
        raise VerificationFailed("reference_scope")
    if len(property_refs) != 1:
        raise VerificationFailed("no_signed_properties")
    return document_refs[0].get("URI") if detached else None


def _check_nothing_unsigned(root: etree._Element, signature: etree._Element, properties: etree._Element) -> None:
    """Signature wrapping: the references leave the signature's own ds:Object elements uncovered, so a
    second, unsigned document placed there would verify and be stored with the signed one, and a reader
    looking for the first `wnio:Dokument` below the root would find the forgery. Only the XAdES
    properties may live there, and nothing of the document's own vocabulary inside the signature."""
    qualifying = properties.getparent()
    for holder in signature.findall(f"{{{DS}}}Object"):
        if any(isinstance(child.tag, str) and child is not qualifying for child in holder):
            raise VerificationFailed("unsigned_content")
    namespace = etree.QName(root).namespace
    if signature is not root and namespace and namespace != DS and any(
            isinstance(node.tag, str) and etree.QName(node).namespace == namespace for node in signature.iter()):
        raise VerificationFailed("unsigned_content")


def _certificates(signature: etree._Element) -> list[x509.Certificate]:
    certs = []
    for node in signature.findall(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"):
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode("".join((node.text or "").split()))))
        except ValueError as exc:
            raise VerificationFailed("no_certificate") from exc
    if not certs:
        raise VerificationFailed("no_certificate")
    return certs


# xmlsec reads external references through IO callbacks, global to the process. The portal keeps
# only its own: nothing is ever read from a file or the network while verifying, and a detached
# signature's document is served from memory, exactly the bytes the caller expects.
_detached = threading.local()
_io_lock = threading.Lock()


def _match(name: bytes) -> bool:
    return name.decode(errors="replace") in getattr(_detached, "content", {})


def _memory_io_only() -> None:
    xmlsec.cleanup_callbacks()
    xmlsec.register_callbacks(_match, lambda name: io.BytesIO(_detached.content[name.decode()]),
                              lambda handle, buffer: handle.readinto(buffer), lambda handle: handle.close())


_memory_io_only()


def _check_cryptography(signature: etree._Element, properties: etree._Element, cert: x509.Certificate,
                        detached: tuple[str, bytes] | None = None) -> None:
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(cert.public_bytes(serialization.Encoding.DER), xmlsec.KeyFormat.CERT_DER)
    ctx.register_id(properties, "Id")
    try:
        if detached is None:
            ctx.verify(signature)
            return
        with _io_lock:
            _memory_io_only()  # another library in this process may have registered its own
            _detached.content = {detached[0]: detached[1]}
            try:
                ctx.verify(signature)
            finally:
                _detached.content = {}
    except xmlsec.Error as exc:
        raise VerificationFailed("cryptography") from exc


def _check_signing_certificate(properties: etree._Element, cert: x509.Certificate) -> str | None:
    der = cert.public_bytes(serialization.Encoding.DER)
    digests = []
    for ns in XADES_NAMESPACES:
        for local in ("SigningCertificate", "SigningCertificateV2"):
            digests += properties.findall(f".//{{{ns}}}{local}/{{{ns}}}Cert/{{{ns}}}CertDigest")
    if not digests:
        raise VerificationFailed("no_signed_properties")
    first = digests[0]
    method = _one(first, f"{{{DS}}}DigestMethod")
    value = _one(first, f"{{{DS}}}DigestValue")
    if method is None or value is None or method.get("Algorithm") not in DIGEST_METHODS:
        raise VerificationFailed("weak_algorithm")
    expected = DIGEST_METHODS[method.get("Algorithm")](der).digest()
    if base64.b64decode("".join((value.text or "").split())) != expected:
        raise VerificationFailed("signing_certificate")
    signing_time = None
    for ns in XADES_NAMESPACES:
        node = properties.find(f".//{{{ns}}}SigningTime")
        if node is not None and node.text:
            signing_time = node.text.strip()
    return signing_time


def _run_coroutine(coroutine: Any) -> Any:
    """pyhanko-certvalidator is asynchronous; the portal is not. Run it on a loop of its own, in a
    helper thread when the calling thread already runs one (an async server, a test harness)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


_fetchers: tuple[float, Any] | None = None
_fetchers_lock = threading.Lock()
FETCH_CACHE_SECONDS = 600


def _revocation_fetchers() -> Any:
    """CRLs and OCSP answers fetched with `requests`, cached for ten minutes per process.

    One set of fetchers keeps what it downloaded, so a busy portal does not fetch the CRL for
    every submission; it is replaced regularly so a newly revoked certificate is seen soon.
    """
    global _fetchers
    with _fetchers_lock:
        if _fetchers is None or time.monotonic() - _fetchers[0] > FETCH_CACHE_SECONDS:
            _fetchers = (time.monotonic(), RequestsFetcherBackend(per_request_timeout=10).get_fetchers())
        return _fetchers[1]


TRUST_CACHE_SECONDS = 300
_trusted: dict[tuple[str, str, bool], tuple[float, list[str]]] = {}
_trusted_lock = threading.Lock()


def _signature_timestamp(signature: etree._Element, properties: etree._Element, policy: Policy) -> datetime | None:
    """The time a verified SignatureTimeStamp vouches for, or None when there is none."""
    qualifying = properties.getparent()
    if qualifying is None:
        return None
    tokens = [node for ns in XADES_NAMESPACES
              for node in qualifying.iterfind(f"{{{ns}}}UnsignedProperties/{{{ns}}}UnsignedSignatureProperties/"
                                              f"{{{ns}}}SignatureTimeStamp/{{{ns}}}EncapsulatedTimeStamp")]
    if not tokens:
        return None
    value = signature.find(f"{{{DS}}}SignatureValue")
    if value is None:
        raise VerificationFailed("cryptography")
    try:
        return timestamp.verify_token(base64.b64decode("".join((tokens[0].text or "").split())),
                                      etree.tostring(value, method="c14n"), list(policy.trust_anchors))
    except (timestamp.TimestampFailed, ValueError) as exc:
        raise VerificationFailed("timestamp", INDETERMINATE) from exc


def _check_trust(certs: list[x509.Certificate], policy: Policy, moment: datetime | None = None) -> list[str]:
    """The certificate path, validated; a path found valid is remembered for five minutes.

    Almost every trusted-profile signature carries the same seal certificate, and path building
    costs several milliseconds: re-validating it for each submission would be most of the work.
    Revocation is re-checked when the entry expires (the CRLs themselves are cached ten minutes),
    and never past the end of a certificate's validity.
    """
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    key = (hashlib.sha256(b"".join(ders)).hexdigest(),
           hashlib.sha256(b"".join(sorted(policy.trust_anchors)) + policy.revocation_mode.encode()
                          + (moment.isoformat().encode() if moment else b"")).hexdigest(),
           policy.accept_embedded_certificate)
    now = time.monotonic()
    with _trusted_lock:
        cached = _trusted.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    chain = _validate_path(certs, policy, moment)
    seconds_left = min(c.not_valid_after_utc.timestamp() for c in certs) - time.time()
    if moment is not None:
        seconds_left = TRUST_CACHE_SECONDS  # validated at a fixed past moment: expiry since does not matter
    with _trusted_lock:
        if len(_trusted) > 10_000:
            _trusted.clear()
        _trusted[key] = (now + min(TRUST_CACHE_SECONDS, max(0.0, seconds_left)), chain)
    return chain


def _validate_path(certs: list[x509.Certificate], policy: Policy, moment: datetime | None = None) -> list[str]:
    end_entity = asn1_x509.Certificate.load(certs[0].public_bytes(serialization.Encoding.DER))
    intermediates = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in certs[1:]]
    anchors = [asn1_x509.Certificate.load(der) for der in policy.trust_anchors]
    if policy.accept_embedded_certificate:
        anchors.append(asn1_x509.Certificate.load(certs[-1].public_bytes(serialization.Encoding.DER)))
    offline = policy.revocation_mode == "offline"
    context = ValidationContext(
        trust_roots=anchors,
        allow_fetching=not offline,
        revocation_mode="soft-fail" if offline else policy.revocation_mode,
        fetchers=None if offline else _revocation_fetchers(),
        moment=moment,
    )
    validator = CertificateValidator(end_entity, intermediate_certs=intermediates, validation_context=context)
    try:
        # Qualified certificates often carry only nonRepudiation: no key usage is demanded here.
        path = _run_coroutine(validator.async_validate_usage(key_usage=set()))
    except RevokedError as exc:
        raise VerificationFailed("revoked") from exc
    except PathBuildingError as exc:
        raise VerificationFailed("untrusted", INDETERMINATE) from exc
    except InvalidCertificateError as exc:
        raise VerificationFailed("expired" if "expired" in str(exc) or "not valid" in str(exc) else "untrusted",
                                 INDETERMINATE) from exc
    except PathValidationError as exc:
        message = str(exc).lower()
        if "revocation" in message:
            raise VerificationFailed("revocation_unknown", INDETERMINATE) from exc
        if "expired" in message or "not valid until" in message:
            raise VerificationFailed("expired", INDETERMINATE) from exc
        raise VerificationFailed("untrusted", INDETERMINATE) from exc
    return [cert.subject.human_friendly for cert in path]


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _find_local(element: etree._Element, name: str) -> str | None:
    for node in element.iter():
        if isinstance(node.tag, str) and _local(node) == name and node.text and node.text.strip():
            return node.text.strip()
    return None


def _claimed_role_elements(properties: etree._Element) -> list[etree._Element]:
    """ClaimedRole content: child elements, or (as some producers do) escaped XML text."""
    elements: list[etree._Element] = []
    for ns in XADES_NAMESPACES:
        for role in properties.findall(f".//{{{ns}}}ClaimedRoles/{{{ns}}}ClaimedRole"):
            children = [c for c in role if isinstance(c.tag, str)]
            if children:
                elements.extend(children)
            elif role.text and role.text.strip().startswith("<"):
                try:
                    elements.append(xmlsafe.parse(role.text.strip().encode(), max_bytes=64 * 1024))
                except xmlsafe.UnsafeXml:
                    continue
    return elements


def _signer(properties: etree._Element, cert: x509.Certificate) -> Signer:
    roles = _claimed_role_elements(properties)
    # Both formats occur in production: EPSignature first, then PodpisZP.
    for role in roles:
        if role.tag == f"{{{EPSIGNATURE_NS}}}EPSignature":
            return Signer(_find_local(role, "FirstName"), _find_local(role, "CurrentFamilyName"),
                          _find_local(role, "PersonalIdentifier"), "EPSignature")
    for role in roles:
        if etree.QName(role).namespace == PODPISZP_NS:
            return Signer(_find_local(role, "Imie"), _find_local(role, "Nazwisko"), _find_local(role, "PESEL"),
                          "PodpisZP")
    serial = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    given = cert.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)
    family = cert.subject.get_attributes_for_oid(NameOID.SURNAME)
    pesel = None
    if serial:
        match = re.fullmatch(r"PNOPL-(\d{11})", str(serial[0].value))
        pesel = match.group(1) if match else None
    return Signer(str(given[0].value) if given else None, str(family[0].value) if family else None, pesel,
                  "certificate")


def canonical_without_signature(root: etree._Element) -> bytes:
    clone = copy.deepcopy(root)
    for signature in clone.findall(f"{{{DS}}}Signature"):
        clone.remove(signature)
    return etree.tostring(clone, method="c14n")


def _certificate_summary(cert: x509.Certificate) -> dict[str, str]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }


def verify(
    data: bytes,
    policy: Policy,
    *,
    expected_document: bytes | None = None,
    resident_pesel: str | None = None,
    require_person: bool = True,
    detached_content: bytes | None = None,
) -> Verdict:
    """Check a signed XML document; never raises for a bad document, returns a verdict instead.

    `require_person` is false for seals (receipts, letters), whose signer is an organisation.
    A detached signature (a file holding only `ds:Signature`) is checked against
    `detached_content` (by default the expected document): the only bytes it may cover.
    """
    verdict = Verdict(indication=TOTAL_FAILED)
    try:
        try:
            root = xmlsafe.parse(data, policy.max_bytes)
        except xmlsafe.UnsafeXml as exc:
            raise VerificationFailed(exc.code) from exc
        signature = _find_signature(root)
        _check_ids(root)
        properties = _signed_properties(signature)
        is_detached = verdict.detached = signature is root
        name = _check_shape(root, signature, properties, detached=is_detached)
        _check_nothing_unsigned(root, signature, properties)
        content = detached_content if detached_content is not None else expected_document
        if is_detached and content is None:
            raise VerificationFailed("detached_without_content")
        certs = _certificates(signature)
        verdict.certificate = _certificate_summary(certs[0])
        _check_cryptography(signature, properties, certs[0], (name, content) if is_detached else None)  # type: ignore[arg-type]
        verdict.signing_time = _check_signing_certificate(properties, certs[0])
        stamped_at = _signature_timestamp(signature, properties, policy)
        verdict.timestamp = stamped_at.isoformat() if stamped_at else None
        verdict.signer = _signer(properties, certs[0])
        if is_detached:
            # The digest covered exactly `content`; it is the prepared document or it is not.
            verdict.content_matches = expected_document is None or content == expected_document
            if not verdict.content_matches:
                raise VerificationFailed("content_mismatch")
        elif expected_document is not None:
            expected = canonical_without_signature(xmlsafe.parse(expected_document, policy.max_bytes))
            verdict.content_matches = canonical_without_signature(root) == expected
            if not verdict.content_matches:
                raise VerificationFailed("content_mismatch")
        if require_person and not verdict.signer.pesel:
            raise VerificationFailed("no_signer")
        if resident_pesel is not None:
            verdict.signer_matches_resident = verdict.signer.pesel == resident_pesel
            if not verdict.signer_matches_resident:
                raise VerificationFailed("signer_mismatch")
        verdict.chain = _check_trust(certs, policy, stamped_at)
    except VerificationFailed as failure:
        verdict.indication = failure.indication
        verdict.reasons.append(failure.code)
        return verdict
    verdict.indication = TOTAL_PASSED
    return verdict

