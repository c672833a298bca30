"""Enveloped XAdES-BES made by the portal itself: the office's seal on receipts and letters."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime

import xmlsec
from lxml import etree

from portal.signing.keys import Seal, xmlsec_key

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"


def _sub(parent: etree._Element, ns: str, local: str, text: str | None = None, **attrib: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{local}", attrib)
    if text is not None:
        element.text = text
    return element


def seal_enveloped(root: etree._Element, seal: Seal, signing_time: datetime,
                   stamp: Callable[[bytes], bytes] | None = None) -> etree._Element:
    """Append an enveloped XAdES-BES signature to `root` and return it; with `stamp` (a TSA), XAdES-T.

    Inclusive C14N is used throughout: it is what every verifier we test against
    (xmlsec1, python-xmlsec, signxml) agrees on for XAdES.
    """
    signature_id = f"Signature-{uuid.uuid4()}"
    properties_id = f"SignedProperties-{uuid.uuid4()}"
    signature = xmlsec.template.create(root, xmlsec.Transform.C14N, xmlsec.Transform.RSA_SHA256, ns="ds")
    signature.set("Id", signature_id)
    root.append(signature)

    document_ref = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="")
    xmlsec.template.add_transform(document_ref, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(document_ref, xmlsec.Transform.C14N)
    properties_ref = xmlsec.template.add_reference(
        signature, xmlsec.Transform.SHA256, uri=f"#{properties_id}", type=SIGNED_PROPERTIES_TYPE
    )
    xmlsec.template.add_transform(properties_ref, xmlsec.Transform.C14N)

    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))

    obj = _sub(signature, DS, "Object")
    qualifying = etree.SubElement(obj, f"{{{XADES}}}QualifyingProperties", {"Target": f"#{signature_id}"},
                                  nsmap={"xades": XADES})
    signed_properties = _sub(qualifying, XADES, "SignedProperties", Id=properties_id)
    signature_properties = _sub(signed_properties, XADES, "SignedSignatureProperties")
    _sub(signature_properties, XADES, "SigningTime", signing_time.isoformat(timespec="seconds"))
    cert = _sub(_sub(signature_properties, XADES, "SigningCertificate"), XADES, "Cert")
    digest = _sub(cert, XADES, "CertDigest")
    _sub(digest, DS, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    _sub(digest, DS, "DigestValue", base64.b64encode(hashlib.sha256(seal.cert_der).digest()).decode())
    issuer_serial = _sub(cert, XADES, "IssuerSerial")
    _sub(issuer_serial, DS, "X509IssuerName", seal.cert.issuer.rfc4514_string())
    _sub(issuer_serial, DS, "X509SerialNumber", str(seal.cert.serial_number))

    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec_key(seal)
    ctx.register_id(signed_properties, "Id")
    ctx.sign(signature)
    if stamp is not None:
        add_signature_timestamp(signature, qualifying, stamp)
    return signature


def signature_value_c14n(signature: etree._Element) -> bytes:
    """What a XAdES SignatureTimeStamp covers: the canonicalised ds:SignatureValue element."""
    return etree.tostring(signature.find(f"{{{DS}}}SignatureValue"), method="c14n")


def add_signature_timestamp(signature: etree._Element, qualifying: etree._Element,
                            stamp: Callable[[bytes], bytes]) -> None:
    token = stamp(signature_value_c14n(signature))
    unsigned = _sub(_sub(qualifying, XADES, "UnsignedProperties"), XADES, "UnsignedSignatureProperties")
    timestamp = _sub(unsigned, XADES, "SignatureTimeStamp", Id=f"TS-{uuid.uuid4()}")
    _sub(timestamp, DS, "CanonicalizationMethod", Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
    _sub(timestamp, XADES, "EncapsulatedTimeStamp", base64.b64encode(token).decode())
