from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, String, Text
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class Resident(db.Model):  # type: ignore[name-defined]
    """A natural person known from the residents' identity provider."""

    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The PESEL is never stored in clear: a keyed hash finds the resident, the
    # ciphertext gives the number back when a document needs it.
    pesel_index: Mapped[str] = mapped_column(String(64), unique=True)
    pesel_encrypted: Mapped[str] = mapped_column(String(255))
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_acr: Mapped[str | None] = mapped_column(String(200))
    # Where notices go; only used once the resident has confirmed it through the link we sent.
    email: Mapped[str | None] = mapped_column(String(320))
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # E-mail when something in a case needs the resident (a call to supplement, a letter, a decision …).
    notify_case_changes: Mapped[bool] = mapped_column(default=True, server_default=sa_true())

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Clerk(db.Model):  # type: ignore[name-defined]
    """A member of the office's staff, known from the office's identity provider."""

    __tablename__ = "clerk"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The provider's issuer and `sub`; None for a clerk added by an administrator or imported from the
    # office's directory who has not signed in yet: the first login claims the row by its username.
    subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    username: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))  # from the identity provider: the daily digest
    daily_digest: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    unit: Mapped[str | None] = mapped_column(String(50))
    # Roles come from the office's identity provider (a claim) and/or are assigned here by an
    # administrator; a clerk has the union. An assigned unit overrides the claimed one.
    claimed_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    assigned_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    assigned_unit: Mapped[str | None] = mapped_column(String(50))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def roles(self) -> list[str]:
        return sorted(set(self.claimed_roles or []) | set(self.assigned_roles or []))

    @property
    def effective_unit(self) -> str | None:
        return self.assigned_unit or self.unit


class WebSession(db.Model):  # type: ignore[name-defined]
    """A browser's session, kept on the server (portal/auth/sessions.py): the cookie carries only a random id.

    The id itself is never stored, only its SHA-256: whoever reads this table (a backup, a replica, an
    administrator) cannot open the session with what they read.
    """

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[str] = mapped_column(Text)  # Flask's tagged JSON, as the cookie session would have held it
    # Who is signed in, beside `data`, so that a resident's sessions can be listed and ended.
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"), index=True)
    clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerk.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # a new row at every login: the login's moment
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)  # last activity, written back at most once a minute
    purge_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    browser: Mapped[str] = mapped_column(String(80), default="")  # "Firefox, Linux": no full user agent, no address
