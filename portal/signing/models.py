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
    # Hosts the trusted list names for this provider's revocation data (its ServiceSupplyPoints),
    # space-separated: the only hosts besides PORTAL_REVOCATION_HOSTS that verification may fetch from.
    supply_hosts: Mapped[str] = mapped_column(Text, default="", server_default="")


class OfficeSealCertificate(db.Model):  # type: ignore[name-defined]
    """Every certificate the office's seal has used: receipts sealed before a rotation stay valid."""

    __tablename__ = "office_seal_certificate"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the DER certificate
    subject: Mapped[str] = mapped_column(String(500))
    pem: Mapped[str] = mapped_column(Text)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrustedListImport(db.Model):  # type: ignore[name-defined]
    """The newest trusted list imported per territory: an older one (a replay) is refused."""

    __tablename__ = "trusted_list_import"

    territory: Mapped[str] = mapped_column(String(10), primary_key=True)
    sequence: Mapped[int]
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
