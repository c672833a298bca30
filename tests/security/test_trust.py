"""Trust: the attacks of an outsider holding an ordinary qualified certificate, each performed against the
running portal (or its command line) and refused. The attack is told in each test's docstring."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from reportlab.pdfgen import canvas
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from portal.desk.models import OutgoingLetter
from portal.extensions import db
from portal.inbox import receipts, upo
from portal.inbox.models import Submission
from portal.signing import keys, pades, verify
from portal.signing import service as signing
from sandbox import people, qualified
from sandbox.tpsigning import xades as sandbox_xades
from tests.factories import make_resident, make_submission
from tests.helpers import ANNA, JAN, csrf_token, login_resident, start_letter
from tests.security import forgery
from tests.security.conftest import World

REPO = Path(__file__).resolve().parents[2]
OKIENKO = str(REPO / ".venv" / "bin" / "okienko")
OFFICE = "Urząd Miasta Leszna"


def sandbox_ca(pki: Path) -> forgery.Identity:
    return forgery.load(pki / "ca.pem", pki / "ca.key")


def resident(pki: Path, pesel: str = JAN) -> forgery.Identity:
    return forgery.load(pki / "residents" / f"{pesel}.pem", pki / "residents" / f"{pesel}.key")


def forged_receipt(sealer: forgery.Identity, document: bytes, *, delivery: bool = False) -> bytes:
    """The portal's own UPP (or UPD) layout, an invented id, a back-dated time, any digest — sealed by `sealer`."""
    seal = keys.Seal(cert=sealer.cert, key_pem=sealer.key_pem)
    moment = datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
    if delivery:
        return upo.build_delivery(upo.DeliveryData(
            receipt_id="UPD-OR.1.2026-1", office_name=OFFICE, office_id="UMLeszno", addressee_name="Jan Kowalski",
            addressee_id="okienko:1", received_at=moment, issued_at=moment, document_id="1",
            document_sha256=hashlib.sha256(document).digest(), case_reference="OR.1.2026", document_name="Decyzja"),
            seal)
    return upo.build(upo.ReceiptData(
        receipt_id="OK-2026-FAKE0001", office_name=OFFICE, office_id="UMLeszno", sender_name="Jan Kowalski",
        sender_id="okienko:1", filed_at=moment, issued_at=moment, document_id="forged",
        document_sha256=hashlib.sha256(document).digest(), service="pismo-ogolne 1", document_name="Pismo"), seal)


