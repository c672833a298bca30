"""Sessions kept on the server (portal/auth/sessions.py): each test performs an attack on a session against
the running portal — Flask's test client for the portal, the sandbox's login.gov.pl over real HTTP — and
shows the refusal. The attack is described in each test's docstring.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from flask import Flask
from flask import request as flask_request
from flask.testing import FlaskClient
from lxml import html
from sqlalchemy import event, func, select

from portal.audit.models import AuditEntry
from portal.auth import sessions
from portal.auth.models import Resident, WebSession
from portal.extensions import db
from tests.helpers import ANNA, JAN, age_session, csrf_token, local, login_clerk, login_resident, session_row

COOKIE = "okienko_session"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")


def browser(app: Flask, user_agent: str = FIREFOX) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def cookie_of(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def holding(app: Flask, value: str) -> FlaskClient:
    """Another browser that has got hold of a cookie value (copied from a shared computer, a proxy, malware)."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, value)
    return thief


def answers_as_to_a_stranger(app: Flask, client: FlaskClient, paths: tuple[str, ...] = ("/moje-sprawy", "/konto")) \
        -> None:
    stranger = app.test_client()
    for path in paths:
        got, expected = client.get(path), stranger.get(path)
        assert (got.status_code, got.headers.get("Location")) == \
            (expected.status_code, expected.headers.get("Location"))
        assert got.status_code == 302 and urlsplit(got.headers["Location"]).path == "/logowanie", path


def rows(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(WebSession))
        db.session.remove()
    return int(count or 0)


def test_a_cookie_captured_before_logout_opens_nothing_after_it(app: Flask) -> None:
    """Attack: someone copies Jan's session cookie while he is signed in (a shared computer, a proxy log), waits
    for him to click "Wyloguj", then sends the copy. Before, the signed cookie still opened /moje-sprawy and
    /konto after logout. Now logout deletes the session on the server: the copy is answered as a stranger."""
    jan = browser(app)
    login_resident(jan, JAN)
    captured = cookie_of(jan)
    assert holding(app, captured).get("/konto").status_code == 200  # the copy works while Jan is signed in
    token = csrf_token(jan, "/moje-sprawy")
    assert jan.post("/wyloguj", data={"csrf_token": token}).status_code == 302
    answers_as_to_a_stranger(app, holding(app, captured))
    answers_as_to_a_stranger(app, jan)
    assert rows(app) == 0


def test_the_cookie_carries_only_an_opaque_id_and_the_database_only_its_hash(app: Flask) -> None:
    """Attack: read the cookie. Flask's default cookie is base64 JSON anyone can decode — it held the id_token
    with Jan's PESEL, name and birth date. Now it is 32 random bytes: no PESEL, no name, no token, no JSON.
    Attack 2: someone who reads the session table (a backup, a replica) sends what it stores as a cookie —
    the table holds the SHA-256 of the id, not the id, and the hash opens nothing."""
    jan = browser(app)
    login_resident(jan, JAN)
    value = cookie_of(jan)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), value
    raw = base64.urlsafe_b64decode(value + "=")
    assert len(raw) == 32
    decoded = raw.decode("latin-1")
    for secret in (JAN, "Kowalski", "1980-01-01", "eyJ", "resident", "id_token"):
        assert secret not in value and secret not in decoded
    # Random bytes may hold a "{" or "Jan" by chance (one in eight ids has a "{"): what must not be there is
    # a payload — nothing in the cookie decodes to JSON or to text.
    with pytest.raises(ValueError):
        json.loads(raw)
    with pytest.raises(ValueError):
        json.loads(value)
    assert "." not in value  # no itsdangerous payload.timestamp.signature either

    row = session_row(app, jan)
    assert row.token_hash == hashlib.sha256(value.encode()).hexdigest() and value not in row.token_hash
    assert JAN not in row.data and "id_token" not in row.data and "Kowalski" not in row.data
    answers_as_to_a_stranger(app, holding(app, row.token_hash))
    assert jan.get("/konto").status_code == 200


