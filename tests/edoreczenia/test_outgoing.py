"""Letters through e-Doręczenia, against the sandbox process: the client, the channel rule, dispatch exactly
once (a killed worker, 503s), the evidence (verified, tampered), the legal dates and the case pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from portal.auth.models import Clerk
from portal.db_types import utcnow
from portal.desk import service as desk
from portal.desk.models import DeskCase
from portal.edoreczenia import channel
from portal.edoreczenia import client as edo
from portal.edoreczenia import service as edoreczenia
from portal.edoreczenia.models import FAILED, IN_PROGRESS, SENT, EdoDispatch
from portal.extensions import db
from portal.signing import pades
from portal.status import deadlines
from tests.desk.conftest import a_pdf
from tests.factories import make_resident, make_submission

JAN, NO_ADDRESS = "80010112357", "01230804662"
JAN_BOX = "AE:PL-20384-51637-JKOWA-42"


@pytest.fixture(scope="module")
def edo_app(app: Flask, app_config: dict[str, Any], sandbox_url: str, pki: Path) -> Iterator[Flask]:
    """The portal with the channel on, against the sandbox (same database as `app`)."""
    from portal import create_app

    application = create_app({**app_config, "EDORECZENIA_URL": f"{sandbox_url}/edoreczenia",
                              "EDORECZENIA_EVIDENCE_SEALS": str(pki / "edoreczenia-seal.pem"),
                              "EDORECZENIA_TIMEOUT": 5})
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def ectx(app: Flask, catalog: None, edo_app: Flask, sandbox_url: str) -> Iterator[str]:
    with edo_app.app_context():
        yield sandbox_url
    requests.delete(f"{sandbox_url}/edoreczenia/sandbox/faults", timeout=5)


def _case(pki: Path, pesel: str = JAN, **resident: Any) -> tuple[Clerk, DeskCase]:
    person = make_resident(pesel)
    for name, value in resident.items():
        setattr(person, name, value)
    submission = make_submission(pki, person)
    clerk = Clerk(username="e.kaczmarek", display_name="Ewa Kaczmarek", unit="OR", claimed_roles=["clerk"])
    number = int(submission.id[:7], 16)
    case = DeskCase(reference=f"OR.1431.{number}.2026", unit="OR", jrwa_class="1431", number=number,
                    year=2026, title="Sprawa", submission_id=submission.id, status="in_progress")
    db.session.add_all([clerk, case])
    db.session.commit()
    return clerk, case


def _letter(pki: Path, clerk: Clerk, case: DeskCase, kind: str = "decision") -> Any:
    content = pades.seal(a_pdf("Decyzja nr 7/2026"), str(pki / "office-seal.pem"), str(pki / "office-seal.key"),
                         "Decyzja")
    return desk.send_letter(clerk, case, kind, "Decyzja w sprawie", "decyzja.pdf", content, "Zezwala się.")


def _sent_with(key: str) -> list[dict[str, Any]]:
    client = edoreczenia._client()
    return [m for m in client.list_messages(label="SENT", limit=2000)
            if ((m.get("messageMetadata") or {}).get("additionalData") or {}).get("okienkoKey") == key]


def _poll_now(job: EdoDispatch) -> None:
    job.poll_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    edoreczenia.run_polls()
    db.session.refresh(job)


def test_the_client_speaks_to_the_sandbox(ectx: str) -> None:
    client = edoreczenia._client()
    assert client.active_address(JAN) == JAN_BOX
    assert client.active_address(NO_ADDRESS) is None
    assert client.token() == client.token()  # kept until near expiry
    with pytest.raises(edo.Refused) as refused:  # another mailbox than the client's own: 403
        client._call("GET", f"{client._mailbox(JAN_BOX)}/messages")
    assert refused.value.http_status == 403
    requests.post(f"{ectx}/edoreczenia/sandbox/faults", json={"status": 503, "count": 1}, timeout=5)
    with pytest.raises(edo.Transient):
        client.bae_search(pesel=JAN)
    dead = edo.Client(edo.Settings(url="http://127.0.0.1:9", token_url="http://127.0.0.1:9/t", client_id="x",
                                   client_secret="y", address="AE:PL-1", timeout=0.5))
    with pytest.raises(edo.Transient):
        dead.token()


def test_the_channel_follows_the_rule(ectx: str, pki: Path) -> None:
    _, with_address = _case(pki, JAN)
    assert edoreczenia.plan(with_address).channel == channel.EDORECZENIA
    _, no_address = _case(pki, NO_ADDRESS)
    assert edoreczenia.plan(no_address).channel == channel.HYBRID  # no confirmed e-mail: posted
    resident = edoreczenia.resident_of(no_address)
    resident.email, resident.email_confirmed_at = "z@example.pl", utcnow()
    assert edoreczenia.plan(no_address).channel == channel.PORTAL
    requests.post(f"{ectx}/edoreczenia/sandbox/faults", json={"status": 503, "count": 2}, timeout=5)
    down = edoreczenia.plan(with_address)
    assert down.channel == channel.UNDECIDED and down.warning  # never the portal silently


def test_a_decision_is_sent_once_verified_and_delivered_when_opened(ectx: str, pki: Path) -> None:
    clerk, case = _case(pki)
    letter = _letter(pki, clerk, case)
    job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.letter_id == letter.id))
    assert letter.channel == "edoreczenia" and job.state == "pending" and job.recipient == JAN_BOX
    assert edoreczenia.run_dispatches() == 1
    db.session.refresh(job)
    assert job.state == SENT and job.message_id and len(_sent_with(job.key)) == 1
    _poll_now(job)
    codes = {e.code for e in job.evidences}
    assert {"A.1", "BP.WX", "D.1"} <= codes and all(e.valid for e in job.evidences), \
        [(e.code, e.verdict.get("reasons")) for e in job.evidences]
    dates = edoreczenia.legal_dates(letter, job)
    assert dates.delivered_on is None and dates.fiction_on is not None
    opened = requests.post(f"{ectx}/edoreczenia/skrzynka/{JAN_BOX}/{job.message_id}/odbierz", timeout=5,
                           allow_redirects=False)
    assert opened.status_code == 303
    _poll_now(job)
    assert {"E.1", "BP.OX"} <= {e.code for e in job.evidences} and not job.evidence_owed
    dates = edoreczenia.legal_dates(letter, job)
    e1 = next(e for e in job.evidences if e.code == "E.1")
    assert dates.delivered_at == e1.event_time and not dates.by_fiction
    assert dates.appeal_due == deadlines.appeal_due(dates.delivered_on)


def test_a_worker_killed_after_the_post_does_not_send_twice(ectx: str, pki: Path) -> None:
    clerk, case = _case(pki)
    letter = _letter(pki, clerk, case, kind="answer")
    job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.letter_id == letter.id))
    # The worker counted its attempt, posted the message, and died before its commit.
    job.state, job.attempts, job.lease_until = IN_PROGRESS, 1, utcnow() - timedelta(seconds=1)
    db.session.commit()
    edoreczenia.post(job)
    db.session.rollback()
    assert edoreczenia.run_dispatches() == 1  # the lapsed lease is taken again
    db.session.refresh(job)
    assert job.state == SENT and job.attempts == 2 and job.task_id is None and job.message_id  # found by its key
    assert len(_sent_with(job.key)) == 1


def test_503s_for_a_while_are_retried_with_backoff_and_nothing_is_lost(ectx: str, pki: Path) -> None:
    clerk, case = _case(pki)
    letter = _letter(pki, clerk, case, kind="answer")
    job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.letter_id == letter.id))
    requests.post(f"{ectx}/edoreczenia/sandbox/faults", json={"status": 503, "count": 2}, timeout=5)
    waits = []
    for _ in range(4):
        edoreczenia.run_dispatches()
        db.session.refresh(job)
        if job.state == SENT:
            break
        assert job.state == FAILED and "503" in (job.last_error or "")
        waits.append((job.next_attempt_at - utcnow()).total_seconds())
        job.next_attempt_at = utcnow()
        db.session.commit()
    assert job.state == SENT and len(_sent_with(job.key)) == 1
    assert waits and all(w >= edoreczenia.DISPATCH_BACKOFF_BASE / 2 - 1 for w in waits)


def test_a_tampered_evidence_is_refused_and_the_clerk_told(ectx: str, pki: Path, edo_app: Flask) -> None:
    clerk, case = _case(pki)
    letter = _letter(pki, clerk, case)
    edoreczenia.run_dispatches()
    job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.letter_id == letter.id))
    requests.post(f"{ectx}/edoreczenia/sandbox/faults", json={"tamper_next_evidence": True}, timeout=5)
    _poll_now(job)
    failed = [e for e in job.evidences if not e.valid]
    assert len(failed) == 1 and failed[0].event_time is None and failed[0].verdict["reasons"]
    state = edoreczenia.letter_states([letter])[0]
    assert state.failed_evidence


def test_not_collected_counts_as_delivered_after_14_days(ectx: str, pki: Path) -> None:
    clerk, case = _case(pki)
    letter = _letter(pki, clerk, case)
    edoreczenia.run_dispatches()
    job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.letter_id == letter.id))
    _poll_now(job)
    requests.post(f"{ectx}/edoreczenia/sandbox/clock", json={"days": 15}, timeout=5)
    _poll_now(job)
    fiction = [e for e in job.evidences if e.code == "BP.OX"]
    assert fiction and fiction[0].valid and fiction[0].receipt_fiction
    dates = edoreczenia.legal_dates(letter, job)
    notice = next(e for e in job.evidences if e.code == "D.1")
    assert dates.by_fiction and dates.delivered_on == deadlines.delivered_by_fiction_on(notice.event_time)
    assert not dates.provider_fiction_differs
    assert dates.appeal_due == deadlines.appeal_due(dates.delivered_on)


def test_the_notification_address_takes_hints_and_refuses_junk(ectx: str, edo_app: Flask) -> None:
    client = edo_app.test_client()
    for junk in (b"not json", b"[]", b'{"notificationType":"Other"}',
                 b'{"notificationType":"NewEvidence","eDeliveryAddress":"AE:PL-41058-29316-UMLES-17"}'):
        assert client.post("/edoreczenia/powiadomienia", data=junk,
                           content_type="application/json").status_code == 400
    good = client.post("/edoreczenia/powiadomienia", json={
        "eDeliveryAddress": "AE:PL-41058-29316-UMLES-17", "notificationType": "NewEvidence",
        "notification": [{"id": "ev-1", "type": "E.1"}]})
    assert good.status_code == 200 and good.get_json() == {"scheduled": 0}


def test_forged_hints_cannot_make_the_worker_poll_in_a_loop(ectx: str, pki: Path, edo_app: Flask) -> None:
    """Anyone may post to the notification address: a hint brings a poll forward, never closer than a minute
    after the last one, and the letter's back-off stays as it was."""
    clerk, case = _case(pki)
    letter = _letter(pki, clerk, case)
    edoreczenia.run_dispatches()
    job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.letter_id == letter.id))
    hint = {"eDeliveryAddress": "AE:PL-41058-29316-UMLES-17", "notificationType": "NewEvidence",
            "notification": [{"id": "ev-x"}]}
    client = edo_app.test_client()
    just_sent = job.poll_at
    assert client.post("/edoreczenia/powiadomienia", json=hint).get_json() == {"scheduled": 0}
    db.session.refresh(job)
    assert job.poll_at == just_sent  # asked a moment ago: the next poll stays a minute after it
    now = utcnow()
    job.poll_seconds, job.poll_at = 480, now + timedelta(seconds=400)  # last asked 80 s ago, 8-minute back-off
    db.session.commit()
    assert client.post("/edoreczenia/powiadomienia", json=hint).get_json() == {"scheduled": 1}
    db.session.refresh(job)
    assert job.poll_at <= utcnow() and job.poll_seconds == 480
    for _ in range(3):  # more hints change nothing once it is due
        assert client.post("/edoreczenia/powiadomienia", json=hint).get_json() == {"scheduled": 0}


