"""Faults during acceptance: nothing half-written, nothing promised before it is stored, nothing lost."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text

from backoffice_adapter import outbox
from backoffice_adapter.models import OutboxMessage
from portal.extensions import db
from portal.forms.models import Draft
from portal.inbox.models import Submission
from tests.faults import PrivatePostgres, SmallVolume, migrated_portal
from tests.helpers import csrf_token, local, login_resident, sign_with_trusted_profile, start_letter

REPO = Path(__file__).resolve().parents[2]


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_process_killed_between_commit_and_receipt_leaves_a_complete_submission(
        app: Flask, app_config: dict, client: FlaskClient, catalog: None, pki: Path) -> None:
    login_resident(client)
    draft_id = start_letter(client)
    # A separate process stores the submission and dies (os._exit, no cleanup) before the receipt.
    script = textwrap.dedent(f"""
        import json, os, sys
        from portal import create_app
        from portal.extensions import db
        from portal.forms.models import Draft
        from portal.inbox import service as inbox
        from portal.signing import service as signing
        from tests.factories import signed_by_trusted_profile
        from pathlib import Path
        config = json.loads(sys.stdin.read())
        app = create_app(config)
        with app.app_context():
            draft = db.session.get(Draft, {draft_id!r})
            signed = signed_by_trusted_profile(draft, Path({str(pki)!r}))
            inbox.store(draft, signed, signing.check(draft, signed))
            os._exit(9)
    """)
    import json

    died = subprocess.run([sys.executable, "-c", script], input=json.dumps(app_config), text=True, cwd=REPO,
                          capture_output=True)
    assert died.returncode == 9, died.stderr
    with app.app_context():
        submission = db.session.scalar(select(Submission).where(Submission.draft_id == draft_id))
        assert submission is not None and submission.upo_sha256 is None  # stored, not yet receipted
        assert count(OutboxMessage) == 1
        submission_id = submission.id
    page = client.get(f"/moje-sprawy/{submission_id}")  # the resident comes back: the receipt is issued now
    assert page.status_code == 200 and submission_id
    first = client.get(f"/moje-sprawy/{submission_id}/upo.xml").data
    assert first.startswith(b"<?xml") and client.get(f"/moje-sprawy/{submission_id}/upo.xml").data == first
    with app.app_context():
        assert outbox.run_once() == 1  # and the back office gets the same receipt


@pytest.fixture
def locked_submissions(app: Flask) -> Any:
    """Another session holds the submission table locked: the database cannot take new submissions."""
    if "sqlite" in app.config["SQLALCHEMY_DATABASE_URI"]:
        pytest.skip("table locks with a lock timeout are a PostgreSQL matter")
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    holder: dict[str, Any] = {}
    released = threading.Event()

    def hold() -> None:
        with engine.connect() as connection:
            connection.execute(text("LOCK TABLE submission IN ACCESS EXCLUSIVE MODE"))
            holder["locked"] = True
            released.wait(30)
            connection.rollback()

    def lock() -> None:
        thread = threading.Thread(target=hold, daemon=True)
        thread.start()
        while "locked" not in holder:
            threading.Event().wait(0.02)
        holder["thread"] = thread

    def release() -> None:
        released.set()
        holder["thread"].join(10)

    yield lock, release
    released.set()
    engine.dispose()


def test_a_database_outage_during_acceptance_loses_nothing(app: Flask, other_app: Any, catalog: None,
                                                           locked_submissions: Any) -> None:
    lock, release = locked_submissions
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("options=-csearch_path%3D",
                                                        "options=-clock_timeout%3D300%20-csearch_path%3D")
    portal = other_app(DATABASE_URL=url)
    client = portal.test_client()
    browser = login_resident(client)
    draft_id = start_letter(client)
    handed = client.post(f"/wnioski/{draft_id}/podpis/profil-zaufany",
                         data={"csrf_token": csrf_token(client, f"/wnioski/{draft_id}/podpis")})
    back = browser.post(handed.headers["Location"], data={"action": "sign"}, allow_redirects=False, timeout=30)
    lock()  # the resident has signed; the database fails just as the portal stores the document
    failed = client.get(local(back.headers["Location"]))
    assert failed.status_code == 503
    assert "Nie mogliśmy teraz zapisać Twojego pisma" in failed.get_data(as_text=True)
    release()
    with portal.app_context():
        assert count(Submission) == 0 and count(OutboxMessage) == 0  # nothing half-written
        assert db.session.get(Draft, draft_id).state != "submitted"
    retried = client.post(f"/wnioski/{draft_id}/podpis/ponow", data={"csrf_token": csrf_token(client, "/moje-sprawy")})
    assert retried.status_code == 302 and "zlozono=1" in retried.headers["Location"], retried.get_data(as_text=True)
    assert client.get(local(retried.headers["Location"])).status_code == 200
    with portal.app_context():
        assert count(Submission) == 1 and count(OutboxMessage) == 1


def test_a_failing_document_store_writes_nothing_and_says_so(other_app: Any, catalog: None, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    portal = other_app(BLOB_STORE=f"filesystem:{blocker}/blobs")
    client = portal.test_client()
    browser = login_resident(client)
    draft_id = start_letter(client)
    failed = sign_with_trusted_profile(client, browser, draft_id)
    assert failed.status_code == 503
    with portal.app_context():
        assert count(Submission) == 0 and count(OutboxMessage) == 0


def test_the_database_stopping_while_a_document_is_filed_keeps_it_and_says_try_again(
        private_postgres: PrivatePostgres, other_app: Any, catalog: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.signing import service as signing

    portal = migrated_portal(other_app, private_postgres.new_database())
    client = portal.test_client()
    browser = login_resident(client)
    draft_id = start_letter(client)
    check = signing.check

    def check_then_lose_the_database(draft: Draft, signed: bytes) -> Any:
        verdict = check(draft, signed)
        private_postgres.stop("fast")  # PostgreSQL goes down once the portal has the signed, verified document
        return verdict

    monkeypatch.setattr(signing, "check", check_then_lose_the_database)
    failed = sign_with_trusted_profile(client, browser, draft_id)
    page = failed.get_data(as_text=True)
    # The way back from TpSigning5 is rate-limited: Flask-Limiter's Retry-After (the end of its window) may stand.
    assert failed.status_code == 503 and int(failed.headers["Retry-After"]) > 0, page[:3000]
    assert "Nie mogliśmy teraz zapisać Twojego pisma" in page and "Spróbuj ponownie złożyć pismo" in page
    assert "Zalogowano" in page  # the header from the session alone
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "the retry button is a form of its own"
    monkeypatch.undo()
    private_postgres.start()
    retried = client.post(f"/wnioski/{draft_id}/podpis/ponow", data={"csrf_token": token.group(1)})
    assert retried.status_code == 302 and "zlozono=1" in retried.headers["Location"], retried.get_data(as_text=True)
    with portal.app_context():
        assert count(Submission) == 1


def test_a_full_volume_refuses_the_document_and_its_retry_copy_with_a_clear_503(
        other_app: Any, catalog: None, small_volume: SmallVolume, caplog: pytest.LogCaptureFixture) -> None:
    """The document store and the spool on one volume (what `okienko config check` warns about), and it is full."""
    portal = other_app(BLOB_STORE=f"filesystem:{small_volume.path}/blobs", SPOOL_DIR=str(small_volume.path / "spool"))
    client = portal.test_client()
    browser = login_resident(client)
    draft_id = start_letter(client)
    small_volume.fill()
    failed = sign_with_trusted_profile(client, browser, draft_id)
    page = failed.get_data(as_text=True)
    # The way back from TpSigning5 is rate-limited: Flask-Limiter's Retry-After (the end of its window) may stand.
    assert failed.status_code == 503 and int(failed.headers["Retry-After"]) > 0, page[:3000]
    assert "podpisanego dokumentu nie udało się zachować" in page and "podpisz je jeszcze raz" in page
    assert any("cannot keep the signed document of draft" in r.getMessage() for r in caplog.records)
    assert [p for p in small_volume.files(".incoming-*") if "spool" in p.parts] == []  # no half-written copy
    assert not (small_volume.path / "spool" / f"{draft_id}.signed").exists()
    with portal.app_context():
        assert count(Submission) == 0
    small_volume.release()
    filed = sign_with_trusted_profile(client, browser, draft_id)  # signed again, as the page said
    assert filed.status_code == 302 and "zlozono=1" in filed.headers["Location"], filed.get_data(as_text=True)


def test_a_receipt_the_full_store_refused_is_promised_and_issued_once_there_is_room(
        other_app: Any, catalog: None, small_volume: SmallVolume, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.inbox import service as inbox

    portal = other_app(BLOB_STORE=f"filesystem:{small_volume.path}/blobs", DELIVERY_ADAPTERS="desk")
    client = portal.test_client()
    browser = login_resident(client)
    draft_id = start_letter(client)
    stored = inbox.store

    def store_then_fill_the_disk(*args: Any) -> Submission:
        submission = stored(*args)  # committed: the document is filed
        small_volume.fill()  # and the volume is full before the receipt is written
        return submission

    monkeypatch.setattr(inbox, "store", store_then_fill_the_disk)
    filed = sign_with_trusted_profile(client, browser, draft_id)
    assert filed.status_code == 302 and "zlozono=1" in filed.headers["Location"], filed.get_data(as_text=True)
    with portal.app_context():
        submission = db.session.scalar(select(Submission))
        assert submission.upo_sha256 is None
        submission_id, receipt_id = submission.id, submission.receipt_id
        code = inbox.access_code(receipt_id)
        filed_at = submission.filed_at

    case = client.get(local(filed.headers["Location"]))
    page = case.get_data(as_text=True)
    assert case.status_code == 200, page[:3000]
    when = filed_at.astimezone(ZoneInfo("Europe/Warsaw")).strftime("%d.%m.%Y, %H:%M:%S")
    assert f"Twoje pismo zostało złożone {when}; potwierdzenie (UPO) przygotowujemy." in page
    assert receipt_id in page and code in page and "upo.xml" not in page
    for receipt in ("upo.xml", "upo.pdf"):
        download = client.get(f"/moje-sprawy/{submission_id}/{receipt}")
        assert download.status_code == 503 and download.headers["Retry-After"] == "30"
        assert "potwierdzenie (UPO) przygotowujemy" in download.get_data(as_text=True)
    with portal.app_context():
        outbox.run_once()  # the dispatcher cannot make the parcel either: it waits, no attempt used
        message = db.session.scalar(select(OutboxMessage))
        assert message.state == "pending" and message.attempts == 0 and "No space left" in message.last_error
        message.next_attempt_at = message.created_at  # due again now rather than in 15 s
        db.session.commit()

    small_volume.release()
    with portal.app_context():
        assert outbox.run_once() == 1  # the dispatcher issues the receipt as it makes the parcel
        submission = db.session.get(Submission, submission_id)
        assert submission.upo_sha256 is not None
        assert db.session.scalar(select(OutboxMessage)).state == "success"
    page = client.get(f"/moje-sprawy/{submission_id}").get_data(as_text=True)
    assert "przygotowujemy" not in page and "upo.xml" in page
    receipt = client.get(f"/moje-sprawy/{submission_id}/upo.xml")
    assert receipt.status_code == 200 and receipt.data.startswith(b"<?xml")


def test_the_next_look_issues_a_receipt_the_store_refused(
        other_app: Any, catalog: None, small_volume: SmallVolume, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.inbox import service as inbox

    portal = other_app(BLOB_STORE=f"filesystem:{small_volume.path}/blobs")
    client = portal.test_client()
    browser = login_resident(client)
    draft_id = start_letter(client)
    stored = inbox.store

    def store_then_fill_the_disk(*args: Any) -> Submission:
        submission = stored(*args)
        small_volume.fill()
        return submission

    monkeypatch.setattr(inbox, "store", store_then_fill_the_disk)
    filed = sign_with_trusted_profile(client, browser, draft_id)
    assert filed.status_code == 302
    assert client.get(local(filed.headers["Location"])).status_code == 200
    small_volume.release()
    submission_id = local(filed.headers["Location"]).split("?")[0].rsplit("/", 1)[1]
    receipt = client.get(f"/moje-sprawy/{submission_id}/upo.pdf")  # no dispatcher ran: this look issues it
    assert receipt.status_code == 200 and receipt.data.startswith(b"%PDF-")
    with portal.app_context():
        assert db.session.get(Submission, submission_id).upo_sha256 is not None


def test_a_receipt_asked_for_while_the_object_store_is_down_is_a_503_not_a_500(
        other_app: Any, catalog: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.server import ThreadedMotoServer

    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "okienko-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "okienko-test")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        bucket = f"okienko-{uuid.uuid4().hex[:8]}"  # moto's buckets live as long as the test process
        boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1").create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        portal = other_app(BLOB_STORE=f"s3:{bucket}?endpoint={endpoint}&region=eu-central-1")
        client = portal.test_client()
        browser = login_resident(client)
        filed = sign_with_trusted_profile(client, browser, start_letter(client))
        assert filed.status_code == 302, filed.get_data(as_text=True)
        case = local(filed.headers["Location"]).split("?")[0]
        server.stop()  # the object store goes away
        down = client.get(f"{case}/upo.xml")
        assert down.status_code == 503 and down.headers["Retry-After"] == "30", down.get_data(as_text=True)[:2000]
        assert "Nie możemy teraz sięgnąć do zapisanych dokumentów" in down.get_data(as_text=True)
        assert client.get(case).status_code == 200  # the case page itself needs no stored bytes
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        server.start()  # back, with what it held
        back = client.get(f"{case}/upo.xml")
        assert back.status_code == 200 and back.data.startswith(b"<?xml")
    finally:
        server.stop()
