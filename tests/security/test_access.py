"""The access matrix: every route of the portal × every kind of visitor, against real objects.

Who may open what is decided in `tests/security/routes.py`; this file checks the portal keeps to it.
A visitor who may not see an object gets 404, exactly as for an object that does not exist, so ids
cannot be probed; a visitor without a session is sent to the right login.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.helpers import csrf_token
from tests.security.conftest import ROLES, World, table_counts
from tests.security.routes import CSRF_EXEMPT, EXPECTED, MACHINE, ROUTES, Route

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def rules(app: Flask) -> dict[str, set[str]]:
    """Every endpoint with the methods it answers (HEAD and OPTIONS are Flask's own)."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        found.setdefault(rule.endpoint, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    return found


def test_every_route_is_classified(app: Flask) -> None:
    endpoints = set(rules(app))
    assert endpoints - set(ROUTES) == set(), "classify the new routes in tests/security/routes.py"
    assert set(ROUTES) - endpoints == set(), "these routes are gone: remove them from tests/security/routes.py"
    assert set(CSRF_EXEMPT) <= endpoints


def outcome(response: TestResponse, route: Route) -> str:
    location = urlsplit(response.headers.get("Location", "")).path
    if response.status_code in (301, 302, 303) and location == "/logowanie":
        return "login"
    if response.status_code in (301, 302, 303) and location == "/urzad/logowanie":
        return "desk_login"
    named = {404: "hidden", 403: "forbidden", 401: "unauthorized"}
    if response.status_code in route.ok:
        return "ok"
    return named.get(response.status_code, f"status {response.status_code}")


def matches(expected: str, got: str, response: TestResponse) -> bool:
    if expected == "refused":
        return response.status_code >= 400
    return expected == got


def attempts(app: Flask) -> list[tuple[str, str, Route]]:
    """(endpoint, method, route) in the order they are tried: the refused acts first, so that nothing read
    later can hide a change they made; whatever ends a session last."""
    methods = rules(app)
    tried = [(endpoint, method, route) for endpoint, route in ROUTES.items() for method in methods[endpoint]]
    return sorted(tried, key=lambda item: (item[2].last, item[1] != "POST", item[0]))


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(app: Flask, world: World, role: str) -> None:
    client = world.clients[role]
    token = csrf_token(client, "/sprawdz-sprawe")
    before = table_counts(app)
    checked_writes = False
    tried = 0
    wrong: list[str] = []
    for endpoint, method, route in attempts(app):
        expected = EXPECTED[route.kind][role]
        path = route.path(world)
        if method == "POST" and expected == "ok":
            continue  # the allowed visitor's acts are the functional tests' business; here only refusals
        if method == "GET" and not checked_writes:
            # Refused acts change nothing, except the audit log's record of the refusals.
            after = table_counts(app)
            assert {t for t in after if after[t] != before[t]} - {"audit_entry"} == set()
            checked_writes = True
        # A post carries a valid token for this session: a refusal must come from the access check, not CSRF.
        response = client.get(path) if method == "GET" else client.post(path, data={"csrf_token": token})
        response.close()
        tried += 1
        got = outcome(response, route)
        if not matches(expected, got, response):
            wrong.append(f"{method} {path} ({endpoint}, {route.kind}): expected {expected}, got {got} "
                         f"{response.headers.get('Location', '')}")
    assert wrong == [], "\n".join(wrong)
    assert tried >= sum("GET" in methods for methods in rules(app).values())


def test_another_resident_sees_nothing_of_a_case_in_the_lists(app: Flask, world: World) -> None:
    other = world.clients["resident_b"]
    assert world.receipt_id not in other.get("/moje-sprawy").get_data(as_text=True)
    assert world.receipt_id in world.clients["resident_a"].get("/moje-sprawy").get_data(as_text=True)
    stranger = world.clients["clerk_other_unit"]
    for page in ("/urzad/", "/urzad/sprawy", "/urzad/rejestr.csv"):
        text = stranger.get(page).get_data(as_text=True)
        assert "Kowalski" not in text and "OR." not in text, page
    assert "Kowalski" in world.clients["clerk_own_unit"].get("/urzad/").get_data(as_text=True)


def test_a_missing_object_and_another_persons_object_answer_alike(app: Flask, world: World) -> None:
    """No enumeration: B cannot tell A's draft or case from one that does not exist."""
    other = world.clients["resident_b"]
    for real, missing in ((f"/moje-sprawy/{world.submission_id}", "/moje-sprawy/00000000-no-such-case"),
                          (f"/wnioski/{world.draft_id}/podsumowanie", "/wnioski/no-such-draft/podsumowanie")):
        a, b = other.get(real), other.get(missing)
        assert a.status_code == b.status_code == 404, (a.status_code, b.status_code)
        assert a.get_data(as_text=True).replace(real, missing) == b.get_data(as_text=True), \
            _difference(a.get_data(as_text=True).replace(real, missing), b.get_data(as_text=True))
    stranger = world.clients["clerk_other_unit"]
    real, missing = f"/urzad/sprawy/{world.case_id}", "/urzad/sprawy/999999"
    a, b = stranger.get(real), stranger.get(missing)
    assert a.status_code == b.status_code == 404, (a.status_code, b.status_code)
    assert a.get_data(as_text=True).replace(real, missing) == b.get_data(as_text=True), \
        _difference(a.get_data(as_text=True).replace(real, missing), b.get_data(as_text=True))


def _difference(first: str, second: str) -> str:
    """Where two pages that should be the same differ, for the failure message."""
    import difflib

    return "\n".join(difflib.unified_diff(first.splitlines(), second.splitlines(), lineterm="", n=1))


def test_machine_endpoints_ignore_sessions(app: Flask, world: World) -> None:
    """The administrator's session opens nothing a back office would need a signature for."""
    for endpoint, route in ROUTES.items():
        if route.kind != MACHINE:
            continue
        anonymous = world.clients["anonymous"].post(route.path(world), data=b"{}", content_type="application/json")
        admin = world.clients["admin"].post(route.path(world), data=b"{}", content_type="application/json")
        assert anonymous.status_code == admin.status_code >= 400, endpoint
