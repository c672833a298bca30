"""The sandbox's own test PKI: one root CA issuing every certificate the demo needs.

    ca.pem / ca.key                  root "Sandbox Root CA" (stands for the national trust list)
    office-seal.pem / .key           the office's electronic seal (receipts, letters)
    tp-seal.pem / .key               the trusted-profile service's seal (stands for the minister's)
    tsa.pem / .key                   the time-stamping authority
    residents/<PESEL>.pem / .key     demo residents' qualified certificates (serialNumber PNOPL-<PESEL>)
    idp-<n>.pem                      the identity providers' token-signing keys
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


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(subject: x509.Name, key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey,
           *, usage: x509.KeyUsage, eku: list[x509.ObjectIdentifier] | None = None, years: int = 3) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return builder.sign(ca_key, hashes.SHA256())


def _signing_usage(*, digital_signature: bool = True) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=True, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def generate(directory: Path, *, force: bool = False) -> bool:
    """Create the PKI in `directory` unless it is already there; return whether anything was made."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.pem").exists() and not force:
        return False
    now = datetime.datetime.now(datetime.UTC)
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
        .not_valid_before(now - datetime.timedelta(days=1))
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

    def seal(filename: str, organisation: str, identifier: str, common_name: str,
             eku: list[x509.ObjectIdentifier] | None = None) -> None:
        key = _key()
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(ORGANIZATION_IDENTIFIER, identifier),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ])
        cert = _issue(subject, key, ca_cert, ca_key, usage=_signing_usage(), eku=eku)
        _write_key(directory / f"{filename}.key", key)
        _write_cert(directory / f"{filename}.pem", cert)

    seal("office-seal", "Urząd Miasta Leszna", "VATPL-6970011183", "Urząd Miasta Leszna — pieczęć elektroniczna")
    seal("tp-seal", "Ministerstwo Cyfryzacji (SANDBOX)", "VATPL-5252993224", "Profil Zaufany — pieczęć (SANDBOX)")
    seal("tsa", "Okienko Sandbox", "VATPL-0000000000", "Okienko Sandbox TSA", [ExtendedKeyUsageOID.TIME_STAMPING])

    residents = directory / "residents"
    residents.mkdir(exist_ok=True)
    for person in people.RESIDENTS:
        key = _key()
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            x509.NameAttribute(NameOID.GIVEN_NAME, person.given_name),
            x509.NameAttribute(NameOID.SURNAME, person.family_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNOPL-{person.pesel}"),
            x509.NameAttribute(NameOID.COMMON_NAME, person.name),
        ])
        # Qualified certificates for signatures typically carry nonRepudiation only.
        cert = _issue(subject, key, ca_cert, ca_key, usage=_signing_usage(digital_signature=False), years=2)
        _write_key(residents / f"{person.pesel}.key", key)
        _write_cert(residents / f"{person.pesel}.pem", cert)
    return True
