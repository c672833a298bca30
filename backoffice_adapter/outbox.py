"""The transactional outbox and its dispatcher.

A delivery is owed from the moment the submission commits, because its outbox row commits
with it. The dispatcher claims due rows (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
several workers never take the same row), delivers each through its adapter, and records
the outcome. Adapters must treat the submission id as an idempotency key, which makes a
redelivery after a crash harmless: exactly once in effect.

The worker outlives its database: while PostgreSQL is down (a restart, a failover, an outage of any
length) every iteration fails, and the worker waits, longer each time up to OUTAGE_MAX_WAIT, logs the
outage once and its end once, and carries on. Rows it had claimed but not finished are let go as soon as
the database answers again, not left to their lease.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from backoffice_adapter import base
from backoffice_adapter.hooks import portal
from backoffice_adapter.models import DEAD, FAILED, IN_PROGRESS, PENDING, SUCCESS, OutboxMessage
from portal.db_types import utcnow
from portal.extensions import db
from portal.ops import metrics

log = logging.getLogger(__name__)

WAITING = (PENDING, FAILED, IN_PROGRESS)
# While the database is down the worker tries again after 1 s, 2 s, 4 s … and then every OUTAGE_MAX_WAIT:
# one connection attempt every few seconds costs nothing, and work resumes within that long of its return.
OUTAGE_MAX_WAIT = 10.0
# While the document store cannot give a parcel's bytes or take its receipt, a delivery waits about this long
# before it is tried again; the back office was not called, so no attempt is counted.
STORE_RETRY_SECONDS = 15.0


def routes_for(service_id: str, config: Any) -> list[str]:
    """The adapters a service's submissions go to: its route if it has one, else the default list."""
    for route in str(config["DELIVERY_ROUTES"]).split(";"):
        service, _, adapters = route.partition("=")
        if service.strip() == service_id and adapters.strip():
            return [a.strip() for a in adapters.split("+") if a.strip()]
    return [a.strip() for a in str(config["DELIVERY_ADAPTERS"]).split(",") if a.strip()]


def configured_adapters(config: Any) -> list[str]:
    """Every adapter named by the default list or a route. Raises ValueError for a malformed route."""
    names = set(routes_for("", config))
    for route in str(config["DELIVERY_ROUTES"]).split(";"):
        if route.strip():
            _, _, adapters = route.partition("=")
            if not adapters.strip():
                raise ValueError(f"PORTAL_DELIVERY_ROUTES: {route!r} names no adapter "
                                 "(expected service-id=adapter+adapter)")
            names.update(a.strip() for a in adapters.split("+") if a.strip())
    return sorted(names)


def check_routes(config: Any) -> list[str]:
    """Problems with the configured adapters and routes (unknown names, missing settings); empty when fine."""
    try:
        names = configured_adapters(config)
    except ValueError as exc:
        return [str(exc)]
    problems = []
    for name in names:
        try:
            base.adapter(name, config).check_config()
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    return problems


def enqueue(submission_id: str, adapters: list[str]) -> None:
    """Owe a delivery to each adapter; part of the caller's transaction. The first is the system of record."""
    for position, name in enumerate(adapters):
        db.session.add(OutboxMessage(submission_id=submission_id, adapter=name, state=PENDING,
                                     next_attempt_at=utcnow(), is_copy=position > 0))


