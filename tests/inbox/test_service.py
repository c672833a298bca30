from __future__ import annotations

import hashlib
import subprocess
import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from backoffice_adapter.models import OutboxMessage
from portal import xmlsafe
from portal.extensions import db
from portal.inbox import service as inbox
from portal.inbox import upo
from portal.inbox.models import Submission
from portal.signing import service as signing
from portal.signing import verify
from portal.status.models import CaseEvent
from tests.factories import make_draft, make_resident, make_submission, signed_by_trusted_profile


def test_accepting_stores_the_exact_bytes_the_event_and_the_outbox_row_together(ctx: None, catalog: None,
                                                                                 pki: Path) -> None:
    draft = make_draft(make_resident())
    signed = signed_by_trusted_profile(draft, pki)
    submission = inbox.accept(draft, signed, signing.check(draft, signed))
    assert submission.document == signed
    assert submission.document_sha256 == hashlib.sha256(signed).hexdigest()
    assert submission.filed_at.tzinfo is not None
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert db.session.scalar(select(CaseEvent.kind)) == "filed"
    assert draft.state == "submitted"


def test_the_receipt_is_sealed_states_the_filing_time_and_covers_the_document(ctx: None, catalog: None,
                                                                               pki: Path, tmp_path: Path) -> None:
    submission = make_submission(pki)
    policy = verify.Policy.from_pem_files(pki / "ca.pem", revocation_mode="offline")
    verdict = verify.verify(submission.upo, policy, require_person=False)
    assert verdict.valid, verdict.reasons
    assert "Urząd Miasta Leszna" in verdict.certificate["subject"]
    facts = upo.read(xmlsafe.parse(submission.upo))
    assert facts.receipt_id == submission.receipt_id
    assert facts.filed_at == upo.timestamp(submission.filed_at)
    assert facts.document_sha256 == hashlib.sha256(submission.document).digest()
    assert b"80010112357" not in submission.upo  # the receipt does not disclose the PESEL
    path = tmp_path / "upo.xml"
    path.write_bytes(submission.upo)
    result = subprocess.run(["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem",
                             str(pki / "ca.pem"), str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_issuing_the_receipt_again_keeps_the_first(ctx: None, catalog: None, pki: Path) -> None:
    submission = make_submission(pki)
    first = submission.upo
    db.session.execute(Submission.__table__.update().values(upo_sha256=None))
    db.session.commit()
    db.session.refresh(submission)
    inbox.ensure_receipt(submission)
    second = submission.upo
    inbox.ensure_receipt(submission)
    assert submission.upo == second and second is not None and first is not None


def test_accepting_the_same_draft_twice_gives_one_submission(ctx: None, catalog: None, pki: Path) -> None:
    draft = make_draft(make_resident())
    signed = signed_by_trusted_profile(draft, pki)
    verdict = signing.check(draft, signed)
    first = inbox.accept(draft, signed, verdict)
    second = inbox.accept(draft, signed, verdict)
    assert first.id == second.id
    assert db.session.scalar(select(func.count()).select_from(Submission)) == 1


def test_two_tabs_submitting_at_once_give_one_submission(app: Flask, catalog: None, pki: Path) -> None:
    if "sqlite" in app.config["SQLALCHEMY_DATABASE_URI"]:
        pytest.skip("concurrent writers are a PostgreSQL matter; SQLite serialises them")
    with app.app_context():
        draft = make_draft(make_resident())
        signed = signed_by_trusted_profile(draft, pki)
        verdict = signing.check(draft, signed)
        draft_id = draft.id
    results: list[str] = []
    barrier = threading.Barrier(4)

    def submit() -> None:
        with app.app_context():
            from portal.forms.models import Draft

            mine = db.session.get(Draft, draft_id)
            barrier.wait()
            results.append(inbox.accept(mine, signed, verdict).id)
            db.session.remove()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len(set(results)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_receipt_pdf_names_the_office_and_the_receipt(ctx: None, catalog: None, pki: Path, tmp_path: Path) -> None:
    submission = make_submission(pki)
    pdf = inbox.receipt_pdf(submission)
    path = tmp_path / "upo.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Urzędowe poświadczenie przedłożenia" in text
    assert submission.receipt_id in text and "Urząd Miasta Leszna" in text
    assert inbox.access_code(submission.receipt_id) in text
    assert inbox.receipt_pdf(submission) == pdf