def api_check(client: FlaskClient, receipt: bytes, document: bytes | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"upo": FileStorage(io.BytesIO(receipt), "upo.xml")}
    if document is not None:
        data["dokument"] = FileStorage(io.BytesIO(document), "dokument.xml")
    # Encoded in memory: werkzeug's test client spools a large body to a temporary file it never closes.
    body, length, boundary = stream_encode_multipart(data, use_tempfile=False)
    answer = client.post("/api/upo/weryfikacja", input_stream=body, content_length=length,
                         content_type=f"multipart/form-data; boundary={boundary}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def page_check(client: FlaskClient, receipt: bytes) -> str:
    token = csrf_token(client, "/weryfikacja")
    answer = client.post("/weryfikacja", data={"csrf_token": token, "upo": (io.BytesIO(receipt), "upo.xml")},
                         content_type="multipart/form-data")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def cli(app_config: dict[str, Any], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", "PORTAL_DATABASE_URL": app_config["DATABASE_URL"],
                   "PORTAL_SECRET_KEY": "x", "PORTAL_PII_KEY": "eA==", "PORTAL_REVOCATION_MODE": "offline",
                   **{f"PORTAL_{name}": str(app_config[name]) for name in
                      ("TRUST_ANCHORS", "SEAL_CERT", "SEAL_KEY", "TRUSTED_PROFILE_SEALS")}, **env}
    return subprocess.run([OKIENKO, *args], env=environment, capture_output=True, text=True)


# Receipts that only the office can issue ------------------------------------------------------------------


@pytest.mark.parametrize("delivery", [False, True], ids=["UPO", "UPD"])
def test_a_receipt_sealed_with_a_residents_certificate_is_not_the_offices(
        app: Flask, client: FlaskClient, app_config: dict[str, Any], pki: Path, tmp_path: Path,
        delivery: bool) -> None:
    """Attack: Jan builds a receipt in the portal's own layout — an invented id, a filing time back-dated to
    January, the digest of a document the office never received — and seals it with his own qualified
    certificate, which every trust anchor accepts. The API, the page and `okienko receipt verify` all used to
    call it valid; now each says it is not sealed by the office, and whose certificate it carries — refused
    once the certificate is read, before any cryptography."""
    document = b"<Dokument>nigdy nie wplynal</Dokument>"
    forged = forged_receipt(resident(pki), document, delivery=delivery)

    result = api_check(client, forged, document)
    assert result["valid"] is False and result["sealed_by_office"] is False
    assert result["seal_valid"] is False  # not even checked: the certificate is not the office's
    assert "Jan Kowalski" in result["sealed_by"]
    assert any(f"not sealed by {OFFICE}" in reason for reason in result["reasons"])
    assert result["receipt_id"] is None and result["filed_at"] is None  # nothing it states is reported as fact

    page = page_check(client, forged)
    assert "Poświadczenie nie jest prawidłowe" in page
    assert f"Poświadczenia nie opatrzył pieczęcią {OFFICE}" in page and "Jan Kowalski" in page
    assert "OK-2026-FAKE0001" not in page

    (tmp_path / "forged.xml").write_bytes(forged)
    (tmp_path / "document.xml").write_bytes(document)
    command = cli(app_config, "receipt", "verify", str(tmp_path / "forged.xml"), "--document",
                  str(tmp_path / "document.xml"))
    assert command.returncode == 1, command.stdout + command.stderr
    assert f"not sealed by {OFFICE}" in command.stdout and "Jan Kowalski" in command.stdout


def test_a_receipt_sealed_by_another_organisation_of_the_same_trusted_provider_is_refused(
        client: FlaskClient, pki: Path, tmp_path: Path) -> None:
    """Attack: another office's (or any company's) qualified seal, from the very provider the office uses,
    seals a receipt naming Urząd Miasta Leszna."""
    other = forgery.issue(tmp_path, "other-seal", sandbox_ca(pki), organisation="Urząd Gminy Gdzieindziej")
    result = api_check(client, forged_receipt(other, b"<d/>"), b"<d/>")
    assert not result["valid"] and not result["sealed_by_office"] and "Gdzieindziej" in result["sealed_by"]


def test_the_offices_own_receipts_stay_valid_through_a_seal_rotation(
        app: Flask, other_app: Any, catalog: None, pki: Path, tmp_path: Path) -> None:
    """The rule must not cost residents their proof: a receipt sealed before the seal was rotated stays
    valid (the database remembers every certificate the seal used); an earlier certificate the database
    never saw is accepted once PORTAL_SEAL_CERTS lists it."""
    with app.app_context():
        submission = make_submission(pki)
        old_receipt, filed = submission.upo, submission.document
    new_seal = forgery.issue(tmp_path / "new", "office-seal", sandbox_ca(pki), organisation=OFFICE)
    rotated = other_app(SEAL_CERT=str(new_seal.cert_path), SEAL_KEY=str(new_seal.key_path))
    with rotated.app_context():
        check = receipts.check(old_receipt, signing.policy(), receipts.office_issuer(), filed)
        assert check.valid and check.sealed_by_office, check.reasons
        newer = make_submission(pki, resident=make_resident(ANNA))
        after = receipts.check(newer.upo, signing.policy(), receipts.office_issuer(), newer.document)
        assert after.valid and after.sealed_by == new_seal.cert.subject.rfc4514_string()

    previous = forgery.issue(tmp_path / "previous", "office-seal", sandbox_ca(pki), organisation=OFFICE)
    from_before = forged_receipt(previous, b"<d/>")
    with app.app_context():
        assert not receipts.check(from_before, signing.policy(), receipts.office_issuer()).valid
    listed = other_app(SEAL_CERTS=str(previous.cert_path))
    with listed.app_context():
        assert receipts.check(from_before, signing.policy(), receipts.office_issuer()).valid


# The signer is the certificate, unless the certificate is the trusted-profile seal ------------------------


@pytest.mark.parametrize("role_format", ["EPSignature", "PodpisZP"])
def test_a_qualified_signature_claiming_another_persons_identity_is_refused(
        app: Flask, client: FlaskClient, app_config: dict[str, Any], catalog: None, pki: Path, tmp_path: Path,
        role_format: str) -> None:
    """Attack: Jan signs Anna's draft with his own qualified certificate, writing a XAdES ClaimedRole that
    holds a trusted-profile `EPSignature` (or `PodpisZP`) naming Anna's PESEL. The portal filed it as Anna's
    and `okienko signature verify` named Anna as the signer. Now only the trusted-profile seal may vouch for
    a person: the upload is refused with the reason, nothing is filed, and the command line refuses too."""
    login_resident(client, ANNA)
    draft_id = start_letter(client)
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data
    jan = resident(pki, JAN)
    forged = sandbox_xades.sign(document, people.resident(ANNA), jan.cert_pem, jan.key_pem, role_format)
    answer = client.post(f"/wnioski/{draft_id}/podpis/kwalifikowany", content_type="multipart/form-data",
                         data={"csrf_token": csrf_token(client, f"/wnioski/{draft_id}/podpis"),
                               "podpisany": (io.BytesIO(forged), "pismo.xml")})
    assert answer.status_code == 422
    assert verify.REASONS["claimed_identity"][0] in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 0

    (tmp_path / "forged.xml").write_bytes(forged)
    command = cli(app_config, "signature", "verify", str(tmp_path / "forged.xml"))
    assert command.returncode == 1 and "Anna" not in command.stdout.split("\n")[0]
    assert verify.REASONS["claimed_identity"][1] in command.stdout


def test_a_trusted_profile_signature_names_its_person_only_with_the_seal_pinned(
        other_app: Any, catalog: None, pki: Path) -> None:
    """The same EPSignature from the real trusted-profile seal is believed — but only because
    PORTAL_TRUSTED_PROFILE_SEALS names that seal: without the pin nobody may vouch for a person."""
    from tests.factories import make_draft, signed_by_trusted_profile

    unpinned = other_app(TRUSTED_PROFILE_SEALS="")
    with unpinned.app_context():
        draft = make_draft(make_resident(JAN))
        signed = signed_by_trusted_profile(draft, pki)
        assert signing.check(draft, signed).reasons == ["claimed_identity"]
    pinned = other_app()
    with pinned.app_context():
        draft = make_draft(make_resident(ANNA))
        verdict = signing.check(draft, signed_by_trusted_profile(draft, pki))
        assert verdict.valid and verdict.signer.source == "EPSignature", verdict.reasons


# No request to addresses an attacker chooses ----------------------------------------------------------------


def letter_pdf(identity: forgery.Identity) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "Decyzja")
    page.save()
    return pades.seal(buffer.getvalue(), str(identity.cert_path), str(identity.key_path), "Pismo")