def test_the_logout_address_carries_no_id_token_and_no_pesel(app: Flask, client: FlaskClient,
                                                              sandbox_url: str) -> None:
    """Attack: read the address logout sends the browser to (it stays in the browser's history and the
    provider's access log). It used to carry `id_token_hint` — the ID token, PESEL and name inside. Now it
    names the portal by `client_id` (RP-Initiated Logout 1.0); the provider still ends its own session."""
    sso = login_resident(client, JAN)
    out = client.post("/wyloguj", data={"csrf_token": csrf_token(client, "/konto")})
    address = unquote(out.headers["Location"])
    query = parse_qs(urlsplit(out.headers["Location"]).query)
    assert "id_token_hint" not in query and "eyJ" not in address and JAN not in address
    assert query["client_id"] == ["okienko"] and set(query) <= {"client_id", "post_logout_redirect_uri", "state"}
    asked = sso.get(out.headers["Location"], timeout=10)
    fields = {i.get("name"): i.get("value") for i in html.fromstring(asked.content).xpath("//form//input")}
    assert JAN not in asked.text and "id_token_hint" not in fields
    back = sso.post(out.headers["Location"], data={**fields, "action": "logout"}, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"] == query["post_logout_redirect_uri"][0]
    assert sso.get(f"{sandbox_url}/wk/session", timeout=10).json()["signed_in"] is False


def test_the_sandbox_provider_follows_only_a_registered_return_of_the_named_client(client: FlaskClient,
                                                                                   sandbox_url: str) -> None:
    """Attack on the provider's logout: a link that signs the resident out silently and sends them on to
    another site. A return address is followed only when registered for the client the request names; a
    forged id_token_hint is refused; without a hint the person is asked before anything ends."""
    sso = login_resident(client, JAN)
    logout = f"{sandbox_url}/wk/logout"
    portal = client.application.config["BASE_URL"] + "/"
    for params in ({"post_logout_redirect_uri": portal},  # no client named
                   {"client_id": "okienko", "post_logout_redirect_uri": "https://evil.example/"},
                   {"client_id": "okienko-desk", "post_logout_redirect_uri": portal},  # another client's
                   {"client_id": "nobody", "post_logout_redirect_uri": portal},
                   {"id_token_hint": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "post_logout_redirect_uri": portal}):
        refused = sso.get(logout, params=params, allow_redirects=False, timeout=10)
        assert refused.status_code == 400, params
    # A cross-site link with the right client asks first: nothing is ended by merely following it.
    asked = sso.get(logout, params={"client_id": "okienko", "post_logout_redirect_uri": portal}, timeout=10)
    assert asked.status_code == 200 and "Czy wylogować Cię" in asked.text
    forged = sso.post(logout, data={"client_id": "okienko", "action": "logout", "confirm": "guessed"}, timeout=10)
    assert forged.status_code == 400
    assert sso.get(f"{sandbox_url}/wk/session", timeout=10).json()["signed_in"] is True


def test_an_idle_session_ends_on_the_server(app: Flask) -> None:
    """Attack: a browser left signed in on a library computer; the next visitor (or a copy of its cookie) uses
    it after the idle limit. The stored last activity is moved back past PORTAL_SESSION_IDLE_MINUTES: the
    session is ended by the server at its next request, and its id opens nothing afterwards."""
    jan = browser(app)
    login_resident(jan, JAN)
    captured = cookie_of(jan)
    age_session(app, jan, idle=timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=61))
    ended = jan.get("/moje-sprawy")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/sesja-wygasla")
    kept = jan.get_cookie(COOKIE)
    assert kept is None or kept.value != captured  # nothing left to keep, or a fresh id with nobody signed in
    with app.app_context():
        assert db.session.scalar(select(WebSession).where(WebSession.token_hash == hashlib.sha256(
            captured.encode()).hexdigest())) is None
        assert db.session.scalar(select(func.count()).select_from(WebSession).where(
            WebSession.resident_id.is_not(None))) == 0
    answers_as_to_a_stranger(app, holding(app, captured))
    answers_as_to_a_stranger(app, jan)


