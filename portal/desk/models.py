from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Clerk
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class RpwCounter(db.Model):  # type: ignore[name-defined]
    """The last number given in the incoming register (RPW) in a year."""

    __tablename__ = "rpw_counter"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class CaseCounter(db.Model):  # type: ignore[name-defined]
    """The last case number in a unit, JRWA class and year: the third part of the znak sprawy."""

    __tablename__ = "case_counter"

    unit: Mapped[str] = mapped_column(String(50), primary_key=True)
    jrwa_class: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class DeskCase(db.Model):  # type: ignore[name-defined]
    """A case (sprawa) opened by a clerk for one or more incoming parcels."""

    __tablename__ = "desk_case"
    __table_args__ = (UniqueConstraint("unit", "jrwa_class", "year", "number", name="uq_desk_case_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(80), unique=True)  # the znak sprawy, e.g. OR.1431.12.2026
    unit: Mapped[str] = mapped_column(String(50), index=True)
    jrwa_class: Mapped[str] = mapped_column(String(20))
    number: Mapped[int]
    year: Mapped[int]
    title: Mapped[str] = mapped_column(String(400))
    # The resident's submission that started the case: the case's events appear on its page.
    submission_id: Mapped[str] = mapped_column(String(36), index=True)
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("clerk.id"))
    status: Mapped[str] = mapped_column(String(20), default="in_progress")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_date: Mapped[date | None] = mapped_column(Date)  # the date promised by a notice of delay

    handler: Mapped[Clerk | None] = relationship()
    parcels: Mapped[list[IncomingParcel]] = relationship(back_populates="case", order_by="IncomingParcel.id")
    supplements: Mapped[list[SupplementRequest]] = relationship(back_populates="case",
                                                                 order_by="SupplementRequest.id")
    letters: Mapped[list[OutgoingLetter]] = relationship(back_populates="case", order_by="OutgoingLetter.id")

    @property
    def open_supplement(self) -> SupplementRequest | None:
        return next((s for s in self.supplements if s.fulfilled_at is None), None)


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
    receipt_id: Mapped[str] = mapped_column(String(100))  # the UPO's id; for e-Doręczenia the message id
    sender_name: Mapped[str] = mapped_column(String(400))
    # How it came: "okienko" (the portal's form) or "edoreczenia" (the office's e-Doręczenia box, with the
    # sender's delivery address).
    channel: Mapped[str] = mapped_column(String(20), default="okienko", server_default="okienko")
    sender_address: Mapped[str | None] = mapped_column(String(100))
    service_id: Mapped[str] = mapped_column(String(100))
    service_title: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str | None] = mapped_column(String(400))  # the letter's own title (CRWDE Tytul), if it has one
    # The day the office must settle by (portal/status/deadlines.py), kept current by the desk's acts so that
    # the register can sort on it; None when the service has no deadline or while its course is paused.
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    unit: Mapped[str | None] = mapped_column(String(50))  # the unit the parcel is assigned to
    jrwa_class: Mapped[str | None] = mapped_column(String(20))
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    upo: Mapped[bytes] = mapped_column(LargeBinary)
    detached_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Name, type, size and SHA-256 of each attachment; the bytes are in the blob store under the digest.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reply_to: Mapped[str | None] = mapped_column(String(36))  # the submission this one supplements
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerk.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("desk_case.id"), index=True)

    assigned_clerk: Mapped[Clerk | None] = relationship()
    case: Mapped[DeskCase | None] = relationship(back_populates="parcels")

    @property
    def rpw(self) -> str:
        return f"RPW/{self.rpw_number}/{self.rpw_year}"


class SupplementRequest(db.Model):  # type: ignore[name-defined]
    """A call to supplement (KPA art. 64 §2): what is missing and by when (at least 7 days)."""

    __tablename__ = "desk_supplement_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("desk_case.id"), index=True)
    message: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date] = mapped_column(Date)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("clerk.id"))
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfilled_submission_id: Mapped[str | None] = mapped_column(String(36))

    case: Mapped[DeskCase] = relationship(back_populates="supplements")


class OutgoingLetter(db.Model):  # type: ignore[name-defined]
    """A signed answer or decision sent to the resident through the portal; opening it makes the UPD."""

    __tablename__ = "desk_letter"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("desk_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "answer" or "decision"
    title: Mapped[str] = mapped_column(String(400))
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))  # the signed file, in the blob store
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("clerk.id"))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the delivery moment (DataOdbioru)
    upd_sha256: Mapped[str | None] = mapped_column(String(64))  # the sealed delivery receipt
    # How the letter reaches the resident (portal/edoreczenia/channel.py): "portal" (opening it makes the UPD),
    # "edoreczenia" (their electronic delivery address), "hybrid" (printed and posted by the public hybrid
    # service) or "undecided" (the address search could not be asked; chosen when the letter is dispatched).
    channel: Mapped[str] = mapped_column(String(20), default="portal", server_default="portal")

    case: Mapped[DeskCase] = relationship(back_populates="letters")
