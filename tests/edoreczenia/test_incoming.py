"""Items residents send to the office's e-Doręczenia box, against the sandbox's e-Doręczenia process: filed once,
registered in the RPW with the channel and the sender's address, seen by the sender, nothing lost in faults."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from backoffice_adapter import outbox
from portal.db_types import utcnow
from portal.desk.models import IncomingParcel
from portal.edoreczenia import client as edo_client
from portal.edoreczenia import incoming
from portal.edoreczenia.incoming_models import HANDLED, PENDING, IncomingMessage
from portal.extensions import db
from portal.inbox.models import Submission
from tests.factories import make_resident
from tests.helpers import login_clerk

OFFICE = "AE:PL-41058-29316-UMLES-17"
JAN = "AE:PL-20384-51637-JKOWA-42"  # the first demo resident's address (PESEL 80010112357)


@pytest.fixture
def edo(app: Flask, sandbox_url: str, pki: Path) -> Iterator[str]:
    """The portal pointed at the sandbox's e-Doręczenia service; the sandbox's faults cleared after."""
    base = f"{sandbox_url}/edoreczenia"
    changed = {"EDORECZENIA_URL": base, "EDORECZENIA_EVIDENCE_SEALS": str(pki / "edoreczenia-seal.pem"),
               "EDORECZENIA_TIMEOUT": 1, "DELIVERY_ADAPTERS": "desk", "DELIVERY_ROUTES": ""}
    saved = {k: app.config.get(k) for k in changed}
    app.config.update(changed)
    # A portal an earlier test served may still be subscribed to the (session-wide) sandbox's notifications, and
    # would take in the items sent here before the test does: nobody is subscribed while these tests run.
    edo_client.client_for(app.config).unsubscribe()
    try:
        yield base
    finally:
        requests.delete(f"{base}/sandbox/faults", timeout=5)
        app.config.update(saved)


def send_to_office(base: str, subject: str, attachments: list[dict[str, Any]] | None = None) -> str:
    answer = requests.post(f"{base}/sandbox/send", json={
        "from": JAN, "to": OFFICE, "subject": subject, "text": "Proszę o informację w sprawie.",
        "attachments": attachments if attachments is not None else [
            {"filename": "wniosek.txt", "contentType": "text/plain",
             "content": base64.b64encode(b"Tresc wniosku").decode()}]}, timeout=5)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["messageId"])


def submissions_of(message_id: str) -> list[Submission]:
    return list(db.session.scalars(select(Submission).where(Submission.external_id == message_id)))


def row_of(message_id: str) -> IncomingMessage:
    row = db.session.scalar(select(IncomingMessage).where(IncomingMessage.message_id == message_id))
    assert row is not None
    return row


def test_an_item_sent_to_the_office_is_filed_registered_and_shown_to_its_sender(app: Flask, edo: str) -> None:
    with app.app_context():
        resident = make_resident("80010112357")
        db.session.commit()
        message_id = send_to_office(edo, "Wniosek o informację")
        # The provider's hint on the portal's notification address owes the item at once.
        answer = app.test_client().post("/edoreczenia/powiadomienia", json={
            "eDeliveryAddress": OFFICE, "notificationType": "NewMessage",
            "notification": [{"id": message_id, "threadId": "t"}]})
        assert answer.status_code == 200 and answer.get_json()["scheduled"] == 1
        assert incoming.take_in(row_of(message_id).id) == HANDLED

        [submission] = submissions_of(message_id)
        assert submission.channel == "edoreczenia" and submission.draft_id is None and submission.eservice_id is None
        assert submission.resident_id == resident.id and submission.sender_address == JAN
        assert submission.attachments[0]["name"] == "wniosek.txt"
        assert submission.attachments[0]["signature"]["indication"] == "UNSIGNED"
        evidences = {e["type"]: e for e in row_of(message_id).evidences}
        assert evidences["A.1"]["valid"] and evidences["BP.WX"]["valid"]
        assert b"A.1" in (submission.upo or b"")  # the sender's proof, as the provider sealed it

        outbox.run_once()
        parcel = db.session.scalar(select(IncomingParcel).where(IncomingParcel.submission_id == submission.id))
        assert parcel is not None and parcel.channel == "edoreczenia" and parcel.sender_address == JAN
        assert parcel.subject == "Wniosek o informację" and parcel.receipt_id == message_id


def test_the_same_item_fetched_twice_or_after_a_killed_worker_makes_one_submission(app: Flask, edo: str) -> None:
    with app.app_context():
        message_id = send_to_office(edo, "Dwa razy")
        incoming.note([message_id])
        incoming.poll()  # the listing names it too: still one row
        row = row_of(message_id)
        # A worker read it in full (the provider marks it opened) and was killed before filing: its claim lapses.
        incoming.claim()
        incoming.fetch(message_id)
        row = row_of(message_id)
        assert row.state == PENDING
        row.lease_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
        # Another worker takes it in; a second fetch of the same item (notification and poll) files nothing more.
        assert incoming.take_in_due() >= 1
        item, evidences = incoming.fetch(message_id)
        incoming.file_item(row.id, item, evidences)
        assert len(submissions_of(message_id)) == 1
        assert row_of(message_id).state == HANDLED
        assert db.session.scalar(select(func.count()).select_from(IncomingMessage)
                                 .where(IncomingMessage.message_id == message_id)) == 1


def test_the_service_down_or_slow_for_a_while_loses_nothing(app: Flask, edo: str) -> None:
    with app.app_context():
        message_id = send_to_office(edo, "W czasie awarii")
        incoming.note([message_id])
        row_id = row_of(message_id).id
        requests.post(f"{edo}/sandbox/faults", json={"status": 503, "count": 3}, timeout=5)
        assert incoming.take_in(row_id) == PENDING
        requests.post(f"{edo}/sandbox/faults", json={"delay": 1.5, "count": 1}, timeout=5)
        assert incoming.take_in(row_id) == PENDING  # too slow: given up on after the time-out, tried later
        row = row_of(message_id)
        assert row.attempts == 2 and row.next_attempt_at > utcnow() and "Transient" in (row.last_error or "")
        assert submissions_of(message_id) == []
        requests.delete(f"{edo}/sandbox/faults", timeout=5)
        row.next_attempt_at = utcnow()
        db.session.commit()
        incoming.take_in_due()
        assert len(submissions_of(message_id)) == 1 and row_of(message_id).state == HANDLED


def test_an_item_whose_proof_of_sending_fails_its_seal_is_filed_and_the_clerk_warned(app: Flask, edo: str) -> None:
    """A forged or damaged A.1 never becomes the item's proof nor its date: the item is still filed (nothing a
    resident sent is lost) and the registry is told, on the parcel's page, not to count deadlines from it."""
    with app.app_context():
        message_id = send_to_office(edo, "Dowód zmieniony po drodze")
        incoming.note([message_id])
        requests.post(f"{edo}/sandbox/faults", json={"tamper_next_evidence": True}, timeout=5).raise_for_status()
        assert incoming.take_in(row_of(message_id).id) == HANDLED
        evidences = {e["type"]: e for e in row_of(message_id).evidences}
        assert evidences["A.1"]["valid"] is False and evidences["BP.WX"]["valid"] is True
        [submission] = submissions_of(message_id)
        assert submission.upo is None
        outbox.run_once()
        parcel = db.session.scalar(select(IncomingParcel).where(IncomingParcel.submission_id == submission.id))
        assert parcel is not None
        parcel_id = parcel.id
    client = app.test_client()
    login_clerk(client)
    page = client.get(f"/urzad/rpw/{parcel_id}")
    assert page.status_code == 200
    assert "Brak ważnego dowodu nadania (A.1)" in page.get_data(as_text=True)
