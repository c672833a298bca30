from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from backoffice_adapter import outbox
from backoffice_adapter.base import BackOfficeAdapter, CaseUpdate, DeliveredParcel, DeliveryReceipt, Envelope, register
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.status import polling
from portal.status import service as status
from portal.status.models import CaseEvent
from tests.factories import make_submission
from tests.helpers import login_resident

SECRET = "k" * 48


def signed_post(client: FlaskClient, events: list[dict[str, Any]], secret: str = SECRET,
                at: int | None = None) -> Any:
    body = json.dumps({"events": events}).encode()
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return client.post("/api/zdarzenia", data=body, content_type="application/json",
                       headers={"X-Okienko-Signature": f"t={at},v1={mac}"})


def event(submission_id: str, event_id: str, kind: str, minutes: int, **data: str) -> dict[str, Any]:
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    return {"id": event_id, "submission_id": submission_id, "kind": kind, "occurred_at": at.isoformat(), "data": data}


@pytest.fixture
def submission_id(app: Flask, catalog: None, pki: Path, configure: Any) -> str:
    configure(WEBHOOK_SECRET=SECRET)
    with app.app_context():
        return make_submission(pki).id


def back_office_events(app: Flask) -> list[CaseEvent]:
    with app.app_context():
        return list(db.session.scalars(select(CaseEvent).where(CaseEvent.kind != status.FILED)))


def test_signed_events_update_the_case_once(app: Flask, client: FlaskClient, submission_id: str) -> None:
    batch = [
        event(submission_id, "e1", "registered", 0, rpw="RPW/17/2026"),
        event(submission_id, "e2", "case_opened", 30, case_reference="OR.1431.12.2026", unit="OR"),
        event(submission_id, "e3", "assigned", 31, unit="OR", handler="Marek Wójcik"),
        event(submission_id, "e4", "supplement_requested", 60, message="Proszę dołączyć pełnomocnictwo.",
              due="2026-11-27"),
    ]
    answer = signed_post(client, batch)
    assert answer.status_code == 200 and answer.json == {"applied": 4, "duplicates": 0}
    assert signed_post(client, batch).json == {"applied": 0, "duplicates": 4}
    assert len(back_office_events(app)) == 4
    login_resident(client)
    page = client.get(f"/moje-sprawy/{submission_id}").get_data(as_text=True)
    assert "OR.1431.12.2026" in page and "RPW/17/2026" in page and "Marek Wójcik" in page
    assert "Wezwanie do uzupełnienia" in page and "pełnomocnictwo" in page


def test_a_late_event_takes_its_place_in_time(app: Flask, client: FlaskClient, submission_id: str) -> None:
    signed_post(client, [event(submission_id, "closed", "status_changed", 90, status="closed")])
    signed_post(client, [event(submission_id, "suspended", "status_changed", 10, status="suspended")])
    with app.app_context():
        timeline = status.timeline(submission_id)
        assert [e.data.get("status") for e in timeline if e.kind == "status_changed"] == ["suspended", "closed"]
        assert status.summary(timeline).status == "closed"


def signature_made_at(at: int, body: bytes) -> dict[str, str]:
    mac = hmac.new(SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Okienko-Signature": f"t={at},v1={mac}"}


@pytest.mark.parametrize(("headers_for", "reason"), [
    (lambda body: {}, "missing or malformed"),
    (lambda body: {"X-Okienko-Signature": f"t={int(time.time())},v1={'0' * 64}"}, "does not match"),
    (lambda body: signature_made_at(int(time.time()) - 3600, body), "replay window"),
])
def test_unauthenticated_events_are_refused(app: Flask, client: FlaskClient, submission_id: str,
                                            headers_for: Any, reason: str) -> None:
    body = json.dumps({"events": [event(submission_id, "x", "registered", 0, rpw="RPW/1/2026")]}).encode()
    answer = client.post("/api/zdarzenia", data=body, content_type="application/json", headers=headers_for(body))
    assert answer.status_code == 401 and reason in answer.json["error"]
    assert back_office_events(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "case.events_refused")) == 1


@pytest.mark.parametrize(("bad", "reason"), [
    ({"kind": "teleported"}, "unknown event kind"),
    ({"kind": "status_changed", "data": {"status": "lost"}}, "status must be one of"),
    ({"kind": "registered", "data": {}}, "missing rpw"),
    ({"kind": "registered", "data": {"rpw": "RPW/1/2026", "pesel": "80010112357"}}, "unknown field"),
    ({"submission_id": "00000000-0000-0000-0000-000000000000"}, "no submission"),
    ({"occurred_at": "yesterday"}, "not an ISO 8601 time"),
    ({"occurred_at": "2026-11-20T09:00:00"}, "UTC offset"),
])
def test_one_malformed_event_refuses_the_whole_batch(app: Flask, client: FlaskClient, submission_id: str,
                                                     bad: dict[str, Any], reason: str) -> None:
    good = event(submission_id, "good", "registered", 0, rpw="RPW/5/2026")
    broken = {**event(submission_id, "bad", "registered", 1, rpw="RPW/6/2026"), **bad}
    answer = signed_post(client, [good, broken])
    assert answer.status_code == 400 and "event 2" in answer.json["error"] and reason in answer.json["error"]
    assert back_office_events(app) == []


polled: dict[str, list[CaseUpdate]] = {"updates": []}


@register("polling-test-office")
class PollingOffice(BackOfficeAdapter):
    """A back office that is asked for its events (as EZD RP is), answering from a list the test sets."""

    polls_events = True

    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        return DeliveryReceipt(adapter=self.name, reference=f"P-{envelope.receipt_id}", details={"case": "77"})

    def fetch_events(self, parcels: list[DeliveredParcel]) -> list[CaseUpdate]:
        assert all(p.receipt.get("case") == "77" for p in parcels)
        wanted = {p.submission_id for p in parcels}
        return [u for u in polled["updates"] if u.submission_id in wanted]


def test_polled_events_are_applied_and_finished_cases_are_not_asked_again(app: Flask, catalog: None, pki: Path,
                                                                          configure: Any) -> None:
    configure(DELIVERY_ADAPTERS="polling-test-office")
    with app.app_context():
        submission = make_submission(pki)
        outbox.run_once()
        at = datetime(2026, 11, 21, 10, tzinfo=UTC)
        polled["updates"] = [
            CaseUpdate("s1:opened", submission.id, "case_opened", at, {"case_reference": "OR.0012.3.2026"}),
            CaseUpdate("s1:bogus", submission.id, "status_changed", at, {"status": "exploded"}),
            CaseUpdate("s1:decided", submission.id, "decision", at + timedelta(days=3),
                       {"summary": "Wydano zezwolenie."}),
        ]
        assert polling.poll_events() == 2  # the malformed one is refused and logged
        assert polling.poll_events() == 0  # decided: no longer asked about
        case = status.summary(status.timeline(submission.id))
        assert case.case_reference == "OR.0012.3.2026" and case.stage == "decided"
