"""A small office with real objects, and one browser session per kind of visitor, for the security tests.

Resident A (Jan Kowalski) has filed a general letter with a detached qualified signature, has a second
letter still in draft, and has opened the office's sealed answer; unit OR has registered the case.
Resident B (Anna Nowak) has an account and nothing else. Every object is made through the portal's own
pages and services, so every parameterised route gets ids that exist.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from reportlab.pdfgen import canvas
from sqlalchemy import select

from backoffice_adapter import outbox
from portal.desk.models import DeskCase, IncomingParcel, OutgoingLetter
from portal.edoreczenia.models import EdoDispatch, EdoEvidence
from portal.extensions import db
from portal.inbox.models import Submission
from portal.signing import pades
from portal.storage import service as storage
from sandbox import qualified
from tests.helpers import ANNA, JAN, csrf_token, login_clerk, login_resident, start_letter

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

# Who visits. The clerks: OR's head of unit (works OR's cases), a case officer of another unit
# (MZDiI), and the administrator (sees the whole office, like the registry).
ROLES = ("anonymous", "resident_a", "resident_b", "clerk_own_unit", "clerk_other_unit", "admin")
CLERKS = {"clerk_own_unit": "e.kaczmarek", "clerk_other_unit": "t.lewandowski", "admin": "admin"}


@dataclass
class World:
    submission_id: str
    receipt_id: str
    access_code: str
    draft_id: str
    parcel_id: int
    case_id: int
    letter_id: int
    evidence_id: int  # an e-Doręczenia evidence row of that letter, for the routes that serve its file
    attachment_sha256: str
    outbox_message_id: int
    session_id: int  # resident A's session (the row behind the cookie)
    clients: dict[str, FlaskClient] = field(default_factory=dict)


def signed_pdf(pki: Path, text: str = "Odpowiedź na pismo") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return pades.seal(buffer.getvalue(), str(pki / "office-seal.pem"), str(pki / "office-seal.key"), "Pismo")


def file_with_detached_signature(client: FlaskClient, pki: Path, pesel: str = JAN) -> str:
    """The resident finishes a general letter, signs it in their own software (a detached qualified
    signature) and files it; returns the draft id."""
    draft_id = start_letter(client)
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data
    signature = qualified.sign(document, (pki / "residents" / f"{pesel}.pem").read_bytes(),
                               (pki / "residents" / f"{pesel}.key").read_bytes(), detached_name="pismo.xml")
    filed = client.post(f"/wnioski/{draft_id}/podpis/kwalifikowany", content_type="multipart/form-data",
                        data={"csrf_token": csrf_token(client, f"/wnioski/{draft_id}/podpis"),
                              "podpisany": (io.BytesIO(signature), "pismo.xml.xades")})
    assert filed.status_code == 302, filed.get_data(as_text=True)
    return draft_id


@pytest.fixture
def world(app: Flask, catalog: None, pki: Path) -> World:
    clients = {role: app.test_client() for role in ROLES}
    login_resident(clients["resident_a"], JAN)
    login_resident(clients["resident_b"], ANNA)
    for role, username in CLERKS.items():
        login_clerk(clients[role], username)
    # The anonymous visitor has opened a page with a form, as a browser has before it posts one: its session
    # (a row holding the CSRF token) exists before any test counts the tables.
    csrf_token(clients["anonymous"], "/sprawdz-sprawe")
    resident_a = clients["resident_a"]

    filed_draft = file_with_detached_signature(resident_a, pki)
    draft_id = start_letter(resident_a, {"tytul": "Drugie pismo, jeszcze nie złożone"})
    with app.app_context():
        while outbox.run_once():
            pass
        submission = db.session.scalar(select(Submission).where(Submission.draft_id == filed_draft))
        parcel = db.session.scalar(select(IncomingParcel).where(IncomingParcel.submission_id == submission.id))
        # The general letter takes no attachments; the parcel gets one the way the desk adapter records them,
        # so the attachment route has a real file to guard.
        sha256 = storage.put(PNG)
        parcel.attachments = [{"name": "zdjecie.png", "media_type": "image/png", "sha256": sha256, "size": len(PNG)}]
        db.session.commit()
        submission_id, receipt_id, parcel_id = submission.id, submission.receipt_id, parcel.id
        from backoffice_adapter.models import OutboxMessage
        from portal.inbox import service as inbox

        code = inbox.access_code(receipt_id)
        message_id = db.session.scalar(select(OutboxMessage.id))
        from portal.auth.models import WebSession

        session_id = db.session.scalar(select(WebSession.id).where(WebSession.resident_id == submission.resident_id))

    head = clients["clerk_own_unit"]
    registered = head.post(f"/urzad/rpw/{parcel_id}/sprawa",
                           data={"csrf_token": csrf_token(head, f"/urzad/rpw/{parcel_id}"), "case-title": "Chodnik"})
    assert registered.status_code == 302, registered.get_data(as_text=True)
    with app.app_context():
        case_id = db.session.scalar(select(DeskCase.id))
    sent = head.post(f"/urzad/sprawy/{case_id}/pismo", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(head, f"/urzad/sprawy/{case_id}"), "letter-kind": "answer",
        "letter-title": "Odpowiedź", "letter-file": (io.BytesIO(signed_pdf(pki)), "odpowiedz.pdf")})
    assert sent.status_code == 302, sent.get_data(as_text=True)
    with app.app_context():
        letter_id = db.session.scalar(select(OutgoingLetter.id))
        # The letter went through the portal; its e-Doręczenia twin's evidence is recorded the way the worker
        # stores one, so the evidence routes have a real file to guard.
        dispatch = EdoDispatch(letter_id=letter_id, key="security-world", shipping="electronic", state="sent")
        evidence = EdoEvidence(dispatch=dispatch, evidence_id="ev-1", code="A.1", sha256=storage.put(b"<Dowod/>"),
                               valid=False, verdict={})
        db.session.add_all([dispatch, evidence])
        db.session.commit()
        evidence_id = evidence.id
    assert resident_a.get(f"/moje-sprawy/{submission_id}/pisma/{letter_id}").status_code == 200  # delivered: UPD
    return World(submission_id=submission_id, receipt_id=receipt_id, access_code=code, draft_id=draft_id,
                 parcel_id=parcel_id, case_id=case_id, letter_id=letter_id, evidence_id=evidence_id,
                 attachment_sha256=sha256,
                 outbox_message_id=message_id, session_id=session_id, clients=clients)


def table_counts(app: Flask) -> dict[str, int]:
    """Rows per table: what a refused request must leave exactly as it was."""
    from sqlalchemy import func

    with app.app_context():
        counts = {table.name: db.session.scalar(select(func.count()).select_from(table))
                  for table in db.metadata.sorted_tables}
        db.session.remove()
    return counts


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


ClientFactory = Callable[..., FlaskClient]
