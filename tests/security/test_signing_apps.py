"""The genuine signatures of real signing applications are accepted — and every widening keeps the
wrapping defences: each form below is signed by xmlsec1 (or python-xmlsec), accepted, and its tampered copy
is refused by the digest check itself ("cryptography"), not by a shape rule that runs first."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from portal.forms import definitions, document, schemas
from portal.signing import verify
from sandbox import qualified
from sandbox.tpsigning import xades as sandbox_xades
from tests.security import forgery

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
REPO = Path(__file__).resolve().parents[2]
JAN, ANNA = "80010112357", "92051702482"


@pytest.fixture(scope="module")
def prepared() -> bytes:
    letter = definitions.read_folder(CATALOG / "pismo-ogolne")
    return document.build(
        letter.definition, schemas.compile_schema(letter.xsd_text),
        {"rodzaj": "wniosek", "tytul": "Wniosek", "tresc": "Proszę o naprawę.", "miejscowosc": "Leszno"},
        document.Sender("Jan", "Kowalski", JAN, {"locality": "Leszno"}),
        document.Addressee("Urząd Miasta Leszna", "ul. Kazimierza Karasia", "15", "64-100", "Leszno"),
        "draft-1", date(2026, 12, 3),
    )


def policy(pki: Path) -> verify.Policy:
    return verify.Policy.from_pem_files(pki / "ca.pem", revocation_mode="offline",
                                        trusted_profile_seals=(pki / "tp-seal.pem",))


def resident(pki: Path, pesel: str = JAN) -> forgery.Identity:
    return forgery.load(pki / "residents" / f"{pesel}.pem", pki / "residents" / f"{pesel}.key")


def tampered(signed: bytes) -> bytes:
    changed = signed.replace("Proszę o naprawę.".encode(), "Proszę o wypłatę.".encode())
    assert changed != signed
    return changed


def test_a_reference_to_the_root_by_its_id_is_accepted(pki: Path, tmp_path: Path) -> None:
    """`URI="#D1"` names the root element by its Id: the whole document, as `URI=""` does. The root's Id used
    never to be registered, so such a signature was refused as changed after signing."""
    with_id = b'<?xml version="1.0" encoding="UTF-8"?>\n<Dokument xmlns="urn:test" Id="D1"><Tresc>' \
              + "Proszę o naprawę.".encode() + b"</Tresc></Dokument>"
    signed = forgery.enveloped_on_root_id(with_id, resident(pki), tmp_path)
    verdict = verify.verify(signed, policy(pki), expected_document=with_id, resident_pesel=JAN)
    assert verdict.valid, verdict.reasons
    assert verify.verify(tampered(signed), policy(pki), expected_document=with_id).reasons == ["cryptography"]


def test_an_id_reference_to_another_element_than_the_root_stays_refused(pki: Path, tmp_path: Path) -> None:
    """Signing only a part of the document by its Id leaves the rest unsigned."""
    partial = b'<Dokument xmlns="urn:test"><Tresc Id="T1">A</Tresc><Inne>B</Inne></Dokument>'
    root = etree.fromstring(partial)
    root.append(etree.fromstring(forgery.signature_template(resident(pki), forgery._reference(
        "#T1", forgery.C14N))))
    signed = forgery.xmlsec1_sign(etree.tostring(root), resident(pki), tmp_path, "urn:test:Tresc")
    assert verify.verify(signed, policy(pki)).reasons == ["reference_scope"]


def test_an_enveloping_signature_of_the_prepared_document_is_accepted(pki: Path, prepared: bytes,
                                                                      tmp_path: Path) -> None:
    """The document inside the signature's ds:Object, a common output of Polish signing applications."""
    signed = forgery.enveloping(prepared, resident(pki), tmp_path)
    verdict = verify.verify(signed, policy(pki), expected_document=prepared, resident_pesel=JAN)
    assert verdict.valid, verdict.reasons
    assert verdict.form == "enveloping" and verdict.signature_apart and verdict.content_matches
    assert verify.verify(tampered(signed), policy(pki), expected_document=prepared).reasons == ["cryptography"]


