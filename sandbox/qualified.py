"""A stand-in for the resident's own signing software (Szafir, proCertum SmartSign …): XAdES-BES
with a qualified certificate from the sandbox CA, enveloped in the document or detached beside it."""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import threading
import uuid

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
PROOF_OF_APPROVAL = "http://uri.etsi.org/01903/v1.2.2#ProofOfApproval"

# xmlsec resolves a detached reference through its IO callbacks, which are global to the process:
# for each detached signature ours replace them (under a lock) and serve the document from memory.
_files = threading.local()
_io_lock = threading.Lock()


def _match(name: bytes) -> bool:
    return name.decode() in getattr(_files, "content", {})


def _use_memory_io() -> None:
    xmlsec.cleanup_callbacks()
    xmlsec.register_callbacks(_match, lambda name: io.BytesIO(_files.content[name.decode()]),
                              lambda handle, buffer: handle.readinto(buffer), lambda handle: handle.close())


def _el(parent: etree._Element, ns: str, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _signature(holder: etree._Element, cert: x509.Certificate, uri: str, enveloped: bool) -> tuple[etree._Element,
                                                                                                    etree._Element]:
    signature_id = f"Signature-{uuid.uuid4()}"
    properties_id = f"SignedProperties-{uuid.uuid4()}"
    signature = xmlsec.template.create(holder, xmlsec.Transform.C14N, xmlsec.Transform.RSA_SHA256, ns="ds")
    signature.set("Id", signature_id)
    holder.append(signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri=uri)
    if enveloped:
        xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
        xmlsec.template.add_transform(reference, xmlsec.Transform.C14N)
    properties_reference = xmlsec.template.add_reference(
        signature, xmlsec.Transform.SHA256, uri=f"#{properties_id}", type="http://uri.etsi.org/01903#SignedProperties")
    xmlsec.template.add_transform(properties_reference, xmlsec.Transform.C14N)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature)))
    qualifying = etree.SubElement(_el(signature, DS, "Object"), f"{{{XADES}}}QualifyingProperties",
                                  {"Target": f"#{signature_id}"}, nsmap={"xades": XADES})
    properties = _el(qualifying, XADES, "SignedProperties", Id=properties_id)
    signed_signature = _el(properties, XADES, "SignedSignatureProperties")
    _el(signed_signature, XADES, "SigningTime", datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    cert_element = _el(_el(signed_signature, XADES, "SigningCertificate"), XADES, "Cert")
    digest = _el(cert_element, XADES, "CertDigest")
    _el(digest, DS, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    _el(digest, DS, "DigestValue", base64.b64encode(hashlib.sha256(
        cert.public_bytes(serialization.Encoding.DER)).digest()).decode())
    issuer = _el(cert_element, XADES, "IssuerSerial")
    _el(issuer, DS, "X509IssuerName", cert.issuer.rfc4514_string())
    _el(issuer, DS, "X509SerialNumber", str(cert.serial_number))
    data_properties = _el(properties, XADES, "SignedDataObjectProperties")
    commitment = _el(data_properties, XADES, "CommitmentTypeIndication")
    _el(_el(commitment, XADES, "CommitmentTypeId"), XADES, "Identifier", PROOF_OF_APPROVAL)
    _el(commitment, XADES, "AllSignedDataObjects")
    return signature, properties


def sign(document: bytes, cert_pem: bytes, key_pem: bytes, *, detached_name: str | None = None) -> bytes:
    """Sign `document`: enveloped (the signed document comes back) or detached (a separate .xades file)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = xmlsec.Key.from_memory(key_pem, xmlsec.KeyFormat.PEM)
    key.load_cert_from_memory(cert_pem, xmlsec.KeyFormat.PEM)
    ctx = xmlsec.SignatureContext()
    ctx.key = key
    if detached_name is None:
        root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
        signature, properties = _signature(root, cert, "", enveloped=True)
        ctx.register_id(properties, "Id")
        ctx.sign(signature)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    holder = etree.Element(f"{{{DS}}}Holder", nsmap={"ds": DS})  # xmlsec needs a tree; the signature is taken out
    signature, properties = _signature(holder, cert, detached_name, enveloped=False)
    ctx.register_id(properties, "Id")
    with _io_lock:
        _use_memory_io()
        _files.content = {detached_name: document}
        try:
            ctx.sign(signature)
        finally:
            _files.content = {}
    return etree.tostring(signature, xml_declaration=True, encoding="UTF-8")


def sign_pdf(pdf: bytes, cert_pem: bytes, key_pem: bytes) -> bytes:
    """A PAdES signature over the whole PDF, as desktop signing software makes one (pyHanko)."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        cert_registry=SimpleCertificateStore())
    metadata = signers.PdfSignatureMetadata(field_name="Podpis", subfilter=SigSeedSubFilter.PADES)
    output = io.BytesIO()
    signers.PdfSigner(metadata, signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=output)
    return output.getvalue()
