"""The office's letters on their way through e-Doręczenia, and the evidence that came back (docs/edoreczenia.md).

A table of its own, not a kind of `outbox_message` (docs/decisions.md, "e-Doręczenia"): that table is keyed by a
submission and an adapter and its rows carry a parcel *to* the office's systems; a letter goes the other way,
has a recipient and an idempotency key of its own, and stays open after it was sent — for weeks, while its
evidence is owed. The claiming, the leases and the back-off are the outbox's primitives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db_types import UTCDateTime, utcnow
from portal.desk.models import OutgoingLetter
from portal.extensions import db

PENDING = "pending"
IN_PROGRESS = "in_progress"
FAILED = "failed"  # waiting for its next attempt
SENT = "sent"  # the service took the message; its evidence may still be owed
DEAD = "dead"  # refused by the service, or attempts used up: the clerk is told
IN_PORTAL = "portal"  # the address search at dispatch found no address: the letter stays in the portal


class EdoDispatch(db.Model):  # type: ignore[name-defined]
    """One letter to send through e-Doręczenia (electronic or hybrid), written with the letter."""

    __tablename__ = "edo_dispatch"
    __table_args__ = (Index("ix_edo_dispatch_due", "state", "next_attempt_at"),
                      Index("ix_edo_dispatch_poll", "evidence_owed", "poll_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("desk_letter.id"), unique=True)
    # `additionalData.okienkoKey` of the message: after a crash, the SENT folder is searched for it.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    shipping: Mapped[str] = mapped_column(String(20))  # "electronic", "hybrid" or "undecided" (BAE was down)
    recipient: Mapped[str | None] = mapped_column(String(100))  # the resident's AE:PL-… address
    postal_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # hybrid: the spec's Address
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(100))
    message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_status: Mapped[str | None] = mapped_column(String(60))  # MessageControlData.status as last read
    # Evidence polling: due at `poll_at`, every `poll_seconds` (doubling to a cap), until `poll_until`.
    evidence_owed: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    poll_seconds: Mapped[int] = mapped_column(default=60)
    poll_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    letter: Mapped[OutgoingLetter] = relationship()
    evidences: Mapped[list[EdoEvidence]] = relationship(back_populates="dispatch", order_by="EdoEvidence.event_time")


class EdoEvidence(db.Model):  # type: ignore[name-defined]
    """One evidence file as downloaded, with its verdict. Only a valid one (`valid`) ever sets a date."""

    __tablename__ = "edo_evidence"
    __table_args__ = (UniqueConstraint("dispatch_id", "evidence_id", name="uq_edo_evidence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("edo_dispatch.id"), index=True)
    evidence_id: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(20))  # read from the signed file when valid, else as listed
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime)  # from the signed file only
    receipt_fiction: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    sha256: Mapped[str] = mapped_column(String(64))  # the file as served, in the blob store
    valid: Mapped[bool] = mapped_column(default=False)
    # The signature's verdict (signer, certificate, reasons) and the fields read from the signed XML.
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    dispatch: Mapped[EdoDispatch] = relationship(back_populates="evidences")