def test_an_enveloping_signature_of_another_document_is_refused(pki: Path, prepared: bytes, tmp_path: Path) -> None:
    other = prepared.replace("Proszę o naprawę.".encode(), "Inna treść.".encode())
    signed = forgery.enveloping(other, resident(pki), tmp_path)
    assert verify.verify(signed, policy(pki)).valid  # a sound signature …
    assert verify.verify(signed, policy(pki), expected_document=prepared).reasons == ["content_mismatch"]  # … of other


def test_an_enveloping_signature_with_a_second_unsigned_object_is_refused(pki: Path, prepared: bytes,
                                                                          tmp_path: Path) -> None:
    """Wrapping: a forged document beside the signed one, in an object no reference covers."""
    root = etree.fromstring(forgery.enveloping(prepared, resident(pki), tmp_path))
    forged = etree.SubElement(root, f"{{{forgery.DS}}}Object")
    forged.append(etree.fromstring(tampered(prepared)))
    assert verify.verify(etree.tostring(root), policy(pki), expected_document=prepared).reasons == ["unsigned_content"]


def co_signed(pki: Path, data: bytes) -> bytes:
    """Jan and Anna each sign the whole document with the XPath transform that leaves out every signature
    (parallel co-signatures, as TpSigning5 makes them)."""
    root = etree.fromstring(data)
    for pesel in (JAN, ANNA):
        identity = resident(pki, pesel)
        sandbox_xades.seal(root, identity.cert_pem, identity.key_pem)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_co_signatures_are_each_verified_and_each_signer_reported(pki: Path, prepared: bytes) -> None:
    signed = co_signed(pki, prepared)
    verdict = verify.verify(signed, policy(pki), expected_document=prepared, resident_pesel=ANNA)
    assert verdict.valid, verdict.reasons
    assert [(s.role, s.signer.name) for s in verdict.signatures] == [("signature", "Jan Kowalski"),
                                                                       ("signature", "Anna Nowak")]
    assert verdict.signer.name == "Anna Nowak" and verdict.signer_matches_resident
    assert verify.verify(tampered(signed), policy(pki), expected_document=prepared).reasons == ["cryptography"]
    assert verify.verify(signed, policy(pki), resident_pesel="44051401458").reasons == ["signer_mismatch"]


def test_one_broken_co_signature_fails_the_whole(pki: Path, prepared: bytes) -> None:
    root = etree.fromstring(co_signed(pki, prepared))
    second = root.findall(f"{{{forgery.DS}}}Signature")[1]
    value = second.find(f"{{{forgery.DS}}}SignatureValue")
    value.text = "A" + value.text[1:] if value.text[0] != "A" else "B" + value.text[1:]
    assert verify.verify(etree.tostring(root), policy(pki), expected_document=prepared).reasons == ["cryptography"]


def test_a_counter_signature_is_verified_and_reported(pki: Path, prepared: bytes, tmp_path: Path) -> None:
    signed = forgery.counter_sign(qualified.sign(prepared, resident(pki).cert_pem, resident(pki).key_pem),
                                  resident(pki, ANNA), tmp_path)
    verdict = verify.verify(signed, policy(pki), expected_document=prepared, resident_pesel=JAN)
    assert verdict.valid, verdict.reasons
    assert [(s.role, s.signer.name) for s in verdict.signatures] == [("signature", "Jan Kowalski"),
                                                                       ("counter-signature", "Anna Nowak")]
    broken = etree.fromstring(signed)
    counter = broken.find(f".//{{{forgery.XADES}}}CounterSignature/{{{forgery.DS}}}Signature")
    counter.find(f"{{{forgery.DS}}}SignedInfo/{{{forgery.DS}}}Reference/{{{forgery.DS}}}DigestValue").text = \
        "A" * 43 + "="
    assert verify.verify(etree.tostring(broken), policy(pki), expected_document=prepared).reasons == ["cryptography"]


def test_the_xpath_filter_2_transform_is_accepted(pki: Path, prepared: bytes, tmp_path: Path) -> None:
    signed = forgery.enveloped_with_filter2(prepared, resident(pki), tmp_path)
    verdict = verify.verify(signed, policy(pki), expected_document=prepared, resident_pesel=JAN)
    assert verdict.valid, verdict.reasons
    assert verify.verify(tampered(signed), policy(pki), expected_document=prepared).reasons == ["cryptography"]