def test_nothing_is_fetched_for_a_certificate_from_an_unknown_authority(
        app: Flask, world: World, pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: unauthenticated (and, at the last two doors, as a clerk) upload of signed files whose
    certificate comes from a CA nobody trusts, with caIssuers (AIA), CRL and OCSP addresses pointing where
    the attacker likes (here a local listener). The portal fetched them — any host, in parallel, up to 10 s
    each — from the receipt API, the verification page, the qualified upload and the clerk's letter upload.
    Now nothing reaches the listener even though revocation checking is on and its host is allowed: the
    certificate leads to no anchor, so the check ends before any request."""
    with forgery.listener() as spy:
        monkeypatch.setitem(app.config, "REVOCATION_MODE", "soft-fail")
        monkeypatch.setitem(app.config, "REVOCATION_HOSTS", spy.url)
        ca = forgery.new_ca(tmp_path / "ca")
        urls = {"crl_url": f"{spy.url}/ca.crl", "aia_url": f"{spy.url}/ca.crt", "ocsp_url": f"{spy.url}/ocsp"}
        seal = forgery.issue(tmp_path, "seal", ca, organisation=OFFICE, **urls)
        person = forgery.issue(tmp_path, "jan", ca, pesel=JAN, **urls)
        anonymous = world.clients["anonymous"]

        result = api_check(anonymous, forged_receipt(seal, b"<d/>"), b"<d/>")
        assert not result["valid"] and any(f"not sealed by {OFFICE}" in r for r in result["reasons"])
        assert "Poświadczenie nie jest prawidłowe" in page_check(anonymous, forged_receipt(seal, b"<d/>"))

        jan = world.clients["resident_a"]
        document = jan.get(f"/wnioski/{world.draft_id}/podpis/dokument.xml").data
        signed = qualified.sign(document, person.cert_pem, person.key_pem)
        refused = jan.post(f"/wnioski/{world.draft_id}/podpis/kwalifikowany", content_type="multipart/form-data",
                           data={"csrf_token": csrf_token(jan, f"/wnioski/{world.draft_id}/podpis"),
                                 "podpisany": (io.BytesIO(signed), "pismo.xml")})
        assert refused.status_code == 422

        clerk = world.clients["clerk_own_unit"]
        letter = forged_receipt(seal, b"<d/>")  # any XML sealed by the unknown CA's certificate
        for content, name in ((letter, "pismo.xml"), (letter_pdf(seal), "pismo.pdf")):
            clerk.post(f"/urzad/sprawy/{world.case_id}/pismo", content_type="multipart/form-data", data={
                "csrf_token": csrf_token(clerk, f"/urzad/sprawy/{world.case_id}"), "letter-kind": "answer",
                "letter-title": "Odpowiedź", "letter-file": (io.BytesIO(content), name)})
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(OutgoingLetter)) == 1  # the world's own
        assert spy.connections == []


def test_revocation_data_is_fetched_only_from_hosts_the_settings_name(
        app: Flask, pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trusted provider's certificate whose CRL address points at a host neither the trusted list nor
    PORTAL_REVOCATION_HOSTS names: nothing is fetched (with `require` the check is INDETERMINATE). Once the
    host is named, the portal does ask it — the listener would have seen any request."""
    with forgery.listener() as spy:
        signer = forgery.issue(tmp_path, "jan", sandbox_ca(pki), pesel=JAN, crl_url=f"{spy.url}/ca.crl",
                               ocsp_url=f"{spy.url}/ocsp")
        signed = qualified.sign(b"<Dokument>tresc</Dokument>", signer.cert_pem, signer.key_pem)
        monkeypatch.setitem(app.config, "REVOCATION_MODE", "require")
        with app.app_context():
            verdict = verify.verify(signed, signing.policy())
            assert verdict.reasons == ["revocation_unknown"] and spy.connections == []
            monkeypatch.setitem(app.config, "REVOCATION_HOSTS", f"{app.config['REVOCATION_HOSTS']},{spy.url}")
            assert verify.verify(signed, signing.policy()).reasons == ["revocation_unknown"]
        assert spy.connections, "with the host named, the CRL or OCSP request should have reached it"
        assert len(spy.connections) <= verify.certpath.Fetching().max_requests


# Cheap refusals before expensive work -----------------------------------------------------------------------


def large_document(megabytes: int = 6) -> bytes:
    body = "".join(f"<Pozycja>{'x' * 90}</Pozycja>" for _ in range(megabytes * 1024 * 1024 // 110))
    return f'<?xml version="1.0" encoding="UTF-8"?><Dokument xmlns="urn:test">{body}</Dokument>'.encode()


def test_an_untrusted_signature_is_refused_before_its_digests_are_computed(pki: Path, tmp_path: Path) -> None:
    """Attack: a 6 MB signed XML with a throw-away key costs the verifier ~2 s of CPU in canonicalisation
    and digests. The certificate's trust is now checked first: a copy whose content was also changed is
    refused as untrusted, not as changed — the digest was never computed."""
    throwaway = forgery.issue(tmp_path, "x", forgery.new_ca(tmp_path / "ca"), pesel=JAN)
    signed = qualified.sign(large_document(), throwaway.cert_pem, throwaway.key_pem)
    policy = verify.Policy.from_pem_files(pki / "ca.pem", revocation_mode="offline")
    assert verify.verify(signed, policy).reasons == ["untrusted"]
    changed = signed.replace(b"<Pozycja>x", b"<Pozycja>y", 1)
    assert verify.verify(changed, policy).reasons == ["untrusted"]


def test_the_public_receipt_check_refuses_a_large_file_unread(client: FlaskClient) -> None:
    """A receipt is a few kilobytes: a 6 MB upload to the public API is refused as too large before parsing."""
    result = api_check(client, large_document())
    assert not result["valid"] and result["reasons"] == [verify.REASONS["too_large"][1]]


def test_every_verification_door_is_rate_limited(other_app: Any) -> None:
    """Attack: the public receipt check (API and page) had no limit: each upload buys a signature
    verification. Now one allowance per address covers both; visiting the page without a file is free."""
    app = other_app(VERIFY_RATE_LIMIT="3 per minute")
    client = app.test_client()
    receipt = b"<Dokument/>"
    answers = [client.post("/api/upo/weryfikacja", data={"upo": (io.BytesIO(receipt), "upo.xml")},
                           content_type="multipart/form-data").status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert client.post("/api/upo/weryfikacja", data={"upo": (io.BytesIO(receipt), "upo.xml")},
                       content_type="multipart/form-data").status_code == 429
    token = csrf_token(client, "/weryfikacja")
    page = client.post("/weryfikacja", data={"csrf_token": token, "upo": (io.BytesIO(receipt), "upo.xml")},
                       content_type="multipart/form-data")
    assert page.status_code == 429
    other = app.test_client()
    assert other.post("/api/upo/weryfikacja", data={"upo": (io.BytesIO(receipt), "upo.xml")},
                      content_type="multipart/form-data", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    other_app()  # the suite's own limits again for the tests that follow


# Policy gaps ------------------------------------------------------------------------------------------------


def upload(client: FlaskClient, draft_id: str, signed: bytes) -> Any:
    return client.post(f"/wnioski/{draft_id}/podpis/kwalifikowany", content_type="multipart/form-data",
                       data={"csrf_token": csrf_token(client, f"/wnioski/{draft_id}/podpis"),
                             "podpisany": (io.BytesIO(signed), "pismo.xml")})


@pytest.mark.parametrize("weak", ["rsa-1024", "secp256k1"])
def test_weak_keys_are_refused(app: Flask, client: FlaskClient, catalog: None, pki: Path, tmp_path: Path,
                               weak: str) -> None:
    """A certificate from the trusted provider, but with an RSA key under 2048 bits or a curve ETSI TS 119 312
    does not recommend: refused with the reason (PORTAL_MIN_RSA_BITS sets the RSA floor)."""
    key = forgery.weak_rsa_key() if weak == "rsa-1024" else forgery.odd_curve_key()
    signer = forgery.issue(tmp_path, "jan", sandbox_ca(pki), pesel=JAN, key=key)
    login_resident(client, JAN)
    draft_id = start_letter(client)
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data
    method = ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" if weak == "rsa-1024"
              else "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
    signed = forgery.enveloped(document, signer, tmp_path, method)
    answer = upload(client, draft_id, signed)
    assert answer.status_code == 422 and verify.REASONS["weak_key"][0] in answer.get_data(as_text=True)


@pytest.mark.parametrize("outside", [
    (b'<?xml-stylesheet type="text/xsl" href="http://attacker.example/pokaz.xsl"?>\n', b""),
    (b"", b"\n<!-- dopisek, ktorego nikt nie podpisal -->"),
], ids=["stylesheet-before", "comment-after"])
def test_content_outside_the_signed_root_is_refused(client: FlaskClient, catalog: None, pki: Path,
                                                    outside: tuple[bytes, bytes]) -> None:
    """Attack: a processing instruction (an `xml-stylesheet` pointing at any URL) or a comment outside the root
    element is not covered by the `URI=""` reference, yet it was stored verbatim as the filed document the
    UPO's digest covers. Refused; the same signature without it is filed."""
    login_resident(client, JAN)
    draft_id = start_letter(client)
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data
    me = resident(pki)
    signed = qualified.sign(document, me.cert_pem, me.key_pem)
    declaration_end = signed.index(b"?>") + 2
    before, after = outside
    smuggled = signed[:declaration_end] + b"\n" + before + signed[declaration_end:].lstrip() + after
    answer = upload(client, draft_id, smuggled)
    assert answer.status_code == 422 and verify.REASONS["unsigned_content"][0] in answer.get_data(as_text=True)
    assert upload(client, draft_id, signed).status_code == 302


def test_an_enveloping_signature_is_filed_as_the_prepared_document(
        app: Flask, client: FlaskClient, catalog: None, pki: Path, tmp_path: Path) -> None:
    """A resident's signing application returns the document inside its signature (enveloping): filed, the
    document kept is exactly the prepared one and the signature file is kept beside it."""
    from portal.storage import service as storage

    login_resident(client, JAN)
    draft_id = start_letter(client)
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data
    signed = forgery.enveloping(document, resident(pki), tmp_path)
    assert upload(client, draft_id, signed).status_code == 302
    with app.app_context():
        submission = db.session.scalar(select(Submission).where(Submission.draft_id == draft_id))
        assert storage.get(submission.document_sha256) == document
        assert storage.get(submission.detached_signature_sha256) == signed
        assert submission.verdict["form"] == "enveloping"


def test_signature_verify_reports_every_signer(app_config: dict[str, Any], pki: Path, tmp_path: Path) -> None:
    """`okienko signature verify` names each co-signer, not only the first."""
    root_document = b'<?xml version="1.0" encoding="UTF-8"?><Dokument xmlns="urn:test"><T>A</T></Dokument>'
    from lxml import etree

    root = etree.fromstring(root_document)
    for pesel in (JAN, ANNA):
        sandbox_xades.seal(root, resident(pki, pesel).cert_pem, resident(pki, pesel).key_pem)
    (tmp_path / "both.xml").write_bytes(etree.tostring(root))
    command = cli(app_config, "signature", "verify", str(tmp_path / "both.xml"), "--json")
    assert command.returncode == 0, command.stdout + command.stderr
    report = json.loads(command.stdout)
    assert [s["signer"] for s in report["signatures"]] == ["Jan Kowalski", "Anna Nowak"]


# Trusted lists --------------------------------------------------------------------------------------------


def resigned_list(pki: Path, signer: forgery.Identity, change: Any = None) -> bytes:
    """The sandbox's trusted list, changed by `change(root)`, signed again by `signer`."""
    from lxml import etree

    from sandbox import tsl

    root = etree.fromstring(tsl.build(pki))
    root.remove(root.find(f"{{{forgery.DS}}}Signature"))
    if change is not None:
        change(root)
    sandbox_xades.seal(root, signer.cert_pem, signer.key_pem)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_trusted_list_signed_by_a_stranger_with_the_pinned_certificate_beside_it_is_refused(
        other_app: Any, pki: Path, tmp_path: Path) -> None:
    """Attack: sign a list naming one's own CA with one's own key, and put the pinned operator certificate (it
    is public) in KeyInfo before the real signer's — KeyInfo is not signed. The pin was checked against the
    first certificate anywhere in the file, the signature against another: the attacker's CA became an
    anchor. Now the pin is checked against the very certificate the signature was verified with."""
    from lxml import etree

    from portal.signing import trust

    attacker_ca = forgery.new_ca(tmp_path / "ca", "Evil Qualified CA")
    attacker = forgery.issue(tmp_path, "operator", attacker_ca, organisation="Evil list operator")

    def name_the_attackers_ca(root: Any) -> None:
        for node in root.iter("{http://uri.etsi.org/02231/v2#}X509Certificate"):
            node.text = base64_der(attacker_ca)

    forged = etree.fromstring(resigned_list(pki, attacker, name_the_attackers_ca))
    key_info = forged.find(f"{{{forgery.DS}}}Signature/{{{forgery.DS}}}KeyInfo")
    pinned = etree.Element(f"{{{forgery.DS}}}X509Certificate")
    pinned.text = base64_der(forgery.load(pki / "tsl-signer.pem", pki / "tsl-signer.key"))
    key_info.insert(0, pinned)
    portal = other_app(TRUST_ANCHORS=str(tmp_path / "none.pem"))
    with portal.app_context():
        with pytest.raises(trust.TrustListRefused, match="PORTAL_TSL_SIGNERS"):
            trust.import_tsl(etree.tostring(forged))
        assert not any(b"Evil" in der for der in trust.anchors())


def test_an_older_or_out_of_date_trusted_list_is_refused(other_app: Any, pki: Path, tmp_path: Path) -> None:
    """Attack: replay an older list, genuinely signed by the operator, to bring back a provider withdrawn
    since; or a list past its next update. Each import must be newer than the last, and current."""
    from portal.signing import trust

    operator = forgery.load(pki / "tsl-signer.pem", pki / "tsl-signer.key")

    def numbered(number: int, next_update: str = "2099-01-01T00:00:00Z") -> Any:
        def change(root: Any) -> None:
            ns = "{http://uri.etsi.org/02231/v2#}"
            root.find(f"{ns}SchemeInformation/{ns}TSLSequenceNumber").text = str(number)
            root.find(f"{ns}SchemeInformation/{ns}NextUpdate/{ns}dateTime").text = next_update
        return change

    portal = other_app(TRUST_ANCHORS=str(tmp_path / "none.pem"))
    with portal.app_context():
        assert trust.import_tsl(resigned_list(pki, operator, numbered(41))).sequence == "41"
        with pytest.raises(trust.TrustListRefused, match="not newer"):
            trust.import_tsl(resigned_list(pki, operator, numbered(40)))
        with pytest.raises(trust.TrustListRefused, match="not newer"):
            trust.import_tsl(resigned_list(pki, operator, numbered(41)))
        with pytest.raises(trust.TrustListRefused, match="out of date"):
            trust.import_tsl(resigned_list(pki, operator, numbered(42, "2020-01-01T00:00:00Z")))
        assert trust.import_tsl(resigned_list(pki, operator, numbered(43))).sequence == "43"


def base64_der(identity: forgery.Identity) -> str:
    import base64

    from cryptography.hazmat.primitives import serialization

    return base64.b64encode(identity.cert.public_bytes(serialization.Encoding.DER)).decode()
