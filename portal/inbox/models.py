from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Resident
from portal.db_types import UTCDateTime
from portal.extensions import db
from portal.forms.models import EService
from portal.storage import service as storage

PORTAL = "okienko"
EDORECZENIA = "edoreczenia"
CHANNELS = (PORTAL, EDORECZENIA)


class Submission(db.Model):  # type: ignore[name-defined]
    """A document the office has received. Its bytes are kept exactly as they arrived,
    in the blob store under their SHA-256; the row holds the addresses.

    Most come through the portal (`channel` "okienko": a draft of a catalog e-service, signed by a resident
    with an account, receipted with the portal's UPO). An item a sender addressed to the office's
    e-Doręczenia box (`channel` "edoreczenia", portal/edoreczenia/incoming.py) has no draft, no e-service and
    no UPO (the provider's evidence is the sender's proof), and a resident only when the sender's address
    belongs to one: those columns are empty for it, and `external_id`, `sender_name`, `sender_address` and
    `subject` say what it is (docs/decisions.md, "Incoming e-Doręczenia items")."""

    __tablename__ = "submission"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), default=PORTAL, server_default=PORTAL)
    # One draft gives at most one submission: a double click or a second tab finds this row.
    draft_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    receipt_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), index=True)
    eservice_id: Mapped[int | None] = mapped_column(ForeignKey("eservice.id"))
    # The channel's own id of the item (e-Doręczenia: the provider's messageId): fetched twice, stored once.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    # Who sent it, when there is no portal account to say so (the sender's own name and delivery address).
    sender_name: Mapped[str | None] = mapped_column(String(400))
    sender_address: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(400))
    document_sha256: Mapped[str] = mapped_column(String(64))
    # A qualified signature may come detached: then it is kept beside the document it signs.
    detached_signature_sha256: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    upo_sha256: Mapped[str | None] = mapped_column(String(64))
    upo_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    upo_pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    # The attachments as filed: name, media type, size and SHA-256 (their bytes are in the blob store).
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The earlier submission this one supplements or answers (its case in the back office).
    reply_to: Mapped[str | None] = mapped_column(String(36), index=True)

    eservice: Mapped[EService | None] = relationship()
    resident: Mapped[Resident | None] = relationship()

    @property
    def sender(self) -> str:
        """The sender's name as the register and the parcel give it."""
        return self.resident.full_name if self.resident is not None else (self.sender_name or "")

    # Reading the stored bytes back, verified against their digests.
    @property
    def document(self) -> bytes:
        return storage.get(self.document_sha256)

    @property
    def upo(self) -> bytes | None:
        return storage.get(self.upo_sha256) if self.upo_sha256 else None

    @property
    def upo_pdf(self) -> bytes | None:
        return storage.get(self.upo_pdf_sha256) if self.upo_pdf_sha256 else None

    @property
    def detached_signature(self) -> bytes | None:
        return storage.get(self.detached_signature_sha256) if self.detached_signature_sha256 else None
