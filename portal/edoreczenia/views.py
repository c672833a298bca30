"""The address e-Doręczenia notifies (PORTAL_EDORECZENIA_CALLBACK_URL + /edoreczenia/powiadomienia).

A notification is a hint, never content: its shape is checked, and a NewEvidence makes the owed letters due for
a poll; what is believed comes from the signed evidence files the worker downloads.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from portal.edoreczenia import service
from portal.extensions import csrf, limiter

bp = Blueprint("edoreczenia", __name__)
MAX_BODY = 64 * 1024


def _notify_limit() -> str:
    return str(current_app.config["EDORECZENIA_NOTIFY_RATE_LIMIT"])


@bp.post("/edoreczenia/powiadomienia")
@csrf.exempt  # machine to machine, no cookies: the body is only a hint that is checked against the service
@limiter.limit(_notify_limit)
def notification() -> Any:
    if (request.content_length or 0) > MAX_BODY:
        return jsonify({"error": "too_large"}), 413
    body = request.get_json(silent=True)
    try:
        scheduled = service.hint(body)
    except service.BadNotification as exc:
        return jsonify({"error": "invalid", "error_description": str(exc)}), 400
    return jsonify({"scheduled": scheduled})