def test_an_active_session_still_ends_at_the_absolute_limit(app: Flask) -> None:
    """Attack: a stolen cookie kept alive for days by a script that clicks every few minutes, so the idle limit
    never comes. The login is moved back past PORTAL_SESSION_MAX_HOURS while the session is active: the server
    ends it anyway and says why."""
    jan = browser(app)
    login_resident(jan, JAN)
    captured = cookie_of(jan)
    age_session(app, jan, idle=timedelta(seconds=5),
                since_login=timedelta(hours=app.config["SESSION_MAX_HOURS"], minutes=1))
    ended = jan.get("/konto")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/sesja-wygasla")
    assert "powod=czas" in ended.headers["Location"]
    page = jan.get(local(ended.headers["Location"])).get_data(as_text=True)
    assert f"najpóźniej {app.config['SESSION_MAX_HOURS']} h po zalogowaniu" in page
    answers_as_to_a_stranger(app, holding(app, captured))


def test_a_resident_sees_their_sessions_and_ends_the_other_one(app: Flask) -> None:
    """Attack: Jan left himself signed in on someone's phone. On "Moje konto" at home he sees both sessions
    (when started, last active, which browser — no address) and ends the phone's; the phone is a stranger
    from its next request, while Jan stays signed in at home."""
    home, phone = browser(app, FIREFOX), browser(app, SAFARI)
    login_resident(home, JAN)
    login_resident(phone, JAN)
    page = home.get("/konto").get_data(as_text=True)
    assert "Firefox, Linux" in page and "Safari, iOS" in page and "ta przeglądarka" in page
    assert "127.0.0.1" not in page
    phone_session = session_row(app, phone).id
    forms = re.findall(r'action="/konto/sesje/(\d+)/zakoncz"', page)
    assert sorted(forms) == sorted([str(phone_session), str(session_row(app, home).id)])
    ended = home.post(f"/konto/sesje/{phone_session}/zakoncz", data={"csrf_token": csrf_token(home, "/konto")})
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/konto?zakonczono=1")
    answers_as_to_a_stranger(app, phone)
    after = home.get("/konto").get_data(as_text=True)
    assert home.get("/moje-sprawy").status_code == 200 and "Safari, iOS" not in after
    with app.app_context():
        assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action == "resident.session_ended"))


def test_ending_another_residents_session_is_refused(app: Flask) -> None:
    """Attack: Anna posts "end session" with Jan's session id (ids are small numbers: easy to guess). The
    portal answers exactly as for an id that does not exist, and Jan stays signed in."""
    jan, anna = browser(app), browser(app)
    login_resident(jan, JAN)
    login_resident(anna, ANNA)
    jans = session_row(app, jan).id
    token = csrf_token(anna, "/konto")
    refused = anna.post(f"/konto/sesje/{jans}/zakoncz", data={"csrf_token": token})
    missing = anna.post("/konto/sesje/999999/zakoncz", data={"csrf_token": token})
    assert refused.status_code == missing.status_code == 404
    assert refused.get_data(as_text=True).replace(f"/sesje/{jans}/", "/sesje/999999/") == \
        missing.get_data(as_text=True)  # the page names its own address, nothing else differs
    assert jan.get("/moje-sprawy").status_code == 200 and anna.get("/moje-sprawy").status_code == 200
    # without the form's token nothing happens either (a forged cross-site post)
    assert anna.post(f"/konto/sesje/{session_row(app, anna).id}/zakoncz").status_code == 400


def test_ending_the_current_session_from_the_list_logs_out(app: Flask) -> None:
    """The session list's button on this browser's own row: the same as "Wyloguj", the provider included."""
    jan = browser(app)
    login_resident(jan, JAN)
    captured = cookie_of(jan)
    own = session_row(app, jan).id
    out = jan.post(f"/konto/sesje/{own}/zakoncz", data={"csrf_token": csrf_token(jan, "/konto")})
    assert out.status_code == 302 and "/wk/logout?" in out.headers["Location"]
    answers_as_to_a_stranger(app, holding(app, captured))


