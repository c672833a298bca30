"""Checking the WS-Security signature of a WS-Pull request, as the WSDL's policy `#Sign` asks for.

The policy (sign-policy.wsdl): an X.509 token always sent to the recipient (a BinarySecurityToken),
a signed Timestamp, the Body signed, algorithm suite Basic256Sha256. A request passes only when

- the Security header holds one BinarySecurityToken, one ds:Signature and one wsu:Timestamp;
- the token's certificate is one of the configured client certificates (compared by fingerprint;
  the office registers each EZD's certificate, as ePUAP does) and is within its validity period;
- no identifier occurs twice in the message and the signature's references cover exactly the
  Body and the Timestamp that are processed (no signature wrapping), with canonicalisation as
  their only transforms and SHA-256 or stronger digests;
- the signature verifies with the token's key, and the Timestamp is fresh.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree

# Basic256Sha256 means RSA-SHA256 and SHA-256; the office's policy also accepts the stronger members of the
# same families (and ECDSA), as it does in residents' signatures; SHA-1 never.
from portal.signing.algorithms import DIGEST_METHODS, SIGNATURE_METHODS

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
XML_NS = "http://www.w3.org/XML/1998/namespace"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

CANONICALISATIONS = {
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
}

#: A Timestamp's Created may be this far from the portal's clock either way (clock skew plus transit).
TIMESTAMP_WINDOW = timedelta(minutes=5)

# Fault codes of WS-Security 1.0 (section 12), by which a SOAP client learns what was wrong.
INVALID_SECURITY = "InvalidSecurity"
INVALID_TOKEN = "InvalidSecurityToken"  # noqa: S105 - a fault code, not a secret
FAILED_AUTHENTICATION = "FailedAuthentication"
FAILED_CHECK = "FailedCheck"
MESSAGE_EXPIRED = "MessageExpired"


class Refused(Exception):
    """The request is not authenticated; `code` is the WS-Security fault code, `subject` the certificate's (if any)."""

    def __init__(self, code: str, message: str, subject: str | None = None) -> None:
        self.code = code
        self.subject = subject
        super().__init__(message)


@dataclass(frozen=True)
class Caller:
    """The document system that signed the request."""

    subject: str
    fingerprint: str  # SHA-256 of the certificate, hex

    @property
    def label(self) -> str:
        """Short enough for the audit log's actor column."""
        return f"ezd:{self.fingerprint[:16]}"


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


_loaded: dict[str, tuple[tuple[int, int], tuple[x509.Certificate, ...]]] = {}


def load_certificates(path: str) -> tuple[x509.Certificate, ...]:
    """The certificates in a PEM file, read again only when the file changes (an administrator may add an EZD)."""
    file = Path(path)
    stat = file.stat()
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _loaded.get(path)
    if cached is None or cached[0] != key:
        cached = (key, tuple(x509.load_pem_x509_certificates(file.read_bytes())))
        _loaded[path] = cached
    return cached[1]


def _one(parent: etree._Element, tag: str, what: str) -> etree._Element:
    found = parent.findall(tag)
    if len(found) != 1:
        raise Refused(INVALID_SECURITY, f"the Security header must hold exactly one {what} (found {len(found)})")
    return found[0]


def _identifiers(envelope: etree._Element) -> Counter[str]:
    """Every value an XML signature reference could resolve to: wsu:Id, Id, ID, id and xml:id attributes."""
    names = {f"{{{WSU}}}Id", "Id", "ID", "id", f"{{{XML_NS}}}id"}
    values: Counter[str] = Counter()
    for element in envelope.iter(etree.Element):
        for name, value in element.attrib.items():
            if name in names:
                values[value] += 1
    return values


