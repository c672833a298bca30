from __future__ import annotations

import io
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from portal.extensions import db
from portal.forms.models import DraftAttachment
from portal.storage.models import Blob
from tests.forms.test_catalog_services import PDF, PNG
from tests.helpers import csrf_token, local, login_resident

EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200


def start(client: FlaskClient, slug: str) -> str:
    answer = client.post(f"/uslugi/{slug}/rozpocznij", data={"csrf_token": csrf_token(client, f"/uslugi/{slug}"),
                                                             "nowy": "1"})
    return local(answer.headers["Location"])


def attachments_step(client: FlaskClient) -> str:
    login_resident(client)
    step = start(client, "zaswiadczenie")
    client.post(step, data={"csrf_token": csrf_token(client, step), "rodzaj": "niezaleganie w podatkach"})
    details = step.replace("/krok/zaswiadczenie", "/krok/szczegoly")
    client.post(details, data={"csrf_token": csrf_token(client, details), "cel": "Do dotacji.", "egzemplarze": "1",
                               "odbior": "elektronicznie"})
    return step.replace("/krok/zaswiadczenie", "/krok/zalaczniki")


def upload(client: FlaskClient, page: str, rule: str, name: str, content: bytes):  # noqa: ANN201
    # Encoded in memory: the test client would otherwise spool a large body to a file it never closes.
    boundary, body = encode_multipart(MultiDict({"csrf_token": csrf_token(client, page), "_akcja": f"wyslij:{rule}",
                                                 f"plik-{rule}": FileStorage(io.BytesIO(content), name)}))
    return client.post(page, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def test_a_file_is_judged_by_its_content_not_its_name(app: Flask, client: FlaskClient, catalog: None) -> None:
    page = attachments_step(client)
    refused = upload(client, page, "oplata", "potwierdzenie.pdf", EXE)
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "Plik „potwierdzenie.pdf” nie jest plikiem dozwolonego typu (rozpoznany typ: nieznany)." in text
    assert "Dozwolone pliki: PDF, JPG, PNG, każdy do 5 MB." in text
    assert 'href="#plik-oplata"' in text and 'id="plik-oplata-error"' in text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DraftAttachment)) == 0


def test_a_picture_is_refused_where_only_pdf_is_allowed(client: FlaskClient, catalog: None) -> None:
    page = attachments_step(client)
    refused = upload(client, page, "pelnomocnictwo", "pelnomocnictwo.pdf", PNG)
    assert refused.status_code == 400
    assert "(rozpoznany typ: PNG). Dozwolone pliki: PDF" in refused.get_data(as_text=True)


def test_a_file_over_the_limit_is_refused_with_its_size(client: FlaskClient, catalog: None) -> None:
    page = attachments_step(client)
    refused = upload(client, page, "pelnomocnictwo", "duzy.pdf", PDF + b"0" * (5 * 1024 * 1024))
    assert refused.status_code == 400
    assert "Plik „duzy.pdf” jest za duży (5.0 MB)." in refused.get_data(as_text=True)


def test_accepted_files_are_stored_once_by_digest_and_counted(app: Flask, client: FlaskClient, catalog: None) -> None:
    page = attachments_step(client)
    assert upload(client, page, "oplata", "przelew.png", PNG).status_code == 302
    again = upload(client, page, "oplata", "drugi.png", PNG)
    assert again.status_code == 400 and "najwyżej 1 plik" in again.get_data(as_text=True)
    assert upload(client, page, "pelnomocnictwo", "../../etc/pelnomocnictwo.pdf", PDF).status_code == 302
    listing = client.get(page).get_data(as_text=True)
    assert "przelew.png" in listing and "pelnomocnictwo.pdf" in listing and "../" not in listing
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Blob)) == 2
        names = set(db.session.scalars(select(DraftAttachment.filename)))
        assert names == {"przelew.png", "pelnomocnictwo.pdf"}


def test_a_required_attachment_is_asked_for_before_the_summary(client: FlaskClient, catalog: None) -> None:
    page = attachments_step(client)
    answer = client.post(page, data={"csrf_token": csrf_token(client, page), "_akcja": "dalej"})
    assert answer.status_code == 400
    assert "Dołącz: potwierdzenie zapłaty opłaty skarbowej." in answer.get_data(as_text=True)
    summary = page.replace("/krok/zalaczniki", "/podsumowanie")
    assert client.get(summary).headers["Location"].endswith("/krok/zalaczniki")


def test_a_draft_is_resumed_on_another_device_after_a_new_login(app: Flask, client: FlaskClient,
                                                               catalog: None) -> None:
    login_resident(client)
    step = start(client, "zajecie-pasa-drogowego")
    client.post(step, data={"csrf_token": csrf_token(client, step), "cel": "zajęcie na inne cele",
                            "opis": "Kontener na gruz przez tydzień."})
    other_device = app.test_client()
    login_resident(other_device)
    cases = other_device.get("/moje-sprawy").get_data(as_text=True)
    assert "Niedokończone wnioski" in cases and "Wniosek o zezwolenie na zajęcie pasa drogowego" in cases
    resume = re.search(r'href="(/wnioski/[^"]+/podsumowanie)"', cases).group(1)
    landed = other_device.get(resume)
    assert landed.headers["Location"].endswith("/krok/miejsce")  # the first step not yet answered
    first = other_device.get(step).get_data(as_text=True)
    assert "Kontener na gruz przez tydzień." in first


def test_bad_input_over_http_gets_a_message_never_a_server_error(client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    step = start(client, "deklaracja-odpady")
    answer = client.post(step, data={"csrf_token": csrf_token(client, step), "cel": "pierwsza deklaracja",
                                     "data_obowiazku": "2026-02-30"})
    assert answer.status_code == 400
    assert "Wpisz datę w polu „Data powstania obowiązku albo zmiany” w formacie RRRR-MM-DD." in answer.get_data(
        as_text=True)
    fee = step.replace("/krok/cel", "/krok/oplata")
    answer = client.post(fee, data={"csrf_token": csrf_token(client, fee), "mieszkancy": "0"})
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert "„Liczba osób zamieszkujących nieruchomość” musi wynosić co najmniej 1." in text
    assert "Zaznacz: oświadczam, że dane w deklaracji są zgodne z prawdą." in text


def test_repeating_group_items_are_added_and_removed(client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    step = start(client, "zajecie-pasa-drogowego").replace("/krok/cel", "/krok/elementy")
    token = csrf_token(client, step)
    added = client.post(step, data={"csrf_token": token, "_akcja": "dodaj:elementy", "elementy-0-rodzaj": "chodnik",
                                    "elementy-0-dlugosc": "10", "elementy-0-szerokosc": "2"})
    assert added.status_code == 302 and added.headers["Location"].endswith("#elementy-1")
    page = client.get(local(added.headers["Location"])).get_data(as_text=True)
    assert 'id="elementy-1-rodzaj"' in page and 'value="10"' in page
    removed = client.post(step, data={"csrf_token": token, "_akcja": "usun:elementy:0",
                                      "elementy-0-rodzaj": "chodnik", "elementy-0-dlugosc": "10",
                                      "elementy-0-szerokosc": "2", "elementy-1-rodzaj": "jezdnia",
                                      "elementy-1-dlugosc": "3", "elementy-1-szerokosc": "1"})
    page = client.get(local(removed.headers["Location"])).get_data(as_text=True)
    assert 'value="3"' in page and 'value="10"' not in page
