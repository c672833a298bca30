"""Open redirects: no address a visitor can put in a link (login's `next`, the session-expired page, logout,
the language switch) or in a header (Host, Referer) sends anyone off the portal; the signing service is
given return addresses built from PORTAL_BASE_URL only."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import JAN, csrf_token, local, login_resident, start_letter

EVIL = [
    "https://evil.example/",
    "//evil.example",
    "///evil.example",
    "\\\\evil.example",
    "/\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "javascript:alert(document.cookie)",
    "http:evil.example",
    "https:/evil.example",
    " //evil.example",
    "data:text/html,<script>alert(1)</script>",
]


def stays_here(location: str, app: Flask) -> bool:
    """A redirect target that a browser resolves to this portal."""
    cleaned = re.sub(r"[\t\n\r]", "", location)
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc:
        return f"{parts.scheme}://{parts.netloc}" == app.config["BASE_URL"]
    return cleaned.startswith("/") and not cleaned.startswith("//") and "\\" not in cleaned


def resident_login_lands(client: FlaskClient, target: str) -> str:
    start = client.get("/logowanie", query_string={"next": target})
    browser = requests.Session()
    answer = browser.post(start.headers["Location"], data={"account": JAN}, allow_redirects=False, timeout=10)
    landed = client.get(local(answer.headers["Location"]))
    assert landed.status_code == 302
    return landed.headers["Location"]


def clerk_login_lands(client: FlaskClient, target: str) -> str:
    start = client.get("/urzad/logowanie", query_string={"next": target})
    answer = requests.post(start.headers["Location"], data={"account": "m.wojcik"}, allow_redirects=False, timeout=10)
    landed = client.get(local(answer.headers["Location"]))
    assert landed.status_code == 302
    return landed.headers["Location"]


@pytest.mark.parametrize("target", EVIL)
def test_login_returns_only_to_the_portal(app: Flask, target: str) -> None:
    assert resident_login_lands(app.test_client(), target) == "/moje-sprawy"
    assert clerk_login_lands(app.test_client(), target) == "/urzad/"


def test_login_returns_to_the_page_it_was_asked_for(app: Flask) -> None:
    """The control: a path on the portal is honoured, query and all."""
    assert resident_login_lands(app.test_client(), "/uslugi?lang=en") == "/uslugi?lang=en"


@pytest.mark.parametrize("target", EVIL)
def test_the_session_expired_page_links_only_to_the_portal(client: FlaskClient, target: str) -> None:
    page = client.get("/sesja-wygasla", query_string={"next": target}).get_data(as_text=True)
    link = html.unescape(re.search(r'class="button" href="([^"]*)"', page).group(1))
    assert urlsplit(link).path == "/logowanie"
    assert parse_qs(urlsplit(link).query)["next"] == ["/moje-sprawy"]


def test_a_form_post_without_a_session_returns_through_the_referer_only_to_the_portal(app: Flask,
                                                                                      client: FlaskClient) -> None:
    token = csrf_token(client, "/sprawdz-sprawe")
    for referer in ("https://evil.example/x", "http://localhost//evil.example", f"{app.config['BASE_URL']}//evil"):
        answer = client.post("/uslugi/pismo-ogolne/rozpocznij", data={"csrf_token": token},
                             headers={"Referer": referer})
        assert answer.status_code == 302
        login = urlsplit(answer.headers["Location"])
        assert login.path == "/logowanie"
        assert stays_here(parse_qs(login.query).get("next", ["/"])[0], app)


def test_logout_goes_to_the_providers_end_session_and_back_to_the_portal_only(app: Flask, client: FlaskClient) -> None:
    login_resident(client)
    token = csrf_token(client, "/konto")
    answer = client.post("/wyloguj?next=https://evil.example/", data={"csrf_token": token, "next": "//evil.example"},
                         headers={"Referer": "https://evil.example/"})
    assert answer.status_code == 302
    end_session = urlsplit(answer.headers["Location"])
    assert f"{end_session.scheme}://{end_session.netloc}" == urlsplit(app.config["RESIDENT_OIDC_ISSUER"])._replace(
        path="").geturl()
    assert parse_qs(end_session.query)["post_logout_redirect_uri"] == [app.config["BASE_URL"] + "/"]
    assert "evil" not in answer.headers["Location"]
    clerk = app.test_client()
    token = csrf_token(clerk, "/sprawdz-sprawe")
    assert clerk.post("/urzad/wyloguj?next=//evil.example", data={"csrf_token": token}).headers["Location"] == "/urzad/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "javascript:alert(1)"])
def test_the_language_switch_never_redirects(client: FlaskClient, target: str) -> None:
    for query in ({"lang": target}, {"lang": "en", "next": target}):
        answer = client.get("/uslugi", query_string=query)
        assert answer.status_code == 200 and "Location" not in answer.headers
        assert "evil.example" not in answer.get_data(as_text=True)


def test_signing_return_addresses_come_from_the_configuration_not_the_request(app: Flask, client: FlaskClient,
                                                                              catalog: None) -> None:
    """A forged X-Forwarded-Host must not become the address TpSigning5 sends the resident back to."""
    browser = login_resident(client)
    draft_id = start_letter(client)
    token = csrf_token(client, f"/wnioski/{draft_id}/podpis")
    handed = client.post(f"/wnioski/{draft_id}/podpis/profil-zaufany", data={"csrf_token": token},
                         headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert handed.status_code == 302
    confirmation = handed.headers["Location"]
    assert browser.get(confirmation, timeout=10).status_code == 200
    for action in ("cancel", "sign"):
        back = browser.post(confirmation, data={"action": action}, allow_redirects=False, timeout=30)
        assert back.status_code == 302
        assert back.headers["Location"].startswith(app.config["BASE_URL"] + f"/wnioski/{draft_id}/podpis/"), \
            back.headers["Location"]


def test_the_identity_providers_get_return_addresses_from_the_configuration(app: Flask) -> None:
    """A forged Host must not become the redirect_uri the login.gov.pl broker or the office's IdP answers to."""
    for path, callback in (("/logowanie", "/logowanie/powrot"), ("/urzad/logowanie", "/urzad/logowanie/powrot")):
        start = app.test_client().get(path, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
        assert start.status_code == 302
        redirect_uri = parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"]
        assert redirect_uri == [app.config["BASE_URL"] + callback]
