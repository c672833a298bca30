from __future__ import annotations

import io
import re

from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from portal.extensions import db
from portal.forms.models import DraftAttachment
from portal.storage.models import Blob
from tests.forms.test_catalog_services import PDF, PNG
from tests.helpers import csrf_token, local, login_resident
from tests.pages import PageCheckingClient, page_of

EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200


def start(client: PageCheckingClient, slug: str) -> str:
    answer = client.post(f"/uslugi/{slug}/rozpocznij", data={"csrf_token": csrf_token(client, f"/uslugi/{slug}"),
                                                             "nowy": "1"})
    return local(answer.headers["Location"])


def attachments_step(client: PageCheckingClient) -> str:
    login_resident(client)
    step = start(client, "zaswiadczenie")
    client.post(step, data={"csrf_token": csrf_token(client, step), "rodzaj": "niezaleganie w podatkach"})
    details = step.replace("/krok/zaswiadczenie", "/krok/szczegoly")
    client.post(details, data={"csrf_token": csrf_token(client, details), "cel": "Do dotacji.", "egzemplarze": "1",
                               "odbior": "elektronicznie"})
    return step.replace("/krok/zaswiadczenie", "/krok/zalaczniki")


def upload(client: PageCheckingClient, page: str, rule: str, name: str, content: bytes):  # noqa: ANN201
    # Encoded in memory: the test client would otherwise spool a large body to a file it never closes.
    boundary, body = encode_multipart(MultiDict({"csrf_token": csrf_token(client, page), "_akcja": f"wyslij:{rule}",
                                                 f"plik-{rule}": FileStorage(io.BytesIO(content), name)}))
    return client.post(page, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def test_a_file_is_judged_by_its_content_not_its_name(app: Flask, client: PageCheckingClient, catalog: None) -> None:
    page = attachments_step(client)
    refused = page_of(upload(client, page, "oplata", "potwierdzenie.pdf", EXE), status=400)
    message = ("Plik „potwierdzenie.pdf” nie jest plikiem dozwolonego typu (rozpoznany typ: nieznany). "
               "Dozwolone pliki: PDF, JPG, PNG, każdy do 5 MB.")
    assert refused.title.startswith("Błąd: Załączniki")
    assert refused.errors == [message] and refused.links(".error-summary a") == ["#plik-oplata"]
    assert refused.field_error("plik-oplata") == message
    assert refused.text_of("#plik-oplata-hint") == "Dozwolone pliki: PDF, JPG, PNG, każdy do 5 MB."
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DraftAttachment)) == 0


def test_a_picture_is_refused_where_only_pdf_is_allowed(client: PageCheckingClient, catalog: None) -> None:
    page = attachments_step(client)
    refused = page_of(upload(client, page, "pelnomocnictwo", "pelnomocnictwo.pdf", PNG), status=400)
    assert "(rozpoznany typ: PNG). Dozwolone pliki: PDF" in refused.field_error("plik-pelnomocnictwo")


def test_a_file_over_the_limit_is_refused_with_its_size(client: PageCheckingClient, catalog: None) -> None:
    page = attachments_step(client)
    refused = page_of(upload(client, page, "pelnomocnictwo", "duzy.pdf", PDF + b"0" * (5 * 1024 * 1024)), status=400)
    assert "Plik „duzy.pdf” jest za duży (5.0 MB)." in refused.field_error("plik-pelnomocnictwo")


def test_accepted_files_are_stored_once_by_digest_and_counted(app: Flask, client: PageCheckingClient,
                                                              catalog: None) -> None:
    page = attachments_step(client)
    assert upload(client, page, "oplata", "przelew.png", PNG).status_code == 302
    again = page_of(upload(client, page, "oplata", "drugi.png", PNG), status=400)
    # every file this rule takes is attached, so its input is gone: the error stands beside the rule's heading
    [error] = again.errors
    assert "najwyżej 1 plik" in error and again.links(".error-summary a") == ["#zalaczniki-oplata"]
    assert again.text_of("#plik-oplata-error") == error
    assert upload(client, page, "pelnomocnictwo", "../../etc/pelnomocnictwo.pdf", PDF).status_code == 302
    files = " ".join(client.get_page(page).texts(".files li"))
    assert "przelew.png" in files and "pelnomocnictwo.pdf" in files and "../" not in files
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Blob)) == 2
        names = set(db.session.scalars(select(DraftAttachment.filename)))
        assert names == {"przelew.png", "pelnomocnictwo.pdf"}


def test_a_required_attachment_is_asked_for_before_the_summary(client: PageCheckingClient, catalog: None) -> None:
    page = attachments_step(client)
    answer = client.post_page(page, data={"csrf_token": csrf_token(client, page), "_akcja": "dalej"}, status=400)
    assert answer.errors == ["Dołącz: potwierdzenie zapłaty opłaty skarbowej."]
    assert answer.field_error("plik-oplata") == "Dołącz: potwierdzenie zapłaty opłaty skarbowej."
    summary = page.replace("/krok/zalaczniki", "/podsumowanie")
    assert client.get(summary).headers["Location"].endswith("/krok/zalaczniki")


def test_a_draft_is_resumed_on_another_device_after_a_new_login(app: Flask, client: PageCheckingClient,
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


def test_bad_input_over_http_gets_a_message_never_a_server_error(client: PageCheckingClient, catalog: None) -> None:
    login_resident(client)
    step = start(client, "deklaracja-odpady")
    answer = client.post_page(step, data={"csrf_token": csrf_token(client, step), "cel": "pierwsza deklaracja",
                                          "data_obowiazku": "2026-02-30"}, status=400)
    assert answer.field_error("data_obowiazku") == \
        "Wpisz datę w polu „Data powstania obowiązku albo zmiany” w formacie RRRR-MM-DD."
    fee = step.replace("/krok/cel", "/krok/oplata")
    answer = client.post_page(fee, data={"csrf_token": csrf_token(client, fee), "mieszkancy": "0"}, status=400)
    assert answer.field_error("mieszkancy") == "„Liczba osób zamieszkujących nieruchomość” musi wynosić co najmniej 1."
    assert "Zaznacz: oświadczam, że dane w deklaracji są zgodne z prawdą." in answer.errors


def test_repeating_group_items_are_added_and_removed(client: PageCheckingClient, catalog: None) -> None:
    login_resident(client)
    step = start(client, "zajecie-pasa-drogowego").replace("/krok/cel", "/krok/elementy")
    token = csrf_token(client, step)
    added = client.post(step, data={"csrf_token": token, "_akcja": "dodaj:elementy", "elementy-0-rodzaj": "chodnik",
                                    "elementy-0-dlugosc": "10", "elementy-0-szerokosc": "2"})
    assert added.status_code == 302 and added.headers["Location"].endswith("#elementy-1")
    page = client.get_page(local(added.headers["Location"]))
    assert page.select("#elementy-1-rodzaj") and page.field("elementy-0-dlugosc").get("value") == "10"
    removed = client.post(step, data={"csrf_token": token, "_akcja": "usun:elementy:0",
                                      "elementy-0-rodzaj": "chodnik", "elementy-0-dlugosc": "10",
                                      "elementy-0-szerokosc": "2", "elementy-1-rodzaj": "jezdnia",
                                      "elementy-1-dlugosc": "3", "elementy-1-szerokosc": "1"})
    page = client.get_page(local(removed.headers["Location"]))
    assert page.field("elementy-0-dlugosc").get("value") == "3" and not page.select("#elementy-1-dlugosc")
