"""What the outbox worker (`okienko outbox run`) does between its rounds of deliveries.

The outbox loop only delivers (backoffice_adapter/outbox.py); the portal hands it these chores at start-up
(`PortalHooks.worker_chores`): the e-mails owed to residents and the e-Doręczenia letters and evidence
that are due every round and, every `EVENTS_POLL_SECONDS`,
the case events of back offices that must be asked, the stuck-delivery alert and the daily jobs.
"""

from __future__ import annotations

import logging
import time

from flask import current_app

from backoffice_adapter import outbox
from portal.db_types import utcnow
from portal.edoreczenia import client as edo
from portal.edoreczenia import incoming
from portal.edoreczenia import service as edoreczenia
from portal.extensions import db
from portal.notify import mail
from portal.notify import service as notify
from portal.status import polling

log = logging.getLogger(__name__)


class WorkerChores:
    """One worker loop's chores; the periodic ones are due at once when the loop starts."""

    def __init__(self) -> None:
        self.periodic_due = 0.0
        self.incoming = IncomingPoll()

    def __call__(self) -> None:
        notify.send_pending()
        edoreczenia.worker_round()  # letters due to be sent, evidence due to be asked for (each with its back-off)
        if incoming.enabled():
            self.incoming()
        if time.monotonic() >= self.periodic_due:
            polling.poll_events()
            alert_stuck()
            notify.daily_jobs()
            # Set only once they all ran: a round that failed midway is tried again at the next one.
            self.periodic_due = time.monotonic() + int(current_app.config["EVENTS_POLL_SECONDS"])


class IncomingPoll:
    """The office's e-Doręczenia box: items owed (listed or notified) are taken in every round; the box is listed
    every EDORECZENIA_POLL_SECONDS — notifications are hints, never the only way — and, while the service
    fails, further apart each time (doubling, up to an hour), so an outage is not met with a tight loop."""

    CAP_SECONDS = 3600.0

    def __init__(self) -> None:
        self.due = 0.0
        self.failures = 0

    def __call__(self) -> None:
        incoming.take_in_due()
        if time.monotonic() < self.due:
            return
        interval = float(current_app.config["EDORECZENIA_POLL_SECONDS"])
        try:
            incoming.poll()
        except edo.EdoError as exc:
            db.session.rollback()
            self.failures += 1
            wait = min(self.CAP_SECONDS, interval * 2 ** self.failures)
            log.warning("e-Doręczenia: the box could not be listed (%s); next try in %.0f s", exc, wait)
            self.due = time.monotonic() + wait
            return
        self.failures = 0
        self.due = time.monotonic() + interval


def alert_stuck() -> int:
    """E-mail the administrators once about each delivery that is stuck; return how many were new."""
    config = current_app.config
    new = [m for m in outbox.stuck() if m.alerted_at is None]
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
