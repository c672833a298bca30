"""Walking the portal and the sandbox the way a browser does, for tests that use the Flask client."""

from __future__ import annotations

import mailbox
import re
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

JAN = "80010112357"
ANNA = "92051702482"


def local(url: str) -> str:
    """The path and query of a portal URL, for the test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login_resident(client: FlaskClient, pesel: str = JAN, browser: requests.Session | None = None,
                   next_path: str | None = None) -> requests.Session:
    """Sign in through the sandbox provider; returns the 'browser' holding the sandbox's cookies."""
    browser = browser or requests.Session()
    start = client.get("/logowanie" + (f"?next={next_path}" if next_path else ""))
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize = start.headers["Location"]
    assert browser.get(authorize, timeout=10).status_code == 200
    answer = browser.post(authorize, data={"account": pesel}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    landed = client.get(local(answer.headers["Location"]))
    assert landed.status_code == 302, landed.get_data(as_text=True)
    return browser


def login_clerk(client: FlaskClient, username: str = "k.zielinska") -> None:
    start = client.get("/urzad/logowanie")
    assert start.status_code == 302
    browser = requests.Session()
    answer = browser.post(start.headers["Location"], data={"account": username}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    assert client.get(local(answer.headers["Location"])).status_code == 302


def start_letter(client: FlaskClient, answers: dict[str, str] | None = None) -> str:
    """Start the general letter and answer its step; returns the draft id."""
    token = csrf_token(client, "/uslugi/pismo-ogolne")
    # "nowy": the button that starts another letter even when one is open (else the resume page is shown)
    started = client.post("/uslugi/pismo-ogolne/rozpocznij", data={"csrf_token": token, "nowy": "1"})
    assert started.status_code == 302
    step = started.headers["Location"]
    draft_id = step.split("/wnioski/")[1].split("/")[0]
    values = {"rodzaj": "wniosek", "tytul": "Naprawa chodnika", "tresc": "Proszę o naprawę chodnika.",
              "miejscowosc": "Leszno"}
    values.update(answers or {})
    saved = client.post(local(step), data={"csrf_token": csrf_token(client, local(step)), **values})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    return draft_id


def sign_with_trusted_profile(client: FlaskClient, browser: requests.Session, draft_id: str,
                              action: str = "sign") -> TestResponse:
    """Hand the draft to the sandbox TpSigning5, confirm (or cancel) there, and follow the way back."""
    token = csrf_token(client, f"/wnioski/{draft_id}/podpis")
    handed = client.post(f"/wnioski/{draft_id}/podpis/profil-zaufany", data={"csrf_token": token})
    assert handed.status_code == 302, handed.get_data(as_text=True)
    confirmation = handed.headers["Location"]
    assert browser.get(confirmation, timeout=10).status_code == 200
    answer = browser.post(confirmation, data={"action": action}, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text
    return client.get(local(answer.headers["Location"]))


def messages(maildir: Path) -> list[Any]:
    return list(mailbox.Maildir(str(maildir), create=False))


def subjects(maildir: Path) -> list[str]:
    return [str(make_header(decode_header(m["Subject"]))) for m in messages(maildir)]


def session_row(app: Any, client: FlaskClient) -> Any:
    """The database row of the client's session (server-side sessions: the cookie holds only its id)."""
    import hashlib

    from sqlalchemy import select

    from portal.auth.models import WebSession
    from portal.extensions import db

    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None, "the client has no session cookie"
    with app.app_context():
        row = db.session.scalar(select(WebSession).where(
            WebSession.token_hash == hashlib.sha256(cookie.value.encode()).hexdigest()))
        db.session.expunge_all()
    return row


def age_session(app: Any, client: FlaskClient, *, idle: Any = None, since_login: Any = None) -> None:
    """Move the client's session back in time in the database instead of waiting: its last activity `idle`
    (a timedelta) ago, its login `since_login` ago."""
    from sqlalchemy import update

    from portal.auth.models import WebSession
    from portal.db_types import utcnow
    from portal.extensions import db

    row = session_row(app, client)
    assert row is not None, "the client's session has no row"
    values = {}
    if idle is not None:
        values["seen_at"] = utcnow() - idle
    if since_login is not None:
        values["created_at"] = utcnow() - since_login
    with app.app_context():
        db.session.execute(update(WebSession).where(WebSession.id == row.id).values(**values))
        db.session.commit()
