"""`/api/zdarzenia`: case events pushed by the office's back office, signed like the webhook parcels.

Body: `{"events": [{"id", "submission_id", "kind", "occurred_at", "data": {…}}]}`. The whole batch
is checked before anything is applied: one malformed event refuses the batch (400) and changes
nothing; a missing or wrong signature, or one outside the replay window, gets 401. Every refusal
is logged and audited. Events already applied are counted as duplicates, not applied again.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from backoffice_adapter import webhook
from backoffice_adapter.base import CaseUpdate
from portal.extensions import csrf, db
from portal.inbox.models import Submission
from portal.status import service

log = logging.getLogger(__name__)

bp = Blueprint("inbound_events", __name__)
SOURCE = "webhook"
MAX_EVENTS = 500


def _refuse(http_status: int, reason: str) -> Any:
    log.warning("case events refused (%d) from %s: %s", http_status, request.remote_addr, reason)
    service.record_refused_events(SOURCE, http_status, reason)
    return jsonify({"error": reason}), http_status


def _parse(raw: Any) -> list[CaseUpdate]:
    if not isinstance(raw, dict) or not isinstance(raw.get("events"), list) or not raw["events"]:
        raise service.InvalidEvent('the body must be {"events": [ … ]} with at least one event')
    if len(raw["events"]) > MAX_EVENTS:
        raise service.InvalidEvent(f"at most {MAX_EVENTS} events per request")
    updates = []
    for number, item in enumerate(raw["events"], 1):
        if not isinstance(item, dict):
            raise service.InvalidEvent(f"event {number} is not an object")
        try:
            update = CaseUpdate(event_id=str(item["id"]), submission_id=str(item["submission_id"]),
                                kind=str(item["kind"]), occurred_at=datetime.fromisoformat(str(item["occurred_at"])),
                                data=item.get("data") or {})
        except KeyError as exc:
            raise service.InvalidEvent(f"event {number}: missing {exc.args[0]}") from None
        except ValueError:
            raise service.InvalidEvent(f"event {number}: occurred_at is not an ISO 8601 time") from None
        if not isinstance(update.data, dict):
            raise service.InvalidEvent(f"event {number}: data must be an object")
        try:
            service.check_update(update)
        except service.InvalidEvent as exc:
            raise service.InvalidEvent(f"event {number}: {exc}") from None
        updates.append(update)
    known = set(db.session.scalars(db.select(Submission.id).where(
        Submission.id.in_({u.submission_id for u in updates}))))
    for number, update in enumerate(updates, 1):
        if update.submission_id not in known:
            raise service.InvalidEvent(f"event {number}: no submission {update.submission_id}")
    return updates


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return None


@bp.post("/api/zdarzenia")
@csrf.exempt  # authenticated by the HMAC signature, not by a browser session
def receive() -> Any:
    payload = request.get_data()
    config = current_app.config
    try:
        webhook.verify(config["WEBHOOK_SECRET"], request.headers.get(webhook.HEADER), payload,
                       int(config["WEBHOOK_REPLAY_SECONDS"]))
    except webhook.BadSignature as exc:
        return _refuse(401, str(exc))
    try:
        updates = _parse(_json(payload))
    except service.InvalidEvent as exc:
        return _refuse(400, str(exc))
    applied = duplicates = 0
    for update in updates:
        if service.apply_update(SOURCE, update) is None:
            duplicates += 1
        else:
            applied += 1
    return jsonify({"applied": applied, "duplicates": duplicates})
