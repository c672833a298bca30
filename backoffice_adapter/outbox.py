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
import time
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select

from backoffice_adapter import base
from backoffice_adapter.models import DEAD, FAILED, IN_PROGRESS, PENDING, SUCCESS, OutboxMessage
from portal.db_types import utcnow
from portal.extensions import db
from portal.notify import service as notify
from portal.status.models import CaseEvent

log = logging.getLogger(__name__)

WAITING = (PENDING, FAILED, IN_PROGRESS)


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
        row.attempts += 1
    ids = [row.id for row in rows]
    db.session.commit()
    return ids


def _envelope(submission_id: str) -> base.Envelope:
    from portal.inbox import service as inbox  # the inbox enqueues into us; import at use to avoid a cycle

    return inbox.envelope(submission_id)


def _record_delivered(message: OutboxMessage, receipt: base.DeliveryReceipt) -> None:
    """Tell the resident: delivered, and the RPW number when the back office gave one. Copies stay silent."""
    from portal.status import service as status

    if message.is_copy:
        return
    now = utcnow()
    status.record_event_once(message.submission_id, status.DELIVERED, f"{message.submission_id}:delivered", now,
                             adapter=message.adapter)
    if rpw := receipt.details.get("rpw"):
        status.record_event_once(message.submission_id, status.REGISTERED, f"{message.adapter}:{rpw}:registered",
                                 now, rpw=str(rpw))


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
        message.lease_until = None
        log.error("delivery %s to %s refused permanently: %s", message.submission_id, message.adapter, exc)
    except Exception as exc:  # noqa: BLE001 - any failure of the target is retried, then set aside
        db.session.rollback()
        message = db.session.get(OutboxMessage, message_id)
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
    next_chores = 0.0
    while not stop.is_set():
        handled = 0
        try:
            handled = run_once()
            notify.send_pending()
            if time.monotonic() >= next_chores:
                poll_events()
                alert_stuck()
                notify.daily_jobs()
                next_chores = time.monotonic() + int(current_app.config["EVENTS_POLL_SECONDS"])
        except Exception:  # noqa: BLE001 - a lost database connection must not end the worker
            log.exception("outbox worker iteration failed")
            db.session.rollback()
        if not handled:
            stop.wait(poll_seconds)
        db.session.remove()


def poll_events(limit: int = 500) -> int:
    """Ask the back offices that do not push events about the cases they hold; return events applied."""
    from portal.status import service as status

    config = current_app.config
    applied = 0
    for name in configured_adapters(config):
        target = base.adapter(name, config)
        if not target.polls_events:
            continue
        finished = select(CaseEvent.submission_id).where(
            or_(CaseEvent.kind == status.DECISION,
                and_(CaseEvent.kind == status.STATUS_CHANGED, CaseEvent.data["status"].as_string() == "closed")))
        rows = db.session.execute(
            select(OutboxMessage.submission_id, OutboxMessage.receipt)
            .where(OutboxMessage.adapter == name, OutboxMessage.state == SUCCESS,
                   OutboxMessage.submission_id.not_in(finished))
            .order_by(OutboxMessage.delivered_at.desc()).limit(limit)
        ).all()
        parcels = [base.DeliveredParcel(submission_id, receipt or {}) for submission_id, receipt in rows]
        db.session.rollback()  # no transaction held open while the back office answers
        if not parcels:
            continue
        try:
            updates = target.fetch_events(parcels)
        except base.DeliveryError as exc:
            log.warning("could not fetch case events from %s: %s", name, exc)
            continue
        for update in updates:
            try:
                if status.apply_update(name, update) is not None:
                    applied += 1
            except status.InvalidEvent as exc:
                db.session.rollback()
                log.warning("event %s from %s refused: %s", update.event_id, name, exc)
    return applied


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


def alert_stuck() -> int:
    """E-mail the administrators once about each delivery that is stuck; return how many were new."""
    from portal.notify import mail

    config = current_app.config
    new = [m for m in stuck() if m.alerted_at is None]
    if not new:
        return 0
    log.error("%d deliveries are stuck: %s", len(new), ", ".join(f"{m.submission_id}→{m.adapter}" for m in new))
    recipients = [a.strip() for a in str(config["OUTBOX_ALERT_TO"]).split(",") if a.strip()]
    if recipients:
        lines = [f"- {m.adapter}: zgłoszenie {m.submission_id}, stan {m.state}, prób {m.attempts}, "
                 f"czeka od {m.created_at:%Y-%m-%d %H:%M} UTC; ostatni błąd: {m.last_error or '—'}" for m in new]
        body = ("Okienko nie może przekazać poniższych zgłoszeń do systemu urzędu.\n"
                "The portal cannot deliver the submissions below to the office's systems.\n\n"
                + "\n".join(lines)
                + f"\n\nSzczegóły i ponowna wysyłka: {config['BASE_URL']}/urzad/admin/przekazania\n")
        try:
            mail.send(", ".join(recipients), f"Okienko: {len(new)} zgłoszeń czeka na przekazanie", body)
        except mail.MailNotSent as exc:
            log.error("could not send the stuck-delivery alert: %s", exc)
            db.session.rollback()
            return 0
    now = utcnow()
    for message in new:
        message.alerted_at = now
    db.session.commit()
    return len(new)


def resend(message_id: int) -> OutboxMessage | None:
    """An administrator's re-send of a dead or failed delivery: due now, attempts counted afresh."""
    from portal.audit import service as audit

    message = db.session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.state not in (DEAD, FAILED):
        return None
    message.state, message.attempts, message.next_attempt_at = PENDING, 0, utcnow()
    message.alerted_at = message.lease_until = None
    audit.record("outbox.resend", "submission", message.submission_id, adapter=message.adapter)
    db.session.commit()
    return message


def status() -> dict[str, Any]:
    counts = dict(db.session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
    oldest = db.session.scalar(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.state.in_(WAITING))
    )
    age = (utcnow() - oldest).total_seconds() if oldest else 0.0
    return {
        "counts": {state: int(counts.get(state, 0)) for state in (PENDING, IN_PROGRESS, FAILED, SUCCESS, DEAD)},
        "oldest_waiting_seconds": round(age, 1),
    }

