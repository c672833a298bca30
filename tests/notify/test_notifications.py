from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backoffice_adapter import outbox
from backoffice_adapter.base import CaseUpdate
from portal.auth.models import Clerk, Resident
from portal.db_types import utcnow
from portal.desk import service as desk
from portal.desk.models import IncomingParcel
from portal.extensions import db
from portal.notify import service as notify
from portal.notify.models import Notification
from portal.status import service as status
from tests.factories import make_submission
from tests.helpers import csrf_token, login_clerk, login_resident, messages


def confirmed(resident: Resident, address: str = "jan@example.pl") -> None:
    resident.email, resident.email_confirmed_at = address, utcnow()
    db.session.commit()


def event(submission_id: str, event_id: str, kind: str, **data: str) -> None:
    status.apply_update("webhook", CaseUpdate(event_id, submission_id, kind, utcnow(), data))


def test_a_change_that_needs_the_resident_is_mailed_once_without_personal_data(ctx: None, catalog: None, pki: Path,
                                                                              smtp: Path) -> None:
    submission = make_submission(pki)
    confirmed(submission.resident)
    event(submission.id, "e1", "case_opened", case_reference="OR.0152.9.2026")
    event(submission.id, "e2", "supplement_requested", message="Proszę o pełnomocnictwo Jana Kowalskiego.")
    event(submission.id, "e2", "supplement_requested", message="Proszę o pełnomocnictwo Jana Kowalskiego.")
    assert notify.send_pending() == 1  # case_opened needs nothing from the resident; the repeat is one event
    [mail] = messages(smtp)
    body = mail.get_payload(decode=True).decode()
    assert mail["To"] == "jan@example.pl" and "OR.0152.9.2026" in body and f"/moje-sprawy/{submission.id}" in body
    assert "Kowalski" not in body and "pełnomocnictwo" not in body and "80010112357" not in body
    event(submission.id, "e3", "decision", summary="Zgoda.")
    assert notify.send_pending() == 1 and notify.send_pending() == 0


def test_residents_choose_and_only_confirmed_addresses_are_written_to(app: Flask, client: FlaskClient,
                                                                      catalog: None, pki: Path, smtp: Path) -> None:
    with app.app_context():
        submission_id = make_submission(pki).id
    login_resident(client)
    answer = client.post("/konto/powiadomienia", data={"csrf_token": csrf_token(client, "/konto")})  # box unticked
    assert answer.status_code == 302
    with app.app_context():
        resident = db.session.scalar(select(Resident))
        assert resident.notify_case_changes is False
        confirmed(resident)
        event(submission_id, "a", "letter_sent", title="Odpowiedź")
        notify.send_pending()
        resident.notify_case_changes, resident.email_confirmed_at = True, None
        db.session.commit()
        event(submission_id, "b", "letter_sent", title="Druga odpowiedź")
        notify.send_pending()
        outcomes = list(db.session.scalars(select(Notification.outcome).order_by(Notification.id)))
    assert outcomes == ["not wanted", "no confirmed address"] and messages(smtp) == []


def test_a_mail_server_that_is_down_delays_the_message(ctx: None, catalog: None, pki: Path, smtp: Path,
                                                       app: Flask) -> None:
    submission = make_submission(pki)
    confirmed(submission.resident)
    event(submission.id, "x", "delay_notified", reason="Opinia.", new_date="2026-12-30")
    port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = 1  # nothing listens there
    try:
        assert notify.send_pending() == 0
    finally:
        app.config["SMTP_PORT"] = port
    note = db.session.scalar(select(Notification))
    assert note.sent_at is None and note.attempts == 1 and note.last_error
    assert notify.send_pending() == 1 and len(messages(smtp)) == 1


def test_overdue_cases_are_told_once_and_clerks_get_a_daily_digest(app: Flask, catalog: None, pki: Path,
                                                                   smtp: Path) -> None:
    login_clerk(app.test_client(), "m.wojcik")  # the clerk is known, with the address from the identity provider
    with app.app_context():
        submission = make_submission(pki)
        confirmed(submission.resident)
        submission.filed_at = utcnow() - timedelta(days=29)  # due in a day or two (kpa-1m)
        db.session.commit()
        outbox.run_once()
        clerk = db.session.scalar(select(Clerk).where(Clerk.username == "m.wojcik"))
        parcel = db.session.scalar(select(IncomingParcel))
        case = desk.register_case(clerk, parcel)
        morning = datetime.now(UTC).replace(hour=9, minute=0) + timedelta(days=1)
        notify.daily_jobs(morning)
        notify.daily_jobs(morning + timedelta(hours=3))  # the same day: nothing more
        digests = [m for m in messages(smtp) if m["To"] == "m.wojcik@um.leszno.example"]
        assert len(digests) == 1 and case.reference in digests[0].get_payload(decode=True).decode()
        later = morning + timedelta(days=5)
        assert notify.notify_overdue(later.date()) == 1
        assert notify.notify_overdue(later.date()) == 1  # still late, but the notice is owed once
        notify.send_pending()
        overdue = [m for m in messages(smtp) if m["To"] == "jan@example.pl"]
        assert len(overdue) == 1 and "ponaglenie" in overdue[0]["Subject"].lower() + \
            overdue[0].get_payload(decode=True).decode().lower()


