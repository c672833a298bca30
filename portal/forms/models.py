from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Resident
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class EService(db.Model):  # type: ignore[name-defined]
    """One version of an e-service definition, kept for as long as anything refers to it."""

    __tablename__ = "eservice"
    __table_args__ = (UniqueConstraint("slug", "version", name="uq_eservice_slug_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[str] = mapped_column(String(50))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Read only when a form is validated or a document built: lists and case pages need the definition alone.
    schema_xsd: Mapped[str] = mapped_column(Text, deferred=True, deferred_group="schema")
    # Only the newest loaded version of a service is offered for new drafts; older versions
    # stay for the drafts and submissions made with them.
    current: Mapped[bool] = mapped_column(default=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Schemas the XSD imports beside the vendored CRWDE ones, by the name its schemaLocation gives.
    schema_files: Mapped[dict[str, str] | None] = mapped_column(JSON, deferred=True, deferred_group="schema")
    # Who published this version in the catalog editor (a clerk's username); None: loaded from files.
    published_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)  # what changed, in the publisher's words


# A draft's state once its signed document is stored: set in the same transaction that writes the
# submission (portal/inbox/service.py `store`), so the draft alone says whether it was submitted.
SUBMITTED = "submitted"


class Draft(db.Model):  # type: ignore[name-defined]
    """A form being filled in by a resident; it keeps its service version until it is submitted."""

    __tablename__ = "draft"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    eservice_id: Mapped[int] = mapped_column(ForeignKey("eservice.id"))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The exact bytes handed to the signing service: what comes back signed must contain them.
    document: Mapped[bytes | None] = mapped_column(db.LargeBinary)
    signing_ref: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(20), default="editing")
    # A supplement or reply: the resident's earlier submission (its case) this draft answers.
    reply_to: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)

    # When the resident was told the draft would soon be deleted (once per draft).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    eservice: Mapped[EService] = relationship()
    resident: Mapped[Resident] = relationship()
    attachments: Mapped[list[DraftAttachment]] = relationship(
        back_populates="draft", cascade="all, delete-orphan", order_by="DraftAttachment.id"
    )

    @hybrid_property
    def submitted(self) -> bool:
        """Whether the draft was filed: the one rule behind every "already submitted?" (also in queries)."""
        return self.state == SUBMITTED


class DraftAttachment(db.Model):  # type: ignore[name-defined]
    """A file attached to a draft; its bytes live in the blob store under their SHA-256."""

    __tablename__ = "draft_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[str] = mapped_column(ForeignKey("draft.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    draft: Mapped[Draft] = relationship(back_populates="attachments")