def backoff(attempt: int, base_seconds: float = 5.0, cap_seconds: float = 3600.0) -> timedelta:
    """Exponential back-off with full jitter: retries from many rows do not arrive together."""
    ceiling = min(cap_seconds, base_seconds * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def claim(limit: int = 20) -> list[int]:
    """Take up to `limit` due messages for this worker and commit the claim."""
    return list(claim_leases(limit))


def claim_leases(limit: int) -> dict[int, datetime]:
    """Claim due messages (a unit of work of its own: the claim commits before anything is delivered);
    return each one's id with the lease this worker holds it by.

    No attempt is counted here: a worker that dies after claiming twenty rows has tried at most one of
    them, and the others must not come closer to being set aside as dead (`deliver` counts each try)."""
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
    lease = timedelta(seconds=int(current_app.config["OUTBOX_LEASE_SECONDS"]))
    for row in rows:
        row.state = IN_PROGRESS
        row.lease_until = now + lease
    held = {row.id: now + lease for row in rows}
    db.session.commit()
    return held


def release(held: dict[int, datetime]) -> int:
    """Let go of claimed messages this worker did not finish (the database failed under it): due again now,
    for any worker, instead of waiting out the lease. A row whose lease another worker has taken since is left
    alone. Returns how many were released."""
    released = 0
    for message_id, lease_until in held.items():
        message = db.session.get(OutboxMessage, message_id, with_for_update=True)
        if message is None or message.state != IN_PROGRESS or message.lease_until != lease_until:
            continue
        message.state = FAILED if message.attempts else PENDING
        message.lease_until = None
        message.next_attempt_at = utcnow()
        released += 1
    db.session.commit()
    if released:
        log.warning("released %d delivery(ies) this worker held when the database failed", released)
    return released


def _record_delivered(message: OutboxMessage, receipt: base.DeliveryReceipt) -> None:
    """Only the system of record's delivery tells the resident "delivered"; copies stay silent."""
    if not message.is_copy:
        portal().delivered(message.submission_id, message.adapter, receipt)


def deliver(message_id: int, held: dict[int, datetime] | None = None) -> str:
    """Deliver one claimed message; return its new state.

    `held` maps the messages this worker claimed to the leases it holds them by: a message whose lease lapsed
    and was taken by another worker since is left to that worker. The attempt is counted, and the lease taken
    afresh (and noted in `held`), just before the back office is called — committed, so that a crash during
    the call still counts it."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.state != IN_PROGRESS:
        return message.state if message else "missing"
    if held is not None and message_id in held and message.lease_until != held[message_id]:
        return message.state  # another worker's now
    config = current_app.config
    try:
        target = base.adapter(message.adapter, config)
    except Exception as exc:  # noqa: BLE001 - an unknown adapter is a failed attempt like any other
        return record_failure(message_id, exc, count=True)
    hooks = portal()
    try:
        envelope = hooks.envelope(message.submission_id)  # may issue the receipt, which the store must take
    except hooks.waits_for_store as exc:
        return record_wait_for_the_store(message_id, exc)
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.state != IN_PROGRESS:
        return message.state if message else "missing"
    lease_until = utcnow() + timedelta(seconds=int(config["OUTBOX_LEASE_SECONDS"]))
    message.attempts += 1
    message.lease_until = lease_until
    db.session.commit()
    if held is not None:
        held[message_id] = lease_until
    try:
        receipt = target.deliver(envelope)
    except base.PermanentDeliveryError as exc:
        db.session.rollback()
        message = db.session.get(OutboxMessage, message_id)
        message.state = DEAD
        message.last_error = f"{type(exc).__name__}: {exc}"[:4000]
        message.lease_until = None
        log.error("delivery %s to %s refused permanently: %s", message.submission_id, message.adapter, exc)
    except Exception as exc:  # noqa: BLE001 - any failure of the target is retried, then set aside
        return record_failure(message_id, exc, count=False)
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


def record_failure(message_id: int, exc: Exception, count: bool) -> str:
    """Record a failed attempt (its own unit of work, after the back office's call): tried again after a
    back-off, or set aside once the attempts are used up."""
    config = current_app.config
    db.session.rollback()
    message = db.session.get(OutboxMessage, message_id)
    if count:
        message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:4000]
    message.lease_until = None
    if message.attempts >= int(config["OUTBOX_MAX_ATTEMPTS"]):
        message.state = DEAD
        log.error("delivery %s to %s gave up after %d attempts: %s", message.submission_id, message.adapter,
                  message.attempts, exc)
    else:
        message.state = FAILED
        message.next_attempt_at = utcnow() + backoff(message.attempts)
        log.warning("delivery %s to %s failed (attempt %d): %s", message.submission_id, message.adapter,
                    message.attempts, exc)
    db.session.commit()
    return message.state


def record_wait_for_the_store(message_id: int, exc: Exception) -> str:
    """The parcel could not be put together (the store is full or unreachable): the back office was not called,
    so no attempt is counted; the delivery, and with it the receipt the parcel carries, is tried again soon."""
    db.session.rollback()
    message = db.session.get(OutboxMessage, message_id)
    message.state = FAILED if message.attempts else PENDING
    message.last_error = f"{type(exc).__name__}: {exc}"[:4000]
    message.lease_until = None
    message.next_attempt_at = utcnow() + timedelta(seconds=random.uniform(STORE_RETRY_SECONDS * 2 / 3,
                                                                          STORE_RETRY_SECONDS * 4 / 3))
    db.session.commit()
    log.warning("delivery %s to %s waits for the document store: %s", message.submission_id, message.adapter, exc)
    return message.state


def run_once(limit: int = 20, held: dict[int, datetime] | None = None) -> int:
    """Claim and deliver what is due now; return how many messages were handled.

    `held`, when given, is kept up to date with the messages claimed and not yet finished, so that a caller
    whose database failed midway knows what to release."""
    held = {} if held is None else held
    claimed = claim_leases(limit)
    held.update(claimed)
    for message_id in claimed:
        deliver(message_id, held)
        held.pop(message_id, None)
    return len(claimed)


def database_unavailable(exc: BaseException) -> bool:
    """Is this the database (or the connection to it) failing, rather than a fault of ours?"""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _discard_session() -> None:
    """Throw away the request-less session and its connection; with the database down even that may fail."""
    for step in (db.session.rollback, db.session.remove):
        # The connection is gone: the pool makes a new one (pre-ping) once the database answers.
        with contextlib.suppress(Exception):
            step()


class _Outage:
    """The database is down: since when, how long to wait before the next try, when it was last logged."""

    def __init__(self, exc: BaseException) -> None:
        self.started = time.monotonic()
        self.failures = 0
        self.logged = self.started
        log.error("the database is unavailable (%s); deliveries wait, the worker tries again every %.0f s at most",
                  _first_line(exc), OUTAGE_MAX_WAIT)
        metrics.worker_database_down()

    def next_wait(self) -> float:
        self.failures += 1
        if time.monotonic() - self.logged >= 60:
            self.logged = time.monotonic()
            log.warning("the database is still unavailable, for %.0f s now", time.monotonic() - self.started)
        return min(OUTAGE_MAX_WAIT, 0.5 * 2 ** self.failures)

    def ended(self) -> None:
        log.warning("the database is back after %.1f s; deliveries resume", time.monotonic() - self.started)
        metrics.worker_database_up()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()  # the driver's own words, not SQLAlchemy's wrapping
    return text.splitlines()[0] if text else type(exc).__name__


def run_forever(poll_seconds: float = 1.0, stop: threading.Event | None = None) -> None:
    """The worker's loop: deliveries, and between rounds the chores the portal gave it (`PortalHooks.worker_chores`:
    e-mail notices, and at their own cadence case events from polling back offices, alerts, the daily jobs).

    Nothing that fails in an iteration ends the loop. A database outage is waited out with a growing pause
    (logged once when it starts and once when it ends, `okienko_outbox_worker_database_up` meanwhile 0);
    the messages this worker had claimed are released when the database answers again."""
    stop = stop or threading.Event()
    chores = portal().worker_chores()
    held: dict[int, datetime] = {}
    outage: _Outage | None = None
    metrics.worker_database_up()
    while not stop.is_set():
        handled = 0
        try:
            if held:
                release(held)
                held.clear()
            handled = run_once(held=held)
            chores()
        except Exception as exc:  # noqa: BLE001 - nothing may end the worker; a database outage least of all
            _discard_session()
            if database_unavailable(exc):
                outage = outage or _Outage(exc)
                stop.wait(outage.next_wait())
            else:
                log.exception("outbox worker iteration failed")
                stop.wait(poll_seconds)
            continue
        if outage is not None:
            outage.ended()
            outage = None
        if not handled:
            stop.wait(poll_seconds)
        _discard_session()


def delivered_parcels(adapter: str, limit: int, excluding: Any = None) -> list[base.DeliveredParcel]:
    """The parcels an adapter has delivered, newest first, for asking its back office about them; `excluding`
    is a selection of submission ids to leave out (the cases already settled)."""
    query = select(OutboxMessage.submission_id, OutboxMessage.receipt).where(
        OutboxMessage.adapter == adapter, OutboxMessage.state == SUCCESS)
    if excluding is not None:
        query = query.where(OutboxMessage.submission_id.not_in(excluding))
    rows = db.session.execute(query.order_by(OutboxMessage.delivered_at.desc()).limit(limit)).all()
    return [base.DeliveredParcel(submission_id, receipt or {}) for submission_id, receipt in rows]


def stuck(now: Any = None) -> list[OutboxMessage]:
    """Deliveries that have waited longer than the alert threshold, and dead ones."""
    now = now or utcnow()
    threshold = now - timedelta(minutes=int(current_app.config["OUTBOX_ALERT_MINUTES"]))
    return list(db.session.scalars(
        select(OutboxMessage)
        .where(or_(OutboxMessage.state == DEAD,
                   and_(OutboxMessage.state.in_(WAITING), OutboxMessage.created_at < threshold)))
        .order_by(OutboxMessage.created_at)
    ))


def resend(message_id: int) -> OutboxMessage | None:
    """An administrator's re-send of a dead or failed delivery: due now, attempts counted afresh."""
    message = db.session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.state not in (DEAD, FAILED):
        return None
    message.state, message.attempts, message.next_attempt_at = PENDING, 0, utcnow()
    message.alerted_at = message.lease_until = None
    portal().resent(message.submission_id, message.adapter)
    db.session.commit()
    return message


def summary() -> dict[str, Any]:
    """How many deliveries are in each state, and how long the oldest has waited."""
    counts = dict(db.session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
    oldest = db.session.scalar(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.state.in_(WAITING))
    )
    age = (utcnow() - oldest).total_seconds() if oldest else 0.0
    return {
        "counts": {state: int(counts.get(state, 0)) for state in (PENDING, IN_PROGRESS, FAILED, SUCCESS, DEAD)},
        "oldest_waiting_seconds": round(age, 1),
    }