def test_login_issues_a_fresh_id_so_a_planted_one_is_worthless(app: Flask) -> None:
    """Attack (session fixation): plant a session on the victim's browser before they sign in — here one the
    attacker got from the portal, holding a language choice — and use it after their login. The login
    gives the browser a new id; the planted one never becomes Jan's. The language choice survives."""
    victim = browser(app)
    assert victim.get("/?lang=en").status_code == 200
    planted = cookie_of(victim)
    login_resident(victim, JAN)
    assert cookie_of(victim) != planted
    answers_as_to_a_stranger(app, holding(app, planted))
    assert '<html lang="en">' in victim.get("/konto").get_data(as_text=True)
    # a made-up id is not adopted either: the portal never stores a session under an id it did not issue
    invented = "A" * 43
    made_up = holding(app, invented)
    assert made_up.get("/sprawdz-sprawe").status_code == 200
    assert cookie_of(made_up) != invented


def test_an_anonymous_visitor_gets_a_row_only_once_something_is_stored(app: Flask) -> None:
    """Cost, not an attack: a crawler on public pages must not add a row per request. Pages without a form
    store nothing (no row, no cookie); the first form (its CSRF token) makes one row; later pages neither add
    rows nor write the one there is."""
    visitor = app.test_client()
    for path in ("/", "/uslugi", "/statystyki", "/static/style.css", "/health"):
        answer = visitor.get(path)
        answer.close()
        assert answer.status_code == 200 and "Set-Cookie" not in answer.headers, path
    assert rows(app) == 0
    assert "Set-Cookie" in visitor.get("/sprawdz-sprawe").headers
    assert rows(app) == 1
    written: list[str] = []

    def writes(*args: Any) -> None:
        if "web_session" in args[2] and not args[2].lstrip().upper().startswith("SELECT"):
            written.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", writes)
    try:
        for path in ("/", "/sprawdz-sprawe", "/weryfikacja", "/static/style.css"):
            answer = visitor.get(path)
            answer.close()
            assert answer.status_code == 200, path
    finally:
        event.remove(engine, "before_cursor_execute", writes)
    assert written == [] and rows(app) == 1


def test_activity_is_written_back_at_most_once_a_minute(app: Flask) -> None:
    """Cost: a signed-in resident's pages write the session's row only when its last activity is a minute old."""
    jan = browser(app)
    login_resident(jan, JAN)
    jan.get("/konto")  # the first form stores the CSRF token
    first = session_row(app, jan).seen_at
    for _ in range(3):
        assert jan.get("/moje-sprawy").status_code == 200
    assert session_row(app, jan).seen_at == first
    age_session(app, jan, idle=timedelta(seconds=90))
    jan.get("/moje-sprawy")
    assert session_row(app, jan).seen_at > first


def test_clerks_sessions_live_in_the_same_store(app: Flask) -> None:
    """Attack: a copy of a clerk's cookie after "Wyloguj" on the desk. The clerk's session is a row like a
    resident's, deleted at logout: the copy is sent to the office's login."""
    clerk = browser(app)
    login_clerk(clerk, "e.kaczmarek")
    captured = cookie_of(clerk)
    row = session_row(app, clerk)
    assert row.clerk_id is not None and row.resident_id is None
    assert holding(app, captured).get("/urzad/").status_code == 200
    out = clerk.post("/urzad/wyloguj", data={"csrf_token": csrf_token(clerk, "/urzad/")})
    assert out.status_code == 302
    for thief in (holding(app, captured), clerk):
        answer = thief.get("/urzad/")
        assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/urzad/logowanie"
    assert rows(app) == 0


def test_long_ended_sessions_are_purged(app: Flask) -> None:
    """Rows of sessions ended long ago (a day past their end) are deleted; a live one stays."""
    old, live = browser(app), browser(app)
    login_resident(old, JAN)
    login_resident(live, ANNA)
    age_session(app, old, idle=timedelta(days=2), since_login=timedelta(days=2))
    with app.app_context():
        from sqlalchemy import update

        db.session.execute(update(WebSession).where(WebSession.id == session_row(app, old).id)
                           .values(purge_after=sessions.ends_at(app, session_row(app, old).created_at,
                                                                session_row(app, old).seen_at) + sessions.GRACE))
        db.session.commit()
        assert sessions.purge_expired() == 1
        assert db.session.scalar(select(func.count()).select_from(WebSession)) == 1
        assert db.session.scalar(select(Resident.id).where(Resident.id == session_row(app, live).resident_id))
    assert live.get("/moje-sprawy").status_code == 200


