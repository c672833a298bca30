"""PostgreSQL really stopped under a running portal: residents get the "try again" page, not a bare 500, and
the portal comes back by itself when the database does."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.faults import PrivatePostgres, migrated_portal
from tests.helpers import login_resident, start_letter


@pytest.fixture
def portal(private_postgres: PrivatePostgres, other_app: Any, catalog: None) -> Flask:
    return migrated_portal(other_app, private_postgres.new_database())


def assert_outage_page(answer: Any, retry: str) -> str:
    page = answer.get_data(as_text=True)
    assert answer.status_code == 503, page[:2000]
    assert answer.headers["Retry-After"] == "30"
    assert "Internal Server Error" not in page
    assert "Portal jest chwilowo niedostępny" in page
    assert f'href="{retry}"' in page and "Spróbuj ponownie" in page  # the retry button
    return page


def test_with_the_database_down_every_page_says_try_again_and_the_portal_recovers(
        portal: Flask, private_postgres: PrivatePostgres) -> None:
    resident = portal.test_client()
    login_resident(resident)
    draft_id = start_letter(resident)
    assert resident.get("/moje-sprawy").status_code == 200
    visitor = portal.test_client()
    assert visitor.get("/uslugi").status_code == 200

    private_postgres.stop("fast")
    assert_outage_page(resident.get("/moje-sprawy"), "/moje-sprawy")
    assert_outage_page(resident.get(f"/wnioski/{draft_id}/podsumowanie?x=1"), f"/wnioski/{draft_id}/podsumowanie?x=1")
    assert_outage_page(visitor.get("/uslugi"), "/uslugi")
    english = visitor.get("/uslugi?lang=en")
    assert english.status_code == 503 and english.headers["Retry-After"] == "30"
    api = visitor.get("/api/upo/OK-2026-ABCDEFGH?kod=ABCDE-FGHIJ")
    # (A rate-limited address: Flask-Limiter's own Retry-After, the end of its window, may stand instead.)
    assert api.status_code == 503 and api.is_json and int(api.headers["Retry-After"]) > 0

    private_postgres.start()
    # Nobody restarts the portal: the next request finds the database again, and the resident is still signed in.
    assert resident.get("/moje-sprawy").status_code == 200
    assert visitor.get("/uslugi").status_code == 200


def test_the_outage_page_degrades_its_header_when_the_database_fails_mid_request(
        portal: Flask, private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch) -> None:
    """The resident was read at the start of the request; the database goes down before the page is made."""
    from portal.status import views

    client: FlaskClient = portal.test_client()
    login_resident(client)
    assert "Zalogowano:" in client.get("/moje-sprawy").get_data(as_text=True)
    counted = views.inbox.count_submissions_of

    def count_then_lose_the_database(resident: Any) -> int:
        found = counted(resident)
        private_postgres.stop("fast")
        return found + views.inbox.count_submissions_of(resident)  # the database is gone now

    monkeypatch.setattr(views.inbox, "count_submissions_of", count_then_lose_the_database)
    page = assert_outage_page(client.get("/moje-sprawy"), "/moje-sprawy")
    assert "Zalogowano" in page  # the session still says who this is; the name would need the database
    monkeypatch.undo()
    private_postgres.start()
    assert "Zalogowano:" in client.get("/moje-sprawy").get_data(as_text=True)


def test_the_retry_button_never_leads_to_another_site(portal: Flask, private_postgres: PrivatePostgres) -> None:
    visitor = portal.test_client()
    # A session cookie makes every request read the database first, whatever the address.
    visitor.set_cookie(portal.config["SESSION_COOKIE_NAME"], "A" * 43)
    private_postgres.stop("fast")
    page = visitor.get("/", environ_overrides={"PATH_INFO": "//evil.example/uslugi"}).get_data(as_text=True)
    assert "Portal jest chwilowo niedostępny" in page
    assert 'href="//evil.example' not in page and 'class="button" href="/evil.example/uslugi"' in page
