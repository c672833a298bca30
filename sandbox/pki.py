"""The sandbox's own test PKI: one root CA issuing every certificate the demo needs.

    ca.pem / ca.key                  root "Okienko Sandbox Root CA" (stands for a qualified trust service provider)
    office-seal.pem / .key           the office's electronic seal (receipts, letters)
    office-system.pem / .key         the office's system certificate (WS-Security towards pz.gov.pl)
    tp-seal.pem / .key               the trusted-profile service's seal (stands for the minister's)
    edoreczenia-seal.pem / .key      the e-Doręczenia provider's qualified seal (signs the evidences)
    tsa.pem / .key                   the time-stamping authority
    tsl-signer.pem / .key            the operator of the sandbox trusted list (tsl.xml)
    residents/<PESEL>.pem / .key     demo residents' qualified certificates (serialNumber PNOPL-<PESEL>)
    clerks/<username>.pem / .key     demo clerks' qualified certificates (signing letters and decisions)
    residents/<PESEL>-revoked.*      a certificate the CA has revoked (it is on the CRL)
    residents/<PESEL>-expired.*      a certificate past its validity
    revoked.txt                      serial numbers on the CRL, one per line (hex)

Every end-entity certificate names the CA's CRL at `crl_url`; the sandbox serves a fresh CRL there.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sandbox import people

ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
DEFAULT_CRL_URL = "http://127.0.0.1:5001/pki/ca.crl"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _issue(subject: x509.Name, key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey,
           crl_url: str, *, usage: x509.KeyUsage, eku: list[x509.ObjectIdentifier] | None = None,
           not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
           extensions: tuple[x509.ExtensionType, ...] = (),
           ) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - datetime.timedelta(days=1))
        .not_valid_after(not_after or now + datetime.timedelta(days=365 * 3))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None, crl_issuer=None)]),
            critical=False)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _signing_usage(*, digital_signature: bool = True) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=True, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def _person_name(person: people.Person) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        x509.NameAttribute(NameOID.GIVEN_NAME, person.given_name),
        x509.NameAttribute(NameOID.SURNAME, person.family_name),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNOPL-{person.pesel}"),
        x509.NameAttribute(NameOID.COMMON_NAME, person.name),
    ])


def generate(directory: Path, *, crl_url: str = DEFAULT_CRL_URL, force: bool = False) -> bool:
    """Create the PKI in `directory` unless it is already there; return whether anything was made."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.pem").exists() and not force:
        # A PKI made by an older sandbox gets the certificates added since (clerks, the e-Doręczenia seal).
        missing = [part for part, path in (("clerks", "clerks"), ("seal", "edoreczenia-seal.pem"))
                   if not (directory / path).exists()]
        if not missing:
            return False
        ca_cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
        if "clerks" in missing:
            _clerks(directory, ca_cert, ca_key, crl_url)  # type: ignore[arg-type]
        if "seal" in missing:
            _provider_seal(directory, ca_cert, ca_key, crl_url)  # type: ignore[arg-type]
        return True
    now = _now()
    ca_key = _key()
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Okienko Sandbox"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Okienko Sandbox Root CA"),
    ])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=3650))
        .not_valid_after(now + datetime.timedelta(days=365 * 10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(directory / "ca.key", ca_key)
    _write_cert(directory / "ca.pem", ca_cert)

    def organisation(filename: str, organisation: str, identifier: str, common_name: str,
                     eku: list[x509.ObjectIdentifier] | None = None, digital_signature: bool = True) -> None:
        key = _key()
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(ORGANIZATION_IDENTIFIER, identifier),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ])
        cert = _issue(subject, key, ca_cert, ca_key, crl_url, usage=_signing_usage(digital_signature=digital_signature),
                      eku=eku)
        _write_key(directory / f"{filename}.key", key)
        _write_cert(directory / f"{filename}.pem", cert)

    office, ministry, sandbox = ("Urząd Miasta Leszna", "VATPL-6970011183"), \
        ("Ministerstwo Cyfryzacji (SANDBOX)", "VATPL-5252993224"), ("Okienko Sandbox", "VATPL-0000000000")
    organisation("office-seal", *office, "Urząd Miasta Leszna — pieczęć elektroniczna")
    organisation("office-system", *office, "Urząd Miasta Leszna — certyfikat systemu")
    organisation("tp-seal", *ministry, "Profil Zaufany — pieczęć (SANDBOX)")
    organisation("tsa", *sandbox, "Okienko Sandbox TSA", [ExtendedKeyUsageOID.TIME_STAMPING])
    organisation("tsl-signer", *sandbox, "Okienko Sandbox — operator listy zaufanej")

    residents = directory / "residents"
    residents.mkdir(exist_ok=True)
    revoked: list[int] = []
    for person in people.RESIDENTS:
        # Qualified certificates for signatures typically carry nonRepudiation only.
        usage = _signing_usage(digital_signature=False)
        key = _key()
        cert = _issue(_person_name(person), key, ca_cert, ca_key, crl_url, usage=usage,
                      not_after=now + datetime.timedelta(days=730))
        _write_key(residents / f"{person.pesel}.key", key)
        _write_cert(residents / f"{person.pesel}.pem", cert)
    jan = people.RESIDENTS[0]
    key = _key()
    cert = _issue(_person_name(jan), key, ca_cert, ca_key, crl_url, usage=_signing_usage(digital_signature=False))
    _write_key(residents / f"{jan.pesel}-revoked.key", key)
    _write_cert(residents / f"{jan.pesel}-revoked.pem", cert)
    revoked.append(cert.serial_number)
    key = _key()
    cert = _issue(_person_name(jan), key, ca_cert, ca_key, crl_url, usage=_signing_usage(digital_signature=False),
                  not_before=now - datetime.timedelta(days=800), not_after=now - datetime.timedelta(days=70))
    _write_key(residents / f"{jan.pesel}-expired.key", key)
    _write_cert(residents / f"{jan.pesel}-expired.pem", cert)
    (directory / "revoked.txt").write_text("".join(f"{serial:x}\n" for serial in revoked))
    _clerks(directory, ca_cert, ca_key, crl_url)
    _provider_seal(directory, ca_cert, ca_key, crl_url)
    return True


