from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class Notification(db.Model):  # type: ignore[name-defined]
    """An e-mail owed to a resident about their case, written with the event that calls for it and
    sent by the worker afterwards, so a mail server that is down delays the message but loses nothing."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    submission_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(240), unique=True)  # one message per event, however often it arrives
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(String(40))  # "sent", or why not ("no confirmed address" …)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class JobRun(db.Model):  # type: ignore[name-defined]
    """The last day a daily job ran, so that several workers run it once."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_run_on: Mapped[date] = mapped_column(Date)
