"""The whole thin flow over the portal's HTTP interface, with the sandbox as a real separate process."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from backoffice_adapter import outbox
from backoffice_adapter.models import OutboxMessage
from portal.audit.models import AuditEntry
from portal.desk.models import IncomingParcel
from portal.extensions import db
from portal.inbox.models import Submission
from tests.helpers import ANNA, csrf_token, login_clerk, login_resident, sign_with_trusted_profile, start_letter


def file_letter(client: FlaskClient, pesel: str | None = None) -> str:
    browser = login_resident(client, **({"pesel": pesel} if pesel else {}))
    draft_id = start_letter(client)
    filed = sign_with_trusted_profile(client, browser, draft_id)
    assert filed.status_code == 302, filed.get_data(as_text=True)
    assert "zlozono=1" in filed.headers["Location"]
    return filed.headers["Location"].split("/moje-sprawy/")[1].split("?")[0]


def test_resident_files_a_signed_letter_and_gets_a_sealed_receipt(app: Flask, client: FlaskClient, catalog: None,
                                                                   pki: Path, tmp_path: Path) -> None:
    submission_id = file_letter(client)
    page = client.get(f"/moje-sprawy/{submission_id}?zlozono=1").get_data(as_text=True)
    assert "Pismo zostało złożone" in page

    upo = client.get(f"/moje-sprawy/{submission_id}/upo.xml")
    assert upo.status_code == 200 and upo.mimetype == "application/xml"
    receipt = tmp_path / "upo.xml"
    receipt.write_bytes(upo.data)
    checked = subprocess.run(["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem",
                              str(pki / "ca.pem"), str(receipt)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert client.get(f"/moje-sprawy/{submission_id}/upo.pdf").data.startswith(b"%PDF-")

    with app.app_context():
        submission = db.session.get(Submission, submission_id)
        assert submission is not None and submission.verdict["valid"]
        assert submission.document == client.get(f"/moje-sprawy/{submission_id}/dokument.xml").data
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        actions = set(db.session.scalars(select(AuditEntry.action)))
        assert {"resident.login", "signing.started", "signature.verified", "submission.accepted"} <= actions


def test_outbox_delivers_to_the_desk_and_the_resident_sees_the_rpw_number(app: Flask, client: FlaskClient,
                                                                         catalog: None) -> None:
    submission_id = file_letter(client)
    with app.app_context():
        assert outbox.run_once() == 1
        assert outbox.run_once() == 0
        parcel = db.session.scalar(select(IncomingParcel))
        assert parcel is not None and parcel.submission_id == submission_id
        rpw = parcel.rpw
    page = client.get(f"/moje-sprawy/{submission_id}").get_data(as_text=True)
    assert rpw in page and "Przekazane do urzędu" in page

    clerk = app.test_client()
    login_clerk(clerk)
    register = clerk.get("/urzad/").get_data(as_text=True)
    assert rpw in register and "Jan Kowalski" in register


def test_returning_twice_from_the_signing_service_files_one_submission(app: Flask, client: FlaskClient,
                                                                       catalog: None) -> None:
    browser = login_resident(client)
    draft_id = start_letter(client)
    first = sign_with_trusted_profile(client, browser, draft_id)
    again = client.get(f"/wnioski/{draft_id}/podpis/powrot")
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 1


def test_cancelling_the_signature_returns_to_the_summary_with_the_draft_intact(client: FlaskClient,
                                                                                catalog: None) -> None:
    browser = login_resident(client)
    draft_id = start_letter(client, {"tytul": "Mój tytuł"})
    back = sign_with_trusted_profile(client, browser, draft_id, action="cancel")
    assert back.status_code == 302 and "anulowano" in back.headers["Location"]
    summary = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "Podpisywanie zostało przerwane" in summary and "Mój tytuł" in summary


def test_another_residents_case_is_not_found(app: Flask, client: FlaskClient, catalog: None) -> None:
    submission_id = file_letter(client)
    other = app.test_client()
    login_resident(other, ANNA)
    for path in (f"/moje-sprawy/{submission_id}", f"/moje-sprawy/{submission_id}/upo.xml",
                 f"/moje-sprawy/{submission_id}/dokument.xml"):
        assert other.get(path).status_code == 404


def test_form_errors_are_shown_in_the_summary_and_beside_the_field(client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    token = csrf_token(client, "/uslugi/pismo-ogolne")
    step = client.post("/uslugi/pismo-ogolne/rozpocznij", data={"csrf_token": token}).headers["Location"]
    answer = client.post(step, data={"csrf_token": csrf_token(client, step), "tytul": "", "tresc": "x",
                                     "miejscowosc": "Leszno"})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert 'class="error-summary"' in page and 'href="#tytul"' in page
    assert 'id="tytul-error"' in page and "Uzupełnij pole „Tytuł pisma”." in page
    assert 'href="#rodzaj"' in page and "Wybierz: rodzaj pisma." in page


def test_every_form_needs_a_csrf_token(client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    assert client.post("/uslugi/pismo-ogolne/rozpocznij").status_code == 400


def test_pages_are_available_in_english(client: FlaskClient, catalog: None) -> None:
    page = client.get("/uslugi?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "General letter to the office" in page and "E-services" in page
    assert '<html lang="pl">' in client.get("/uslugi?lang=pl").get_data(as_text=True)