def test_an_xpath_filter_2_cutting_out_anything_but_signatures_is_refused(pki: Path, prepared: bytes,
                                                                          tmp_path: Path) -> None:
    """`ds` bound to the document's namespace in the filter would subtract the document's own elements."""
    signed = forgery.enveloped_with_filter2(prepared, resident(pki), tmp_path)
    rebound = signed.replace(b'xmlns:dsig-xpath="http://www.w3.org/2002/06/xmldsig-filter2"',
                             b'xmlns:dsig-xpath="http://www.w3.org/2002/06/xmldsig-filter2" '
                             b'xmlns:ds="http://crd.gov.pl/wzor/2013/12/12/1410/"')
    assert rebound != signed
    assert verify.verify(rebound, policy(pki)).reasons == ["unexpected_reference"]


def test_offline_verification_checks_the_integrity_only_and_says_so(pki: Path, prepared: bytes,
                                                                     tmp_path: Path) -> None:
    """`--offline` promises the integrity of the file only: an expired certificate does not fail it, and the
    certificate's validity period is reported as a fact."""
    expired = forgery.load(pki / "residents" / f"{JAN}-expired.pem", pki / "residents" / f"{JAN}-expired.key")
    signed = tmp_path / "signed.xml"
    signed.write_bytes(qualified.sign(prepared, expired.cert_pem, expired.key_pem))
    env = {"PATH": "/usr/bin:/bin", "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/none.db", "PORTAL_SECRET_KEY": "x",
           "PORTAL_PII_KEY": "eA==", "PORTAL_TRUST_ANCHORS": str(pki / "ca.pem"), "PORTAL_INSTANCE_DIR": str(tmp_path)}
    okienko = str(REPO / ".venv" / "bin" / "okienko")
    offline = subprocess.run([okienko, "signature", "verify", "--offline", str(signed)], env=env,
                             capture_output=True, text=True)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "integrity of the file only" in offline.stdout
    assert f"to {expired.cert.not_valid_after_utc.isoformat()}" in offline.stdout
    online = subprocess.run([okienko, "signature", "verify", str(signed)], env={**env, "PORTAL_REVOCATION_MODE":
                                                                               "offline"},
                            capture_output=True, text=True)
    assert online.returncode == 1 and "expired" in online.stdout


# What an attacker built against these widenings (each once accepted or crashing, now refused) -------------


def test_an_xml_id_elsewhere_cannot_redirect_the_enveloping_reference(pki: Path, prepared: bytes,
                                                                      tmp_path: Path) -> None:
    """Attack: the object holding the prepared document also carries a namespaced `x:Id` (which xmlsec took as
    the one to register), while an element with `xml:id="Dokument-1"` parked in KeyInfo holds another document —
    the one really signed. The portal said "content matches" and filed the prepared document; any other
    verifier would say the signature covers the other. Identifiers are now unique in every namespace and one
    per element: refused, and never a crash (a duplicate id used to make xmlsec raise: HTTP 500)."""
    signed = etree.fromstring(forgery.enveloping(prepared, resident(pki), tmp_path))
    elsewhere = etree.SubElement(signed.find(f"{{{forgery.DS}}}KeyInfo"), f"{{{forgery.DS}}}Object")
    elsewhere.set("{http://www.w3.org/XML/1998/namespace}id", "Dokument-1")
    assert verify.verify(etree.tostring(signed), policy(pki), expected_document=prepared).reasons == ["duplicate_ids"]
    decoy = etree.fromstring(forgery.enveloping(prepared, resident(pki), tmp_path))
    decoy.find(f"{{{forgery.DS}}}Object").set("{urn:x}Id", "junk")
    assert verify.verify(etree.tostring(decoy), policy(pki), expected_document=prepared).reasons == ["duplicate_ids"]


