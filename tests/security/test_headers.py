"""Security headers on every page the portal serves, HSTS and Secure cookies in the production configuration,
and HTTPS recognised behind a TLS-terminating proxy only when PORTAL_TRUSTED_PROXIES says there is one."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.security.conftest import World
from tests.security.routes import EXPECTED, ROUTES
from tests.security.test_access import rules

PRODUCTION = "https://okienko.leszno.example"


def csp_directives(response: Any) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def page_problems(response: Any) -> list[str]:
    problems = []
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no nosniff")
    if response.mimetype != "text/html":
        return problems
    csp = csp_directives(response)
    if not csp:
        return [*problems, "no CSP"]
    for directive in ("default-src", "script-src", "style-src"):
        if any(v in csp.get(directive, []) for v in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:")):
            problems.append(f"{directive} {csp.get(directive)}")
    if csp.get("frame-ancestors") != ["'none'"] or response.headers.get("X-Frame-Options") != "DENY":
        problems.append("may be framed")
    if csp.get("object-src") != ["'none'"] or csp.get("base-uri") != ["'self'"]:
        problems.append("object-src/base-uri")
    if response.headers.get("Referrer-Policy") not in ("same-origin", "no-referrer", "strict-origin"):
        problems.append(f"Referrer-Policy {response.headers.get('Referrer-Policy')}")
    text = response.get_data(as_text=True)
    # The policy forbids inline code; a page that relied on it would be broken, so there must be none.
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\son[a-z]+\s*=", text) or \
            re.search(r"<style[\s>]|\sstyle\s*=", text):
        problems.append("inline script or style")
    return problems


def test_every_page_carries_the_security_headers(app: Flask, world: World) -> None:
    """Every GET route, opened by a visitor allowed to see it, plus the error pages."""
    seen_html = 0
    problems = []
    for endpoint, methods in sorted(rules(app).items()):
        route = ROUTES[endpoint]
        if "GET" not in methods or route.last:
            continue
        role = next(r for r, outcome in EXPECTED[route.kind].items() if outcome == "ok")
        response = world.clients[role].get(route.path(world))
        response.close()
        seen_html += response.mimetype == "text/html"
        problems += [f"{endpoint} ({response.status_code} {response.mimetype}): {p}" for p in page_problems(response)]
    anonymous = world.clients["anonymous"]
    for error in (anonymous.get("/no-such-page"), anonymous.post("/sprawdz-sprawe"),
                  anonymous.get("/wnioski/x/podsumowanie"), world.clients["admin"].get("/moje-sprawy")):
        problems += [f"error page {error.status_code}: {p}" for p in page_problems(error)]
    assert problems == []
    assert seen_html >= 25


def test_no_hsts_and_no_secure_cookie_over_plain_http_in_development(app: Flask, client: FlaskClient) -> None:
    answer = client.get("/sprawdz-sprawe")
    assert "Strict-Transport-Security" not in answer.headers
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def production(other_app: Any, **changes: Any) -> Flask:
    return other_app(BASE_URL=PRODUCTION, SANDBOX=False, **changes)


def test_production_sets_hsts_and_a_secure_http_only_same_site_cookie(other_app: Any) -> None:
    served = production(other_app).test_client().get("/sprawdz-sprawe", base_url=PRODUCTION)
    assert served.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookie = served.headers["Set-Cookie"]
    assert cookie.startswith("okienko_session=")
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_behind_a_trusted_proxy_https_and_the_client_address_come_from_its_headers(other_app: Any) -> None:
    """TLS ends at the proxy, which talks plain HTTP to the portal and says so in X-Forwarded-Proto."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    behind = production(other_app, TRUSTED_PROXIES=1)
    seen: dict[str, Any] = {}

    @behind.before_request
    def remember() -> None:
        from flask import request

        seen.update(secure=request.is_secure, address=request.remote_addr)

    answer = behind.test_client().get("/sprawdz-sprawe", headers=forwarded, base_url="http://portal.internal")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    assert seen == {"secure": True, "address": "203.0.113.7"}


def test_without_a_trusted_proxy_forwarded_headers_are_anyones_to_write(other_app: Any) -> None:
    """Reached directly, the portal believes no X-Forwarded-* header: a client cannot pose as another address
    (and dodge the rate limits) or claim HTTPS."""
    direct = production(other_app, TRUSTED_PROXIES=0)
    seen: dict[str, Any] = {}

    @direct.before_request
    def remember() -> None:
        from flask import request

        seen.update(secure=request.is_secure, address=request.remote_addr)

    answer = direct.test_client().get("/sprawdz-sprawe", base_url="http://portal.internal",
                                      headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
    assert "Strict-Transport-Security" not in answer.headers
    assert seen == {"secure": False, "address": "127.0.0.1"}
