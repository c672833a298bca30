"""Rate limits on starting a login and on filing (PORTAL_LOGIN_RATE_LIMIT, PORTAL_SUBMIT_RATE_LIMIT), each
tested with an app of its own and a low limit; the refusal is the Polish 429 page. Production keeps the
counters in Redis (PORTAL_RATELIMIT_STORAGE=redis://…): tested against the real Redis at 127.0.0.1:6379.

(The receipt look-up limit is tested in tests/status/test_pages.py.)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from tests.helpers import ANNA, JAN, csrf_token, login_resident, start_letter

REDIS = "redis://127.0.0.1:6379"


@pytest.fixture
def limited(other_app: Any) -> Iterator[Any]:
    """Apps with low limits. Flask-Limiter keeps one storage for the process (the last app's), so a fresh
    app with the suite's settings is made afterwards: no other test inherits these counters or Redis."""
    yield other_app
    other_app()


def polish_429(answer: Any) -> bool:
    text = answer.get_data(as_text=True)
    return (answer.status_code == 429 and '<html lang="pl">' in text and "Zbyt wiele prób" in text
            and "Odczekaj minutę i spróbuj ponownie." in text)


def test_starting_a_login_is_limited_per_address(limited: Any) -> None:
    app = limited(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    assert [client.get("/logowanie").status_code for _ in range(3)] == [302, 302, 302]
    refused = client.get("/logowanie")
    assert polish_429(refused)
    assert "z UPO" not in refused.get_data(as_text=True)  # not the receipt look-up's advice
    assert client.get("/urzad/logowanie").status_code == 429  # one allowance for residents' and clerks' logins
    assert "Retry-After" in refused.headers
    other_address = app.test_client()
    assert other_address.get("/logowanie", environ_base={"REMOTE_ADDR": "192.0.2.44"}).status_code == 302
    assert client.get("/uslugi").status_code == 200  # the rest of the portal is not affected


def test_filing_is_limited_per_resident(limited: Any, catalog: None) -> None:
    app = limited(SUBMIT_RATE_LIMIT="2 per minute")
    jan = app.test_client()
    login_resident(jan, JAN)
    draft_id = start_letter(jan)
    jan.get(f"/wnioski/{draft_id}/podpis/dokument.xml")
    token = csrf_token(jan, f"/wnioski/{draft_id}/podpis")
    qualified = f"/wnioski/{draft_id}/podpis/kwalifikowany"
    assert [jan.post(qualified, data={"csrf_token": token}).status_code for _ in range(2)] == [400, 400]
    assert polish_429(jan.post(qualified, data={"csrf_token": token}))
    # handing to TpSigning5 and retrying count against the same allowance
    assert jan.post(f"/wnioski/{draft_id}/podpis/profil-zaufany", data={"csrf_token": token}).status_code == 429
    assert jan.post(f"/wnioski/{draft_id}/podpis/ponow", data={"csrf_token": token}).status_code == 429
    # another resident at the same address (a family, a library) files undisturbed
    anna = app.test_client()
    login_resident(anna, ANNA)
    other_draft = start_letter(anna)
    anna.get(f"/wnioski/{other_draft}/podpis/dokument.xml")
    assert anna.post(f"/wnioski/{other_draft}/podpis/kwalifikowany",
                     data={"csrf_token": csrf_token(anna, f"/wnioski/{other_draft}/podpis")}).status_code == 400


def test_counters_live_in_redis_when_configured(limited: Any, app: Flask) -> None:
    """The production setting: every portal process counts in one Redis, so a second process (here: a
    connection of its own, as another gunicorn worker has) sees the tries the first one counted."""
    address = f"198.51.100.{secrets.randbelow(250) + 1}"
    shared = limited(RATELIMIT_STORAGE=REDIS, LOGIN_RATE_LIMIT="2 per minute")
    client = shared.test_client()
    server = redis.Redis.from_url(REDIS)
    try:
        for key in server.scan_iter(f"*/{address}/login-start/*"):
            server.delete(key)  # a leftover of an earlier run within the same minute
        answers = [client.get("/logowanie", environ_base={"REMOTE_ADDR": address}).status_code for _ in range(3)]
        assert answers == [302, 302, 429]
        keys = list(server.scan_iter(f"*/{address}/login-start/*"))
        assert len(keys) == 1 and int(server.get(keys[0])) >= 2
        assert 0 < server.ttl(keys[0]) <= 60
    finally:
        for key in server.scan_iter(f"*{address}*"):
            server.delete(key)
        server.close()
