"""The transactional outbox and its dispatcher.

A delivery is owed from the moment the submission commits, because its outbox row commits
with it. The dispatcher claims due rows (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
several workers never take the same row), delivers each through its adapter, and records
the outcome. Adapters must treat the submission id as an idempotency key, which makes a
redelivery after a crash harmless: exactly once in effect.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select

from backoffice_adapter import base
from backoffice_adapter.models import DEAD, FAILED, IN_PROGRESS, PENDING, SUCCESS, OutboxMessage
from portal.db_types import utcnow
from portal.extensions import db

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)


def enqueue(submission_id: str, adapters: list[str]) -> None:
    """Owe a delivery to each adapter; part of the caller's transaction."""
    for name in adapters:
        db.session.add(OutboxMessage(submission_id=submission_id, adapter=name, state=PENDING,
                                     next_attempt_at=utcnow()))


def backoff(attempt: int, base_seconds: float = 5.0, cap_seconds: float = 3600.0) -> timedelta:
    """Exponential back-off with full jitter: retries from many rows do not arrive together."""
    ceiling = min(cap_seconds, base_seconds * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def claim(limit: int = 20) -> list[int]:
    """Take up to `limit` due messages for this worker and commit the claim."""
    now = utcnow()
    query = (
        select(OutboxMessage)
        .where(or_(
            and_(OutboxMessage.state.in_([PENDING, FAILED]), OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.state == IN_PROGRESS, OutboxMessage.lease_until < now),
        ))
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    for row in rows:
        row.state = IN_PROGRESS
        row.lease_until = now + LEASE
        row.attempts += 1
    ids = [row.id for row in rows]
    db.session.commit()
    return ids


def _envelope(submission_id: str) -> base.Envelope:
    from portal.inbox import service as inbox  # the inbox enqueues into us; import at use to avoid a cycle

    return inbox.envelope(submission_id)


def _record_delivered(message: OutboxMessage, receipt: base.DeliveryReceipt) -> None:
    from portal.status import service as status

    status.record_event(message.submission_id, status.DELIVERED, f"{message.submission_id}:delivered:{message.adapter}",
                        adapter=message.adapter, reference=receipt.reference, **receipt.details)


def deliver(message_id: int) -> str:
    """Deliver one claimed message; return its new state."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.state != IN_PROGRESS:
        return message.state if message else "missing"
    config = current_app.config
    try:
        target = base.adapter(message.adapter, config)
        receipt = target.deliver(_envelope(message.submission_id))
    except base.PermanentDeliveryError as exc:
        db.session.rollback()
        message = db.session.get(OutboxMessage, message_id)
        message.state = DEAD
        message.last_error = f"{type(exc).__name__}: {exc}"[:4000]
        log.error("delivery %s to %s refused permanently: %s", message.submission_id, message.adapter, exc)
    except Exception as exc:  # noqa: BLE001 - any failure of the target is retried, then set aside
        db.session.rollback()
        message = db.session.get(OutboxMessage, message_id)
        message.last_error = f"{type(exc).__name__}: {exc}"[:4000]
        if message.attempts >= int(config["OUTBOX_MAX_ATTEMPTS"]):
            message.state = DEAD
            log.error("delivery %s to %s gave up after %d attempts: %s", message.submission_id, message.adapter,
                      message.attempts, exc)
        else:
            message.state = FAILED
            message.next_attempt_at = utcnow() + backoff(message.attempts)
            log.warning("delivery %s to %s failed (attempt %d): %s", message.submission_id, message.adapter,
                        message.attempts, exc)
    else:
        message.state = SUCCESS
        message.receipt = {"reference": receipt.reference, **receipt.details}
        message.delivered_at = utcnow()
        message.last_error = None
        message.lease_until = None
        _record_delivered(message, receipt)
        log.info("delivered %s to %s as %s", message.submission_id, message.adapter, receipt.reference)
    db.session.commit()
    return message.state


def run_once(limit: int = 20) -> int:
    """Claim and deliver what is due now; return how many messages were handled."""
    ids = claim(limit)
    for message_id in ids:
        deliver(message_id)
    return len(ids)


def run_forever(poll_seconds: float = 1.0, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            handled = run_once()
        except Exception:  # noqa: BLE001 - a lost database connection must not end the worker
            log.exception("outbox worker iteration failed")
            db.session.rollback()
            handled = 0
        if not handled:
            stop.wait(poll_seconds)
        db.session.remove()


def status() -> dict[str, Any]:
    counts = dict(db.session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
    oldest = db.session.scalar(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.state.in_([PENDING, FAILED, IN_PROGRESS]))
    )
    age = (utcnow() - oldest).total_seconds() if oldest else 0.0
    return {
        "counts": {state: int(counts.get(state, 0)) for state in (PENDING, IN_PROGRESS, FAILED, SUCCESS, DEAD)},
        "oldest_waiting_seconds": round(age, 1),
    }

