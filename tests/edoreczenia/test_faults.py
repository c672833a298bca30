"""e-Doręczenia faults not covered by test_outgoing/test_incoming: the service too slow for a letter's POST (the
client gives up, the service still takes it: sent once, the clerk told meanwhile), and the worker's listing of
the office's box backing off on its own while the service fails."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from portal import chores, create_app
from portal.db_types import utcnow
from portal.edoreczenia import incoming
from portal.edoreczenia import service as edoreczenia
from portal.edoreczenia.incoming_models import IncomingMessage
from portal.edoreczenia.models import FAILED, SENT, EdoDispatch
from portal.extensions import db
from tests.edoreczenia.test_incoming import send_to_office
from tests.edoreczenia.test_outgoing import _case, _letter, _sent_with
from tests.helpers import login_clerk
from tests.pages import PageCheckingClient

TIMEOUT = 0.3  # the client's time-out here; the sandbox is made slower than that


@pytest.fixture(scope="module")
def impatient_app(app: Flask, app_config: dict[str, Any], sandbox_url: str, pki: Path) -> Iterator[Flask]:
    """The portal with the channel on and a short time-out (same database as `app`)."""
    application = create_app({**app_config, "EDORECZENIA_URL": f"{sandbox_url}/edoreczenia",
                              "EDORECZENIA_EVIDENCE_SEALS": str(pki / "edoreczenia-seal.pem"),
                              "EDORECZENIA_TIMEOUT": TIMEOUT, "EDORECZENIA_POLL_SECONDS": 60,
                              "DELIVERY_ADAPTERS": "desk", "DELIVERY_ROUTES": ""})
    application.test_client_class = PageCheckingClient
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def slow(app: Flask, catalog: None, impatient_app: Flask, sandbox_url: str) -> Iterator[str]:
    base = f"{sandbox_url}/edoreczenia"
    with impatient_app.app_context():
        edoreczenia._client().token()  # the token first: the faults below are for the calls that follow
        yield base
    requests.delete(f"{base}/sandbox/faults", timeout=5)


def faults(base: str, **spec: Any) -> None:
    assert requests.post(f"{base}/sandbox/faults", json=spec, timeout=5).status_code == 200


def test_a_post_that_times_out_is_not_sent_twice_and_the_clerk_sees_why(slow: str, pki: Path,
                                                                        impatient_app: Flask) -> None:
    clerk, case = _case(pki)
    letter = _letter(pki, clerk, case)
    job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.letter_id == letter.id))
    faults(slow, delay=TIMEOUT + 0.4, count=1)  # the POST: the client gives up, the sandbox takes it later
    assert edoreczenia.run_dispatches() == 1
    db.session.refresh(job)
    assert job.state == FAILED and "did not answer" in (job.last_error or "")
    assert job.next_attempt_at > utcnow()  # a back-off, not a tight loop
    case_id, key = case.id, job.key

    officer = impatient_app.test_client()
    login_clerk(officer, "e.kaczmarek")
    page = officer.get(f"/urzad/sprawy/{case_id}").get_data(as_text=True)
    assert "czeka na wysłanie" in page and "Ostatni błąd wysyłki" in page and "did not answer" in page

    deadline = time.monotonic() + 5  # the slow sandbox finishes the POST it was given
    while not _sent_with(key) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_sent_with(key)) == 1
    job = db.session.get(EdoDispatch, job.id)
    job.next_attempt_at = utcnow()
    db.session.commit()
    assert edoreczenia.run_dispatches() == 1
    db.session.refresh(job)
    assert job.state == SENT and job.attempts == 2 and job.task_id is None and job.message_id  # found by its key
    assert len(_sent_with(key)) == 1


def test_the_box_listing_backs_off_while_the_service_fails_and_recovers(slow: str) -> None:
    poll = chores.IncomingPoll()
    message_id = send_to_office(slow, "W czasie przerwy")
    faults(slow, status=503, count=50)
    waits = []
    for _ in range(3):
        poll.due = 0.0
        poll()
        waits.append(poll.due - time.monotonic())
    assert poll.failures == 3
    assert [round(w / 60) for w in waits] == [2, 4, 8]  # 60 s doubling: 120, 240, 480
    remaining = requests.post(f"{slow}/sandbox/faults", json={}, timeout=5).json()["faults"]["status_count"]
    poll()  # not due yet: the box is not asked at all
    assert requests.post(f"{slow}/sandbox/faults", json={}, timeout=5).json()["faults"]["status_count"] == remaining
    poll.failures, poll.due = 20, 0.0
    poll()
    assert poll.due - time.monotonic() == pytest.approx(chores.IncomingPoll.CAP_SECONDS, abs=5)  # capped
    assert db.session.scalar(select(IncomingMessage).where(IncomingMessage.message_id == message_id)) is None

    requests.delete(f"{slow}/sandbox/faults", timeout=5)
    poll.due = 0.0
    poll()
    assert poll.failures == 0 and poll.due - time.monotonic() == pytest.approx(60, abs=5)
    row = db.session.scalar(select(IncomingMessage).where(IncomingMessage.message_id == message_id))
    assert row is not None  # listed once the service answers: owed, and taken in by the worker's next round
    assert incoming.take_in_due() >= 1
