from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class RpwCounter(db.Model):  # type: ignore[name-defined]
    """The last number given in the incoming register (RPW) in a year."""

    __tablename__ = "rpw_counter"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class IncomingParcel(db.Model):  # type: ignore[name-defined]
    """An entry in the incoming register: a submission as the office's registry received it."""

    __tablename__ = "incoming_parcel"
    __table_args__ = (UniqueConstraint("rpw_year", "rpw_number", name="uq_incoming_parcel_rpw"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The dispatcher's idempotency key: a redelivered parcel finds this row instead of a new number.
    submission_id: Mapped[str] = mapped_column(String(36), unique=True)
    rpw_number: Mapped[int]
    rpw_year: Mapped[int]
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    receipt_id: Mapped[str] = mapped_column(String(40))
    sender_name: Mapped[str] = mapped_column(String(400))
    service_id: Mapped[str] = mapped_column(String(100))
    service_title: Mapped[str] = mapped_column(String(400))
    unit: Mapped[str | None] = mapped_column(String(50))
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    upo: Mapped[bytes] = mapped_column(LargeBinary)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def rpw(self) -> str:
        return f"RPW/{self.rpw_number}/{self.rpw_year}"
