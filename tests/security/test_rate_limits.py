"""Rate limits on starting a login and on filing (PORTAL_LOGIN_RATE_LIMIT, PORTAL_SUBMIT_RATE_LIMIT), each
tested with an app of its own and a low limit; the refusal is the Polish 429 page. Production keeps the
counters in Redis (PORTAL_RATELIMIT_STORAGE=redis://…): tested against the real Redis at 127.0.0.1:6379.

The receipt look-up limit: tests/status/test_pages.py, and here the attacks on it — a code given where the
limit did not look, at every door where a code can be tried.
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


def test_returns_from_the_trusted_profile_count_against_the_filing_limit(limited: Any, catalog: None) -> None:
    """Attack: reload the way back from TpSigning5 (`/podpis/powrot`) over and over — each load made a signed
    `getSignedDocument` call to the signing service. It now counts against the resident's filing allowance."""
    app = limited(SUBMIT_RATE_LIMIT="2 per minute")
    jan = app.test_client()
    login_resident(jan, JAN)
    draft_id = start_letter(jan)
    answers = [jan.get(f"/wnioski/{draft_id}/podpis/powrot").status_code for _ in range(4)]
    assert answers[:2] != [429, 429] and answers[2:] == [429, 429]


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


@pytest.fixture
def receipt(app: Flask, catalog: None, pki: Any) -> tuple[str, str]:
    """A filed letter's receipt id and its real access code."""
    from portal.extensions import db
    from portal.inbox import service as inbox
    from tests.factories import make_submission

    with app.app_context():
        submission = make_submission(pki)
        receipt_id = submission.receipt_id
        code = inbox.access_code(receipt_id)
        db.session.remove()
    return receipt_id, code


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every code a look-up door really compares (each call of receipts.find): what the limit must bound."""
    from portal.inbox import receipts

    compared: list[str] = []
    real = receipts.find

    def counting(receipt_id: str, code: str, access_code: Any) -> Any:
        compared.append(code)
        return real(receipt_id, code, access_code)

    monkeypatch.setattr(receipts, "find", counting)
    return compared


def guesses(code: str) -> list[str]:
    """24 wrong codes, then the real one: a guesser who finally hits it."""
    return [f"{n:04d}-{n:04d}" for n in range(24)] + [code]


def test_an_empty_code_in_the_address_does_not_lift_the_look_up_limit(limited: Any, receipt: tuple[str, str],
                                                                       checks: list[str]) -> None:
    """Attack: `POST /sprawdz-sprawe?kod=` — an empty `kod` in the query string, the guessed code in the
    form. The limit once read `request.values` (the address first: empty, so "no code, not counted") while
    the page read `request.form`: 25 of 25 guesses were checked. Now the limit counts what the page reads:
    10 guesses are checked, the other 15 — the right code among them — get the 429 page."""
    receipt_id, code = receipt
    client = limited(LOOKUP_RATE_LIMIT="10 per minute").test_client()
    token = csrf_token(client, "/sprawdz-sprawe")
    answers = [client.post("/sprawdz-sprawe?kod=", data={"csrf_token": token, "upo": receipt_id, "kod": guess})
               for guess in guesses(code)]
    assert [a.status_code for a in answers] == [404] * 10 + [429] * 15
    assert len(checks) == 10 and code not in checks
    assert "Zbyt wiele prób" in answers[-1].get_data(as_text=True)


def test_an_empty_code_in_the_address_does_not_lift_the_limit_of_the_json_look_up(
        limited: Any, receipt: tuple[str, str], checks: list[str]) -> None:
    """Attack: the same trick at the JSON door — `POST /api/sprawy/sprawdz?kod=` with the guess in the JSON
    body. 10 guesses are checked, the other 15 (the right code among them) get 429 in JSON."""
    receipt_id, code = receipt
    client = limited(LOOKUP_RATE_LIMIT="10 per minute").test_client()
    answers = [client.post("/api/sprawy/sprawdz?kod=", json={"upo": receipt_id, "kod": guess})
               for guess in guesses(code)]
    assert [a.status_code for a in answers] == [404] * 10 + [429] * 15
    assert len(checks) == 10 and code not in checks
    assert answers[-1].is_json


def _doors(receipt_id: str, token: str) -> dict[str, Any]:
    """Every look-up door, each sent the code where its view reads it and an empty one where it does not."""
    return {
        "case look-up page": lambda c, guess: c.post(
            "/sprawdz-sprawe?kod=", data={"csrf_token": token, "upo": receipt_id, "kod": guess}),
        "case look-up API, JSON": lambda c, guess: c.post(
            "/api/sprawy/sprawdz?kod=", json={"upo": receipt_id, "kod": guess}),
        "case look-up API, form": lambda c, guess: c.post(
            f"/api/sprawy/sprawdz?upo={receipt_id}&kod={guess}", data={"kod": ""}),
        "receipt check page, posted": lambda c, guess: c.post(
            "/weryfikacja", data={"csrf_token": token, "upo": receipt_id, "kod": guess}),
        "receipt check page, address": lambda c, guess: c.get(
            f"/weryfikacja?upo={receipt_id}&kod={guess}", data={"kod": ""}),
        "receipt API": lambda c, guess: c.get(f"/api/upo/{receipt_id}?kod={guess}", data={"kod": ""}),
        "receipt download": lambda c, guess: c.get(f"/weryfikacja/{receipt_id}/upo.xml?kod={guess}",
                                                   data={"kod": ""}),
    }


def test_no_look_up_door_checks_more_codes_than_the_limit(limited: Any, receipt: tuple[str, str],
                                                          checks: list[str]) -> None:
    """Attack: 25 guesses at each door where the code can be given (case look-up page and API, receipt check
    page, its API and the UPO download), each from an address of its own. At no door are more than 10 codes
    compared, whatever the answer says; every try past the allowance is refused with 429."""
    receipt_id, code = receipt
    app = limited(LOOKUP_RATE_LIMIT="10 per minute")
    client = app.test_client()
    token = csrf_token(client, "/sprawdz-sprawe")
    for number, (door, send) in enumerate(_doors(receipt_id, token).items()):
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{number + 1}"
        checks.clear()
        answers = [send(client, guess).status_code for guess in guesses(code)]
        assert len(checks) == 10, (door, len(checks), answers)
        assert answers[10:] == [429] * 15, (door, answers)
