"""The verification policy against signatures made by the sandbox (an implementation the portal
does not share) and by xmlsec1, and against the attacks an appeal court would worry about."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from portal.forms import definitions, document, schemas
from portal.signing import verify
from sandbox import people
from sandbox.tpsigning import xades as sandbox_xades

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
DS = "http://www.w3.org/2000/09/xmldsig#"
JAN = people.resident("80010112357")


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    letter = definitions.read_folder(CATALOG / "pismo-ogolne")
    return document.build(
        letter.definition, schemas.compile_schema(letter.xsd_text),
        {"rodzaj": "wniosek", "tytul": "Wniosek", "tresc": "Proszę o naprawę.", "miejscowosc": "Leszno"},
        document.Sender("Jan", "Kowalski", "80010112357", {"locality": "Leszno"}),
        document.Addressee("Urząd Miasta Leszna", "ul. Kazimierza Karasia", "15", "64-100", "Leszno"),
        "draft-1", date(2026, 11, 25),
    )


def tp_sign(pki: Path, data: bytes, role_format: str = "EPSignature") -> bytes:
    return sandbox_xades.sign(data, JAN, (pki / "tp-seal.pem").read_bytes(), (pki / "tp-seal.key").read_bytes(),
                              role_format)


def policy(pki: Path) -> verify.Policy:
    return verify.Policy.from_pem_files(pki / "ca.pem", revocation_mode="offline",
                                        trusted_profile_seals=(pki / "tp-seal.pem",))


@pytest.mark.parametrize("role_format", ["EPSignature", "PodpisZP"])
def test_trusted_profile_signature_verifies_and_names_the_signer(pki: Path, unsigned: bytes, role_format: str) -> None:
    verdict = verify.verify(tp_sign(pki, unsigned, role_format), policy(pki), expected_document=unsigned,
                            resident_pesel="80010112357")
    assert verdict.indication == verify.TOTAL_PASSED, verdict.reasons
    assert verdict.signer is not None and verdict.signer.name == "Jan Kowalski"
    assert verdict.signer.source == role_format
    assert verdict.content_matches and verdict.signer_matches_resident
    assert "Okienko Sandbox Root CA" in verdict.chain[0]


def test_sandbox_signature_verifies_with_xmlsec1(pki: Path, unsigned: bytes, tmp_path: Path) -> None:
    signed = tmp_path / "signed.xml"
    signed.write_bytes(tp_sign(pki, unsigned))
    result = subprocess.run(["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem", str(pki / "ca.pem"),
                             "--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties", str(signed)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_signature_made_by_xmlsec1_verifies_in_the_portal(pki: Path, tmp_path: Path) -> None:
    """Interop: a template signed by an implementation nobody here wrote."""
    template = tmp_path / "template.xml"
    template.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<Dokument xmlns="urn:test"><Tresc>Zażółć gęślą jaźń</Tresc><ds:Signature xmlns:ds="{DS}" Id="S1">
<ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
<ds:Reference URI="#SP1" Type="http://uri.etsi.org/01903#SignedProperties"><ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>
<ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#S1">
<xades:SignedProperties Id="SP1"><xades:SignedSignatureProperties>
<xades:SigningTime>2026-11-25T10:00:00Z</xades:SigningTime>
<xades:SigningCertificate><xades:Cert><xades:CertDigest><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
<ds:DigestValue>{cert_digest(pki / "residents" / "80010112357.pem")}</ds:DigestValue></xades:CertDigest></xades:Cert>
</xades:SigningCertificate></xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties>
</ds:Object></ds:Signature></Dokument>""", encoding="utf-8")
    signed = tmp_path / "signed.xml"
    key = pki / "residents" / "80010112357.key"
    cert = pki / "residents" / "80010112357.pem"
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}", "--id-attr:Id",
                    "http://uri.etsi.org/01903/v1.3.2#:SignedProperties", "--output", str(signed), str(template)],
                   check=True, capture_output=True)
    verdict = verify.verify(signed.read_bytes(), policy(pki), resident_pesel="80010112357")
    assert verdict.valid, verdict.reasons
    assert verdict.signer is not None and verdict.signer.source == "certificate"


def cert_digest(path: Path) -> str:
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_tampered_content_is_refused(pki: Path, unsigned: bytes) -> None:
    signed = tp_sign(pki, unsigned).replace("Proszę o naprawę.".encode(), "Proszę o wypłatę.".encode())
    verdict = verify.verify(signed, policy(pki))
    assert verdict.indication == verify.TOTAL_FAILED and verdict.reasons == ["cryptography"]


def test_tampered_signed_properties_are_refused(pki: Path, unsigned: bytes) -> None:
    signed = tp_sign(pki, unsigned).replace(b"<pz:FirstName>Jan<", b"<pz:FirstName>Janusz<")
    assert verify.verify(signed, policy(pki)).reasons == ["cryptography"]


