"""Moje sprawy at office scale (issue 9): a page costs the same SQL statements however long the case's
history, so nothing on it is loaded row by row (bench/status_pages.py measures the time)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from reportlab.pdfgen import canvas
from sqlalchemy import event, select

from backoffice_adapter import outbox
from backoffice_adapter.base import CaseUpdate
from portal.auth.models import Clerk, Resident
from portal.db_types import utcnow
from portal.desk import service as desk
from portal.desk.models import IncomingParcel
from portal.extensions import db
from portal.signing import pades
from portal.status import service as status
from tests.factories import make_draft, make_resident, make_submission
from tests.helpers import login_resident


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block — but the session store's: reading the
    session's row, and writing it back when its CSRF token is new or its last activity a minute old, costs
    the same on every page, whatever the page shows."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        if "web_session" not in args[2]:
            statements.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_for(app: Flask, client: FlaskClient, path: str, marker: str) -> list[str]:
    with counted(app) as statements:
        page = client.get(path)
    assert page.status_code == 200 and marker in page.get_data(as_text=True)
    return statements


def in_the_desk(app: Flask, pki: Path, resident_id: int) -> str:
    """A submission delivered to the clerk desk (its RPW entry, delivered and registered)."""
    with app.app_context():
        submission = make_submission(pki, db.session.get(Resident, resident_id))
        assert outbox.run_once() == 1
        return submission.id


def clerk(username: str) -> Clerk:
    found = Clerk(subject=f"test-{username}", username=username, display_name=username.title(), unit="OR",
                  claimed_roles=["clerk"], assigned_roles=[])
    db.session.add(found)
    db.session.commit()
    return found


def sealed_letter(pki: Path, text: str) -> bytes:
    """A letter with the office's seal: the desk verifies every letter it sends."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return pades.seal(buffer.getvalue(), str(pki / "office-seal.pem"), str(pki / "office-seal.key"), "Odpowiedź")


def test_the_case_page_costs_the_same_queries_however_long_its_history(app: Flask, catalog: None, pki: Path,
                                                                       client: FlaskClient) -> None:
    with app.app_context():
        resident_id = make_resident().id
    login_resident(client)
    short = in_the_desk(app, pki, resident_id)  # filed, delivered, registered: nothing else
    long = in_the_desk(app, pki, resident_id)
    with app.app_context():
        officers = [clerk(f"urzednik{n}") for n in range(3)]
        parcel = db.session.scalar(select(IncomingParcel).where(IncomingParcel.submission_id == long))
        for opening in range(5):  # five openings by three clerks, as the resident sees them
            desk.open_parcel(officers[opening % 3], parcel)
        case = desk.register_case(officers[0], parcel)
        desk.view_case(officers[1], case)
        for number in range(3):  # each letter adds its event too
            desk.send_letter(officers[0], case, "answer", f"Odpowiedź {number}", f"odpowiedz-{number}.pdf",
                             sealed_letter(pki, f"Odpowiedź {number}"))
        for number in range(12):
            status.apply_update("webhook", CaseUpdate(f"assigned-{number}", long, "assigned",
                                                      utcnow() + timedelta(minutes=number), {"unit": "OR"}))
        desk.request_supplement(officers[0], case, "Proszę o pełnomocnictwo.", utcnow().date() + timedelta(days=14))
        events = {sid: len(status.timeline(sid)) for sid in (short, long)}
    assert events[short] == 3 and events[long] >= 20

    few = statements_for(app, client, f"/moje-sprawy/{short}", "Nikt jeszcze nie otwierał")
    many = statements_for(app, client, f"/moje-sprawy/{long}", "Odpowiedź 2")
    # A case with letters reads their e-Doręczenia jobs and evidences in one batch: one statement more than a case
    # with none, whether it has one letter or many.
    assert len(many) == len(few) + 1, "\n\n".join(many)
    assert len(few) <= 8, "\n\n".join(few)  # resident, submission, timeline, service, letters, openings, desk entry
    assert not any("document" in statement and "incoming_parcel" in statement for statement in many), \
        "the case page reads whether the desk has the parcel, not the parcel's signed bytes"


def test_the_case_list_costs_the_same_queries_for_1_or_3_drafts(app: Flask, catalog: None, pki: Path,
                                                                client: FlaskClient) -> None:
    """The drafts' services come in one query with the drafts, not one query per service."""
    with app.app_context():
        resident = make_resident()
        resident_id = resident.id
        make_submission(pki, resident)
        make_draft(resident, "zaswiadczenie")
    login_resident(client)
    one = statements_for(app, client, "/moje-sprawy", "Moje sprawy")
    with app.app_context():
        resident = db.session.get(Resident, resident_id)
        make_draft(resident, "usuniecie-drzew")
        make_draft(resident, "zajecie-pasa-drogowego")
    three = statements_for(app, client, "/moje-sprawy", "Moje sprawy")
    assert len(three) == len(one), "\n\n".join(three)