def _parse_time(text: str | None, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise Refused(INVALID_SECURITY, f"the Timestamp's {what} is not an xs:dateTime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # WS-Security times are UTC
    return moment


def _check_timestamp(timestamp: etree._Element, now: datetime) -> None:
    created = _parse_time(timestamp.findtext(f"{{{WSU}}}Created"), "Created")
    if abs(now - created) > TIMESTAMP_WINDOW:
        raise Refused(MESSAGE_EXPIRED, "the WS-Security Timestamp is stale or in the future "
                                       f"(Created {created.isoformat()}, allowed ±{TIMESTAMP_WINDOW})")
    expires_text = timestamp.findtext(f"{{{WSU}}}Expires")
    if expires_text is not None:
        expires = _parse_time(expires_text, "Expires")
        if expires < now or expires < created:
            raise Refused(MESSAGE_EXPIRED, f"the WS-Security Timestamp expired at {expires.isoformat()}")


def _check_signed_info(signature: etree._Element, body_id: str, timestamp_id: str) -> None:
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    if signed_info is None:
        raise Refused(INVALID_SECURITY, "ds:Signature has no SignedInfo")
    c14n = signed_info.find(f"{{{DS}}}CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in CANONICALISATIONS:
        raise Refused(FAILED_CHECK, "unsupported canonicalisation of SignedInfo")
    method = signed_info.find(f"{{{DS}}}SignatureMethod")
    if method is None or method.get("Algorithm") not in SIGNATURE_METHODS:
        raise Refused(FAILED_CHECK, "unsupported signature algorithm (the policy asks for Basic256Sha256: RSA-SHA256)")
    covered = set()
    for reference in signed_info.findall(f"{{{DS}}}Reference"):
        uri = reference.get("URI") or ""
        if not uri.startswith("#") or len(uri) < 2:
            raise Refused(FAILED_CHECK, "every signature reference must point to an element of the message by its Id")
        for transform in reference.iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform"):
            if transform.get("Algorithm") not in CANONICALISATIONS:
                raise Refused(FAILED_CHECK, "signature references may use canonicalisation transforms only")
        digest = reference.find(f"{{{DS}}}DigestMethod")
        if digest is None or digest.get("Algorithm") not in DIGEST_METHODS:
            raise Refused(FAILED_CHECK, "unsupported digest algorithm (SHA-256 or stronger is required)")
        covered.add(uri[1:])
    missing = [what for what, identifier in (("Body", body_id), ("Timestamp", timestamp_id))
               if identifier not in covered]
    if missing:
        raise Refused(FAILED_CHECK, f"the signature does not cover the {' and the '.join(missing)}")


def _certificate(token: etree._Element) -> x509.Certificate:
    if token.get("ValueType", X509V3) != X509V3 or token.get("EncodingType", BASE64_BINARY) != BASE64_BINARY:
        raise Refused(INVALID_TOKEN, "the BinarySecurityToken must be a base64 X.509 v3 certificate")
    try:
        der = base64.b64decode("".join((token.text or "").split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise Refused(INVALID_TOKEN, "the BinarySecurityToken is not an X.509 certificate") from None


def _check(envelope: etree._Element, signature: etree._Element, timestamp: etree._Element,
           certificate: x509.Certificate, trusted: tuple[x509.Certificate, ...], now: datetime) -> None:
    if fingerprint(certificate) not in {fingerprint(c) for c in trusted}:
        raise Refused(FAILED_AUTHENTICATION, "the signing certificate is not registered for pulling from this inbox")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Refused(FAILED_AUTHENTICATION, "the signing certificate is not valid now")
    body = envelope.find(f"{{{SOAP}}}Body")
    body_id = body.get(f"{{{WSU}}}Id") if body is not None else None
    timestamp_id = timestamp.get(f"{{{WSU}}}Id")
    if not body_id or not timestamp_id:
        raise Refused(FAILED_CHECK, "the Body and the Timestamp must carry a wsu:Id and be signed")
    if any(count > 1 for count in _identifiers(envelope).values()):
        raise Refused(FAILED_CHECK, "the message uses an identifier more than once")
    _check_signed_info(signature, body_id, timestamp_id)
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(certificate.public_bytes(serialization.Encoding.DER),
                                         xmlsec.KeyFormat.CERT_DER)
    for element in envelope.iter(etree.Element):
        if element.get(f"{{{WSU}}}Id"):
            context.register_id(element, "Id", WSU)
    try:
        context.verify(signature)
    except xmlsec.Error:
        raise Refused(FAILED_CHECK, "the WS-Security signature does not verify") from None
    # Only a verified Timestamp says anything about freshness.
    _check_timestamp(timestamp, now)


def verify(envelope: etree._Element, trusted: tuple[x509.Certificate, ...], now: datetime | None = None) -> Caller:
    """Return who signed the request, or raise Refused saying why it is not accepted."""
    header = envelope.find(f"{{{SOAP}}}Header")
    securities = header.findall(f"{{{WSSE}}}Security") if header is not None else []
    if len(securities) != 1:
        raise Refused(INVALID_SECURITY, "the request must carry one WS-Security header signed with the "
                                        "document system's certificate")
    security = securities[0]
    token = _one(security, f"{{{WSSE}}}BinarySecurityToken", "BinarySecurityToken")
    signature = _one(security, f"{{{DS}}}Signature", "ds:Signature")
    timestamp = _one(security, f"{{{WSU}}}Timestamp", "wsu:Timestamp")
    certificate = _certificate(token)
    subject = certificate.subject.rfc4514_string()
    try:
        _check(envelope, signature, timestamp, certificate, trusted, now or datetime.now(UTC))
    except Refused as exc:
        exc.subject = subject  # named in the audit entry: which system tried
        raise
    return Caller(subject=subject, fingerprint=fingerprint(certificate))
