"""The audit log: every legal or personal-data-touching act leaves an entry in the same transaction.

Entries form a hash chain. Adding one locks the chain's head row until the transaction ends, so
concurrent transactions append one after the other and the chain never forks; `verify` walks it.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from sqlalchemy import select

from portal.audit.models import AuditEntry, AuditHead
from portal.db_types import utcnow
from portal.extensions import db

GENESIS = "0" * 64


def current_actor() -> tuple[str, str | None]:
    if has_request_context():
        actor = getattr(g, "actor", None)
        if actor is not None:
            return actor
        return ("anonymous", None)
    return ("system", None)


def _seal(entry: AuditEntry) -> str:
    content = json.dumps(
        [entry.prev_hash, entry.at.isoformat(), entry.actor_kind, entry.actor_id, entry.action, entry.object_type,
         entry.object_id, entry.details],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(content.encode()).hexdigest()


def _head() -> AuditHead:
    head = db.session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, hash=GENESIS, length=0)
        db.session.add(head)
        db.session.flush()  # the migrations create the row; this only covers an empty test database
    return head


def record(action: str, object_type: str | None = None, object_id: str | None = None,
           actor: tuple[str, str | None] | None = None, **details: Any) -> AuditEntry:
    """Add an entry to the current transaction; it commits or rolls back with the act it describes.

    `details` must never carry a PESEL or a secret: the log is read by administrators.
    """
    kind, actor_id = actor or current_actor()
    head = _head()
    entry = AuditEntry(at=utcnow(), actor_kind=kind, actor_id=actor_id, action=action, object_type=object_type,
                       object_id=object_id, details=json.loads(json.dumps(details, default=str)),
                       prev_hash=head.hash)
    entry.hash = _seal(entry)
    head.hash = entry.hash
    head.length += 1
    db.session.add(entry)
    return entry


@dataclass
class ChainReport:
    entries: int
    intact: bool
    problem: str | None = None
    head: str = GENESIS


def verify() -> ChainReport:
    """Recompute the chain from the first entry; name the first one that was edited, removed or reordered."""
    previous = GENESIS
    count = 0
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000))
    with closing(entries):  # a server-side cursor on PostgreSQL: close it even when stopping early
        for entry in entries:
            count += 1
            if entry.prev_hash != previous:
                return ChainReport(count, False, f"entry {entry.id}: the entry before it was removed or changed",
                                   previous)
            if _seal(entry) != entry.hash:
                return ChainReport(count, False, f"entry {entry.id} ({entry.action}) was changed after it was "
                                                 "written", previous)
            previous = entry.hash
    head = db.session.get(AuditHead, 1)
    if head is not None and (head.hash != previous or head.length != count):
        return ChainReport(count, False, "entries at the end of the log were removed", previous)
    return ChainReport(count, True, None, previous)
