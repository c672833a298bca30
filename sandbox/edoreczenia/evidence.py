"""Evidence documents (dowody doręczenia) signed by the provider's seal.

Enveloped XAdES-BES: inclusive C14N, rsa-sha256, one reference to the whole document (URI="" with the
enveloped-signature transform, which signxml, xmlsec1 and the portal's verifier all accept), one to the
SignedProperties (SigningTime, SigningCertificateV2), the seal certificate in KeyInfo.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import uuid

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

EV = "urn:okienko:sandbox:edoreczenia:evidence:1"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"


def _el(parent: etree._Element, ns: str, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def document(*, evidence_id: str, code: str, event_time: datetime.datetime, message_id: str, sender: str,
             recipient: str, digest: str, fiction: bool | None = None, reason: str | None = None) -> etree._Element:
    root = etree.Element(f"{{{EV}}}Evidence", {"Id": f"ev-{evidence_id}"}, nsmap={"ev": EV})
    _el(root, EV, "EvidenceIdentifier", evidence_id)
    _el(root, EV, "EvidenceType", code)
    _el(root, EV, "EventTime", utc(event_time))
    _el(root, EV, "MessageIdentifier", message_id)
    _el(root, EV, "SenderAddress", sender)
    _el(root, EV, "RecipientAddress", recipient)
    _el(root, EV, "ContentDigest", digest, Algorithm="SHA3-256")
    if fiction is not None:
        _el(root, EV, "ReceiptFiction", "true" if fiction else "false")
    if reason is not None:
        _el(root, EV, "ReasonCode", reason)
    return root


def seal(root: etree._Element, cert_pem: bytes, key_pem: bytes, signing_time: datetime.datetime) -> bytes:
    """Sign `root` in place with an enveloped XAdES-BES signature and return the document's bytes."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    signature_id = f"Signature-{uuid.uuid4()}"
    properties_id = f"SignedProperties-{uuid.uuid4()}"
    signature = xmlsec.template.create(root, xmlsec.Transform.C14N, xmlsec.Transform.RSA_SHA256, ns="ds")
    signature.set("Id", signature_id)
    root.append(signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="")
    xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(reference, xmlsec.Transform.C14N)
    properties_reference = xmlsec.template.add_reference(
        signature, xmlsec.Transform.SHA256, uri=f"#{properties_id}", type="http://uri.etsi.org/01903#SignedProperties"
    )
    xmlsec.template.add_transform(properties_reference, xmlsec.Transform.C14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))

    qualifying = etree.SubElement(_el(signature, DS, "Object"), f"{{{XADES}}}QualifyingProperties",
                                  {"Target": f"#{signature_id}"}, nsmap={"xades": XADES})
    properties = _el(qualifying, XADES, "SignedProperties", Id=properties_id)
    signature_properties = _el(properties, XADES, "SignedSignatureProperties")
    _el(signature_properties, XADES, "SigningTime", utc(signing_time))
    cert_element = _el(_el(signature_properties, XADES, "SigningCertificateV2"), XADES, "Cert")
    digest = _el(cert_element, XADES, "CertDigest")
    _el(digest, DS, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    _el(digest, DS, "DigestValue", base64.b64encode(hashlib.sha256(cert_der).digest()).decode())

    key = xmlsec.Key.from_memory(key_pem, xmlsec.KeyFormat.PEM)
    key.load_cert_from_memory(cert_pem, xmlsec.KeyFormat.PEM)
    ctx = xmlsec.SignatureContext()
    ctx.key = key
    ctx.register_id(properties, "Id")
    ctx.sign(signature)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def tamper(signed: bytes) -> bytes:
    """One byte of the signed content changed (the first character of the evidence identifier)."""
    marker = b"<ev:EvidenceIdentifier>"
    at = signed.index(marker) + len(marker)
    replacement = b"0" if signed[at:at + 1] != b"0" else b"1"
    return signed[:at] + replacement + signed[at + 1:]
