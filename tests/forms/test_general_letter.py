"""The general letter (pismo ogólne) takes attachments, as ePUAP's does — and so does the answer to a call to
supplement, which is a general letter replying to the case (portal/forms/service.py, start_reply)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy import select

from portal.auth.models import Resident
from portal.extensions import db
from portal.forms import flow
from portal.forms import service as forms
from portal.forms.models import Draft
from portal.inbox.models import Submission
from tests.forms.test_catalog_services import PDF, PNG
from tests.forms.test_drafts_and_attachments import upload
from tests.helpers import csrf_token, login_resident, sign_with_trusted_profile, start_letter


def test_the_general_letter_offers_optional_attachments_and_signs_their_digests(
        app: Flask, client: FlaskClient, catalog: None) -> None:
    browser = login_resident(client)
    draft_id = start_letter(client)
    page = f"/wnioski/{draft_id}/krok/zalaczniki"
    shown = client.get(page).get_data(as_text=True)
    assert "Krok 2 z 3" in shown and "Załącznik do pisma" in shown and "(nieobowiązkowe)" in shown
    assert "Dozwolone pliki: PDF, JPG, PNG, każdy do 10 MB. Najwyżej 5 plików." in shown
    assert upload(client, page, "zalacznik", "zdjecie-chodnika.png", PNG).status_code == 302
    assert upload(client, page, "zalacznik", "pismo-sasiada.pdf", PDF).status_code == 302
    onwards = client.post(page, data={"csrf_token": csrf_token(client, page), "_akcja": "dalej"})
    assert onwards.headers["Location"].endswith(f"/wnioski/{draft_id}/podsumowanie")
    summary = client.get(onwards.headers["Location"]).get_data(as_text=True)
    assert "zdjecie-chodnika.png" in summary and "pismo-sasiada.pdf" in summary
    filed = sign_with_trusted_profile(client, browser, draft_id)
    assert filed.status_code == 302
    with app.app_context():
        submission = db.session.scalar(select(Submission))
        assert len(submission.attachments) == 2
        root = etree.fromstring(submission.document)
        assert root.xpath("//*[local-name()='Zalacznik']/@nazwaPliku") == ["zdjecie-chodnika.png",
                                                                          "pismo-sasiada.pdf"]
        assert root.xpath("//*[local-name()='OpisZalacznika']/text()") == ["Załącznik do pisma"] * 2


def test_a_letter_without_attachments_goes_on_to_the_summary(client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    draft_id = start_letter(client)
    page = f"/wnioski/{draft_id}/krok/zalaczniki"
    onwards = client.post(page, data={"csrf_token": csrf_token(client, page), "_akcja": "dalej"})
    assert onwards.headers["Location"].endswith("/podsumowanie")
    assert client.get(onwards.headers["Location"]).status_code == 200


def test_the_answer_to_a_call_to_supplement_takes_attachments(app: Flask, client: FlaskClient, catalog: None,
                                                              pki: Path) -> None:
    login_resident(client)
    with app.app_context():
        resident = db.session.scalar(select(Resident))
        reply = forms.start_reply(resident, "the-case-submission-id", "Uzupełnienie do sprawy OR.0152.1.2026")
        assert flow.step_ids(forms.definition_of(reply.eservice), reply.values) == ["pismo", "zalaczniki"]
        draft_id = reply.id
    page = f"/wnioski/{draft_id}/krok/zalaczniki"
    assert upload(client, page, "zalacznik", "zdjecie.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64).status_code == 302
    with app.app_context():
        assert [a.filename for a in db.session.get(Draft, draft_id).attachments] == ["zdjecie.jpg"]
