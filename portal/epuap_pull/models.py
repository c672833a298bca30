from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db

PENDING = "pending"
CONFIRMED = "confirmed"


class PullItem(db.Model):  # type: ignore[name-defined]
    """A submission waiting in the ePUAP-style inbox until the office's EZD confirms it has it.

    The digests are taken from the signed bytes when the submission is queued: the EZD proves
    receipt by sending back the digest of exactly what it was given (`potwierdzOdebranie`).
    """

    __tablename__ = "epuap_pull_item"
    __table_args__ = (Index("ix_epuap_pull_item_queue", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The delivery's idempotency key: a second delivery of the same submission finds this row.
    submission_id: Mapped[str] = mapped_column(String(36), unique=True)
    receipt_id: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    # base64 of SHA-1 of the document bytes: the `skrot` ePUAP clients compute (Base64(SHA-1(zawartosc))).
    digest_sha1: Mapped[str] = mapped_column(String(28))
    # base64 of SHA-256 of the same bytes: accepted too, as some clients send the stronger digest.
    digest_sha256: Mapped[str] = mapped_column(String(44))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When `pobierzNastepny` last handed the document out, and how often: a document fetched
    # again and again but never confirmed points at an EZD that cannot compute the digest.
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetch_count: Mapped[int] = mapped_column(default=0)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The subject of the client certificate that confirmed receipt.
    confirmed_by: Mapped[str | None] = mapped_column(String(500))
