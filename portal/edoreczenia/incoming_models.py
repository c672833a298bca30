from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db

PENDING = "pending"  # known (listed or notified), not stored yet
STORED = "stored"  # a submission holds it; the provider is not yet told it was handled
HANDLED = "handled"  # stored, and marked handled at the provider


class IncomingMessage(db.Model):  # type: ignore[name-defined]
    """An item in the office's e-Doręczenia box that the portal owes itself to take in.

    The row is written (and committed) as soon as the item is known — from the listing or from the provider's
    notification — and before the item is read, because reading it in full marks it opened at the provider and
    it would not be listed as new again: a worker that dies after reading it leaves this row, which the next
    round fetches again. The unique message id makes two workers, or a notification and a poll, one row."""

    __tablename__ = "edoreczenia_incoming"
    __table_args__ = (Index("ix_edoreczenia_incoming_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker fetching the item holds it this long; one that dies leaves it to the next after that.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    submission_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    # The sender's evidences of this message (A.1, BP.WX …): type, id, SHA-256 of the signed file, verdict.
    evidences: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