def test_signed_content_other_than_the_prepared_document_is_refused(pki: Path, unsigned: bytes) -> None:
    other = unsigned.replace("Proszę o naprawę.".encode(), "Inna treść.".encode())
    verdict = verify.verify(tp_sign(pki, other), policy(pki), expected_document=unsigned)
    assert verdict.reasons == ["content_mismatch"]


def test_signer_other_than_the_resident_is_refused(pki: Path, unsigned: bytes) -> None:
    verdict = verify.verify(tp_sign(pki, unsigned), policy(pki), resident_pesel="92051702482")
    assert verdict.reasons == ["signer_mismatch"]


def test_untrusted_certificate_is_indeterminate(pki: Path, unsigned: bytes, tmp_path: Path) -> None:
    other = tmp_path / "other-pki"
    subprocess.run([sys.executable, "-m", "sandbox", "pki", str(other)], check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parents[2])
    verdict = verify.verify(tp_sign(other, unsigned), policy(pki))
    assert verdict.indication == verify.INDETERMINATE and verdict.reasons == ["untrusted"]


def test_wrapped_content_is_refused(pki: Path, unsigned: bytes) -> None:
    """XSW: the signed root is moved aside and an unsigned document put in its place."""
    root = etree.fromstring(tp_sign(pki, unsigned))
    signature = root.find(f"{{{DS}}}Signature")
    fake = copy.deepcopy(root)
    fake.remove(fake.find(f"{{{DS}}}Signature"))
    for node in fake.iter("{http://crd.gov.pl/wzor/2013/12/12/1410/}Informacja"):
        node.text = "Treść podmieniona"
    wrapper = etree.SubElement(signature.find(f"{{{DS}}}Object"), "Oryginal")
    wrapper.append(copy.deepcopy(root))
    root.remove(signature)
    fake.append(signature)
    verdict = verify.verify(etree.tostring(fake), policy(pki), expected_document=unsigned)
    assert not verdict.valid


def test_reference_to_an_element_instead_of_the_root_is_refused(pki: Path, unsigned: bytes) -> None:
    signed = tp_sign(pki, unsigned).replace(b'<ds:Reference URI="">', b'<ds:Reference URI="#x">')
    assert verify.verify(signed, policy(pki)).reasons == ["reference_scope"]


def test_a_copied_second_signature_is_refused(pki: Path, unsigned: bytes) -> None:
    """Co-signatures are verified one by one (tests/security/test_signing_apps.py); a copy of the same
    signature beside it repeats its ids, which no genuine co-signature does."""
    root = etree.fromstring(tp_sign(pki, unsigned))
    root.append(copy.deepcopy(root.find(f"{{{DS}}}Signature")))
    assert verify.verify(etree.tostring(root), policy(pki)).reasons == ["duplicate_ids"]


def test_sha1_is_refused(pki: Path, unsigned: bytes) -> None:
    signed = tp_sign(pki, unsigned).replace(b"xmldsig-more#rsa-sha256", b"xmldsig#rsa-sha1")
    assert verify.verify(signed, policy(pki)).reasons == ["weak_algorithm"]


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><d>&b;</d>',
    b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://example.invalid/d.dtd"><d/>',
])
def test_dtds_and_entities_are_refused_before_parsing(pki: Path, payload: bytes) -> None:
    assert verify.verify(payload, policy(pki)).reasons == ["doctype"]


def test_unsigned_document_is_refused(pki: Path, unsigned: bytes) -> None:
    assert verify.verify(unsigned, policy(pki)).reasons == ["no_signature"]


def qualified_sign(pki: Path, data: bytes, who: str = "80010112357", detached: str | None = None) -> bytes:
    from sandbox import qualified

    return qualified.sign(data, (pki / "residents" / f"{who}.pem").read_bytes(),
                          (pki / "residents" / f"{who}.key").read_bytes(), detached_name=detached)


def test_qualified_enveloped_signature_names_the_signer_from_the_certificate(pki: Path, unsigned: bytes) -> None:
    verdict = verify.verify(qualified_sign(pki, unsigned), policy(pki), expected_document=unsigned,
                            resident_pesel="80010112357")
    assert verdict.valid, verdict.reasons
    assert verdict.signer.source == "certificate" and verdict.signer.name == "Jan Kowalski"


def test_qualified_detached_signature_covers_exactly_the_prepared_document(pki: Path, unsigned: bytes) -> None:
    signature = qualified_sign(pki, unsigned, detached="wniosek.xml")
    assert verify.verify(signature, policy(pki), expected_document=unsigned, resident_pesel="80010112357").valid
    other = unsigned.replace("Proszę o naprawę.".encode(), "Inna treść.".encode())
    assert verify.verify(signature, policy(pki), expected_document=other).reasons == ["cryptography"]
    assert verify.verify(signature, policy(pki)).reasons == ["detached_without_content"]


def test_a_detached_reference_outside_a_plain_file_name_is_refused(pki: Path, unsigned: bytes) -> None:
    signature = qualified_sign(pki, unsigned, detached="wniosek.xml").replace(
        b'URI="wniosek.xml"', b'URI="file:///etc/passwd"')
    assert verify.verify(signature, policy(pki), expected_document=unsigned).reasons == ["unexpected_reference"]


