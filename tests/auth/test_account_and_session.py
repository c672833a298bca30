"""The account page's notification address (confirmed through a link sent by a real SMTP server),
draft retention with reminders, and the idle session that ends without losing answers."""

from __future__ import annotations

import mailbox
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.auth.models import Resident
from portal.db_types import utcnow
from portal.extensions import db
from portal.forms import service as forms
from portal.forms.models import Draft
from tests.conftest import free_port
from tests.helpers import csrf_token, local, login_resident, start_letter


@pytest.fixture
def smtp(app: Flask, tmp_path: Path) -> Iterator[Path]:
    """A real SMTP server process (aiosmtpd) delivering into a maildir; the portal is pointed at it."""
    port = free_port()
    maildir = tmp_path / "maildir"
    process = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                                "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not maildir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    try:
        yield maildir
    finally:
        app.config.update(saved)
        process.terminate()
        process.wait(timeout=10)


def messages(maildir: Path) -> list[Any]:
    return list(mailbox.Maildir(str(maildir), create=False))


def subjects(maildir: Path) -> list[str]:
    return [str(make_header(decode_header(m["Subject"]))) for m in messages(maildir)]


def test_notification_address_is_used_only_after_its_link_is_opened(app: Flask, client: FlaskClient,
                                                                   smtp: Path) -> None:
    login_resident(client)
    sent = client.post("/konto", data={"csrf_token": csrf_token(client, "/konto"), "email": "jan@example.pl"})
    assert sent.status_code == 200 and "Wysłaliśmy wiadomość" in sent.get_data(as_text=True)
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
    page = client.get("/konto").get_data(as_text=True)
    assert "potwierdzony" in page and "•••••••2357" in page and "80010112357" not in page


def test_a_tampered_confirmation_link_is_refused(client: FlaskClient, smtp: Path) -> None:
    login_resident(client)
    client.post("/konto", data={"csrf_token": csrf_token(client, "/konto"), "email": "jan@example.pl"})
    assert client.get("/konto/potwierdz/zmyslony-token").status_code == 400


def test_invalid_address_gets_a_message_beside_the_field(client: FlaskClient) -> None:
    login_resident(client)
    answer = client.post("/konto", data={"csrf_token": csrf_token(client, "/konto"), "email": "jan(at)example"})
    page = answer.get_data(as_text=True)
    assert 'href="#email"' in page and "Wpisz adres e-mail w formacie nazwa@domena.pl." in page


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
    with client.session_transaction() as session:
        session["seen"] = time.time() - app.config["SESSION_IDLE_MINUTES"] * 60 - 5
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
