from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db

PENDING = "pending"
IN_PROGRESS = "in_progress"
SUCCESS = "success"
FAILED = "failed"  # waiting for its next attempt
DEAD = "dead"  # gave up after the configured number of attempts; an administrator re-sends


class OutboxMessage(db.Model):  # type: ignore[name-defined]
    """A delivery owed to a back-office system, written in the same transaction as the submission."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("submission_id", "adapter", name="uq_outbox_message_submission_adapter"),
        Index("ix_outbox_message_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[str] = mapped_column(String(36))
    adapter: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker that dies mid-delivery leaves its claim behind; once the lease runs out,
    # another worker takes the row again (the idempotency key makes that safe).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first adapter of a route is the office's system of record: only its delivery tells the
    # resident "delivered". The others (an e-mail copy, an archive folder) are copies.
    is_copy: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # When the administrators were told this delivery is stuck; cleared by a re-send.
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
