"""The sandbox checks what pz.gov.pl checks of a relying party: a WS-Security signature over the
SOAP body, made with a system certificate its CA issued, with a fresh timestamp."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"


class Unsigned(Exception):
    pass


def check(envelope: etree._Element, ca_pem: Path) -> str:
    """Return the signing system's subject, or raise Unsigned with the reason."""
    security = envelope.find(f"{{{SOAP}}}Header/{{{WSSE}}}Security")
    if security is None:
        raise Unsigned("WS-Security header missing: requests must be signed with the system certificate")
    token = security.find(f"{{{WSSE}}}BinarySecurityToken")
    signature = security.find(f"{{{DS}}}Signature")
    if token is None or signature is None or not token.text:
        raise Unsigned("WS-Security signature or BinarySecurityToken missing")
    cert = x509.load_der_x509_certificate(base64.b64decode(token.text))
    ca = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),  # type: ignore[call-arg]
                               cert.signature_hash_algorithm)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - any failure means: not our CA
        raise Unsigned("the system certificate was not issued by the trusted CA") from exc
    now = datetime.datetime.now(datetime.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise Unsigned("the system certificate is not valid now")
    body = envelope.find(f"{{{SOAP}}}Body")
    timestamp = security.find(f"{{{WSU}}}Timestamp")
    signed_ids = {ref.get("URI", "")[1:] for ref in signature.iter(f"{{{DS}}}Reference")}
    if body is None or body.get(f"{{{WSU}}}Id") not in signed_ids:
        raise Unsigned("the SOAP body is not covered by the signature")
    if timestamp is not None:
        expires = timestamp.findtext(f"{{{WSU}}}Expires")
        if expires and datetime.datetime.fromisoformat(expires.replace("Z", "+00:00")) < now:
            raise Unsigned("the WS-Security timestamp has expired")
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(cert.public_bytes(serialization.Encoding.DER), xmlsec.KeyFormat.CERT_DER)
    for node in envelope.iter():
        if node.get(f"{{{WSU}}}Id"):
            ctx.register_id(node, "Id", WSU)
    try:
        ctx.verify(signature)
    except xmlsec.Error as exc:
        raise Unsigned("the WS-Security signature does not verify") from exc
    return cert.subject.rfc4514_string()
