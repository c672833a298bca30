from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from backoffice_adapter import outbox
from backoffice_adapter.models import DEAD, FAILED, SUCCESS, OutboxMessage
from portal.db_types import utcnow
from portal.extensions import db
from portal.status import service as status
from tests.backoffice_adapter.office import OfficeEndpoint
from tests.conftest import free_port
from tests.factories import make_submission
from tests.helpers import messages


def _due_again(message: OutboxMessage) -> None:
    message.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_webhook_delivers_the_signed_parcel_and_the_resident_sees_the_rpw(ctx: None, catalog: None, pki: Path,
                                                                          office: OfficeEndpoint) -> None:
    submission = make_submission(pki)
    assert outbox.run_once() == 1
    message = db.session.scalar(select(OutboxMessage))
    assert message.state == SUCCESS and message.receipt["reference"] == "WEB-1"
    [stored] = office.parcels.values()
    parcel = stored["parcel"]
    document = base64.b64decode(parcel["document"]["content_base64"])
    assert document == submission.document and hashlib.sha256(document).hexdigest() == submission.document_sha256
    assert base64.b64decode(parcel["upo"]["content_base64"]) == submission.upo
    assert parcel["receipt_id"] == submission.receipt_id and parcel["sender_name"] == "Jan Kowalski"
    case = status.summary(status.timeline(submission.id))
    assert case.stage == status.DELIVERED and case.rpw == "RPW/1/2026"


def test_an_endpoint_that_stores_then_fails_gets_no_second_parcel(ctx: None, catalog: None, pki: Path,
                                                                  office: OfficeEndpoint) -> None:
    make_submission(pki)
    office.mode = "store_then_500"
    outbox.run_once()
    message = db.session.scalar(select(OutboxMessage))
    assert message.state == FAILED and "500" in message.last_error
    _due_again(message)
    outbox.run_once()
    db.session.refresh(message)
    assert message.state == SUCCESS and message.attempts == 2
    assert office.requests == 2 and len(office.parcels) == 1


def test_an_endpoint_that_is_down_gets_the_parcel_when_it_comes_back(ctx: None, catalog: None, pki: Path,
                                                                     configure: Any) -> None:
    port = free_port()
    secret = "s" * 40
    configure(DELIVERY_ADAPTERS="webhook", WEBHOOK_URL=f"http://127.0.0.1:{port}/parcels", WEBHOOK_SECRET=secret,
              WEBHOOK_TIMEOUT=2)
    make_submission(pki)
    outbox.run_once()
    message = db.session.scalar(select(OutboxMessage))
    assert message.state == FAILED and "did not answer" in message.last_error
    endpoint = OfficeEndpoint(secret, port)
    try:
        _due_again(message)
        outbox.run_once()
        db.session.refresh(message)
        assert message.state == SUCCESS and len(endpoint.parcels) == 1
    finally:
        endpoint.close()


def test_a_refused_parcel_is_set_aside_at_once(ctx: None, catalog: None, pki: Path, office: OfficeEndpoint) -> None:
    make_submission(pki)
    office.mode = "refuse"
    outbox.run_once()
    message = db.session.scalar(select(OutboxMessage))
    assert message.state == DEAD and "422" in message.last_error and message.attempts == 1


def test_a_wrong_secret_is_refused_by_the_office(ctx: None, catalog: None, pki: Path, office: OfficeEndpoint,
                                                 configure: Any) -> None:
    configure(WEBHOOK_SECRET="x" * 40)
    make_submission(pki)
    outbox.run_once()
    assert office.bad_signatures == 1 and not office.parcels
    assert db.session.scalar(select(OutboxMessage)).state == DEAD  # 401: fixing the secret needs a person


def test_directory_parcel_is_complete_and_written_once(ctx: None, catalog: None, pki: Path, configure: Any,
                                                       tmp_path: Path) -> None:
    folder = tmp_path / "import"
    configure(DELIVERY_ADAPTERS="directory", DIRECTORY_PATH=str(folder))
    submission = make_submission(pki)
    assert outbox.run_once() == 1
    parcel = folder / submission.receipt_id
    manifest = json.loads((parcel / "manifest.json").read_text())
    assert manifest["submission_id"] == submission.id and manifest["document_sha256"] == submission.document_sha256
    for entry in manifest["files"]:
        assert hashlib.sha256((parcel / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert (parcel / "dokument.xml").read_bytes() == submission.document
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no staging folder left behind
    before = (parcel / "manifest.json").stat().st_mtime_ns
    from backoffice_adapter import base
    from portal.inbox import service as inbox

    again = base.adapter("directory", dict(current_app.config)).deliver(inbox.envelope(submission.id))
    assert again.reference == str(parcel) and (parcel / "manifest.json").stat().st_mtime_ns == before


def test_smtp_sends_the_parcel_to_the_registry(ctx: None, catalog: None, pki: Path, configure: Any,
                                               smtp: Path) -> None:
    configure(DELIVERY_ADAPTERS="smtp", REGISTRY_MAILBOX="kancelaria@leszno.pl")
    submission = make_submission(pki)
    assert outbox.run_once() == 1
    [message] = messages(smtp)
    assert message["To"] == "kancelaria@leszno.pl" and message["Message-ID"] == f"<{submission.id}@okienko>"
    files = {part.get_filename(): part.get_payload(decode=True) for part in message.walk() if part.get_filename()}
    assert files["dokument.xml"] == submission.document
    assert files[f"UPO-{submission.receipt_id}.xml"] == submission.upo


def test_a_route_sends_a_service_to_its_own_adapters_and_copies_stay_silent(ctx: None, catalog: None, pki: Path,
                                                                           configure: Any, tmp_path: Path,
                                                                           office: OfficeEndpoint) -> None:
    configure(DELIVERY_ADAPTERS="desk", DELIVERY_ROUTES="pismo-ogolne=webhook+directory",
              DIRECTORY_PATH=str(tmp_path / "copies"))
    submission = make_submission(pki)
    rows = {m.adapter: m for m in db.session.scalars(select(OutboxMessage))}
    assert set(rows) == {"webhook", "directory"} and rows["directory"].is_copy and not rows["webhook"].is_copy
    office.mode = "refuse"
    outbox.run_once()
    kinds = [e.kind for e in status.timeline(submission.id)]
    assert kinds == [status.FILED]  # the copy went out, but the office's system has not got it


def test_check_names_unknown_adapters_and_missing_settings(app: Any, configure: Any) -> None:
    configure(DELIVERY_ADAPTERS="desk,ezd-unknown", DELIVERY_ROUTES="x=webhook", WEBHOOK_URL="", WEBHOOK_SECRET="")
    problems = outbox.check_routes(app.config)
    assert any("unknown back-office adapter 'ezd-unknown'" in p for p in problems)
    assert any(p.startswith("webhook: PORTAL_WEBHOOK_URL") for p in problems)
    configure(DELIVERY_ROUTES="pismo-ogolne=")
    assert "names no adapter" in outbox.check_routes(app.config)[0]
