"""A qualified signature made in the resident's own software (the sandbox's stand-in), over HTTP,
and the trust anchors it needs, taken from a signed trusted list."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.inbox.models import Submission
from portal.signing import trust, verify
from sandbox import qualified
from tests.helpers import csrf_token, login_resident, start_letter


def sign_as(pki: Path, who: str, document: bytes, detached: str | None = None) -> bytes:
    return qualified.sign(document, (pki / "residents" / f"{who}.pem").read_bytes(),
                          (pki / "residents" / f"{who}.key").read_bytes(), detached_name=detached)


def upload(client: FlaskClient, draft_id: str, content: bytes, name: str = "podpisany.xml"):  # noqa: ANN201
    return client.post(f"/wnioski/{draft_id}/podpis/kwalifikowany",
                       data={"csrf_token": csrf_token(client, f"/wnioski/{draft_id}/podpis"),
                             "podpisany": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def test_resident_files_with_an_enveloped_qualified_signature(app: Flask, client: FlaskClient, catalog: None,
                                                              pki: Path) -> None:
    login_resident(client)
    draft_id = start_letter(client)
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml")
    assert document.status_code == 200 and document.headers["Content-Disposition"].startswith("attachment")
    answer = upload(client, draft_id, sign_as(pki, "80010112357", document.data))
    assert answer.status_code == 302 and "zlozono=1" in answer.headers["Location"], answer.get_data(as_text=True)
    with app.app_context():
        submission = db.session.scalar(select(Submission))
        assert submission.verdict["signer"]["source"] == "certificate" and submission.detached_signature is None


def test_resident_files_with_a_detached_qualified_signature(app: Flask, client: FlaskClient, catalog: None,
                                                            pki: Path) -> None:
    login_resident(client)
    draft_id = start_letter(client)
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data
    signature = sign_as(pki, "80010112357", document, detached="pismo.xml")
    answer = upload(client, draft_id, signature, "pismo.xml.xades")
    assert answer.status_code == 302, answer.get_data(as_text=True)
    with app.app_context():
        submission = db.session.scalar(select(Submission))
        assert submission.document == document and submission.detached_signature == signature
        assert submission.verdict["detached"] is True
        submission_id = submission.id
    assert client.get(f"/moje-sprawy/{submission_id}/podpis.xades").data == signature


def test_a_qualified_signature_by_someone_else_is_refused_in_place(client: FlaskClient, catalog: None,
                                                                  pki: Path) -> None:
    login_resident(client)
    draft_id = start_letter(client)
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data
    answer = upload(client, draft_id, sign_as(pki, "92051702482", document))
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "Podpis złożyła inna osoba niż ta, która jest zalogowana w portalu." in page and 'href="#podpisany"' in page


def test_a_changed_document_is_refused(client: FlaskClient, catalog: None, pki: Path) -> None:
    login_resident(client)
    draft_id = start_letter(client)
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data
    changed = document.replace("Proszę o naprawę chodnika.".encode(), "Proszę o nowy chodnik i ławkę.".encode())
    answer = upload(client, draft_id, sign_as(pki, "80010112357", changed))
    assert answer.status_code == 422
    assert "Podpisany dokument różni się od dokumentu przygotowanego w portalu." in answer.get_data(as_text=True)


def test_a_trusted_list_brings_its_qualified_cas_into_trust(other_app: Any, sandbox_url: str, pki: Path,
                                                            tmp_path: Path) -> None:
    document = b'<?xml version="1.0" encoding="UTF-8"?><Dokument xmlns="urn:test"><a>1</a></Dokument>'
    signed = sign_as(pki, "80010112357", document)
    portal = other_app(TRUST_ANCHORS=str(tmp_path / "none.pem"), REVOCATION_MODE="offline")
    with portal.app_context():
        policy = verify.Policy(trust_anchors=tuple(trust.anchors()), revocation_mode="offline")
        assert verify.verify(signed, policy).reasons == ["untrusted"]
        report = trust.import_tsl(requests.get(f"{sandbox_url}/pki/tsl.xml", timeout=10).content)
        assert report.territory == "PL" and report.added == ["CN=Okienko Sandbox Root CA,O=Okienko Sandbox,C=PL"]
        policy = verify.Policy(trust_anchors=tuple(trust.anchors()), revocation_mode="offline")
        assert verify.verify(signed, policy).valid


def test_a_trusted_list_that_is_altered_or_signed_by_a_stranger_is_refused(other_app: Any, sandbox_url: str,
                                                                           pki: Path, tmp_path: Path) -> None:
    listing = requests.get(f"{sandbox_url}/pki/tsl.xml", timeout=10).content
    portal = other_app(TRUST_ANCHORS=str(tmp_path / "none.pem"))
    with portal.app_context():
        altered = listing.replace(b"Svcstatus/granted", b"Svcstatus/granted ")
        try:
            trust.import_tsl(altered)
            raise AssertionError("an altered list was accepted")
        except trust.TrustListRefused as refusal:
            assert "does not verify" in str(refusal)
    stranger = other_app(TRUST_ANCHORS=str(tmp_path / "none.pem"), TSL_SIGNERS=str(pki / "office-seal.pem"))
    with stranger.app_context():
        try:
            trust.import_tsl(listing)
            raise AssertionError("a list by an unpinned signer was accepted")
        except trust.TrustListRefused as refusal:
            assert "PORTAL_TSL_SIGNERS" in str(refusal)


def test_a_database_failure_while_checking_keeps_the_signed_document(app: Flask, client: FlaskClient, catalog: None,
                                                                    pki: Path, monkeypatch: Any) -> None:
    """The database fails while the signature is checked (the check reads the resident's PESEL and records its
    verdict): the signed file is kept for "try again" instead of lost, so the resident never signs twice."""
    from sqlalchemy.exc import OperationalError

    from portal.inbox import spool
    from portal.signing import service

    login_resident(client)
    draft_id = start_letter(client)
    signed = sign_as(pki, "80010112357", client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data)
    checked = service.check

    def database_gone(*args: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("the database system is shutting down"))

    monkeypatch.setattr(service, "check", database_gone)
    answer = upload(client, draft_id, signed)
    assert answer.status_code == 503 and "Spróbuj ponownie" in answer.get_data(as_text=True)
    with app.app_context():
        assert spool.waiting(draft_id) == signed
    monkeypatch.setattr(service, "check", checked)
    retried = client.post(f"/wnioski/{draft_id}/podpis/ponow",
                          data={"csrf_token": csrf_token(client, f"/wnioski/{draft_id}/podpis")})
    assert retried.status_code == 302 and "zlozono=1" in retried.headers["Location"]