def _clerks(directory: Path, ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey, crl_url: str) -> None:
    """Qualified certificates of the demo clerks, for signing the office's letters and decisions."""
    folder = directory / "clerks"
    folder.mkdir(exist_ok=True)
    for clerk in people.CLERKS:
        given, _, family = clerk.name.partition(" ")
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            x509.NameAttribute(NameOID.GIVEN_NAME, given),
            x509.NameAttribute(NameOID.SURNAME, family),
            x509.NameAttribute(NameOID.COMMON_NAME, clerk.name),
        ])
        key = _key()
        cert = _issue(subject, key, ca_cert, ca_key, crl_url, usage=_signing_usage(digital_signature=False),
                      not_after=_now() + datetime.timedelta(days=730))
        _write_key(folder / f"{clerk.username}.key", key)
        _write_cert(folder / f"{clerk.username}.pem", cert)


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")


def qualified_seal_statements() -> x509.UnrecognizedExtension:
    """qcStatements (ETSI EN 319 412-5) of a qualified seal: QcCompliance, QcSSCD, QcType = eseal.
    `cryptography` has no type for them, so the DER is written here."""
    sequence = 0x30
    statements = (
        _der(sequence, _oid("0.4.0.1862.1.1"))                                                # QcCompliance
        + _der(sequence, _oid("0.4.0.1862.1.4"))                                              # QcSSCD
        + _der(sequence, _oid("0.4.0.1862.1.6") + _der(sequence, _oid("0.4.0.1862.1.6.2")))  # QcType: eseal
    )
    return x509.UnrecognizedExtension(QC_STATEMENTS, _der(sequence, statements))


def _provider_seal(directory: Path, ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey, crl_url: str) -> None:
    """The e-Doręczenia provider's seal: an organisation's qualified seal, trusted through the sandbox's list."""
    key = _key()
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Operator e-Doręczeń (SANDBOX)"),
        x509.NameAttribute(ORGANIZATION_IDENTIFIER, "VATPL-5250007313"),
        x509.NameAttribute(NameOID.COMMON_NAME, "e-Doręczenia — pieczęć dostawcy usługi (SANDBOX)"),
    ])
    cert = _issue(subject, key, ca_cert, ca_key, crl_url, usage=_signing_usage(),
                  extensions=(qualified_seal_statements(),))
    _write_key(directory / "edoreczenia-seal.key", key)
    _write_cert(directory / "edoreczenia-seal.pem", cert)


def crl(directory: Path) -> bytes:
    """A fresh CRL (DER) listing the revoked serials, valid for a day."""
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - datetime.timedelta(minutes=5))
        .next_update(now + datetime.timedelta(days=1))
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[arg-type]
                       critical=False)
    )
    for line in (directory / "revoked.txt").read_text().split():
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(int(line, 16))
            .revocation_date(now - datetime.timedelta(days=1)).build()
        )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]
