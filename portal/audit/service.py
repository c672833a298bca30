"""The audit log: every legal or personal-data-touching act leaves an entry in the same transaction."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context

from portal.audit.models import AuditEntry
from portal.extensions import db


def current_actor() -> tuple[str, str | None]:
    if has_request_context():
        actor = getattr(g, "actor", None)
        if actor is not None:
            return actor
        return ("anonymous", None)
    return ("system", None)


def record(action: str, object_type: str | None = None, object_id: str | None = None,
           actor: tuple[str, str | None] | None = None, **details: Any) -> AuditEntry:
    """Add an entry to the current transaction; it commits or rolls back with the act it describes.

    `details` must never carry a PESEL or a secret: the log is read by administrators.
    """
    kind, actor_id = actor or current_actor()
    entry = AuditEntry(actor_kind=kind, actor_id=actor_id, action=action, object_type=object_type,
                       object_id=object_id, details=details)
    db.session.add(entry)
    return entry