def test_the_documents_vocabulary_hidden_in_a_signature_is_refused(pki: Path, prepared: bytes) -> None:
    """Attack: after signing, with no key at all, an `oso:PESEL` of someone else and a `str:Zalacznik` go into
    the signature's unsigned properties (no reference covers them); a reader of the filed bytes looking for the
    first `oso:PESEL` found the forgery. Only the signature vocabularies may stand inside a signature."""
    signed = etree.fromstring(qualified.sign(prepared, resident(pki).cert_pem, resident(pki).key_pem))
    qualifying = signed.find(f".//{{{forgery.XADES}}}QualifyingProperties")
    unsigned = etree.SubElement(qualifying, f"{{{forgery.XADES}}}UnsignedProperties")
    person = etree.SubElement(unsigned, "{http://crd.gov.pl/xml/schematy/osoba/2009/11/16/}Osoba")
    etree.SubElement(person, "{http://crd.gov.pl/xml/schematy/osoba/2009/11/16/}PESEL").text = ANNA
    assert verify.verify(etree.tostring(signed), policy(pki), expected_document=prepared).reasons == [
        "unsigned_content"]


def test_text_after_a_signature_is_refused(pki: Path, prepared: bytes, tmp_path: Path) -> None:
    """Attack: text placed right after the signature, signed with it, was dropped along with the signature
    when the content was compared — and filed: "the applicant withdraws and waives the appeal"."""
    root = etree.fromstring(prepared)
    template = etree.fromstring(forgery.signature_template(resident(pki), forgery._reference(
        "", forgery.ENVELOPED + forgery.C14N)))
    template.tail = "UWAGA: wnioskodawca cofa wniosek i zrzeka się odwołania."
    root.append(template)
    signed = forgery.xmlsec1_sign(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), resident(pki),
                                  tmp_path)
    assert verify.verify(signed, policy(pki), expected_document=prepared).reasons == ["unsigned_content"]


def test_thousands_of_signature_elements_are_refused_before_any_is_examined(pki: Path) -> None:
    """Attack: 18 000 empty `ds:Signature` elements (246 kB, no certificate needed) took the public check two
    seconds; nested ones at depth 200, over a minute. More signatures than a document carries: refused."""
    flat = b'<Dokument xmlns:d="http://www.w3.org/2000/09/xmldsig#">' + b"<d:Signature/>" * 18000 + b"</Dokument>"
    assert verify.verify(flat, policy(pki)).reasons == ["too_many_signatures"]
    eleven = b'<Dokument xmlns:d="http://www.w3.org/2000/09/xmldsig#">' + b"<d:Signature/>" * 11 + b"</Dokument>"
    assert verify.verify(eleven, policy(pki)).reasons == ["too_many_signatures"]


def test_a_certificate_only_naming_a_trusted_issuer_leads_nowhere(pki: Path, tmp_path: Path) -> None:
    """Attack: a certificate whose issuer *name* is the trusted CA's, signed by a throw-away key, passed the cheap
    check (names only), so digests and content checks ran for it. Each link's signature is now checked. And many
    intermediates sharing one name (9 took path building two minutes) cost one attempt each."""
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import serialization

    from portal.signing import certpath

    anchors = verify.der_certificates((pki / "ca.pem").read_bytes())
    impostor_ca = forgery.new_ca(tmp_path / "ca", "Okienko Sandbox Root CA")
    trusted_name = cx509.load_pem_x509_certificate((pki / "ca.pem").read_bytes()).subject
    named = forgery.issue(tmp_path, "jan", impostor_ca, pesel=JAN)
    # the same certificate with the trusted CA's exact name as issuer, signed by the impostor's key
    forged = (cx509.CertificateBuilder().subject_name(named.cert.subject).issuer_name(trusted_name)
              .public_key(named.cert.public_key()).serial_number(1).not_valid_before(named.cert.not_valid_before_utc)
              .not_valid_after(named.cert.not_valid_after_utc).sign(impostor_ca.key, forgery.hashes.SHA256()))
    der = forged.public_bytes(serialization.Encoding.DER)
    assert certpath.path_to_anchor([der], anchors) is None
    same_name = [forgery.new_ca(tmp_path / f"ca{i}", "Okienko Sandbox Root CA").cert.public_bytes(
        serialization.Encoding.DER) for i in range(9)]
    assert certpath.path_to_anchor([der, *same_name], anchors) is None
    genuine = resident(pki).cert.public_bytes(serialization.Encoding.DER)
    assert certpath.path_to_anchor([genuine, *same_name], anchors) == [genuine]
