"""Resident and clerk login against the sandbox provider over real HTTP, and every refusal."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from lxml import html
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.auth import pii
from portal.auth.models import Clerk, Resident
from portal.extensions import db
from tests.conftest import free_port
from tests.helpers import JAN, csrf_token, local, login_clerk, login_resident
from tests.pages import PageCheckingClient


def authorize(client: PageCheckingClient, account: str = JAN) -> str:
    """Go through the provider and return the callback address it sends the browser back to."""
    start = client.get("/logowanie")
    answer = requests.post(start.headers["Location"], data={"account": account}, allow_redirects=False, timeout=10)
    return answer.headers["Location"]


def refusals(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        return [e.details for e in db.session.scalars(select(AuditEntry).where(AuditEntry.action == "login.refused"))]


def test_resident_signs_in_with_pkce_and_the_eidas_claims(app: Flask, client: PageCheckingClient) -> None:
    start = client.get("/logowanie?next=/moje-sprawy")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    login_resident(client)
    with app.app_context():
        resident = db.session.scalar(select(Resident))
        assert resident is not None and resident.full_name == "Jan Kowalski"
        assert resident.last_acr == "http://eidas.europa.eu/LoA/substantial"
        assert pii.decrypt(resident.pesel_encrypted) == JAN
        assert resident.pesel_index == pii.blind_index(JAN) and JAN not in resident.pesel_encrypted
        assert resident.address["locality"] == "Leszno"
    assert "Jan Kowalski" in client.get("/moje-sprawy").get_data(as_text=True)


def test_signing_in_twice_keeps_one_resident(app: Flask, client: PageCheckingClient) -> None:
    login_resident(client)
    login_resident(app.test_client())
    with app.app_context():
        assert len(db.session.scalars(select(Resident)).all()) == 1


def test_cancelled_login_gets_a_clear_page_and_an_audit_entry(app: Flask, client: PageCheckingClient) -> None:
    start = client.get("/logowanie")
    answer = requests.post(start.headers["Location"], data={"action": "cancel"}, allow_redirects=False, timeout=10)
    page = client.get_page(local(answer.headers["Location"]), status=400)
    assert page.heading == "Nie udało się zalogować" and "Logowanie zostało przerwane" in page.text
    assert refusals(app)[0]["reason"] == "cancelled"


def test_tampered_state_is_refused(app: Flask, client: PageCheckingClient) -> None:
    callback = authorize(client).replace("state=", "state=x")
    page = client.get_page(local(callback), status=400)
    assert page.heading == "Nie udało się zalogować" and "Nie udało się potwierdzić" in page.text
    assert refusals(app)[0]["reason"] == "invalid_response"


def test_replayed_code_is_refused(app: Flask, client: PageCheckingClient) -> None:
    callback = local(authorize(client))
    assert client.get(callback).status_code == 302
    replay = app.test_client().get(callback)
    assert replay.status_code == 400
    assert [r["reason"] for r in refusals(app)] == ["invalid_response"]


def test_provider_that_is_down_gets_a_clear_page(other_app: Any) -> None:
    down = other_app(RESIDENT_OIDC_ISSUER=f"http://127.0.0.1:{free_port()}/wk")
    page = down.test_client().get_page("/logowanie", status=503)
    assert "Usługa logowania jest teraz niedostępna" in page.text


def test_return_address_is_never_another_site(client: PageCheckingClient) -> None:
    from portal.auth.service import safe_next

    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "http:/evil", None, ""):
        assert safe_next(evil, "/moje-sprawy") == "/moje-sprawy"
    assert safe_next("/uslugi/pismo-ogolne") == "/uslugi/pismo-ogolne"


def test_clerk_signs_in_with_unit_and_roles(app: Flask, client: PageCheckingClient) -> None:
    login_clerk(client, "t.lewandowski")
    with app.app_context():
        clerk = db.session.scalar(select(Clerk))
        assert clerk is not None and clerk.unit == "MZDiI" and clerk.roles == ["clerk"]


def test_pages_for_residents_ask_for_login_first(client: PageCheckingClient) -> None:
    answer = client.get("/moje-sprawy")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/logowanie?next=")
    assert client.get("/urzad/").headers["Location"].startswith("/urzad/logowanie")


@pytest.mark.parametrize("mode", ["bad-signature", "expired", "wrong-nonce", "wrong-audience", "wrong-issuer",
                                  "unknown-key"])
def test_a_spoiled_id_token_is_refused_with_a_clear_page(app: Flask, client: PageCheckingClient, sandbox_url: str,
                                                         mode: str) -> None:
    requests.post(f"{sandbox_url}/wk/test-mode", data={"mode": mode}, timeout=10).raise_for_status()
    page = client.get_page(local(authorize(client)), status=400)
    assert page.heading == "Nie udało się zalogować", mode
    assert "Nie udało się potwierdzić Twojej tożsamości" in page.text
    assert [r["reason"] for r in refusals(app)] == ["invalid_response"]
    with app.app_context():
        assert db.session.scalar(select(Resident)) is None
    with client.session_transaction() as session:
        assert "resident_id" not in session


def test_a_login_without_pesel_is_refused(app: Flask, client: PageCheckingClient) -> None:
    page = client.get_page(local(authorize(client, account="DE/PL/7HQ4-2211-KM")), status=400)
    assert "nie przekazała numeru PESEL" in page.text
    assert refusals(app)[0]["reason"] == "missing_pesel"


def test_logout_ends_the_portal_and_the_provider_sessions(client: PageCheckingClient, sandbox_url: str) -> None:
    browser = login_resident(client)
    assert browser.get(f"{sandbox_url}/wk/session", timeout=10).json()["signed_in"] is True
    token = csrf_token(client, "/moje-sprawy")
    out = client.post("/wyloguj", data={"csrf_token": token})
    assert out.status_code == 302
    end_session = out.headers["Location"]
    # The portal names itself by client_id: no id_token_hint (the ID token carries the PESEL) in the address.
    assert end_session.startswith(f"{sandbox_url}/wk/logout?") and "client_id=okienko" in end_session
    assert "id_token_hint" not in end_session
    # Without a hint the provider must ask the person before ending its own session (RP-Initiated Logout 1.0 §2).
    asked = browser.get(end_session, allow_redirects=False, timeout=10)
    assert asked.status_code == 200 and "Czy wylogować Cię" in asked.text
    form = html.fromstring(asked.content)
    fields = {i.get("name"): i.get("value") for i in form.xpath("//form//input[@type='hidden']")}
    back = browser.post(end_session, data={**fields, "action": "logout"}, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"].endswith("/")
    assert client.get("/moje-sprawy").status_code == 302
    assert browser.get(f"{sandbox_url}/wk/session", timeout=10).json()["signed_in"] is False


def test_login_still_works_after_the_provider_rotates_its_signing_key(app: Flask, sandbox_url: str) -> None:
    first = app.test_client()
    login_resident(first)  # the portal now holds the provider's current JWKS
    new_kid = requests.post(f"{sandbox_url}/wk/rotate-key", timeout=10).json()["kid"]
    kids = [k["kid"] for k in requests.get(f"{sandbox_url}/wk/jwks", timeout=10).json()["keys"]]
    assert kids[0] == new_kid and len(kids) >= 2  # the old key stays published for tokens already issued
    second = app.test_client()
    login_resident(second)  # an ID token signed with a key the portal has not seen yet
    assert "Jan Kowalski" in second.get("/konto").get_data(as_text=True)
