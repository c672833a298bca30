"""Case events from the back offices that must be asked (they do not push them to `/api/events`)."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import and_, or_, select

from backoffice_adapter import base, outbox
from portal.extensions import db
from portal.status import service as status
from portal.status.models import CaseEvent

log = logging.getLogger(__name__)


def poll_events(limit: int = 500) -> int:
    """Ask the back offices that do not push events about the cases they hold; return events applied."""
    config = current_app.config
    applied = 0
    for name in outbox.configured_adapters(config):
        target = base.adapter(name, config)
        if not target.polls_events:
            continue
        finished = select(CaseEvent.submission_id).where(
            or_(CaseEvent.kind == status.DECISION,
                and_(CaseEvent.kind == status.STATUS_CHANGED, CaseEvent.data["status"].as_string() == "closed")))
        parcels = outbox.delivered_parcels(name, limit, excluding=finished)
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