def test_a_session_cookie_from_before_the_change_opens_nothing(app: Flask) -> None:
    """Attack: replay a cookie in Flask's old signed format (itsdangerous), forged or kept from before the
    upgrade. The portal does not read such cookies at all and tells the browser to drop it."""
    from flask.sessions import SecureCookieSessionInterface

    with app.test_request_context():
        old_style = SecureCookieSessionInterface().get_signing_serializer(app).dumps(  # type: ignore[union-attr]
            {"resident_id": 1, "login_at": "2026-12-01T10:00:00+00:00"})
    thief = holding(app, old_style)
    answers_as_to_a_stranger(app, thief, ("/moje-sprawy",))
    assert thief.get_cookie(COOKIE) is None


def test_the_sandbox_provider_still_takes_a_genuine_id_token_hint(client: FlaskClient, sandbox_url: str) -> None:
    """The provider as a real one behaves: a relying party that sends a genuine id_token_hint for the person
    signed in is logged out without a question (the hint proves the request comes from that login)."""
    sso = requests.Session()
    start = client.get("/logowanie")
    authorize = start.headers["Location"]
    answer = sso.post(authorize, data={"account": JAN}, allow_redirects=False, timeout=10)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    verifier = None
    with client.session_transaction() as stored:
        for key, value in stored.items():
            if key.startswith("_state_resident_"):
                verifier = value["data"]["code_verifier"]
    token = requests.post(f"{sandbox_url}/wk/token", timeout=10, auth=("okienko", "okienko-sandbox-secret"), data={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
        "redirect_uri": client.application.config["BASE_URL"] + "/logowanie/powrot"}).json()
    back = sso.get(f"{sandbox_url}/wk/logout", allow_redirects=False, timeout=10, params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": client.application.config["BASE_URL"] + "/"})
    assert back.status_code == 302
    assert sso.get(f"{sandbox_url}/wk/session", timeout=10).json()["signed_in"] is False


def test_a_session_issued_without_a_browser_works_like_a_login(app: Flask) -> None:
    """The benches' way in (portal.auth.sessions.issue): a row and the cookie value that opens it."""
    with app.app_context():
        from tests.factories import make_resident

        resident_id = make_resident().id
        value = sessions.issue({"resident_id": resident_id, "login_at": "2026-12-01T10:00:00+00:00"})
        db.session.remove()
    assert holding(app, value).get("/moje-sprawy").status_code == 200


def test_a_session_the_database_could_not_read_is_never_overwritten(app: Flask, monkeypatch: Any) -> None:
    """A database blip while the session is read, and something stored in it later in the same request (the
    language, a CSRF token) once the database answers again: the empty stand-in used to be saved as a fresh
    session with a new cookie, signing the resident out. Now the request that could not read its session
    writes nothing back, and the page the blip caused is the outage page."""
    from sqlalchemy.exc import OperationalError

    client = app.test_client()
    login_resident(client, JAN)
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name).value
    rows = _count_rows(app)
    read = sessions.ServerSession._read

    def blip(self: sessions.ServerSession) -> Any:
        monkeypatch.setattr(sessions.ServerSession, "_read", read)  # once only: the database is back at once
        raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(sessions.ServerSession, "_read", blip)
    interface = app.session_interface
    with app.test_request_context("/uslugi?lang=en", headers={"Cookie": f"{name}={cookie}"}):
        stand_in = interface.open_session(app, flask_request)
        try:
            stand_in["lang"]
        except KeyError:
            raise AssertionError("the read should have failed") from None
        except OperationalError:
            pass
        stand_in["lang"] = "en"  # e.g. the language switch, after the database answered again
        response = app.response_class("")
        interface.save_session(app, stand_in, response)
        assert "Set-Cookie" not in response.headers
    assert _count_rows(app) == rows
    assert client.get_cookie(name).value == cookie
    assert client.get("/moje-sprawy").status_code == 200  # still signed in

    monkeypatch.setattr(sessions.ServerSession, "_read", blip)
    assert client.get("/moje-sprawy").status_code == 503  # through the app: the outage page, not a sign-in
    assert client.get("/moje-sprawy").status_code == 200


def _count_rows(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(WebSession)) or 0)
