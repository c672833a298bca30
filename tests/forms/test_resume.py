"""An open draft is offered again: "Rozpocznij" on a service with one asks whether to resume it or start
another, and drafts are told apart by their subject and last change — there and in "Moje sprawy"."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from portal.forms import display, service
from tests.forms.test_catalog_services import _eservice
from tests.helpers import csrf_token, local, login_resident, start_letter

START = "/uslugi/pismo-ogolne/rozpocznij"


def press_start(client: FlaskClient, **extra: str):  # noqa: ANN201
    return client.post(START, data={"csrf_token": csrf_token(client, "/uslugi/pismo-ogolne"), **extra})


def test_starting_a_service_with_an_open_draft_offers_to_resume_it(client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    first = start_letter(client, {"tytul": "Naprawa chodnika przy ul. Słowiańskiej"})
    again = press_start(client)
    assert again.status_code == 303 and again.headers["Location"] == "/uslugi/pismo-ogolne/rozpoczete"
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "Masz już rozpoczęty wniosek" in page
    assert "„Naprawa chodnika przy ul. Słowiańskiej”" in page
    assert "Ostatnia zmiana" in page and re.search(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d", page)
    assert f'href="/wnioski/{first}/podsumowanie"' in page
    another = press_start(client, nowy="1")  # "Rozpocznij nowy wniosek"
    assert another.status_code == 302 and "/krok/pismo" in another.headers["Location"]
    second = local(another.headers["Location"]).split("/wnioski/")[1].split("/")[0]
    assert second != first
    page = client.get("/uslugi/pismo-ogolne/rozpoczete").get_data(as_text=True)
    assert "Masz już rozpoczęte wnioski" in page
    assert f"/wnioski/{first}/podsumowanie" in page and f"/wnioski/{second}/podsumowanie" in page
    assert "Jeszcze bez odpowiedzi" in page  # the new one: nothing typed but the town of the login


def test_a_first_start_goes_straight_to_the_form(client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    start_letter(client)
    other = client.post("/uslugi/informacja-publiczna/rozpocznij",
                        data={"csrf_token": csrf_token(client, "/uslugi/informacja-publiczna")})
    assert other.status_code == 302 and "/krok/" in other.headers["Location"]  # a letter is another service


def test_someone_elses_drafts_are_never_offered(app: Flask, client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    start_letter(client, {"tytul": "Sprawa Jana"})
    anna = app.test_client()
    login_resident(anna, "92051702482")
    started = press_start(anna)
    assert started.status_code == 302 and "/krok/pismo" in started.headers["Location"]
    assert "Sprawa Jana" not in anna.get("/uslugi/pismo-ogolne/rozpoczete").get_data(as_text=True)


def test_moje_sprawy_tells_drafts_apart_by_subject_and_last_change(client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    start_letter(client, {"tytul": "Naprawa chodnika"})
    press_start(client, nowy="1")
    start_letter(client, {"tytul": "Wycinka topoli"})
    page = client.get("/moje-sprawy").get_data(as_text=True)
    drafts = page.split("Niedokończone wnioski")[1]
    assert "Pismo ogólne do urzędu: „Naprawa chodnika”" in drafts
    assert "Pismo ogólne do urzędu: „Wycinka topoli”" in drafts
    assert "Pismo ogólne do urzędu: Jeszcze bez odpowiedzi" in drafts
    assert drafts.count("Ostatnia zmiana:") == 3


def test_the_subject_is_the_title_or_the_first_answer_typed(ctx: None, catalog: None) -> None:
    letter = service.definition_of(_eservice("pismo-ogolne"))
    assert display.subject(letter, {"rodzaj": "wniosek", "tytul": "  Naprawa\n chodnika ", "miejscowosc": "Leszno"},
                           "pl") == "Naprawa chodnika"
    assert display.subject(letter, {"miejscowosc": "Leszno"}, "pl") is None  # filled in from the login only
    information = service.definition_of(_eservice("informacja-publiczna"))
    long = "Umowy na odśnieżanie ulic w latach 2020–2025 wraz z aneksami i protokołami odbioru prac zimowych"
    assert display.subject(information, {"opis": long}, "pl") == long[:79].rstrip() + "…"
    waste = service.definition_of(_eservice("deklaracja-odpady"))
    answers = {"cel": "pierwsza deklaracja", "data_obowiazku": "2026-11-01", "ulica": "ul. Słowiańska"}
    assert display.subject(waste, answers, "pl") == "Pierwszą deklarację"  # a choice, when nothing was typed
    assert display.subject(waste, answers, "en") == "A first declaration"
    assert display.subject(waste, {**answers, "cel": "nowa deklaracja", "przyczyna": "Urodziło się dziecko."},
                           "pl") == "Urodziło się dziecko."
