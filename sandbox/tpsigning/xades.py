"""The trusted-profile signature as pz.gov.pl makes it.

Enveloped XAdES-BES in the document root: exclusive C14N, rsa-sha256, a reference to the
whole document through the XPath filter `not(ancestor-or-self::ds:Signature)`, a reference
to SignedProperties, the service's seal certificate in KeyInfo, and the signer carried in
`SignerRole/ClaimedRoles/ClaimedRole` as `EPSignature` (or the older `PodpisZP`).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import uuid
from collections.abc import Callable

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from sandbox.people import Person

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EPSIGNATURE = "http://crd.gov.pl/xml/schematy/podpis_zaufany/"
PODPISZP = "http://crd.gov.pl/xml/schematy/ppzp/"


def _el(parent: etree._Element, ns: str, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _claimed_role(parent: etree._Element, person: Person, role_format: str, now: datetime.datetime) -> None:
    if role_format == "PodpisZP":
        zp = etree.SubElement(parent, f"{{{PODPISZP}}}PodpisZP", nsmap={"ppzp": PODPISZP})
        dane = _el(_el(zp, PODPISZP, "DaneZP"), PODPISZP, "DaneZPOsobyFizycznej")
        _el(dane, PODPISZP, "Nazwisko", person.family_name)
        _el(dane, PODPISZP, "Imie", person.given_name)
        _el(dane, PODPISZP, "PESEL", person.pesel)
        _el(dane, PODPISZP, "IdKontaUzytkownikaEpuap", f"sandbox_{person.pesel[-4:]}")
        return
    ep = etree.SubElement(parent, f"{{{EPSIGNATURE}}}EPSignature", nsmap={"pz": EPSIGNATURE})
    natural = _el(ep, EPSIGNATURE, "NaturalPerson")
    _el(natural, EPSIGNATURE, "CurrentFamilyName", person.family_name)
    _el(natural, EPSIGNATURE, "FirstName", person.given_name)
    _el(natural, EPSIGNATURE, "DateOfBirth", person.birth_date)
    _el(natural, EPSIGNATURE, "PersonalIdentifier", person.pesel)
    data = _el(ep, EPSIGNATURE, "SignatureData")
    _el(data, EPSIGNATURE, "IdentityIssuer", "login.gov.pl (SANDBOX)")
    _el(data, EPSIGNATURE, "IdentityIssueTimestamp", now.isoformat(timespec="seconds"))


def seal(root: etree._Element, cert_pem: bytes, key_pem: bytes,
         role: Callable[[etree._Element, datetime.datetime], None] | None = None) -> etree._Element:
    """Append an enveloped XAdES-BES signature to `root`, the way pz.gov.pl signs (and the sandbox its lists)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    now = datetime.datetime.now(datetime.UTC)
    signature_id = f"ID-{uuid.uuid4()}"
    properties_id = f"{signature_id}-SignedProperties"

    signature = xmlsec.template.create(root, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256, ns="ds")
    signature.set("Id", signature_id)
    root.append(signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="")
    xpath_transform = xmlsec.template.add_transform(reference, xmlsec.Transform.XPATH)
    _el(xpath_transform, DS, "XPath", "not(ancestor-or-self::ds:Signature)")
    xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
    properties_reference = xmlsec.template.add_reference(
        signature, xmlsec.Transform.SHA256, uri=f"#{properties_id}", type="http://uri.etsi.org/01903#SignedProperties"
    )
    xmlsec.template.add_transform(properties_reference, xmlsec.Transform.EXCL_C14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))

    qualifying = etree.SubElement(_el(signature, DS, "Object"), f"{{{XADES}}}QualifyingProperties",
                                  {"Target": f"#{signature_id}"}, nsmap={"xades": XADES})
    properties = _el(qualifying, XADES, "SignedProperties", Id=properties_id)
    signature_properties = _el(properties, XADES, "SignedSignatureProperties")
    _el(signature_properties, XADES, "SigningTime", now.isoformat(timespec="seconds"))
    cert_element = _el(_el(signature_properties, XADES, "SigningCertificate"), XADES, "Cert")
    digest = _el(cert_element, XADES, "CertDigest")
    _el(digest, DS, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    _el(digest, DS, "DigestValue", base64.b64encode(hashlib.sha256(cert_der).digest()).decode())
    issuer_serial = _el(cert_element, XADES, "IssuerSerial")
    _el(issuer_serial, DS, "X509IssuerName", cert.issuer.rfc4514_string())
    _el(issuer_serial, DS, "X509SerialNumber", str(cert.serial_number))
    _el(_el(signature_properties, XADES, "SignaturePolicyIdentifier"), XADES, "SignaturePolicyImplied")
    if role is not None:
        claimed = _el(_el(_el(signature_properties, XADES, "SignerRole"), XADES, "ClaimedRoles"), XADES, "ClaimedRole")
        role(claimed, now)

    key = xmlsec.Key.from_memory(key_pem, xmlsec.KeyFormat.PEM)
    key.load_cert_from_memory(cert_pem, xmlsec.KeyFormat.PEM)
    ctx = xmlsec.SignatureContext()
    ctx.key = key
    ctx.register_id(properties, "Id")
    ctx.sign(signature)
    return signature


def sign(document: bytes, person: Person, cert_pem: bytes, key_pem: bytes, role_format: str = "EPSignature") -> bytes:
    """The trusted-profile signature: the service's seal, the signer in ClaimedRole."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(document, parser)
    seal(root, cert_pem, key_pem, lambda parent, now: _claimed_role(parent, person, role_format, now))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
