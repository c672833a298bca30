from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class TrustAnchor(db.Model):  # type: ignore[name-defined]
    """A certificate the portal trusts to issue signing certificates: from a trusted list, or added by hand."""

    __tablename__ = "trust_anchor"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the DER certificate
    subject: Mapped[str] = mapped_column(String(500))
    pem: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))  # "TSL PL 123" or "admin"
    active: Mapped[bool] = mapped_column(default=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
