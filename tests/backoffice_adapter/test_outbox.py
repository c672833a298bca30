from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from backoffice_adapter import outbox
from backoffice_adapter.base import BackOfficeAdapter, DeliveryError, DeliveryReceipt, Envelope, register
from backoffice_adapter.models import DEAD, FAILED, SUCCESS, OutboxMessage
from portal.db_types import utcnow
from portal.desk.models import IncomingParcel
from portal.extensions import db
from tests.factories import make_submission

failures = {"left": 0}


@register("flaky-test-target")
class FlakyTarget(BackOfficeAdapter):
    """A target that is down for the first N deliveries, then takes them (a real adapter, not a mock)."""

    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise DeliveryError("target is down")
        return DeliveryReceipt(adapter=self.name, reference=f"T-{envelope.receipt_id}")


def test_delivery_to_the_desk_registers_the_parcel_once(ctx: None, catalog: None, pki: Path) -> None:
    submission = make_submission(pki)
    assert outbox.run_once() == 1
    message = db.session.scalar(select(OutboxMessage))
    assert message.state == SUCCESS and message.receipt["reference"].startswith("RPW/1/")
    # a redelivery (e.g. after a crash between delivery and commit) finds the same parcel
    from portal.desk import service as desk
    from portal.inbox import service as inbox

    again = desk.receive(inbox.envelope(submission.id))
    assert again.rpw == message.receipt["reference"]
    assert db.session.scalar(select(func.count()).select_from(IncomingParcel)) == 1


def test_failed_delivery_is_retried_with_backoff_then_delivered(ctx: None, catalog: None, pki: Path) -> None:
    make_submission(pki)
    message = db.session.scalar(select(OutboxMessage))
    message.adapter = "flaky-test-target"
    db.session.commit()
    failures["left"] = 1
    assert outbox.run_once() == 1
    db.session.refresh(message)
    assert message.state == FAILED and message.last_error.endswith("target is down")
    assert message.next_attempt_at > utcnow()
    assert outbox.run_once() == 0  # not due yet
    message.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert outbox.run_once() == 1
    db.session.refresh(message)
    assert message.state == SUCCESS and message.attempts == 2 and message.last_error is None


def test_a_delivery_that_keeps_failing_is_set_aside(ctx: None, catalog: None, pki: Path, app) -> None:
    make_submission(pki)
    message = db.session.scalar(select(OutboxMessage))
    message.adapter = "flaky-test-target"
    message.attempts = app.config["OUTBOX_MAX_ATTEMPTS"] - 1
    db.session.commit()
    failures["left"] = 1
    outbox.run_once()
    db.session.refresh(message)
    assert message.state == DEAD
    assert outbox.summary()["counts"][DEAD] == 1


def test_a_claim_abandoned_by_a_dead_worker_is_taken_again(ctx: None, catalog: None, pki: Path) -> None:
    make_submission(pki)
    assert outbox.claim() != []  # a worker claims the row, then dies without delivering
    assert outbox.claim() == []  # its lease still holds
    message = db.session.scalar(select(OutboxMessage))
    message.lease_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert outbox.run_once() == 1
    db.session.refresh(message)
    assert message.state == SUCCESS


def test_backoff_grows_and_is_jittered() -> None:
    first = [outbox.backoff(1).total_seconds() for _ in range(50)]
    fifth = [outbox.backoff(5).total_seconds() for _ in range(50)]
    assert all(2.5 <= s <= 5 for s in first) and len(set(first)) > 1
    assert all(40 <= s <= 80 for s in fifth)