def test_appeal_deadline_counts_like_article_57() -> None:
    from datetime import date

    assert deadlines.appeal_due(date(2026, 12, 3)) == date(2026, 12, 17)
    assert deadlines.appeal_due(date(2026, 12, 12)) == date(2026, 12, 28)  # 26 Dec (Sat), moved past Christmas


def test_both_case_pages_show_the_evidence_and_the_dates(ectx: str, pki: Path, edo_app: Flask,
                                                         client: Any) -> None:
    import io
    import zipfile

    from tests.helpers import login_clerk, login_resident
    from tests.pages import PageCheckingClient

    clerk, case = _case(pki)
    letter = _letter(pki, clerk, case)
    edoreczenia.run_dispatches()
    job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.letter_id == letter.id))
    requests.post(f"{ectx}/edoreczenia/skrzynka/{JAN_BOX}/{job.message_id}/odbierz", timeout=5)
    _poll_now(job)
    appeal = edoreczenia.legal_dates(letter, job).appeal_due
    case_id, submission_id, evidence_pk = case.id, case.submission_id, job.evidences[0].id
    edo_app.test_client_class = PageCheckingClient
    officer = edo_app.test_client()
    login_clerk(officer, "e.kaczmarek")
    page = officer.get(f"/urzad/sprawy/{case_id}").get_data(as_text=True)
    assert "Droga doręczenia" in page and "Przesyłka odebrana przez adresata" in page
    assert appeal is not None and appeal.strftime("%d.%m.%Y") in page
    evidence = officer.get(f"/urzad/sprawy/{case_id}/pisma/{letter.id}/dowody/{evidence_pk}")
    assert evidence.status_code == 200 and b"Evidence" in evidence.data
    archive = zipfile.ZipFile(io.BytesIO(officer.get(f"/urzad/sprawy/{case_id}/akta.zip").data))
    assert any("/e-doreczenia/" in name for name in archive.namelist())
    db.session.commit()  # nothing of this test's own held open while the resident signs in
    resident = client  # the portal's own test client (the same database): the page reads what is stored
    login_resident(resident, JAN)
    mine = resident.get(f"/moje-sprawy/{submission_id}").get_data(as_text=True)
    assert "e-Doręczenia" in mine and appeal.strftime("%d.%m.%Y") in mine and "Dowód otrzymania" in mine
