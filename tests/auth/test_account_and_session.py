"""The account page's notification address (confirmed through a link sent by a real SMTP server),
draft retention with reminders, and the idle session that ends without losing answers."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.auth.models import Resident
from portal.db_types import utcnow
from portal.extensions import db
from portal.forms import service as forms
from portal.forms.models import Draft
from tests.helpers import age_session, csrf_token, local, login_resident, messages, start_letter, subjects
from tests.pages import PageCheckingClient


def test_notification_address_is_used_only_after_its_link_is_opened(app: Flask, client: PageCheckingClient,
                                                                   smtp: Path) -> None:
    login_resident(client)
    sent = client.post_page("/konto", data={"csrf_token": csrf_token(client, "/konto"), "email": "jan@example.pl"})
    assert sent.notices == ["Wysłaliśmy wiadomość z linkiem potwierdzającym. Otwórz ją w ciągu 48 godzin."]
    [message] = messages(smtp)
    assert message["To"] == "jan@example.pl"
    body = message.get_payload(decode=True).decode()
    assert "80010112357" not in body
    link = re.search(r"(http://\S+/konto/potwierdz/\S+)", body).group(1)
    with app.app_context():
        assert db.session.scalar(select(Resident.email_confirmed_at)) is None
    assert client.get(local(link)).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Resident.email_confirmed_at)) is not None
    page = client.get_page("/konto")
    assert "potwierdzony" in page.texts(".tag") and page.facts()["PESEL"] == "•••••••2357"
    assert "80010112357" not in page.html


def test_a_tampered_confirmation_link_is_refused(client: FlaskClient, smtp: Path) -> None:
    login_resident(client)
    client.post("/konto", data={"csrf_token": csrf_token(client, "/konto"), "email": "jan@example.pl"})
    assert client.get("/konto/potwierdz/zmyslony-token").status_code == 400


def test_invalid_address_gets_a_message_beside_the_field(client: PageCheckingClient) -> None:
    login_resident(client)
    page = client.post_page("/konto", data={"csrf_token": csrf_token(client, "/konto"), "email": "jan(at)example"})
    assert page.title.startswith("Błąd: Moje konto")
    assert page.errors == ["Wpisz adres e-mail w formacie nazwa@domena.pl."]
    assert page.links(".error-summary a") == ["#email"]
    assert page.field_error("email") == "Wpisz adres e-mail w formacie nazwa@domena.pl."


def test_old_drafts_are_reminded_once_then_deleted(app: Flask, client: FlaskClient, catalog: None,
                                                    smtp: Path) -> None:
    login_resident(client)
    client.post("/konto", data={"csrf_token": csrf_token(client, "/konto"), "email": "jan@example.pl"})
    link = re.search(r"(http://\S+)", messages(smtp)[0].get_payload(decode=True).decode()).group(1)
    client.get(local(link))
    draft_id = start_letter(client)
    with app.app_context():
        draft = db.session.get(Draft, draft_id)
        draft.updated_at = utcnow() - timedelta(days=24)
        db.session.commit()
        report = forms.remind_and_purge()
        assert report.reminded == [draft_id] and report.deleted == []
        assert forms.remind_and_purge().reminded == []  # once only
        assert "Niedokończony wniosek: Pismo ogólne do urzędu" in subjects(smtp)
        draft = db.session.get(Draft, draft_id)
        draft.updated_at = utcnow() - timedelta(days=31)
        db.session.commit()
        assert forms.remind_and_purge().deleted == [draft_id]
        assert db.session.get(Draft, draft_id) is None


def test_an_idle_session_ends_but_the_posted_answers_are_kept(app: Flask, client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    token = csrf_token(client, "/uslugi/pismo-ogolne")
    step = local(client.post("/uslugi/pismo-ogolne/rozpocznij", data={"csrf_token": token}).headers["Location"])
    token = csrf_token(client, step)
    # Its last activity moved back in the session's row: past the idle limit and the minute the store
    # allows for writing activity back at most once a minute.
    age_session(app, client, idle=timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=61))
    answer = client.post(step, data={"csrf_token": token, "tytul": "Pisane zbyt długo", "tresc": "Treść."})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/sesja-wygasla")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Twoja sesja wygasła" in page and "Twoje odpowiedzi zapisaliśmy" in page
    assert client.get("/moje-sprawy").status_code == 302
    with app.app_context():
        draft = db.session.scalar(select(Draft))
        assert draft.values["tytul"] == "Pisane zbyt długo"


def test_an_active_session_is_extended(app: Flask, client: FlaskClient) -> None:
    login_resident(client)
    token = csrf_token(client, "/konto")
    assert client.post("/sesja/przedluz", headers={"X-CSRFToken": token}).json["extended"] is True
    assert client.post("/sesja/przedluz").status_code == 400  # no CSRF token, no extension


def test_signing_after_a_long_session_asks_for_a_fresh_login(client: FlaskClient, catalog: None) -> None:
    login_resident(client)
    draft_id = start_letter(client)
    token = csrf_token(client, f"/wnioski/{draft_id}/podpis")
    with client.session_transaction() as session:
        session["login_at"] = (utcnow() - timedelta(hours=3)).isoformat()
    answer = client.post(f"/wnioski/{draft_id}/podpis/profil-zaufany", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/logowanie?ponownie=1")
    again = client.get(answer.headers["Location"])
    assert "prompt=login" in again.headers["Location"] and "max_age=0" in again.headers["Location"]


def test_a_service_that_needs_a_high_level_login_says_so(app: Flask, client: FlaskClient, catalog: None) -> None:
    from portal.forms.models import EService

    with app.app_context():
        letter = db.session.scalar(select(EService).where(EService.slug == "pismo-ogolne"))
        letter.definition = {**letter.definition, "loa": "high"}
        db.session.commit()
        forms._parsed.clear()
    try:
        login_resident(client)  # Jan Kowalski signs in at "substantial"
        draft_id = start_letter(client)
        token = csrf_token(client, f"/wnioski/{draft_id}/podpis")
        refused = client.post(f"/wnioski/{draft_id}/podpis/profil-zaufany", data={"csrf_token": token})
        assert refused.status_code == 403
        page = refused.get_data(as_text=True)
        assert "Potrzebne silniejsze logowanie" in page and "loa=high" in page
        login_resident(client, "92051702482")  # Anna Nowak, e-dowód: high
        draft_id = start_letter(client)
        token = csrf_token(client, f"/wnioski/{draft_id}/podpis")
        assert client.post(f"/wnioski/{draft_id}/podpis/profil-zaufany", data={"csrf_token": token}).status_code == 302
    finally:
        forms._parsed.clear()


def test_the_pesel_key_can_be_rotated_without_losing_anyone(app_config: dict, client: FlaskClient,
                                                            other_app: Any) -> None:
    import base64
    import secrets

    from portal.auth import pii, service

    login_resident(client)
    new_key = base64.b64encode(secrets.token_bytes(32)).decode()
    with other_app(PII_KEY=new_key, PII_KEY_PREVIOUS=app_config["PII_KEY"]).app_context():
        assert service.rotate_pii_key() == 1
        resident = db.session.scalar(select(Resident))
        assert pii.decrypt(resident.pesel_encrypted) == "80010112357"
        assert resident.pesel_index == pii.blind_index("80010112357")
    with other_app(PII_KEY=new_key).app_context():  # the old key is gone
        assert pii.decrypt(db.session.scalar(select(Resident)).pesel_encrypted) == "80010112357"


def test_an_administrator_assigns_roles_and_units(app: Flask, client: FlaskClient) -> None:
    from portal.auth.models import Clerk
    from tests.helpers import login_clerk

    login_clerk(client, "t.lewandowski")
    assert client.get("/urzad/admin/pracownicy").status_code == 403
    admin = app.test_client()
    login_clerk(admin, "admin")
    page = admin.get("/urzad/admin/pracownicy")
    assert page.status_code == 200 and "Tomasz Lewandowski" in page.get_data(as_text=True)
    with app.app_context():
        tomasz = db.session.scalar(select(Clerk).where(Clerk.username == "t.lewandowski"))
        tomasz_id = tomasz.id
    answer = admin.post("/urzad/admin/pracownicy", data={"csrf_token": csrf_token(admin, "/urzad/admin/pracownicy"),
                                                         "clerk": tomasz_id, "roles": ["head_of_unit"], "unit": "OR"})
    assert answer.status_code == 302
    with app.app_context():
        tomasz = db.session.get(Clerk, tomasz_id)
        assert tomasz.roles == ["clerk", "head_of_unit"] and tomasz.effective_unit == "OR"
