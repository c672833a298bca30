"""CSRF: every route that changes state refuses a request without the session's token, even from a
signed-in person who may do the act; only the short, explained list in routes.CSRF_EXEMPT takes none."""

from __future__ import annotations

import pytest
from flask import Flask

from portal.extensions import csrf
from tests.helpers import csrf_token
from tests.security.conftest import World, table_counts
from tests.security.routes import ADMIN, CLERK, CLERK_UNIT, CSRF_EXEMPT, ROUTES
from tests.security.test_access import STATE_CHANGING, rules

# Who tries each kind of route: someone who may do the act, so only the missing token stops it.
ACTOR = {CLERK: "clerk_own_unit", CLERK_UNIT: "clerk_own_unit", ADMIN: "admin"}
REFUSED = "Formularz wygasł"


def state_changing(app: Flask) -> list[str]:
    return sorted(e for e, methods in rules(app).items() if methods & STATE_CHANGING and e not in CSRF_EXEMPT)


def test_csrf_protection_is_on_in_the_tested_configuration(app: Flask) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert app.config.get("WTF_CSRF_CHECK_DEFAULT", True) is True
    assert set(app.config.get("WTF_CSRF_METHODS", STATE_CHANGING)) == STATE_CHANGING


def test_the_exempt_routes_are_exactly_the_explained_ones(app: Flask) -> None:
    exempt = {endpoint for endpoint in rules(app)
              if f"{app.view_functions[endpoint].__module__}.{app.view_functions[endpoint].__name__}"
              in csrf._exempt_views}
    assert exempt == set(CSRF_EXEMPT)
    assert not csrf._exempt_blueprints


@pytest.mark.parametrize("token", ["none", "another session's", "forged"])
def test_every_state_changing_route_refuses_a_request_without_the_sessions_token(app: Flask, world: World,
                                                                                   token: str) -> None:
    stranger_token = csrf_token(world.clients["resident_b"], "/sprawdz-sprawe")
    sent = {"none": {}, "another session's": {"csrf_token": stranger_token},
            "forged": {"csrf_token": "IjAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OSI.aaaa.bbbb"}}[token]
    before = table_counts(app)
    accepted = []
    for endpoint in state_changing(app):
        route = ROUTES[endpoint]
        client = world.clients[ACTOR.get(route.kind, "resident_a")]
        for method in sorted(rules(app)[endpoint] & STATE_CHANGING):
            response = client.open(route.path(world), method=method, data=sent)
            if response.status_code != 400 or REFUSED not in response.get_data(as_text=True):
                accepted.append(f"{method} {route.path(world)} ({endpoint}): {response.status_code}")
    assert accepted == []
    assert table_counts(app) == before  # not even an audit entry: the request never reached a view


def test_the_token_in_a_header_serves_the_session_keepalive(app: Flask, world: World) -> None:
    """Scripts send the token as X-CSRFToken (session.js): with it the act is done, without it not."""
    client = world.clients["resident_a"]
    assert client.post("/sesja/przedluz").status_code == 400
    token = csrf_token(client, "/sprawdz-sprawe")
    answer = client.post("/sesja/przedluz", headers={"X-CSRFToken": token})
    assert answer.status_code == 200 and answer.get_json()["extended"] is True


def test_exempt_routes_authenticate_otherwise(app: Flask, world: World) -> None:
    """Without their own credentials the exempt machine endpoints refuse, whatever session comes along."""
    admin = world.clients["admin"]
    events = admin.post("/api/zdarzenia", json={"events": []})
    assert events.status_code == 401
    pull = admin.post("/epuap/ws/pull", data=b'<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"/>',
                      content_type="text/xml")
    assert pull.status_code >= 400 and b"Fault" in pull.data
    # The public receipt check and case look-up read only what is sent: a session adds nothing.
    anonymous = world.clients["anonymous"]
    resident = world.clients["resident_a"]
    for path in ("/api/upo/weryfikacja", "/api/sprawy/sprawdz"):
        assert resident.post(path).get_json() == anonymous.post(path).get_json()