def test_expired_certificate_is_indeterminate(pki: Path, unsigned: bytes) -> None:
    verdict = verify.verify(qualified_sign(pki, unsigned, "80010112357-expired"), policy(pki))
    assert verdict.indication == verify.INDETERMINATE and verdict.reasons == ["expired"]


def test_revoked_certificate_is_refused_from_the_live_crl(pki: Path, unsigned: bytes, sandbox_url: str) -> None:
    online = verify.Policy.from_pem_files(pki / "ca.pem", revocation_mode="require", fetch_hosts=(sandbox_url,))
    verdict = verify.verify(qualified_sign(pki, unsigned, "80010112357-revoked"), online)
    assert verdict.indication == verify.TOTAL_FAILED and verdict.reasons == ["revoked"]
    assert verify.verify(qualified_sign(pki, unsigned), online).valid  # the CRL does not list this one


def test_required_revocation_check_without_a_reachable_crl_is_indeterminate(pki: Path, unsigned: bytes,
                                                                          tmp_path: Path) -> None:
    other = tmp_path / "pki"
    subprocess.run([sys.executable, "-m", "sandbox", "pki", str(other), "--crl-url", "http://127.0.0.1:9/ca.crl"],
                   check=True, capture_output=True, cwd=Path(__file__).resolve().parents[2])
    online = verify.Policy.from_pem_files(other / "ca.pem", revocation_mode="require",
                                          fetch_hosts=("127.0.0.1:9",))
    verdict = verify.verify(qualified_sign(other, unsigned), online)
    assert verdict.indication == verify.INDETERMINATE and verdict.reasons == ["revocation_unknown"]


def test_a_wrong_signing_certificate_digest_is_refused(pki: Path, unsigned: bytes, tmp_path: Path) -> None:
    """The SignedProperties name another certificate: signed consistently, but not by the one in KeyInfo."""
    template = tmp_path / "t.xml"
    signed = tmp_path / "s.xml"
    template.write_text(XMLSEC1_TEMPLATE.format(digest="A" * 43 + "="), encoding="utf-8")
    key, cert = pki / "residents" / "80010112357.key", pki / "residents" / "80010112357.pem"
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}", "--id-attr:Id",
                    "http://uri.etsi.org/01903/v1.3.2#:SignedProperties", "--output", str(signed), str(template)],
                   check=True, capture_output=True)
    assert verify.verify(signed.read_bytes(), policy(pki)).reasons == ["signing_certificate"]


def test_duplicate_ids_are_refused(pki: Path, unsigned: bytes) -> None:
    signed = tp_sign(pki, unsigned).replace(b"<wnio:Tytul>", b'<wnio:Tytul Id="x">').replace(
        b"<wnio:MiejscowoscDokumentu>", b'<wnio:MiejscowoscDokumentu Id="x">')
    assert verify.verify(signed, policy(pki)).reasons == ["duplicate_ids"]


def test_an_unknown_algorithm_is_refused(pki: Path, unsigned: bytes) -> None:
    signed = tp_sign(pki, unsigned).replace(b"xmldsig-more#rsa-sha256", b"xmldsig-more#rsa-whirlpool")
    assert verify.verify(signed, policy(pki)).reasons == ["weak_algorithm"]


def test_a_signature_in_the_default_namespace_verifies(pki: Path, tmp_path: Path) -> None:
    """`xmlns="…xmldsig#"` without a prefix trips sub-tree canonicalisation in some libraries."""
    template = tmp_path / "t.xml"
    signed = tmp_path / "s.xml"
    template.write_text(XMLSEC1_TEMPLATE.format(digest=cert_digest(pki / "residents" / "80010112357.pem"))
                        .replace("ds:", "").replace('xmlns:ds="', 'xmlns="'), encoding="utf-8")
    key, cert = pki / "residents" / "80010112357.key", pki / "residents" / "80010112357.pem"
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}", "--id-attr:Id",
                    "http://uri.etsi.org/01903/v1.3.2#:SignedProperties", "--output", str(signed), str(template)],
                   check=True, capture_output=True)
    verdict = verify.verify(signed.read_bytes(), policy(pki))
    assert verdict.valid, verdict.reasons


XMLSEC1_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Dokument xmlns:x="urn:test"><x:Tresc>Zażółć gęślą jaźń</x:Tresc>
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="S1">
<ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
<ds:Reference URI="#SP1" Type="http://uri.etsi.org/01903#SignedProperties"><ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>
<ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#S1">
<xades:SignedProperties Id="SP1"><xades:SignedSignatureProperties>
<xades:SigningTime>2026-11-25T10:00:00Z</xades:SigningTime>
<xades:SigningCertificate><xades:Cert><xades:CertDigest><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
<ds:DigestValue>{digest}</ds:DigestValue></xades:CertDigest></xades:Cert>
</xades:SigningCertificate></xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties>
</ds:Object></ds:Signature></Dokument>"""
