"""The audit log: every legal or personal-data-touching act leaves an entry in the same transaction.

Entries form a hash chain. `record` only collects an entry; just before the transaction commits,
its entries are linked to the chain under a lock on the chain's head row, so concurrent transactions
append one after the other and the chain never forks, while the lock is held only for the final
INSERT and COMMIT rather than for the whole act. `verify` walks the chain.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

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


def record(action: str, object_type: str | None = None, object_id: str | None = None,
           actor: tuple[str, str | None] | None = None, **details: Any) -> AuditEntry:
    """Add an entry to the current transaction; it commits or rolls back with the act it describes.

    `details` must never carry a PESEL or a secret: the log is read by administrators.
    """
    kind, actor_id = actor or current_actor()
    entry = AuditEntry(at=utcnow(), actor_kind=kind, actor_id=actor_id, action=action, object_type=object_type,
                       object_id=object_id, details=json.loads(json.dumps(details, default=str)))
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so that a rollback before any other statement still drops the entry
    session.info.setdefault(_PENDING, []).append(entry)
    return entry


_PENDING = "okienko.audit.pending"


@event.listens_for(Session, "before_commit")
def _link_pending(session: Session) -> None:
    pending: list[AuditEntry] = session.info.pop(_PENDING, [])
    if not pending:
        return
    head = session.get(AuditHead, 1, with_for_update=True)
    if head is None:  # the migrations create the row; this covers a database emptied by hand
        try:
            with session.begin_nested():
                session.add(AuditHead(id=1, hash=GENESIS, length=0))
        except IntegrityError:
            pass  # a concurrent transaction created it first
        head = session.get(AuditHead, 1, with_for_update=True, populate_existing=True)
        assert head is not None
    for entry in pending:
        entry.prev_hash = head.hash
        entry.hash = _seal(entry)
        head.hash = entry.hash
        head.length += 1
        session.add(entry)  # added in chain order, so the ids follow the chain


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # a rollback or close drops what the rolled-back act recorded
        session.info.pop(_PENDING, None)


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
