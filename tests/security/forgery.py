"""What an attacker (or a resident's own signing application) makes, for the trust tests: certificates
from any CA with any extensions, and XML signatures made by xmlsec1 — an implementation the portal does
not share — from templates of every form the portal accepts or refuses."""

from __future__ import annotations

import datetime
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
SIGNED_PROPERTIES = "http://uri.etsi.org/01903#SignedProperties"


@dataclass
class Identity:
    """A certificate and its key, as PEM files (xmlsec1 and pyHanko read files)."""

    cert: x509.Certificate
    key: object
    cert_path: Path
    key_path: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert_path.read_bytes()

    @property
    def key_pem(self) -> bytes:
        return self.key_path.read_bytes()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write(folder: Path, name: str, cert: x509.Certificate, key: object) -> Identity:
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
                                           serialization.NoEncryption()))
    return Identity(cert, key, cert_path, key_path)


def new_ca(folder: Path, name: str = "Attacker Root CA") -> Identity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(_now() - datetime.timedelta(days=1))
            .not_valid_after(_now() + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return _write(folder, "ca", cert, key)


def load(cert_path: Path, key_path: Path) -> Identity:
    return Identity(x509.load_pem_x509_certificate(cert_path.read_bytes()),
                    serialization.load_pem_private_key(key_path.read_bytes(), password=None), cert_path, key_path)


def issue(folder: Path, name: str, ca: Identity, *, pesel: str | None = None, given: str = "Jan",
          family: str = "Kowalski", organisation: str | None = None, key: object | None = None,
          crl_url: str | None = None, aia_url: str | None = None, ocsp_url: str | None = None) -> Identity:
    """An end-entity certificate from `ca`: a person (PNOPL-<pesel>) or an organisation's seal."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if organisation:
        subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                             x509.NameAttribute(NameOID.COMMON_NAME, organisation)])
    else:
        attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"), x509.NameAttribute(NameOID.GIVEN_NAME, given),
                      x509.NameAttribute(NameOID.SURNAME, family),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{given} {family}")]
        if pesel:
            attributes.insert(3, x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNOPL-{pesel}"))
        subject = x509.Name(attributes)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())  # type: ignore[attr-defined]
               .not_valid_before(_now() - datetime.timedelta(days=1))
               .not_valid_after(_now() + datetime.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None, crl_issuer=None)]),
            critical=False)
    access = []
    if aia_url:
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                             x509.UniformResourceIdentifier(aia_url)))
    if ocsp_url:
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                             x509.UniformResourceIdentifier(ocsp_url)))
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    return _write(folder, name, cert, key)


def weak_rsa_key() -> object:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test


def odd_curve_key() -> object:
    return ec.generate_private_key(ec.SECP256K1())


def cert_digest(identity: Identity) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha256(identity.cert.public_bytes(serialization.Encoding.DER)).digest()).decode()


def _properties(identity: Identity, signature_id: str = "S1", properties_id: str = "SP1") -> str:
    return f"""<ds:Object><xades:QualifyingProperties xmlns:xades="{XADES}" Target="#{signature_id}">
<xades:SignedProperties Id="{properties_id}"><xades:SignedSignatureProperties>
<xades:SigningTime>2026-12-01T10:00:00Z</xades:SigningTime>
<xades:SigningCertificate><xades:Cert><xades:CertDigest>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
<ds:DigestValue>{cert_digest(identity)}</ds:DigestValue></xades:CertDigest></xades:Cert>
</xades:SigningCertificate></xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties>
</ds:Object>"""


def _reference(uri: str, transforms: str) -> str:
    return (f'<ds:Reference URI="{uri}"><ds:Transforms>{transforms}</ds:Transforms>'
            '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>')


C14N = '<ds:Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'
ENVELOPED = '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
FILTER2_SIGNATURES = ('<ds:Transform Algorithm="http://www.w3.org/2002/06/xmldsig-filter2">'
                      '<dsig-xpath:XPath xmlns:dsig-xpath="http://www.w3.org/2002/06/xmldsig-filter2" '
                      'Filter="subtract">/descendant::ds:Signature</dsig-xpath:XPath></ds:Transform>')


def signature_template(identity: Identity, document_reference: str, *, objects: str = "",
                       signature_id: str = "S1", properties_id: str = "SP1",
                       method: str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256") -> str:
    """A ds:Signature for xmlsec1 to fill: the given document reference and the SignedProperties'."""
    return f"""<ds:Signature xmlns:ds="{DS}" Id="{signature_id}"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
<ds:SignatureMethod Algorithm="{method}"/>
{document_reference}
<ds:Reference URI="#{properties_id}" Type="{SIGNED_PROPERTIES}"><ds:Transforms>{C14N}</ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>
{objects}{_properties(identity, signature_id, properties_id)}</ds:Signature>"""


def xmlsec1_sign(template: bytes, identity: Identity, folder: Path, *id_attributes: str) -> bytes:
    """Sign a template with the xmlsec1 command-line tool, as a signing application would."""
    source, signed = folder / "template.xml", folder / "signed.xml"
    source.write_bytes(template)
    command = ["xmlsec1", "--sign", "--privkey-pem", f"{identity.key_path},{identity.cert_path}",
               "--id-attr:Id", f"{XADES}:SignedProperties"]
    for element in id_attributes:
        command += ["--id-attr:Id", element]
    result = subprocess.run([*command, "--output", str(signed), str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return signed.read_bytes()


def enveloped_on_root_id(document: bytes, identity: Identity, folder: Path) -> bytes:
    """The whole document signed through `URI="#<root's Id>"`: the root must carry an Id."""
    root = etree.fromstring(document)
    root_id = root.get("Id")
    assert root_id, "the document's root has no Id"
    root.append(etree.fromstring(signature_template(identity, _reference(f"#{root_id}", ENVELOPED + C14N))))
    namespace = etree.QName(root).namespace
    element = f"{namespace}:{etree.QName(root).localname}" if namespace else etree.QName(root).localname
    return xmlsec1_sign(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), identity, folder, element)


def enveloped(document: bytes, identity: Identity, folder: Path,
              method: str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256") -> bytes:
    """The plain form: `URI=""` with the enveloped-signature transform."""
    root = etree.fromstring(document)
    root.append(etree.fromstring(signature_template(identity, _reference("", ENVELOPED + C14N), method=method)))
    return xmlsec1_sign(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), identity, folder)


def enveloped_with_filter2(document: bytes, identity: Identity, folder: Path) -> bytes:
    root = etree.fromstring(document)
    root.append(etree.fromstring(signature_template(identity, _reference("", FILTER2_SIGNATURES + C14N))))
    return xmlsec1_sign(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), identity, folder)


def enveloping(document: bytes, identity: Identity, folder: Path) -> bytes:
    """The document inside the signature's ds:Object, as many Polish signing applications make it."""
    root = etree.fromstring(document)
    template = etree.fromstring(signature_template(identity, _reference("#Dokument-1", C14N),
                                                   objects='<ds:Object Id="Dokument-1"/>'))
    template.find(f"{{{DS}}}Object").append(root)
    return xmlsec1_sign(etree.tostring(template, xml_declaration=True, encoding="UTF-8"), identity, folder,
                        f"{DS}:Object")


def counter_sign(signed: bytes, identity: Identity, folder: Path) -> bytes:
    """A counter-signature over the (first) signature's SignatureValue, in its unsigned properties."""
    root = etree.fromstring(signed)
    signature = root if root.tag == f"{{{DS}}}Signature" else root.find(f"{{{DS}}}Signature")
    value = signature.find(f"{{{DS}}}SignatureValue")
    value.set("Id", "SV-1")  # SignatureValue is not itself signed: an Id may be added for the reference
    qualifying = signature.find(f"{{{DS}}}Object/{{{XADES}}}QualifyingProperties")
    unsigned = etree.SubElement(qualifying, f"{{{XADES}}}UnsignedProperties")
    holder = etree.SubElement(etree.SubElement(unsigned, f"{{{XADES}}}UnsignedSignatureProperties"),
                              f"{{{XADES}}}CounterSignature")
    reference = _reference("#SV-1", C14N).replace(
        "<ds:Reference ", '<ds:Reference Type="http://uri.etsi.org/01903#CountersignedSignature" ')
    holder.append(etree.fromstring(signature_template(identity, reference, signature_id="CS1",
                                                      properties_id="CSP1").replace(
        "<ds:Signature ", f'<ds:Signature xmlns:xades="{XADES}" ', 1)))
    # xmlsec1 signs the first template it finds; the parent is signed already, so sign the counter-signature
    # with python-xmlsec instead, pointing it at exactly that node.
    import xmlsec

    counter = holder.find(f"{{{DS}}}Signature")
    ctx = xmlsec.SignatureContext()
    key = xmlsec.Key.from_file(str(identity.key_path), xmlsec.KeyFormat.PEM)
    key.load_cert_from_file(str(identity.cert_path), xmlsec.KeyFormat.PEM)
    ctx.key = key
    ctx.register_id(value, "Id")
    ctx.register_id(counter.find(f".//{{{XADES}}}SignedProperties"), "Id")
    ctx.sign(counter)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@dataclass
class Listener:
    """A TCP port that records every connection: where an attacker would want the portal to call."""

    port: int
    connections: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def listener() -> Iterator[Listener]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    found = Listener(server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            with connection:
                connection.settimeout(1)
                try:
                    found.connections.append(connection.recv(4096))
                    connection.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    found.connections.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
